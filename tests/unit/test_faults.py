"""Issue 5: a bad day. DynamoDB and Secrets Manager throttle, time out and fail, one call at a
time, on every path; the injector in tests/support/faults.py fails each call of a path in
turn (and each write once more after it was applied, its answer lost).

What must hold, whichever call fails:
- the authorizer never allows (unless only a best-effort bookkeeping write failed), and
  never answers 'Unauthorized' (that would make clients drop a good credential): it fails
  closed with an error, which API Gateway turns into a 500;
- handlers answer 503 (code 14) with the SPEC error shape, never a 500;
- no partial write is left: no user without its username record (or the reverse), no
  credential of a user who is gone, no new password living alongside the old sign-ins,
  and a refresh can simply be retried, even one whose rotation was applied and its answer
  lost (the retry grace of SPEC §3): one live family, and the retry's token is its current;
- a change of a credential that stuck (a password, a role or state, a factor, a link, a
  PAT, the user) is in the audit trail, whichever call failed after it, its own answer lost
  included (auth.audit.audited_if_lost).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from auth import routes
from auth.audit import AuditEvent, CredentialKind
from auth.config import Config
from auth.errors import Code
from auth.models import ClientInfo, SignIn, User
from auth.principal import AuthMethod, Principal
from auth.routes import Route
from auth.stores import dynamo
from auth.stores.dynamo import get_bool, get_n, get_s
from auth.wiring import ApiServices, build_api_services, build_authorizer_services
from handlers import api_context, authorizer
from handlers.bodies import IdentityProviderRequest
from tests.support import factors, sso
from tests.support.audit import RecordingAudit
from tests.support.authenticator import SoftAuthenticator
from tests.support.clock import FakeClock
from tests.support.faults import FAULTS, WRITE_OPERATIONS, Armed, FaultInjector
from tests.support.people import PASSWORD, Answer, authorize, call_api, context_for
from tests.support.people import sign_up_people as _sign_up_people

ME = "GET /api/v1/auth/me"
NEW_PASSWORD = "a brand new passphrase"
CLIENT = ClientInfo("pytest", "203.0.113.7")
FAULT_NAMES = list(FAULTS)
_names = itertools.count()


@dataclass
class Scene:
    """One run of a path: the user it acts for and whatever credentials the setup made."""

    user: User
    # What the path's act needs beyond credentials (the calls it made, a second user, the
    # name a sign-up takes).
    extra: dict[str, Any] = field(default_factory=dict)
    # The credentials the setup made.
    token: str = ""
    pat: str = ""
    pat_id: str = ""
    session: str = ""
    refresh: str = ""


# An event's kind and the user it names (None: the scene's).
Audited = tuple[AuditEvent, CredentialKind, int | None]


@dataclass(frozen=True)
class Path:
    """One path of the suite: its setup, made on the rig's services without faults, and its
    act, whose AWS calls then fail in turn, on the authorizer's services or the API's."""

    name: str
    setup: Callable[[ApiServices], Scene]
    # Runs on freshly built services (a cold container: keys are read too).
    act: Callable[[Any, Scene], Any]
    authorizer: bool = False
    # The audit event of the change the act makes, when the stores show it made (whatever
    # failed, and whenever): a change that stuck is in the audit trail.
    stuck: Callable[[ApiServices, Scene], list[Audited]] | None = None


def _new_user(api: ApiServices) -> User:
    return api.accounts.sign_up(f"victim{next(_names)}", PASSWORD)


def _signed_in(api: ApiServices) -> Scene:
    user = _new_user(api)
    record, pat = api.pats.create(user, "ci", 0)
    signed_in = SignIn.with_password(api.clock.now())
    _, session = api.sessions.create(user, CLIENT, signed_in)
    return Scene(
        user=user,
        token=api.access_tokens.issue(user, signed_in).token,
        pat=pat,
        pat_id=record.token_id,
        session=session,
        refresh=api.refresh_tokens.issue(user, CLIENT, signed_in).token,
    )


def _rotated_once(api: ApiServices) -> Scene:
    """Signed in and refreshed once, the answer lost: `refresh` is the token rotated away,
    presented again within the grace (the clock does not move)."""
    scene = _signed_in(api)
    _, current, _ = api.refresh_tokens.rotate(scene.refresh)
    scene.extra["current"] = current.token
    return scene


def _refresh(services: Any, scene: Scene) -> Answer:
    return call_api(
        services,
        "POST",
        "/api/v1/auth/refresh",
        "/api/v1/auth/refresh",
        cookies=[f"memos_refresh={scene.refresh}"],
    )


REFRESH_PATHS = ("refresh", "refresh with the previous token within the grace")


def _with_pat(api: ApiServices) -> Scene:
    scene = _signed_in(api)
    record, scene.pat = api.pats.create(scene.user, "to delete", 0)
    scene.pat_id = record.token_id
    return scene


def _admin_changes(api: ApiServices) -> Scene:
    """A user with two PATs, about to be changed by the admin (whose context is kept)."""
    scene = _with_pat(api)
    admin = api.users.get_by_username("root")
    assert admin is not None and admin.is_admin
    scene.extra["admin"] = context_for(admin)
    return scene


def _admin_patch(body: dict[str, str]) -> Callable[[Any, Scene], Any]:
    """The admin's PATCH of the scene's user with `body`."""

    def act(services: Any, scene: Scene) -> Any:
        path = USER.format(username=scene.user.username)
        return _call(services, "PATCH", path, USER, scene, caller=scene.extra["admin"], body=body)

    return act


def _first_step(services: Any, scene: Scene, route: Route) -> Answer:
    """The password step of a user with TOTP: its expected answer is the challenge (400,
    code 9), which the runs below count as this path's success."""
    answer = factors.password_step(services, route, scene.user)
    if answer.status == 400 and answer.body.get("code") == Code.FAILED_PRECONDITION:
        return Answer(200, answer.body, answer.cookies, answer.headers)
    return answer


def _call(services: ApiServices, method: str, path: str, route: str, scene: Scene, **kwargs: Any) -> Answer:
    caller = kwargs.pop("caller", context_for(scene.user))
    return call_api(services, method, path, route, caller, **kwargs)


def _own_factor_call(route: Route) -> Callable[[Any, Scene], Any]:
    """The scene's user calling `route`, one of their own /totp, /recoveryCodes or /passkeys
    routes, without a body."""

    def act(services: Any, scene: Scene) -> Any:
        return _factor_call(services, route, scene.user)

    return act


def _totp_pending(api: ApiServices) -> Scene:
    """A signed-in user with a pending TOTP enrolment: its secret in `extra`."""
    scene = _signed_in(api)
    started = _factor_call(api, routes.ENROL_TOTP, scene.user)
    scene.extra["secret"] = started.body["secret"]
    return scene


def _totp_enabled(api: ApiServices) -> Scene:
    """A user with TOTP enabled, a step later (a code not spent yet)."""
    scene = _signed_in(api)
    enrolled = factors.enrol_totp(api, scene.user, SIGNED_IN_NOW(api))
    scene.extra |= {"secret": enrolled.secret, "recovery": enrolled.recovery_codes}
    scene.extra["root"] = api.users.get_by_username("root")
    api.clock.advance(30)  # type: ignore[attr-defined]  # the rig's FakeClock
    return scene


def _challenged(route: Route) -> Callable[[ApiServices], Scene]:
    """A user with TOTP who passed the password step of `route`: its challenge in `extra`."""

    def setup(api: ApiServices) -> Scene:
        scene = _totp_enabled(api)
        scene.extra["challenge"] = factors.challenge_of(factors.password_step(api, route, scene.user))
        return scene

    return setup


def _second_step(route: Route, with_recovery_code: bool = False) -> Callable[[Any, Scene], Any]:
    def act(services: Any, scene: Scene) -> Any:
        if with_recovery_code:
            return factors.second_step(
                services, route, scene.extra["challenge"], recoveryCode=scene.extra["recovery"][0]
            )
        code = factors.code_at(scene.extra["secret"], services.clock.now())
        return factors.second_step(services, route, scene.extra["challenge"], totpCode=code)

    return act


# -- SPEC §8: a scripted OAUTH2 provider (tests/support/sso.py) whose code is the identity:
# the token endpoint hands the code back as the access token, userinfo names it as `sub`.
_scripted: list[sso.ScriptedProvider] = []


def _provider_url() -> str:
    if not _scripted:
        server = sso.ScriptedProvider()
        server.routes["/token"] = lambda fields: sso.json_reply(
            {"access_token": fields["code"], "token_type": "Bearer"}
        )
        server.routes["/me"] = lambda fields: sso.json_reply(
            {"sub": fields["authorization"].removeprefix("Bearer ")}
        )
        _scripted.append(server)
    return _scripted[0].url


def _admin_principal(api: ApiServices) -> Principal:
    admin = api.users.get_by_username("root")
    assert admin is not None
    return Principal(
        admin.id,
        admin.username,
        admin.role,
        AuthMethod.ACCESS_TOKEN,
        "",
        SignIn.with_password(api.clock.now()),
    )


def _with_root(api: ApiServices) -> Scene:
    scene = _signed_in(api)
    scene.extra["root"] = api.users.get_by_username("root")
    return scene


def _with_provider(api: ApiServices) -> Scene:
    """A signed-in user, an OAUTH2 provider, and a fresh identity for the act to use."""
    scene = _signed_in(api)
    provider_id = f"idp{next(_names)}"
    request = IdentityProviderRequest.model_validate(sso.oauth2_body(_provider_url(), "client", secret="s"))
    api.identity_providers.create(_admin_principal(api), request.domain(), provider_id)
    scene.extra |= {
        "provider": provider_id,
        "identity": f"ext-{next(_names)}",
        "root": api.users.get_by_username("root"),
    }
    return scene


def _linked(api: ApiServices) -> Scene:
    """The scene's user with the identity linked."""
    scene = _with_provider(api)
    answer = sso.link_call(
        api,
        scene.user,
        sso.sso(scene.extra["provider"], scene.extra["identity"]),
        SignIn.with_password(api.clock.now()),
    )
    assert answer.status == 200, answer.body
    scene.extra["link"] = answer.body["name"].rsplit("/", 1)[1]
    return scene


def _linked_twice_without_a_password(api: ApiServices) -> Scene:
    """The scene's user without a password (as a first sign-in with a provider makes them)
    and with a second identity linked: unlinking the first is checked against the second."""
    scene = _linked(api)
    passwordless = replace(scene.user, password_hash="")
    api.users.update(scene.user, passwordless)
    scene.user = passwordless
    second = sso.sso(scene.extra["provider"], f"ext-{next(_names)}")
    answer = sso.link_call(api, passwordless, second, SignIn.with_password(api.clock.now()))
    assert answer.status == 200, answer.body
    return scene


def _sso(route: Route) -> Callable[[Any, Scene], Any]:
    def act(services: Any, scene: Scene) -> Any:
        return sso.sso_sign_in(services, sso.sso(scene.extra["provider"], scene.extra["identity"]), route)

    return act


def _create_provider(services: Any, scene: Scene) -> Any:
    """An admin's new provider, its id (new each run) in `extra`."""
    scene.extra["made"] = f"made{next(_names)}"
    body = sso.oauth2_body(_provider_url(), "c", secret="s")
    return sso.create_provider(services, scene.extra["root"], body, scene.extra["made"])


def _new_identity_sign_in(services: Any, scene: Scene) -> Any:
    """A first sign-in: each run a new identity (in `extra`), so each run creates its user."""
    scene.extra["new identity"] = f"new-{next(_names)}"
    return sso.sso_sign_in(services, sso.sso(scene.extra["provider"], scene.extra["new identity"]))


def _link_call_of(services: Any, scene: Scene) -> Any:
    return sso.link_call(
        services,
        scene.user,
        sso.sso(scene.extra["provider"], scene.extra["identity"]),
        SIGNED_IN_NOW(services),
    )


def _unlink_by(caller: Callable[[Scene], User]) -> Callable[[Any, Scene], Any]:
    """The DELETE of the scene's linked identity, asked by `caller` of the scene, signed in now."""

    def unlink(services: Any, scene: Scene) -> Any:
        path = sso.LINK.format(username=scene.user.username, id=scene.extra["link"])
        by = context_for(caller(scene), sign_in=SIGNED_IN_NOW(services))
        return _call(services, "DELETE", path, sso.LINK, scene, caller=by)

    return unlink


def SIGNED_IN_NOW(services: Any) -> SignIn:
    return SignIn.with_password(services.clock.now())


def _factor_call(services: Any, route: Route, user: User, **given: Any) -> Any:
    """factors.factor_call by a caller signed in just now, unless told otherwise: a path's
    runs move the clock on (a fresh TOTP step each), past any sign-in made at the start."""
    return factors.factor_call(services, route, user, **{"sign_in": SIGNED_IN_NOW(services), **given})


def _with_passkey(api: ApiServices) -> Scene:
    """A signed-in user with a passkey: its authenticator and id in `extra`."""
    scene = _signed_in(api)
    authenticator = SoftAuthenticator()
    scene.extra |= {
        "authenticator": authenticator,
        "passkey": factors.register_passkey(api, scene.user, authenticator)["id"],
        "root": api.users.get_by_username("root"),
    }
    return scene


def _registering(api: ApiServices) -> Scene:
    """A signed-in user with a passkey, holding the answer to new registration options."""
    scene = _with_passkey(api)
    options = _factor_call(api, routes.PASSKEY_REGISTRATION, scene.user).body["options"]
    scene.extra["credential"] = SoftAuthenticator().register(options)
    return scene


def _asserting(api: ApiServices) -> Scene:
    """A user with a passkey holding an assertion for passwordless options."""
    scene = _with_passkey(api)
    scene.extra["assertion"] = scene.extra["authenticator"].assert_(factors.sign_in_options(api))
    return scene


def _passkey_challenged(api: ApiServices) -> Scene:
    """A user with a passkey past the password step, holding an assertion for its options."""
    scene = _with_passkey(api)
    challenge = factors.challenge_of(factors.password_step(api, routes.SIGN_IN, scene.user))
    scene.extra["challenge"] = challenge
    scene.extra["assertion"] = scene.extra["authenticator"].assert_(factors.sign_in_options(api, challenge))
    return scene


def _remove_passkey(admin: bool) -> Callable[[Any, Scene], Any]:
    def act(services: Any, scene: Scene) -> Any:
        path = routes.REMOVE_PASSKEY.path.format(username=scene.user.username, id=scene.extra["passkey"])
        caller = context_for(scene.extra["root"] if admin else scene.user)
        return call_api(services, "DELETE", path, routes.REMOVE_PASSKEY.path, caller)

    return act


# -- what each change leaves in the stores once it stuck, and the audit event that says so


def _if(changed: bool, event: AuditEvent, kind: CredentialKind, user_id: int | None = None) -> list[Audited]:
    return [(event, kind, user_id)] if changed else []


def _stored(api: ApiServices, scene: Scene) -> User | None:
    return api.users.get(scene.user.id, consistent=True)


def _signed_out_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    """The scene's session and refresh family, each ended."""
    session_gone = not api.sessions.list_for_user(scene.user.id)
    family_ended = all(family.revoked for family in api.refresh_tokens._store.for_user(scene.user.id))
    return _if(session_gone, AuditEvent.REVOKED, CredentialKind.SESSION) + _if(
        family_ended, AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN
    )


def _password_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    """The new password, and the sign-ins it ended."""
    from auth.passwords import verify_password

    user = _stored(api, scene)
    changed = user is not None and verify_password(NEW_PASSWORD, user.password_hash)
    return _if(changed, AuditEvent.CHANGED, CredentialKind.PASSWORD) + _signed_out_stuck(api, scene)


def _role_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    user = _stored(api, scene)
    return _if(user is not None and user.is_admin, AuditEvent.CHANGED, CredentialKind.ACCOUNT)


def _archive_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    user = _stored(api, scene)
    archived = user is not None and user.state.value == "ARCHIVED"
    return _if(archived, AuditEvent.SUSPENDED, CredentialKind.ACCOUNT)


def _deletion_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    """The user gone, and each credential of theirs that went before them."""
    gone = _if(_stored(api, scene) is None, AuditEvent.REVOKED, CredentialKind.ACCOUNT)
    return gone + _pat_deletion_stuck(api, scene) + _signed_out_stuck(api, scene)


def _deletion_with_a_passkey_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    return _deletion_stuck(api, scene) + _passkey_removal_stuck(api, scene)


def _deletion_with_totp_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    return _deletion_stuck(api, scene) + _totp_removal_stuck(api, scene)


def _pat_deletion_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    left = {record.token_id for record in api.pats.list_for_user(scene.user.id)}
    return _if(scene.pat_id not in left, AuditEvent.REVOKED, CredentialKind.PAT)


def _totp(api: ApiServices, scene: Scene) -> Any:
    return api.factors._store.get_totp(scene.user.id)


def _totp_removal_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    return _if(_totp(api, scene) is None, AuditEvent.REVOKED, CredentialKind.TOTP)


def _admins_removal(
    stuck: Callable[[ApiServices, Scene], list[Audited]],
) -> Callable[[ApiServices, Scene], list[Audited]]:
    """An admin's removal of a factor: the factor gone, and every sign-in of the user ended."""
    return lambda api, scene: stuck(api, scene) + _signed_out_stuck(api, scene)


def _codes_regenerated_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    from auth import recovery_codes

    record = _totp(api, scene)
    first = {recovery_codes.hash_code(code) for code in scene.extra["recovery"]}
    changed = record is not None and record.recovery_hashes != first
    return _if(changed, AuditEvent.CHANGED, CredentialKind.RECOVERY_CODES)


def _link_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    linked = bool(api.linked_identities._store.links_of_user(scene.user.id))
    return _if(linked, AuditEvent.CREATED, CredentialKind.LINKED_IDENTITY)


def _sign_up_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    user = api.users.get_by_username(scene.extra["username"])
    return _if(user is not None, AuditEvent.CREATED, CredentialKind.ACCOUNT, user.id if user else 0)


def _first_sso_sign_in_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    """The account a first sign-in made, and its link."""
    link = api.idp_store.get_link(scene.extra["provider"], scene.extra.get("new identity", ""))
    made = link is not None
    user_id = link.user_id if link is not None else 0
    return _if(made, AuditEvent.CREATED, CredentialKind.ACCOUNT, user_id) + _if(
        made, AuditEvent.CREATED, CredentialKind.LINKED_IDENTITY, user_id
    )


def _provider(api: ApiServices, provider_id: str) -> Any:
    return api.idp_store.get_provider(provider_id)


def _provider_created_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    made = _provider(api, scene.extra.get("made", "")) is not None
    return _if(made, AuditEvent.CREATED, CredentialKind.IDENTITY_PROVIDER, scene.extra["root"].id)


def _provider_changed_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    stored = _provider(api, scene.extra["provider"])
    changed = stored is not None and stored.provider.title == "New"
    return _if(changed, AuditEvent.CHANGED, CredentialKind.IDENTITY_PROVIDER, scene.extra["root"].id)


def _provider_deleted_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    gone = _provider(api, scene.extra["provider"]) is None
    by_root = _if(gone, AuditEvent.REVOKED, CredentialKind.IDENTITY_PROVIDER, scene.extra["root"].id)
    return by_root + _unlink_stuck(api, scene)


def _totp_confirm_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    record = _totp(api, scene)
    return _if(record is not None and record.enabled, AuditEvent.CREATED, CredentialKind.TOTP)


def _passkeys(api: ApiServices, scene: Scene) -> set[str]:
    return set(api.passkeys._store.ids_of(scene.user.id))


def _passkey_removal_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    gone = scene.extra["passkey"] not in _passkeys(api, scene)
    return _if(gone, AuditEvent.REVOKED, CredentialKind.PASSKEY)


def _passkey_registration_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    added = bool(_passkeys(api, scene) - {scene.extra["passkey"]})
    return _if(added, AuditEvent.CREATED, CredentialKind.PASSKEY)


def _unlink_stuck(api: ApiServices, scene: Scene) -> list[Audited]:
    left = {link.link_id for link in api.linked_identities._store.links_of_user(scene.user.id)}
    return _if(scene.extra["link"] not in left, AuditEvent.REVOKED, CredentialKind.LINKED_IDENTITY)


USER = routes.GET_USER.path
PATS = routes.LIST_PATS.path
PAT = routes.DELETE_PAT.path

PATHS = [
    Path(
        "authorizer with an access token",
        _signed_in,
        lambda s, sc: authorize(s, ME, authorization=f"Bearer {sc.token}"),
        authorizer=True,
    ),
    Path(
        "authorizer with a PAT",
        _signed_in,
        lambda s, sc: authorize(s, ME, authorization=f"Bearer {sc.pat}"),
        True,
    ),
    Path(
        "authorizer with a session",
        _signed_in,
        lambda s, sc: authorize(s, ME, cookies=[f"user_session={sc.session}"]),
        authorizer=True,
    ),
    Path(
        "sign-up",
        lambda api: Scene(user=_new_user(api), extra={"username": f"newcomer{next(_names)}"}),
        lambda s, sc: call_api(
            s,
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            body={"user": {"username": sc.extra["username"], "password": PASSWORD}},
        ),
        stuck=_sign_up_stuck,
    ),
    Path(
        "sign-in",
        _signed_in,
        lambda s, sc: call_api(
            s,
            "POST",
            "/api/v1/auth/signin",
            "/api/v1/auth/signin",
            body={"passwordCredentials": {"username": sc.user.username, "password": PASSWORD}},
        ),
    ),
    Path(
        "session sign-in",
        _signed_in,
        lambda s, sc: call_api(
            s,
            "POST",
            "/api/v1/auth/sessions",
            "/api/v1/auth/sessions",
            body={"passwordCredentials": {"username": sc.user.username, "password": PASSWORD}},
        ),
    ),
    Path("refresh", _signed_in, _refresh),
    Path(REFRESH_PATHS[1], _rotated_once, _refresh),
    Path(
        "sign-out",
        _signed_in,
        lambda s, sc: _call(
            s,
            "POST",
            "/api/v1/auth/signout",
            "/api/v1/auth/signout",
            sc,
            cookies=[f"memos_refresh={sc.refresh}", f"user_session={sc.session}"],
        ),
        stuck=_signed_out_stuck,
    ),
    Path(
        "PAT create",
        _signed_in,
        lambda s, sc: _call(
            s, "POST", PATS.format(username=sc.user.username), PATS, sc, body={"description": "ci"}
        ),
    ),
    Path(
        "PAT delete",
        _with_pat,
        lambda s, sc: _call(s, "DELETE", PAT.format(username=sc.user.username, tokenId=sc.pat_id), PAT, sc),
        stuck=_pat_deletion_stuck,
    ),
    Path(
        "password change",
        _signed_in,
        lambda s, sc: _call(
            s,
            "PATCH",
            USER.format(username=sc.user.username),
            USER,
            sc,
            body={"password": NEW_PASSWORD, "currentPassword": PASSWORD},
        ),
        stuck=_password_stuck,
    ),
    Path(
        "an admin's password change",
        _admin_changes,
        _admin_patch({"password": NEW_PASSWORD}),
        stuck=_password_stuck,
    ),
    Path("role change", _admin_changes, _admin_patch({"role": "ADMIN"}), stuck=_role_stuck),
    Path("archive", _admin_changes, _admin_patch({"state": "ARCHIVED"}), stuck=_archive_stuck),
    Path("TOTP enrolment", _signed_in, _own_factor_call(routes.ENROL_TOTP)),
    Path(
        "TOTP confirm",
        _totp_pending,
        lambda s, sc: _factor_call(
            s, routes.CONFIRM_TOTP, sc.user, body={"code": factors.code_at(sc.extra["secret"], s.clock.now())}
        ),
        stuck=_totp_confirm_stuck,
    ),
    Path(
        "recovery codes regenerated",
        _totp_enabled,
        _own_factor_call(routes.REGENERATE_RECOVERY_CODES),
        stuck=_codes_regenerated_stuck,
    ),
    Path("TOTP removal", _totp_enabled, _own_factor_call(routes.REMOVE_TOTP), stuck=_totp_removal_stuck),
    Path(
        "an admin's TOTP removal",
        _totp_enabled,
        lambda s, sc: _factor_call(s, routes.REMOVE_TOTP, sc.user, caller=sc.extra["root"]),
        stuck=_admins_removal(_totp_removal_stuck),
    ),
    Path("sign-in first step with TOTP", _totp_enabled, lambda s, sc: _first_step(s, sc, routes.SIGN_IN)),
    Path("sign-in second step with TOTP", _challenged(routes.SIGN_IN), _second_step(routes.SIGN_IN)),
    Path(
        "sign-in second step with a recovery code",
        _challenged(routes.SIGN_IN),
        _second_step(routes.SIGN_IN, with_recovery_code=True),
    ),
    Path(
        "session sign-in second step with TOTP",
        _challenged(routes.CREATE_SESSION),
        _second_step(routes.CREATE_SESSION),
    ),
    Path(
        "identity provider create",
        _with_root,
        _create_provider,
        stuck=_provider_created_stuck,
    ),
    Path(
        "identity provider change",
        _with_provider,
        lambda s, sc: sso.as_admin(
            s,
            "PATCH",
            sso.IDP.format(id=sc.extra["provider"]),
            sso.IDP,
            sc.extra["root"],
            body={"title": "New"},
        ),
        stuck=_provider_changed_stuck,
    ),
    Path(
        "identity provider delete, with its links",
        _linked,
        lambda s, sc: sso.as_admin(
            s, "DELETE", sso.IDP.format(id=sc.extra["provider"]), sso.IDP, sc.extra["root"]
        ),
        stuck=_provider_deleted_stuck,
    ),
    Path(
        "first sign-in with an identity provider",
        _with_provider,
        _new_identity_sign_in,
        stuck=_first_sso_sign_in_stuck,
    ),
    Path("sign-in with a linked identity", _linked, _sso(routes.SIGN_IN)),
    Path("session sign-in with a linked identity", _linked, _sso(routes.CREATE_SESSION)),
    Path("identity link", _with_provider, _link_call_of, stuck=_link_stuck),
    Path("identity unlink", _linked, _unlink_by(lambda scene: scene.user), stuck=_unlink_stuck),
    Path(
        "an admin's identity unlink",
        _linked,
        _unlink_by(lambda scene: scene.extra["root"]),
        stuck=_admins_removal(_unlink_stuck),
    ),
    Path(
        "identity unlink keeping another link",
        _linked_twice_without_a_password,
        _unlink_by(lambda scene: scene.user),
        stuck=_unlink_stuck,
    ),
    Path("passkey registration options", _with_passkey, _own_factor_call(routes.PASSKEY_REGISTRATION)),
    Path(
        "passkey registration",
        _registering,
        lambda s, sc: _factor_call(
            s, routes.REGISTER_PASSKEY, sc.user, body={"credential": sc.extra["credential"]}
        ),
        stuck=_passkey_registration_stuck,
    ),
    Path("passkey list", _with_passkey, _own_factor_call(routes.LIST_PASSKEYS)),
    Path("passkey removal", _with_passkey, _remove_passkey(admin=False), stuck=_passkey_removal_stuck),
    Path(
        "an admin's passkey removal",
        _with_passkey,
        _remove_passkey(admin=True),
        stuck=_admins_removal(_passkey_removal_stuck),
    ),
    Path("passkey sign-in options", _signed_in, lambda s, sc: factors.passkey_options(s)),
    Path(
        "passwordless sign-in",
        _asserting,
        lambda s, sc: factors.passkey_sign_in(s, routes.SIGN_IN, sc.extra["assertion"]),
    ),
    Path(
        "passwordless session sign-in",
        _asserting,
        lambda s, sc: factors.passkey_sign_in(s, routes.CREATE_SESSION, sc.extra["assertion"]),
    ),
    Path(
        "sign-in first step with a passkey",
        _with_passkey,
        lambda s, sc: _first_step(s, sc, routes.SIGN_IN),
    ),
    Path(
        "passkey options for a second step",
        _passkey_challenged,
        lambda s, sc: factors.passkey_options(s, sc.extra["challenge"]),
    ),
    Path(
        "sign-in second step with a passkey",
        _passkey_challenged,
        lambda s, sc: factors.second_step(
            s, routes.SIGN_IN, sc.extra["challenge"], passkey=sc.extra["assertion"]
        ),
    ),
    Path(
        "user delete with a passkey",
        _with_passkey,
        lambda s, sc: _call(s, "DELETE", USER.format(username=sc.user.username), USER, sc),
        stuck=_deletion_with_a_passkey_stuck,
    ),
    Path(
        "user delete with TOTP",
        _totp_enabled,
        # Signed in now: each run's setup moves the clock on by a TOTP step.
        lambda s, sc: _call(
            s,
            "DELETE",
            USER.format(username=sc.user.username),
            USER,
            sc,
            caller=context_for(sc.user, sign_in=SIGNED_IN_NOW(s)),
        ),
        stuck=_deletion_with_totp_stuck,
    ),
    Path(
        "user delete",
        _signed_in,
        lambda s, sc: _call(s, "DELETE", USER.format(username=sc.user.username), USER, sc),
        stuck=_deletion_stuck,
    ),
]


# -- what is checked after every injection ---------------------------------------------------


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """The table's items in the form a Scan answers, read from moto's own store: the checks
    run after each of a path's many runs, and a Scan through botocore took ~40 ms a table."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][dynamodb.meta.region_name]
    return [item.to_json()["Attributes"] for item in backend.get_table(table).all_items()]


def partial_writes(dynamodb: Any, config: Config) -> list[str]:
    """Every broken invariant of the tables, described; [] when they are whole."""
    problems: list[str] = []
    items = _scan(dynamodb, config.users_table)
    users = {get_n(item, "id"): item for item in items if get_s(item, "pk").startswith("user#")}
    names = {
        get_s(item, "pk"): get_n(item, "userId")
        for item in items
        if get_s(item, "pk").startswith("username#")
    }
    for user_id, item in users.items():
        if names.get("username#" + get_s(item, "username").lower()) != user_id:
            problems.append(f"user {user_id} has no username record")
    problems += [f"{pk} names a missing user" for pk, user_id in names.items() if user_id not in users]
    for table in (config.personal_access_tokens_table, config.sessions_table, config.refresh_tokens_table):
        for item in _scan(dynamodb, table):
            # A revoked refresh family is a tombstone, kept until its TTL so that a reuse
            # is still recognised: not a credential.
            if get_n(item, "userId") not in users and not get_bool(item, "revoked"):
                problems.append(f"{table} keeps a credential of missing user {get_n(item, 'userId')}")
    for item in _scan(dynamodb, config.factors_table):
        # A factor outliving its user; challenges die within 5 minutes and name no factor.
        if get_s(item, "pk").startswith("totp#") and get_n(item, "userId") not in users:
            problems.append(f"a TOTP factor of missing user {get_n(item, 'userId')} is left")
        if get_bool(item, "enabled") and "recoveryCodes" not in item and "totpLastStep" not in item:
            problems.append(f"user {get_n(item, 'userId')}'s TOTP is enabled without its first step")
    problems += passkeys_astray(dynamodb, config, set(users))
    for item in _scan(dynamodb, config.linked_identities_table):
        # SPEC §8: a link of a user who is gone would be a dead way in (or, worse, a live one).
        if get_n(item, "userId") not in users:
            problems.append(f"a linked identity of missing user {get_n(item, 'userId')} is left")
    for item in _scan(dynamodb, config.settings_table):
        if get_s(item, "pk") == "owner" and get_n(item, "userId") not in users:
            problems.append("the owner marker names a missing user")
    return problems + owner_copies_drifted(dynamodb, config, users)


def passkeys_astray(dynamodb: Any, config: Config, users: set[int]) -> list[str]:
    """A passkey outliving its user, or not in its user's list (which listing, the cap and
    deletion rely on), or a list naming a passkey that is gone."""
    items = _scan(dynamodb, config.factors_table)
    passkeys = {
        get_s(i, "pk").removeprefix("passkey#"): i for i in items if get_s(i, "pk").startswith("passkey#")
    }
    lists = {
        get_n(i, "userId"): set(i.get("ids", {}).get("SS", []))
        for i in items
        if get_s(i, "pk").startswith("passkeys#")
    }
    problems = [
        f"passkey {pid} of missing user {get_n(i, 'userId')} is left"
        for pid, i in passkeys.items()
        if get_n(i, "userId") not in users
    ]
    problems += [
        f"passkey {pid} is not in its user's list"
        for pid, i in passkeys.items()
        if pid not in lists.get(get_n(i, "userId"), set())
    ]
    problems += [
        f"user {user}'s passkey list names missing {pid}"
        for user, ids in lists.items()
        for pid in ids
        if pid not in passkeys
    ]
    return problems


def owner_copies_drifted(dynamodb: Any, config: Config, users: dict[int, Any]) -> list[str]:
    """Each PAT carries its user's username, role and state, and each user counts their PATs:
    the authorizer trusts the first, role changes rely on the second."""
    problems: list[str] = []
    counted = dict.fromkeys(users, 0)
    for item in _scan(dynamodb, config.personal_access_tokens_table):
        user = users.get(get_n(item, "userId"))
        if user is None:
            continue  # reported above
        counted[get_n(item, "userId")] += 1
        copy = [get_s(item, name) for name in ("ownerUsername", "ownerRole", "ownerState")]
        if copy != [get_s(user, name) for name in ("username", "role", "state")]:
            problems.append(f"a PAT of user {get_n(user, 'id')} carries {copy}")
    problems += [
        f"user {user_id} counts {get_n(users[user_id], 'patCount')} PATs but has {count}"
        for user_id, count in counted.items()
        if get_n(users[user_id], "patCount") != count
    ]
    return problems


def password_changed_but_sign_ins_live(api: ApiServices, scene: Scene) -> bool:
    """A new password must never live alongside the sign-ins it was meant to end."""
    from auth.passwords import verify_password

    user = api.users.get(scene.user.id, consistent=True)
    if user is None or not verify_password(NEW_PASSWORD, user.password_hash):
        return False
    live_families = [f for f in api.refresh_tokens._store.for_user(user.id) if not f.revoked]
    return bool(live_families or api.sessions.list_for_user(user.id))


def unaudited(api: ApiServices, path: Path, scene: Scene) -> list[Audited]:
    """The audit events of the path's changes that stuck but that the run's audit trail
    does not have."""
    expected = path.stuck(api, scene) if path.stuck else []
    recorded = {(event, kind, user_id) for event, kind, user_id, *_ in scene.extra["audit"].events}
    return [
        (event, kind, user_id)
        for event, kind, user_id in expected
        if (event, kind, scene.user.id if user_id is None else user_id) not in recorded
    ]


def assert_one_live_family(api: ApiServices, scene: Scene, answer: Answer, where: str) -> None:
    """After a refresh and its retry: the sign-in's family is live, not forked, and the
    retry's token is for its current id (so that it rotates on)."""
    from auth.tokens import parse_refresh_token

    (cookie,) = [c for c in answer.cookies if c.startswith("memos_refresh=")]
    token = cookie.split(";")[0].split("=", 1)[1]
    claims = parse_refresh_token(token, api.keys.verification_key, api.clock.now())
    # The scene's user signed in once: one family, whatever was retried.
    (family,) = api.refresh_tokens._store.for_user(scene.user.id)
    assert family.family_id == claims.family_id and not family.revoked, f"{where}: {family}"
    assert family.current_token_id == claims.token_id, f"{where}: the retry's token is not current"


# -- the runs -------------------------------------------------------------------------------


@pytest.fixture
def injector(aws: dict[str, Any]) -> Iterator[FaultInjector]:
    faults = FaultInjector(aws["dynamodb"], aws["secretsmanager"])
    yield faults
    faults.close()
    api_context.services.replace(None)
    authorizer.services.replace(None)


@dataclass(frozen=True)
class Rig:
    """The fixtures a path runs on: its services, the fake AWS and the fault injector."""

    api: ApiServices
    aws: dict[str, Any]
    config: Config
    clock: FakeClock
    injector: FaultInjector

    def fresh(self, path: Path, audit: RecordingAudit | None = None) -> Any:
        """A new container's services for the path's function."""
        build = build_authorizer_services if path.authorizer else build_api_services
        return build(self.config, self.clock, self.aws["dynamodb"], self.aws["secretsmanager"], audit)


@pytest.fixture
def rig(
    api: ApiServices, aws: dict[str, Any], config: Config, clock: FakeClock, injector: FaultInjector
) -> Rig:
    """The fixtures a path runs on, with alice, bob and the admin signed up."""
    _sign_up_people(api)
    return Rig(api, aws, config, clock, injector)


def _run(path: Path, rig: Rig, armed: Armed | None) -> tuple[Scene, Any]:
    injector = rig.injector
    scene = path.setup(rig.api)
    audit = RecordingAudit()
    services = rig.fresh(path, audit)
    injector.reset(armed)
    try:
        result: Any = path.act(services, scene)
    except Exception as raised:
        result = raised
    finally:
        calls = list(injector.calls)
        injector.reset(None)
    scene.extra |= {"calls": calls, "audit": audit}
    return scene, result


SECRETS_MANAGER_OPERATIONS = frozenset({"GetSecretValue", "PutSecretValue"})


def _check_authorizer(result: Any, failed_call: str, where: str) -> None:
    if isinstance(result, dict):
        # Only lastUsedAt / lastAccessedAt are written by the authorizer, and only after the
        # credential passed; losing that bookkeeping must not refuse a valid caller.
        assert failed_call == "UpdateItem", f"{where}: allowed although {failed_call} failed"
        return
    assert isinstance(result, Exception), where
    assert str(result) != "Unauthorized", (
        f"{where}: a failure answered 401, clients would drop their credential"
    )


def _check_handler(result: Any, failed_call: str, where: str) -> None:
    assert isinstance(result, Answer), f"{where}: the handler raised {result!r}"
    # Every injected failure is a dependency's: retryable (503, code 14), never internal.
    # Secrets Manager holds two keys: the signing key and the one TOTP secrets are sealed with.
    dependencies = (
        ("signing key", "factor key") if failed_call in SECRETS_MANAGER_OPERATIONS else ("storage",)
    )
    expected = [
        {"code": Code.UNAVAILABLE, "message": f"{dependency} unavailable", "details": []}
        for dependency in dependencies
    ]
    assert result.status == 503 and result.body in expected, (
        f"{where}: answered {result.status} {result.body}"
    )
    assert result.headers.get("Cache-Control") == "no-store", where


@pytest.mark.parametrize("path", PATHS, ids=[path.name for path in PATHS])
def test_every_call_of_the_path_fails_safely(path: Path, rig: Rig) -> None:
    # A first run stores the keys a fresh stack generates on first use (the TOTP secrets' key
    # on the first enrolment), so that every run below makes the same calls.
    _run(path, rig, None)
    scene, baseline = _run(path, rig, None)
    calls = scene.extra["calls"]
    assert calls, "the path made no AWS call: nothing was tested"
    if path.authorizer:
        assert isinstance(baseline, dict) and baseline["isAuthorized"] is True, baseline
    else:
        assert isinstance(baseline, Answer) and baseline.status == 200, baseline
    faults = itertools.cycle(FAULT_NAMES)
    runs = [Armed(i, next(faults)) for i in range(len(calls))]
    runs += [
        Armed(i, "ReadTimeoutError", after=True) for i, call in enumerate(calls) if call in WRITE_OPERATIONS
    ]
    for armed in runs:
        scene, result = _run(path, rig, armed)
        failed_call = scene.extra["calls"][armed.index] if armed.index < len(scene.extra["calls"]) else "?"
        when = "after" if armed.after else "on"
        where = f"{path.name}: {armed.fault} {when} call {armed.index} ({failed_call})"
        if path.authorizer:
            _check_authorizer(result, failed_call, where)
        else:
            _check_handler(result, failed_call, where)
        assert partial_writes(rig.aws["dynamodb"], rig.config) == [], where
        assert not password_changed_but_sign_ins_live(rig.api, scene), where
        assert unaudited(rig.api, path, scene) == [], where
        if path.name in REFRESH_PATHS:
            # Whether the rotation was applied or not (its answer lost), the client's retry
            # with the same token is answered: a throttled refresh must not sign the user
            # out, and a lost answer is what the retry grace (SPEC §3) is for.
            retried = path.act(rig.fresh(path), scene)
            assert retried.status == 200, f"{where}: the retry answered {retried.status} {retried.body}"
            assert_one_live_family(rig.api, scene, retried, where)


@pytest.mark.parametrize("fault", FAULT_NAMES)
@pytest.mark.parametrize("operation", ["GetSecretValue", "GetItem"])
def test_authorizer_fails_closed_on_every_kind_of_fault(
    api: ApiServices,
    aws: dict[str, Any],
    config: Config,
    clock: FakeClock,
    injector: FaultInjector,
    fault: str,
    operation: str,
) -> None:
    scene = _signed_in(api)
    services = build_authorizer_services(config, clock, aws["dynamodb"], aws["secretsmanager"])
    injector.reset()
    probe = authorize(services, ME, authorization=f"Bearer {scene.token}")
    assert probe["isAuthorized"] is True
    index = injector.calls.index(operation)
    cold = build_authorizer_services(config, clock, aws["dynamodb"], aws["secretsmanager"])
    injector.reset(Armed(index, fault))
    with pytest.raises(Exception) as raised:
        authorize(cold, ME, authorization=f"Bearer {scene.token}")
    assert str(raised.value) != "Unauthorized"


# -- a sign-in's credential, stored in one transaction with a check of its user --------------

CREDENTIAL_PATHS = [
    path
    for path in PATHS
    if path.name
    in {
        "sign-in",
        "session sign-in",
        "sign-in second step with TOTP",
        "sign-in second step with a recovery code",
        "session sign-in second step with TOTP",
        "first sign-in with an identity provider",
        "sign-in with a linked identity",
        "session sign-in with a linked identity",
        "passwordless sign-in",
        "passwordless session sign-in",
        "sign-in second step with a passkey",
    }
]
# Why DynamoDB cancels a transaction, other than a failed condition: another transaction on
# one of its items at the same instant (a password change writing the user), or a throttle.
CANCELLATION_REASONS = ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"]


@contextmanager
def credential_transactions_canceled(
    dynamodb: Any, config: Config, reason: str, times: int | None = None
) -> Iterator[list[str]]:
    """Every transaction that stores a session or refresh family with its user's check (or
    the first `times` of them) is canceled with `reason` on the check (the Put's own reason
    is None); yields the tables of the credentials refused."""
    refused: list[str] = []

    def cancel(params: dict[str, Any], **_: Any) -> None:
        items = params.get("TransactItems", [])
        tables = [next(iter(item.values()))["TableName"] for item in items]
        kinds = [next(iter(item)) for item in items]
        credential_tables = (config.sessions_table, config.refresh_tokens_table)
        more = times is None or len(refused) < times
        if kinds == ["Put", "ConditionCheck"] and tables[0] in credential_tables and more:
            refused.append(tables[0])
            response = {
                "Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                "CancellationReasons": [{"Code": "None"}, {"Code": reason}],
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            raise ClientError(response, "TransactWriteItems")  # type: ignore[arg-type]  # a plain dict stands in for botocore's error response TypedDict

    event = "before-parameter-build.dynamodb.TransactWriteItems"
    dynamodb.meta.events.register(event, cancel, unique_id="cancel-credential-transactions")
    try:
        yield refused
    finally:
        dynamodb.meta.events.unregister(event, unique_id="cancel-credential-transactions")


@pytest.mark.parametrize("route", ["/api/v1/auth/signin", "/api/v1/auth/sessions"])
def test_a_sign_in_whose_credential_transaction_conflicts_once_is_tried_again_and_signs_in(
    api: ApiServices, aws: dict[str, Any], config: Config, route: str
) -> None:
    # Two sign-ins of one user at one instant both check the user's item: DynamoDB cancels
    # one for the conflict, and it goes through on the next attempt.
    _sign_up_people(api)
    body = {"passwordCredentials": {"username": "alice", "password": PASSWORD}}
    with credential_transactions_canceled(aws["dynamodb"], config, dynamo.TRANSACTION_CONFLICT, 1) as refused:
        answer = call_api(api, "POST", route, route, body=body)
    assert len(refused) == 1 and answer.status == 200, answer.body
    assert partial_writes(aws["dynamodb"], config) == []


@pytest.mark.parametrize("reason", CANCELLATION_REASONS)
@pytest.mark.parametrize("path", CREDENTIAL_PATHS, ids=[path.name for path in CREDENTIAL_PATHS])
def test_a_sign_in_whose_credential_transaction_is_canceled_is_a_503_and_stores_nothing(
    path: Path, rig: Rig, reason: str
) -> None:
    """Only a failed check of the user is a refused sign-in (a wrong password's 400): a
    conflict or a throttle is the dependency's failure, retryable, and nothing is stored."""
    config, dynamodb = rig.config, rig.aws["dynamodb"]
    scene = path.setup(rig.api)
    services = rig.fresh(path)

    def credentials() -> list[int]:
        return [len(_scan(dynamodb, table)) for table in (config.sessions_table, config.refresh_tokens_table)]

    before = credentials()
    with credential_transactions_canceled(dynamodb, config, reason) as refused:
        try:
            result: Any = path.act(services, scene)
        except Exception as raised:
            result = raised
    # A conflict is tried again (dynamo.put_new_checked), and lasts here: every attempt is refused.
    attempts = dynamo.CHECKED_PUT_ATTEMPTS if reason == dynamo.TRANSACTION_CONFLICT else 1
    assert refused == refused[:1] * attempts, f"{path.name}: not one credential stored with its user's check"
    _check_handler(result, "TransactWriteItems", f"{path.name}: {reason}")
    assert credentials() == before, f"{path.name}: {reason}: a credential was stored"
    assert partial_writes(dynamodb, config) == []
