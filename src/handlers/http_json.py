"""JSON answers, in one shape and one spelling: every body a route sends, every error (the
one place a domain error becomes an HTTP answer, SPEC §3) and the headers on all of them."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.shared.cookies import Cookie
from pydantic import BaseModel

from auth.errors import AuthError, Code, ResourceExhausted
from auth.recent_sign_in import RecentSignInRequired

# Sent on every answer: nothing here may be cached, framed or sniffed.
SECURITY_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
}

# The route annotation from which Powertools documents and validates a JSON answer; the
# body stays a dict so the validation sees it before serialization.
JsonResponse = Response[dict[str, Any]]


def to_json(value: Any) -> str:
    """The one spelling of JSON this API sends: compact, as Powertools writes route bodies."""
    return json.dumps(value, separators=(",", ":"))


def json_response(body: BaseModel, cookies: list[Cookie] | None = None, status: int = 200) -> JsonResponse:
    """`body`, one of handlers.bodies' response models, as the route's answer."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=body.model_dump(mode="json", exclude_none=True),
        cookies=cookies or [],
    )


def _error_fields(error: AuthError) -> dict[str, Any]:
    """The `google.rpc.Status` shape Memos answers (SPEC §3): code, message and details."""
    # Internal errors never say what went wrong inside.
    if error.code is Code.INTERNAL:
        return {"code": int(error.code), "message": "internal error", "details": []}
    return {"code": int(error.code), "message": error.message, "details": list(error.details)}


def error_body(error: AuthError) -> str:
    """The error shape as text, for answers built outside the resolver."""
    return to_json(_error_fields(error))


def error_response(error: AuthError) -> Response[dict[str, Any]]:
    headers: dict[str, str] = {}
    if isinstance(error, ResourceExhausted):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, RecentSignInRequired):
        # RFC 9470 §3: tells the client to sign the user in again, no longer ago than max_age.
        headers["WWW-Authenticate"] = (
            f'Bearer error="insufficient_user_authentication", max_age="{error.max_age}"'
        )
    return Response(
        status_code=error.http_status,
        content_type=content_types.APPLICATION_JSON,
        body=_error_fields(error),
        headers=headers,
    )
