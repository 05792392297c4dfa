"""WhatsApp's 24-hour customer-service window, and the tenant's fallback template outside it.

A customer's message opens (or refreshes) a window of 24 hours in which the business may send
anything; outside it only approved templates are delivered, and free-form messages fail with
131047 (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows).
The hub knows when the customer last wrote, so it decides before sending: a free-form message
outside the window goes out as the integration's fallback template, its text the template's
one body parameter, or is refused with `WINDOW_CLOSED` as the reason when none is set. When
WhatsApp decides otherwise (a 131047, answered at once or reported later in a `failed`
status), the message goes out as the fallback template the same way, once.

The setting, in the integration's settings:
`{"fallback_template": {"name": "customer_reply", "language": "ru"}}` — an approved template
whose body has exactly one parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from easyflow.domain.errors import ConfigurationError
from easyflow.domain.messaging import MessageTemplate
from easyflow.platforms.whatsapp.spec import SPEC

SERVICE_WINDOW = timedelta(hours=24)
WINDOW_CLOSED = "outside WhatsApp's 24-hour customer-service window and no fallback template is set"
# The same, when WhatsApp took a free-form message and reported it failed later (131047).
REPORTED_CLOSED = f"WhatsApp reported it undelivered (131047): {WINDOW_CLOSED}"
SETTING = "fallback_template"
MAX_PARAMETER = 1024  # characters of a template body parameter
# Meta's rules for template names and language codes (en, en_US, pt_BR, zh_Hant_HK ...).
_NAME = re.compile(r"[a-z0-9_]{1,512}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4}){0,2}")


def fallback_template(settings: Mapping[str, Any]) -> MessageTemplate | None:
    """The integration's fallback template (no parameters yet), or None when not set.

    ConfigurationError with the reason when the setting is malformed: raised when the
    integration is added, so the tenant hears of it then, not on a customer's message.
    """
    value = settings.get(SETTING)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad('must be {"name": ..., "language": ...}')
    name, language = value.get("name"), value.get("language")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _bad("name must be a template name: lowercase letters, digits and underscores")
    if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
        raise _bad("language must be a template language code such as ru or en_US")
    return MessageTemplate(name, language)


def problem(value: Any) -> str | None:
    """Why `value` cannot be the fallback template setting, or None (`SettingField.check`)."""
    try:
        fallback_template({SETTING: value})
    except ConfigurationError as exc:
        return str(exc).removeprefix(f"setting {SETTING!r}: ")
    return None


def outside(customer_wrote_at: datetime | None, now: datetime) -> bool:
    """Whether free-form messages can no longer reach the customer. Unknown (None): the hub
    cannot tell, and lets the platform decide (it answers 131047 if so)."""
    return customer_wrote_at is not None and now - customer_wrote_at > SERVICE_WINDOW


def with_text(template: MessageTemplate, text: str) -> MessageTemplate:
    """The fallback carrying `text` as its body parameter. Meta refuses parameters with line
    breaks, tabs or more than four spaces in a row, so whitespace is folded to single spaces."""
    folded = " ".join(text.split()) or "…"
    if len(folded) > MAX_PARAMETER:
        folded = folded[: MAX_PARAMETER - 1] + "…"
    return MessageTemplate(template.name, template.language, (folded,))


def _bad(why: str) -> ConfigurationError:
    return ConfigurationError(f"setting {SETTING!r}: {why}", platform=SPEC.name)
