"""Users for credential tests, and the calls that go through the two handlers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth.models import NO_SIGN_IN, SignIn, User
from auth.principal import AuthMethod, Principal
from auth.user_admin import UserChanges
from auth.wiring import ApiServices, AuthorizerServices
from tests.support.clock import START
from tests.support.events import FakeLambdaContext, authorizer_event, http_event

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class People:
    admin: User
    alice: User
    bob: User


def sign_up_people(api: ApiServices) -> People:
    # The first sign-up becomes the only ADMIN; alice and bob are ordinary users.
    return People(
        admin=api.accounts.sign_up("root", PASSWORD),
        alice=api.accounts.sign_up("alice", PASSWORD),
        bob=api.accounts.sign_up("bob", PASSWORD),
    )


# A caller who signed in with a password as the fake clock started: recent, for the routes
# that need a recent sign-in, until the clock moves past REAUTH_MAX_AGE_SECONDS.
SIGNED_IN_AT_START = SignIn.with_password(START)


def then_an_admin_changes_alices_password(
    api: ApiServices, people: People, step: Callable[..., Any]
) -> Callable[..., Any]:
    """`step`, after which the admin gives alice a new password: a sign-in whose `step` read
    her (and checked her credential) then stores its session or refresh family after the
    change, as in a race with it."""

    def stepped_then_changed(*args: Any, **kwargs: Any) -> Any:
        result = step(*args, **kwargs)
        admin = principal_of(people.admin, AuthMethod.SESSION)
        api.user_admin.update(admin, "alice", UserChanges(password="an entirely new passphrase"))
        return result

    return stepped_then_changed


def principal_of(
    user: User,
    method: AuthMethod = AuthMethod.ACCESS_TOKEN,
    credential_id: str = "",
    sign_in: SignIn | None = None,
) -> Principal:
    """`user` as a caller: a PAT carries no sign-in, anything else one made as the fake clock
    started (unless `sign_in` says otherwise)."""
    if sign_in is None:
        sign_in = NO_SIGN_IN if method is AuthMethod.PAT else SIGNED_IN_AT_START
    return Principal(user.id, user.username, user.role, method, credential_id, sign_in)


def context_for(
    user: User,
    method: AuthMethod = AuthMethod.ACCESS_TOKEN,
    credential_id: str = "",
    sign_in: SignIn | None = None,
) -> dict[str, str]:
    """The authorizer's context for `user` as principal_of makes them a caller."""
    from handlers.authorizer import authorizer_context

    return authorizer_context(principal_of(user, method, credential_id, sign_in))


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    cookies: list[str]
    headers: dict[str, str]


def call_api(
    api: ApiServices,
    method: str,
    path: str,
    route: str,
    caller: dict[str, str] | None = None,
    body: Any = None,
    cookies: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    from handlers import api_context
    from handlers.api import handler

    api_context.services.replace(api)
    event = http_event(
        method, path, route=route, body=body, authorizer=caller, cookies=cookies, headers=headers
    )
    response = handler(event, FakeLambdaContext())
    raw = response.get("body") or "null"
    return Answer(response["statusCode"], json.loads(raw), response.get("cookies", []), response["headers"])


def authorize(
    services: AuthorizerServices,
    route_key: str,
    authorization: str | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """The authorizer's answer; raises Exception('Unauthorized') as API Gateway expects."""
    from handlers import authorizer

    authorizer.services.replace(services)
    return authorizer.handler(authorizer_event(route_key, authorization, cookies), FakeLambdaContext())


def cookie_pair(set_cookie: str) -> str:
    """`name=value` of a Set-Cookie line, as a browser would send it back."""
    return set_cookie.split(";", 1)[0]
