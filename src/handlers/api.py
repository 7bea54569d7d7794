"""The API function: every route of SPEC §3, §7 and §8 on Powertools' HTTP API resolver.

What a cold start imports is kept to what every request needs (handlers.lazy_routes):

- each route's handler module is imported on the first request for that route: list a new
  route under its module in ROUTE_MODULES, and import no handler module here
  (tests/unit/test_lazy_routes.py);
- the resolver itself (Powertools' event handler, and pydantic for request validation) is
  built on the first request that reaches it, unless Lambda initializes the container
  ahead of any request (provisioned concurrency, or a SnapStart snapshot: init then costs
  a request nothing), when it is built at import with every route module;
- the services build what a route uses on first use (auth.wiring).
"""

from __future__ import annotations

# First: it pauses the garbage collector until init_pause.end() below ends this init.
from handlers import init_pause

# isort: split
import base64
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from auth import routes, untrusted_json
from auth.aws import API_REQUEST_BUDGET_SECONDS
from auth.cross_origin import cross_origin_allowed
from auth.deadline import Deadline, request_deadline
from auth.errors import (
    AuthError,
    Code,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)
from handlers.api_context import services
from handlers.cookies import REFRESH_COOKIE, SESSION_COOKIE, cookie_value
from handlers.lazy import Lazy
from handlers.observability import Metric, count, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

    from handlers.lazy_routes import LazyRouteResolver

# Far above any legitimate body (a sign-up is < 1 kB), far below API Gateway's 10 MB.
MAX_BODY_BYTES = 64 * 1024

NOT_JSON = "request body must be JSON (Content-Type: application/json)"

# Each handler module (its `router`) and the routes it registers, imported on the first
# request for one of them (handlers.lazy_routes; tests/unit/test_lazy_routes.py checks it).
ROUTE_MODULES: dict[str, tuple[routes.Route, ...]] = {
    "handlers.routes_auth": (routes.SIGN_IN, routes.REFRESH, routes.SIGN_OUT, routes.ME),
    "handlers.routes_users": (
        routes.SIGN_UP,
        routes.LIST_USERS,
        routes.GET_USER,
        routes.UPDATE_USER,
        routes.DELETE_USER,
    ),
    "handlers.routes_settings": (routes.GET_SETTINGS, routes.UPDATE_SETTINGS),
    "handlers.routes_pats": (routes.LIST_PATS, routes.CREATE_PAT, routes.DELETE_PAT),
    "handlers.routes_sessions": (
        routes.CREATE_SESSION,
        routes.CURRENT_SESSION,
        routes.END_CURRENT_SESSION,
        routes.LIST_LOGINS,
        routes.REVOKE_LOGIN,
    ),
    "handlers.routes_factors": (
        routes.ENROL_TOTP,
        routes.CONFIRM_TOTP,
        routes.GET_TOTP,
        routes.REMOVE_TOTP,
        routes.REGENERATE_RECOVERY_CODES,
    ),
    "handlers.routes_identity_providers": (
        routes.LIST_IDENTITY_PROVIDERS,
        routes.GET_IDENTITY_PROVIDER,
        routes.CREATE_IDENTITY_PROVIDER,
        routes.UPDATE_IDENTITY_PROVIDER,
        routes.DELETE_IDENTITY_PROVIDER,
        routes.LIST_LINKED_IDENTITIES,
        routes.LINK_IDENTITY,
        routes.UNLINK_IDENTITY,
    ),
    "handlers.routes_passkeys": (
        routes.PASSKEY_REGISTRATION,
        routes.REGISTER_PASSKEY,
        routes.LIST_PASSKEYS,
        routes.REMOVE_PASSKEY,
        routes.PASSKEY_OPTIONS,
    ),
    "handlers.routes_openapi": (routes.OPENAPI,),
}
# Lambda's name for an init that runs ahead of any request.
INITIALIZED_AHEAD = frozenset({"provisioned-concurrency", "snap-start"})


def on_auth_error(error: AuthError) -> Response[dict[str, Any]]:
    from handlers.http_json import error_response

    if isinstance(error, ResourceExhausted):
        count(Metric.THROTTLED)
    if error.code in (Code.INTERNAL, Code.UNAVAILABLE):
        logger.warning("request failed", error_type=type(error).__name__, code=error.code)
    return error_response(error)


def on_invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    from handlers.http_json import error_response

    # Name the fields at fault, never echo their values: one of them may be a password.
    problems = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail.get("loc", ()) if part != "body")
        problems.append(f"{location}: {detail.get('msg', 'invalid')}" if location else detail.get("msg", ""))
    return error_response(InvalidArgument("invalid request: " + "; ".join(problems)))


def on_not_json(error: Exception) -> Response[dict[str, Any]]:
    from handlers.http_json import error_response

    return error_response(InvalidArgument(NOT_JSON))


def on_unexpected(error: Exception) -> Response[dict[str, Any]]:
    from handlers.http_json import error_response

    logger.exception("unhandled error")
    return error_response(Internal())


def on_not_found(error: Exception) -> Response[dict[str, Any]]:
    from handlers.http_json import error_response

    return error_response(NotFound("no such route"))


def _build_resolver() -> LazyRouteResolver:
    from aws_lambda_powertools.event_handler.openapi.exceptions import (
        RequestUnsupportedContentType,
        RequestValidationError,
    )

    from handlers.lazy_routes import LazyRouteResolver

    # Routes are annotated `-> JsonResponse` (Response[dict]), never a bare `Response`: with
    # validation on, Powertools builds a pydantic field from the return annotation, and a
    # bare Response has no schema, which turns every call into a 500.
    resolver = LazyRouteResolver(ROUTE_MODULES, enable_validation=True)
    resolver.exception_handler(AuthError)(on_auth_error)
    resolver.exception_handler(RequestValidationError)(on_invalid_request)
    # A route that takes a body, called with none and a Content-Type other than JSON (with
    # a body, _refusal answers first).
    resolver.exception_handler(RequestUnsupportedContentType)(on_not_json)
    resolver.exception_handler(Exception)(on_unexpected)
    resolver.not_found(on_not_found)
    return resolver


resolver: Lazy[LazyRouteResolver] = Lazy(_build_resolver)
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in INITIALIZED_AHEAD:
    resolver().include_all()


def __getattr__(name: str) -> Any:
    # `handlers.api.app`, the resolver, for the tests and the OpenAPI document: built on
    # first use like the rest (a module attribute cannot be lazy otherwise).
    if name == "app":
        return resolver()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _refusal(event: dict[str, Any], content_type: str) -> AuthError | None:
    """Requests refused before routing: from another site with our cookies, or with a body
    that is too large, not JSON, or not a JSON object."""
    body = event.get("body") or ""
    # A body without a Content-Type is read as JSON, and is one a page of any site can send
    # with no CORS preflight: from a browser on another site it is refused like a cookie's
    # (else a cookie-less sign-in there could sign the browser in as someone else).
    if (_carries_cookies(event) or (body and not content_type)) and _cross_site(event):
        return PermissionDenied("cross-site request refused")
    # Base64 inflates by 4/3; compare the decoded size.
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8"))
    if size > MAX_BODY_BYTES:
        return InvalidArgument("request body too large")
    if body and content_type and not _is_json(content_type):
        return InvalidArgument(NOT_JSON)
    if body and not isinstance(_parsed(body, bool(event.get("isBase64Encoded"))), dict):
        # Every body this API takes is an object. Checked here because Powertools would take
        # the first element of an array for an object, and fails with a 500 on a body that
        # is not UTF-8 or nests deeper than the interpreter's recursion limit.
        return InvalidArgument("request body must be a JSON object in UTF-8")
    return None


def _carries_cookies(event: dict[str, Any]) -> bool:
    """SPEC §10: whether one of our cookies would authenticate the request (the refresh
    token on refresh and sign-out, a session on the session routes). The authorizer already
    refuses session-cookie callers of the routes behind it from other sites; the API covers
    the public cookie routes and the refresh cookie, which the authorizer never reads."""
    cookies = event.get("cookies")
    try:
        return (
            cookie_value(cookies, REFRESH_COOKIE) is not None
            or cookie_value(cookies, SESSION_COOKIE) is not None
        )
    except AuthError:
        # A cookie sent twice: the route refuses it; it is still a cookie-carrying request.
        return True


def _cross_site(event: dict[str, Any]) -> bool:
    """A state change a browser sent from a site that is neither ours nor a listed origin."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    return not cross_origin_allowed(str(method), headers, services().config.allowed_origins)


def _content_type(event: dict[str, Any]) -> str:
    """The request's media type, lowercased (RFC 9110 §8.3.1: it is case-insensitive); ""
    when it has none."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type":
            return str(value).strip().lower()
    return ""


def _is_json(content_type: str) -> bool:
    """`application/json`, with or without parameters (a charset): the media type itself,
    not one that merely begins the same (`application/jsonx`)."""
    return content_type.split(";", 1)[0].strip() == "application/json"


def _with_json_spelled_lowercase(event: dict[str, Any], content_type: str) -> dict[str, Any]:
    """The event with a JSON Content-Type (`content_type`, lowercased) spelled as Powertools
    compares it (to the letter): `Application/JSON` is JSON too."""
    if not _is_json(content_type):
        return event
    headers = {name: value for name, value in event["headers"].items() if name.lower() != "content-type"}
    return {**event, "headers": {**headers, "content-type": content_type}}


def _parsed(body: str, is_base64: bool) -> Any:
    """The body's JSON value; None when it is not UTF-8 JSON."""
    try:
        text = base64.b64decode(body, validate=True).decode("utf-8") if is_base64 else body
        return untrusted_json.parsed(text)
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        return None


# The event is never logged (it holds passwords and tokens).
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with request_deadline(Deadline(API_REQUEST_BUDGET_SECONDS)):
        return _answer(event, context)


def _answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from handlers.http_json import SECURITY_HEADERS, error_body

    content_type = _content_type(event)
    refusal = _refusal(event, content_type)
    if refusal is not None:
        response: dict[str, Any] = {
            "statusCode": refusal.http_status,
            "headers": {"Content-Type": "application/json"},
            "body": error_body(refusal),
            "isBase64Encoded": False,
        }
    else:
        response = resolver().resolve(_with_json_spelled_lowercase(event, content_type), context)
    response.setdefault("headers", {}).update(SECURITY_HEADERS)
    return response


init_pause.end()
