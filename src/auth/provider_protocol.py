"""The OAuth 2.0 and OpenID Connect side of a sign-in (SPEC §8): from an authorization code
to the claims of the identity it was issued for.

- `OAUTH2` (as Memos): the code is exchanged at `tokenUrl` (RFC 6749 §4.1.3, with the PKCE
  `code_verifier` of RFC 7636 when the client sent one), then `userInfoUrl` is read with
  the access token (RFC 6750): its JSON object is the identity.
- `OIDC` (beyond Memos): the endpoints come from `{issuer}/.well-known/openid-configuration`
  (OpenID Connect Discovery 1.0, a terminating "/" of the issuer left out; cached per
  container; its `issuer` must be the configured one, character for character, and every
  endpoint it names a URL auth.outbound_http may call); the code is exchanged the same
  way, and the ID token is verified (OIDC Core §3.1.3.7) with PyJWT: the signature against
  the provider's JWKS (parsed by PyJWT's `PyJWKSet`; cached on the injectable clock and
  read again for an unknown `kid`, see `_signing_key`), an asymmetric algorithm only, a
  key of its type and of its `alg` when the key declares one, `iss`, `aud` (the client
  id), `azp` (the client id, when present or when there are several audiences), `exp` on
  the injectable clock, and the `nonce` when the client sent one. Claims the token lacks
  are read from the userinfo endpoint, whose `sub` must be the token's (OIDC Core §5.3.2).

Every failure of the provider's answers is ProviderRefused (400, a reason for the audit
trail, never the code or a token); a provider that cannot be reached or is slow is
auth.outbound_http.ProviderUnavailable (503). Nothing here ever signs anyone in: the
caller decides what the claims mean (auth.federated_identity).
"""

from __future__ import annotations

import base64
import hmac
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from auth import untrusted_json
from auth.clock import Clock
from auth.deadline import Deadline
from auth.errors import InvalidArgument
from auth.idp_models import AuthStyle, IdentityProvider, ProviderType
from auth.outbound_http import HttpAnswer, OutboundHttp, ProviderUnavailable, check_url

if TYPE_CHECKING:
    from jwt import PyJWK, PyJWKSet

DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_MAX_AGE_SECONDS = 3600
JWKS_MAX_AGE_SECONDS = 300
# A token naming a kid the cached set lacks has the set read again (the provider rotated its
# keys), but no sooner than this after the last read: made-up kids cost the provider one read
# per cooldown, not one per sign-in.
JWKS_REFRESH_COOLDOWN_SECONDS = 30
# Clock skew allowed between the provider and this service on `exp` and `iat`.
LEEWAY_SECONDS = 60
# The algorithms an ID token may be signed with: the provider's public keys only (an HS256
# token keyed with the client secret is not accepted), each with the JWK key type (`kty`)
# it verifies with (RFC 7518 §6.1, RFC 8037 §2).
ASYMMETRIC_ALGORITHMS = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "PS384": "RSA",
    "PS512": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "ES512": "EC",
    "EdDSA": "OKP",
}
# An OAuth error code (RFC 6749 §5.2) is safe to repeat; anything else of the answer is not.
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")
INVALID_GRANT = "invalid_grant"
# RFC 6749 §A.12: an access token is visible ASCII and spaces. Anything else (a CR or LF
# above all) could not be sent in the userinfo call's Authorization header.
_ACCESS_TOKEN = re.compile(r"[\x20-\x7e]+")
TOO_MANY_REQUESTS = 429


class ProviderRefused(InvalidArgument):
    """The provider refused the code, or answered something that proves no identity."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        # For the audit trail: what went wrong, never a code or token.
        self.reason = reason


@dataclass(frozen=True)
class SsoCredentials:
    """`ssoCredentials`: what the client brings back from the provider's redirect."""

    idp_name: str
    code: str = field(repr=False)
    redirect_uri: str
    code_verifier: str | None = field(default=None, repr=False)
    nonce: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Discovery:
    """What a sign-in uses of an issuer's discovery document ("" for an optional endpoint it
    does not name), cached for DISCOVERY_MAX_AGE_SECONDS from `fetched_at`."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str
    fetched_at: float
    # Not needed to sign in (the browser was sent there already); kept for the admin's
    # service, which stores it so pages can start a flow (auth.identity_providers).
    authorization_endpoint: str = ""


@dataclass(frozen=True)
class _KeySet:
    """A provider's JWKS as read at `fetched_at`."""

    keys: PyJWKSet
    fetched_at: float


def discovery_url(issuer: str) -> str:
    """Where the issuer's discovery document is: OpenID Connect Discovery §4.1 removes a
    terminating "/" of the issuer before appending the well-known path."""
    return issuer.rstrip("/") + DISCOVERY_PATH


def _json(body: bytes) -> Any:
    """The JSON value of a provider's answer; None when it is not JSON, or nests deeper than
    the parser recurses (a hostile provider's answer, never a crash)."""
    try:
        # A string cut within a surrogate pair (JavaScript's JSON.stringify writes one) is
        # no reason to refuse the whole answer: each claim kept is checked to be text.
        return untrusted_json.parsed(body, lone_surrogates=True)
    except ValueError:
        return None


def _json_object(answer: HttpAnswer, what: str) -> dict[str, Any]:
    value = _json(answer.body)
    if not isinstance(value, dict):
        raise ProviderRefused(f"the identity provider's {what} is not a JSON object", f"{what}: not JSON")
    return value


def _seconds(value: Any) -> float | None:
    """A NumericDate claim (RFC 7519 §2), None unless a finite number: PyJWT reads JSON's NaN
    and Infinity, which every comparison with the clock would let through, and a bool is an
    int to Python."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _check_available(answer: HttpAnswer) -> None:
    """ProviderUnavailable (503) for an answer that says the provider is down or busy: a 5xx,
    or a 429 (RFC 6585: it limits this service's calls, which every user shares). Neither is
    a refusal of the caller's code, to be counted against them by the sign-in throttle."""
    if answer.status >= 500 or answer.status == TOO_MANY_REQUESTS:
        raise ProviderUnavailable()


def _basic_credentials(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: each part form-urlencoded before the two are joined.
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class ProviderProtocol:
    def __init__(self, http: OutboundHttp, clock: Clock) -> None:
        self.http = http
        self._clock = clock
        self._discovered: dict[str, Discovery] = {}
        self._key_sets: dict[str, _KeySet] = {}

    def claims(
        self, provider: IdentityProvider, client_secret: str, credentials: SsoCredentials
    ) -> dict[str, Any]:
        """The identity the code was issued for, as the provider states it."""
        deadline = self.http.deadline()
        if provider.type is ProviderType.OAUTH2:
            tokens = self._exchange(provider, provider.config.token_url, client_secret, credentials, deadline)
            return self._user_info(provider.config.user_info_url, tokens, deadline)
        discovery = self._discovery(provider.config.issuer, deadline)
        tokens = self._exchange(provider, discovery.token_endpoint, client_secret, credentials, deadline)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderRefused("the identity provider sent no ID token", "no id_token")
        claims = self._verified_id_token(provider, discovery, id_token, credentials.nonce, deadline)
        mapping = provider.config.field_mapping
        wanted = [field for field in (mapping.identifier, mapping.display_name, mapping.email) if field]
        if any(field not in claims for field in wanted) and discovery.userinfo_endpoint:
            info = self._user_info(discovery.userinfo_endpoint, tokens, deadline)
            if info.get("sub") != claims.get("sub"):
                raise ProviderRefused("the userinfo answer is for another subject", "userinfo: sub differs")
            # The verified token's claims win over the userinfo's.
            claims = {**info, **claims}
        return claims

    def authorization_endpoint(self, issuer: str) -> str:
        """The issuer's authorization endpoint, from its discovery document (the same cache,
        limits and checks as a sign-in's); ProviderRefused when the document names none."""
        endpoint = self._discovery(issuer, self.http.deadline()).authorization_endpoint
        if not endpoint:
            raise ProviderRefused(
                "the discovery document names no authorization endpoint",
                "discovery: no authorization_endpoint",
            )
        return endpoint

    # -- the steps -----------------------------------------------------------------------------

    def _exchange(
        self,
        provider: IdentityProvider,
        token_url: str,
        client_secret: str,
        credentials: SsoCredentials,
        deadline: Deadline,
    ) -> dict[str, Any]:
        config = provider.config
        fields = {
            "grant_type": "authorization_code",
            "code": credentials.code,
            "redirect_uri": credentials.redirect_uri,
        }
        if credentials.code_verifier:
            fields["code_verifier"] = credentials.code_verifier
        headers: dict[str, str] = {}
        if config.auth_style is AuthStyle.BASIC:
            headers["Authorization"] = _basic_credentials(config.client_id, client_secret)
        else:
            fields |= {"client_id": config.client_id, "client_secret": client_secret}
        answer = self.http.post_form(token_url, fields, deadline, headers)
        _check_available(answer)
        if answer.status != 200:
            error = ""
            if 400 <= answer.status < 500:
                value = _json(answer.body)
                error = str(value.get("error", "")) if isinstance(value, dict) else ""
            error = error if _ERROR_CODE.fullmatch(error) else f"HTTP {answer.status}"
            if error == INVALID_GRANT:
                raise ProviderRefused("the authorization code is invalid, expired or used already", error)
            raise ProviderRefused(f"the identity provider refused the code ({error})", error)
        tokens = _json_object(answer, "token answer")
        access_token = tokens.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ProviderRefused("the identity provider sent no access token", "no access_token")
        if _ACCESS_TOKEN.fullmatch(access_token) is None:
            raise ProviderRefused(
                "the identity provider sent an access token that is not valid", "access_token: bad characters"
            )
        return tokens

    def _user_info(self, url: str, tokens: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
        answer = self.http.get(url, deadline, {"Authorization": f"Bearer {tokens['access_token']}"})
        _check_available(answer)
        if answer.status != 200:
            raise ProviderRefused(
                "the identity provider refused its userinfo", f"userinfo: HTTP {answer.status}"
            )
        return _json_object(answer, "userinfo")

    def _discovery(self, issuer: str, deadline: Deadline) -> Discovery:
        now = self._clock.now()
        cached = self._discovered.get(issuer)
        if cached is not None and now - cached.fetched_at < DISCOVERY_MAX_AGE_SECONDS:
            return cached
        answer = self.http.get(discovery_url(issuer), deadline)
        _check_available(answer)
        if answer.status != 200:
            raise ProviderRefused("the issuer has no discovery document", f"discovery: HTTP {answer.status}")
        document = _json_object(answer, "discovery document")
        # OpenID Connect Discovery §4.3: the document must name the issuer it was read from.
        named = document.get("issuer")
        if named != issuer:
            message = "the discovery document is for another issuer"
            if isinstance(named, str) and named.rstrip("/") == issuer.rstrip("/"):
                # Only a final "/" apart: say which, the admin has to give it exactly.
                message += f": it names {named}"
            raise ProviderRefused(message, "discovery: issuer differs")
        token_endpoint, jwks_uri = document.get("token_endpoint"), document.get("jwks_uri")
        if not isinstance(token_endpoint, str) or not isinstance(jwks_uri, str):
            raise ProviderRefused(
                "the discovery document names no token endpoint or keys", "discovery: incomplete"
            )
        userinfo, authorize = document.get("userinfo_endpoint"), document.get("authorization_endpoint")
        found = Discovery(
            issuer,
            token_endpoint,
            jwks_uri,
            userinfo if isinstance(userinfo, str) else "",
            now,
            authorize if isinstance(authorize, str) else "",
        )
        # A document naming an endpoint that may not be called is the provider's fault and
        # stays so on every retry: refused now, not a 503 at the first call to it.
        for name, url in (
            ("token_endpoint", found.token_endpoint),
            ("jwks_uri", found.jwks_uri),
            ("userinfo_endpoint", found.userinfo_endpoint),
            ("authorization_endpoint", found.authorization_endpoint),
        ):
            problem = check_url(url, self.http.allow_http) if url else None
            if problem is not None:
                raise ProviderRefused(
                    f"the discovery document's {name} {problem}", f"discovery: {name} {problem}"
                )
        self._discovered[issuer] = found
        return found

    def _verified_id_token(
        self,
        provider: IdentityProvider,
        discovery: Discovery,
        id_token: str,
        nonce: str | None,
        deadline: Deadline,
    ) -> dict[str, Any]:
        import jwt

        client_id = provider.config.client_id
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise ProviderRefused("the ID token is not a JWT", "id_token: malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            # Named in the audit line only when it is one of ours' length: the provider wrote it.
            shown = algorithm if isinstance(algorithm, str) and len(algorithm) <= 16 else "?"
            raise ProviderRefused("the ID token's algorithm is not accepted", f"id_token: alg {shown}")
        kid = header.get("kid")
        key = self._signing_key(discovery.jwks_uri, kid if isinstance(kid, str) else None, deadline)
        if key.key_type != ASYMMETRIC_ALGORITHMS[algorithm]:
            # PyJWT would fail on the mismatch with a TypeError: the provider's fault.
            raise ProviderRefused("the ID token's key is not of its algorithm's type", "id_token: key type")
        # RFC 7517 §4.4: a key that declares its algorithm is used with that one only (an RS256
        # key never verifies a PS256 token). PyJWK's algorithm_name cannot say whether `alg`
        # was declared or guessed from `kty`, so the JWK itself is read.
        declared = key._jwk_data.get("alg")
        if declared is not None and declared != algorithm:
            raise ProviderRefused("the ID token's algorithm is not its key's", "id_token: key alg")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[algorithm],
                audience=client_id,
                issuer=discovery.issuer,
                # Times are checked below on the injectable clock.
                options={
                    "require": ["iss", "aud", "exp", "iat", "sub"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise _refusal(error) from None
        now = self._clock.now()
        expires, issued = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
        if expires is None or expires + LEEWAY_SECONDS <= now:
            raise ProviderRefused("the ID token has expired", "id_token: expired")
        if issued is None or issued - LEEWAY_SECONDS > now:
            raise ProviderRefused("the ID token is issued in the future", "id_token: iat ahead")
        audience = claims.get("aud")
        several = isinstance(audience, list) and len(audience) > 1
        # OIDC Core §3.1.3.7 items 4 and 5: several audiences need an azp, and an azp present
        # (with one audience too) names the party the token was issued to: this client.
        if (several or "azp" in claims) and claims.get("azp") != client_id:
            raise ProviderRefused("the ID token is for another client", "id_token: azp")
        if nonce:
            sent = claims.get("nonce")
            # surrogatepass: JSON may carry a lone surrogate, which no nonce we sent holds.
            if not isinstance(sent, str) or not hmac.compare_digest(
                sent.encode(errors="surrogatepass"), nonce.encode()
            ):
                raise ProviderRefused("the ID token's nonce is not the one sent", "id_token: nonce")
        return claims

    def _signing_key(self, jwks_uri: str, kid: str | None, deadline: Deadline) -> PyJWK:
        """The signing key of the provider's set that the token names: by its `kid`, or the
        set's only signing key when it names none (OIDC Core §10.1). The set is cached for
        JWKS_MAX_AGE_SECONDS, and read again for a kid it lacks once the last read is
        JWKS_REFRESH_COOLDOWN_SECONDS old."""
        now = self._clock.now()
        cached = self._key_sets.get(jwks_uri)
        if cached is None or now - cached.fetched_at >= JWKS_MAX_AGE_SECONDS:
            cached = self._read_keys(jwks_uri, deadline, now)
        key = _named_key(cached.keys, kid)
        if key is None and kid is not None and now - cached.fetched_at >= JWKS_REFRESH_COOLDOWN_SECONDS:
            key = _named_key(self._read_keys(jwks_uri, deadline, now).keys, kid)
        if key is None and kid is None:
            raise ProviderRefused("the ID token names no key", "id_token: no kid")
        if key is None:
            raise ProviderRefused("the ID token is signed with an unknown key", "id_token: unknown key")
        return key

    def _read_keys(self, jwks_uri: str, deadline: Deadline, now: float) -> _KeySet:
        from jwt import PyJWKSet, PyJWKSetError

        answer = self.http.get(jwks_uri, deadline)
        _check_available(answer)
        if answer.status != 200:
            raise ProviderRefused("the provider's keys cannot be read", f"jwks: HTTP {answer.status}")
        document = _json_object(answer, "key set")
        try:
            keys = PyJWKSet.from_dict(document)
        except (PyJWKSetError, TypeError, ValueError):
            # PyJWK raises TypeError for a key whose `alg` is not text, say.
            # No keys, `keys` not a list, or none PyJWT can use: the set proves nothing.
            raise ProviderRefused(
                "the provider's key set holds no usable key", "jwks: no usable key"
            ) from None
        found = self._key_sets[jwks_uri] = _KeySet(keys, now)
        return found


def _named_key(keys: PyJWKSet, kid: str | None) -> PyJWK | None:
    signing = [key for key in keys.keys if key.public_key_use in ("sig", None)]
    if kid is None:
        return signing[0] if len(signing) == 1 else None
    return next((key for key in signing if key.key_id == kid), None)


def _refusal(error: Exception) -> ProviderRefused:
    """What a PyJWT error says of the ID token: the row of its most specific class."""
    import jwt

    refusals: tuple[tuple[type[Exception], str, str], ...] = (
        (jwt.InvalidAudienceError, "the ID token is for another client", "id_token: wrong aud"),
        (jwt.InvalidIssuerError, "the ID token is from another issuer", "id_token: wrong iss"),
        (jwt.InvalidSignatureError, "the ID token's signature is not valid", "id_token: bad signature"),
    )
    for kind, message, reason in refusals:
        if isinstance(error, kind):
            return ProviderRefused(message, reason)
    # Any other: a malformed token, or a key PyJWT refuses for it (InvalidKeyError: an EC key
    # of another curve than the algorithm's).
    return ProviderRefused("the ID token is not valid", "id_token: invalid")
