"""How API Gateway turns Lambda results into HTTP responses (HTTP API, payload 2.0)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.runtime import Outcome


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def gateway_error(status: int, message: str) -> Response:
    """API Gateway's own error answers: JSON `{"message": ...}`."""
    body = json.dumps({"message": message}).encode()
    return Response(status, [("Content-Type", "application/json")], body)


BAD_REQUEST = gateway_error(400, "Bad Request")
NOT_FOUND = gateway_error(404, "Not Found")
UNAUTHORIZED = gateway_error(401, "Unauthorized")
FORBIDDEN = gateway_error(403, "Forbidden")
INTERNAL_ERROR = gateway_error(500, "Internal Server Error")
TOO_LARGE = gateway_error(413, "Request Entity Too Large")


@dataclass(frozen=True)
class Decision:
    """An authorizer's verdict: `denial` is the response to send, or None to go on."""

    denial: Response | None = None
    context: Mapping[str, Any] | None = None


def authorizer_decision(outcome: Outcome) -> Decision:
    """Simple-response semantics: Unauthorized → 401, false → 403, anything odd → 500."""
    if outcome.error is not None:
        if outcome.error.get("errorMessage") == "Unauthorized":
            return Decision(denial=UNAUTHORIZED)
        return Decision(denial=INTERNAL_ERROR)
    result = outcome.result
    if not isinstance(result, dict) or not isinstance(result.get("isAuthorized"), bool):
        return Decision(denial=INTERNAL_ERROR)
    if not result["isAuthorized"]:
        return Decision(denial=FORBIDDEN)
    context = result.get("context")
    if context is not None and not isinstance(context, dict):
        return Decision(denial=INTERNAL_ERROR)
    return Decision(context=context or {})


class MalformedResponse(ValueError):
    pass


def integration_response(outcome: Outcome) -> Response:
    if outcome.error is not None:
        return INTERNAL_ERROR
    try:
        return _map_result(outcome.result)
    except (MalformedResponse, binascii.Error, UnicodeEncodeError, TypeError, ValueError):
        return INTERNAL_ERROR


def _map_result(result: Any) -> Response:
    if not (isinstance(result, dict) and "statusCode" in result):
        # Payload 2.0 lets a function return any JSON: a 200 with that JSON as the body.
        body = result if isinstance(result, str) else json.dumps(result)
        return Response(200, [("Content-Type", "application/json")], body.encode())
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedResponse("statusCode")
    headers: list[tuple[str, str]] = []
    for name, value in _mapping(result.get("headers")).items():
        headers.append((str(name), _scalar(value)))
    for name, values in _mapping(result.get("multiValueHeaders")).items():
        if not isinstance(values, list):
            raise MalformedResponse("multiValueHeaders")
        headers.extend((str(name), _scalar(value)) for value in values)
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise MalformedResponse("cookies")
    headers.extend(("Set-Cookie", _scalar(cookie)) for cookie in cookies)
    return Response(status, headers, _body(result))


def _mapping(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedResponse("headers")
    return value


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        text = str(value)
        if "\r" in text or "\n" in text:
            raise MalformedResponse("header value with a line break")
        return text
    raise MalformedResponse("header value")


def _body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse("body")
    if result.get("isBase64Encoded") is True:
        return base64.b64decode(body, validate=True)
    return body.encode("utf-8")
