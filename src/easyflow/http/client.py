"""`PlatformClient`: auth, rate limiting, retries, classification, metrics and logs in one place.

Adapters call `client.call("sendMessage", json=...)` and get the platform's payload back or a
typed error from `domain.errors`. The order of work for one call:

1. wait for a slot in every rate-limit bucket the call belongs to (before sending; the slow
   buckets first, then the fastest: `http.ratelimit.wait_for_slot`);
2. send with the platform's auth;
3. `classify(response)` — a pure function per platform — returns the payload or raises;
4. retry what is retryable with exponential backoff and jitter; a rate-limit answer pauses
   the bucket for the time the platform asked, so every caller of that bucket waits too;
   a wait longer than `RetryPolicy.max_retry_after` is not slept here: the error goes up and
   the caller (the outbox) reschedules.

httpx stays behind this module: transport errors are translated into `RetryableError` here.

A credential goes into a URL path only when it is made of characters that cannot leave its
path segment, and into a header only when it has no whitespace or control character; else
the call is a `ConfigurationError` before anything is sent. Credentials are checked against
the platform's format when they are added; this holds for rows stored before that check.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from easyflow import jsonio
from easyflow.domain.delivery import at_most_once
from easyflow.domain.errors import (
    ConfigurationError,
    OutcomeUnknownError,
    RateLimitedError,
    RetryableError,
)
from easyflow.http.ratelimit import RateLimiter, wait_for_slot
from easyflow.http.spec import AuthStyle, PlatformSpec
from easyflow.observability.logging import redact_text
from easyflow.observability.metrics import Metrics

log = structlog.get_logger("easyflow.http")

# RFC 3986 unreserved characters and ":" — no "/", "?", "#", "%" or whitespace; a value of
# dots only would be a dot segment.
_PATH_SAFE = re.compile(r"[A-Za-z0-9._~:-]{1,1024}")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,4096}")  # visible ASCII: nothing splits a header


@functools.lru_cache(maxsize=1024)
def _parsed_url(url: str) -> httpx.URL:
    """`url` parsed once. httpx parses a URL given as text on every request, in Python (about
    20 µs of the 46 µs `build_request` takes for an Ozon list call), while an account calls
    the same few URLs over and over. Bounded: paths that carry ids are many. Never a URL
    with a credential in its path (`_build`)."""
    return httpx.URL(url)


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What `classify()` sees of a response: no httpx types leak into platform modules."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return jsonio.loads_response(self.body)
        except ValueError:
            return None

    def header_seconds(self, name: str) -> float | None:
        """A numeric header (e.g. Retry-After in seconds), or None."""
        value = self.headers.get(name.lower())
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


Classifier = Callable[[RawResponse], Any]


class BodyStream:
    """A successful answer whose body is read as it arrives (`PlatformClient.open_stream`):
    `async for chunk in body` yields it in network-sized pieces, so a body of tens of MB is
    never in memory whole, and its reader works on the first rows while the rest is still on
    the wire. The caller closes it (`aclose`), which frees the connection.

    A connection lost or a read timed out mid-body raises `RetryableError` for a read (GET):
    reading it again is safe; for any other method `OutcomeUnknownError` (the platform
    answered, the hub does not know what it said)."""

    def __init__(self, response: httpx.Response, platform: str) -> None:
        self._response = response
        self._platform = platform

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.TransportError as exc:
            safe = self._response.request.method in ("GET", "HEAD")
            error = RetryableError if safe else OutcomeUnknownError
            detail = redact_text(str(exc)) or type(exc).__name__
            raise error(f"body cut short: {detail}", platform=self._platform) from None

    async def aclose(self) -> None:
        await self._response.aclose()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0


@dataclass(slots=True)
class CallContext:
    method: str
    buckets: dict[str, float] = field(default_factory=dict)


class PlatformClient:
    """One platform account's outbound path. Cheap to build; shares the httpx client."""

    def __init__(
        self,
        spec: PlatformSpec,
        *,
        http: httpx.AsyncClient,
        classify: Classifier,
        credentials: Mapping[str, str],
        limiter: RateLimiter,
        metrics: Metrics,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.spec = spec
        self._http = http
        self._classify = classify
        self._credentials = dict(credentials)
        self._limiter = limiter
        self._metrics = metrics
        self._base_url = (base_url or spec.base_url).rstrip("/")
        self._retry = retry or RetryPolicy()
        self._backoff = wait_exponential_jitter(
            multiplier=self._retry.initial_backoff, max=self._retry.max_backoff
        )
        self._key_id = hashlib.sha256(self._secret().encode()).hexdigest()[:12]

    async def call(
        self,
        method: str,
        *,
        path: str | None = None,
        http_method: str = "POST",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        scopes: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """Call `method` (a metrics label; also the path when `path` is not given).

        `form` sends an application/x-www-form-urlencoded body (VK methods) instead of JSON.
        """
        ctx = CallContext(method=method, buckets=self._buckets(scopes or {}))
        request = self._build(http_method, path or method, json, params, headers, form)
        return await self._send(ctx, request, stream=False)

    async def open_stream(
        self,
        method: str,
        *,
        path: str | None = None,
        http_method: str = "GET",
        params: Mapping[str, Any] | None = None,
        scopes: Mapping[str, str] | None = None,
    ) -> BodyStream:
        """`call`, but a successful answer's body is not read here: it comes back as a
        `BodyStream` for the caller to read as it arrives and close. Waiting for a rate-limit
        slot, retries and the classification of an error answer (read whole: error bodies are
        small) are `call`'s."""
        ctx = CallContext(method=method, buckets=self._buckets(scopes or {}))
        request = self._build(http_method, path or method, None, params, None)
        body: BodyStream = await self._send(ctx, request, stream=True)
        return body

    async def _send(self, ctx: CallContext, request: httpx.Request, *, stream: bool) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            before_sleep=lambda state: self._count_retry(ctx, state),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(ctx, request, stream=stream)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    # -- one attempt

    async def _attempt(self, ctx: CallContext, request: httpx.Request, *, stream: bool) -> Any:
        waited = await wait_for_slot(self._limiter, ctx.buckets)
        if waited:
            self._metrics.rate_limit_wait_seconds.labels(self.spec.name).inc(waited)
        started = time.perf_counter()
        try:
            response = await self._http.send(request, stream=stream)
            if stream and response.status_code >= 300:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except httpx.TimeoutException as exc:
            self._observe(ctx, "timeout", started)
            # Connecting or waiting for a pooled connection: nothing was sent. Otherwise the
            # request may have arrived, and only the platform knows.
            unsent = isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            error = RetryableError if unsent else OutcomeUnknownError
            raise error(f"timeout: {type(exc).__name__}", platform=self.spec.name) from None
        except httpx.TransportError as exc:
            self._observe(ctx, "connection_error", started)
            detail = redact_text(str(exc)) or type(exc).__name__
            error = RetryableError if isinstance(exc, httpx.ConnectError) else OutcomeUnknownError
            raise error(f"connection error: {detail}", platform=self.spec.name) from None
        if stream and response.status_code < 300:
            self._observe(ctx, "ok", started)  # the time to the answer's head
            return BodyStream(response, self.spec.name)
        raw = RawResponse(response.status_code, dict(response.headers), response.content)
        try:
            payload = self._classify(raw)
        except RateLimitedError as exc:
            self._observe(ctx, "rate_limited", started)
            await self._pause(ctx, exc.retry_after)
            raise
        except Exception as exc:
            self._observe(ctx, type(exc).__name__, started)
            log.warning(
                "platform call failed",
                platform=self.spec.name,
                method=ctx.method,
                http_status=raw.status,
                error=str(exc),
                request_id=raw.headers.get("x-request-id"),
            )
            raise
        self._observe(ctx, "ok", started)
        return payload

    async def _pause(self, ctx: CallContext, retry_after: float | None) -> None:
        if retry_after is None:
            return
        for bucket in ctx.buckets:
            await self._limiter.pause(bucket, retry_after)

    # -- retry policy

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, RetryableError):
            return False
        if isinstance(exc, OutcomeUnknownError) and at_most_once():
            return False  # it may have arrived: a repeat could be a second copy; caller decides
        return (exc.retry_after or 0.0) <= self._retry.max_retry_after

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            # The bucket is paused; the limiter makes the next attempt wait just long enough.
            return 0.0 if self.spec.rate_limits else exc.retry_after
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _count_retry(self, ctx: CallContext, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = "rate_limited" if isinstance(exc, RateLimitedError) else "retryable"
        self._metrics.api_retries.labels(self.spec.name, ctx.method, reason).inc()
        log.info(
            "retrying platform call",
            platform=self.spec.name,
            method=ctx.method,
            attempt=state.attempt_number,
            error=str(exc),
        )

    def credential(self, name: str) -> str:
        """A credential that is not the auth secret (an account id an adapter puts in paths)."""
        value = self._credentials.get(name, "")
        if not value:
            raise ConfigurationError(f"missing credential {name!r}", platform=self.spec.name)
        return value

    # -- request building

    def _secret(self) -> str:
        if self.spec.auth.style is AuthStyle.NONE:
            return ""
        secret = self._credentials.get(self.spec.auth.credential, "")
        if not secret:
            raise ConfigurationError(
                f"missing credential {self.spec.auth.credential!r}", platform=self.spec.name
            )
        return secret

    def _safe_secret(self, allowed: re.Pattern[str], where: str) -> str:
        secret = self._secret()
        if not allowed.fullmatch(secret) or not secret.strip("."):
            # Never the value: it is a secret, and it is what is wrong.
            raise ConfigurationError(
                f"credential {self.spec.auth.credential!r} has characters a {where} cannot "
                "carry; connect the integration again with a valid one",
                platform=self.spec.name,
            )
        return secret

    def _build(
        self,
        http_method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        form: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        auth = self.spec.auth
        url = self._base_url
        all_headers = dict(headers or {})
        if auth.style is AuthStyle.PATH_TOKEN:
            url += auth.template.format(secret=self._safe_secret(_PATH_SAFE, "URL path"))
        elif auth.style is AuthStyle.HEADER:
            secret = self._safe_secret(_HEADER_SAFE, "header")
            bearer = auth.bearer_prefixes and secret.startswith(auth.bearer_prefixes)
            template = "Bearer {secret}" if bearer else auth.template
            all_headers[auth.header] = template.format(secret=secret)
        url += "/" + path.lstrip("/")
        return self._http.build_request(
            http_method,
            # A URL carrying the secret is not kept: it would outlive a rotated credential.
            url if auth.style is AuthStyle.PATH_TOKEN else _parsed_url(url),
            json=json,
            data=form,
            params=params,
            headers=all_headers,
            timeout=self.spec.timeout,
        )

    def _buckets(self, scopes: Mapping[str, str]) -> dict[str, float]:
        buckets: dict[str, float] = {}
        for limit in self.spec.rate_limits:
            value = self._key_id if limit.scope == "key" else scopes.get(limit.scope)
            if value is not None:
                name = f"{self.spec.name}:{self._key_id}:{limit.scope}:{value}"
                buckets[name] = limit.interval
        return buckets

    def _observe(self, ctx: CallContext, outcome: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        self._metrics.api_calls.labels(self.spec.name, ctx.method, outcome).inc()
        self._metrics.api_response_seconds.labels(self.spec.name, ctx.method).observe(elapsed)

    # -- appended for platforms with several hosts or a second identity header

    def on_host(self, base_url: str) -> PlatformClient:
        """This account's client on another host of the platform (Wildberries has one host per
        API family); rate-limit budgets, retries and metrics stay shared."""
        clone = copy.copy(self)
        clone._base_url = base_url.rstrip("/")
        return clone

    @property
    def base_url(self) -> str:
        return self._base_url
