"""SPEC §1/§3: refresh tokens rotate on every use; reuse revokes the family (RFC 9700)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import jwt
import pytest

from auth.audit import AuditEvent, CredentialKind
from auth.config import Config
from auth.errors import Unauthenticated
from auth.models import ClientInfo
from auth.refresh_tokens import RefreshReuseDetected
from auth.tokens import RefreshClaims, mint_refresh_token, parse_refresh_token
from auth.wiring import ApiServices, build_api_services
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock

PASSWORD = "correct horse battery"
CLIENT = ClientInfo("pytest", "203.0.113.7")


def assert_reuse_ends_the_family(api: ApiServices, reused: str, current: str) -> None:
    """`reused` is refused as a reuse, and `current` died with its family (RFC 9700 §4.14.2)."""
    with pytest.raises(RefreshReuseDetected):
        api.refresh_tokens.rotate(reused)
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(current)


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


def test_reuse_revokes_the_whole_family(signed_in: tuple[ApiServices, str], clock: FakeClock) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    clock.advance(api.config.refresh_reuse_grace)  # past the retry grace
    assert_reuse_ends_the_family(api, first, second.token)


def test_a_token_rotated_by_another_container_counts_as_reuse(
    signed_in: tuple[ApiServices, str], clock: FakeClock
) -> None:
    # Concurrent rotations race on one conditional update; the real race runs against
    # DynamoDB Local in tests/e2e (moto does not make conditional writes atomic).
    api, token = signed_in
    api.refresh_tokens.rotate(token)
    clock.advance(api.config.refresh_reuse_grace)
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
        (AuditEvent.CREATED, CredentialKind.ACCOUNT, user.id, ""),  # her sign-up
        (AuditEvent.CREATED, CredentialKind.REFRESH_TOKEN, user.id, family),
        (AuditEvent.FIRST_USED, CredentialKind.REFRESH_TOKEN, user.id, family),
        (AuditEvent.REUSE_REFUSED, CredentialKind.REFRESH_TOKEN, user.id, family),
        (AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, user.id, family),
    ], "the second rotation is not a first use"


def test_sign_out_is_audited_as_a_revocation_and_a_later_use_as_refused(
    signed_in: tuple[ApiServices, str], audit: RecordingAudit
) -> None:
    api, token = signed_in
    user = api.users.get_by_username("alice")
    assert user is not None
    api.refresh_tokens.revoke(token, user.id)
    assert audit.events[-1][0] is AuditEvent.REVOKED and audit.events[-1][4] == "signed out"
    family = audit.events[-1][3]
    # Whoever still holds the token after that is refused, and the trail says so.
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(token)
    refused = (AuditEvent.REFUSED, CredentialKind.REFRESH_TOKEN, user.id, family, "its sign-in was revoked")
    assert audit.events[-1] == refused


def test_audit_never_names_the_token(signed_in: tuple[ApiServices, str], audit: RecordingAudit) -> None:
    api, token = signed_in
    _, rotated, _ = api.refresh_tokens.rotate(token)
    recorded = repr(audit.events)
    for secret in (token, rotated.token, token.split(".")[2], rotated.token.split(".")[2]):
        assert secret not in recorded


# -- retry-safe refresh (SPEC §3): the token just rotated away, within the grace ------------


def claims_of(api: ApiServices, token: str) -> RefreshClaims:
    return parse_refresh_token(token, api.keys.verification_key, api.clock.now())


def family_item(aws: dict[str, Any], family_id: str) -> dict[str, Any]:
    item = aws["dynamodb"].get_item(
        TableName="RefreshTokensTable", Key={"familyId": {"S": family_id}}, ConsistentRead=True
    )["Item"]
    assert isinstance(item, dict)
    return item


def test_the_grace_is_configured_from_the_environment() -> None:
    assert Config.from_env({}).refresh_reuse_grace == 30
    assert Config.from_env({"REFRESH_REUSE_GRACE_SECONDS": "0"}).refresh_reuse_grace == 0
    assert Config.from_env({"REFRESH_REUSE_GRACE_SECONDS": "5"}).refresh_reuse_grace == 5


def test_rotation_records_the_token_it_replaced_and_when(
    signed_in: tuple[ApiServices, str], aws: dict[str, Any], clock: FakeClock
) -> None:
    api, first = signed_in
    clock.advance(7)
    _, second, _ = api.refresh_tokens.rotate(first)
    item = family_item(aws, claims_of(api, first).family_id)
    assert item["currentTokenId"]["S"] == claims_of(api, second.token).token_id
    assert item["previousTokenId"]["S"] == claims_of(api, first).token_id
    assert item["rotatedAt"]["N"] == str(int(clock.now()))


def test_the_previous_token_within_the_grace_answers_for_the_current_one(
    signed_in: tuple[ApiServices, str], aws: dict[str, Any], clock: FakeClock, audit: RecordingAudit
) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    family_id = claims_of(api, first).family_id
    rotated = family_item(aws, family_id)
    events = len(audit.events)
    clock.advance(api.config.refresh_reuse_grace - 1)  # the last second inside the grace
    user, again, _ = api.refresh_tokens.rotate(first)
    assert user.username == "alice"
    assert again.token not in (first, second.token), "a new token (new iat), not a replay"
    retried, current = claims_of(api, again.token), claims_of(api, second.token)
    # Same family, same token id as the current one: nothing forked.
    assert (retried.family_id, retried.token_id) == (family_id, current.token_id)
    assert retried.issued_at == int(clock.now())
    # It expires with the family: the server honours it no longer than that.
    assert again.expires_at == retried.expires_at == int(rotated["expiresAt"]["N"])
    # Nothing written, nothing revoked, nothing audited (least of all a reuse).
    assert family_item(aws, family_id) == rotated
    assert audit.events[events:] == []
    # Both the current token and the one the grace minted for its id still work.
    api.refresh_tokens.rotate(second.token)


def test_the_previous_token_once_the_grace_is_over_is_a_reuse(
    signed_in: tuple[ApiServices, str], aws: dict[str, Any], clock: FakeClock
) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    clock.advance(api.config.refresh_reuse_grace)  # the first second outside it
    assert_reuse_ends_the_family(api, first, second.token)
    assert family_item(aws, claims_of(api, first).family_id)["revoked"] == {"BOOL": True}


def test_a_token_two_rotations_old_is_a_reuse_even_within_the_grace(
    signed_in: tuple[ApiServices, str], audit: RecordingAudit
) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    _, third, _ = api.refresh_tokens.rotate(second.token)
    seen = len(audit.events)
    assert_reuse_ends_the_family(api, first, third.token)
    assert audit.events[seen][0] is AuditEvent.REUSE_REFUSED


def test_a_token_minted_by_the_grace_rotates_normally_afterwards(
    signed_in: tuple[ApiServices, str], aws: dict[str, Any], clock: FakeClock
) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    clock.advance(1)
    _, retried, _ = api.refresh_tokens.rotate(first)
    clock.advance(1)
    _, third, _ = api.refresh_tokens.rotate(retried.token)
    item = family_item(aws, claims_of(api, first).family_id)
    assert item["currentTokenId"]["S"] == claims_of(api, third.token).token_id
    assert item["previousTokenId"]["S"] == claims_of(api, second.token).token_id
    assert item["revoked"] == {"BOOL": False}
    # `first` is now two rotations old: a reuse, whatever the grace.
    with pytest.raises(RefreshReuseDetected):
        api.refresh_tokens.rotate(first)


def test_many_retries_of_one_token_within_the_grace_keep_one_current_token_id(
    signed_in: tuple[ApiServices, str], aws: dict[str, Any], clock: FakeClock
) -> None:
    # The 20-parallel race in sequence (moto's conditional writes are not atomic across
    # threads; tests/e2e/test_races.py runs it in parallel on DynamoDB Local).
    api, first = signed_in
    answers = []
    for _ in range(20):
        answers.append(api.refresh_tokens.rotate(first)[1])
        clock.advance(1)
    item = family_item(aws, claims_of(api, first).family_id)
    assert {claims_of(api, issued.token).token_id for issued in answers} == {item["currentTokenId"]["S"]}
    assert item["previousTokenId"]["S"] == claims_of(api, first).token_id
    assert item["revoked"] == {"BOOL": False}


def test_with_a_grace_of_zero_the_previous_token_is_a_reuse_at_once(
    aws: dict[str, Any], clock: FakeClock, config: Config, audit: RecordingAudit
) -> None:
    api = build_api_services(
        replace(config, refresh_reuse_grace=0), clock, aws["dynamodb"], aws["secretsmanager"], audit
    )
    first = api.refresh_tokens.issue(api.accounts.sign_up("alice", PASSWORD), CLIENT).token
    _, second, _ = api.refresh_tokens.rotate(first)
    # Off means off, even seen from a container whose clock is a second behind the one that
    # rotated (so that `now - rotatedAt` is negative).
    clock.advance(-1)
    assert_reuse_ends_the_family(api, first, second.token)


def test_an_expired_previous_token_gets_no_grace(
    signed_in: tuple[ApiServices, str], clock: FakeClock
) -> None:
    api, first = signed_in
    clock.advance(api.config.refresh_token_ttl - 5)
    _, second, _ = api.refresh_tokens.rotate(first)
    clock.advance(10)  # `first` expired 5 s ago; its rotation was 10 s ago, inside the grace
    with pytest.raises(Unauthenticated) as refused:
        api.refresh_tokens.rotate(first)
    assert not isinstance(refused.value, RefreshReuseDetected), "an expired token is refused unread"
    api.refresh_tokens.rotate(second.token)


def test_an_expired_family_gets_no_grace(signed_in: tuple[ApiServices, str], aws: dict[str, Any]) -> None:
    api, first = signed_in
    api.refresh_tokens.rotate(first)
    # A family whose expiresAt has passed (a shorter TTL elsewhere, a clock behind): the
    # tokens' own exp is not enough, the store's record decides.
    aws["dynamodb"].update_item(
        TableName="RefreshTokensTable",
        Key={"familyId": {"S": claims_of(api, first).family_id}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": str(int(api.clock.now()))}},
    )
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(first)


def test_a_revoked_family_gets_no_grace(signed_in: tuple[ApiServices, str], audit: RecordingAudit) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    user = api.users.get_by_username("alice")
    assert user is not None and api.refresh_tokens.revoke(second.token, user.id)
    with pytest.raises(Unauthenticated) as refused:
        api.refresh_tokens.rotate(first)
    assert not isinstance(refused.value, RefreshReuseDetected)
    assert AuditEvent.REUSE_REFUSED not in [event[0] for event in audit.events]


@pytest.mark.parametrize("change", ["archived", "deleted"])
def test_a_user_archived_or_deleted_gets_no_grace(
    signed_in: tuple[ApiServices, str], aws: dict[str, Any], change: str
) -> None:
    api, first = signed_in
    _, second, _ = api.refresh_tokens.rotate(first)
    user = api.users.get_by_username("alice")
    assert user is not None
    # Straight into the table, so that only rotate()'s own read of the user can notice.
    key = {"pk": {"S": f"user#{user.id}"}}
    if change == "deleted":
        aws["dynamodb"].delete_item(TableName="UsersTable", Key=key)
    else:
        aws["dynamodb"].update_item(
            TableName="UsersTable",
            Key=key,
            UpdateExpression="SET #state = :archived",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":archived": {"S": "ARCHIVED"}},
        )
    with pytest.raises(Unauthenticated, match="user not found or archived"):
        api.refresh_tokens.rotate(first)
    assert family_item(aws, claims_of(api, first).family_id)["revoked"] == {"BOOL": True}
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(second.token)


def test_the_previous_token_id_under_another_user_gets_no_grace(
    signed_in: tuple[ApiServices, str], aws: dict[str, Any]
) -> None:
    # Only a holder of the signing key could mint this; the family's owner still decides.
    api, first = signed_in
    api.refresh_tokens.rotate(first)
    claims = claims_of(api, first)
    other = api.accounts.sign_up("mallory", PASSWORD)
    forged = mint_refresh_token(
        other.id, claims.token_id, claims.family_id, api.keys.signing_key(), api.clock.now(), 60
    )
    with pytest.raises(Unauthenticated) as refused:
        api.refresh_tokens.rotate(forged.token)
    assert not isinstance(refused.value, RefreshReuseDetected)
    assert family_item(aws, claims.family_id)["revoked"] == {"BOOL": False}


def test_a_token_without_a_family_id_never_rotates_a_family_memos_auth_made(
    api: ApiServices, clock: FakeClock
) -> None:
    user = api.accounts.sign_up("alice", PASSWORD)
    api.refresh_tokens.issue(user, CLIENT)
    (family,) = api.refresh_tokens.live_families(user.id)
    # Signed with the stack's own key, naming the family as its token id: still refused.
    key = api.keys.signing_key()
    token = jwt.encode(
        {
            "type": "refresh",
            "tid": family.family_id,
            "iss": "memos",
            "sub": str(user.id),
            "aud": ["user.refresh-token"],
            "iat": int(clock.now()),
            "exp": int(clock.now()) + 60,
        },
        key.secret,
        algorithm="HS256",
        headers={"kid": key.kid},
    )
    with pytest.raises(Unauthenticated) as refused:
        api.refresh_tokens.rotate(token)
    assert not isinstance(refused.value, RefreshReuseDetected)
    assert [f.family_id for f in api.refresh_tokens.live_families(user.id)] == [family.family_id]


class _SentTwice:
    """The DynamoDB client, but its next UpdateItem is applied and its answer lost, and sent
    again, as botocore does after a read timeout: the caller gets the second answer."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.armed = False

    def update_item(self, **request: Any) -> Any:
        if self.armed:
            self.armed = False
            self._client.update_item(**request)
        return self._client.update_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("grace", [0, 30])
def test_a_rotation_applied_then_refused_when_sent_again_is_the_refresh_it_was(
    aws: dict[str, Any], clock: FakeClock, config: Config, audit: RecordingAudit, grace: int
) -> None:
    """The second send of the rotation fails its condition on the first send's own write:
    not a reuse (with the grace off it would end the user's own sign-in), but the refresh."""
    client = _SentTwice(aws["dynamodb"])
    api = build_api_services(
        replace(config, refresh_reuse_grace=grace), clock, client, aws["secretsmanager"], audit
    )
    alice = api.accounts.sign_up("alice", "correct horse battery")
    first = api.refresh_tokens.issue(alice, ClientInfo("pytest", "198.51.100.1"))
    client.armed = True
    _, rotated, _ = api.refresh_tokens.rotate(first.token)
    assert not client.armed
    (family,) = api.refresh_tokens.live_families(alice.id)
    assert (
        family.current_token_id
        == parse_refresh_token(rotated.token, api.keys.verification_key, clock.now()).token_id
    )
    assert [
        event for event, *_ in audit.events if event in (AuditEvent.REUSE_REFUSED, AuditEvent.REVOKED)
    ] == []
    api.refresh_tokens.rotate(rotated.token)
