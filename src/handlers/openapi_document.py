"""The OpenAPI document (`GET /api/v1/openapi.json`): every answer a route can give and the
credentials it takes.

Each route is registered with `@route(router, routes.X, body_model, *error_statuses)`: its
method, path and access come from its one declaration in auth.routes, its answers from
handlers.bodies.
Answers come from two places: the API function (`{"code","message","details"}`) and API Gateway
itself (`{"message"}`: the authorizer's 401/403, route throttling, a failed function),
which HTTP APIs cannot reshape; a status either may send is documented as either shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from auth.routes import Access, Route
from handlers.bodies import Error, GatewayError
from handlers.cookies import REFRESH_COOKIE, SESSION_COOKIE
from handlers.http_json import to_json

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
    from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
    from pydantic import BaseModel

TITLE = "memos-auth"
VERSION = "1.0.0"
JSON = "application/json"


def security_schemes() -> dict[str, Any]:
    # Powertools' OpenAPI models are ~300 ms of import (make bench): built only when the
    # document is, never on a cold start that serves other routes.
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, HTTPBearer

    return {
        "bearerAuth": HTTPBearer(
            description="An access token (JWT) or a personal access token (memos_pat_…)."
        ),
        "sessionCookie": APIKey(in_=APIKeyIn.cookie, name=SESSION_COOKIE, description="A session cookie."),
        "refreshCookie": APIKey(
            in_=APIKeyIn.cookie, name=REFRESH_COOKIE, description="The refresh token set at sign-in."
        ),
    }


# What the authorizer accepts: a bearer header or a session cookie.
SIGNED_IN: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
# Public routes that still read a credential when one comes (an admin signing someone up,
# a user seeing their own email); one that comes and is invalid is a 401.
OPTIONALLY_SIGNED_IN: list[dict[str, list[str]]] = [{}, *SIGNED_IN]
REFRESH: list[dict[str, list[str]]] = [{"refreshCookie": []}]

# What each status means when the API function sends it, and when API Gateway does.
FUNCTION_SAYS = {
    400: (
        "Invalid argument (code 3): a malformed request, or one the rules refuse (also a failed sign-in); "
        "or failed precondition (code 9): the resource's state refuses it, or a sign-in needs its second "
        "factor (an ErrorInfo with reason MFA_REQUIRED and metadata mfaChallenge and methods in details)"
    ),
    401: "Unauthenticated (code 16)",
    403: "Permission denied (code 7)",
    404: "Not found (code 5)",
    409: "Already exists (code 6)",
    429: "Too many failed sign-ins (code 8)",
    500: "Internal error (code 13); the message never says more",
    503: "A dependency failed (code 14): retry later",
}
GATEWAY_SAYS = {
    401: "API Gateway: the authorizer found no valid credential",
    403: "API Gateway: the authorizer refused a non-admin",
    429: "API Gateway: route throttling",
    500: "API Gateway: the function failed",
    503: "API Gateway: the function is unavailable",
}
# Only the sign-in throttle says when to retry; API Gateway's throttling does not.
# RFC 9470 §3: the answer of a route that needs a recent sign-in, to a credential with an old one.
REAUTHENTICATE: dict[str, OpenAPIResponseHeader] = {
    "WWW-Authenticate": {
        "description": (
            'With code 16 "recent sign-in required": Bearer error="insufficient_user_authentication", '
            'max_age="<seconds>"; sign in again and retry.'
        ),
        "schema": {"type": "string"},
    }
}
RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {
        "description": "Seconds until a sign-in may be tried again (with code 8 only).",
        "schema": {"type": "integer"},
    }
}
# SPEC §1: the session slides 14 days from its last access, and a browser keeps a cookie
# until the Expires of its last Set-Cookie.
SETS_SESSION_COOKIE: dict[str, OpenAPIResponseHeader] = {
    "Set-Cookie": {
        "description": (
            f"{SESSION_COOKIE}=<userID>-<secret>; HttpOnly; Path=/; SameSite=Lax; Secure over HTTPS or "
            "off the local stage; Expires at the session's expiry. Set by a session sign-in; "
            "GET /api/v1/auth/sessions/current sends a session caller's own cookie again, its "
            "Expires moved with the session."
        ),
        "schema": {"type": "string"},
    }
}

# Every route's function may refuse a request (400: a body that is not a UTF-8 JSON object,
# or is too large, is refused on every route), fail (500) or lose a dependency (503).
_FUNCTION_ALWAYS = frozenset({400, 500, 503})
# API Gateway throttles every route and answers for a function that failed.
_GATEWAY_ALWAYS = frozenset({429, 500, 503})


def _gateway_statuses(access: Access) -> frozenset[int]:
    statuses = set(_GATEWAY_ALWAYS)
    if access is not Access.PUBLIC:
        statuses.add(401)
    if access is Access.ADMIN:
        statuses.add(403)
    return frozenset(statuses)


Handler = TypeVar("Handler", bound=Callable[..., Any])


def route(
    router: APIGatewayHttpResolver | APIGatewayHttpRouter,
    declared: Route,
    body: type[BaseModel],
    *errors: int,
    security: list[dict[str, list[str]]] | None = None,
    recent_sign_in: bool = False,
    headers: dict[str, OpenAPIResponseHeader] | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler for `declared` on `router`, documented as answering `body` (200,
    with `headers` when given) or one of `errors` (besides the statuses every route may
    answer); `recent_sign_in` when it may ask for a new sign-in (a 401 with WWW-Authenticate)."""
    # Powertools writes a path parameter as <name>, API Gateway as {name}.
    path = declared.path.replace("{", "<").replace("}", ">")
    register = getattr(router, declared.method.lower())
    answers = documented(
        declared.access, body, *errors, security=security, recent_sign_in=recent_sign_in, headers=headers
    )
    decorator: Callable[[Handler], Handler] = register(path, **answers)
    return decorator


def documented(
    access: Access,
    body: type[BaseModel],
    *errors: int,
    security: list[dict[str, list[str]]] | None = None,
    recent_sign_in: bool = False,
    headers: dict[str, OpenAPIResponseHeader] | None = None,
) -> dict[str, Any]:
    """The `responses` and `security` of a route: `body` with 200 (and `headers`), `errors`
    from its function."""
    function = _FUNCTION_ALWAYS | set(errors)
    gateway = _gateway_statuses(access)
    ok: OpenAPIResponse = {"description": "OK", "content": {JSON: {"model": body}}}
    if headers:
        ok["headers"] = headers
    responses: dict[int, OpenAPIResponse] = {200: ok}
    senders = ((Error, FUNCTION_SAYS, function), (GatewayError, GATEWAY_SAYS, gateway))
    for status in sorted(function | gateway):
        shapes = [(model, says[status]) for model, says, statuses in senders if status in statuses]
        model: Any = shapes[0][0] if len(shapes) == 1 else Error | GatewayError
        response: OpenAPIResponse = {
            "description": "; or ".join(meaning for _, meaning in shapes),
            "content": {JSON: {"model": model}},
        }
        if status == 429 and status in function:
            response["headers"] = RETRY_AFTER
        if status == 401 and recent_sign_in:
            response["headers"] = REAUTHENTICATE
        responses[status] = response
    if security is None and access is not Access.PUBLIC:
        security = SIGNED_IN
    return {"responses": responses, "security": security}


def configure(app: APIGatewayHttpResolver) -> None:
    """Title, version and security schemes for every document of `app`, served or not."""
    app.configure_openapi(title=TITLE, version=VERSION, security_schemes=security_schemes())


# Powertools documents its own 422 for request validation; this API answers those with 400
# (api.on_invalid_request), so the 422 and its schemas would only mislead.
_UNUSED_COMPONENTS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


@functools.cache
def document_json(app: APIGatewayHttpResolver) -> str:
    """The served document; built once per container, since routes never change while it runs."""
    # Configured here rather than at import, which would load the OpenAPI models (above).
    configure(app)
    document = app.get_openapi_schema()
    data = document.model_dump(mode="json", by_alias=True, exclude_none=True)
    for item in data["paths"].values():
        for operation in item.values():
            operation["responses"].pop("422", None)
    schemas = data.get("components", {}).get("schemas", {})
    for name in _UNUSED_COMPONENTS:
        schemas.pop(name, None)
    return to_json(data)
