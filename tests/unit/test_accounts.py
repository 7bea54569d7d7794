"""SPEC §3: sign-up and password sign-in."""

from __future__ import annotations

from typing import Any

import pytest

from auth.audit import AuditEvent, CredentialKind
from auth.errors import AlreadyExists, InvalidArgument, PermissionDenied
from auth.models import Role, State
from auth.principal import AuthMethod, Principal
from auth.stores.user_store import user_to_item
from auth.wiring import ApiServices
from tests.support.audit import RecordingAudit

PASSWORD = "correct horse battery"
IP = "198.51.100.1"


def archive(api: ApiServices, aws: dict[str, Any], username: str) -> None:
    from dataclasses import replace

    user = api.users.get_by_username(username)
    assert user is not None
    aws["dynamodb"].put_item(TableName="UsersTable", Item=user_to_item(replace(user, state=State.ARCHIVED)))


def test_first_user_is_admin_and_later_ones_users(api: ApiServices) -> None:
    first = api.accounts.sign_up("alice", PASSWORD)
    second = api.accounts.sign_up("bob", PASSWORD)
    assert (first.role, second.role) == (Role.ADMIN, Role.USER)
    assert first.id != second.id


def test_sign_up_that_loses_the_race_to_be_first_becomes_a_user(
    api: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both sign-ups saw no owner; the second one's transaction finds the marker taken.
    api.accounts.sign_up("alice", PASSWORD)
    monkeypatch.setattr(api.users, "owner_exists", lambda: False)
    late = api.accounts.sign_up("bob", PASSWORD)
    assert late.role is Role.USER
    assert api.users.get_by_username("bob") == late


def test_every_account_made_by_sign_up_is_audited(api: ApiServices, audit: RecordingAudit) -> None:
    first = api.accounts.sign_up("alice", PASSWORD)
    second = api.accounts.sign_up("bob", PASSWORD)
    admin = Principal(first.id, "alice", Role.ADMIN, AuthMethod.ACCESS_TOKEN)
    third = api.accounts.sign_up("carol", PASSWORD, caller=admin)
    with pytest.raises(AlreadyExists):
        api.accounts.sign_up("Bob", PASSWORD)
    assert audit.events == [
        (AuditEvent.CREATED, CredentialKind.ACCOUNT, first.id, "", "signed up as ADMIN"),
        (AuditEvent.CREATED, CredentialKind.ACCOUNT, second.id, "", "signed up as USER"),
        (AuditEvent.CREATED, CredentialKind.ACCOUNT, third.id, "", f"created by admin {first.id} as USER"),
    ]


def test_duplicate_username_is_refused_whatever_the_case(api: ApiServices) -> None:
    api.accounts.sign_up("alice", PASSWORD)
    with pytest.raises(AlreadyExists):
        api.accounts.sign_up("Alice", PASSWORD)


def test_password_is_stored_as_bcrypt_hash(api: ApiServices) -> None:
    user = api.accounts.sign_up("alice", PASSWORD)
    assert user.password_hash.startswith("$2b$04$") and PASSWORD not in user.password_hash


@pytest.mark.parametrize(("username", "password"), [("-bad", PASSWORD), ("ok", "short"), ("ok", "x" * 73)])
def test_invalid_sign_up_changes_nothing(
    api: ApiServices, aws: dict[str, Any], username: str, password: str
) -> None:
    with pytest.raises(InvalidArgument):
        api.accounts.sign_up(username, password)
    assert aws["dynamodb"].scan(TableName="UsersTable")["Count"] == 0


def test_sign_in_with_the_right_password(api: ApiServices) -> None:
    created = api.accounts.sign_up("alice", PASSWORD)
    assert api.accounts.sign_in("alice", PASSWORD, IP).id == created.id


def test_unknown_user_and_wrong_password_get_the_same_answer(api: ApiServices) -> None:
    api.accounts.sign_up("alice", PASSWORD)
    answers = []
    for username, password in [("alice", "wrong password"), ("nobody", PASSWORD), ("in valid", PASSWORD)]:
        with pytest.raises(InvalidArgument) as refused:
            api.accounts.sign_in(username, password, IP)
        answers.append(refused.value.message)
    assert answers == ["unmatched username and password"] * 3


def test_unknown_user_costs_the_same_bcrypt_work_as_a_wrong_password(
    api: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing cannot tell a missing account from a wrong password: both run one bcrypt check
    at the configured cost (counted, not timed, so the test is not at the mercy of noise)."""
    import bcrypt

    api.accounts.sign_up("alice", PASSWORD)
    checks: list[int] = []
    real_checkpw = bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        checks.append(int(hashed.split(b"$")[2]))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counted)
    costs = []
    for username in ("alice", "nobody", "in valid"):
        checks.clear()
        with pytest.raises(InvalidArgument):
            api.accounts.sign_in(username, "wrong password", IP)
        costs.append(list(checks))
    assert costs == [[api.config.bcrypt_cost]] * 3


def test_archived_user_cannot_sign_in(api: ApiServices, aws: dict[str, Any]) -> None:
    api.accounts.sign_up("alice", PASSWORD)
    archive(api, aws, "alice")
    with pytest.raises(PermissionDenied):
        api.accounts.sign_in("alice", PASSWORD, IP)


def test_disallow_password_auth_stops_users_but_not_admins(api: ApiServices) -> None:
    api.accounts.sign_up("admin", PASSWORD)
    api.accounts.sign_up("bob", PASSWORD)
    api.settings.update_instance(disallow_password_auth=True)
    assert api.accounts.sign_in("admin", PASSWORD, IP).role is Role.ADMIN
    with pytest.raises(PermissionDenied, match="password signin is not allowed"):
        api.accounts.sign_in("bob", PASSWORD, IP)


def test_closed_registration_refuses_the_public_but_not_an_admin(api: ApiServices) -> None:
    admin = api.accounts.sign_up("admin", PASSWORD)
    api.settings.update_instance(disallow_user_registration=True)
    with pytest.raises(PermissionDenied):
        api.accounts.sign_up("bob", PASSWORD)
    caller = Principal(admin.id, admin.username, Role.ADMIN, AuthMethod.ACCESS_TOKEN)
    assert api.accounts.sign_up("bob", PASSWORD, caller=caller).role is Role.USER
