"""SPEC §1/§3: refresh tokens rotate on every use; reuse revokes the family (RFC 9700)."""

from __future__ import annotations

from typing import Any

import pytest

from auth.audit import AuditEvent, CredentialKind
from auth.errors import Unauthenticated
from auth.models import ClientInfo, SignIn
from auth.refresh_tokens import RefreshReuseDetected
from auth.tokens import parse_refresh_token
from auth.wiring import ApiServices
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock

PASSWORD = "correct horse battery"
CLIENT = ClientInfo("pytest", "203.0.113.7")


@pytest.fixture
def signed_in(api: ApiServices) -> tuple[ApiServices, str]:
    user = api.accounts.sign_up("alice", PASSWORD)
    return api, api.refresh_tokens.issue(user, CLIENT).token


def test_rotation_returns_a_new_token_and_retires_the_old(signed_in: tuple[ApiServices, str]) -> None:
    api, first = signed_in
    user, second, _ = api.refresh_tokens.rotate(first)
    assert user.username == "alice" and second.token != first
    _, third, _ = api.refresh_tokens.rotate(second.token)
    assert third.token not in (first, second.token)


def test_reuse_revokes_the_whole_family(signed_in: tuple[ApiServices, str]) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    with pytest.raises(RefreshReuseDetected):
        api.refresh_tokens.rotate(first)
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(second.token)


def test_a_token_rotated_by_another_container_counts_as_reuse(signed_in: tuple[ApiServices, str]) -> None:
    # Concurrent rotations race on one conditional update; the real race runs against
    # DynamoDB Local in tests/e2e (moto does not make conditional writes atomic).
    api, token = signed_in
    api.refresh_tokens.rotate(token)
    with pytest.raises(RefreshReuseDetected):
        api.refresh_tokens.rotate(token)


def test_revoked_family_is_refused(signed_in: tuple[ApiServices, str]) -> None:
    api, token = signed_in
    user = api.users.get_by_username("alice")
    assert user is not None and api.refresh_tokens.revoke(token, user.id)
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(token)


def test_someone_elses_token_is_not_revoked(signed_in: tuple[ApiServices, str]) -> None:
    api, token = signed_in
    assert not api.refresh_tokens.revoke(token, user_id=999)
    api.refresh_tokens.rotate(token)


def test_expired_refresh_token_is_refused(signed_in: tuple[ApiServices, str], clock: FakeClock) -> None:
    api, token = signed_in
    clock.advance(api.config.refresh_token_ttl)
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(token)


def test_family_records_the_client(signed_in: tuple[ApiServices, str], aws: dict[str, Any]) -> None:
    item = aws["dynamodb"].scan(TableName="RefreshTokensTable")["Items"][0]
    assert item["userAgent"]["S"] == "pytest" and item["ipAddress"]["S"] == "203.0.113.7"
    assert "token" not in " ".join(item).lower().replace("currenttokenid", "")


def test_audit_records_created_first_use_reuse_and_revocation(
    signed_in: tuple[ApiServices, str], audit: RecordingAudit
) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    api.refresh_tokens.rotate(second.token)
    with pytest.raises(RefreshReuseDetected):
        api.refresh_tokens.rotate(first)
    family = parse_refresh_token(first, api.keys.verification_key, api.clock.now()).family_id
    user = api.users.get_by_username("alice")
    assert user is not None
    assert [(event, kind, user_id, credential) for event, kind, user_id, credential, _ in audit.events] == [
        (AuditEvent.CREATED, CredentialKind.REFRESH_TOKEN, user.id, family),
        (AuditEvent.FIRST_USED, CredentialKind.REFRESH_TOKEN, user.id, family),
        (AuditEvent.REUSE_REFUSED, CredentialKind.REFRESH_TOKEN, user.id, family),
        (AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, user.id, family),
    ], "the second rotation is not a first use"


def test_sign_out_is_audited_as_a_revocation(
    signed_in: tuple[ApiServices, str], audit: RecordingAudit
) -> None:
    api, token = signed_in
    user = api.users.get_by_username("alice")
    assert user is not None
    api.refresh_tokens.revoke(token, user.id)
    assert audit.events[-1][0] is AuditEvent.REVOKED and audit.events[-1][4] == "signed out"


def test_audit_never_names_the_token(signed_in: tuple[ApiServices, str], audit: RecordingAudit) -> None:
    api, token = signed_in
    _, rotated, _ = api.refresh_tokens.rotate(token)
    recorded = repr(audit.events)
    for secret in (token, rotated.token, token.split(".")[2], rotated.token.split(".")[2]):
        assert secret not in recorded


def test_a_refresh_keeps_the_sign_in_of_its_family(api: ApiServices, clock: FakeClock) -> None:
    alice = api.accounts.sign_up("alice", PASSWORD)
    signed_in = SignIn.with_password(clock.now())
    token = api.refresh_tokens.issue(alice, CLIENT, signed_in).token
    clock.advance(3600)
    _, rotated, kept = api.refresh_tokens.rotate(token)
    clock.advance(3600)
    _, _, kept_again = api.refresh_tokens.rotate(rotated.token)
    # Refreshing never makes the sign-in look recent (RFC 9470): it is the one of the family.
    assert kept == kept_again == signed_in
