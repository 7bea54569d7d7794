"""The API function: every route of SPEC §3, §7 and §8 on Powertools' HTTP API resolver."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths

from auth import routes
from auth.cross_origin import cross_origin_allowed
from auth.errors import (
    AuthError,
    Code,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from handlers import (
    routes_auth,
    routes_factors,
    routes_identity_providers,
    routes_passkeys,
    routes_pats,
    routes_sessions,
    routes_settings,
    routes_users,
)
from handlers.api_context import services
from handlers.bodies import OpenApiDocument
from handlers.cookies import REFRESH_COOKIE, SESSION_COOKIE, cookie_value
from handlers.http_json import SECURITY_HEADERS, error_body, error_response
from handlers.observability import Metric, count, logger, metrics
from handlers.openapi_document import document_json, route

# Far above any legitimate body (a sign-up is < 1 kB), far below API Gateway's 10 MB.
MAX_BODY_BYTES = 64 * 1024

# Routes are annotated `-> JsonResponse` (Response[dict]), never a bare `Response`: with validation on,
# Powertools builds a pydantic field from the return annotation, and a bare Response has
# no schema, which turns every call into a 500.
app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(routes_auth.router)
app.include_router(routes_users.router)
app.include_router(routes_settings.router)
app.include_router(routes_pats.router)
app.include_router(routes_sessions.router)
app.include_router(routes_factors.router)
app.include_router(routes_identity_providers.router)
app.include_router(routes_passkeys.router)


@route(app, routes.OPENAPI, OpenApiDocument)
def openapi() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document_json(app))


@app.exception_handler(AuthError)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
def on_auth_error(error: AuthError) -> Response[dict[str, Any]]:
    if isinstance(error, ResourceExhausted):
        count(Metric.THROTTLED)
    if error.code in (Code.INTERNAL, Code.UNAVAILABLE):
        logger.warning("request failed", error_type=type(error).__name__, code=error.code)
    return error_response(error)


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
def on_invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    # Name the fields at fault, never echo their values: one of them may be a password.
    problems = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail.get("loc", ()) if part != "body")
        problems.append(f"{location}: {detail.get('msg', 'invalid')}" if location else detail.get("msg", ""))
    return error_response(InvalidArgument("invalid request: " + "; ".join(problems)))


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
def on_unexpected(error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error")
    return error_response(Internal())


@app.not_found
def on_not_found(error: Exception) -> Response[dict[str, Any]]:
    return error_response(NotFound("no such route"))


def _refusal(event: dict[str, Any]) -> AuthError | None:
    """Requests refused before routing: from another site with our cookies, or with a body
    that is too large, not JSON, or not a JSON object."""
    if _cross_site_with_cookies(event):
        return PermissionDenied("cross-site request refused")
    body = event.get("body") or ""
    # Base64 inflates by 4/3; compare the decoded size.
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        return InvalidArgument("request body too large")
    content_type = (event.get("headers") or {}).get("content-type", "").strip().lower()
    if body and content_type and not content_type.startswith("application/json"):
        return InvalidArgument("request body must be JSON (Content-Type: application/json)")
    if body and not isinstance(_parsed(body, bool(event.get("isBase64Encoded"))), dict):
        # Every body this API takes is an object. Checked here because Powertools would take
        # the first element of an array for an object, and fails with a 500 on a body that
        # is not UTF-8 or nests deeper than the interpreter's recursion limit.
        return InvalidArgument("request body must be a JSON object in UTF-8")
    return None


def _cross_site_with_cookies(event: dict[str, Any]) -> bool:
    """SPEC §10: a state change that one of our cookies would authenticate (the refresh
    token on refresh and sign-out, a session on the session routes), sent from another
    site. The authorizer already refuses session-cookie callers of the routes behind it;
    this covers the public cookie routes and the refresh cookie, which it never reads."""
    cookies = event.get("cookies")
    try:
        carried = (
            cookie_value(cookies, REFRESH_COOKIE) is not None
            or cookie_value(cookies, SESSION_COOKIE) is not None
        )
    except AuthError:
        # A cookie sent twice: the route refuses it; it is still a cookie-carrying request.
        carried = True
    if not carried:
        return False
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    return not cross_origin_allowed(str(method), headers, services().config.allowed_origins)


def _parsed(body: str, is_base64: bool) -> Any:
    """The body's JSON value; None when it is not UTF-8 JSON."""
    try:
        text = base64.b64decode(body, validate=True).decode("utf-8") if is_base64 else body
        return json.loads(text)
    except (ValueError, RecursionError):  # also binascii.Error and UnicodeDecodeError
        return None


# The event is never logged (it holds passwords and tokens).
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    refusal = _refusal(event)
    if refusal is not None:
        response: dict[str, Any] = {
            "statusCode": refusal.http_status,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": error_body(refusal),
            "isBase64Encoded": False,
        }
    else:
        response = app.resolve(event, context)
    response.setdefault("headers", {}).update(SECURITY_HEADERS)
    return response
