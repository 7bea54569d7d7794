"""Issue 5: property-based fuzzing of the authorizer with arbitrary headers, cookies and routes.

The authorizer runs in-process over tests/support/world (real services, in-memory AWS), so
the default run affords 10,000 examples, derandomized: the same examples on every run.
The inputs lean towards near misses (genuine credentials with one mutation, cookie values
of the right shape with other ids) so the search is not all trivially refused noise.

The oracle: a request is allowed only when it carries, exactly, a credential this test
minted for an active user, and then as that user; the only exception ever raised is
`Exception("Unauthorized")`.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth.routes import ROUTE_ACCESS, Access
from handlers import authorizer
from tests.support.attacks import Material
from tests.support.events import FakeLambdaContext, authorizer_event
from tests.support.world import build_world

EXAMPLES = 10_000
BEARER = "Bearer "
SESSION = "user_session="

WORLD = build_world()
ACTIVE = {WORLD.admin.user_id: WORLD.admin, WORLD.alice.user_id: WORLD.alice}
EVERYONE = [WORLD.admin, WORLD.alice, WORLD.archived]


def _bearer_tokens(m: Material) -> list[str]:
    return [m.access_token, m.pat, m.refresh_token]


# -- strategies ------------------------------------------------------------------------------

# Characters that matter to parsers: separators, quotes, whitespace, controls, non-ASCII.
# Drawn from a short alphabet (sampled_from is far cheaper to draw than st.characters), so
# the 10,000 examples fit in the suite's time budget.
NOISE_ALPHABET = 'aZ09-._~+/ \t,;="\x00\x01\x7f\u00e9\u20ac\U0001f600\u0661'
noise = st.text(st.sampled_from(NOISE_ALPHABET), max_size=12)
genuine_tokens = st.sampled_from([token for m in EVERYONE for token in _bearer_tokens(m)])
genuine_sessions = st.sampled_from([m.session for m in EVERYONE])
positions = st.sampled_from(range(512))


@st.composite
def mutated(draw: st.DrawFn, genuine: st.SearchStrategy[str]) -> str:
    """A genuine value with one character replaced, inserted or deleted, or cut short."""
    value = draw(genuine)
    where = draw(positions) % (len(value) + 1)
    char = draw(st.sampled_from(NOISE_ALPHABET))
    how = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append"]))
    if how == "replace":
        return value[:where] + char + value[where + 1 :]
    if how == "insert":
        return value[:where] + char + value[where:]
    if how == "delete":
        return value[:where] + value[where + 1 :]
    if how == "truncate":
        return value[:where]
    return value + draw(noise)


token_like = genuine_tokens | mutated(genuine_tokens) | noise
scheme = st.sampled_from(
    [
        BEARER,
        "bearer ",
        "BEARER ",
        "bEARER ",
        "Bearer",
        "bearer",
        "Bearer  ",
        "BEARER\t",
        "Basic ",
        "",
        " Bearer ",
    ]
)
one_header = st.none() | st.builds(lambda s, t: s + t, scheme, token_like) | noise
# Two header lines, as API Gateway hands them over: joined with a comma.
authorization = one_header | st.builds(lambda a, b: f"{a},{b}", one_header, one_header)

user_ids = st.sampled_from([-1, 0, 2**31, 2**31 - 1, *(m.user_id for m in EVERYONE)])
session_ids = st.sampled_from([*(m.session_id for m in EVERYONE), "00000000-0000-4000-8000-000000000000"])
session_values = (
    genuine_sessions
    | mutated(genuine_sessions)
    | st.builds(lambda user_id, session_id: f"{user_id}-{session_id}", user_ids, session_ids)
    | noise
)
cookie_pair = (
    st.builds(lambda value: SESSION + value, session_values)
    | st.builds(
        lambda name, value: f"{name}={value}", st.sampled_from(["memos_refresh", "other", ""]), token_like
    )
    | noise
)
# A Cookie header may carry several pairs in one string, "a=1; b=2".
cookie = cookie_pair | st.builds(lambda a, b: f"{a}; {b}", cookie_pair, cookie_pair)
cookies = st.none() | st.lists(cookie, max_size=2)
route_keys = st.sampled_from(sorted(ROUTE_ACCESS)) | st.builds(
    lambda method, path: f"{method} {path}", st.sampled_from(["GET", "POST", "PATCH"]), noise
)


# -- the oracle ------------------------------------------------------------------------------


def _session_pairs(cookie_list: list[str] | None) -> list[str]:
    values = []
    for raw in cookie_list or ():
        for part in raw.split(";"):
            if part.strip().startswith(SESSION):
                values.append(part.strip()[len(SESSION) :])
    return values


def holder(auth: str | None, cookie_list: list[str] | None) -> Material | None:
    """The active user whose minted credential this request carries, exactly; else None."""
    sessions = _session_pairs(cookie_list)
    if len(sessions) > 1:
        # A repeated session cookie (cookie tossing) refuses the request, whatever else it
        # carries: the authorizer reads the cookies before it picks a credential.
        return None
    # The scheme in any case (SPEC §1); its one space and the token exactly.
    if auth:
        # Any header but an empty one is the credential: a bearer token, or refused (never
        # passed over for the cookie).
        if auth[: len(BEARER)].lower() != BEARER.lower():
            return None
        token = auth[len(BEARER) :]
        return next((m for m in ACTIVE.values() if token in (m.access_token, m.pat)), None)
    if not sessions:
        return None
    return next((m for m in ACTIVE.values() if sessions[0] == m.session), None)


def expected(route_key: str, auth: str | None, cookie_list: list[str] | None) -> dict[str, Any] | None:
    """The answer the SPEC asks for; None means Exception('Unauthorized')."""
    caller = holder(auth, cookie_list)
    if caller is None:
        return None
    access = ROUTE_ACCESS.get(route_key)
    if access is None or (access is Access.ADMIN and caller is not WORLD.admin):
        return {"isAuthorized": False}
    return {"isAuthorized": True, "userId": str(caller.user_id)}


def outcome(route_key: str, auth: str | None, cookie_list: list[str] | None) -> dict[str, Any] | None:
    event = authorizer_event(route_key, auth, cookie_list)
    try:
        answer = authorizer.handler(event, FakeLambdaContext())
    except Exception as raised:
        # The one exception API Gateway turns into a 401; anything else is a crash (500).
        assert type(raised) is Exception and raised.args == ("Unauthorized",), repr(raised)
        return None
    if answer["isAuthorized"]:
        return {"isAuthorized": True, "userId": answer["context"]["userId"]}
    return answer


@pytest.fixture(autouse=True)
def wired() -> Any:
    authorizer.services.replace(WORLD.services)
    yield
    authorizer.services.replace(None)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(route_key=route_keys, auth=authorization, cookie_list=cookies)
def test_authorizer_allows_exactly_the_minted_credentials(
    route_key: str, auth: str | None, cookie_list: list[str] | None
) -> None:
    assert outcome(route_key, auth, cookie_list) == expected(route_key, auth, cookie_list)


def test_the_oracle_sees_the_genuine_credentials() -> None:
    """The property above would pass vacuously if no example were ever allowed."""
    me = "GET /api/v1/auth/me"
    for m in ACTIVE.values():
        for auth, cookie_list in (
            (BEARER + m.access_token, None),
            (BEARER + m.pat, None),
            (None, [SESSION + m.session]),
        ):
            assert outcome(me, auth, cookie_list) == {"isAuthorized": True, "userId": str(m.user_id)}
    archived = WORLD.archived
    assert outcome(me, BEARER + archived.access_token, None) is None
    assert outcome(me, None, [f"{SESSION}{archived.user_id}-{uuid.uuid4()}"]) is None
