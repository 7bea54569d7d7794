"""From `ssoCredentials` to a verified external identity (SPEC §8): the provider, the code
exchange (auth.provider_protocol), Memos' field mapping and identifier filter.

Shared by signing in (auth.sso_sign_in) and linking (auth.linked_identities), so both
apply the same rules. Every refusal is audited with its reason (never the code or a
token); the ones an attacker can provoke at will by sending codes (refused or replayed
codes, tokens that do not verify) also count as failed sign-ins of the address, in the
throttle of SPEC §3, under the provider's name: a stream of guessed codes gets a 429 like
a stream of guessed passwords.

The identifier filter is Memos' rule: a regular expression in RE2's syntax the identifier
must contain a match of (Go's MatchString; auth.identifier_filter); anchor it (`^…$`) to
match the whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auth import identifier_filter
from auth.audit import AuditEvent, AuditSink, CredentialKind
from auth.errors import InvalidArgument, NotFound, PermissionDenied
from auth.identity_providers import IdentityProviders, provider_id_of
from auth.idp_models import FieldMapping, IdentityProvider, provider_name
from auth.outbound_http import ProviderUnavailable
from auth.provider_protocol import ProviderProtocol, ProviderRefused, SsoCredentials
from auth.stores.idp_store import StoredProvider
from auth.throttle import SignInThrottle

MAX_IDENTIFIER_CHARS = 256
MAX_CODE_CHARS = 4096
IDENTIFIER_NOT_ALLOWED = "identifier is not allowed"
# The throttle's "username" for failed sign-ins with a provider: never a valid username.
THROTTLE_PREFIX = "idp:"


@dataclass(frozen=True)
class ExternalIdentity:
    """The claims the provider's FieldMapping names, as text ("" for one it did not send)."""

    identifier: str
    display_name: str
    email: str
    avatar_url: str


@dataclass(frozen=True)
class Verified:
    """An identity the provider vouched for and its filter allows, with that provider."""

    stored: StoredProvider
    identity: ExternalIdentity

    @property
    def provider(self) -> IdentityProvider:
        return self.stored.provider


def _text(claims: dict[str, Any], name: str) -> str:
    """A claim as the provider sent it: a string as it is, an integer in decimal (GitHub's
    userinfo `id` is a number; beyond Memos, which takes strings only), nothing else.

    A string holding a lone surrogate (JSON's `"\\ud800"`, which JavaScript's JSON.stringify
    writes for a string cut within a pair) is no Unicode text: neither DynamoDB nor RE2 can
    encode it, and it would fail every sign-in of that identity with a 503 or a 500."""
    if not name:
        return ""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ""
    return text


def map_identity(claims: dict[str, Any], mapping: FieldMapping) -> ExternalIdentity:
    # The identifier is a key, compared as Memos compares extern_uid (the raw string): trimmed,
    # `eve` and another account's `eve\xa0` would share a link, and an imported extern_uid
    # with edge whitespace would never match again.
    identifier = _text(claims, mapping.identifier)
    if not identifier or len(identifier) > MAX_IDENTIFIER_CHARS:
        raise ProviderRefused(
            f"the identity provider gave no usable identifier (claim {mapping.identifier!r})",
            "no identifier",
        )
    return ExternalIdentity(
        identifier=identifier,
        # Profile text only, never compared: trimmed as a person would have typed it.
        display_name=_text(claims, mapping.display_name).strip(),
        email=_text(claims, mapping.email).strip(),
        avatar_url=_text(claims, mapping.avatar_url).strip(),
    )


def check_credentials(credentials: SsoCredentials) -> None:
    if not credentials.code or len(credentials.code) > MAX_CODE_CHARS:
        raise InvalidArgument("ssoCredentials.code is required")
    if not credentials.redirect_uri:
        raise InvalidArgument("ssoCredentials.redirectUri is required")


class FederatedIdentities:
    def __init__(
        self,
        providers: IdentityProviders,
        protocol: ProviderProtocol,
        throttle: SignInThrottle,
        audit: AuditSink,
    ) -> None:
        self._providers = providers
        self.protocol = protocol
        self._throttle = throttle
        self._audit = audit

    def verify(self, credentials: SsoCredentials, source_ip: str, user_id: int = 0) -> Verified:
        """The identity the code proves, allowed by the provider's filter. `user_id`: the
        signed-in user who is linking (0 when signing in), for the audit trail."""
        check_credentials(credentials)
        provider_id = provider_id_of(credentials.idp_name)
        throttle_key = THROTTLE_PREFIX + provider_id
        # Only a bad code counts: an unknown provider, one down or slow, or a filter that
        # refuses gives the attempt back, as a success does.
        with self._throttle.attempt(throttle_key, source_ip):
            return self._verified(provider_id, credentials, throttle_key, source_ip, user_id)

    def _verified(
        self, provider_id: str, credentials: SsoCredentials, throttle_key: str, source_ip: str, user_id: int
    ) -> Verified:
        try:
            stored = self._providers.stored(provider_id)
        except NotFound:
            self.refused(provider_id, user_id, "unknown provider")
            raise
        provider = stored.provider
        try:
            claims = self.protocol.claims(provider, self._providers.client_secret(stored), credentials)
            identity = map_identity(claims, provider.config.field_mapping)
        except ProviderRefused as refused:
            self._throttle.record_failure(throttle_key, source_ip)
            self.refused(provider_id, user_id, refused.reason)
            raise
        except ProviderUnavailable:
            # Not the caller's fault: audited, not counted.
            self.refused(provider_id, user_id, "provider unavailable or slow")
            raise
        try:
            allowed = identifier_filter.allows(provider.identifier_filter, identity.identifier)
        except identifier_filter.InvalidFilter:
            # Saved before RE2's syntax was enforced, and RE2 refuses it: Memos could not
            # match it either. Nobody gets in through a filter nobody can read.
            self.refused(provider_id, user_id, "the identifier filter is not a valid RE2 expression")
            raise PermissionDenied(IDENTIFIER_NOT_ALLOWED) from None
        if not allowed:
            self.refused(provider_id, user_id, "identifier not allowed by the filter")
            raise PermissionDenied(IDENTIFIER_NOT_ALLOWED)
        return Verified(stored, identity)

    def refused(self, provider_id: str, user_id: int, reason: str) -> None:
        self._audit.record(
            AuditEvent.REFUSED,
            CredentialKind.LINKED_IDENTITY,
            user_id,
            provider_id,
            reason=f"sign-in with {provider_name(provider_id)} refused: {reason}",
        )
