"""What a route handler needs from its event: the services, the caller, the client."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from auth.errors import AuthError, InvalidArgument, Unauthenticated
from auth.models import ClientInfo, Role, SignIn, User
from auth.principal import AuthMethod, Principal
from auth.wiring import ApiServices, build_api_services
from handlers.audit_log import LoggerAudit
from handlers.cookies import SESSION_COOKIE, cookie_value
from handlers.lazy import Lazy
from handlers.observability import Metric, count, logger
from handlers.snapshots import forget_after_restore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    from auth.routes import Route
    from handlers.bodies import SignInRequest

# Client info is for display only; long values are cut rather than stored whole.
MAX_CLIENT_INFO_CHARS = 512

Stored = TypeVar("Stored")

services: Lazy[ApiServices] = Lazy(lambda: build_api_services(audit=LoggerAudit(logger)))
forget_after_restore(services)


def principal(event: APIGatewayProxyEventV2) -> Principal:
    """The caller the authorizer verified; routes behind the authorizer only."""
    context = event.request_context.authorizer.get_lambda or {}
    try:
        return Principal(
            user_id=int(context["userId"]),
            username=str(context["username"]),
            role=Role(context["role"]),
            auth_method=AuthMethod(context["authMethod"]),
            credential_id=str(context.get("credentialId", "")),
            sign_in=SignIn(int(context.get("authTime") or 0), tuple(str(context.get("amr", "")).split())),
        )
    except (KeyError, ValueError, TypeError) as exc:
        # Only reachable if a route lost its authorizer: refuse rather than guess.
        raise Unauthenticated("no verified caller") from exc


def optional_principal(event: APIGatewayProxyEventV2) -> Principal | None:
    """The caller of a public route, when it brought a credential (an admin creating users).

    A credential that is present but invalid is refused, not ignored.
    """
    headers = event.headers or {}
    authorization = headers.get("authorization")
    session = cookie_value(event.cookies, SESSION_COOKIE)
    if not authorization and session is None:
        return None
    return services().authenticator.authenticate(authorization, session)


def sign_in_from(
    event: APIGatewayProxyEventV2,
    body: SignInRequest,
    route: Route,
    store: Callable[[User, ClientInfo, SignIn], Stored],
) -> tuple[User, SignIn, Stored]:
    """Either step of a sign-in (SPEC §3, §7, §8: a password or an identity provider first),
    or a passkey alone (§7), then the credential `store` makes of it (the route's refresh
    family or session), counted in the sign-in metrics; shared by both sign-in routes.
    A user with a second factor gets MfaRequired from the first step."""
    from auth.mfa_sign_in import MfaRequired, SecondFactor

    client = client_info(event)
    flow = services().mfa_sign_in
    password, sso, second = body.passwordCredentials, body.ssoCredentials, body.mfaCredentials
    passkey = body.passkeyCredentials
    if [password, sso, second, passkey].count(None) != 3:
        raise InvalidArgument(
            "give one of passwordCredentials, ssoCredentials, mfaCredentials and passkeyCredentials"
        )
    try:
        if password is not None:
            user, sign_in = flow.with_password(password.username, password.password, client.ip_address, route)
        elif sso is not None:
            user, sign_in = services().sso_sign_in.sign_in(sso.domain(), client.ip_address, route)
        elif passkey is not None:
            user, sign_in = flow.with_passkey(passkey.credential, client.ip_address)
        else:
            assert second is not None
            proof = SecondFactor(second.challenge, second.totpCode, second.recoveryCode, second.passkey)
            user, sign_in = flow.with_second_factor(proof, client.ip_address, route)
    except AuthError as refused:
        # A first step that asks for the second is no failure, and not yet a sign-in.
        if not isinstance(refused, MfaRequired):
            count(Metric.SIGN_IN_FAILURES)
        raise
    # Counted once the credential is stored: a sign-in whose user's credentials changed
    # under it (SignInOutdated, audited by `store`) produced none and is no sign-in.
    stored = store(user, client, sign_in)
    count(Metric.SIGN_INS)
    return user, sign_in, stored


def client_info(event: APIGatewayProxyEventV2) -> ClientInfo:
    headers = event.headers or {}
    return ClientInfo(
        user_agent=headers.get("user-agent", "")[:MAX_CLIENT_INFO_CHARS],
        ip_address=event.request_context.http.source_ip[:MAX_CLIENT_INFO_CHARS],
    )
