"""Session cookies (SPEC §3): sign in with one, inspect and end the current one, and list
or end any of a user's logins."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.shared.cookies import Cookie

from auth import routes
from auth.errors import NotFound
from auth.principal import AuthMethod
from auth.stores.session_store import SessionRecord
from handlers.api_context import principal, services, sign_in_from
from handlers.bodies import (
    CurrentSession,
    Empty,
    LoginJson,
    LoginList,
    SessionCreated,
    SignInRequest,
    UserJson,
    timestamp,
)
from handlers.cookies import SESSION_COOKIE, clear_cookie, cookie_value, set_cookie
from handlers.http_json import JsonResponse, json_response
from handlers.openapi_document import SETS_SESSION_COOKIE, route
from handlers.owners import caller_and_owner, credential_id_param

router = APIGatewayHttpRouter()


def _headers() -> dict[str, str]:
    return router.current_event.headers or {}


def _session_cookie() -> str:
    """The session cookie of a caller the authorizer let in with one."""
    return cookie_value(router.current_event.cookies, SESSION_COOKIE) or ""


def _session_set_cookie(value: str, session: SessionRecord) -> Cookie:
    """The session cookie `value`, Expires at the session's expiry: at sign-in and after."""
    app = services()
    expires_at = app.sessions.expires_at(session)
    return set_cookie(SESSION_COOKIE, value, expires_at, _headers(), app.config.is_local)


@route(router, routes.CREATE_SESSION, SessionCreated, 403, 429, headers=SETS_SESSION_COOKIE)
def create_session(body: Annotated[SignInRequest, Body()]) -> JsonResponse:
    app = services()
    user, _, (session, value) = sign_in_from(
        router.current_event, body, routes.CREATE_SESSION, app.sessions.create
    )
    cookie = _session_set_cookie(value, session)
    created = SessionCreated(
        user=UserJson.of(user, include_email=True), lastAccessedAt=timestamp(session.last_accessed_at)
    )
    return json_response(created, cookies=[cookie])


@route(router, routes.CURRENT_SESSION, CurrentSession, 401, 404, headers=SETS_SESSION_COOKIE)
def current_session() -> JsonResponse:
    app = services()
    caller = principal(router.current_event)
    user = app.users.get(caller.user_id)
    if user is None:
        raise NotFound("user not found")
    current = CurrentSession(user=UserJson.of(user, include_email=True))
    if caller.sign_in.amr:
        current.amr = list(caller.sign_in.amr)
    cookies = []
    # A caller with a bearer credential has no session: only the user is known.
    if caller.auth_method is AuthMethod.SESSION:
        value = _session_cookie()
        session = app.sessions.current(value, caller.user_id)
        if session is None:
            raise NotFound("session not found")
        current.lastAccessedAt = timestamp(session.last_accessed_at)
        # The session slid on the server as the authorizer let this request in; the browser
        # keeps the Expires of the last Set-Cookie, so its copy is re-sent to slide with it
        # (every account page asks this route as it loads).
        cookies.append(_session_set_cookie(value, session))
    return json_response(current, cookies=cookies)


@route(router, routes.END_CURRENT_SESSION, Empty, 401)
def end_current_session() -> JsonResponse:
    app = services()
    caller = principal(router.current_event)
    # The session the caller came with, or one its browser holds beside an access token (as
    # sign-out): a cookie the browser is told to drop must not stay valid on the server. A
    # PAT is automation's, not the browser's: it ends no session here.
    session = _session_cookie()
    if session and caller.auth_method is not AuthMethod.PAT:
        app.sessions.revoke_cookie(session, caller.user_id)
    return json_response(Empty(), cookies=[clear_cookie(SESSION_COOKIE, _headers(), app.config.is_local)])


@route(router, routes.LIST_LOGINS, LoginList, 401, 403, 404)
def list_logins(username: str) -> JsonResponse:
    _, owner = caller_and_owner(router.current_event, username, routes.LIST_LOGINS)
    logins = services().logins.list_for_user(owner.id)
    return json_response(LoginList(sessions=[LoginJson.of(owner.username, login) for login in logins]))


@route(router, routes.REVOKE_LOGIN, Empty, 401, 403, 404)
def revoke_login(username: str, id: str) -> JsonResponse:
    app = services()
    login_id = credential_id_param(id, "id")
    caller, owner = caller_and_owner(router.current_event, username, routes.REVOKE_LOGIN)
    app.logins.revoke(caller, owner.id, login_id)
    cookies = []
    if caller.auth_method is AuthMethod.SESSION and caller.credential_id == login_id:
        # The caller ended the session they came with: the browser should drop it too.
        cookies.append(clear_cookie(SESSION_COOKIE, _headers(), app.config.is_local))
    return json_response(Empty(), cookies=cookies)
