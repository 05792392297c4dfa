"""Phone numbers as the hub compares them: customers and shops write them in any format.

A contact proves a phone number (the messenger vouches for it, or the customer types the one on
an order they asked about); orders carrying that number are then theirs to ask about. Numbers
are compared by digits: "+7 (900) 123-45-67", "8 900 123 45 67" and "9001234567" are one
number (a Russian leading 8 is the trunk prefix of +7), and a number written without its
country code matches the same national number written with one (at most 3 digits of prefix).

What counts as a phone in a message (so it is not taken for an order number): 10-15 digits,
optionally grouped by spaces, hyphens or parentheses, that either start with "+", or are
exactly 10 digits, or are 11 digits starting with 7 or 8. A longer bare digit run (an Ozon
posting number, a long marketplace id) is not a phone unless written with "+".

Phone numbers are personal data: `masked()` is the only form that may reach a log.
"""

from __future__ import annotations

import itertools
import re

MIN_DIGITS = 10  # shorter numbers are too easy to guess to prove anything
MAX_DIGITS = 15  # E.164
_MAX_PREFIX = 3  # the longest country code
_MAX_GROUPS = 6  # "+7 (900) 123-45-67" is 5; more is a list of numbers, not one phone
# Digit groups joined by spaces, hyphens or parentheses; not part of a word, a decimal, a time.
_CANDIDATE = re.compile(r"(?<![\w+])(?<!\d[:.,/])\+?\d(?:[ \t()-]{0,2}\d){9,14}(?!\w|[:.,/]\d)")
_NOT_DIGIT = re.compile(r"\D")
_DIGITS = re.compile(r"\d+")


def digits(phone: str | None) -> str:
    return _NOT_DIGIT.sub("", phone or "")


def national(phone: str | None) -> str:
    """The digits without a Russian/Kazakh country or trunk prefix (7 or 8 before 10 digits)."""
    number = digits(phone)
    if len(number) == 11 and number[0] in "78":
        return number[1:]
    return number


def same_phone(a: str | None, b: str | None) -> bool:
    """Whether two written numbers are one phone (see the module docstring)."""
    first, second = national(a), national(b)
    shorter, longer = sorted((first, second), key=len)
    if len(shorter) < MIN_DIGITS:
        return False
    return longer.endswith(shorter) and len(longer) - len(shorter) <= _MAX_PREFIX


def _looks_like_phone(span: str) -> bool:
    number = digits(span)
    if number[0] in "78" and len(number) > 11:  # +7 numbers have 10 national digits
        return False
    if span.startswith("+"):
        return MIN_DIGITS <= len(number) <= MAX_DIGITS
    return len(number) == 10 or (len(number) == 11 and number[0] in "78")


def _longest_phone(text: str, groups: list[tuple[int, int]], ends: list[bool], first: int) -> int:
    """The last group of the longest phone starting at group `first`, or -1."""
    begin, count = groups[first][0], 0
    lasts = range(first, min(first + _MAX_GROUPS, len(groups)))
    candidates = []
    for last in lasts:  # digits so far: the cheap test before the exact one
        count += groups[last][1] - groups[last][0]
        if ends[last] and MIN_DIGITS <= count <= MAX_DIGITS + 1:
            candidates.append(last)
    for last in reversed(candidates):
        if _looks_like_phone(text[begin : groups[last][1]]):
            return last
    return -1


def _spans_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Phones in one run of digit groups: from each group, the longest run that is a phone
    (so "order 1001 89001234567" or "+7 900 123 45 67 1001" still yield just the phone).
    A run is cut only at whitespace: "0123456789-0001-1" is one (posting) number, no phone."""
    groups = [m.span() for m in _DIGITS.finditer(text, start, end)]
    if text[start] == "+":
        groups[0] = (start, groups[0][1])
    # ends[i]: group i ends a word (whitespace or the end of the run follows it)
    ends = [any(c.isspace() for c in text[a[1] : b[0]]) for a, b in itertools.pairwise(groups)]
    ends.append(True)
    found: list[tuple[int, int]] = []
    first = 0
    while first < len(groups):
        last = _longest_phone(text, groups, ends, first)
        if last >= 0:
            found.append((groups[first][0], groups[last][1]))
            first = last + 1
        else:
            first = ends.index(True, first) + 1  # phones start after whitespace
    return found


def phone_spans(text: str) -> list[tuple[int, int]]:
    """Where phone numbers are written in `text`, as (start, end) offsets."""
    return [span for m in _CANDIDATE.finditer(text) for span in _spans_in(text, *m.span())]


def extract_phone(text: str) -> str | None:
    """The first phone number written in `text`, digits only; None if there is none."""
    spans = phone_spans(text)
    if not spans:
        return None
    start, end = spans[0]
    return digits(text[start:end])


def redact_phones(text: str, placeholder: str = "[phone number]") -> str:
    """`text` with every phone number replaced: what a third party (an LLM) may read."""
    parts, done = [], 0
    for start, end in phone_spans(text):
        parts += [text[done:start], placeholder]
        done = end
    return "".join([*parts, text[done:]])


def masked(phone: str | None) -> str:
    """A form safe for logs: the last two digits only."""
    number = digits(phone)
    return f"***{number[-2:]}" if len(number) > 2 else "***"
