"""The container's cache of verified access tokens never outlives exp, the lag or a key."""

from __future__ import annotations

import json

import pytest

from auth.errors import Unauthenticated
from auth.keys import CURRENT_STAGE, PREVIOUS_STAGE, KeyRing
from auth.models import SignIn
from auth.tokens import SigningKey
from auth.verified_tokens import MAX_VERIFIED_TOKENS, VerifiedAccessTokens
from tests.support.clock import FakeClock
from tests.support.jwts import KEY, NOW, access_claims, forge

LAG = 10


class Ring:
    """The key-ring protocol over a dict the test changes, counting look-ups."""

    def __init__(self, *keys: SigningKey) -> None:
        self.by_kid = {key.kid: key for key in keys}
        self.lookups = 0

    def signing_key(self) -> SigningKey:
        return next(iter(self.by_kid.values()))

    def verification_key(self, kid: str) -> SigningKey | None:
        self.lookups += 1
        return self.by_kid.get(kid)


class Source:
    """A Secrets Manager stand-in for KeyRing: the secret strings at each stage."""

    def __init__(self) -> None:
        self.stages: dict[str, str] = {}

    def put(self, stage: str, kid: str, secret: bytes) -> None:
        self.stages[stage] = json.dumps({"kid": kid, "key": secret.decode()})

    def fetch(self, stage: str) -> str | None:
        return self.stages.get(stage)

    def store_first(self, secret_string: str) -> None:
        raise AssertionError("not a first run")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW + 1)


def test_a_repeat_within_the_lag_is_answered_from_memory(clock: FakeClock) -> None:
    tokens = VerifiedAccessTokens(Ring(KEY), clock, LAG)
    token = forge(access_claims(auth_time=NOW - 5, amr=["pwd"]))
    first = tokens.claims(token)
    clock.advance(LAG - 1)
    assert tokens.claims(token) is first
    # The sign-in is part of what is remembered.
    assert first.sign_in == SignIn(NOW - 5, ("pwd",))


def test_after_the_lag_the_token_is_verified_again(clock: FakeClock) -> None:
    ring = Ring(KEY)
    tokens = VerifiedAccessTokens(ring, clock, LAG)
    token = forge(access_claims())
    first = tokens.claims(token)
    clock.advance(LAG)
    again = tokens.claims(token)
    assert again == first and again is not first


def test_a_remembered_token_still_expires_at_its_exp(clock: FakeClock) -> None:
    tokens = VerifiedAccessTokens(Ring(KEY), clock, LAG)
    token = forge(access_claims(exp=NOW + 5))
    tokens.claims(token)
    clock.advance(3.9)
    tokens.claims(token)
    clock.advance(0.1)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.claims(token)


def test_a_token_sharing_a_remembered_tokens_header_and_payload_is_checked_in_full(clock: FakeClock) -> None:
    tokens = VerifiedAccessTokens(Ring(KEY), clock, LAG)
    genuine = forge(access_claims())
    tokens.claims(genuine)
    signing_input, _, signature = genuine.rpartition(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for forged in (f"{signing_input}.{flipped}", f"{signing_input}.{signature[:-1]}", f"{signing_input}."):
        with pytest.raises(Unauthenticated):
            tokens.claims(forged)


def test_a_key_leaving_the_ring_takes_its_tokens_with_it(clock: FakeClock) -> None:
    source = Source()
    old, new = SigningKey("v1", b"o" * 40), SigningKey("v2", b"n" * 40)
    source.put(CURRENT_STAGE, old.kid, old.secret)
    ring = KeyRing(source, clock, max_age=300)
    tokens = VerifiedAccessTokens(ring, clock, LAG)
    token = forge(access_claims(), key=old.secret)
    tokens.claims(token)
    # Two rotations: v1 is neither current nor previous any more.
    source.put(CURRENT_STAGE, "v3", b"t" * 40)
    source.put(PREVIOUS_STAGE, new.kid, new.secret)
    ring._load()  # what a reload on max_age or an unknown kid does
    with pytest.raises(Unauthenticated, match="signing key"):
        tokens.claims(token)


def test_a_ring_reload_drops_what_was_remembered_even_for_a_kept_key(clock: FakeClock) -> None:
    source = Source()
    source.put(CURRENT_STAGE, KEY.kid, KEY.secret)
    ring = KeyRing(source, clock, max_age=300)
    tokens = VerifiedAccessTokens(ring, clock, LAG)
    token = forge(access_claims())
    first = tokens.claims(token)
    ring._load()
    assert tokens.claims(token) is not first


def test_a_lag_of_zero_remembers_nothing(clock: FakeClock) -> None:
    tokens = VerifiedAccessTokens(Ring(KEY), clock, 0)
    token = forge(access_claims())
    assert tokens.claims(token) is not tokens.claims(token)


def test_refused_tokens_are_never_remembered(clock: FakeClock) -> None:
    tokens = VerifiedAccessTokens(Ring(KEY), clock, LAG)
    forged = forge(access_claims(), key=b"x" * 40)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            tokens.claims(forged)
    assert tokens._entries == {}


def test_the_cache_is_bounded(clock: FakeClock) -> None:
    tokens = VerifiedAccessTokens(Ring(KEY), clock, LAG)
    for index in range(MAX_VERIFIED_TOKENS + 5):
        tokens.claims(forge(access_claims(auth_time=index, amr=["pwd"])))
    assert len(tokens._entries) <= MAX_VERIFIED_TOKENS
