"""The attack matrix: credentials an attacker (or a confused client) could send, one per row.

Rows are data: a name and a builder that turns the real credentials of a signed-in user
(`Material`) into what is sent. The same rows run against the authorizer in-process
(tests/unit/test_attack_matrix.py) and over HTTP against the local stack
(tests/e2e/test_attack_matrix.py); every one must be refused. GENUINE and ACCEPTED_VARIANTS
are the other side: what must pass.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from auth.pats import PAT_PREFIX, generate_pat, hash_pat

# A signing key that is not the service's but is otherwise fine for HS256.
OTHER_KEY = b"an-attacker-chosen-key-of-at-least-32-bytes"
TEN_KB = 10 * 1024


@dataclass(frozen=True)
class Material:
    """The real credentials of one signed-in user, and what an attacker might also know."""

    kid: str
    key: bytes
    now: int
    user_id: int
    other_user_id: int
    access_token: str
    refresh_token: str
    pat: str
    # The `user_session` cookie's value, `{userID}-{secret}`.
    session: str
    # The session's public id, as listings show it (GET /users/{u}/sessions).
    session_public_id: str

    @property
    def claims(self) -> dict[str, Any]:
        return jwt.decode(self.access_token, options={"verify_signature": False})

    @property
    def session_id(self) -> str:
        """The cookie's secret half."""
        return self.session.split("-", 1)[1]


@dataclass(frozen=True)
class Sent:
    """What one request carries: Authorization header values (a second one is a second
    header line) and Cookie pairs."""

    authorization: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()

    def joined_authorization(self) -> str | None:
        # API Gateway joins repeated headers with a comma before the authorizer sees them.
        return ",".join(self.authorization) if self.authorization else None


@dataclass(frozen=True)
class Attack:
    name: str
    build: Callable[[Material], Sent]
    # Over HTTP, a row whose header only differs in leading/trailing whitespace arrives as
    # the real header (RFC 9110 §5.5: that whitespace is not part of the value).
    over_http: bool = True
    # What the local stack answers when its HTTP server refuses the request before the
    # authorizer runs (a header line above its 64 kB limit; API Gateway's limit is 10 kB).
    http_status: int = 401
    notes: str = field(default="", compare=False)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: dict[str, Any] | str) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def jws(
    header: dict[str, Any] | str, payload: dict[str, Any] | str, key: bytes | None, digest: str = "sha256"
) -> str:
    """A compact JWS built by hand, so headers and payloads can be anything (raw JSON text
    with duplicate keys, any `alg`); `key=None` leaves the signature empty."""
    signing_input = f"{b64(_json(header))}.{b64(_json(payload))}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def _header(m: Material, **changes: Any) -> dict[str, Any]:
    header = {"alg": "HS256", "kid": m.kid, "typ": "JWT", **changes}
    return {name: value for name, value in header.items() if value is not None}


def _claims(m: Material, **changes: Any) -> dict[str, Any]:
    claims = {**m.claims, **changes}
    return {name: value for name, value in claims.items() if value is not None}


def forged(m: Material, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """The user's access token with changed claims or header, signed with the real key."""
    return jws(_header(m, **(header or {})), _claims(m, **claims), m.key)


def bearer(token: str) -> Sent:
    return Sent(authorization=(f"Bearer {token}",))


def header(value: str) -> Sent:
    return Sent(authorization=(value,))


def session_cookie(value: str) -> Sent:
    return Sent(cookies=(f"user_session={value}",))


def _duplicate_sub(m: Material) -> str:
    # Python's json keeps the last of duplicate keys, other parsers the first: a token
    # whose meaning depends on the parser is refused outright.
    claims = _claims(m)
    claims.pop("sub")
    body = json.dumps(claims)[:-1] + f', "sub": "{m.other_user_id}", "sub": "{m.user_id}"}}'
    return jws(_header(m), body, m.key)


def _duplicate_alg(m: Material) -> str:
    head = f'{{"alg": "none", "kid": "{m.kid}", "typ": "JWT", "alg": "HS256"}}'
    return jws(head, _claims(m), m.key)


def _body(pat: str) -> str:
    return pat[len(PAT_PREFIX) :]


def _flip_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


TOKEN_ATTACKS: list[Attack] = [
    Attack("alg none", lambda m: bearer(jws(_header(m, alg="none"), _claims(m), None))),
    Attack("alg None", lambda m: bearer(jws(_header(m, alg="None"), _claims(m), None))),
    Attack("alg NONE", lambda m: bearer(jws(_header(m, alg="NONE"), _claims(m), None))),
    Attack(
        "alg none with a real signature", lambda m: bearer(jws(_header(m, alg="none"), _claims(m), m.key))
    ),
    Attack("alg missing", lambda m: bearer(jws(_header(m, alg=None), _claims(m), m.key))),
    Attack(
        "HS384 with the real key", lambda m: bearer(jws(_header(m, alg="HS384"), _claims(m), m.key, "sha384"))
    ),
    Attack(
        "HS512 with the real key", lambda m: bearer(jws(_header(m, alg="HS512"), _claims(m), m.key, "sha512"))
    ),
    # Algorithm confusion: an RS256 header over an HMAC made with the key as the "public key".
    Attack(
        "RS256 with the HMAC key as public key",
        lambda m: bearer(jws(_header(m, alg="RS256"), _claims(m), m.key)),
    ),
    Attack("unknown kid", lambda m: bearer(forged(m, header={"kid": "v999"}))),
    Attack("kid path traversal", lambda m: bearer(forged(m, header={"kid": "../../../../etc/passwd"}))),
    Attack("kid SQL injection", lambda m: bearer(forged(m, header={"kid": "v1' OR '1'='1"}))),
    Attack("kid of 10 kB", lambda m: bearer(forged(m, header={"kid": "v" * TEN_KB}))),
    Attack("kid not a string", lambda m: bearer(forged(m, header={"kid": 1}))),
    Attack("kid missing", lambda m: bearer(forged(m, header={"kid": None}))),
    Attack("typ not JWT", lambda m: bearer(forged(m, header={"typ": "JWE"}))),
    Attack("exp missing", lambda m: bearer(forged(m, exp=None))),
    Attack("exp a string", lambda m: bearer(forged(m, exp=str(m.now + 900)))),
    Attack("exp a float", lambda m: bearer(forged(m, exp=m.now + 900.5))),
    Attack("exp one second ago", lambda m: bearer(forged(m, iat=m.now - 900, exp=m.now - 1))),
    Attack("nbf in the future", lambda m: bearer(forged(m, nbf=m.now + 3600))),
    Attack(
        "iat far in the future", lambda m: bearer(forged(m, iat=m.now + 365 * 86400, exp=m.now + 366 * 86400))
    ),
    Attack("iat missing", lambda m: bearer(forged(m, iat=None))),
    Attack("wrong iss", lambda m: bearer(forged(m, iss="not-memos"))),
    Attack("iss missing", lambda m: bearer(forged(m, iss=None))),
    Attack("wrong aud", lambda m: bearer(forged(m, aud=["user.refresh-token"]))),
    Attack("aud missing", lambda m: bearer(forged(m, aud=None))),
    Attack("type claim refresh", lambda m: bearer(forged(m, type="refresh"))),
    Attack(
        "sub of another user, forged with another key",
        lambda m: bearer(jws(_header(m), _claims(m, sub=str(m.other_user_id)), OTHER_KEY)),
    ),
    Attack("sub not a number", lambda m: bearer(forged(m, sub="admin"))),
    Attack("sub negative", lambda m: bearer(forged(m, sub="-1"))),
    Attack("sub 2^31", lambda m: bearer(forged(m, sub=str(2**31)))),
    Attack("refresh token as access token", lambda m: bearer(m.refresh_token)),
    Attack("signature stripped", lambda m: bearer(m.access_token.rsplit(".", 1)[0] + ".")),
    Attack("signature and its dot stripped", lambda m: bearer(m.access_token.rsplit(".", 1)[0])),
    Attack("signature of another key", lambda m: bearer(jws(_header(m), _claims(m), OTHER_KEY))),
    Attack("signature with one character changed", lambda m: bearer(_flip_last(m.access_token))),
    Attack("trailing garbage", lambda m: bearer(m.access_token + "x")),
    Attack("trailing dot", lambda m: bearer(m.access_token + ".")),
    Attack("trailing space then garbage", lambda m: bearer(m.access_token + " x")),
    Attack("trailing whitespace", lambda m: bearer(m.access_token + " \t"), over_http=False),
    Attack("leading whitespace in the token", lambda m: header("Bearer  " + m.access_token)),
    Attack("duplicate JSON keys in the payload", lambda m: bearer(_duplicate_sub(m))),
    Attack("duplicate JSON keys in the header", lambda m: bearer(_duplicate_alg(m))),
    Attack("100 kB token", lambda m: bearer(forged(m, pad="p" * 100 * 1024)), http_status=431),
    Attack("non-ASCII in the signature", lambda m: bearer(m.access_token[:-1] + "é")),
    Attack(
        "non-ASCII in the payload", lambda m: bearer(jws(_header(m), _claims(m, name="ålice"), OTHER_KEY))
    ),
    Attack(
        "control character in the token", lambda m: bearer(m.access_token[:20] + "\x01" + m.access_token[20:])
    ),
    Attack("NUL at the end of the token", lambda m: bearer(m.access_token + "\x00")),
    # The scheme's case does not matter (ACCEPTED_VARIANTS below); its spacing does, in any case.
    Attack("Bearer without a space", lambda m: header("Bearer" + m.access_token)),
    Attack("bearer in lower case without a space", lambda m: header("bearer" + m.access_token)),
    Attack("Bearer and a tab", lambda m: header("Bearer\t" + m.access_token)),
    Attack("BEARER in upper case and a tab", lambda m: header("BEARER\t" + m.access_token)),
    Attack("bearer in lower case and two spaces", lambda m: header("bearer  " + m.access_token)),
    Attack("bearer in lower case, token with a space", lambda m: header("bearer " + m.access_token + " x")),
    Attack("bearer in lower case, token with a comma", lambda m: header("bearer " + m.access_token + ",x")),
    Attack("Bearer with a non-ASCII letter", lambda m: header("Bear\u0117r " + m.access_token)),
    Attack("leading space before Bearer", lambda m: header(" Bearer " + m.access_token), over_http=False),
    Attack("Bearer with nothing after it", lambda m: header("Bearer ")),
    Attack("Basic scheme", lambda m: header("Basic " + base64.b64encode(b"alice:" + m.key).decode())),
    Attack("token without a scheme", lambda m: header(m.access_token)),
    Attack(
        "two Authorization headers, both valid",
        lambda m: Sent(authorization=(f"Bearer {m.access_token}", f"Bearer {m.access_token}")),
    ),
    Attack(
        "two Authorization headers, forged then valid",
        lambda m: Sent(
            authorization=(f"Bearer {jws(_header(m), _claims(m), OTHER_KEY)}", f"Bearer {m.access_token}")
        ),
    ),
]

COOKIE_ATTACKS: list[Attack] = [
    # SPEC §1: nothing a listing shows rebuilds a cookie.
    Attack(
        "session cookie built from the public id",
        lambda m: session_cookie(f"{m.user_id}-{m.session_public_id}"),
    ),
    Attack("session user id negative", lambda m: session_cookie(f"-{m.user_id}-{m.session_id}")),
    Attack("session user id zero", lambda m: session_cookie(f"0-{m.session_id}")),
    Attack("session user id 2^31", lambda m: session_cookie(f"{2**31}-{m.session_id}")),
    Attack("session user id with a leading zero", lambda m: session_cookie(f"0{m.user_id}-{m.session_id}")),
    Attack("session user id with a plus sign", lambda m: session_cookie(f"+{m.user_id}-{m.session_id}")),
    Attack("session user id not numeric", lambda m: session_cookie(f"alice-{m.session_id}")),
    Attack("session user id in Arabic-Indic digits", lambda m: session_cookie(f"\u0661-{m.session_id}")),
    Attack("session of another user's id", lambda m: session_cookie(f"{m.other_user_id}-{m.session_id}")),
    Attack("session id in upper case", lambda m: session_cookie(f"{m.user_id}-{m.session_id.upper()}")),
    Attack("session missing the dash", lambda m: session_cookie(f"{m.user_id}{m.session_id}")),
    Attack("session id only", lambda m: session_cookie(m.session_id)),
    Attack(
        "session unknown id", lambda m: session_cookie(f"{m.user_id}-00000000-0000-4000-8000-000000000000")
    ),
    Attack("session in quotes", lambda m: session_cookie(f'"{m.session}"')),
    Attack("session value of 10 kB", lambda m: session_cookie(m.session + "a" * TEN_KB)),
    Attack("session cookie sent twice", lambda m: Sent(cookies=(f"user_session={m.session}",) * 2)),
    Attack(
        "session cookie forged then valid",
        lambda m: Sent(
            cookies=(f"user_session={m.other_user_id}-{m.session_id}", f"user_session={m.session}")
        ),
    ),
    Attack("session cookie empty", lambda m: session_cookie("")),
    Attack("PAT in the session cookie", lambda m: session_cookie(m.pat)),
    Attack("access token in the session cookie", lambda m: session_cookie(m.access_token)),
]

PAT_ATTACKS: list[Attack] = [
    Attack("PAT prefix in upper case", lambda m: bearer("MEMOS_PAT_" + _body(m.pat))),
    Attack("PAT prefix with a dash", lambda m: bearer("memos-pat_" + _body(m.pat))),
    Attack("PAT without its prefix", lambda m: bearer(_body(m.pat))),
    Attack("PAT one character short", lambda m: bearer(m.pat[:-1])),
    Attack("PAT one character long", lambda m: bearer(m.pat + "A")),
    Attack("PAT with a bad checksum", lambda m: bearer(_flip_last(m.pat))),
    Attack("PAT with a character outside base62", lambda m: bearer(m.pat[:15] + "_" + m.pat[16:])),
    Attack("PAT well-formed but unknown", lambda _: bearer(generate_pat())),
    Attack("PAT hash instead of the token", lambda m: bearer(hash_pat(m.pat))),
    Attack("PAT hash with the PAT prefix", lambda m: bearer(PAT_PREFIX + hash_pat(m.pat)[:32])),
    Attack("PAT without Bearer", lambda m: header(m.pat)),
    Attack("PAT twice in one header", lambda m: bearer(m.pat + "," + m.pat)),
]

ALL_ATTACKS: list[Attack] = TOKEN_ATTACKS + COOKIE_ATTACKS + PAT_ATTACKS
ATTACK_IDS = [attack.name for attack in ALL_ATTACKS]
assert len(set(ATTACK_IDS)) == len(ATTACK_IDS), "attack names must be unique"

# The credentials themselves, which must pass: without these the matrix could pass vacuously.
GENUINE: dict[str, Callable[[Material], Sent]] = {
    "access token": lambda m: bearer(m.access_token),
    "PAT": lambda m: bearer(m.pat),
    "session cookie": lambda m: session_cookie(m.session),
}

# Other spellings of the genuine credentials that must pass like them: the scheme is
# case-insensitive (RFC 9110 §11.1, SPEC §1), as in Memos. The PAT prefix is not.
ACCEPTED_VARIANTS: dict[str, Callable[[Material], Sent]] = {
    "bearer in lower case": lambda m: header("bearer " + m.access_token),
    "BEARER in upper case": lambda m: header("BEARER " + m.access_token),
    "bEaReR in mixed case": lambda m: header("bEaReR " + m.access_token),
    "PAT with bearer in lower case": lambda m: header("bearer " + m.pat),
    "PAT with BEARER in upper case": lambda m: header("BEARER " + m.pat),
}

# Refresh-cookie rows for POST /auth/refresh: the access token used as a refresh token and
# refresh tokens that were tampered with.
REFRESH_ATTACKS: dict[str, Callable[[Material], str]] = {
    "access token as refresh token": lambda m: m.access_token,
    "refresh token with alg none": lambda m: jws(
        _header(m, alg="none"), jwt.decode(m.refresh_token, options={"verify_signature": False}), None
    ),
    "refresh token signed with another key": lambda m: jws(
        _header(m), jwt.decode(m.refresh_token, options={"verify_signature": False}), OTHER_KEY
    ),
    "refresh token with the access audience": lambda m: jws(
        _header(m),
        {**jwt.decode(m.refresh_token, options={"verify_signature": False}), "aud": ["user.access-token"]},
        m.key,
    ),
    "refresh token for another user": lambda m: jws(
        _header(m),
        {**jwt.decode(m.refresh_token, options={"verify_signature": False}), "sub": str(m.other_user_id)},
        m.key,
    ),
    "refresh token with trailing garbage": lambda m: m.refresh_token + "x",
    "PAT as refresh token": lambda m: m.pat,
}
