"""SPEC §1: the JWTs' exact shape and every way a token must be refused."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from auth.errors import Unauthenticated
from auth.models import Role, State, User
from auth.tokens import (
    SigningKey,
    mint_access_token,
    mint_refresh_token,
    parse_access_token,
    parse_refresh_token,
)
from tests.support.jwts import KEY, NOW, access_claims, forge

OTHER_KEY = SigningKey("v1", b"x" * 40)
USER = User(7, "alice", Role.USER, State.NORMAL, "", "", "", NOW, NOW)


def lookup(kid: str) -> SigningKey | None:
    return KEY if kid == KEY.kid else None


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_access_token_has_exact_header_and_claims() -> None:
    issued = mint_access_token(USER, KEY, NOW, 900)
    assert segment(issued.token, 0) == {"alg": "HS256", "kid": "v1", "typ": "JWT"}
    assert segment(issued.token, 1) == access_claims()
    assert issued.expires_at == NOW + 900


def test_refresh_token_has_exact_claims() -> None:
    issued = mint_refresh_token(7, "t-1", "f-1", KEY, NOW, 3600)
    assert segment(issued.token, 1) == {
        "type": "refresh",
        "tid": "t-1",
        "fid": "f-1",
        "iss": "memos",
        "sub": "7",
        "aud": ["user.refresh-token"],
        "iat": NOW,
        "exp": NOW + 3600,
    }


def test_valid_access_token_parses() -> None:
    claims = parse_access_token(mint_access_token(USER, KEY, NOW, 900).token, lookup, NOW + 10)
    assert (claims.user_id, claims.username, claims.role) == (7, "alice", Role.USER)


def test_refresh_token_round_trips() -> None:
    claims = parse_refresh_token(mint_refresh_token(7, "t", "f", KEY, NOW, 60).token, lookup, NOW)
    assert (claims.user_id, claims.token_id, claims.family_id) == (7, "t", "f")


def test_expiry_is_read_from_the_injected_clock() -> None:
    token = mint_access_token(USER, KEY, NOW, 900).token
    parse_access_token(token, lookup, NOW + 899)
    with pytest.raises(Unauthenticated):
        parse_access_token(token, lookup, NOW + 900)


def test_the_cutoff_claim_says_which_change_ends_a_token_and_iat_stands_in_without_it() -> None:
    # Minted from a user whose cut-off is 5 s old: the next change ends it, however soon.
    minted = mint_access_token(replace(USER, tokens_not_before=NOW - 5), KEY, NOW, 900).token
    claims = parse_access_token(minted, lookup, NOW)
    assert claims.cut_off == NOW - 5 and claims.issued_at == NOW
    assert not claims.ended_by(NOW - 5) and claims.ended_by(NOW - 4)
    # A token Memos minted has no `cutoff`: one issued before the cut-off's second is ended.
    memos = parse_access_token(forge(access_claims(cutoff=None)), lookup, NOW)
    assert memos.cut_off is None
    assert not memos.ended_by(NOW) and memos.ended_by(NOW + 1)


def _none_alg_token() -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"v1","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(access_claims()).encode()).rstrip(b"=")
    return f"{header.decode()}.{body.decode()}."


REFUSED_ACCESS_TOKENS = {
    "alg none": _none_alg_token(),
    "HS512": forge(access_claims(), key=b"k" * 64, alg="HS512"),
    "unknown kid": forge(access_claims(), headers={"kid": "v9"}),
    "forged signature": forge(access_claims(), key=OTHER_KEY.secret),
    "missing exp": forge(access_claims(exp=None)),
    "string exp": forge(access_claims(exp=str(NOW + 900))),
    "expired one second ago": forge(access_claims(exp=NOW - 1)),
    "iat far in the future": forge(access_claims(iat=NOW + 86400)),
    "nbf in the future": forge(access_claims(nbf=NOW + 3600)),
    "wrong issuer": forge(access_claims(iss="evil")),
    "wrong audience": forge(access_claims(aud=["user.refresh-token"])),
    "missing audience": forge(access_claims(aud=None)),
    "refresh token as access token": mint_refresh_token(7, "t", "f", KEY, NOW, 60).token,
    "wrong type claim": forge(access_claims(type="refresh")),
    "unknown role": forge(access_claims(role="ROOT")),
    "unknown status": forge(access_claims(status="GONE")),
    "Memos-style refresh token as access token": forge(
        {
            "type": "refresh",
            "tid": "t",
            "iss": "memos",
            "sub": "7",
            "aud": ["user.refresh-token"],
            "iat": NOW,
            "exp": NOW + 60,
        }
    ),
    "non-numeric subject": forge(access_claims(sub="admin")),
    "string cutoff": forge(access_claims(cutoff=str(NOW))),
    "negative cutoff": forge(access_claims(cutoff=-1)),
    "boolean cutoff": forge(access_claims(cutoff=True)),
    "signature stripped": mint_access_token(USER, KEY, NOW, 900).token.rsplit(".", 1)[0] + ".",
    "trailing garbage": mint_access_token(USER, KEY, NOW, 900).token + "x",
    "not a jwt": "hello",
    "empty": "",
}


@pytest.mark.parametrize("token", REFUSED_ACCESS_TOKENS.values(), ids=REFUSED_ACCESS_TOKENS.keys())
def test_refused_access_tokens(token: str) -> None:
    with pytest.raises(Unauthenticated):
        parse_access_token(token, lookup, NOW)


def test_access_token_is_refused_as_refresh_token() -> None:
    with pytest.raises(Unauthenticated):
        parse_refresh_token(mint_access_token(USER, KEY, NOW, 900).token, lookup, NOW)


def test_an_access_token_as_memos_mints_it_parses() -> None:
    # server/auth/token.go GenerateAccessTokenV2 (Memos v0.26 on): kid v1, the username in
    # `username` (no `name`), type, role and status.
    memos = {
        "type": "access",
        "role": "ADMIN",
        "status": "NORMAL",
        "username": "alice",
        "iss": "memos",
        "aud": ["user.access-token"],
        "sub": "7",
        "iat": NOW,
        "exp": NOW + 900,
    }
    claims = parse_access_token(forge(memos), lookup, NOW + 10)
    assert (claims.user_id, claims.username) == (7, "alice")
    assert (claims.role, claims.status) == (Role.ADMIN, State.NORMAL)


def test_an_access_token_of_memos_before_v0_26_is_refused() -> None:
    # GenerateAccessToken (Memos up to v0.25: PATs and sign-ins): no `type`. Memos took one only
    # while it was listed in the user's ACCESS_TOKENS setting, and v0.26's ParseAccessTokenV2
    # refuses it; signed with the key an import brings, it must not verify by signature alone.
    legacy = {
        "name": "alice",
        "iss": "memos",
        "aud": ["user.access-token"],
        "sub": "7",
        "iat": NOW,
        "exp": NOW + 365 * 86400,
    }
    with pytest.raises(Unauthenticated):
        parse_access_token(forge(legacy), lookup, NOW + 10)


def test_a_refresh_token_without_a_family_id_names_its_token_id_as_family() -> None:
    memos = {
        "type": "refresh",
        "tid": "t-1",
        "iss": "memos",
        "sub": "7",
        "aud": ["user.refresh-token"],
        "iat": NOW,
        "exp": NOW + 60,
    }
    claims = parse_refresh_token(forge(memos), lookup, NOW)
    assert (claims.token_id, claims.family_id, claims.from_memos) == ("t-1", "t-1", True)
    ours = parse_refresh_token(mint_refresh_token(7, "t-1", "f-1", KEY, NOW, 60).token, lookup, NOW)
    assert ours.from_memos is False
