"""The local responder's facts: a chat model with no network, no account and no credentials."""

from __future__ import annotations

from typing import Any

from easyflow.domain.errors import ConfigurationError
from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformSpec, RawResponse
from easyflow.platforms.credentials import CredentialField

SPEC = PlatformSpec(
    name="local",
    capabilities=(Capability.CHAT_MODEL,),
    base_url="",  # it answers in process: nothing to reach
    auth=Auth(AuthStyle.NONE),
    docs="docs/ai.md",
)
# None: every tenant has it without connecting anything, so it is never an integration.
CREDENTIALS: tuple[CredentialField, ...] = ()


def classify(response: RawResponse) -> Any:
    """Never called: the responder makes no requests. A response here is a wiring mistake."""
    raise ConfigurationError("the local responder makes no HTTP calls", platform=SPEC.name)
