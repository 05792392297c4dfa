"""The local responder: an offline chat model that answers from the hub's own data.

An ordinary chat-model platform in the registry, except that it needs no account: it has no
credentials, so it is never connected as an integration and every provider chain ends with it.
"""

from easyflow.platforms.local.responder import MODEL, NAME, LocalResponder, create_adapter
from easyflow.platforms.local.spec import CREDENTIALS, SPEC, classify

__all__ = ["CREDENTIALS", "MODEL", "NAME", "SPEC", "LocalResponder", "classify", "create_adapter"]
