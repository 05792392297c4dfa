"""Facts about a platform that generic code reads: base URL, auth style, rate limits.

A fact joins `PlatformSpec` only when generic code reads it. Behaviour (how a response is
classified, how a payload is shaped) stays as code in the platform module.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from easyflow.domain.tenancy import Capability


class AuthStyle(enum.StrEnum):
    PATH_TOKEN = "path_token"  # noqa: S105 - the credential is part of the URL path (Telegram)
    HEADER = "header"  # the credential goes in a header, through a template
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Auth:
    style: AuthStyle
    credential: str = "token"  # which credential field carries the secret
    header: str = "Authorization"
    template: str = "Bearer {secret}"  # header value, or path prefix for PATH_TOKEN
    # Secrets starting with one of these are bearer tokens, sent as `Bearer {secret}` in place
    # of the template (Yandex Cloud: an IAM token `t1.…` where an API key takes `Api-Key`).
    bearer_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` calls per `period` seconds in one bucket.

    `scope` "key" is one bucket per credential; any other scope (e.g. "chat") is one bucket
    per value the adapter passes for it, and applies only to calls that pass one.
    """

    scope: str
    limit: int
    period: float

    @property
    def interval(self) -> float:
        # A hair over the exact spacing, so a sliding window on the platform's side never
        # counts limit + 1 calls because of clock granularity.
        return self.period / self.limit * 1.02


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    name: str
    # What it offers, the one its integrations are listed under first (domain.Capability).
    capabilities: tuple[Capability, ...]
    base_url: str  # the real host; settings may point it elsewhere (config.Settings.base_url)
    auth: Auth
    rate_limits: tuple[RateLimit, ...] = ()
    timeout: float = 30.0
    docs: str = ""
    # Whether a send carrying an idempotency key is delivered once however often it is
    # repeated (VK random_id, Stripe Idempotency-Key). Decides what happens to a send whose
    # worker died mid-call: repeated with the same key, or marked unconfirmed for a person.
    idempotency_keys: bool = False
    # Where `easyflow sandbox` serves this API under EASYFLOW_SANDBOX_URL ("" is /<name>):
    # the emulator's mount plus the API's own prefix where the real base URL has one.
    sandbox_path: str = ""

    @property
    def sandbox_mount(self) -> str:
        return self.sandbox_path or f"/{self.name}"

    def offers(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @property
    def primary(self) -> Capability:
        """The capability its integrations are stored under."""
        return self.capabilities[0]
