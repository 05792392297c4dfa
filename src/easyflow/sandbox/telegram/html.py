"""Telegram's HTML parse mode: markup in, plain text plus MessageEntity dicts out.

Follows the Bot API's HTML style (https://core.telegram.org/bots/api#html-style) and the
behaviour of tdlib's `parse_html` (the parser the Bot API server runs): only the supported tags,
the four named entities plus numeric ones, an unknown `&name;` kept literally, errors that cite
the UTF-8 byte offset of the offending `<`, entity offsets and lengths in UTF-16 code units,
empty entities dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
# tdlib orders entities sharing an offset and length by this priority (lower first).
_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 10,
    "code": 20,
    "text_link": 49,
    "date_time": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:#x([0-9a-fA-F]{1,8})|#([0-9]{1,10})|([a-zA-Z]+));")
_SPACE = " \t\r\n\v\0"


class EntityParseError(ValueError):
    """The text after `Bad Request: can't parse entities: `."""


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the output
    byte_offset: int


@dataclass
class _Parser:
    source: str
    pos: int = 0
    out: list[str] = field(default_factory=list)
    utf16: int = 0
    stack: list[_Open] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.utf16 += utf16_len(text)

    def char(self, offset: int = 0) -> str:
        """The character at pos+offset, or NUL past the end (tdlib reads a C string)."""
        i = self.pos + offset
        return self.source[i] if i < len(self.source) else "\0"

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode())


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) or raise EntityParseError."""
    p = _Parser(source)
    while p.pos < len(source):
        c = source[p.pos]
        if c == "&":
            _text_entity(p)
        elif c == "<" and p.char(1) == "/":
            _end_tag(p)
        elif c == "<":
            _start_tag(p)
        else:
            p.emit(c)
            p.pos += 1
    if p.stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{p.stack[-1].tag}"'
        )
    p.entities.sort(key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)))
    return "".join(p.out), p.entities


def _decode(match: re.Match[str]) -> str | None:
    hex_code, dec_code, name = match.groups()
    if name is not None:
        return _NAMED.get(name)
    code = int(hex_code, 16) if hex_code is not None else int(dec_code)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else None


def _text_entity(p: _Parser) -> None:
    match = _ENTITY.match(p.source, p.pos)
    decoded = _decode(match) if match else None
    if match is None or decoded is None:
        p.emit("&")
        p.pos += 1
        return
    p.emit(decoded)
    p.pos = match.end()


def _start_tag(p: _Parser) -> None:
    begin = p.pos
    p.pos += 1
    while p.char() not in _SPACE and p.char() != ">":
        p.pos += 1
    tag = p.source[begin + 1 : p.pos].lower()
    where = p.byte_offset(begin)
    if p.pos >= len(p.source):
        raise EntityParseError(f"Unclosed start tag at byte offset {where}")
    if tag not in _TYPES:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {where}')
    attrs = _attributes(p, tag, where)
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {where}')
    p.stack.append(_Open(tag, attrs, p.utf16, where))
    p.pos += 1  # the '>'


def _attributes(p: _Parser, tag: str, where: int) -> dict[str, str]:
    attrs: dict[str, str] = {}
    while True:
        while p.pos < len(p.source) and p.char() in _SPACE:
            p.pos += 1
        if p.pos >= len(p.source):
            raise EntityParseError(f"Unclosed start tag at byte offset {where}")
        if p.char() == ">":
            return attrs
        name_start = p.pos
        while p.char() not in _SPACE and p.char() not in "=>":
            p.pos += 1
        name = p.source[name_start : p.pos].lower()
        if not name:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {where}'
            )
        while p.pos < len(p.source) and p.char() in _SPACE:
            p.pos += 1
        if p.char() != "=":
            if name == "expandable":  # the one attribute that takes no value
                attrs[name] = ""
                continue
            raise EntityParseError(
                f"Expected equal sign in declaration of an attribute of the "
                f'tag "{tag}" at byte offset {where}'
            )
        p.pos += 1
        attrs[name] = _attribute_value(p, tag, where)


def _attribute_value(p: _Parser, tag: str, where: int) -> str:
    while p.pos < len(p.source) and p.char() in _SPACE:
        p.pos += 1
    if p.pos >= len(p.source):
        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {where}')
    quote = p.char()
    if quote not in "'\"":
        start = p.pos
        while p.char().isalnum() or p.char() in ".-":
            p.pos += 1
        if p.char() not in _SPACE and p.char() != ">":
            raise EntityParseError(
                f"Unexpected end of name token at byte offset {p.byte_offset(p.pos)}"
            )
        return p.source[start : p.pos].lower()
    end = p.source.find(quote, p.pos + 1)
    if end < 0:
        raise EntityParseError(f"Unclosed start tag at byte offset {where}")
    raw = p.source[p.pos + 1 : end]
    p.pos = end + 1
    return _ENTITY.sub(lambda m: _decode(m) or m.group(0), raw)


def _end_tag(p: _Parser) -> None:
    begin = p.pos
    where = p.byte_offset(begin)
    if not p.stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {where}")
    p.pos += 2
    while p.char() not in _SPACE and p.char() != ">":
        p.pos += 1
    name = p.source[begin + 2 : p.pos].lower()
    while p.pos < len(p.source) and p.char() in _SPACE:
        p.pos += 1
    if p.char() != ">":
        raise EntityParseError(f"Unclosed end tag at byte offset {where}")
    opened = p.stack.pop()
    if name and name != opened.tag:
        raise EntityParseError(
            f"Unmatched end tag at byte offset {where}, expected "
            f'"</{opened.tag}>", found "</{name}>"'
        )
    p.pos += 1
    if p.utf16 > opened.start:
        _close(p, opened)


def _close(p: _Parser, opened: _Open) -> None:
    entity: dict[str, Any] = {
        "offset": opened.start,
        "length": p.utf16 - opened.start,
        "type": _TYPES[opened.tag],
    }
    attrs = opened.attrs
    if opened.tag == "a":
        if not attrs.get("href"):
            return
        entity["url"] = attrs["href"]
    elif opened.tag == "code" and _opens_pre(p, opened):
        # <pre><code class="language-x"> is one `pre` entity carrying the language.
        language = attrs.get("class", "")
        if language.startswith("language-"):
            p.stack[-1].attrs["language"] = language.removeprefix("language-")
        return
    elif opened.tag == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif opened.tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif opened.tag == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif opened.tag == "tg-time":
        entity["unix_time"] = int(attrs.get("unix", "0") or 0)
        if attrs.get("format"):
            entity["date_time_format"] = attrs["format"]
    p.entities.append(entity)


def _opens_pre(p: _Parser, code: _Open) -> bool:
    return bool(p.stack) and p.stack[-1].tag == "pre" and p.stack[-1].start == code.start
