"""Credential fields as data: the name, the documented format and whether the value is secret.

A platform module declares its fields (`telegram.CREDENTIALS`, `openai.CREDENTIALS`); the
registry checks a tenant's credentials against them before anything calls the platform or
stores a row, so a value that could escape its place in a request (a bot token with `/..` in
the URL path, an API key with a line break in a header) is a 400 with the reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from easyflow.domain.errors import InvalidRequestError

# Long enough for any real key; a bound before the regex so huge input costs nothing.
MAX_CREDENTIAL_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class CredentialField:
    """One credential a platform needs. `pattern` must match the whole value."""

    name: str
    pattern: str
    expected: str  # the format in words, for the 400 reason ("a bot token: <bot id>:<secret>")
    secret: bool = True
    max_length: int = MAX_CREDENTIAL_LENGTH

    def problem(self, value: str) -> str | None:
        """Why `value` is not a well-formed credential, or None. Never quotes the value."""
        if not value:
            return "is empty"
        if len(value) > self.max_length:
            return f"is longer than {self.max_length} characters"
        if any(unicodedata.category(ch)[0] in "CZ" for ch in value):
            # Control, format, separator characters: none belongs in a key, and each could
            # split a header or a URL.
            return "contains whitespace or a control character"
        if not re.fullmatch(self.pattern, value):
            return "does not have the documented format"
        return None


@dataclass(frozen=True, slots=True)
class ConnectOption:
    """A setting asked for when an account is connected (`integrations add … --model x`)."""

    name: str  # the integration setting it fills; the CLI option is --<name with dashes>
    help: str
    default: str | None = None  # None: required


def check_credentials(
    platform: str, fields: tuple[CredentialField, ...], credentials: Mapping[str, object]
) -> None:
    """Raise InvalidRequestError naming the first thing wrong with `credentials`."""
    missing = [f.name for f in fields if not credentials.get(f.name)]
    if missing:
        raise InvalidRequestError(f"{platform} needs credentials: {', '.join(missing)}")
    known = [f.name for f in fields]
    if any(name not in known for name in credentials):
        # The stray names are not echoed: a pasted key may be among them.
        raise InvalidRequestError(f"{platform} takes only the credentials: {', '.join(known)}")
    for field in fields:
        value = credentials[field.name]
        reason = "is not text" if not isinstance(value, str) else field.problem(value)
        if reason:
            raise InvalidRequestError(
                f"{platform} credential {field.name!r} {reason}: expected {field.expected}"
            )


# --------------------------------------------------------------------------- settings

# Why a setting's value is wrong (the 400 reason), or None when it is fine.
SettingCheck = Callable[[Any], str | None]


def any_value(_value: Any) -> str | None:
    return None


def short_text(max_length: int = 255) -> SettingCheck:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "must be non-empty text"
        return f"must be at most {max_length} characters" if len(value) > max_length else None

    return check


def whole_number(low: int, high: int) -> SettingCheck:
    """An integer from `low` to `high`; digits in a string count (a CLI value may be one)."""

    def check(value: Any) -> str | None:
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.isascii() and value.isdigit():
            number = int(value)
        if number is None or not low <= number <= high:
            return f"must be a whole number from {low} to {high}"
        return None

    return check


def seconds_per_name(names: tuple[str, ...], low: int, high: int) -> SettingCheck:
    """An object of some of `names`, each to a whole number of seconds from `low` to `high`
    (`{"orders": 300}`)."""
    whole = whole_number(low, high)

    def check(value: Any) -> str | None:
        shape = f"must be an object of {', '.join(names)} to seconds from {low} to {high}"
        if not isinstance(value, dict) or not value:
            return shape
        if any(name not in names or whole(seconds) for name, seconds in value.items()):
            return shape
        return None

    return check


@dataclass(frozen=True, slots=True)
class SettingField:
    """A setting the platform's adapter reads from an integration's settings; changeable after
    the account is connected (`PATCH /integrations/{id}/settings`). Secrets are credentials,
    never settings."""

    name: str
    help: str
    check: SettingCheck = any_value
