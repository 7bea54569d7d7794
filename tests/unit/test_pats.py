"""SPEC §1/§4: personal access tokens: format, checksum, storage and verification."""

from __future__ import annotations

import hashlib
import string
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from auth.audit import AuditEvent, CredentialKind
from auth.errors import InvalidArgument, NotFound, Unauthenticated, Unavailable
from auth.models import Role, State, User
from auth.pats import (
    BASE62,
    PAT_PREFIX,
    SECONDS_PER_DAY,
    PersonalAccessTokens,
    checksum,
    generate_pat,
    has_pat_shape,
    hash_pat,
    is_well_formed,
)
from auth.stores.pat_store import FIRST_PAUSE_SECONDS, MAX_TOKENS_PER_USER, PatRecord, PatStore
from auth.stores.user_store import OwnerChanged, TokensRemain, UserStore
from auth.usage import WRITE_INTERVAL_SECONDS
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.faults import Conflicting

TABLE = "PersonalAccessTokensTable"
USERS_TABLE = "UsersTable"
# Tokens belong to users 7 and 8; user 9 was never created.
USERS = {
    user_id: User(user_id, f"user{user_id}", Role.USER, State.NORMAL, "", "", "", 0, 0)
    for user_id in (7, 8, 9)
}
OWNERS = (7, 8)


def users_of(client: Any) -> UserStore:
    return UserStore(client, USERS_TABLE, "SettingsTable")


def store_of(client: Any, pauses: list[float] | None = None) -> PatStore:
    return PatStore(client, TABLE, users_of(client), pause=(pauses if pauses is not None else []).append)


@pytest.fixture(autouse=True)
def owners(aws: dict[str, Any]) -> None:
    for user_id in OWNERS:
        users_of(aws["dynamodb"]).create(USERS[user_id], claim_owner=False)


class NoCalls:
    """A DynamoDB client that fails the test if anything is asked of it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected DynamoDB call: {name}")


class Failing:
    """The real client, except that the named operations fail as a throttled DynamoDB would."""

    def __init__(self, client: Any, *operations: str) -> None:
        self._client = client
        self._operations = operations

    def __getattr__(self, name: str) -> Any:
        if name in self._operations:

            def fail(**_: Any) -> None:
                error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
                raise ClientError(error, name)  # type: ignore[arg-type]  # a plain dict stands in for botocore's error response TypedDict

            return fail
        return getattr(self._client, name)


def service(client: Any, clock: FakeClock, audit: RecordingAudit | None = None) -> PersonalAccessTokens:
    return PersonalAccessTokens(store_of(client), clock, audit)


def stored(aws: dict[str, Any], token: str) -> dict[str, Any]:
    return (
        aws["dynamodb"].get_item(TableName=TABLE, Key={"tokenHash": {"S": hash_pat(token)}}).get("Item", {})
    )


# -- format ------------------------------------------------------------------------------


def test_generated_token_has_the_spec_format_and_a_valid_checksum() -> None:
    token = generate_pat()
    body = token[len(PAT_PREFIX) :]
    assert token.startswith("memos_pat_") and len(body) == 32
    assert set(body) <= set(string.digits + string.ascii_letters)
    assert body[26:] == checksum(body[:26]) and is_well_formed(token)


def test_generated_tokens_differ() -> None:
    assert len({generate_pat() for _ in range(100)}) == 100


def test_checksum_is_base62_crc32_left_padded() -> None:
    import zlib

    value = 0
    for ch in checksum("a" * 26):
        value = value * 62 + BASE62.index(ch)
    assert value == zlib.crc32(b"a" * 26)
    assert len(checksum("")) == 6 and checksum("") == "000000"  # crc32(b"") == 0


def test_hash_is_lowercase_sha256_hex() -> None:
    token = generate_pat()
    assert hash_pat(token) == hashlib.sha256(token.encode()).hexdigest()


def _flip_last(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _malformed() -> list[str]:
    # A fixed well-formed token, so every test worker collects the same cases.
    random_part = "MiljBH4B2bWslOWdk4ilzsg7Ym"
    good = PAT_PREFIX + random_part + checksum(random_part)
    body = good[len(PAT_PREFIX) :]
    return [
        "",
        PAT_PREFIX,
        good[:-1],  # too short
        good + "0",  # too long
        "memos_pak_" + body,  # wrong prefix
        "MEMOS_PAT_" + body,
        PAT_PREFIX + body[:25] + "-" + body[26:],  # outside the alphabet
        PAT_PREFIX + body[:25] + "é" + body[26:],
        PAT_PREFIX + "x" * 10_000,
    ]


@pytest.mark.parametrize("token", _malformed(), ids=range(len(_malformed())))
def test_malformed_token_is_refused_without_a_database_read(token: str, clock: FakeClock) -> None:
    assert not is_well_formed(token)
    with pytest.raises(Unauthenticated):
        service(NoCalls(), clock).find(token)


def _unchecksummed() -> list[str]:
    random_part = "MiljBH4B2bWslOWdk4ilzsg7Ym"
    return [
        _flip_last(PAT_PREFIX + random_part + checksum(random_part)),  # checksum mismatch
        PAT_PREFIX + "0" * 26 + checksum("0" * 25 + "1"),  # checksum of other text
        PAT_PREFIX + "A" * 32,  # as Memos makes them: no checksum at all
    ]


@pytest.mark.parametrize("token", _unchecksummed(), ids=range(len(_unchecksummed())))
def test_a_token_without_our_checksum_is_refused_unread_where_imported_tokens_are_off(
    token: str, clock: FakeClock
) -> None:
    assert has_pat_shape(token) and not is_well_formed(token)
    with pytest.raises(Unauthenticated):
        PersonalAccessTokens(store_of(NoCalls()), clock, accept_imported=False).find(token)


def _stored_as(aws: dict[str, Any], token: str, imported: bool) -> None:
    user = users_of(aws["dynamodb"])
    owner = User(9, "memo", Role.USER, State.NORMAL, "", "", "", 0, 0)
    user.create(owner, claim_owner=False)
    record = PatRecord(hash_pat(token), "t1", 9, "", 0, None, None, owner.as_owner, imported=imported)
    store_of(aws["dynamodb"]).create(record)


def test_a_token_without_our_checksum_is_found_when_it_was_imported(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    token = PAT_PREFIX + "A" * 32
    _stored_as(aws, token, imported=True)
    assert service(aws["dynamodb"], clock).find(token).token_id == "t1"


def test_a_token_without_our_checksum_never_matches_a_token_memos_auth_made(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    # Cannot happen by chance (a SHA-256 match); if an item ever said so, it is still refused.
    token = PAT_PREFIX + "A" * 32
    _stored_as(aws, token, imported=False)
    with pytest.raises(Unauthenticated):
        service(aws["dynamodb"], clock).find(token)


def test_an_unknown_token_without_our_checksum_costs_one_read(aws: dict[str, Any], clock: FakeClock) -> None:
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(aws["dynamodb"], name)

    with pytest.raises(Unauthenticated):
        service(Counting(), clock).find(PAT_PREFIX + "B" * 32)
    assert calls == ["get_item"]


# -- create, list, delete ----------------------------------------------------------------


def test_only_the_hash_is_stored(aws: dict[str, Any], clock: FakeClock) -> None:
    record, token = service(aws["dynamodb"], clock).create(USERS[7], "ci", 30)
    item = stored(aws, token)
    assert item["tokenId"]["S"] == record.token_id and item["userId"]["N"] == "7"
    assert token not in str(item) and token[len(PAT_PREFIX) :] not in str(item)
    assert int(item["expiresAt"]["N"]) == int(clock.now()) + 30 * SECONDS_PER_DAY


def test_zero_days_never_expires(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    record, token = pats.create(USERS[7], "forever", 0)
    assert record.expires_at is None and "expiresAt" not in stored(aws, token)
    clock.advance(3650 * SECONDS_PER_DAY * 2)
    assert pats.find(token).token_id == record.token_id


@pytest.mark.parametrize(("description", "days"), [("x" * 257, 1), ("ok", -1), ("ok", 3651)])
def test_create_refuses_out_of_bounds_input(
    aws: dict[str, Any], clock: FakeClock, description: str, days: int
) -> None:
    with pytest.raises(InvalidArgument):
        service(aws["dynamodb"], clock).create(USERS[7], description, days)
    assert aws["dynamodb"].scan(TableName=TABLE)["Count"] == 0


def test_list_shows_only_the_users_live_tokens(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    first, _ = pats.create(USERS[7], "a", 1)
    clock.advance(1)
    second, _ = pats.create(USERS[7], "b", 0)
    pats.create(USERS[8], "someone else's", 0)
    assert [r.token_id for r in pats.list_for_user(7)] == [first.token_id, second.token_id]
    clock.advance(SECONDS_PER_DAY)
    assert [r.token_id for r in pats.list_for_user(7)] == [second.token_id]


def test_delete_by_owner_stops_the_token(aws: dict[str, Any], clock: FakeClock) -> None:
    audit = RecordingAudit()
    pats = service(aws["dynamodb"], clock, audit)
    record, token = pats.create(USERS[7], "ci", 0)
    pats.delete(7, record.token_id)
    with pytest.raises(Unauthenticated):
        pats.find(token)
    assert (AuditEvent.REVOKED, CredentialKind.PAT, 7, record.token_id, "revoked by the user") in audit.events


def test_delete_of_another_users_token_is_not_found_and_keeps_it(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    pats = service(aws["dynamodb"], clock)
    record, token = pats.create(USERS[7], "ci", 0)
    with pytest.raises(NotFound):
        pats.delete(8, record.token_id)
    with pytest.raises(NotFound):
        pats.delete(7, "00000000-0000-4000-8000-000000000000")
    assert pats.find(token).token_id == record.token_id


def test_store_delete_is_conditional_on_owner_and_id(aws: dict[str, Any], clock: FakeClock) -> None:
    store = store_of(aws["dynamodb"])
    record, _ = service(aws["dynamodb"], clock).create(USERS[7], "ci", 0)
    assert not store.delete(record.token_hash, record.token_id, 8)
    assert not store.delete(record.token_hash, "other-id", 7)
    assert store.delete(record.token_hash, record.token_id, 7)
    assert not store.delete(record.token_hash, record.token_id, 7)  # already gone: a no-op


def test_delete_all_removes_every_token_of_the_user(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    for _ in range(3):
        pats.create(USERS[7], "", 0)
    pats.create(USERS[8], "", 0)
    pats.delete_all(7)
    assert pats.list_for_user(7) == [] and len(pats.list_for_user(8)) == 1


# -- verification --------------------------------------------------------------------------


def test_find_reads_one_item_by_key(aws: dict[str, Any], clock: FakeClock) -> None:
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(aws["dynamodb"], name)

    record, token = service(aws["dynamodb"], clock).create(USERS[7], "ci", 0)
    assert service(Counting(), clock).find(token).token_id == record.token_id
    assert calls == ["get_item"]


def test_unknown_well_formed_token_is_refused(aws: dict[str, Any], clock: FakeClock) -> None:
    with pytest.raises(Unauthenticated):
        service(aws["dynamodb"], clock).find(generate_pat())


def test_token_expires_at_its_expiry(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    _, token = pats.create(USERS[7], "ci", 1)
    clock.advance(SECONDS_PER_DAY - 1)
    pats.find(token)
    clock.advance(1)
    # Still in the table (until its user's next new token), refused by the clock.
    assert stored(aws, token)
    with pytest.raises(Unauthenticated):
        pats.find(token)


def test_failing_read_fails_closed(aws: dict[str, Any], clock: FakeClock) -> None:
    _, token = service(aws["dynamodb"], clock).create(USERS[7], "ci", 0)
    with pytest.raises(Unavailable):
        service(Failing(aws["dynamodb"], "get_item"), clock).find(token)


def test_last_used_is_written_at_most_once_a_minute(aws: dict[str, Any], clock: FakeClock) -> None:
    audit = RecordingAudit()
    pats = service(aws["dynamodb"], clock, audit)
    record, token = pats.create(USERS[7], "ci", 0)
    first_use = int(clock.now())
    pats.mark_used(pats.find(token))
    assert stored(aws, token)["lastUsedAt"]["N"] == str(first_use)
    clock.advance(WRITE_INTERVAL_SECONDS - 1)
    pats.mark_used(pats.find(token))
    assert stored(aws, token)["lastUsedAt"]["N"] == str(first_use)
    clock.advance(1)
    pats.mark_used(pats.find(token))
    assert stored(aws, token)["lastUsedAt"]["N"] == str(first_use + WRITE_INTERVAL_SECONDS)
    first_used = [e for e in audit.events if e[0] is AuditEvent.FIRST_USED]
    assert first_used == [(AuditEvent.FIRST_USED, CredentialKind.PAT, 7, record.token_id, "")]


def test_stale_record_does_not_write_twice_in_a_minute(aws: dict[str, Any], clock: FakeClock) -> None:
    # Two containers read the token before either wrote: the condition lets one write.
    pats = service(aws["dynamodb"], clock)
    _, token = pats.create(USERS[7], "ci", 0)
    seen_by_both = pats.find(token)
    store = store_of(aws["dynamodb"])
    now = int(clock.now())
    assert store.touch(seen_by_both.token_hash, now, WRITE_INTERVAL_SECONDS) is True
    assert store.touch(seen_by_both.token_hash, now, WRITE_INTERVAL_SECONDS) is None


def test_last_used_write_never_recreates_a_deleted_token(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    record, token = pats.create(USERS[7], "ci", 0)
    found = pats.find(token)
    pats.delete(7, record.token_id)
    pats.mark_used(found)
    assert stored(aws, token) == {}


def test_failing_last_used_write_does_not_fail_the_request(aws: dict[str, Any], clock: FakeClock) -> None:
    _, token = service(aws["dynamodb"], clock).create(USERS[7], "ci", 0)
    pats = service(Failing(aws["dynamodb"], "update_item"), clock)
    pats.mark_used(pats.find(token))
    assert "lastUsedAt" not in stored(aws, token)


def test_record_repr_keeps_the_hash_out_of_logs(aws: dict[str, Any], clock: FakeClock) -> None:
    record, _ = service(aws["dynamodb"], clock).create(USERS[7], "ci", 0)
    assert record.token_hash not in repr(record)


def test_a_token_is_not_stored_for_a_user_who_does_not_exist(aws: dict[str, Any], clock: FakeClock) -> None:
    # A PAT created while its user is being deleted must not outlive the user's sweep.
    with pytest.raises(NotFound):
        service(aws["dynamodb"], clock).create(USERS[9], "orphan", 0)
    assert aws["dynamodb"].scan(TableName=TABLE)["Items"] == []


def test_store_create_checks_the_owner_in_the_same_transaction(aws: dict[str, Any]) -> None:
    record = PatRecord("a" * 64, "id", 9, "orphan", 0, None, None, USERS[9].as_owner)
    with pytest.raises(NotFound):
        store_of(aws["dynamodb"]).create(record)
    store_of(aws["dynamodb"]).create(PatRecord("a" * 64, "id", 7, "ci", 0, None, None, USERS[7].as_owner))
    assert store_of(aws["dynamodb"]).get("a" * 64) is not None


# -- the owner's copy on each token ------------------------------------------------------------
# The authorizer decides a PAT request from the token item alone, so the username, role and
# state it carries must always be the user's: these tests try to make them drift.


def token_count(aws: dict[str, Any], user_id: int) -> int | None:
    counted = users_of(aws["dynamodb"]).get_counted(user_id)
    return counted[1] if counted else None


class StaleIndex:
    """The real client, except that the first `times` listings of the byUser index are stale:
    `stale` rewrites the items they return (the index lags behind the table)."""

    def __init__(self, client: Any, stale: Any, times: int) -> None:
        self._client = client
        self._stale = stale
        self.left = times

    def get_paginator(self, operation: str) -> Any:
        paginator = self._client.get_paginator(operation)
        if operation != "query" or self.left == 0:
            return paginator
        self.left -= 1
        stale = self._stale

        class Stale:
            def paginate(self, **kwargs: Any) -> Any:
                for page in paginator.paginate(**kwargs):
                    yield {**page, "Items": stale(page["Items"])}

        return Stale()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_token_carries_a_copy_of_its_owner_and_is_counted(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    first, token = pats.create(USERS[7], "ci", 0)
    item = stored(aws, token)
    assert [item[name]["S"] for name in ("ownerUsername", "ownerRole", "ownerState")] == [
        "user7",
        "USER",
        "NORMAL",
    ]
    assert pats.find(token).owner == USERS[7].as_owner
    pats.create(USERS[7], "two", 0)
    assert token_count(aws, 7) == 2
    pats.delete(7, first.token_id)
    assert token_count(aws, 7) == 1
    pats.delete_all(7)
    assert token_count(aws, 7) == 0


def test_a_role_and_state_change_reaches_every_token_of_the_user(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    pats = service(aws["dynamodb"], clock)
    tokens = [pats.create(USERS[7], str(i), 0)[1] for i in range(3)]
    _, bystander = pats.create(USERS[8], "", 0)
    archived_admin = replace(USERS[7], role=Role.ADMIN, state=State.ARCHIVED, display_name="Seven")
    pats.save_owner(USERS[7], archived_admin)
    # The whole user is written with the copies, not only role and state.
    assert users_of(aws["dynamodb"]).get(7) == archived_admin
    for token in tokens:
        with pytest.raises(Unauthenticated, match="archived"):
            pats.find(token)
    pats.save_owner(archived_admin, replace(archived_admin, state=State.NORMAL))
    assert [pats.find(token).owner.role for token in tokens] == [Role.ADMIN] * 3
    assert pats.find(bystander).owner == USERS[8].as_owner
    assert token_count(aws, 7) == 3


def backed_off(pauses: list[float], times: int) -> bool:
    """`times` pauses, each within its doubling bound."""
    bounds = [FIRST_PAUSE_SECONDS * 2**attempt for attempt in range(times)]
    return len(pauses) == times and all(
        0 <= pause <= bound for pause, bound in zip(pauses, bounds, strict=True)
    )


def two_tokens(pats: PersonalAccessTokens, clock: FakeClock) -> str:
    """Two tokens of user 7, a second apart; the newer one."""
    pats.create(USERS[7], "old", 0)
    clock.advance(1)
    return pats.create(USERS[7], "just created", 0)[1]


def _without_newest(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda item: int(item["createdAt"]["N"]))[:-1]


def test_a_role_change_waits_for_a_lagging_index_to_list_every_token(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    pats = service(aws["dynamodb"], clock)
    newest = two_tokens(pats, clock)
    lagging = StaleIndex(aws["dynamodb"], _without_newest, times=2)
    pauses: list[float] = []
    store_of(lagging, pauses).update_owner(USERS[7], replace(USERS[7], role=Role.ADMIN))
    assert lagging.left == 0 and backed_off(pauses, 2)
    assert pats.find(newest).owner.role is Role.ADMIN


def test_a_role_change_that_cannot_see_every_token_changes_nothing(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    pats = service(aws["dynamodb"], clock)
    two_tokens(pats, clock)
    lagging = StaleIndex(aws["dynamodb"], _without_newest, times=100)
    with pytest.raises(Unavailable):
        store_of(lagging).update_owner(USERS[7], replace(USERS[7], state=State.ARCHIVED))
    assert users_of(aws["dynamodb"]).get(7) == USERS[7]
    assert [record.owner for record in pats.list_for_user(7)] == [USERS[7].as_owner] * 2


def test_a_role_change_listing_a_deleted_token_lists_again(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    gone, _ = pats.create(USERS[7], "deleted", 0)
    _, kept = pats.create(USERS[7], "kept", 0)
    listed_before_delete = aws["dynamodb"].query(
        TableName=TABLE,
        IndexName="byUser",
        KeyConditionExpression="userId = :u",
        ExpressionAttributeValues={":u": {"N": "7"}},
    )["Items"]
    pats.delete(7, gone.token_id)
    lagging = StaleIndex(aws["dynamodb"], lambda items: listed_before_delete, times=1)
    pauses: list[float] = []
    store_of(lagging, pauses).update_owner(USERS[7], replace(USERS[7], role=Role.ADMIN))
    assert backed_off(pauses, 1)
    # The deleted token was not brought back as a half item by the copy's update.
    assert [record.description for record in pats.list_for_user(7)] == ["kept"]
    assert pats.find(kept).owner.role is Role.ADMIN


def test_a_token_created_as_its_owner_changes_carries_the_new_copy(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    # The caller read user 7 (USERS[7]) just before an admin promoted them.
    promoted = replace(USERS[7], role=Role.ADMIN)
    service(aws["dynamodb"], clock).save_owner(USERS[7], promoted)
    record, token = service(aws["dynamodb"], clock).create(USERS[7], "ci", 0)
    assert record.owner == promoted.as_owner and stored(aws, token)["ownerRole"] == {"S": "ADMIN"}
    assert token_count(aws, 7) == 1


def test_a_user_has_at_most_the_tokens_one_transaction_can_rewrite(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    pats = service(aws["dynamodb"], clock)
    for _ in range(MAX_TOKENS_PER_USER):
        pats.create(USERS[7], "", 0)
    with pytest.raises(InvalidArgument, match=f"at most {MAX_TOKENS_PER_USER}"):
        pats.create(USERS[7], "", 0)
    assert token_count(aws, 7) == MAX_TOKENS_PER_USER == len(pats.list_for_user(7))
    # The largest transaction: the user and every one of their tokens.
    pats.save_owner(USERS[7], replace(USERS[7], state=State.ARCHIVED))
    assert {record.owner.state for record in pats.list_for_user(7)} == {State.ARCHIVED}


def test_a_token_item_without_its_owner_copy_is_refused(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    _, token = pats.create(USERS[7], "ci", 0)
    aws["dynamodb"].update_item(
        TableName=TABLE, Key={"tokenHash": {"S": hash_pat(token)}}, UpdateExpression="REMOVE ownerState"
    )
    with pytest.raises(Unauthenticated):
        pats.find(token)


def test_a_user_is_not_deleted_while_a_token_of_theirs_exists(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    pats.create(USERS[7], "ci", 0)
    users = users_of(aws["dynamodb"])
    with pytest.raises(TokensRemain):
        users.delete(USERS[7])
    assert users.get(7) == USERS[7]
    pats.delete_all(7)
    users.delete(USERS[7])
    assert users.get(7) is None
    with pytest.raises(NotFound):
        users.delete(USERS[7])


@pytest.mark.parametrize("times", [1, 5])
def test_token_writes_that_meet_a_concurrent_transaction_are_tried_again(
    aws: dict[str, Any], clock: FakeClock, times: int
) -> None:
    pauses: list[float] = []
    conflicting = Conflicting(aws["dynamodb"], times)
    pats = PersonalAccessTokens(store_of(conflicting, pauses), clock)
    record, token = pats.create(USERS[7], "ci", 0)
    conflicting.left = times
    pats.delete(7, record.token_id)
    conflicting.left = times
    pats.save_owner(USERS[7], replace(USERS[7], role=Role.ADMIN))
    # Each of the three writes backed off `times` times, each pause within its bound.
    assert len(pauses) == 3 * times
    assert all(backed_off(pauses[start : start + times], times) for start in (0, times, 2 * times))
    assert stored(aws, token) == {} and token_count(aws, 7) == 0


def test_token_writes_give_up_on_endless_conflicts_and_change_nothing(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    pats = PersonalAccessTokens(store_of(Conflicting(aws["dynamodb"], 1000)), clock)
    with pytest.raises(Unavailable):
        pats.create(USERS[7], "ci", 0)
    assert aws["dynamodb"].scan(TableName=TABLE)["Count"] == 0 and token_count(aws, 7) == 0


def test_a_profile_change_keeps_a_role_change_made_since_it_read_the_user(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    # A user changes their password (read as USER) while an admin promotes them: the
    # password write must not put the old role back on the user, away from their tokens.
    pats = service(aws["dynamodb"], clock)
    _, token = pats.create(USERS[7], "ci", 0)
    read_by_the_user = USERS[7]
    pats.save_owner(USERS[7], replace(USERS[7], role=Role.ADMIN))
    users_of(aws["dynamodb"]).update(read_by_the_user, replace(read_by_the_user, password_hash="new hash"))
    user = users_of(aws["dynamodb"]).get(7)
    assert user is not None and (user.role, user.password_hash) == (Role.ADMIN, "new hash")
    assert pats.find(token).owner == user.as_owner


def test_a_profile_write_never_changes_role_or_state(aws: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="update_owner"):
        users_of(aws["dynamodb"]).update(USERS[7], replace(USERS[7], state=State.ARCHIVED))
    assert users_of(aws["dynamodb"]).get(7) == USERS[7]


def test_a_role_change_over_a_stale_read_changes_nothing(aws: dict[str, Any], clock: FakeClock) -> None:
    pats = service(aws["dynamodb"], clock)
    _, token = pats.create(USERS[7], "ci", 0)
    archived = replace(USERS[7], state=State.ARCHIVED)
    pats.save_owner(USERS[7], archived)
    # Read before the archive: its copy would say NORMAL.
    with pytest.raises(OwnerChanged):
        pats.save_owner(USERS[7], replace(USERS[7], role=Role.ADMIN))
    assert users_of(aws["dynamodb"]).get(7) == archived
    assert stored(aws, token)["ownerState"] == {"S": "ARCHIVED"}
