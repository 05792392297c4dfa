"""The Bot API on the wire: reading parameters, the `ok` envelope, the error type.

The Bot API (https://core.telegram.org/bots/api#making-requests): parameters arrive as query
string, urlencoded form, JSON or multipart form (GET and POST alike); every answer is
`{"ok": true, "result": ...}` or
`{"ok": false, "error_code": N, "description": ..., "parameters": {...}}` with the HTTP status
equal to `error_code`. Form and query values are strings, so typed getters accept both
`5550001` and `"5550001"`, and JSON-valued parameters (`reply_markup`, `allowed_updates`) as a
JSON string or an already decoded value.
"""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from easyflow.sandbox.base import dumps

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class TelegramError(Exception):
    """A Bot API failure; `description` is the full text, prefix included."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


def bad_request(text: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {text}")


def too_many_requests(retry_after: int) -> TelegramError:
    return TelegramError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


def ok_response(result: Any, description: str | None = None) -> Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return Response(dumps(body), media_type="application/json")


def error_response(error: TelegramError) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.code, "description": error.description}
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    return Response(dumps(body), status_code=error.code, media_type="application/json")


async def read_params(request: Request) -> Params:
    """Query string merged with the body, whatever its encoding."""
    values: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if body:
        values.update(_decode_body(request.headers.get("content-type", ""), body))
    return Params(values)


def _decode_body(content_type: str, body: bytes) -> dict[str, Any]:
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            data = json.loads(body)
            if not isinstance(data, dict):
                raise bad_request("can't parse JSON object")
            return data
        if kind == "multipart/form-data":
            return _multipart(content_type, body)
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("can't parse request body") from exc


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    # The stdlib MIME parser avoids a python-multipart dependency; files arrive as bytes.
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    values: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name and isinstance(payload, bytes):
            values[str(name)] = payload if part.get_filename() else payload.decode()
    return values


class Params:
    """Typed access to one call's parameters, failing the way the Bot API does."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def has(self, name: str) -> bool:
        return name in self.values

    def text(self, name: str, default: str = "") -> str:
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise bad_request(f'parameter "{name}" is required')
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise bad_request(f'field "{name}" must be a valid Number') from exc

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        text = str(value).lower() if value is not None else ""
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise bad_request(f'field "{name}" must be of type Boolean')

    def decoded(self, name: str, what: str) -> Any:
        """A JSON-valued parameter; `what` names it in the error text."""
        value = self.values.get(name)
        if isinstance(value, str | bytes):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise bad_request(f"can't parse {what} JSON object") from exc
        return value

    def chat_id(self) -> int | str:
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            return value
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise bad_request("chat not found") from exc
