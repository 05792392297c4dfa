"""Schemathesis over the app's OpenAPI schema, in-process, on SQLite and on PostgreSQL.

Cases are generated from the schema of `create_app()` (valid and invalid data for every
operation) and sent to the real app of the `hub` fixture (a tenant, its API key, a Telegram
bot and a conversation, over the in-process sandbox), through httpx's ASGI transport.

- authenticated with the tenant's real API key: never a 5xx; bodies conform to the documented
  response schema and content type; a rejected request (4xx) changes no row count (no
  partial writes);
- unauthenticated (no, malformed, unknown or revoked-looking keys): never a 5xx, never a 2xx
  outside the public health routes, and no row of any table changes.

Path parameters are drawn both freely and pinned to the hub's real rows, so the routes are
exercised past their 404s. `test_hostile_json_bodies` goes beyond the schema: realistic bodies
with a few hostile values (see strategies.py), the kind schemathesis does not generate.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlalchemy import text

from easyflow.app import create_app
from fuzz.oracle import Target, assert_not_server_error, changed, describe, snapshot
from fuzz.profiles import fuzz_settings
from fuzz.strategies import body_bytes, hostile
from support.hub import HUB_URL, Hub

pytestmark = pytest.mark.fuzz

SCHEMA = schemathesis.openapi.from_dict(create_app().openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
PUBLIC = ("/health",)  # routes that answer without credentials
# Not negative_data_rejection: the invalid part it flags is often the Authorization header
# the test replaces, or an unknown query parameter, which HTTP servers rightly ignore.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
_cases: dict[tuple[tuple[str, int], ...], st.SearchStrategy[Any]] = {}


def _cases_for(hub_ids: dict[str, int]) -> st.SearchStrategy[Any]:
    """Valid and invalid cases of every operation, half of them aimed at the hub's rows."""
    key = tuple(sorted(hub_ids.items()))
    if key not in _cases:
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        free = [SCHEMA.as_strategy(generation_mode=mode) for mode in modes]
        pinned = [SCHEMA.as_strategy(generation_mode=m, path_parameters=hub_ids) for m in modes]
        _cases[key] = st.one_of(*free, *pinned)
    return _cases[key]


async def _ids(hub: Hub) -> dict[str, int]:
    """Ids of real rows (not the API key's: revoking it would end the authenticated run)."""
    await hub.customer_writes("Where is my order 1001?")  # a conversation, messages, outbox
    ids = {"integration_id": hub.integration_id}
    async with hub.container.engine.connect() as conn:
        for name, table in (
            ("conversation_id", "conversations"),
            ("outbox_id", "outbox"),
            ("event_id", "inbound_events"),
        ):
            query = text(f"SELECT min(id) FROM {table}")  # noqa: S608 - fixed names
            ids[name] = (await conn.execute(query)).scalar_one() or 1
    return ids


async def _send(hub: Hub, case: Any, headers: dict[str, str] | None) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=HUB_URL, headers=headers)
    request: dict[str, Any] = {
        "headers": _wire_headers(kwargs.get("headers") or {}),
        "params": kwargs.get("params") or None,
        "cookies": kwargs.get("cookies") or None,
    }
    if "json" in kwargs:
        request["content"] = json.dumps(kwargs["json"]).encode()
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        request["content" if isinstance(data, bytes | str) else "data"] = data
    try:
        return await hub.http.request(kwargs["method"], kwargs["url"], **request)
    except Exception as exc:  # the app raised: the ASGI server would have answered 500
        raise AssertionError(
            f"unhandled {type(exc).__name__} (a 500): {exc}\n"
            f"reproduce: {case.as_curl_command(headers=headers, base_url=HUB_URL)}"
        ) from exc


def _wire_headers(headers: dict[str, Any]) -> dict[str, bytes]:
    # HTTP/1.1 header values are latin-1 octets; httpx would refuse anything past ASCII.
    return {
        name: value if isinstance(value, bytes) else str(value).encode("latin-1", "replace")
        for name, value in headers.items()
    }


def _validate(case: Any, response: httpx.Response, headers: dict[str, str] | None) -> None:
    # Failures carry schemathesis' report: which check, the response, and a curl command.
    case.validate_response(response, checks=CHECKS, headers=headers)


@pytest.fixture
async def hub_ids(hub: Hub) -> dict[str, int]:
    return await _ids(hub)


@fuzz_settings(examples=500)
@given(data=st.data())
async def test_authenticated(target: Target, hub_ids: dict[str, int], data: st.DataObject) -> None:
    hub = target.hub
    case = data.draw(_cases_for(hub_ids), label="case")
    before = await snapshot(hub.container.engine)
    response = await _send(hub, case, hub.auth)
    await hub.container.queue.wait_idle()
    _validate(case, response, hub.auth)
    if response.status_code >= 400:
        delta = changed(before, await snapshot(hub.container.engine))
        assert not delta, f"a rejected request wrote rows {delta}: " + describe(response)


def _wrong_keys(real: str) -> st.SearchStrategy[str | None]:
    near = [real[:-1], real + "0", real.upper(), "ef_" + "0" * 8 + "_" + "0" * 43]
    schemes = ["Bearer", "bearer", "Basic", "Token", ""]
    crafted = st.builds(
        lambda scheme, key: f"{scheme} {key}".strip(),
        st.sampled_from(schemes),
        st.sampled_from(near) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF)),
    )
    return st.none() | crafted  # None keeps whatever schemathesis generated (often nothing)


@fuzz_settings(examples=400)
@given(data=st.data())
async def test_unauthenticated(
    target: Target, hub_ids: dict[str, int], data: st.DataObject
) -> None:
    hub = target.hub
    case = data.draw(_cases_for(hub_ids), label="case")
    wrong = data.draw(_wrong_keys(hub.api_key), label="authorization")
    headers = None if wrong is None else {"Authorization": wrong}
    before = await snapshot(hub.container.engine)
    response = await _send(hub, case, headers)
    await hub.container.queue.wait_idle()
    after = await snapshot(hub.container.engine)
    _validate(case, response, headers)
    assert not changed(before, after), (
        f"rows {changed(before, after)} changed for an unauthenticated request: "
        + describe(response)
    )
    public = response.request.url.path.startswith(PUBLIC)
    assert public or response.status_code >= 400, (
        "an unauthenticated request succeeded: " + describe(response)
    )


BODY_OPERATIONS = {op.label: op for op in OPERATIONS if len(op.body)}
FRESH_TOKEN = "FUZZ-FRESH-BOT-TOKEN"  # replaced by a bot registered for the request
# Bodies that pass validation and reach storage, so a hostile value is carried all the way
# (a random platform name would stop at a 404 before `settings` is looked at).
REALISTIC = {
    "POST /api/v1/integrations": {
        "platform": "telegram",
        "name": "Fuzz shop",
        "credentials": {"token": FRESH_TOKEN},
        "settings": {"sync": {"orders_minutes": 15}, "tags": ["a", "b"]},
    },
    "PUT /api/v1/ai/profile": {
        "system_prompt": "You are the assistant of Fuzz shop.",
        "faq": [{"topic": "delivery", "keywords": ["delivery"], "answer": "2-4 days."}],
        "providers": ["local"],
    },
    "POST /api/v1/conversations/{conversation_id}/status": {"status": "open"},
}


def _base_body(operation: Any, hub_ids: dict[str, int]) -> st.SearchStrategy[Any]:
    generated = operation.as_strategy(path_parameters=hub_ids).map(lambda case: case.body)
    if operation.label in REALISTIC:
        return st.just(REALISTIC[operation.label]) | generated
    return generated


@fuzz_settings(examples=300)
@given(data=st.data())
async def test_hostile_json_bodies(
    target: Target, hub_ids: dict[str, int], data: st.DataObject
) -> None:
    """Every JSON body, valid but for a few hostile values (NaN, 1e309, nesting 100,000 deep,
    lone surrogates, NUL, control characters, wrong types), or damaged bytes."""
    hub = target.hub
    label = data.draw(st.sampled_from(sorted(BODY_OPERATIONS)), label="operation")
    operation = BODY_OPERATIONS[label]
    case = data.draw(operation.as_strategy(path_parameters=hub_ids), label="case")
    body = data.draw(body_bytes(hostile(_base_body(operation, hub_ids)), intact=20), label="body")
    if FRESH_TOKEN.encode() in body:
        token = hub.sandbox.telegram.register_bot(username="fuzz_bot")["token"]
        body = body.replace(FRESH_TOKEN.encode(), token.encode())
    authenticated = data.draw(st.sampled_from([True, True, True, False]), label="authenticated")
    kwargs = case.as_transport_kwargs(base_url=HUB_URL)
    headers = {"Content-Type": "application/json"} | (hub.auth if authenticated else {})
    before = await snapshot(hub.container.engine)
    try:
        response = await hub.http.request(
            kwargs["method"], kwargs["url"], content=body, headers=headers
        )
    except Exception as exc:  # the app raised: the ASGI server would have answered 500
        raise AssertionError(
            f"unhandled {type(exc).__name__} (a 500) for {operation.label} "
            f"authenticated={authenticated} body={body[:300]!r}: {exc}"
        ) from exc
    await hub.container.queue.wait_idle()
    assert_not_server_error(response, body)
    delta = changed(before, await snapshot(hub.container.engine))
    if not authenticated:
        assert response.status_code >= 400, "accepted without a key: " + describe(response, body)
    if response.status_code >= 400:
        assert not delta, f"a rejected request wrote rows {delta}: " + describe(response, body)


def test_schema_covers_the_admin_api() -> None:
    """The fuzz reaches every route: a new route is in the schema, so it is fuzzed too."""
    labels = {operation.label for operation in OPERATIONS}
    assert "PUT /api/v1/ai/profile" in labels
    assert "POST /api/v1/messaging/webhook/{platform}/{integration_id}" in labels
    assert len(labels) >= 19
