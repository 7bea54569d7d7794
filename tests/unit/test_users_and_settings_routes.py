"""SPEC §3: reading, changing and deleting users; instance settings."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from auth import routes
from auth.audit import AuditEvent, CredentialKind
from auth.errors import Code, InvalidArgument, PermissionDenied, SignInOutdated, Unauthenticated
from auth.models import Role, SignIn, State, User
from auth.principal import AuthMethod, Principal
from auth.routes import CREATE_SESSION, SIGN_IN, Route
from auth.user_admin import UserChanges
from auth.wiring import ApiServices
from handlers import api as api_function
from handlers.api_context import services
from handlers.observability import Metric
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext, http_event
from tests.support.metrics import counted
from tests.support.people import call_api, context_for

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new password"
IP = "203.0.113.7"


@pytest.fixture(autouse=True)
def people(api: ApiServices) -> Iterator[None]:
    api.accounts.sign_up("admin", PASSWORD, email="admin@example.com")
    api.accounts.sign_up("alice", PASSWORD, email="alice@example.com")
    api.accounts.sign_up("bob", PASSWORD, email="bob@example.com")
    services.replace(api)
    yield
    services.replace(None)


def as_user(api: ApiServices, username: str, credential_id: str = "") -> dict[str, str]:
    user = api.users.get_by_username(username)
    assert user is not None
    return context_for(user, credential_id=credential_id)


def call(
    method: str,
    path: str,
    route: str,
    caller: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    response = api_function.handler(
        http_event(
            method,
            path,
            route=route,
            body=body,
            authorizer=caller,
            headers=headers,
            cookies=cookies,
            query=query,
            path_parameters={"username": path.rsplit("/", 1)[-1]} if "{username}" in route else None,
        ),
        FakeLambdaContext(),
    )
    return response["statusCode"], json.loads(response["body"])


USER = routes.GET_USER.path


def token_of_admin(api: ApiServices) -> str:
    admin = api.users.get_by_username("admin")
    assert admin is not None, "the people fixture signs admin up"
    return api.access_tokens.issue(admin).token


def test_get_user_is_public_without_email(api: ApiServices) -> None:
    status, body = call("GET", "/api/v1/users/alice", USER)
    assert status == 200 and body["username"] == "alice" and "email" not in body


def test_get_user_shows_email_to_self_and_admin(api: ApiServices) -> None:
    token = token_of_admin(api)
    _, body = call("GET", "/api/v1/users/alice", USER, headers={"authorization": f"Bearer {token}"})
    assert body["email"] == "alice@example.com"


DEAD_CREDENTIALS = pytest.mark.parametrize(
    ("headers", "cookies"),
    [
        ({"authorization": "Bearer junk"}, None),
        (None, [f"user_session=2-{'0' * 8}-0000-4000-8000-{'0' * 12}"]),
    ],
    ids=["bad-token", "dead-session"],
)


@DEAD_CREDENTIALS
def test_a_public_route_called_with_a_credential_that_does_not_verify_is_a_401(
    headers: dict[str, str] | None, cookies: list[str] | None
) -> None:
    """Not served as anonymous: the client learns at once that its credential is dead."""
    assert call("GET", "/api/v1/users/alice", USER)[0] == 200
    status, body = call("GET", "/api/v1/users/alice", USER, headers=headers, cookies=cookies)
    assert (status, body["code"]) == (401, Code.UNAUTHENTICATED)
    sign_up = {"user": {"username": "carol", "password": "a long password"}}
    assert (
        call("POST", "/api/v1/users", "/api/v1/users", body=sign_up, headers=headers, cookies=cookies)[0]
        == 401
    )
    assert call("GET", "/api/v1/users/carol", USER)[0] == 404


@DEAD_CREDENTIALS
@pytest.mark.parametrize(
    "route", [routes.GET_SETTINGS, routes.LIST_IDENTITY_PROVIDERS], ids=["settings", "providers"]
)
def test_the_routes_that_answer_everyone_alike_ignore_a_dead_credential(
    route: Route, headers: dict[str, str] | None, cookies: list[str] | None
) -> None:
    """The sign-in page reads them with whatever cookie the browser still holds: one whose
    session ended must not hide the providers from the person signing in again."""
    anonymous = call(route.method, route.path, route.path)
    assert anonymous[0] == 200
    assert call(route.method, route.path, route.path, headers=headers, cookies=cookies) == anonymous


@pytest.mark.parametrize(("path", "status"), [("/api/v1/users/nobody", 404), ("/api/v1/users/-bad-", 400)])
def test_get_user_unknown_or_malformed(path: str, status: int) -> None:
    assert call("GET", path, USER)[0] == status


def test_list_users_is_admin_only(api: ApiServices) -> None:
    status, body = call("GET", "/api/v1/users", "/api/v1/users", caller=as_user(api, "admin"))
    assert status == 200 and sorted(u["username"] for u in body["users"]) == ["admin", "alice", "bob"]
    assert body["nextPageToken"] == ""
    assert call("GET", "/api/v1/users", "/api/v1/users", caller=as_user(api, "alice"))[0] == 403


def test_user_changes_own_profile(api: ApiServices) -> None:
    status, body = call(
        "PATCH",
        "/api/v1/users/alice",
        USER,
        caller=as_user(api, "alice"),
        body={"displayName": "Alice A.", "email": "a@example.org"},
    )
    assert status == 200 and body["displayName"] == "Alice A." and body["email"] == "a@example.org"


def test_user_cannot_change_another_user(api: ApiServices) -> None:
    status, body = call(
        "PATCH", "/api/v1/users/bob", USER, caller=as_user(api, "alice"), body={"displayName": "x"}
    )
    assert (status, body["code"]) == (403, 7)
    assert api.users.get_by_username("bob").display_name == ""


@pytest.mark.parametrize("change", [{"role": "ADMIN"}, {"state": "ARCHIVED"}])
def test_only_an_admin_changes_role_or_state(api: ApiServices, change: dict[str, str]) -> None:
    assert call("PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "alice"), body=change)[0] == 403
    status, body = call("PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "admin"), body=change)
    assert status == 200 and set(change.items()) <= set(body.items())


def test_a_user_sending_back_their_whole_user_with_its_role_and_state_changes_only_the_rest(
    api: ApiServices,
) -> None:
    # A Memos client edits the User it read and sends it whole: naming the role and state
    # the user already has is no change of either, and needs no admin.
    _, user = call("GET", "/api/v1/users/alice", USER, caller=as_user(api, "alice"))
    status, body = call(
        "PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "alice"), body={**user, "displayName": "Al"}
    )
    assert status == 200 and (body["displayName"], body["role"], body["state"]) == ("Al", "USER", "NORMAL")


def patch_alice(
    api: ApiServices, caller: str, body: Any, query: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """PATCH alice's user as `caller` with `query` (an update mask)."""
    return call("PATCH", "/api/v1/users/alice", USER, caller=as_user(api, caller), body=body, query=query)


def test_an_update_mask_changes_only_the_fields_it_names(api: ApiServices) -> None:
    # A Memos client sends back the whole User it read, maybe stale, and names what changed.
    _, stale = call("GET", "/api/v1/users/alice", USER, caller=as_user(api, "alice"))
    call(
        "PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "alice"), body={"email": "new@example.org"}
    )
    body = {**stale, "displayName": "Al", "password": NEW_PASSWORD, "currentPassword": PASSWORD}
    status, answer = patch_alice(api, "alice", body, {"updateMask": "display_name"})
    assert status == 200 and (answer["displayName"], answer["email"]) == ("Al", "new@example.org")
    alice = api.users.get_by_username("alice")
    assert (alice.display_name, alice.email) == ("Al", "new@example.org")
    assert api.accounts.sign_in("alice", PASSWORD, IP).id == alice.id, "the password did not change"


@pytest.mark.parametrize(
    "query",
    [
        {"updateMask": "displayName,email"},
        {"updateMask": "display_name, email"},
        {"update_mask": "display_name,email"},
        {"updateMask": "display_name", "update_mask": "email"},
        # Memos' fields memos-auth holds nothing of change nothing, and fail nothing.
        {"updateMask": "display_name,email,avatar_url,description"},
    ],
)
def test_an_update_mask_is_read_by_either_name_with_paths_in_either_case(
    api: ApiServices, query: dict[str, str]
) -> None:
    body = {"displayName": "Al", "email": "al@example.org", "role": "ADMIN", "avatarUrl": "x"}
    status, answer = patch_alice(api, "admin", body, query)
    assert status == 200 and (answer["displayName"], answer["email"], answer["role"]) == (
        "Al",
        "al@example.org",
        "USER",
    )


def test_a_masked_text_field_the_body_lacks_is_cleared_as_memos_clears_it(api: ApiServices) -> None:
    status, answer = patch_alice(api, "alice", {}, {"updateMask": "email"})
    assert status == 200 and answer["email"] == "" and api.users.get_by_username("alice").email == ""


def test_a_masked_password_with_its_current_one_changes_it(api: ApiServices) -> None:
    body = {"password": NEW_PASSWORD, "currentPassword": PASSWORD, "displayName": "ignored"}
    status, answer = patch_alice(api, "alice", body, {"updateMask": "password"})
    assert status == 200 and answer["displayName"] == ""
    assert api.accounts.sign_in("alice", NEW_PASSWORD, IP).username == "alice"


@pytest.mark.parametrize(
    ("mask", "named"),
    [
        ("username", "invalid update path: username"),
        ("display_name,nickname", "invalid update path: nickname"),
        ("display_name,", "invalid update path: "),
        ("password", "the update mask names password but the body has none"),
        ("role", "the update mask names role but the body has none"),
    ],
)
def test_an_update_mask_naming_what_cannot_change_is_400_and_changes_nothing(
    api: ApiServices, mask: str, named: str
) -> None:
    before = api.users.get_by_username("alice")
    status, answer = patch_alice(api, "admin", {"displayName": "Al"}, {"updateMask": mask})
    assert (status, answer["code"], answer["message"]) == (400, 3, named)
    assert api.users.get_by_username("alice") == before


def test_admin_cannot_demote_themselves(api: ApiServices) -> None:
    assert (
        call("PATCH", "/api/v1/users/admin", USER, caller=as_user(api, "admin"), body={"role": "USER"})[0]
        == 400
    )


@pytest.mark.parametrize(
    "body",
    [
        {"password": "short"},
        {"role": "GOD"},
        {"state": 1},
        {"displayName": "x" * 10_000},
        {"email": "no at sign"},
    ],
)
def test_bad_changes_are_400_and_change_nothing(api: ApiServices, body: dict[str, Any]) -> None:
    before = api.users.get_by_username("alice")
    status, answer = call("PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "alice"), body=body)
    assert (status, answer["code"]) == (400, 3)
    assert api.users.get_by_username("alice") == before


@pytest.mark.parametrize("password", ["password", "12345678", "Password1"])
@pytest.mark.parametrize("changed_by", ["alice", "admin"])
def test_a_common_password_is_refused_at_password_change(
    api: ApiServices, password: str, changed_by: str
) -> None:
    before = api.users.get_by_username("alice")
    status, answer = call(
        "PATCH", "/api/v1/users/alice", USER, caller=as_user(api, changed_by), body={"password": password}
    )
    assert (status, answer) == (400, {"code": 3, "message": "password is too common", "details": []})
    assert api.users.get_by_username("alice") == before


def test_a_strong_random_password_is_accepted_at_password_change(api: ApiServices) -> None:
    password = secrets.token_urlsafe(18)
    body = {"password": password, "currentPassword": PASSWORD}
    status, _ = call("PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "alice"), body=body)
    assert status == 200
    assert api.accounts.sign_in("alice", password, IP).username == "alice"


def test_password_change_revokes_other_sign_ins_and_old_access_tokens(
    api: ApiServices, clock: FakeClock
) -> None:
    alice = api.users.get_by_username("alice")
    assert alice is not None
    kept = api.refresh_tokens.issue(alice, client=api_client())
    other = api.refresh_tokens.issue(alice, client=api_client())
    old_access = api.access_tokens.issue(alice).token
    clock.advance(1)
    assert alice_changes_her_password(api, cookies=[f"memos_refresh={kept.token}"]) == 200
    api.refresh_tokens.rotate(kept.token)
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(other.token)
    clock.advance(api.config.revocation_lag)
    with pytest.raises(Unauthenticated):
        api.authenticator.authenticate(f"Bearer {old_access}", None)
    assert api.accounts.sign_in("alice", NEW_PASSWORD, IP).username == "alice"


def test_a_change_ends_the_access_tokens_of_its_own_second_but_not_the_callers_next(
    api: ApiServices, clock: FakeClock
) -> None:
    """`iat` counts whole seconds, the cut-off a token carries does not: a token minted from
    alice as she was, three tenths into the second her password changes in, is refused; the
    one her kept sign-in
    refreshes to in that second passes; and a second change in that second ends that one."""
    clock.advance(1 - clock.now() % 1 + 0.3)
    second = int(clock.now())
    alice = api.users.get_by_username("alice")
    assert alice is not None
    kept = api.refresh_tokens.issue(alice, client=api_client())
    minted_before = api.access_tokens.issue(alice).token
    clock.advance(0.5)
    assert alice_changes_her_password(api, cookies=[f"memos_refresh={kept.token}"]) == 200
    # What the refresh route does: the access token is minted from the user it read.
    changed, _, sign_in = api.refresh_tokens.rotate(kept.token)
    minted_after = api.access_tokens.issue(changed, sign_in).token
    clock.advance(0.1)
    with pytest.raises(Unauthenticated, match="token revoked"):
        api.authenticator.authenticate(f"Bearer {minted_before}", None)
    assert api.authenticator.authenticate(f"Bearer {minted_after}", None).username == "alice"
    admin = as_user(api, "admin")
    body = {"password": "yet another new password"}
    status, _ = call("PATCH", "/api/v1/users/alice", USER, caller=admin, body=body)
    assert status == 200
    assert int(clock.now()) == second  # all of it in one second
    clock.advance(api.config.revocation_lag)
    with pytest.raises(Unauthenticated, match="token revoked"):
        api.authenticator.authenticate(f"Bearer {minted_after}", None)


def test_a_token_minted_after_a_change_from_the_user_read_before_it_is_refused(
    api: ApiServices, clock: FakeClock
) -> None:
    """A refresh reads alice and rotates her family just before an admin changes her
    password (both sweeps end the family), then mints its access token a moment later, in
    the next second: minted from alice as she was, it is refused however late it was minted."""
    clock.advance(1 - clock.now() % 1 + 0.9)
    alice = api.users.get_by_username("alice")
    assert alice is not None
    stolen = api.refresh_tokens.issue(alice, client=api_client())
    read_before, _, sign_in = api.refresh_tokens.rotate(stolen.token)
    clock.advance(0.05)
    status, _ = call(
        "PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "admin"), body={"password": NEW_PASSWORD}
    )
    assert status == 200
    clock.advance(0.06)
    late = api.access_tokens.issue(read_before, sign_in).token
    clock.advance(api.config.revocation_lag)
    with pytest.raises(Unauthenticated, match="token revoked"):
        api.authenticator.authenticate(f"Bearer {late}", None)


def test_changes_faster_than_one_a_second_lock_no_one_out(api: ApiServices, clock: FakeClock) -> None:
    """Each change moves the cut-off past the last, ahead of the clock when they come ten a
    second; the tokens minted after the last still pass, with the lifetime they were given."""
    admin = as_user(api, "admin")
    for n in range(80):
        status, _ = call(
            "PATCH", "/api/v1/users/alice", USER, caller=admin, body={"password": f"{NEW_PASSWORD} {n}"}
        )
        assert status == 200
        clock.advance(0.1)
    changed = api.users.get_by_username("alice")
    assert changed is not None and changed.tokens_not_before > clock.now() + 60
    issued = api.access_tokens.issue(changed)
    assert issued.expires_at == int(clock.now()) + api.config.access_token_ttl
    assert api.authenticator.authenticate(f"Bearer {issued.token}", None).username == "alice"


def test_a_change_made_from_a_stale_read_of_the_user_still_ends_what_came_before_it(
    api: ApiServices, clock: FakeClock
) -> None:
    """A route may read the user eventually consistently (an admin's factor removal reads
    the owner so): a second change in the second of a first, made from alice as she was
    before both, must still move her cut-off past the first's, ending the token minted
    after the first."""
    stale = api.users.get_by_username("alice")
    admin = as_user(api, "admin")
    assert call("PATCH", "/api/v1/users/alice", USER, caller=admin, body={"password": NEW_PASSWORD})[0] == 200
    changed = api.users.get_by_username("alice", consistent=True)
    assert stale is not None and changed is not None
    after_the_first = api.access_tokens.issue(changed).token

    def write(cut_off: int) -> User:
        ended = replace(stale, tokens_not_before=cut_off)
        api.users.update(stale, ended)
        return ended

    api.revocation.end_every_login(stale, reason="a second change", write=write)
    clock.advance(api.config.revocation_lag)
    with pytest.raises(Unauthenticated, match="token revoked"):
        api.authenticator.authenticate(f"Bearer {after_the_first}", None)


def alice_changes_her_password(api: ApiServices, **kwargs: Any) -> int:
    """The status of alice's PATCH of her own password to NEW_PASSWORD."""
    caller = as_user(api, "alice")
    body = {"password": NEW_PASSWORD, "currentPassword": PASSWORD}
    return call("PATCH", "/api/v1/users/alice", USER, caller=caller, body=body, **kwargs)[0]


def api_client() -> Any:
    from auth.models import ClientInfo

    return ClientInfo("pytest", IP)


def test_a_sign_in_racing_a_password_change_does_not_survive_it(
    api: ApiServices, clock: FakeClock, audit: RecordingAudit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An intruder who knows alice's old password signs in while she changes it: their
    sign-in verified the old hash (the record read before the change) and stores its
    session and refresh family after the change swept her sign-ins but before the new
    password is written, or after it."""
    alice = api.users.get_by_username("alice")
    assert alice is not None
    revocation = api.user_admin._revocation
    sweep = revocation.revoke_sign_ins
    intruder: dict[str, str] = {}

    def sweep_then_the_intruder_signs_in(user_id: int, keep: str = "", reason: str = "") -> None:
        sweep(user_id, keep, reason)
        if not intruder:  # the first sweep: the new password is not written yet
            signed_in = SignIn.with_password(clock.now())
            intruder["cookie"] = api.sessions.create(alice, api_client(), signed_in)[1]
            intruder["refresh"] = api.refresh_tokens.issue(alice, api_client(), signed_in).token

    monkeypatch.setattr(revocation, "revoke_sign_ins", sweep_then_the_intruder_signs_in)
    assert alice_changes_her_password(api) == 200
    assert intruder, "the intruder's sign-in was not interleaved"
    # Once the change is written, a sign-in that verified the old hash stores nothing.
    seen = len(audit.events)
    with pytest.raises(InvalidArgument, match=r"^unmatched username and password$"):
        api.sessions.create(alice, api_client(), SignIn.with_password(clock.now()))
    with pytest.raises(InvalidArgument, match=r"^unmatched username and password$"):
        api.refresh_tokens.issue(alice, api_client(), SignIn.with_password(clock.now()))
    reason = SignInOutdated.audit_reason
    assert audit.events[seen:] == [
        (AuditEvent.REFUSED, CredentialKind.SESSION, alice.id, "", reason),
        (AuditEvent.REFUSED, CredentialKind.REFRESH_TOKEN, alice.id, "", reason),
    ]
    assert api.sessions.list_for_user(alice.id) == [] and api.refresh_tokens.live_families(alice.id) == []
    # And the one that got in between the sweep and the write was ended by the second sweep.
    clock.advance(api.config.revocation_lag + 1)
    with pytest.raises(Unauthenticated):
        api.authenticator.authenticate(None, intruder["cookie"])
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(intruder["refresh"])


@pytest.mark.parametrize("route", [SIGN_IN, CREATE_SESSION], ids=["signin", "sessions"])
def test_a_password_sign_in_whose_password_changed_after_it_was_checked_is_refused(
    api: ApiServices,
    clock: FakeClock,
    audit: RecordingAudit,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    route: Route,
) -> None:
    """The old password is checked, then alice's change is written before the sign-in stores
    its credential: the answer is a wrong password's, with no cookie, nothing is stored, and
    no sign-in is counted (a sign-in with the new password is)."""
    check_password = api.accounts.sign_in

    def checked_then_changed(username: str, password: str, source_ip: str, forgive: bool = True) -> User:
        user = check_password(username, password, source_ip, forgive)
        now = SignIn.with_password(clock.now())
        owner = Principal(user.id, "alice", user.role, AuthMethod.SESSION, "", now)
        api.user_admin.update(owner, "alice", UserChanges(password=NEW_PASSWORD, current_password=PASSWORD))
        return user

    monkeypatch.setattr(api.accounts, "sign_in", checked_then_changed)
    seen = len(audit.events)
    body = {"passwordCredentials": {"username": "alice", "password": PASSWORD}}
    capsys.readouterr()
    answer = call_api(api, "POST", route.path, route.path, body=body)
    assert counted(capsys, Metric.SIGN_INS) == 0
    assert (answer.status, answer.body) == (
        400,
        {"code": Code.INVALID_ARGUMENT, "message": "unmatched username and password", "details": []},
    )
    assert answer.cookies == []
    alice = api.users.get_by_username("alice")
    assert alice is not None
    assert api.sessions.list_for_user(alice.id) == [] and api.refresh_tokens.live_families(alice.id) == []
    kind = CredentialKind.SESSION if route is CREATE_SESSION else CredentialKind.REFRESH_TOKEN
    refused = (AuditEvent.REFUSED, kind, alice.id, "", SignInOutdated.audit_reason)
    assert refused in audit.events[seen:]
    monkeypatch.setattr(api.accounts, "sign_in", check_password)
    body = {"passwordCredentials": {"username": "alice", "password": NEW_PASSWORD}}
    assert call_api(api, "POST", route.path, route.path, body=body).status == 200
    assert counted(capsys, Metric.SIGN_INS) == 1


def test_user_deletes_themselves_and_every_credential(api: ApiServices, aws: dict[str, Any]) -> None:
    alice = api.users.get_by_username("alice")
    assert alice is not None
    refresh = api.refresh_tokens.issue(alice, client=api_client())
    api.pats.create(alice, "ci", 0)
    api.sessions.create(alice, api_client())
    status, body = call("DELETE", "/api/v1/users/alice", USER, caller=as_user(api, "alice"))
    assert (status, body) == (200, {})
    assert api.users.get_by_username("alice") is None
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(refresh.token)
    assert call("GET", "/api/v1/users/alice", USER)[0] == 404
    assert aws["dynamodb"].scan(TableName="PersonalAccessTokensTable")["Count"] == 0
    assert aws["dynamodb"].scan(TableName="SessionsTable")["Count"] == 0


def test_password_change_keeps_personal_access_tokens(api: ApiServices) -> None:
    alice = api.users.get_by_username("alice")
    assert alice is not None
    _, token = api.pats.create(alice, "ci", 0)
    assert alice_changes_her_password(api) == 200
    assert api.pats.find(token).user_id == alice.id


def test_deleting_a_user_deletes_their_tokens_and_sessions(api: ApiServices) -> None:
    alice = api.users.get_by_username("alice")
    assert alice is not None
    api.pats.create(alice, "ci", 0)
    api.sessions.create(alice, api_client())
    assert call("DELETE", "/api/v1/users/alice", USER, caller=as_user(api, "alice"))[0] == 200
    # SPEC §3: "every credential of theirs", not only the ones that stop working.
    assert list(api.pats.list_for_user(alice.id)) == []
    assert api.sessions.list_for_user(alice.id) == []


def test_user_cannot_delete_another(api: ApiServices) -> None:
    assert call("DELETE", "/api/v1/users/bob", USER, caller=as_user(api, "alice"))[0] == 403
    assert api.users.get_by_username("bob") is not None


def test_admin_deletes_a_user_but_not_themselves(api: ApiServices) -> None:
    assert call("DELETE", "/api/v1/users/bob", USER, caller=as_user(api, "admin"))[0] == 200
    assert call("DELETE", "/api/v1/users/admin", USER, caller=as_user(api, "admin"))[0] == 400


SETTINGS = routes.GET_SETTINGS.path


def test_settings_are_public_to_read_and_admin_only_to_change(api: ApiServices) -> None:
    assert call("GET", SETTINGS, SETTINGS) == (
        200,
        {"disallowUserRegistration": False, "disallowPasswordAuth": False},
    )
    assert (
        call(
            "PATCH", SETTINGS, SETTINGS, caller=as_user(api, "alice"), body={"disallowUserRegistration": True}
        )[0]
        == 403
    )
    status, body = call(
        "PATCH", SETTINGS, SETTINGS, caller=as_user(api, "admin"), body={"disallowUserRegistration": True}
    )
    assert status == 200 and body == {"disallowUserRegistration": True, "disallowPasswordAuth": False}
    status, body = call(
        "PATCH", SETTINGS, SETTINGS, caller=as_user(api, "admin"), body={"disallowPasswordAuth": True}
    )
    assert body == {"disallowUserRegistration": True, "disallowPasswordAuth": True}


def test_closed_registration_answers_403_to_the_public_and_lets_an_admin_create(api: ApiServices) -> None:
    api.settings.update_instance(disallow_user_registration=True)
    new = {"user": {"username": "carol", "password": PASSWORD}}
    assert call("POST", "/api/v1/users", "/api/v1/users", body=new)[0] == 403
    admin_token = token_of_admin(api)
    status, body = call(
        "POST", "/api/v1/users", "/api/v1/users", body=new, headers={"authorization": f"Bearer {admin_token}"}
    )
    assert status == 200 and body["role"] == "USER"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
def test_a_public_route_reads_the_callers_bearer_scheme_in_any_case(api: ApiServices, scheme: str) -> None:
    # handlers.api_context.optional_principal: an admin signs carol up while sign-up is closed.
    api.settings.update_instance(disallow_user_registration=True)
    admin_token = token_of_admin(api)
    new = {"user": {"username": "carol", "password": PASSWORD}}
    headers = {"authorization": f"{scheme} {admin_token}"}
    status, body = call("POST", "/api/v1/users", "/api/v1/users", body=new, headers=headers)
    assert status == 200 and body["role"] == "USER"


@pytest.mark.parametrize("body", [{"disallowUserRegistration": "yes"}, "[]", "{"])
def test_bad_settings_bodies_are_400(api: ApiServices, body: Any) -> None:
    assert call("PATCH", SETTINGS, SETTINGS, caller=as_user(api, "admin"), body=body)[0] == 400
    assert api.settings.get_instance().disallow_user_registration is False


def test_a_role_change_that_meets_another_change_is_applied_over_it(
    api: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = api.users.get_by_username("alice")
    assert alice is not None
    api.pats.create(alice, "ci", 0)
    real_save_owner = api.pats.save_owner

    def archived_just_before(before: User, after: User) -> None:
        # Another admin archives alice between this PATCH's read and its write.
        monkeypatch.setattr(api.pats, "save_owner", real_save_owner)
        real_save_owner(before, replace(before, state=State.ARCHIVED))
        real_save_owner(before, after)

    monkeypatch.setattr(api.pats, "save_owner", archived_just_before)
    status, body = call(
        "PATCH", "/api/v1/users/alice", USER, caller=as_user(api, "admin"), body={"role": "ADMIN"}
    )
    assert status == 200 and (body["role"], body["state"]) == ("ADMIN", "ARCHIVED")
    stored = api.users.get(alice.id)
    assert stored is not None and (stored.role, stored.state) == (Role.ADMIN, State.ARCHIVED)
    assert [token.owner for token in api.pats.list_for_user(alice.id)] == [stored.as_owner]


def test_a_token_created_while_its_user_is_deleted_sends_the_deletion_round_again(
    api: ApiServices, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = api.users.get_by_username("alice")
    assert alice is not None
    real_delete = api.users.delete
    attempts: list[int] = []

    def token_created_first(user: User) -> None:
        attempts.append(len(api.pats.list_for_user(user.id)))
        if len(attempts) == 1:
            api.pats.create(alice, "created after the sweep", 0)
        real_delete(user)

    monkeypatch.setattr(api.users, "delete", token_created_first)
    assert call("DELETE", "/api/v1/users/alice", USER, caller=as_user(api, "alice"))[0] == 200
    assert attempts == [0, 0]
    assert api.users.get(alice.id) is None
    assert aws["dynamodb"].scan(TableName="PersonalAccessTokensTable")["Count"] == 0


def _admin(api: ApiServices, username: str) -> Principal:
    user = api.users.get_by_username(username, consistent=True)
    assert user is not None
    return Principal(user.id, user.username, Role.ADMIN, AuthMethod.SESSION, "", SignIn.with_password(0))


def test_an_admin_demoted_by_another_cannot_demote_them_in_turn_within_the_lag(api: ApiServices) -> None:
    """The authorizer's context may say ADMIN for up to the revocation lag after a demotion:
    two admins demoting (archiving, deleting) each other must not leave no admin at all."""
    root = _admin(api, "admin")
    api.user_admin.update(root, "alice", UserChanges(role=Role.ADMIN))
    alice_as_seen = _admin(api, "alice")
    api.user_admin.update(root, "alice", UserChanges(role=Role.USER))
    for change in (UserChanges(role=Role.USER), UserChanges(state=State.ARCHIVED)):
        with pytest.raises(PermissionDenied):
            api.user_admin.update(alice_as_seen, "admin", change)
    with pytest.raises(PermissionDenied):
        api.user_admin.delete(alice_as_seen, "admin")
    kept = api.users.get_by_username("admin", consistent=True)
    assert kept is not None and kept.is_admin and kept.is_active


def test_a_change_written_again_over_another_admins_keeps_theirs_and_audits_only_its_own(
    api: ApiServices, audit: RecordingAudit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root promotes bob, sending back the state it read (NORMAL), while alice archives him:
    root's write meets alice's and is made again over it, with only what root changed."""
    root = _admin(api, "admin")
    api.user_admin.update(root, "alice", UserChanges(role=Role.ADMIN))
    alice = _admin(api, "alice")
    save_owner = api.pats.save_owner
    landed: list[bool] = []

    def alice_archives_bob_first(before: User, after: User) -> None:
        if not landed:
            landed.append(True)
            api.user_admin.update(alice, "bob", UserChanges(state=State.ARCHIVED))
        save_owner(before, after)

    monkeypatch.setattr(api.pats, "save_owner", alice_archives_bob_first)
    audit.events.clear()
    api.user_admin.update(root, "bob", UserChanges(role=Role.ADMIN, state=State.NORMAL))
    bob = api.users.get_by_username("bob", consistent=True)
    assert bob is not None and (bob.role, bob.state) == (Role.ADMIN, State.ARCHIVED)
    assert [(event, kind, reason) for event, kind, _, _, reason in audit.events] == [
        (AuditEvent.SUSPENDED, CredentialKind.ACCOUNT, f"ARCHIVED by admin {alice.user_id}"),
        (AuditEvent.CHANGED, CredentialKind.ACCOUNT, f"role USER -> ADMIN by admin {root.user_id}"),
    ]


def test_an_expired_token_stays_counted_until_its_users_next_token_deletes_it(
    api: ApiServices, clock: FakeClock, audit: RecordingAudit
) -> None:
    """The PAT table has no TTL (template.yaml): a token DynamoDB deleted by itself would
    leave alice's count too high and refuse her archive and deletion for good."""
    from auth.pats import SECONDS_PER_DAY

    alice = api.users.get_by_username("alice")
    assert alice is not None
    expiring, _ = api.pats.create(alice, "ci", 1)
    clock.advance(2 * SECONDS_PER_DAY)
    assert api.pats.list_for_user(alice.id) == []
    root = _admin(api, "admin")
    archived = api.user_admin.update(root, "alice", UserChanges(state=State.ARCHIVED))
    restored = api.user_admin.update(root, "alice", UserChanges(state=State.NORMAL))
    assert (archived.state, restored.state) == (State.ARCHIVED, State.NORMAL)
    audit.events.clear()
    fresh, _ = api.pats.create(restored, "ci again", 0)
    assert audit.events[0] == (AuditEvent.REVOKED, CredentialKind.PAT, alice.id, expiring.token_id, "expired")
    assert [record.token_id for record in api.pats._store.list_for_user(alice.id)] == [fresh.token_id]
    api.user_admin.delete(root, "alice")
    assert api.users.get(alice.id, consistent=True) is None


def test_of_two_changes_overlapping_between_read_and_write_the_cut_off_passes_both(
    api: ApiServices, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root's change of alice's password reads her cut-off; another admin's change runs whole
    and alice signs in with its password; then root's write comes. Stored over the other's,
    root's cut-off would be lower, and the token of that sign-in would outlive root's change."""
    root = replace(_admin(api, "admin"), sign_in=SignIn.with_password(clock.now()))
    write = api.user_admin._write
    seen: dict[str, Any] = {}

    def overtaken(user: User, fields: dict[str, Any]) -> tuple[User, User]:
        if not seen:
            seen["root's first cut-off"] = fields["tokens_not_before"]
            clock.advance(5)
            api.user_admin.update(root, "alice", UserChanges(password="the other admin's password"))
            signed_in = api.accounts.sign_in("alice", "the other admin's password", IP)
            seen["token"] = api.access_tokens.issue(signed_in).token
        return write(user, fields)

    monkeypatch.setattr(api.user_admin, "_write", overtaken)
    api.user_admin.update(root, "alice", UserChanges(password=NEW_PASSWORD))
    stored = api.users.get_by_username("alice", consistent=True)
    assert stored is not None and stored.tokens_not_before > seen["root's first cut-off"] + 5
    assert api.accounts.sign_in("alice", NEW_PASSWORD, IP).username == "alice"
    clock.advance(api.config.revocation_lag)
    with pytest.raises(Unauthenticated, match="token revoked"):
        api.authenticator.authenticate(f"Bearer {seen['token']}", None)


@pytest.mark.parametrize("other_changes_role", [False, True])
def test_a_password_and_role_change_overtaken_by_another_change_works_its_cut_off_out_again(
    api: ApiServices, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, other_changes_role: bool
) -> None:
    """Root's PATCH of alice's password and role goes through the PAT owner copies; another
    admin's change of her password (and, or not, her role) lands in between, in the same
    second. Root's change must still end the token of a sign-in with the other's password."""
    root = replace(_admin(api, "admin"), sign_in=SignIn.with_password(clock.now()))
    store = api.pats._store
    monkeypatch.setattr(store, "_pause", lambda _: None)
    update_owner = store.update_owner
    seen: dict[str, Any] = {}

    def overtaken(before: User, after: User) -> None:
        if not seen:
            seen["landed"] = True  # once: the other change may go through this same store
            other = UserChanges(
                password="the other admin's password", role=Role.ADMIN if other_changes_role else None
            )
            api.user_admin.update(root, "alice", other)
            signed_in = api.accounts.sign_in("alice", "the other admin's password", IP)
            seen["token"] = api.access_tokens.issue(signed_in).token
        update_owner(before, after)

    monkeypatch.setattr(store, "update_owner", overtaken)
    changed = api.user_admin.update(root, "alice", UserChanges(password=NEW_PASSWORD, role=Role.ADMIN))
    assert changed.is_admin
    assert api.accounts.sign_in("alice", NEW_PASSWORD, IP).username == "alice"
    clock.advance(api.config.revocation_lag)
    with pytest.raises(Unauthenticated, match="token revoked"):
        api.authenticator.authenticate(f"Bearer {seen['token']}", None)


def test_an_admin_demoted_within_the_lag_acts_as_an_admin_on_no_route(api: ApiServices) -> None:
    """The authorizer's context still says ADMIN for up to the revocation lag: every route
    where an admin acts on another's account, or on the instance, asks the caller's record."""
    root = _admin(api, "admin")
    api.user_admin.update(root, "alice", UserChanges(role=Role.ADMIN))
    alice = api.users.get_by_username("alice", consistent=True)
    assert alice is not None
    as_admin = context_for(alice, sign_in=SignIn.with_password(api.clock.now()))
    api.user_admin.update(root, "alice", UserChanges(role=Role.USER))
    bob = api.users.get_by_username("bob")
    assert bob is not None
    session, _ = api.sessions.create(bob, api_client())
    login = routes.REVOKE_LOGIN.path.format(username="bob", id=session.session_id)
    assert call("DELETE", login, routes.REVOKE_LOGIN.path, caller=as_admin)[0] == 403
    assert [s.session_id for s in api.sessions.list_for_user(bob.id)] == [session.session_id]
    body = {"disallowUserRegistration": True}
    assert call("PATCH", SETTINGS, routes.UPDATE_SETTINGS.path, caller=as_admin, body=body)[0] == 403
    assert not api.settings.get_instance().disallow_user_registration
    # The same context, its record ADMIN again, acts as one.
    api.user_admin.update(root, "alice", UserChanges(role=Role.ADMIN))
    assert call("DELETE", login, routes.REVOKE_LOGIN.path, caller=as_admin)[0] == 200
