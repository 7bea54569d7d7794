"""/api/v1/auth/*: sign-in, refresh, sign-out, me."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth import routes
from auth.errors import NotFound, Unauthenticated
from auth.refresh_tokens import RefreshReuseDetected
from handlers.api_context import principal, services, sign_in_from
from handlers.bodies import Empty, Me, Refreshed, SignedIn, SignInRequest, UserJson, timestamp
from handlers.cookies import REFRESH_COOKIE, SESSION_COOKIE, clear_cookie, cookie_value, set_cookie
from handlers.http_json import JsonResponse, error_response, json_response
from handlers.observability import Metric, count
from handlers.openapi_document import REFRESH, route

router = APIGatewayHttpRouter()


def _headers() -> dict[str, str]:
    return router.current_event.headers or {}


@route(router, routes.SIGN_IN, SignedIn, 403, 429)
def sign_in(body: Annotated[SignInRequest, Body()]) -> JsonResponse:
    app = services()
    user, sign_in, refresh = sign_in_from(
        router.current_event, body, routes.SIGN_IN, app.refresh_tokens.issue
    )
    access = app.access_tokens.issue(user, sign_in)
    cookie = set_cookie(REFRESH_COOKIE, refresh.token, refresh.expires_at, _headers(), app.config.is_local)
    signed_in = SignedIn(
        user=UserJson.of(user, include_email=True),
        accessToken=access.token,
        accessTokenExpiresAt=timestamp(access.expires_at),
    )
    return json_response(signed_in, cookies=[cookie])


@route(router, routes.REFRESH, Refreshed, 401, security=REFRESH)
def refresh() -> JsonResponse:
    app = services()
    try:
        token = cookie_value(router.current_event.cookies, REFRESH_COOKIE)
        if not token:
            raise Unauthenticated("no refresh token")
        user, rotated, sign_in = app.refresh_tokens.rotate(token)
    except Unauthenticated as refused:
        if isinstance(refused, RefreshReuseDetected):
            count(Metric.REFRESH_REUSE_DETECTED)
        # A refused refresh token is dead for good: tell the browser to drop it.
        response = error_response(refused)
        response.cookies.append(clear_cookie(REFRESH_COOKIE, _headers(), app.config.is_local))
        return response
    access = app.access_tokens.issue(user, sign_in)
    cookie = set_cookie(REFRESH_COOKIE, rotated.token, rotated.expires_at, _headers(), app.config.is_local)
    return json_response(
        Refreshed(accessToken=access.token, expiresAt=timestamp(access.expires_at)), cookies=[cookie]
    )


@route(router, routes.SIGN_OUT, Empty, 401)
def sign_out() -> JsonResponse:
    app = services()
    caller = principal(router.current_event)
    token = cookie_value(router.current_event.cookies, REFRESH_COOKIE)
    if token:
        app.refresh_tokens.revoke(token, caller.user_id)
    # The session the caller came with, or one its browser holds beside a bearer token.
    session = cookie_value(router.current_event.cookies, SESSION_COOKIE)
    if session:
        app.sessions.revoke_cookie(session, caller.user_id)
    cookies = [
        clear_cookie(name, _headers(), app.config.is_local) for name in (REFRESH_COOKIE, SESSION_COOKIE)
    ]
    return json_response(Empty(), cookies=cookies)


@route(router, routes.ME, Me, 401, 404)
def me() -> JsonResponse:
    caller = principal(router.current_event)
    user = services().users.get(caller.user_id)
    if user is None:
        raise NotFound("user not found")
    return json_response(Me(user=UserJson.of(user, include_email=True)))
