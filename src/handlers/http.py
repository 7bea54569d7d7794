"""The one place where a domain error becomes an HTTP answer (SPEC §3)."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import Response, content_types

from auth.errors import AuthError, ResourceExhausted

STATUS_FOR_CODE: dict[int, int] = {
    3: 400,  # InvalidArgument
    5: 404,  # NotFound
    6: 409,  # AlreadyExists
    7: 403,  # PermissionDenied
    8: 429,  # ResourceExhausted
    13: 500,  # Internal
    14: 503,  # Unavailable
    16: 401,  # Unauthenticated
}

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


def error_body(code: int, message: str) -> str:
    """The error shape as text, for answers built outside the resolver."""
    return json.dumps({"code": code, "message": message})


def error_response(error: AuthError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, ResourceExhausted):
        headers["Retry-After"] = str(error.retry_after)
    # Internal errors never say what went wrong inside.
    message = error.message if error.code != 13 else "internal error"
    return Response(
        status_code=STATUS_FOR_CODE.get(error.code, 500),
        content_type=content_types.APPLICATION_JSON,
        body={"code": error.code, "message": message},
        headers=headers,
    )
