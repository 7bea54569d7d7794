"""The credential paths the bench measures: one row each, the credential made as data.

A case knows how to make one credential for a user of a seeded World and whether the
authorizer should let it through. PATs and session cookies arrive with issue 3: until
`auth.pats` / `auth.sessions` exist, their rows are skipped and say so.
"""

from __future__ import annotations

import base64
import importlib.util
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth.models import SignIn, User
from auth.tokens import SigningKey, mint_access_token
from bench.world import World
from tests.support.events import authorizer_event

# A route every signed-in user may call, so an accepted credential is allowed.
ROUTE = "GET /api/v1/auth/me"
NOT_ON_THIS_BRANCH = "not implemented on this branch"
# What API Gateway forwards besides the credential; the handler parses all of it.
TYPICAL_HEADERS = {
    "accept": "application/json",
    "accept-encoding": "gzip, deflate, br",
    "content-length": "0",
    "host": "abcdef123.execute-api.us-east-1.amazonaws.com",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678",
    "x-forwarded-for": "203.0.113.7",
    "x-forwarded-port": "443",
    "x-forwarded-proto": "https",
}


@dataclass(frozen=True)
class Credential:
    authorization: str | None = None
    cookies: list[str] | None = None

    def event(self) -> dict[str, Any]:
        return authorizer_event(ROUTE, self.authorization, self.cookies, headers=TYPICAL_HEADERS)


MakeCredential = Callable[[World, User, int], Credential]


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    make: MakeCredential
    accepted: bool
    # A module the path needs; the row is skipped where it does not exist yet.
    needs: str | None = None
    # Each request presents a credential this container has not seen (the latency bench
    # makes one per request), instead of the same one again.
    distinct: bool = False

    @property
    def available(self) -> bool:
        return self.needs is None or importlib.util.find_spec(self.needs) is not None

    @property
    def skip_reason(self) -> str | None:
        return None if self.available else f"{NOT_ON_THIS_BRANCH} ({self.needs} is missing)"


def _access_token(world: World, user: User, index: int) -> Credential:
    token = mint_access_token(user, world.signing_key, world.clock.now(), world.config.access_token_ttl)
    return Credential(authorization=f"Bearer {token.token}")


def _access_token_first_seen(world: World, user: User, index: int) -> Credential:
    # A different sign-in time per index makes a different token for the same user, so
    # only the token is new: the user is in the container's cache, as for a repeat.
    sign_in = SignIn(int(world.clock.now()) - index, ("pwd",))
    token = mint_access_token(
        user, world.signing_key, world.clock.now(), world.config.access_token_ttl, sign_in
    )
    return Credential(authorization=f"Bearer {token.token}")


def _pat(world: World, user: User, index: int) -> Credential:
    _, token = world.api.pats.create(user, f"bench {index}", 0)
    return Credential(authorization=f"Bearer {token}")


def _session(world: World, user: User, index: int) -> Credential:
    from auth.models import ClientInfo

    _, cookie = world.api.sessions.create(user, ClientInfo(TYPICAL_HEADERS["user-agent"], "203.0.113.7"))
    return Credential(cookies=[f"user_session={cookie}"])


def _garbage(world: World, user: User, index: int) -> Credential:
    # Three dot-separated base64url segments of an access token's lengths: it gets past
    # the cheapest shape checks and is refused at the header.
    rng = random.Random(index)
    segments = (base64.urlsafe_b64encode(rng.randbytes(size)).rstrip(b"=").decode() for size in (27, 170, 32))
    return Credential(authorization="Bearer " + ".".join(segments))


def _forged(world: World, user: User, index: int) -> Credential:
    # A well-formed token with the right kid, signed with a key the attacker guessed:
    # the most expensive rejection, since only the signature check refuses it.
    guessed = SigningKey(world.signing_key.kid, f"guessed-key-{index:04d}-0123456789abcdefghij".encode())
    token = mint_access_token(user, guessed, world.clock.now(), world.config.access_token_ttl)
    return Credential(authorization=f"Bearer {token.token}")


CASES: tuple[Case, ...] = (
    Case("access_token", "access token, verified before in this container", _access_token, accepted=True),
    Case(
        "access_token_first_seen",
        "access token, first seen",
        _access_token_first_seen,
        accepted=True,
        distinct=True,
    ),
    Case("pat", "personal access token", _pat, accepted=True, needs="auth.pats"),
    Case("session", "session cookie", _session, accepted=True, needs="auth.sessions"),
    Case("garbage", "garbage token (rejected)", _garbage, accepted=False),
    Case("forged", "forged signature (rejected)", _forged, accepted=False),
)
