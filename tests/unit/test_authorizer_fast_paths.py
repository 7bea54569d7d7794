"""SPEC §1, §4: the authorizer's shortcuts (issue 6) refuse and accept exactly as before."""

from __future__ import annotations

import jwt
import pytest

from auth.authenticator import bearer_token
from auth.errors import Unauthenticated
from auth.tokens import parse_access_token, read_key_id
from handlers import authorizer_event
from tests.support.events import authorizer_event as make_event
from tests.support.jwts import KEY, NOW, access_claims, forge


def token(**claims: object) -> str:
    return forge(access_claims(**claims))


@pytest.mark.parametrize("separator", [" ", "\t", "\n", "\u00a0", "\u2028", "\x1c", ","])
def test_a_bearer_token_with_whitespace_or_a_comma_anywhere_is_refused(separator: str) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(f"Bearer abc{separator}def")


@pytest.mark.parametrize("claim", ["role", "status"])
def test_a_signed_token_with_a_non_string_role_or_status_is_refused(claim: str) -> None:
    with pytest.raises(Unauthenticated):
        parse_access_token(token(**{claim: ["ADMIN"]}), lambda kid: KEY, NOW)


def test_a_remembered_header_still_refuses_a_bad_signature() -> None:
    good = token()
    forged = jwt.encode(
        jwt.decode(
            good,
            KEY.secret,
            audience="user.access-token",
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False},
        ),
        b"x" * 40,
        algorithm="HS256",
        headers={"kid": "v1"},
    )
    assert read_key_id(good) == read_key_id(forged) == "v1"
    parse_access_token(good, lambda kid: KEY, NOW)
    with pytest.raises(Unauthenticated):
        parse_access_token(forged, lambda kid: KEY, NOW)


def test_a_header_that_failed_is_refused_again() -> None:
    bad = jwt.encode({"sub": "7"}, KEY.secret, algorithm="HS256", headers={"kid": "v1", "typ": "JOSE"})
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            read_key_id(bad)


def test_headers_are_read_in_any_case_from_hand_made_events() -> None:
    event = make_event("GET /api/v1/auth/me", headers={"Authorization": "Bearer x"})
    assert authorizer_event.header(event, "authorization") == "Bearer x"
    assert authorizer_event.header({"headers": None}, "authorization") is None
    assert authorizer_event.cookies(event) is None
