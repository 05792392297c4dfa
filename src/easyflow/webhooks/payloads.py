"""A webhook body decoded once, safely, into the JSON document every parser reads.

The body is verified (or its sender is) but its content is still untrusted, and whatever
comes out of here is stored as it is, on SQLite and on PostgreSQL. So:

- not UTF-8, not JSON, NaN/Infinity, numbers that overflow a float, integers of thousands of
  digits, nesting deeper than `MAX_DEPTH`: `MalformedPayloadError` (a 400 with the reason);
- escaped NUL and lone surrogates (`"\\u0000"`, `"\\ud800"`) are valid JSON that neither
  PostgreSQL (text, JSONB) nor a UTF-8 encoder accepts: they become U+FFFD, so the event is
  stored and readable instead of a 500 on one database and silently lost on the other.

`UnprocessableEventError` is for the next step: the envelope is fine (the event has an id)
but its content is not something the hub can process. Intake stores such an event as failed
with the reason and acknowledges it, so the platform does not retry it for a day.
"""

from __future__ import annotations

import re
from typing import Any

from easyflow import jsonio
from easyflow.domain.errors import MalformedPayloadError

# Real updates nest about ten levels (a reply inside a message inside an update); the C
# decoder would go on to ~1,000 and the encoders and databases after it would not.
MAX_DEPTH = 64

# Escapes that need repair; a false positive (an escaped backslash before "u") only costs a walk.
_NEEDS_REPAIR = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # after decoding a valid pair is one char


class UnprocessableEventError(MalformedPayloadError):
    """An authenticated event with an id whose content the hub cannot process."""

    def __init__(
        self,
        reason: str,
        *,
        event_id: str,
        conversation_key: str = "",
        usable: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.conversation_key = conversation_key
        # The other events of a batch (WhatsApp sends several in one body): stored and
        # processed as usual, beside the one that is stored failed.
        self.usable = usable


def decode_json(body: bytes) -> Any:
    """The JSON document in `body`, storable on both databases; MalformedPayloadError if not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayloadError(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        document = jsonio.standard_loads(text)
    except RecursionError:
        raise MalformedPayloadError(f"body is not JSON: nested deeper than {MAX_DEPTH}") from None
    except ValueError as exc:
        raise MalformedPayloadError(f"body is not JSON: {exc}") from None
    # Fewer brackets than the bound cannot nest deeper: the walk is for large bodies only.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        _check_depth(document)
    if b"\\u" in body and _NEEDS_REPAIR.search(body):
        document = _repaired(document)
    return document


def _check_depth(document: Any) -> None:
    # Iterative: the document may be just under the decoder's own recursion limit.
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise MalformedPayloadError(f"body is nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def _repaired(node: Any) -> Any:
    # Recursion is safe here: the depth is at most MAX_DEPTH by now.
    if isinstance(node, str):
        return _UNSTORABLE.sub("\ufffd", node)
    if isinstance(node, dict):
        return {_repaired(key): _repaired(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_repaired(item) for item in node]
    return node


def storable_text(value: str) -> str:
    """`value` with NUL and lone surrogates replaced by U+FFFD (see the module docstring)."""
    return _UNSTORABLE.sub("\ufffd", value)
