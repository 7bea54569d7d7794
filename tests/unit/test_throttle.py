"""SPEC §3: repeated failed sign-ins are throttled per username and per source IP,
without letting an attacker lock the real user out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from auth.errors import InvalidArgument, PermissionDenied, ResourceExhausted, Unavailable
from auth.stores.throttle_store import THROTTLE_PREFIX, ThrottleStore
from auth.throttle import SignInThrottle, ThrottlePolicy
from auth.wiring import ApiServices
from handlers import api as api_function
from handlers.api_context import services
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext, http_event
from tests.support.faults import Unprocessing

PASSWORD = "correct horse battery"
POLICY = ThrottlePolicy()
ATTACKER = "198.51.100.66"
OWNER_IP = "203.0.113.10"


@pytest.fixture
def alice(api: ApiServices) -> ApiServices:
    api.accounts.sign_up("alice", PASSWORD)
    return api


def fail(api: ApiServices, username: str, ip: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(InvalidArgument):
            api.accounts.sign_in(username, "wrong password", ip)


def test_failures_per_username_and_ip_are_throttled_even_with_the_right_password(alice: ApiServices) -> None:
    fail(alice, "alice", ATTACKER, POLICY.max_failures_per_user_and_ip)
    with pytest.raises(ResourceExhausted) as throttled:
        alice.accounts.sign_in("alice", PASSWORD, ATTACKER)
    assert 0 < throttled.value.retry_after <= POLICY.window_seconds


def test_the_owner_still_signs_in_from_another_address(alice: ApiServices) -> None:
    fail(alice, "alice", ATTACKER, POLICY.max_failures_per_user_and_ip)
    assert alice.accounts.sign_in("alice", PASSWORD, OWNER_IP).username == "alice"


def test_one_address_spraying_usernames_is_throttled(alice: ApiServices) -> None:
    for i in range(POLICY.max_failures_per_ip):
        fail(alice, f"victim{i}", ATTACKER, 1)
    with pytest.raises(ResourceExhausted):
        alice.accounts.sign_in("alice", PASSWORD, ATTACKER)
    assert alice.accounts.sign_in("alice", PASSWORD, OWNER_IP).username == "alice"


def test_distributed_attack_throttles_the_attackers_not_the_owner(alice: ApiServices) -> None:
    for i in range(POLICY.max_failures_per_user):
        fail(alice, "alice", f"10.0.{i // 250}.{i % 250}", 1)
    with pytest.raises(ResourceExhausted):
        alice.accounts.sign_in("alice", PASSWORD, "10.0.0.1")
    assert alice.accounts.sign_in("alice", PASSWORD, OWNER_IP).username == "alice"


def test_the_throttle_lifts_when_the_window_ends(alice: ApiServices, clock: FakeClock) -> None:
    fail(alice, "alice", ATTACKER, POLICY.max_failures_per_user_and_ip)
    clock.advance(POLICY.window_seconds)
    assert alice.accounts.sign_in("alice", PASSWORD, ATTACKER).username == "alice"


def test_a_correct_password_forgives_earlier_typos(alice: ApiServices) -> None:
    fail(alice, "alice", OWNER_IP, POLICY.max_failures_per_user_and_ip - 1)
    alice.accounts.sign_in("alice", PASSWORD, OWNER_IP)
    fail(alice, "alice", OWNER_IP, POLICY.max_failures_per_user_and_ip - 1)
    assert alice.accounts.sign_in("alice", PASSWORD, OWNER_IP).username == "alice"


def test_unknown_usernames_count_too(alice: ApiServices) -> None:
    fail(alice, "ghost", ATTACKER, POLICY.max_failures_per_user_and_ip)
    with pytest.raises(ResourceExhausted):
        alice.accounts.sign_in("ghost", PASSWORD, ATTACKER)


def test_a_counter_that_cannot_be_read_fails_closed(alice: ApiServices, aws: dict[str, Any]) -> None:
    with Stubber(aws["dynamodb"]) as stub:
        stub.add_client_error(
            "batch_get_item", "ProvisionedThroughputExceededException", http_status_code=400
        )
        with pytest.raises(Unavailable):
            alice.accounts.sign_in("alice", PASSWORD, OWNER_IP)


def test_a_count_read_dynamodb_turned_away_is_asked_again_and_never_a_free_pass(
    alice: ApiServices, aws: dict[str, Any]
) -> None:
    fail(alice, "alice", ATTACKER, POLICY.max_failures_per_user_and_ip)
    pauses: list[float] = []

    def throttle(times: int) -> SignInThrottle:
        client = Unprocessing(aws["dynamodb"], times)
        return SignInThrottle(ThrottleStore(client, alice.config.settings_table, pauses.append), alice.clock)

    # Read on the third attempt: the attacker's failures count.
    with pytest.raises(ResourceExhausted):
        throttle(times=2).check("alice", ATTACKER)
    assert len(pauses) == 2
    # Still unread after every attempt: unavailable, never a sign-in let through uncounted.
    with pytest.raises(Unavailable):
        throttle(times=99).check("alice", ATTACKER)


def test_api_answers_429_with_retry_after(alice: ApiServices) -> None:
    services.replace(alice)
    try:
        fail(alice, "alice", ATTACKER, POLICY.max_failures_per_user_and_ip)
        response = api_function.handler(
            http_event(
                "POST",
                "/api/v1/auth/signin",
                body={"passwordCredentials": {"username": "alice", "password": PASSWORD}},
                source_ip=ATTACKER,
            ),
            FakeLambdaContext(),
        )
    finally:
        services.replace(None)
    assert response["statusCode"] == 429
    assert json.loads(response["body"])["code"] == 8
    assert 0 < int(response["headers"]["Retry-After"]) <= POLICY.window_seconds


def test_attempts_are_counted_before_they_are_checked(alice: ApiServices) -> None:
    """Attempts sent at the same instant: every check happens before any password is known
    to be wrong. Each is counted as it is let through, so no more than the limit are."""
    throttle = alice.throttle
    for _ in range(POLICY.max_failures_per_user_and_ip):
        throttle.check("alice", ATTACKER)
    with pytest.raises(ResourceExhausted):
        throttle.check("alice", ATTACKER)
    # Another address is not held back by them.
    throttle.check("alice", OWNER_IP)


def throttle_counts(api: ApiServices, aws: dict[str, Any]) -> dict[str, int]:
    """Every throttle counter in the table, by its kind and names (the window left out)."""
    scanned = aws["dynamodb"].scan(TableName=api.config.settings_table)["Items"]
    counts = {}
    for item in scanned:
        key = item["pk"]["S"]
        if key.startswith(THROTTLE_PREFIX):
            kind, _window, *names = key.removeprefix(THROTTLE_PREFIX).split("#")
            counts["#".join([kind, *names])] = int(item["failures"]["N"])
    return counts


def test_a_burst_over_many_usernames_from_one_address_is_held_to_the_address_limit(
    alice: ApiServices, aws: dict[str, Any]
) -> None:
    """Guesses for as many usernames sent at the same instant: each check comes before any
    of them is known to fail, so the address's count is taken as each is let through."""
    throttle = alice.throttle
    for i in range(POLICY.max_failures_per_ip):
        throttle.check(f"victim{i}", ATTACKER)
    with pytest.raises(ResourceExhausted):
        throttle.check("alice", ATTACKER)
    # The refused attempt took nothing: no count for (alice, the attacker), and the address's
    # count is the limit, not one past it.
    counts = throttle_counts(alice, aws)
    assert f"pair#{ATTACKER}#alice" not in counts
    assert counts[f"ip#{ATTACKER}"] == POLICY.max_failures_per_ip
    # Another address is not held back by them.
    assert alice.accounts.sign_in("alice", PASSWORD, OWNER_IP).username == "alice"


def test_sign_ins_from_one_address_never_add_up_to_its_limit(alice: ApiServices, aws: dict[str, Any]) -> None:
    # A shared NAT: more correct sign-ins than the address limit, with a typo among them.
    for _ in range(POLICY.max_failures_per_ip + 5):
        assert alice.accounts.sign_in("alice", PASSWORD, OWNER_IP).username == "alice"
    fail(alice, "alice", OWNER_IP, 1)
    assert throttle_counts(alice, aws) == {
        f"pair#{OWNER_IP}#alice": 1,
        f"ip#{OWNER_IP}": 1,
        "user#alice": 1,
    }


def test_an_address_count_that_cannot_be_taken_gives_the_pairs_back(
    alice: ApiServices, aws: dict[str, Any]
) -> None:
    throttle = alice.throttle
    with Stubber(aws["dynamodb"]) as stub:
        stub.add_response("batch_get_item", {"Responses": {alice.config.settings_table: []}})
        stub.add_response("update_item", {})
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException", http_status_code=400)
        stub.add_response("delete_item", {})
        with pytest.raises(Unavailable):
            throttle.check("alice", ATTACKER)
        stub.assert_no_pending_responses()


def test_an_attempt_given_back_or_forgiven_counts_nothing(alice: ApiServices, aws: dict[str, Any]) -> None:
    # A first step a second factor must finish gives its attempt back; a sign-in forgives.
    for _ in range(3 * POLICY.max_failures_per_user_and_ip):
        alice.accounts.sign_in("alice", PASSWORD, OWNER_IP, forgive=False)
        alice.accounts.sign_in("alice", PASSWORD, OWNER_IP)
    assert throttle_counts(alice, aws) == {}


def test_an_attempt_that_meets_a_storage_failure_is_given_back(
    alice: ApiServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail(alice, "alice", ATTACKER, POLICY.max_failures_per_user_and_ip - 1)

    def unavailable(username: str) -> None:
        raise Unavailable("storage unavailable")

    # Counted, then reading the user fails: a 503 that counts against no one.
    with monkeypatch.context() as patched:
        patched.setattr(alice.users, "get_by_username", unavailable)
        with pytest.raises(Unavailable):
            alice.accounts.sign_in("alice", PASSWORD, ATTACKER)
    # So the last attempt the limit allows is still there, and only it.
    fail(alice, "alice", ATTACKER, 1)
    with pytest.raises(ResourceExhausted):
        alice.accounts.sign_in("alice", PASSWORD, ATTACKER)


def test_an_attempt_its_block_leaves_unsettled_is_given_back_however_the_block_ends(
    alice: ApiServices,
) -> None:
    # An archived user's second step, an unknown provider, a spent challenge: refused,
    # but not a wrong password or code, so not a failure.
    throttle = alice.throttle
    for _ in range(2 * POLICY.max_failures_per_user_and_ip):
        with pytest.raises(PermissionDenied), throttle.attempt("alice", ATTACKER):
            raise PermissionDenied("user has been archived")
        with throttle.attempt("alice", ATTACKER):
            pass
    throttle.check("alice", ATTACKER)
