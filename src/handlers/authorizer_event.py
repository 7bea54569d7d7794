"""The few fields the authorizer reads from an HTTP API payload 2.0 event, and its answers.

Read from the raw dict rather than through Powertools' data classes: importing one of those
imports the whole data_classes package (thirty event types), about 30 ms of every
authorizer cold start for three dictionary look-ups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AUTHORIZATION = "authorization"


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header by lower-case `name`.

    API Gateway lowercases header names in payload 2.0, so the direct look-up is the one that
    answers in production; hand-made events (tests, `sam local`) may use any case.
    """
    headers = event.get("headers") or {}
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def cookies(event: Mapping[str, Any]) -> list[str] | None:
    # API Gateway omits "cookies" when the request has none.
    return event.get("cookies")


def request_id(event: Mapping[str, Any]) -> str | None:
    """API Gateway's request id: the correlation id shared with the API function's logs."""
    context = event.get("requestContext") or {}
    return context.get("requestId")


def method(event: Mapping[str, Any]) -> str:
    context = event.get("requestContext") or {}
    return str((context.get("http") or {}).get("method", ""))


def route_key(event: Mapping[str, Any]) -> str:
    return str(event.get("routeKey", ""))


def allow(context: dict[str, str]) -> dict[str, Any]:
    """A simple response (payload 2.0) that lets the request through with `context`."""
    return {"isAuthorized": True, "context": context}


def deny() -> dict[str, Any]:
    """A simple response that refuses a verified caller: API Gateway answers 403."""
    return {"isAuthorized": False}
