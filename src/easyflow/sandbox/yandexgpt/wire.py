"""YandexGPT wire shapes (docs/ai.md): the gateway error, the
completion result with string usage counters, alternatives and their statuses, operations.

Token counts are deterministic: ceil(characters / 4) of every text a request carries.
"""

from __future__ import annotations

import json
import math
from http import HTTPStatus
from typing import Any

from starlette.responses import Response

from easyflow.sandbox.base import dumps

MODEL_VERSION = "23.10.2025"
FINAL = "ALTERNATIVE_STATUS_FINAL"
PARTIAL = "ALTERNATIVE_STATUS_PARTIAL"
TRUNCATED = "ALTERNATIVE_STATUS_TRUNCATED_FINAL"
CONTENT_FILTER = "ALTERNATIVE_STATUS_CONTENT_FILTER"
TOOL_CALLS = "ALTERNATIVE_STATUS_TOOL_CALLS"
# gRPC code of each HTTP status the gateway answers with.
GRPC_OF_HTTP = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14, 504: 4}


class YandexError(Exception):
    """`{"error": {grpcCode, httpCode, message, httpStatus, details}}` with that status."""

    def __init__(self, http_code: int, message: str, grpc_code: int | None = None) -> None:
        super().__init__(message)
        self.http_code = http_code
        self.message = message
        self.grpc_code = grpc_code if grpc_code is not None else GRPC_OF_HTTP.get(http_code, 2)

    def body(self) -> dict[str, Any]:
        try:
            phrase = HTTPStatus(self.http_code).phrase
        except ValueError:
            phrase = "Error"
        return {
            "error": {
                "grpcCode": self.grpc_code,
                "httpCode": self.http_code,
                "message": self.message,
                "httpStatus": phrase,
                "details": [],
            }
        }

    def response(self) -> Response:
        return Response(dumps(self.body()), self.http_code, media_type="application/json")


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def message_text(message: dict[str, Any]) -> str:
    """What a message weighs: its text, or its tool calls and results as JSON."""
    if "text" in message:
        return str(message["text"])
    for key in ("toolCallList", "toolResultList"):
        if key in message:
            return json.dumps(message[key], ensure_ascii=False)
    return ""


def usage(prompt: int, completion: int) -> dict[str, Any]:
    # int64 in proto3 JSON: strings.
    return {
        "inputTextTokens": str(prompt),
        "completionTokens": str(completion),
        "totalTokens": str(prompt + completion),
        "completionTokensDetails": {"reasoningTokens": "0"},
    }


def alternative(message: dict[str, Any], status: str) -> dict[str, Any]:
    return {"message": message, "status": status}


def completion(alternatives: list[dict[str, Any]], used: dict[str, Any]) -> dict[str, Any]:
    """The CompletionResponse (unwrapped: the REST answer puts it under `result`)."""
    return {"alternatives": alternatives, "usage": used, "modelVersion": MODEL_VERSION}
