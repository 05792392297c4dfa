"""Hypothesis strategies for hostile request bodies, as the bytes a client would send.

A body is a JSON-like tree serialized by `encode`, which writes what `json.dumps` refuses to
or cannot: numbers past float range (`1e309`), ints of thousands of digits, `NaN` and
`Infinity`, lone surrogates both escaped (`"\\ud800"`, valid JSON text) and raw (invalid
UTF-8), escaped and raw NUL, and nesting thousands deep. `body_bytes` then may damage the
bytes themselves (truncation, an invalid UTF-8 byte, a raw NUL, a BOM).

`hostile(base)` takes a valid document (a realistic Telegram Update from `telegram_update`, or
a valid admin API body) and replaces the values at a few of its paths (or adds keys) with
hostile ones: wrong types for every field, the way the 60k-request fuzz of issue 5 found its
500s.
"""

from __future__ import annotations

import copy
import json
import zlib
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """JSON text written verbatim by `encode`: tokens no Python value serializes to."""

    text: str

    def __repr__(self) -> str:  # a 100,000-deep nesting would flood the failure report
        shown = self.text if len(self.text) <= 40 else f"{self.text[:20]}...{self.text[-10:]}"
        return f"Raw({shown!r}, {len(self.text)} chars)"


def nested(depth: int, kind: str = "array") -> Raw:
    opener, closer = ("[", "]") if kind == "array" else ('{"a":', "}")
    inner = "1" if kind == "object" else ""
    return Raw(opener * depth + inner + closer * depth)


def encode(value: Any, *, ascii_only: bool = True) -> str:
    """JSON text of `value`; `Raw` parts verbatim, floats as Python writes them (NaN ...)."""
    if isinstance(value, Raw):
        return value.text
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)  # allow_nan: NaN, Infinity, -Infinity
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=ascii_only)
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v, ascii_only=ascii_only) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{encode(str(k), ascii_only=ascii_only)}:{encode(v, ascii_only=ascii_only)}"
            for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    raise TypeError(f"cannot encode {type(value).__name__}")


def to_bytes(text: str) -> bytes:
    # surrogatepass: a raw lone surrogate becomes the (invalid) UTF-8 bytes a sloppy client sends
    return text.encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------- leaves

HUGE_INTS = st.sampled_from(
    [2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**20, 10**30, -(10**30)]
)
SPECIAL_FLOATS = st.sampled_from(
    [float("nan"), float("inf"), float("-inf"), -0.0, 1e20, 1e308, 5e-324, 1e-400]
)
RAW_NUMBERS = st.sampled_from(
    [Raw("1e309"), Raw("-1e309"), Raw("1E400"), Raw("9" * 5000), Raw("-" + "9" * 4301)]
)
SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\ud83d"])
NASTY_TEXT = st.sampled_from(
    [
        "",
        "\x00",
        "a\x00b",
        "\r\n",
        "\x1b[31m",
        "\u202e",
        "\ufeff",
        "\uffff",
        "<b>",
        "&amp;",
        "'; DROP TABLE inbound_events; --",
        "../../_sandbox/reset?",
    ]
) | st.sampled_from([("x", 256), ("x", 70_000), ("𝕏", 5000)]).map(lambda p: p[0] * p[1])
DEEP = st.sampled_from(
    [nested(100), nested(1000), nested(10_000), nested(100_000), nested(600, "object")]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    SPECIAL_FLOATS,
    RAW_NUMBERS,
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs", "Cc", "Cf", "Co"]), max_size=6),  # surrogates ...
    SURROGATES,
    NASTY_TEXT,
)

json_values: st.SearchStrategy[Any] = (
    st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=12,
    )
    | DEEP
)


# --------------------------------------------------------------------------- Telegram updates

_ids = st.integers(min_value=1, max_value=2**40)
_user = st.fixed_dictionaries(
    {"id": _ids, "is_bot": st.booleans(), "first_name": st.text(min_size=1, max_size=12)},
    optional={
        "last_name": st.text(max_size=12),
        "username": st.from_regex(r"[a-z][a-z0-9_]{3,12}", fullmatch=True),
        "language_code": st.sampled_from(["en", "ru", "de"]),
    },
)
_chat = st.fixed_dictionaries(
    {"id": st.integers(min_value=-(10**13), max_value=10**13), "type": st.just("private")}
)
_message = st.fixed_dictionaries(
    {
        "message_id": _ids,
        "date": st.integers(min_value=0, max_value=2**31),
        "chat": _chat,
    },
    optional={
        "from": _user,
        "text": st.text(max_size=40),
        "caption": st.text(max_size=20),
        "edit_date": st.integers(min_value=0, max_value=2**31),
        "photo": st.just([{"file_id": "AgAD", "width": 90, "height": 90}]),
        "sticker": st.just({"file_id": "CAAD", "width": 512, "height": 512}),
    },
)
_callback = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=12), "from": _user, "chat_instance": st.just("42")},
    optional={"message": _message, "data": st.text(max_size=64)},
)


@st.composite
def telegram_update(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["message", "edited_message", "callback_query", "channel_post"]))
    payload = draw(_callback if kind == "callback_query" else _message)
    if draw(st.booleans()):
        update_id = draw(st.integers(min_value=0, max_value=2**31))  # small ids repeat: dedup
    else:  # from the content: distinct updates get distinct ids, and a replay the same one
        update_id = zlib.crc32(repr((kind, payload)).encode()) & 0x7FFFFFFF
    return {"update_id": update_id, kind: payload}


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside the tree, the root's children first."""
    found: list[tuple[Any, ...]] = []
    children = tree.items() if isinstance(tree, dict) else enumerate(tree)
    for key, child in children:
        found.append((*prefix, key))
        if isinstance(child, dict | list):
            found += _paths(child, (*prefix, key))
    return found


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


@st.composite
def hostile(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> Any:
    """A valid document from `base` with a few values replaced (or keys added) hostile."""
    document = copy.deepcopy(draw(base))  # st.just() parts are shared objects: never mutate
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(document) if isinstance(document, dict | list) else []
        if not paths:
            return draw(json_values)
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()):
            _set(document, path, draw(json_values))
            continue
        parent = document  # a new key beside an existing one: unknown fields must be harmless
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
    return document


def hostile_update() -> st.SearchStrategy[Any]:
    return hostile(telegram_update())


@st.composite
def body_bytes(draw: st.DrawFn, values: st.SearchStrategy[Any], intact: int = 6) -> bytes:
    """A value from `values` as JSON bytes, damaged on the way once in `intact` + 5 draws."""
    value = draw(values)
    body = to_bytes(encode(value, ascii_only=draw(st.booleans())))
    damage = draw(st.sampled_from(["none"] * intact + ["truncate", "ff", "nul", "bom", "bytes"]))
    if damage == "truncate" and body:
        return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]
    if damage in ("ff", "nul"):
        at = draw(st.integers(min_value=0, max_value=len(body)))
        return body[:at] + (b"\xff\xfe" if damage == "ff" else b"\x00") + body[at:]
    if damage == "bom":
        return b"\xef\xbb\xbf" + body
    if damage == "bytes":
        return draw(st.binary(max_size=64))
    return body
