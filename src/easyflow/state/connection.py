"""How every Redis connection of the hub is opened: a reply that does not come is an error.

A Redis that stops answering on an open connection (its host gone, a connection left
half-open by a failover) would otherwise hold whatever waits on it until the kernel gives up
on the connection, hours later. Every command gives up after `timeout_seconds` (connecting
too), and the connections send TCP keepalive probes (after 30 s idle, every 10 s, 3
unanswered), so even a read that waits without a timeout (a subscription) learns of a dead
peer within about a minute.
"""

from __future__ import annotations

import socket
from typing import Any

_KEEPALIVE = {
    option: value
    for option, value in (
        (getattr(socket, "TCP_KEEPIDLE", None), 30),
        (getattr(socket, "TCP_KEEPINTVL", None), 10),
        (getattr(socket, "TCP_KEEPCNT", None), 3),
    )
    if option is not None
}


def redis_connection_options(timeout_seconds: float) -> dict[str, Any]:
    """Keyword arguments for redis-py's `from_url` or connection pool."""
    return {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "socket_keepalive": True,
        "socket_keepalive_options": dict(_KEEPALIVE),
    }
