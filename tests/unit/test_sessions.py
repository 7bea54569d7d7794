"""SPEC §1/§4: session cookies: strict parsing, sliding expiry, once-a-minute writes, logins."""

from __future__ import annotations

from typing import Any

import pytest

from auth.audit import AuditEvent, CredentialKind
from auth.config import Config
from auth.errors import NotFound, Unauthenticated, Unavailable
from auth.models import ClientInfo, SignIn, User
from auth.sessions import Sessions, hash_secret, parse_session_cookie, session_cookie_value
from auth.stores.session_store import SessionRecord, SessionStore
from auth.stores.user_store import UserStore, user_to_item
from auth.usage import WRITE_INTERVAL_SECONDS
from auth.user_agents import parse_user_agent
from auth.wiring import ApiServices
from tests.support.audit import RecordingAudit
from tests.support.clock import START, FakeClock
from tests.support.people import PASSWORD, principal_of
from tests.unit.test_pats import Failing, NoCalls

TABLE = "SessionsTable"
TTL = 14 * 24 * 3600
SID = "550e8400-e29b-41d4-a716-446655440000"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CLIENT = ClientInfo(FIREFOX, "203.0.113.7")


def store(client: Any) -> SessionStore:
    return SessionStore(client, TABLE, UserStore(client, Config().users_table, Config().settings_table))


def sessions(client: Any, clock: FakeClock, audit: RecordingAudit | None = None) -> Sessions:
    return Sessions(store(client), clock, TTL, audit)


def user(user_id: int = 7) -> User:
    from auth.models import Role, State

    return User(user_id, f"user{user_id}", Role.USER, State.NORMAL, "", "", "", 0, 0)


@pytest.fixture(autouse=True)
def users_7_and_8(request: pytest.FixtureRequest) -> None:
    """The users of this module's sessions, in the Users table of a test on moto: a session is
    stored only while its user is as its sign-in read them."""
    if "aws" in request.fixturenames:
        dynamodb = request.getfixturevalue("aws")["dynamodb"]
        for user_id in (7, 8):
            dynamodb.put_item(TableName=Config().users_table, Item=user_to_item(user(user_id)))


def stored(aws: dict[str, Any], record: SessionRecord) -> dict[str, Any]:
    key = {"secretHash": {"S": record.secret_hash}}
    return aws["dynamodb"].get_item(TableName=TABLE, Key=key).get("Item", {})


def other_users(cookie: str, user_id: int) -> str:
    """The same secret, claimed for another user id."""
    return session_cookie_value(user_id, parse_session_cookie(cookie)[1])


# -- the cookie value ---------------------------------------------------------------------


def test_cookie_value_round_trips() -> None:
    assert parse_session_cookie(session_cookie_value(42, SID)) == (42, SID)
    assert parse_session_cookie(f"{2**31 - 1}-{SID}") == (2**31 - 1, SID)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-" + SID,  # no user id
        f"0-{SID}",  # zero
        f"-1-{SID}",  # negative
        f"+1-{SID}",
        f"01-{SID}",  # not canonical decimal
        f"{2**31}-{SID}",  # beyond int32
        f"99999999999-{SID}",
        f"abc-{SID}",  # non-numeric
        f"١٢-{SID}",  # non-ASCII digits
        f"42{SID}",  # missing dash
        "42",
        "42-",
        f"42-{SID.upper()}",  # not lowercase
        f"42-{SID.replace('-', '')}",  # not canonical UUID
        "42-550e8400-e29b-11d4-a716-446655440000",  # UUIDv1, not v4
        f"42-{SID} ",
        f"42-{SID}\n",
        f"42-{SID}x",
        f"42-{SID}" + "0" * 10_000,  # 10 kB
        "4" * 10_000,
    ],
)
def test_malformed_cookie_is_refused_without_a_database_read(value: str, clock: FakeClock) -> None:
    with pytest.raises(Unauthenticated):
        parse_session_cookie(value)
    with pytest.raises(Unauthenticated):
        sessions(NoCalls(), clock).find(value)


# -- creation and verification --------------------------------------------------------------


def test_create_stores_client_and_device(aws: dict[str, Any], clock: FakeClock) -> None:
    audit = RecordingAudit()
    record, cookie = sessions(aws["dynamodb"], clock, audit).create(user(), CLIENT)
    item = stored(aws, record)
    # Only the secret's hash is stored, under its own name: the public id rebuilds no cookie.
    assert item["secretHash"]["S"] == hash_secret(parse_session_cookie(cookie)[1])
    assert item["sessionId"]["S"] == record.session_id and record.session_id not in cookie
    assert item["userId"]["N"] == "7" and item["ipAddress"]["S"] == "203.0.113.7"
    assert (item["device"]["S"], item["os"]["S"], item["browser"]["S"]) == ("desktop", "Linux", "Firefox")
    assert int(item["expiresAt"]["N"]) == int(clock.now()) + TTL
    assert audit.events == [(AuditEvent.CREATED, CredentialKind.SESSION, 7, record.session_id, "")]


def test_cookie_of_another_user_id_is_refused(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    record, cookie = service.create(user(7), CLIENT)
    assert service.find(cookie).session_id == record.session_id
    with pytest.raises(Unauthenticated):
        service.find(other_users(cookie, 8))


def test_a_session_keeps_the_sign_in_it_began_with(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    _, cookie = service.create(user(7), CLIENT, SignIn(int(clock.now()) - 30, ("pwd", "otp", "mfa")))
    clock.advance(3600)
    assert service.find(cookie).sign_in == SignIn(int(START) - 30, ("pwd", "otp", "mfa"))


def test_the_public_id_is_not_a_cookie(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    record, _ = service.create(user(7), CLIENT)
    with pytest.raises(Unauthenticated):
        service.find(session_cookie_value(7, record.session_id))


def test_unknown_session_is_refused(aws: dict[str, Any], clock: FakeClock) -> None:
    with pytest.raises(Unauthenticated):
        sessions(aws["dynamodb"], clock).find(session_cookie_value(7, SID))


def test_failing_read_fails_closed(aws: dict[str, Any], clock: FakeClock) -> None:
    _, cookie = sessions(aws["dynamodb"], clock).create(user(), CLIENT)
    with pytest.raises(Unavailable):
        sessions(Failing(aws["dynamodb"], "get_item"), clock).find(cookie)


def test_idle_session_expires_after_the_ttl(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    _, cookie = service.create(user(), CLIENT)
    clock.advance(TTL - 1)
    service.find(cookie)
    clock.advance(1)
    with pytest.raises(Unauthenticated):
        service.find(cookie)


def test_use_slides_the_expiry(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    _, cookie = service.create(user(), CLIENT)
    for _ in range(3):
        clock.advance(TTL - 10)
        service.mark_accessed(service.find(cookie))
    clock.advance(TTL - 1)
    service.find(cookie)
    clock.advance(1)
    with pytest.raises(Unauthenticated):
        service.find(cookie)


def test_shorter_ttl_applies_to_sessions_slid_under_a_longer_one(
    aws: dict[str, Any], clock: FakeClock
) -> None:
    _, cookie = sessions(aws["dynamodb"], clock).create(user(), CLIENT)
    shorter = Sessions(store(aws["dynamodb"]), clock, ttl=3600)
    clock.advance(3600)
    with pytest.raises(Unauthenticated):
        shorter.find(cookie)


def test_last_access_is_written_at_most_once_a_minute(aws: dict[str, Any], clock: FakeClock) -> None:
    audit = RecordingAudit()
    service = sessions(aws["dynamodb"], clock, audit)
    record, cookie = service.create(user(), CLIENT)
    start = int(clock.now())
    writes: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            if name == "update_item":
                writes.append(name)
            return getattr(aws["dynamodb"], name)

    counted = sessions(Counting(), clock, audit)
    clock.advance(5)
    counted.mark_accessed(counted.find(cookie))  # the first use is recorded at once
    assert stored(aws, record)["lastAccessedAt"]["N"] == str(start + 5)
    for _ in range(5):
        clock.advance(10)
        counted.mark_accessed(counted.find(cookie))
    assert len(writes) == 1 and stored(aws, record)["lastAccessedAt"]["N"] == str(start + 5)
    clock.advance(WRITE_INTERVAL_SECONDS - 50)
    counted.mark_accessed(counted.find(cookie))
    item = stored(aws, record)
    assert len(writes) == 2 and item["lastAccessedAt"]["N"] == str(start + 65)
    assert item["expiresAt"]["N"] == str(start + 65 + TTL)
    first = [e for e in audit.events if e[0] is AuditEvent.FIRST_USED]
    assert first == [(AuditEvent.FIRST_USED, CredentialKind.SESSION, 7, record.session_id, "")]


def test_slide_never_recreates_a_revoked_session(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    record, cookie = service.create(user(), CLIENT)
    found = service.find(cookie)
    assert service.revoke(record.session_id, 7)
    service.mark_accessed(found)
    assert stored(aws, record) == {}


def test_slide_never_revives_an_expired_session(aws: dict[str, Any], clock: FakeClock) -> None:
    record, _ = sessions(aws["dynamodb"], clock).create(user(), CLIENT)
    clock.advance(TTL)
    now = int(clock.now())
    assert store(aws["dynamodb"]).touch(record.secret_hash, now, now + TTL, WRITE_INTERVAL_SECONDS) is None


def test_failing_slide_does_not_fail_the_request(aws: dict[str, Any], clock: FakeClock) -> None:
    record, cookie = sessions(aws["dynamodb"], clock).create(user(), CLIENT)
    failing = sessions(Failing(aws["dynamodb"], "update_item"), clock)
    failing.mark_accessed(failing.find(cookie))
    assert "firstUsedAt" not in stored(aws, record)


def test_revoke_only_by_the_owner(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    record, cookie = service.create(user(7), CLIENT)
    assert not service.revoke(record.session_id, 8)
    assert not service.revoke_cookie(other_users(cookie, 8), 8)
    assert stored(aws, record)
    assert service.revoke_cookie(cookie, 7)
    assert stored(aws, record) == {}


def test_revoke_all_can_keep_the_current_session(aws: dict[str, Any], clock: FakeClock) -> None:
    service = sessions(aws["dynamodb"], clock)
    (keep, _), (drop, _) = service.create(user(), CLIENT), service.create(user(), CLIENT)
    service.revoke_all(7, keep=keep.session_id)
    assert stored(aws, keep) and stored(aws, drop) == {}


# -- logins: sessions and refresh families together ---------------------------------------


def test_logins_lists_sessions_and_refresh_families(api: ApiServices, clock: FakeClock) -> None:
    alice = api.accounts.sign_up("alice", PASSWORD)
    session, _ = api.sessions.create(alice, CLIENT)
    clock.advance(5)
    api.refresh_tokens.issue(alice, ClientInfo("curl/8.5.0", "198.51.100.1"))
    bob = api.accounts.sign_up("bob", PASSWORD)
    api.sessions.create(bob, CLIENT)
    logins = api.logins.list_for_user(alice.id)
    assert [login.kind for login in logins] == [CredentialKind.REFRESH_TOKEN, CredentialKind.SESSION]
    assert logins[1].id == session.session_id and logins[1].device.browser == "Firefox"
    assert logins[0].client.ip_address == "198.51.100.1" and logins[0].device.browser == "curl"


def test_logins_skip_revoked_and_expired_refresh_families(api: ApiServices, clock: FakeClock) -> None:
    alice = api.accounts.sign_up("alice", PASSWORD)
    revoked = api.refresh_tokens.issue(alice, CLIENT)
    api.refresh_tokens.revoke(revoked.token, alice.id)
    assert api.logins.list_for_user(alice.id) == []
    api.refresh_tokens.issue(alice, CLIENT)
    assert len(api.logins.list_for_user(alice.id)) == 1
    clock.advance(api.config.refresh_token_ttl)
    assert api.logins.list_for_user(alice.id) == []


def test_revoking_a_refresh_login_revokes_its_family(api: ApiServices, aws: dict[str, Any]) -> None:
    alice = api.accounts.sign_up("alice", PASSWORD)
    issued = api.refresh_tokens.issue(alice, CLIENT)
    (login,) = api.logins.list_for_user(alice.id)
    api.logins.revoke(principal_of(alice), alice.id, login.id)
    with pytest.raises(Unauthenticated):
        api.refresh_tokens.rotate(issued.token)
    with pytest.raises(NotFound):  # already revoked
        api.logins.revoke(principal_of(alice), alice.id, login.id)


def test_a_login_of_another_user_is_not_found(api: ApiServices) -> None:
    alice = api.accounts.sign_up("alice", PASSWORD)
    bob = api.accounts.sign_up("bob", PASSWORD)
    session, _ = api.sessions.create(alice, CLIENT)
    api.refresh_tokens.issue(alice, CLIENT)
    for login in api.logins.list_for_user(alice.id):
        with pytest.raises(NotFound):
            api.logins.revoke(principal_of(bob), bob.id, login.id)
    assert len(api.logins.list_for_user(alice.id)) == 2 and session


# -- user agents ----------------------------------------------------------------------------

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (CHROME_MAC, ("desktop", "macOS", "Chrome")),
        (SAFARI_IPHONE, ("mobile", "iOS", "Safari")),
        (EDGE_WINDOWS, ("desktop", "Windows", "Edge")),
        (CHROME_ANDROID_TABLET, ("tablet", "Android", "Chrome")),
        (FIREFOX, ("desktop", "Linux", "Firefox")),
        ("curl/8.5.0", ("bot", "Other", "curl")),
        ("", ("Other", "Other", "Other")),
    ],
)
def test_user_agent_parsing(agent: str, expected: tuple[str, str, str]) -> None:
    device = parse_user_agent(agent)
    assert (device.device, device.os, device.browser) == expected


# -- revocation of every credential (password change, deletion) ------------------------------


def test_password_change_ends_the_users_other_sessions_only(api: ApiServices, aws: dict[str, Any]) -> None:
    from auth.principal import AuthMethod, Principal
    from auth.user_admin import UserChanges

    alice = api.accounts.sign_up("alice", PASSWORD)
    bob = api.accounts.sign_up("bob", PASSWORD)
    (current, _), (other, _) = api.sessions.create(alice, CLIENT), api.sessions.create(alice, CLIENT)
    bobs, _ = api.sessions.create(bob, CLIENT)
    signed_in = SignIn.with_password(api.clock.now())
    caller = Principal(alice.id, "alice", alice.role, AuthMethod.SESSION, current.session_id, signed_in)
    changes = UserChanges(password="another good password", current_password=PASSWORD)
    api.user_admin.update(caller, "alice", changes, current.session_id)
    assert stored(aws, current) and stored(aws, bobs)
    assert stored(aws, other) == {}


def test_deleting_a_user_ends_all_their_sessions(api: ApiServices, aws: dict[str, Any]) -> None:
    from auth.principal import AuthMethod, Principal

    admin = api.accounts.sign_up("root", PASSWORD)
    alice = api.accounts.sign_up("alice", PASSWORD)
    sessions_of_alice = [api.sessions.create(alice, CLIENT)[0] for _ in range(2)]
    api.user_admin.delete(Principal(admin.id, "root", admin.role, AuthMethod.ACCESS_TOKEN), "alice")
    assert all(stored(aws, record) == {} for record in sessions_of_alice)
