"""Every credential event is audited, through the routes a person would use: a password
changed by its user and by an admin, an account archived and restored, a session, a
sign-in and a PAT revoked, and a user deleted with all their credentials; and a change
whose write's answer was lost, since it may have been stored."""

from __future__ import annotations

from typing import Any

from auth import routes
from auth.audit import MAY_NOT_BE_STORED, AuditEvent, CredentialKind
from auth.models import User
from auth.principal import AuthMethod
from auth.tokens import parse_refresh_token
from auth.wiring import ApiServices
from tests.support.audit import RecordingAudit
from tests.support.faults import Armed, FaultInjector
from tests.support.people import PASSWORD, People, call_api, context_for
from tests.unit.test_sessions import CLIENT

NEW_PASSWORD = "an entirely new passphrase"
Event = tuple[AuditEvent, CredentialKind, int, str]


class Trail:
    """The audit events recorded since the last look."""

    def __init__(self, audit: RecordingAudit) -> None:
        self._audit = audit
        self._seen = len(audit.events)

    def since(self) -> list[tuple[AuditEvent, CredentialKind, int, str, str]]:
        new = self._audit.events[self._seen :]
        self._seen = len(self._audit.events)
        return new

    def events_since(self) -> set[Event]:
        return {(event, kind, user_id, credential) for event, kind, user_id, credential, _ in self.since()}


def _path(route: routes.Route, **parameters: str) -> str:
    return route.path.format(**parameters)


def _patch(api: ApiServices, caller: User, target: User, body: dict[str, str], credential: str = "") -> None:
    context = context_for(caller, AuthMethod.SESSION if credential else AuthMethod.ACCESS_TOKEN, credential)
    path = _path(routes.UPDATE_USER, username=target.username)
    answer = call_api(api, "PATCH", path, routes.UPDATE_USER.path, context, body=body)
    assert answer.status == 200, answer.body


def test_every_credential_event_of_a_flow_is_audited(
    api: ApiServices, audit: RecordingAudit, people: People
) -> None:
    alice, bob, admin = people.alice, people.bob, people.admin
    own_session, _ = api.sessions.create(alice, CLIENT)
    other_session, _ = api.sessions.create(alice, CLIENT)
    alice_family = api.refresh_tokens.issue(alice, CLIENT)
    bob_session, _ = api.sessions.create(bob, CLIENT)
    api.refresh_tokens.issue(bob, CLIENT)
    bob_pat, _ = api.pats.create(bob, "ci", 0)
    trail = Trail(audit)

    # Alice changes her password from her session: her other logins end, that one stays.
    own_change = {"password": NEW_PASSWORD, "currentPassword": PASSWORD}
    _patch(api, alice, alice, own_change, credential=own_session.session_id)
    alice_families = {family.family_id for family in api.refresh_tokens.live_families(alice.id)}
    assert alice_families == set()
    assert trail.events_since() == {
        (AuditEvent.CHANGED, CredentialKind.PASSWORD, alice.id, ""),
        (AuditEvent.REVOKED, CredentialKind.SESSION, alice.id, other_session.session_id),
        (AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, alice.id, _family_of(api, alice_family.token)),
    }

    # An admin changes bob's: every sign-in of bob's ends, each one audited.
    bob_families = [family.family_id for family in api.refresh_tokens.live_families(bob.id)]
    _patch(api, admin, bob, {"password": NEW_PASSWORD})
    events = trail.since()
    assert {(e, k, u, c) for e, k, u, c, _ in events} == {
        (AuditEvent.CHANGED, CredentialKind.PASSWORD, bob.id, ""),
        (AuditEvent.REVOKED, CredentialKind.SESSION, bob.id, bob_session.session_id),
        *((AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, bob.id, family) for family in bob_families),
    }
    assert (AuditEvent.CHANGED, CredentialKind.PASSWORD, bob.id, "", f"changed by admin {admin.id}") in events

    # Archive and restore: every credential of bob's is suspended, then restored.
    _patch(api, admin, bob, {"state": "ARCHIVED"})
    assert trail.events_since() == {(AuditEvent.SUSPENDED, CredentialKind.ACCOUNT, bob.id, "")}
    _patch(api, admin, bob, {"state": "NORMAL"})
    assert trail.events_since() == {(AuditEvent.RESTORED, CredentialKind.ACCOUNT, bob.id, "")}

    # An admin makes bob an admin, then takes it back: each change of his rights is audited.
    _patch(api, admin, bob, {"role": "ADMIN"})
    _patch(api, admin, bob, {"role": "USER"})
    assert trail.since() == [
        (AuditEvent.CHANGED, CredentialKind.ACCOUNT, bob.id, "", f"role USER -> ADMIN by admin {admin.id}"),
        (AuditEvent.CHANGED, CredentialKind.ACCOUNT, bob.id, "", f"role ADMIN -> USER by admin {admin.id}"),
    ]

    # Sign-ins from here on verify alice and bob as their new passwords left them: one made
    # from the records read before would no longer be stored.
    alice, bob = _as_stored(api, alice), _as_stored(api, bob)

    # Alice ends a session and a sign-in from her logins page.
    second_session, _ = api.sessions.create(alice, CLIENT)
    second_family = api.refresh_tokens.issue(alice, CLIENT)
    trail.since()
    for login_id in (second_session.session_id, _family_of(api, second_family.token)):
        path = _path(routes.REVOKE_LOGIN, username="alice", id=login_id)
        answer = call_api(api, "DELETE", path, routes.REVOKE_LOGIN.path, context_for(alice))
        assert answer.status == 200, answer.body
    assert trail.events_since() == {
        (AuditEvent.REVOKED, CredentialKind.SESSION, alice.id, second_session.session_id),
        (AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, alice.id, _family_of(api, second_family.token)),
    }

    # Bob revokes his PAT.
    path = _path(routes.DELETE_PAT, username="bob", tokenId=bob_pat.token_id)
    assert call_api(api, "DELETE", path, routes.DELETE_PAT.path, context_for(bob)).status == 200
    assert trail.events_since() == {(AuditEvent.REVOKED, CredentialKind.PAT, bob.id, bob_pat.token_id)}

    # The admin deletes bob: each remaining credential, then the account.
    last_pat, _ = api.pats.create(bob, "ci", 0)
    last_session, _ = api.sessions.create(bob, CLIENT)
    last_family = api.refresh_tokens.issue(bob, CLIENT)
    trail.since()
    path = _path(routes.DELETE_USER, username="bob")
    assert call_api(api, "DELETE", path, routes.DELETE_USER.path, context_for(admin)).status == 200
    assert trail.events_since() == {
        (AuditEvent.REVOKED, CredentialKind.PAT, bob.id, last_pat.token_id),
        (AuditEvent.REVOKED, CredentialKind.SESSION, bob.id, last_session.session_id),
        (AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, bob.id, _family_of(api, last_family.token)),
        (AuditEvent.REVOKED, CredentialKind.ACCOUNT, bob.id, ""),
    }


def test_a_revoked_login_is_audited_with_who_revoked_it(
    api: ApiServices, audit: RecordingAudit, people: People
) -> None:
    alice, admin = people.alice, people.admin
    for caller, reason in ((alice, "revoked by the user"), (admin, f"revoked by admin {admin.id}")):
        session, _ = api.sessions.create(alice, CLIENT)
        family = _family_of(api, api.refresh_tokens.issue(alice, CLIENT).token)
        trail = Trail(audit)
        for login_id in (session.session_id, family):
            path = _path(routes.REVOKE_LOGIN, username="alice", id=login_id)
            answer = call_api(api, "DELETE", path, routes.REVOKE_LOGIN.path, context_for(caller))
            assert answer.status == 200, answer.body
        assert trail.since() == [
            (AuditEvent.REVOKED, CredentialKind.SESSION, alice.id, session.session_id, reason),
            (AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, alice.id, family, reason),
        ]


def test_every_refused_password_of_an_account_is_audited_and_an_unknown_username_is_not(
    api: ApiServices, audit: RecordingAudit, people: People
) -> None:
    alice, admin = people.alice, people.admin

    def sign_in(username: str, password: str) -> int:
        body = {"passwordCredentials": {"username": username, "password": password}}
        return call_api(api, "POST", routes.SIGN_IN.path, routes.SIGN_IN.path, body=body).status

    assert sign_in("alice", "not her password") == 400
    assert sign_in("nobody", PASSWORD) == 400
    wrong_current = {"password": NEW_PASSWORD, "currentPassword": "not her password"}
    context = context_for(alice, AuthMethod.SESSION, "s")
    path = _path(routes.UPDATE_USER, username="alice")
    assert call_api(api, "PATCH", path, routes.UPDATE_USER.path, context, body=wrong_current).status == 403
    _patch(api, admin, alice, {"state": "ARCHIVED"})
    assert sign_in("alice", PASSWORD) == 403
    refused = [event for event in audit.events if event[0] is AuditEvent.REFUSED]
    assert refused == [
        (AuditEvent.REFUSED, CredentialKind.PASSWORD, alice.id, "", "wrong password"),
        (AuditEvent.REFUSED, CredentialKind.PASSWORD, alice.id, "", "wrong current password"),
        (AuditEvent.REFUSED, CredentialKind.PASSWORD, alice.id, "", "user has been archived"),
    ]


def _as_stored(api: ApiServices, user: User) -> User:
    stored = api.users.get(user.id, consistent=True)
    assert stored is not None
    return stored


def _family_of(api: ApiServices, refresh_token: str) -> str:
    return parse_refresh_token(refresh_token, api.keys.verification_key, api.clock.now()).family_id


def test_a_change_whose_answer_was_lost_is_audited_as_perhaps_stored_and_a_refused_one_not(
    api: ApiServices, audit: RecordingAudit, people: People, aws: dict[str, Any]
) -> None:
    alice = people.alice
    tokens = [api.pats.create(alice, f"ci {n}", 0)[0].token_id for n in range(3)]
    faults = FaultInjector(aws["dynamodb"])
    try:

        def delete(token_id: str, armed: Armed | None) -> int:
            path = _path(routes.DELETE_PAT, username="alice", tokenId=token_id)
            faults.reset(armed)
            return call_api(api, "DELETE", path, routes.DELETE_PAT.path, context_for(alice)).status

        trail = Trail(audit)
        assert delete(tokens[0], None) == 200
        write = faults.calls.index("TransactWriteItems")
        assert trail.since() == [
            (AuditEvent.REVOKED, CredentialKind.PAT, alice.id, tokens[0], "revoked by the user")
        ]
        assert delete(tokens[1], Armed(write, "ReadTimeoutError", after=True)) == 503
        assert trail.since() == [
            (
                AuditEvent.REVOKED,
                CredentialKind.PAT,
                alice.id,
                tokens[1],
                "revoked by the user" + MAY_NOT_BE_STORED,
            )
        ]
        assert delete(tokens[2], Armed(write, "ThrottlingException")) == 503
        assert trail.since() == []
        assert [record.token_id for record in api.pats.list_for_user(alice.id)] == [tokens[2]]
    finally:
        faults.close()
