"""Second factors for the in-process suites: enrol a user's TOTP, compute codes, register
passkeys, sign in in two steps or with a passkey alone (SPEC §7)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pyotp

from auth import routes
from auth.errors import Unauthenticated
from auth.models import SignIn, User
from auth.principal import AuthMethod
from auth.routes import Route
from auth.wiring import ApiServices
from tests.support.authenticator import Algorithm, SoftAuthenticator
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext, http_event
from tests.support.people import PASSWORD, Answer, call_api, context_for

IP = "203.0.113.7"


@dataclass(frozen=True)
class Enrolled:
    secret: str
    recovery_codes: list[str]


def factor_call(
    api: ApiServices,
    route: Route,
    user: User,
    caller: User | None = None,
    sign_in: SignIn | None = None,
    method: AuthMethod = AuthMethod.ACCESS_TOKEN,
    body: Any = None,
) -> Answer:
    """`route` (one of the /totp or /recoveryCodes routes) for `user`, called by `caller`."""
    context = context_for(caller or user, method, sign_in=sign_in)
    path = route.path.format(username=user.username)
    return call_api(api, route.method, path, route.path, context, body=body)


def refused_after_the_lag(api: ApiServices, clock: FakeClock, access_token: str) -> bool:
    """Whether `access_token` is refused once the revocation lag has passed (the clock moves
    on by it): an ended login, whatever the caches remember."""
    clock.advance(api.config.revocation_lag)
    try:
        api.authenticator.authenticate(f"Bearer {access_token}", None)
    except Unauthenticated:
        return True
    return False


def code_at(secret: str, now: float, offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(now, counter_offset=offset)


def unspent_code(secret: str) -> str:
    """For the suites on a real clock (browser, end-to-end): the code of the step after the
    current one. No earlier request can have spent it (enrolment spends the current one), and
    the server's drift window (auth.totp.DRIFT_STEPS) takes it now: nothing waits for a step."""
    return code_at(secret, time.time(), 1)


def enrol_totp(api: ApiServices, user: User, sign_in: SignIn | None = None) -> Enrolled:
    """TOTP enabled for `user` with a code of the current step (which is then spent), by a
    caller signed in at `sign_in` (factor_call's default when None)."""
    started = factor_call(api, routes.ENROL_TOTP, user, sign_in=sign_in)
    assert started.status == 200, started.body
    secret = started.body["secret"]
    code = {"code": code_at(secret, api.clock.now())}
    confirmed = factor_call(api, routes.CONFIRM_TOTP, user, sign_in=sign_in, body=code)
    assert confirmed.status == 200, confirmed.body
    return Enrolled(secret, confirmed.body["recoveryCodes"])


def sign_in_call(api: ApiServices, route: Route, body: Any, source_ip: str = IP) -> Answer:
    """A request to a public sign-in route from `source_ip`."""
    from handlers import api_context
    from handlers.api import handler

    api_context.services.replace(api)
    event = http_event(route.method, route.path, body=body, source_ip=source_ip)
    response = handler(event, FakeLambdaContext())
    return Answer(
        response["statusCode"],
        json.loads(response.get("body") or "null"),
        response.get("cookies", []),
        response["headers"],
    )


def password_step(api: ApiServices, route: Route, user: User, source_ip: str = IP) -> Answer:
    body = {"passwordCredentials": {"username": user.username, "password": PASSWORD}}
    return sign_in_call(api, route, body, source_ip)


def challenge_of(answer: Answer) -> str:
    assert answer.status == 400 and answer.body["code"] == 9, answer.body
    (info,) = answer.body["details"]
    challenge = info["metadata"]["mfaChallenge"]
    assert isinstance(challenge, str)
    return challenge


def second_step(api: ApiServices, route: Route, challenge: str, source_ip: str = IP, **code: Any) -> Answer:
    """`code` is totpCode=…, recoveryCode=… or passkey=<AuthenticationResponseJSON>"""
    return sign_in_call(api, route, {"mfaCredentials": {"challenge": challenge, **code}}, source_ip)


# -- passkeys -----------------------------------------------------------------------------------


def register_passkey(
    api: ApiServices,
    user: User,
    authenticator: SoftAuthenticator,
    algorithm: Algorithm = "ES256",
    display_name: str = "Laptop",
) -> dict[str, Any]:
    """A new passkey of `user`'s, through both registration routes: its PasskeyJson."""
    options = factor_call(api, routes.PASSKEY_REGISTRATION, user)
    assert options.status == 200, options.body
    credential = authenticator.register(options.body["options"], algorithm)
    created = factor_call(
        api, routes.REGISTER_PASSKEY, user, body={"credential": credential, "displayName": display_name}
    )
    assert created.status == 200, created.body
    passkey = created.body["passkey"]
    assert isinstance(passkey, dict)
    return passkey


def passkey_options(api: ApiServices, mfa_challenge: str | None = None) -> Answer:
    body = {} if mfa_challenge is None else {"mfaChallenge": mfa_challenge}
    return sign_in_call(api, routes.PASSKEY_OPTIONS, body)


def sign_in_options(api: ApiServices, mfa_challenge: str | None = None) -> dict[str, Any]:
    answer = passkey_options(api, mfa_challenge)
    assert answer.status == 200, answer.body
    options = answer.body["options"]
    assert isinstance(options, dict)
    return options


def passkey_sign_in(api: ApiServices, route: Route, assertion: dict[str, Any], source_ip: str = IP) -> Answer:
    return sign_in_call(api, route, {"passkeyCredentials": {"credential": assertion}}, source_ip)
