"""/api/v1/auth/*: sign-in, refresh, sign-out, me."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from auth.errors import AuthError, NotFound, Unauthenticated
from auth.refresh import RefreshReuseDetected
from handlers.api_context import client_info, principal, services
from handlers.cookies import REFRESH_COOKIE, clear_cookie, cookie_value, set_cookie
from handlers.http import error_response
from handlers.json_response import json_response
from handlers.observability import Metric, count
from handlers.requests import SignInRequest
from handlers.views import timestamp, user_view

router = APIGatewayHttpRouter()


def _headers() -> dict[str, str]:
    return router.current_event.headers or {}


@router.post("/api/v1/auth/signin")
def sign_in(body: Annotated[SignInRequest, Body()]) -> Response[str]:
    app = services()
    credentials = body.passwordCredentials
    try:
        user = app.accounts.sign_in(credentials.username, credentials.password)
    except AuthError:
        count(Metric.SIGN_IN_FAILURES)
        raise
    count(Metric.SIGN_INS)
    access = app.access_tokens.issue(user)
    refresh = app.refresh_tokens.issue(user, client_info(router.current_event))
    cookie = set_cookie(REFRESH_COOKIE, refresh.token, refresh.expires_at, _headers(), app.config.is_local)
    return json_response(
        {
            "user": user_view(user, include_email=True),
            "accessToken": access.token,
            "accessTokenExpiresAt": timestamp(access.expires_at),
        },
        cookies=[cookie],
    )


@router.post("/api/v1/auth/refresh")
def refresh() -> Response[str]:
    app = services()
    try:
        token = cookie_value(router.current_event.cookies, REFRESH_COOKIE)
        if not token:
            raise Unauthenticated("no refresh token")
        user, rotated = app.refresh_tokens.rotate(token)
    except Unauthenticated as refused:
        if isinstance(refused, RefreshReuseDetected):
            count(Metric.REFRESH_REUSE_DETECTED)
        # A refused refresh token is dead for good: tell the browser to drop it.
        response = error_response(refused)
        response.cookies.append(clear_cookie(REFRESH_COOKIE, _headers(), app.config.is_local))
        return response
    access = app.access_tokens.issue(user)
    cookie = set_cookie(REFRESH_COOKIE, rotated.token, rotated.expires_at, _headers(), app.config.is_local)
    return json_response(
        {"accessToken": access.token, "expiresAt": timestamp(access.expires_at)}, cookies=[cookie]
    )


@router.post("/api/v1/auth/signout")
def sign_out() -> Response[str]:
    app = services()
    caller = principal(router.current_event)
    token = cookie_value(router.current_event.cookies, REFRESH_COOKIE)
    if token:
        app.refresh_tokens.revoke(token, caller.user_id)
    return json_response({}, cookies=[clear_cookie(REFRESH_COOKIE, _headers(), app.config.is_local)])


@router.get("/api/v1/auth/me")
def me() -> Response[str]:
    caller = principal(router.current_event)
    user = services().users.get(caller.user_id)
    if user is None:
        raise NotFound("user not found")
    return json_response({"user": user_view(user, include_email=True)})
