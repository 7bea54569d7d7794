"""The two JWTs of SPEC §1, access tokens and refresh tokens: minting, parsing, issuing.

Every check a token must pass lives here, so the authorizer and the refresh route agree.
Time checks use the caller's clock rather than PyJWT's, so expiry is testable.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeGuard, TypeVar, cast

from auth.clock import Clock
from auth.errors import Unauthenticated
from auth.models import NO_SIGN_IN, Role, SignIn, State, User

if TYPE_CHECKING:
    import jwt

# Identifies tokens as issued by Memos, so Memos clients accept them unchanged.
ISSUER = "memos"
# Distinct audiences keep an access token from being replayed as a refresh token and back.
ACCESS_AUDIENCE = "user.access-token"
REFRESH_AUDIENCE = "user.refresh-token"
ACCESS_TYPE = "access"
REFRESH_TYPE = "refresh"
# The only algorithm accepted: naming it blocks 'none' and algorithm-confusion attacks.
ALGORITHM = "HS256"
# Tokens minted by a container whose clock runs slightly ahead are still accepted.
MAX_CLOCK_SKEW_SECONDS = 60
# A header longer than this is not one we minted; refusing it early bounds the work.
MAX_TOKEN_CHARS = 4096
MAX_KID_CHARS = 16
# Every token a key signs carries the same header segment, so the header check is done
# once per segment and remembered; real traffic needs one entry per kid in use.
MAX_CHECKED_HEADERS = 64
# RFC 8176 defines a dozen values; a token naming more is not one we minted.
MAX_AMR_VALUES = 8


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class IssuedToken:
    """A token as minted: the compact JWT and its `exp`, for the answer that hands it out."""

    token: str = field(repr=False)
    expires_at: int


@dataclass(frozen=True)
class AccessClaims:
    """An access token's claims, once it passed every check (parse_access_token)."""

    user_id: int
    username: str
    # None in a token Memos minted (it has neither claim): the user's record decides anyway.
    role: Role | None
    status: State | None
    issued_at: int
    expires_at: int
    sign_in: SignIn = NO_SIGN_IN
    # The user's cut-off (`tokens_not_before`) as the token was minted, its `cutoff` claim;
    # None in a token Memos minted, which `iat` stands in for.
    cut_off: int | None = None

    def ended_by(self, cut_off: int) -> bool:
        """Whether a change that ended every login of the user (moving their cut-off to
        `cut_off`) came after the read of the user this token was minted from. The claim
        says so exactly, however close in time the change and the mint were; without it,
        a token issued before the cut-off's second is taken to predate the change."""
        return (self.cut_off if self.cut_off is not None else self.issued_at) < cut_off


@dataclass(frozen=True)
class RefreshClaims:
    token_id: str
    family_id: str
    user_id: int
    issued_at: int
    expires_at: int
    # A token Memos minted has no `fid`: its `tid` names a family the importer made, and
    # only such a family may take it (RefreshTokens.rotate).
    from_memos: bool = False


KeyLookup = Callable[[str], SigningKey | None]


class SigningKeys(Protocol):
    """The key ring (auth.keys): the key that signs now, and every key that still verifies."""

    def signing_key(self) -> SigningKey: ...

    def verification_key(self, kid: str) -> SigningKey | None: ...


T = TypeVar("T")
_checked_headers: dict[str, str] = {}
# Claim values to enum members by plain dict look-up: Role(value) costs a microsecond or
# two per request on the authorizer's hot path, a dict get a tenth of that.
_ROLES = {role.value: role for role in Role}
_STATES = {state.value: state for state in State}


def _encode(claims: dict[str, object], key: SigningKey) -> str:
    return _pyjwt().encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"})


def mint_access_token(
    user: User, key: SigningKey, now: float, ttl: int, sign_in: SignIn = NO_SIGN_IN
) -> IssuedToken:
    """An access token; `sign_in` becomes `auth_time` and `amr`, left out when unknown (as
    in the tokens Memos mints, which verify but count as an old sign-in).

    `cutoff` is the user's cut-off as `user` was read: once a change moves it (a password
    change, an admin's removal of a factor), a token minted from a read before the change is
    refused, whenever it was minted (AccessClaims.ended_by), and one minted from the user as
    changed passes at once."""
    issued_at = int(now)
    expires_at = issued_at + ttl
    claims: dict[str, object] = {
        "type": ACCESS_TYPE,
        "name": user.username,
        "username": user.username,
        "role": user.role.value,
        "status": user.state.value,
        "iss": ISSUER,
        "sub": str(user.id),
        "aud": [ACCESS_AUDIENCE],
        "iat": issued_at,
        "exp": expires_at,
        "cutoff": user.tokens_not_before,
    }
    if sign_in.auth_time:
        claims["auth_time"] = sign_in.auth_time
        claims["amr"] = list(sign_in.amr)
    return IssuedToken(_encode(claims, key), expires_at)


def mint_refresh_token(
    user_id: int, token_id: str, family_id: str, key: SigningKey, now: float, ttl: int
) -> IssuedToken:
    issued_at = int(now)
    expires_at = issued_at + ttl
    claims: dict[str, object] = {
        "type": REFRESH_TYPE,
        "tid": token_id,
        "fid": family_id,
        "iss": ISSUER,
        "sub": str(user_id),
        "aud": [REFRESH_AUDIENCE],
        "iat": issued_at,
        "exp": expires_at,
    }
    return IssuedToken(_encode(claims, key), expires_at)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey("duplicate key")
    return result


# Built once: json.loads with a hook builds a new decoder per call, which costs more than the parse.
_strict_json = json.JSONDecoder(object_pairs_hook=_unique_keys)


def _segment_json(segment: str) -> object:
    """A header or payload segment, as JSON that means one thing to every parser.

    A duplicate key is refused: Python keeps the last one, other JWT libraries the first,
    and a token must not say `sub: 1` to one reader and `sub: 2` to another.
    """
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return _strict_json.decode(raw.decode("utf-8"))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise Unauthenticated("malformed token") from exc


class _PyJWT(NamedTuple):
    encode: Callable[..., str]
    checker: jwt.PyJWT
    # PyJWT types its options as a TypedDict of its own; these are its defaults, amended.
    claim_options: Any
    invalid_token: type[jwt.InvalidTokenError]


@functools.cache
def _pyjwt() -> _PyJWT:
    """PyJWT, imported on the first token minted or verified, not at import: with
    `cryptography` installed (the API function's package has it, for TOTP secrets) PyJWT
    imports its RSA, EC and X.509 modules, a large share of the API's cold start, and most
    API requests (the authorizer verified their caller) never touch a token."""
    import jwt
    from jwt.warnings import InsecureKeyLengthWarning

    # The demo key 'usememos' is short on purpose (Memos' well-known demo secret); real
    # keys are checked for length where they are loaded (auth.keys).
    warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
    # PyJWT's checks once the signature matched: the claims required, aud and iss (sub and
    # jti typed); time is checked in _verified_claims against the injected clock instead.
    options = {
        **jwt.PyJWT().options,
        "require": ["exp", "iat", "iss", "aud", "sub"],
        "verify_exp": False,
        "verify_iat": False,
        "verify_nbf": False,
    }
    return _PyJWT(jwt.encode, jwt.PyJWT(), options, jwt.InvalidTokenError)


def load_pyjwt() -> None:
    """Import PyJWT now, during a function's init, for one whose requests mostly need it."""
    _pyjwt()


def _checked_payload(payload_segment: str, audience: str) -> dict[str, Any]:
    """The payload of a token whose signature _signature_matches accepted.

    PyJWT's decode would decode all three segments again (its per-character alphabet scan
    is most of its time) only to check what the signature already proves: these bytes are
    exactly what a holder of the key signed. Its claim checks are what is left, so they are
    run as its decode runs them (PyJWT is pinned; the token tests and the attack matrix
    hold it to every check), over a payload parsed once, refusing duplicate keys in that
    parse.
    """
    payload = _segment_json(payload_segment)
    if not isinstance(payload, dict):
        raise Unauthenticated("invalid token")
    pyjwt = _pyjwt()
    try:
        pyjwt.checker._validate_claims(payload, pyjwt.claim_options, audience=audience, issuer=ISSUER)
    except pyjwt.invalid_token as exc:
        raise Unauthenticated("invalid token") from exc
    return payload


def read_key_id(token: str) -> str:
    """The header's kid, after checking the header is one we could have minted.

    Cheap (no signature work), so malformed tokens are refused before any key lookup. A JWT
    is ASCII by definition (base64url and dots): any other character is refused here, before
    the signature check encodes the token (a lone surrogate cannot be encoded, and must be
    an invalid token, not a failure). isascii is O(1) on a str.
    """
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2 or not token.isascii():
        raise Unauthenticated("malformed token")
    segment = token.split(".", 1)[0]
    kid = _checked_headers.get(segment)
    if kid is None:
        kid = _kid_of_header(segment)
        # Only headers that passed are remembered, and few ever do (one per signing key),
        # so a flood of invented headers can neither grow the cache nor skip a check.
        if len(_checked_headers) >= MAX_CHECKED_HEADERS:
            _checked_headers.clear()
        _checked_headers[segment] = kid
    return kid


def _kid_of_header(segment: str) -> str:
    header = _segment_json(segment)
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise Unauthenticated("unsupported token algorithm")
    if header.get("typ", "JWT") != "JWT":
        raise Unauthenticated("unsupported token type")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
        raise Unauthenticated("unknown signing key")
    return kid


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _signature_matches(token: str, key: SigningKey) -> bool:
    """Whether the token's signature segment is exactly base64url(HMAC-SHA256(key, signing input)).

    Checked before PyJWT parses anything, so a forged token costs one HMAC and no JSON
    (the header it names was already checked, alg HS256 among it). Exact and unpadded:
    the only encoding a signer of ours (PyJWT, Memos' golang-jwt) produces.
    """
    signing_input, _, signature = token.rpartition(".")
    expected = base64.urlsafe_b64encode(hmac.digest(key.secret, signing_input.encode(), hashlib.sha256))
    # compare_digest on bytes: constant-time, and refuses nothing merely for being non-ASCII.
    return hmac.compare_digest(expected.rstrip(b"="), signature.encode())


def _verified_claims(
    token: str, keys: KeyLookup, audience: str, token_type: str, now: float
) -> dict[str, object]:
    key = keys(read_key_id(token))
    if key is None:
        raise Unauthenticated("unknown signing key")
    if not _signature_matches(token, key):
        raise Unauthenticated("invalid token")
    claims = _checked_payload(token.split(".", 2)[1], audience)
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    if not _is_int(exp) or not _is_int(iat):
        raise Unauthenticated("invalid token")
    if now >= exp:
        raise Unauthenticated("token expired")
    if iat > now + MAX_CLOCK_SKEW_SECONDS:
        raise Unauthenticated("token issued in the future")
    if nbf is not None and (not _is_int(nbf) or nbf > now + MAX_CLOCK_SKEW_SECONDS):
        raise Unauthenticated("token not yet valid")
    # Required, as Memos (v0.26 on) requires it: a JWT of Memos up to v0.25 has no `type` and
    # was good only while listed in Memos' database (ACCESS_TOKENS), which a signature cannot
    # tell, so the key an import brings must not make a revoked one good again.
    if claims.get("type") != token_type:
        raise Unauthenticated("wrong token type")
    return claims


def _user_id(claims: dict[str, object]) -> int:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or len(sub) > 10:
        raise Unauthenticated("invalid token subject")
    user_id = int(sub)
    if not 0 < user_id < 2**31:
        raise Unauthenticated("invalid token subject")
    return user_id


def _member(members: dict[str, T], value: object) -> T | None:
    return members.get(value) if isinstance(value, str) else None


def parse_access_token(token: str, keys: KeyLookup, now: float) -> AccessClaims:
    claims = _verified_claims(token, keys, ACCESS_AUDIENCE, ACCESS_TYPE, now)
    # Memos' own tokens name the user in `username` alone; memos-auth's carry both.
    username = claims.get("name", claims.get("username"))
    role_claim, status_claim = claims.get("role"), claims.get("status")
    role, status = _member(_ROLES, role_claim), _member(_STATES, status_claim)
    # Absent is fine (the user's record is read anyway); present but unknown is not a token
    # anyone minted.
    if not isinstance(username, str) or (role is None) != (role_claim is None):
        raise Unauthenticated("invalid token claims")
    if (status is None) != (status_claim is None):
        raise Unauthenticated("invalid token claims")
    cut_off = claims.get("cutoff")
    if cut_off is not None and (not _is_int(cut_off) or cut_off < 0):
        raise Unauthenticated("invalid token claims")
    return AccessClaims(
        user_id=_user_id(claims),
        username=username,
        role=role,
        status=status,
        # Both ints: _verified_claims refuses a token whose iat or exp is not.
        issued_at=cast(int, claims["iat"]),
        expires_at=cast(int, claims["exp"]),
        sign_in=_sign_in(claims),
        cut_off=cut_off,
    )


def _sign_in(claims: dict[str, object]) -> SignIn:
    """`auth_time` and `amr` (OpenID Connect Core §2): absent means an old sign-in; present
    but malformed is not a token we minted."""
    auth_time, amr = claims.get("auth_time"), claims.get("amr")
    if auth_time is None and amr is None:
        return NO_SIGN_IN
    if not _is_int(auth_time) or auth_time < 0:
        raise Unauthenticated("invalid token claims")
    if not isinstance(amr, list) or len(amr) > MAX_AMR_VALUES or not all(isinstance(v, str) for v in amr):
        raise Unauthenticated("invalid token claims")
    return SignIn(auth_time, tuple(amr))


def parse_refresh_token(token: str, keys: KeyLookup, now: float) -> RefreshClaims:
    claims = _verified_claims(token, keys, REFRESH_AUDIENCE, REFRESH_TYPE, now)
    token_id, family_id = claims.get("tid"), claims.get("fid")
    from_memos = family_id is None
    if from_memos:
        # Memos' refresh tokens: the importer stored each as a family named by its token id.
        family_id = token_id
    if not isinstance(token_id, str) or not isinstance(family_id, str):
        raise Unauthenticated("invalid token claims")
    if not token_id or not family_id or len(token_id) > 64 or len(family_id) > 64:
        raise Unauthenticated("invalid token claims")
    return RefreshClaims(
        token_id=token_id,
        family_id=family_id,
        user_id=_user_id(claims),
        # Both ints: _verified_claims refuses a token whose iat or exp is not.
        issued_at=cast(int, claims["iat"]),
        expires_at=cast(int, claims["exp"]),
        from_memos=from_memos,
    )


class AccessTokens:
    """Issues access tokens: short-lived, stateless, signed with the current key."""

    def __init__(self, keys: SigningKeys, clock: Clock, ttl: int) -> None:
        self._keys = keys
        self._clock = clock
        self._ttl = ttl

    def issue(self, user: User, sign_in: SignIn = NO_SIGN_IN) -> IssuedToken:
        """An access token for `user`; without `sign_in` it never counts as a recent sign-in."""
        return mint_access_token(user, self._keys.signing_key(), self._clock.now(), self._ttl, sign_in)
