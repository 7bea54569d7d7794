"""SPEC §1, §4: the authorizer's shortcuts (issue 6) refuse and accept exactly as before."""

from __future__ import annotations

import sys

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


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR", "BEARer"])
def test_the_bearer_scheme_is_read_in_any_case(scheme: str) -> None:
    assert bearer_token(f"{scheme} abc.def") == "abc.def"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
@pytest.mark.parametrize("space", ["", "  ", "\t", "\u00a0", "\n"])
def test_the_bearer_scheme_in_any_case_still_needs_exactly_one_space(scheme: str, space: str) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(f"{scheme}{space}abc")


@pytest.mark.parametrize("separator", [" ", "\t", ","])
def test_a_lower_case_bearer_token_with_whitespace_or_a_comma_is_refused(separator: str) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(f"bearer abc{separator}def")


@pytest.mark.parametrize("header", ["Basic abc", "Bearerabc", "Bear abc", "Béarer abc", "\u212aearer abc"])
def test_other_schemes_are_refused_not_passed_over(header: str) -> None:
    # Passed over, they would let a session cookie answer for a header the client did send.
    with pytest.raises(Unauthenticated):
        bearer_token(header)


@pytest.mark.parametrize("header", [None, ""])
def test_no_header_or_an_empty_one_is_no_bearer_token(header: str | None) -> None:
    assert bearer_token(header) is None


def test_no_other_character_lowers_into_the_scheme() -> None:
    # Why lowering the first 7 characters is an ASCII comparison: no non-ASCII code point
    # lowers to a string holding a letter of "bearer" or the space.
    assert [
        hex(point) for point in range(0x80, sys.maxunicode + 1) if set(chr(point).lower()) & set("bearer ")
    ] == []


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
