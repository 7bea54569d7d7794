"""SPEC §7: TOTP enrolment and removal, recovery codes, and signing in with a second factor,
through the API handler (the caller's context as the authorizer would give it)."""

from __future__ import annotations

import base64
import urllib.parse
from typing import Any

import jwt
import pytest

from auth import routes
from auth.audit import AuditEvent, CredentialKind
from auth.errors import InvalidArgument
from auth.models import NO_SIGN_IN, Role, SignIn, State, User
from auth.principal import AuthMethod, Principal
from auth.recovery_codes import hash_code
from auth.routes import Route
from auth.user_admin import UserChanges
from auth.wiring import ApiServices
from handlers.observability import Metric
from handlers.qr_codes import svg_data_uri
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.factors import (
    Enrolled,
    challenge_of,
    code_at,
    enrol_totp,
    factor_call,
    password_step,
    refused_after_the_lag,
    second_step,
    sign_in_call,
)
from tests.support.faults import Conflicted
from tests.support.metrics import counted
from tests.support.people import PASSWORD, People, call_api, context_for, cookie_pair, principal_of
from tests.unit.test_sessions import CLIENT

MAX_AGE = 600
SIGN_IN, SESSIONS = routes.SIGN_IN, routes.CREATE_SESSION
INVALID_CHALLENGE = "the second-factor challenge is invalid or has expired; sign in again"
WRONG_CODE = {"code": 3, "message": "the code is not correct", "details": []}
TWO_FACTORS = ["pwd", "otp", "mfa"]


def factors_items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return aws["dynamodb"].scan(TableName="FactorsTable")["Items"]


def challenges(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in factors_items(aws) if item["pk"]["S"].startswith("mfa#")]


def status(api: ApiServices, people: People, who: str = "alice") -> dict[str, Any]:
    answer = factor_call(api, routes.GET_TOTP, getattr(people, who))
    assert answer.status == 200, answer.body
    return dict(answer.body)


def archive(api: ApiServices, people: People, user: User) -> None:
    admin = Principal(people.admin.id, "root", Role.ADMIN, AuthMethod.ACCESS_TOKEN)
    api.user_admin.update(admin, user.username, UserChanges(state=State.ARCHIVED))


def next_step(clock: FakeClock) -> None:
    """On to the next 30-second step: a code not yet spent."""
    clock.advance(30)


def challenged(
    api: ApiServices, clock: FakeClock, user: User, route: Route = SIGN_IN
) -> tuple[Enrolled, str]:
    """`user` with TOTP enabled, at a step not yet spent, holding the challenge `route`'s
    password step answered with."""
    enrolled = enrol_totp(api, user)
    next_step(clock)
    return enrolled, challenge_of(password_step(api, route, user))


# -- enrolment --------------------------------------------------------------------------------


def test_enrolment_gives_a_secret_and_uri_and_enables_nothing_until_confirmed(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    answer = factor_call(api, routes.ENROL_TOTP, people.alice)
    assert answer.status == 200, answer.body
    secret = answer.body["secret"]
    assert len(base64.b32decode(secret)) * 8 >= 160
    uri = f"otpauth://totp/memos:alice?secret={secret}&issuer=memos"
    # SPEC §10: the same URI as an SVG QR code for the account page (handlers.qr_codes).
    qr_code = answer.body.pop("qrCode")
    assert answer.body == {"secret": secret, "otpauthUri": uri}
    assert qr_code == svg_data_uri(uri) and qr_code.startswith("data:image/svg+xml")
    svg = urllib.parse.unquote(qr_code.split(",", 1)[1])
    assert svg.startswith("<svg") and "<script" not in svg and "style=" not in svg
    assert status(api, people) == {"enabled": False, "recoveryCodesLeft": 0}
    # Still a plain password sign-in while pending.
    assert password_step(api, SIGN_IN, people.alice).status == 200
    confirmed = factor_call(
        api, routes.CONFIRM_TOTP, people.alice, body={"code": code_at(secret, clock.now())}
    )
    assert confirmed.status == 200, confirmed.body
    codes = confirmed.body["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    assert status(api, people) == {"enabled": True, "recoveryCodesLeft": 10}
    kinds = [(e[0], e[1]) for e in audit.events if e[2] == people.alice.id]
    assert (AuditEvent.CREATED, CredentialKind.TOTP) in kinds
    assert (AuditEvent.CREATED, CredentialKind.RECOVERY_CODES) in kinds


def test_the_secret_is_not_readable_from_the_table(
    api: ApiServices, aws: dict[str, Any], people: People
) -> None:
    enrolled = enrol_totp(api, people.alice)
    (item,) = factors_items(aws)
    stored = repr(item).encode()
    for form in (enrolled.secret.encode(), base64.b32decode(enrolled.secret)):
        assert form not in stored and form not in item["secret"]["B"]
    # Recovery codes are stored as hashes only.
    assert not any(code.replace("-", "") in repr(item) for code in enrolled.recovery_codes)


def test_a_new_enrolment_replaces_a_pending_one_and_the_trail_says_so(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    first = factor_call(api, routes.ENROL_TOTP, people.alice).body["secret"]
    second = factor_call(api, routes.ENROL_TOTP, people.alice).body["secret"]
    assert first != second
    stale = factor_call(api, routes.CONFIRM_TOTP, people.alice, body={"code": code_at(first, clock.now())})
    assert (stale.status, stale.body) == (400, WRONG_CODE)
    fresh = factor_call(api, routes.CONFIRM_TOTP, people.alice, body={"code": code_at(second, clock.now())})
    assert fresh.status == 200
    events = factor_events(audit, people.alice)[:4]
    replaced, replacing = (events[0][2], events[2][2]) if len(events) == 4 else ("", "")
    assert replaced and replacing and replaced != replacing
    assert events == [
        (AuditEvent.CREATED, CredentialKind.TOTP, replaced, "pending confirmation"),
        (AuditEvent.REVOKED, CredentialKind.TOTP, replaced, "replaced by a new enrolment"),
        (AuditEvent.CREATED, CredentialKind.TOTP, replacing, "pending confirmation"),
        (AuditEvent.REFUSED, CredentialKind.TOTP, "", "wrong code at confirm"),
    ]


@pytest.mark.parametrize("code", ["000000", "12345", "abcdef", "1" * 10_000])
def test_a_wrong_or_malformed_confirm_code_is_400_and_enables_nothing(
    api: ApiServices, clock: FakeClock, people: People, code: str
) -> None:
    secret = factor_call(api, routes.ENROL_TOTP, people.alice).body["secret"]
    if code == "000000" and code_at(secret, clock.now()) == code:
        pytest.skip("the right code, by chance")
    answer = factor_call(api, routes.CONFIRM_TOTP, people.alice, body={"code": code})
    assert answer.status == 400 and answer.body["code"] == 3 and answer.body["details"] == []
    assert status(api, people) == {"enabled": False, "recoveryCodesLeft": 0}
    # The pending enrolment is untouched: the right code still confirms it.
    assert (
        factor_call(
            api, routes.CONFIRM_TOTP, people.alice, body={"code": code_at(secret, clock.now())}
        ).status
        == 200
    )


def test_confirm_without_an_enrolment_and_enrolling_twice_are_failed_preconditions(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    nothing = factor_call(api, routes.CONFIRM_TOTP, people.alice, body={"code": "123456"})
    assert (nothing.status, nothing.body["code"]) == (400, 9)
    enrolled = enrol_totp(api, people.alice)
    again = factor_call(api, routes.ENROL_TOTP, people.alice)
    assert (again.status, again.body["code"]) == (400, 9)
    reconfirm = factor_call(
        api, routes.CONFIRM_TOTP, people.alice, body={"code": code_at(enrolled.secret, clock.now() + 30)}
    )
    assert (reconfirm.status, reconfirm.body["code"]) == (400, 9)
    assert status(api, people) == {"enabled": True, "recoveryCodesLeft": 10}


CHANGES: list[tuple[Route, Any]] = [
    (routes.ENROL_TOTP, None),
    (routes.CONFIRM_TOTP, {"code": "123456"}),
    (routes.REMOVE_TOTP, None),
    (routes.REGENERATE_RECOVERY_CODES, None),
]


@pytest.mark.parametrize(("route", "body"), CHANGES, ids=[r.key for r, _ in CHANGES])
def test_every_change_of_ones_own_needs_a_recent_sign_in_and_never_a_pat(
    api: ApiServices, clock: FakeClock, people: People, route: Route, body: Any
) -> None:
    enrolled = enrol_totp(api, people.alice) if route is not routes.CONFIRM_TOTP else None
    if route is routes.CONFIRM_TOTP:
        factor_call(api, routes.ENROL_TOTP, people.alice)
    before = status(api, people)
    old = SignIn.with_password(clock.now() - MAX_AGE - 1)
    too_old = factor_call(api, route, people.alice, sign_in=old, body=body)
    assert (too_old.status, too_old.body["message"]) == (401, "recent sign-in required")
    assert too_old.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_user_authentication"')
    pat = factor_call(api, route, people.alice, sign_in=NO_SIGN_IN, method=AuthMethod.PAT, body=body)
    assert (pat.status, pat.body["code"]) == (403, 7)
    assert status(api, people) == before
    if enrolled is not None:
        # The recovery codes still work: nothing was regenerated or removed.
        assert enrolled.recovery_codes


def test_enrolment_is_the_users_own_but_an_admin_may_read(api: ApiServices, people: People) -> None:
    enrol_totp(api, people.alice)
    assert factor_call(api, routes.ENROL_TOTP, people.alice, caller=people.admin).status == 403
    assert factor_call(api, routes.REGENERATE_RECOVERY_CODES, people.alice, caller=people.admin).status == 403
    assert factor_call(api, routes.GET_TOTP, people.alice, caller=people.bob).status == 403
    assert factor_call(api, routes.REMOVE_TOTP, people.alice, caller=people.bob).status == 403
    read = factor_call(api, routes.GET_TOTP, people.alice, caller=people.admin)
    assert read.body == {"enabled": True, "recoveryCodesLeft": 10}


def test_removing_ones_own_totp_takes_the_recovery_codes_and_keeps_logins(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    enrol_totp(api, people.alice)
    api.sessions.create(people.alice, CLIENT)
    assert factor_call(api, routes.REMOVE_TOTP, people.alice).body == {}
    assert status(api, people) == {"enabled": False, "recoveryCodesLeft": 0}
    assert len(api.logins.list_for_user(people.alice.id)) == 1
    # A plain password sign-in again, as before.
    assert password_step(api, SIGN_IN, people.alice).status == 200
    assert factor_call(api, routes.REMOVE_TOTP, people.alice).status == 404
    removed = [(e[0], e[1], e[4]) for e in audit.events if e[0] is AuditEvent.REVOKED]
    assert (AuditEvent.REVOKED, CredentialKind.TOTP, "removed by the user") in removed


def test_an_admins_removal_needs_the_admins_recent_sign_in_and_ends_every_login(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    enrol_totp(api, people.alice)
    api.sessions.create(people.alice, CLIENT)
    api.refresh_tokens.issue(people.alice, CLIENT)
    # Perhaps an intruder's, with a sign-in recent enough to enrol a factor of their own.
    access_token = api.access_tokens.issue(people.alice, SignIn.with_password(clock.now())).token
    clock.advance(1)
    old = SignIn.with_password(clock.now() - MAX_AGE - 1)
    refused = factor_call(api, routes.REMOVE_TOTP, people.alice, caller=people.admin, sign_in=old)
    assert refused.status == 401
    assert status(api, people)["enabled"] is True and len(api.logins.list_for_user(people.alice.id)) == 2
    assert not refused_after_the_lag(api, clock, access_token)
    removed = factor_call(api, routes.REMOVE_TOTP, people.alice, caller=people.admin)
    assert removed.status == 200, removed.body
    assert status(api, people) == {"enabled": False, "recoveryCodesLeft": 0}
    assert api.logins.list_for_user(people.alice.id) == []
    assert refused_after_the_lag(api, clock, access_token)


def test_a_sign_in_racing_an_admins_removal_does_not_survive_it(
    api: ApiServices, clock: FakeClock, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An intruder's sign-in that verified alice before the cut-off stores its session and
    # refresh family just after the first sweep: the sweep after the cut-off ends them.
    enrol_totp(api, people.alice)
    revocation = api.user_admin._revocation
    sweep = revocation.revoke_sign_ins
    intruder: dict[str, str] = {}

    def sweep_then_the_intruder_signs_in(user_id: int, keep: str = "", reason: str = "") -> None:
        sweep(user_id, keep, reason)
        if not intruder:
            intruder["cookie"] = api.sessions.create(people.alice, CLIENT)[1]
            intruder["refresh"] = api.refresh_tokens.issue(people.alice, CLIENT).token

    monkeypatch.setattr(revocation, "revoke_sign_ins", sweep_then_the_intruder_signs_in)
    clock.advance(1)
    assert factor_call(api, routes.REMOVE_TOTP, people.alice, caller=people.admin).status == 200
    assert intruder, "the intruder's sign-in was not interleaved"
    assert api.logins.list_for_user(people.alice.id) == []
    # And one that verified alice before the cut-off but stores after it is refused.
    with pytest.raises(InvalidArgument, match=r"^unmatched username and password$"):
        api.sessions.create(people.alice, CLIENT)


def test_a_sign_in_with_the_totp_an_admin_is_removing_does_not_survive_it(
    api: ApiServices, clock: FakeClock, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The intruder (alice's password and TOTP secret) signs in, both steps, after the admin's
    # removal began to end alice's logins and before the factor is gone: that login ends too.
    enrolled = enrol_totp(api, people.alice)
    next_step(clock)
    removal = api.factor_store.remove_totp
    intruder: list[Any] = []

    def the_intruder_signs_in_first(*args: Any) -> bool:
        if not intruder:
            challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
            intruder.append(
                second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now()))
            )
        return removal(*args)

    monkeypatch.setattr(api.factor_store, "remove_totp", the_intruder_signs_in_first)
    assert factor_call(api, routes.REMOVE_TOTP, people.alice, caller=people.admin).status == 200
    assert intruder and intruder[0].status == 200, "the intruder's sign-in was not interleaved"
    assert api.logins.list_for_user(people.alice.id) == []


def test_an_admins_removal_keeps_a_profile_change_made_while_it_ran(
    api: ApiServices, clock: FakeClock, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The removal read alice before she changed her display name: it writes its cut-off,
    # never her record as it read it (the old name, the old updateTime).
    enrol_totp(api, people.alice)
    removal = api.factor_store.remove_totp
    changed: list[User] = []

    def alice_changes_her_name_first(*args: Any) -> bool:
        if not changed:
            clock.advance(5)
            own = principal_of(people.alice)
            changed.append(api.user_admin.update(own, "alice", UserChanges(display_name="Alice B")))
        return removal(*args)

    monkeypatch.setattr(api.factor_store, "remove_totp", alice_changes_her_name_first)
    clock.advance(1)
    assert factor_call(api, routes.REMOVE_TOTP, people.alice, caller=people.admin).status == 200
    stored = api.users.get(people.alice.id, consistent=True)
    assert changed and stored is not None
    assert (stored.display_name, stored.update_time) == ("Alice B", changed[0].update_time)
    assert stored.update_time > people.alice.update_time
    assert stored.tokens_not_before > people.alice.tokens_not_before


def test_an_admins_removal_of_a_totp_that_is_not_there_is_a_404_that_ends_nothing(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    api.sessions.create(people.alice, CLIENT)
    api.refresh_tokens.issue(people.alice, CLIENT)
    access_token = api.access_tokens.issue(people.alice).token
    clock.advance(1)
    missing = factor_call(api, routes.REMOVE_TOTP, people.alice, caller=people.admin)
    assert (missing.status, missing.body["message"]) == (404, "TOTP is not set up")
    assert len(api.logins.list_for_user(people.alice.id)) == 2
    assert not refused_after_the_lag(api, clock, access_token)
    assert [e for e in audit.events if e[0] is AuditEvent.REVOKED] == []


def factor_events(audit: RecordingAudit, user: User) -> list[tuple[AuditEvent, CredentialKind, str, str]]:
    """The user's TOTP and recovery-code events: (event, kind, credential id, reason)."""
    kinds = (CredentialKind.TOTP, CredentialKind.RECOVERY_CODES)
    return [(e[0], e[1], e[3], e[4]) for e in audit.events if e[2] == user.id and e[1] in kinds]


def test_every_totp_event_is_audited_from_the_enrolments_start_to_its_removal(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    enrolled = enrol_totp(api, people.alice)
    next_step(clock)
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    signed_in = second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert signed_in.status == 200, signed_in.body
    assert factor_call(api, routes.REMOVE_TOTP, people.alice).status == 200
    events = factor_events(audit, people.alice)
    enrolment = events[0][2] if events else ""
    assert enrolment and events == [
        (AuditEvent.CREATED, CredentialKind.TOTP, enrolment, "pending confirmation"),
        (AuditEvent.CREATED, CredentialKind.TOTP, enrolment, "enrolled"),
        (AuditEvent.CREATED, CredentialKind.RECOVERY_CODES, enrolment, ""),
        (AuditEvent.USED, CredentialKind.TOTP, enrolment, "signed in"),
        (AuditEvent.REVOKED, CredentialKind.TOTP, enrolment, "removed by the user"),
        (AuditEvent.REVOKED, CredentialKind.RECOVERY_CODES, enrolment, "removed by the user"),
    ]


@pytest.mark.parametrize("who", ["alice", "admin"])
def test_removing_an_enrolment_never_confirmed_is_audited(
    api: ApiServices, people: People, audit: RecordingAudit, who: str
) -> None:
    assert factor_call(api, routes.ENROL_TOTP, people.alice).status == 200
    removed = factor_call(api, routes.REMOVE_TOTP, people.alice, caller=getattr(people, who))
    assert removed.status == 200, removed.body
    by = "the user" if who == "alice" else f"admin {people.admin.id}"
    events = factor_events(audit, people.alice)
    enrolment = events[0][2] if events else ""
    # No recovery codes were ever made: none are revoked.
    assert enrolment and events == [
        (AuditEvent.CREATED, CredentialKind.TOTP, enrolment, "pending confirmation"),
        (AuditEvent.REVOKED, CredentialKind.TOTP, enrolment, f"removed by {by}"),
    ]


def test_regenerated_recovery_codes_replace_the_old_ones(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    none = factor_call(api, routes.REGENERATE_RECOVERY_CODES, people.alice)
    assert (none.status, none.body["code"]) == (400, 9)
    old = enrol_totp(api, people.alice).recovery_codes
    new = factor_call(api, routes.REGENERATE_RECOVERY_CODES, people.alice).body["recoveryCodes"]
    assert len(new) == 10 and not set(new) & set(old)
    record = api.factors.enabled_totp(people.alice.id)
    assert record is not None
    changed = (
        AuditEvent.CHANGED,
        CredentialKind.RECOVERY_CODES,
        people.alice.id,
        record.enrolment_id,
        "regenerated",
    )
    assert changed in audit.events
    refused = second_step(
        api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), recoveryCode=old[0]
    )
    assert (refused.status, refused.body) == (400, WRONG_CODE)
    accepted = second_step(
        api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), recoveryCode=new[0]
    )
    assert accepted.status == 200, accepted.body


def test_deleting_the_user_deletes_their_factor(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    enrol_totp(api, people.alice)
    record = api.factor_store.get_totp(people.alice.id)
    assert record is not None and record.enabled
    path = routes.DELETE_USER.path.format(username="alice")
    assert call_api(api, "DELETE", path, routes.DELETE_USER.path, context_for(people.alice)).status == 200
    assert [i for i in factors_items(aws) if i["pk"]["S"].startswith("totp#")] == []
    factor_kinds = (CredentialKind.TOTP, CredentialKind.RECOVERY_CODES)
    revoked = [e[1:] for e in audit.events if e[0] is AuditEvent.REVOKED and e[1] in factor_kinds]
    assert revoked == [
        (CredentialKind.TOTP, people.alice.id, record.enrolment_id, "user deleted"),
        (CredentialKind.RECOVERY_CODES, people.alice.id, record.enrolment_id, "user deleted"),
    ]


# -- signing in with a factor -------------------------------------------------------------------


@pytest.mark.parametrize("route", [SIGN_IN, SESSIONS], ids=["signin", "sessions"])
def test_the_password_step_asks_for_the_second_factor_with_no_token_or_cookie(
    api: ApiServices, people: People, route: Route
) -> None:
    enrol_totp(api, people.alice)
    answer = password_step(api, route, people.alice)
    challenge = challenge_of(answer)
    assert answer.body == {
        "code": 9,
        "message": "second factor required",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "MFA_REQUIRED",
                "domain": "memos-auth",
                "metadata": {"mfaChallenge": challenge, "methods": "totp,recoveryCode"},
            }
        ],
    }
    assert answer.cookies == [] and "accessToken" not in answer.body
    # Users without a factor are not affected.
    assert password_step(api, route, people.bob).status == 200


def test_a_totp_second_step_issues_tokens_and_the_refresh_cookie_with_two_factors(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    answer = second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert answer.status == 200, answer.body
    assert answer.body["user"]["username"] == "alice"
    claims = jwt.decode(answer.body["accessToken"], options={"verify_signature": False})
    assert claims["amr"] == TWO_FACTORS and claims["auth_time"] == int(clock.now())
    (cookie,) = answer.cookies
    assert cookie.startswith("memos_refresh=")
    # The refresh family keeps the two-factor sign-in.
    refreshed = call_api(api, "POST", routes.REFRESH.path, routes.REFRESH.path, cookies=[cookie_pair(cookie)])
    renewed = jwt.decode(refreshed.body["accessToken"], options={"verify_signature": False})
    assert renewed["amr"] == TWO_FACTORS


def test_a_session_second_step_sets_the_session_cookie_with_two_factors(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice, SESSIONS)
    answer = second_step(api, SESSIONS, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert answer.status == 200, answer.body
    (cookie,) = answer.cookies
    assert cookie.startswith("user_session=")
    (session,) = api.sessions.list_for_user(people.alice.id)
    assert session.sign_in.amr == tuple(TWO_FACTORS)


def test_the_step_used_to_confirm_is_never_accepted_again(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    enrolled = enrol_totp(api, people.alice)
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    replay = second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert (replay.status, replay.body) == (400, WRONG_CODE)
    assert (AuditEvent.REUSE_REFUSED, CredentialKind.TOTP) in [(e[0], e[1]) for e in audit.events]


def test_the_same_code_twice_in_a_row_is_refused_the_second_time(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    code = code_at(enrolled.secret, clock.now())
    assert second_step(api, SIGN_IN, challenge, totpCode=code).status == 200
    again = second_step(api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), totpCode=code)
    assert (again.status, again.body) == (400, WRONG_CODE)
    # An earlier step than the one accepted is refused too, though within the drift.
    clock.advance(1)
    earlier = code_at(enrolled.secret, clock.now(), offset=-1)
    older = second_step(
        api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), totpCode=earlier
    )
    assert older.status == 400


def test_a_code_of_a_secret_removed_while_it_is_checked_does_not_sign_in(
    api: ApiServices, clock: FakeClock, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, challenge = challenged(api, clock, people.alice)
    spend = api.factor_store.spend_step
    renewed: list[str] = []

    def after_a_new_enrolment(*args: Any) -> Any:
        # Between the check of the code and its spending, alice removes TOTP and enrols a new
        # secret, confirmed with an earlier step's code: the step alone would let it through.
        assert factor_call(api, routes.REMOVE_TOTP, people.alice).status == 200
        renewed.append(factor_call(api, routes.ENROL_TOTP, people.alice).body["secret"])
        body = {"code": code_at(renewed[0], clock.now(), -1)}
        assert factor_call(api, routes.CONFIRM_TOTP, people.alice, body=body).status == 200
        return spend(*args)

    monkeypatch.setattr(api.factor_store, "spend_step", after_a_new_enrolment)
    answer = second_step(api, SIGN_IN, challenge, totpCode=code_at(old.secret, clock.now()))
    assert (answer.status, answer.body) == (400, WRONG_CODE)
    monkeypatch.undo()
    # The new secret's code of that step is what signs in.
    fresh = challenge_of(password_step(api, SIGN_IN, people.alice))
    assert second_step(api, SIGN_IN, fresh, totpCode=code_at(renewed[0], clock.now())).status == 200


@pytest.mark.parametrize(("offset", "accepted"), [(-1, True), (1, True), (-2, False), (2, False)])
def test_one_step_of_drift_is_accepted_two_are_not(
    api: ApiServices, clock: FakeClock, people: People, offset: int, accepted: bool
) -> None:
    enrolled = enrol_totp(api, people.alice)
    clock.advance(5 * 30)
    code = code_at(enrolled.secret, clock.now(), offset)
    window = {code_at(enrolled.secret, clock.now(), o) for o in (-1, 0, 1)}
    if not accepted and code in window:
        pytest.skip("the code repeats within the window, by chance")
    answer = second_step(api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), totpCode=code)
    assert (answer.status == 200) is accepted, answer.body


def test_each_recovery_code_works_once(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    enrolled = enrol_totp(api, people.alice)
    code = enrolled.recovery_codes[3]
    first = second_step(
        api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), recoveryCode=code.upper()
    )
    assert first.status == 200, first.body
    claims = jwt.decode(first.body["accessToken"], options={"verify_signature": False})
    assert claims["amr"] == TWO_FACTORS
    assert status(api, people) == {"enabled": True, "recoveryCodesLeft": 9}
    again = second_step(
        api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), recoveryCode=code
    )
    assert (again.status, again.body) == (400, WRONG_CODE)
    used = [e for e in audit.events if e[0] is AuditEvent.USED]
    assert used == [
        (AuditEvent.USED, CredentialKind.RECOVERY_CODES, people.alice.id, used[0][3], "signed in, 9 left")
    ]
    # No audit event carries a code or its hash.
    assert not any(code in str(e) or hash_code(code) in str(e) for e in audit.events)


def test_without_recovery_codes_left_only_totp_is_offered(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    enrolled = enrol_totp(api, people.alice)
    for code in enrolled.recovery_codes:
        answer = second_step(
            api, SIGN_IN, challenge_of(password_step(api, SIGN_IN, people.alice)), recoveryCode=code
        )
        assert answer.status == 200
    last = password_step(api, SIGN_IN, people.alice)
    assert last.body["details"][0]["metadata"]["methods"] == "totp"


# -- the challenge ----------------------------------------------------------------------------


def test_a_challenge_lives_five_minutes(api: ApiServices, clock: FakeClock, people: People) -> None:
    enrolled = enrol_totp(api, people.alice)
    challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
    clock.advance(300)
    late = second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert (late.status, late.body["message"]) == (400, INVALID_CHALLENGE)
    fresh = challenge_of(password_step(api, SIGN_IN, people.alice))
    clock.advance(299)
    assert second_step(api, SIGN_IN, fresh, totpCode=code_at(enrolled.secret, clock.now())).status == 200


def test_a_challenge_is_used_once(api: ApiServices, clock: FakeClock, people: People) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    assert second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now())).status == 200
    next_step(clock)
    again = second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert (again.status, again.body["message"]) == (400, INVALID_CHALLENGE)
    reused = second_step(api, SIGN_IN, challenge, recoveryCode=enrolled.recovery_codes[0])
    assert reused.status == 400 and status(api, people)["recoveryCodesLeft"] == 10


def test_a_challenge_dies_after_five_wrong_codes(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, people: People, audit: RecordingAudit
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    right = code_at(enrolled.secret, clock.now())
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        answer = second_step(api, SIGN_IN, challenge, totpCode=wrong)
        assert (answer.status, answer.body) == (400, WRONG_CODE)
    refusals = [e for e in audit.events if e[0] is AuditEvent.REFUSED and e[1] is CredentialKind.TOTP]
    assert len(refusals) == 5
    # From another address (so the throttle does not answer first): the right code is too late.
    dead = second_step(api, SIGN_IN, challenge, source_ip="198.51.100.9", totpCode=right)
    assert (dead.status, dead.body["message"]) == (400, INVALID_CHALLENGE)
    assert challenges(aws) == []


UNAVAILABLE = {"code": 14, "message": "storage unavailable", "details": []}


def throttle_items(api: ApiServices, aws: dict[str, Any]) -> list[dict[str, Any]]:
    scanned = aws["dynamodb"].scan(TableName=api.config.settings_table)["Items"]
    return [item for item in scanned if item["pk"]["S"].startswith("throttle#")]


@pytest.mark.parametrize("method", ["totpCode", "recoveryCode"])
def test_a_code_whose_spending_meets_a_concurrent_transaction_is_a_503_that_counts_nothing(
    api: ApiServices,
    conflicted: Conflicted,
    aws: dict[str, Any],
    clock: FakeClock,
    people: People,
    audit: RecordingAudit,
    method: str,
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    code = code_at(enrolled.secret, clock.now()) if method == "totpCode" else enrolled.recovery_codes[0]
    before = (challenges(aws), throttle_items(api, aws), len(audit.events))
    # Another write on the challenge (a concurrent wrong guess) is in flight: nothing was
    # refused, so it is not a wrong code, and the client may retry.
    answer = conflicted.once(lambda services: second_step(services, SIGN_IN, challenge, **{method: code}))
    assert (answer.status, answer.body) == (503, UNAVAILABLE)
    assert (challenges(aws), throttle_items(api, aws), len(audit.events)) == before
    retried = second_step(api, SIGN_IN, challenge, **{method: code})
    assert retried.status == 200, retried.body


def test_wrong_codes_are_failed_sign_ins_in_the_password_throttle(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    enrol_totp(api, people.alice)
    for _ in range(5):
        challenge = challenge_of(password_step(api, SIGN_IN, people.alice))
        assert second_step(api, SIGN_IN, challenge, recoveryCode="aaaa-aaaa-aaaa").status == 400
    throttled = password_step(api, SIGN_IN, people.alice)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    # Another address is not locked out.
    assert password_step(api, SIGN_IN, people.alice, source_ip="198.51.100.9").status == 400


def test_a_challenge_from_one_route_cannot_finish_the_other(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    code = code_at(enrolled.secret, clock.now())
    crossed = second_step(api, SESSIONS, challenge, totpCode=code)
    assert (crossed.status, crossed.body["message"], crossed.cookies) == (400, INVALID_CHALLENGE, [])
    # That changed nothing: the challenge and the code still finish the route they belong to.
    assert second_step(api, SIGN_IN, challenge, totpCode=code).status == 200


def test_someone_elses_challenge_does_not_take_your_code(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    alices = enrol_totp(api, people.alice)
    enrol_totp(api, people.bob)
    next_step(clock)
    bobs_challenge = challenge_of(password_step(api, SIGN_IN, people.bob))
    answer = second_step(api, SIGN_IN, bobs_challenge, totpCode=code_at(alices.secret, clock.now()))
    assert (answer.status, answer.cookies) == (400, [])
    assert "accessToken" not in answer.body
    # Alice's code was not spent by it.
    own = challenge_of(password_step(api, SIGN_IN, people.alice))
    assert second_step(api, SIGN_IN, own, totpCode=code_at(alices.secret, clock.now())).status == 200


BAD_SECOND_STEPS: list[tuple[str, Any]] = [
    ("a 10 kB code", {"totpCode": "1" * 10_000}),
    ("a 10 kB recovery code", {"recoveryCode": "a" * 10_000}),
    ("both codes", {"totpCode": "123456", "recoveryCode": "aaaa-aaaa-aaaa"}),
    ("no code", {}),
    ("a code that is not a string", {"totpCode": 123456}),
    # Malformed, so no guess at all: refused before the challenge or the throttle is touched.
    ("a five-digit code", {"totpCode": "12345"}),
    ("a seven-digit code", {"totpCode": "1234567"}),
    ("a code of Arabic-Indic digits", {"totpCode": "\u0661\u0662\u0663\u0664\u0665\u0666"}),
    ("a code of full-width digits", {"totpCode": "\uff11\uff12\uff13\uff14\uff15\uff16"}),
    ("a code with a space", {"totpCode": "123 456"}),
    ("a recovery code outside the alphabet", {"recoveryCode": "aaaa-aaaa-aaa1"}),
    ("a recovery code too short", {"recoveryCode": "aaaa-aaaa-aaa"}),
]


@pytest.mark.parametrize(("name", "code"), BAD_SECOND_STEPS, ids=[n for n, _ in BAD_SECOND_STEPS])
def test_bad_second_steps_are_400s_that_change_nothing(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, people: People, name: str, code: Any
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    before = challenges(aws)
    throttled = throttle_items(api, aws)
    answer = sign_in_call(api, SIGN_IN, {"mfaCredentials": {"challenge": challenge, **code}})
    assert answer.status == 400 and answer.body["code"] == 3 and answer.body["details"] == []
    assert answer.cookies == []
    assert challenges(aws) == before
    assert throttle_items(api, aws) == throttled
    assert second_step(api, SIGN_IN, challenge, totpCode=code_at(enrolled.secret, clock.now())).status == 200


@pytest.mark.parametrize("challenge", ["", "short", "x" * 43 + "!", "y" * 10_000, "A" * 43])
def test_a_malformed_or_unknown_challenge_is_a_400(api: ApiServices, people: People, challenge: str) -> None:
    enrol_totp(api, people.alice)
    answer = second_step(api, SIGN_IN, challenge, totpCode="123456")
    assert answer.status == 400 and answer.body["code"] == 3 and answer.cookies == []


def test_password_and_mfa_credentials_together_or_neither_are_400s(api: ApiServices, people: People) -> None:
    for body in (
        {},
        {
            "passwordCredentials": {"username": "bob", "password": "x" * 8},
            "mfaCredentials": {"challenge": "A" * 43, "totpCode": "123456"},
        },
    ):
        answer = sign_in_call(api, SIGN_IN, body)
        assert (answer.status, answer.body["code"]) == (400, 3)


@pytest.mark.parametrize("route", [SIGN_IN, SESSIONS], ids=["signin", "sessions"])
def test_archived_users_disallowed_password_auth_and_throttling_come_before_any_challenge(
    api: ApiServices, aws: dict[str, Any], people: People, route: Route
) -> None:
    enrol_totp(api, people.alice)
    enrol_totp(api, people.bob)
    api.settings.update_instance(disallow_password_auth=True)
    assert password_step(api, route, people.alice).status == 403
    api.settings.update_instance(disallow_password_auth=False)
    archive(api, people, people.bob)
    assert password_step(api, route, people.bob).status == 403
    for _ in range(5):
        body = {"passwordCredentials": {"username": "alice", "password": "not the password"}}
        assert sign_in_call(api, route, body).status == 400
    assert password_step(api, route, people.alice).status == 429
    assert challenges(aws) == []


def change_password(api: ApiServices, clock: FakeClock, user: User) -> None:
    """`user` changes their own password (from a session of theirs, signed in just now)."""
    just_now = SignIn.with_password(clock.now())
    owner = Principal(user.id, user.username, user.role, AuthMethod.SESSION, "", just_now)
    changes = UserChanges(password="an entirely new passphrase", current_password=PASSWORD)
    api.user_admin.update(owner, user.username, changes)


@pytest.mark.parametrize("route", [SIGN_IN, SESSIONS], ids=["signin", "sessions"])
def test_a_second_step_after_the_password_changed_is_refused(
    api: ApiServices, clock: FakeClock, people: People, route: Route
) -> None:
    """The first step verified the old password: once it is changed, that step no longer holds."""
    enrolled, challenge = challenged(api, clock, people.alice, route)
    change_password(api, clock, people.alice)
    answer = second_step(api, route, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert (answer.status, answer.body["message"], answer.cookies) == (400, INVALID_CHALLENGE, [])
    assert api.logins.list_for_user(people.alice.id) == []


@pytest.mark.parametrize("route", [SIGN_IN, SESSIONS], ids=["signin", "sessions"])
def test_a_second_step_racing_a_password_change_stores_no_credential(
    api: ApiServices,
    clock: FakeClock,
    people: People,
    audit: RecordingAudit,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    route: Route,
) -> None:
    """The password changes after the second step read the user and spent the code, before
    its session or refresh family is stored: refused as a wrong password, nothing stored,
    no sign-in counted."""
    enrolled, challenge = challenged(api, clock, people.alice, route)
    spend = api.factor_store.spend_step

    def spent_then_changed(*args: Any, **kwargs: Any) -> Any:
        refused = spend(*args, **kwargs)
        change_password(api, clock, people.alice)
        return refused

    monkeypatch.setattr(api.factor_store, "spend_step", spent_then_changed)
    seen = len(audit.events)
    capsys.readouterr()
    answer = second_step(api, route, challenge, totpCode=code_at(enrolled.secret, clock.now()))
    assert (answer.status, answer.body["message"], answer.cookies) == (
        400,
        "unmatched username and password",
        [],
    )
    assert counted(capsys, Metric.SIGN_INS) == 0
    assert api.logins.list_for_user(people.alice.id) == []
    kind = CredentialKind.SESSION if route is SESSIONS else CredentialKind.REFRESH_TOKEN
    reason = "refused: the user's credentials changed during the sign-in"
    assert (AuditEvent.REFUSED, kind, people.alice.id, "", reason) in audit.events[seen:]


@pytest.mark.parametrize("method", ["totpCode", "recoveryCode"])
def test_a_user_archived_between_the_steps_is_refused_and_the_refusal_is_audited(
    api: ApiServices, clock: FakeClock, people: People, audit: RecordingAudit, method: str
) -> None:
    enrolled, challenge = challenged(api, clock, people.alice)
    archive(api, people, people.alice)
    seen = len(audit.events)
    code = code_at(enrolled.secret, clock.now()) if method == "totpCode" else enrolled.recovery_codes[0]
    answer = second_step(api, SIGN_IN, challenge, **{method: code})
    assert (answer.status, answer.cookies) == (403, [])
    kind = CredentialKind.TOTP if method == "totpCode" else CredentialKind.RECOVERY_CODES
    assert audit.events[seen:] == [(AuditEvent.REFUSED, kind, people.alice.id, "", "user has been archived")]
