"""Builds the object graph from a Config, once per container.

Two entry points, so the authorizer builds (and imports) only what it uses: no bcrypt,
no account or refresh logic on its cold start. What both need (clients, keys, the stores
and services a credential is verified with) is built by one function, `_verifiers`.

The API's other services are built, and their modules imported, on first use (each is a
`cached_property` of ApiServices that imports its classes inside): a cold container pays
for the services of the route it answers, not for TOTP, passkeys, providers, bcrypt and
refresh families on a `GET /auth/me`. A new service follows the same rule.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from auth.audit import AuditSink, NullAudit
from auth.authenticator import Authenticator, CachedUsers
from auth.clock import Clock, SystemClock
from auth.config import PRODUCTION_STAGE, Config
from auth.errors import Internal
from auth.keys import DemoKeyRing, KeyRing, SecretsManagerKeySource
from auth.pats import PersonalAccessTokens
from auth.sessions import Sessions
from auth.stores.pat_store import PatStore
from auth.stores.session_store import SessionStore
from auth.stores.user_store import UserStore
from auth.tokens import SigningKeys
from auth.verified_tokens import VerifiedAccessTokens

if TYPE_CHECKING:
    from auth.accounts import Accounts
    from auth.factor_changes import FactorChanges
    from auth.factor_cipher import FactorCipher
    from auth.factors import Factors
    from auth.identity_providers import IdentityProviders
    from auth.linked_identities import LinkedIdentities
    from auth.logins import Logins
    from auth.mfa_sign_in import MfaSignIn
    from auth.passkeys import Passkeys
    from auth.provider_protocol import ProviderProtocol
    from auth.recent_sign_in import RecentSignIn
    from auth.refresh_tokens import RefreshTokens
    from auth.revocation import CredentialRevocation
    from auth.sso_sign_in import SsoSignIn
    from auth.stores.factor_store import FactorStore
    from auth.stores.idp_store import IdpStore
    from auth.stores.passkey_store import PasskeyStore
    from auth.stores.settings_store import SettingsStore
    from auth.throttle import SignInThrottle
    from auth.tokens import AccessTokens
    from auth.user_admin import UserAdmin


def build_key_ring(config: Config, clock: Clock, secretsmanager: Any) -> SigningKeys:
    if config.demo:
        if config.stage == PRODUCTION_STAGE:
            raise Internal("demo mode (MEMOS_DEMO) is refused on the prod stage")
        return DemoKeyRing()
    source = SecretsManagerKeySource(secretsmanager, config.signing_key_secret_id)
    return KeyRing(source, clock, max_age=config.key_cache_seconds)


def build_factor_keys(config: Config, clock: Clock, secretsmanager: Any) -> SigningKeys:
    """The key of secrets at rest (auth.factor_cipher), a secret of its own read like the
    signing key; also tools/memos_import's, to seal imported client secrets the same way."""
    source = SecretsManagerKeySource(secretsmanager, config.factor_key_secret_id)
    return KeyRing(source, clock, max_age=config.key_cache_seconds)


def build_idp_secret_cipher(factor_keys: SigningKeys) -> FactorCipher:
    """Client secrets of identity providers: the factor key ring, a key of their own (HKDF purpose)."""
    from auth.factor_cipher import IDP_CLIENT_SECRET, FactorCipher

    return FactorCipher(factor_keys, IDP_CLIENT_SECRET)


class ProviderCalls:
    """The container's one ProviderProtocol (SPEC §8), built on first use so that requests
    that call no provider import none of it; one instance, so the admin's changes and the
    sign-ins share its discovery and key caches."""

    def __init__(self, allow_http: bool, clock: Clock) -> None:
        self._allow_http = allow_http
        self._clock = clock

    @functools.cached_property
    def protocol(self) -> ProviderProtocol:
        from auth.outbound_http import OutboundHttp
        from auth.provider_protocol import ProviderProtocol

        return ProviderProtocol(OutboundHttp(allow_http=self._allow_http), self._clock)

    def authorization_endpoint(self, issuer: str) -> str:
        return self.protocol.authorization_endpoint(issuer)


@dataclass
class AuthorizerServices:
    config: Config
    clock: Clock
    authenticator: Authenticator


@dataclass
class _Verifiers:
    """What verifying a credential takes; the authorizer needs nothing more."""

    config: Config
    clock: Clock
    audit: AuditSink
    dynamodb: Any
    secretsmanager: Any
    keys: SigningKeys
    users: UserStore
    pats: PersonalAccessTokens
    sessions: Sessions
    authenticator: Authenticator


def _verifiers(
    config: Config | None,
    clock: Clock | None,
    dynamodb: Any,
    secretsmanager: Any,
    audit: AuditSink | None,
    for_authorizer: bool,
) -> _Verifiers:
    from auth import aws

    config = config or Config.from_env()
    clock = clock or SystemClock()
    audit = audit or NullAudit()
    budget = aws.AUTHORIZER_CALLS if for_authorizer else aws.API_CALLS
    # The once-a-minute last-use write is best effort, so it gets one short attempt: a hang
    # that starts after a credential was read must not cost a request two API budgets.
    bookkeeping = dynamodb
    if dynamodb is None:
        dynamodb = aws.dynamodb_client(budget)
        bookkeeping = (
            dynamodb if for_authorizer else aws.LazyClient(lambda: aws.dynamodb_client(aws.AUTHORIZER_CALLS))
        )
    if secretsmanager is None:
        # The API reads a key only to mint or check a token, or for a sealed secret: most
        # of its requests (the authorizer verified the caller) never call Secrets Manager.
        secretsmanager = (
            aws.secretsmanager_client(budget)
            if for_authorizer
            else aws.LazyClient(lambda: aws.secretsmanager_client(budget))
        )
    keys = build_key_ring(config, clock, secretsmanager)
    users = UserStore(dynamodb, config.users_table, config.settings_table)
    # A lag of 0 promises that a revocation is seen at once: only a consistent read keeps that.
    consistent = config.revocation_lag == 0
    pat_store = PatStore(dynamodb, config.personal_access_tokens_table, users, bookkeeping=bookkeeping)
    pats = PersonalAccessTokens(pat_store, clock, audit, consistent, config.accept_imported_pats)
    session_store = SessionStore(dynamodb, config.sessions_table, users, bookkeeping)
    sessions = Sessions(session_store, clock, config.session_ttl, audit, consistent)
    cached = CachedUsers(users, clock, max_age=config.revocation_lag, consistent_reads=consistent)
    # Remembered no longer than the revocation lag, like the users they name.
    verified = VerifiedAccessTokens(keys, clock, max_age=config.revocation_lag)
    authenticator = Authenticator(verified, cached, pats, sessions, clock)
    return _Verifiers(
        config, clock, audit, dynamodb, secretsmanager, keys, users, pats, sessions, authenticator
    )


def build_authorizer_services(
    config: Config | None = None,
    clock: Clock | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
    audit: AuditSink | None = None,
) -> AuthorizerServices:
    base = _verifiers(config, clock, dynamodb, secretsmanager, audit, for_authorizer=True)
    return AuthorizerServices(base.config, base.clock, base.authenticator)


def build_api_services(
    config: Config | None = None,
    clock: Clock | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
    audit: AuditSink | None = None,
) -> ApiServices:
    return ApiServices(_verifiers(config, clock, dynamodb, secretsmanager, audit, for_authorizer=False))


class ApiServices:
    """The API function's services: the verifiers at once, the rest on first use."""

    def __init__(self, base: _Verifiers) -> None:
        self._base = base
        self.config = base.config
        self.clock = base.clock
        self.keys = base.keys
        self.users = base.users
        self.authenticator = base.authenticator
        self.pats = base.pats
        self.sessions = base.sessions
        self.audit = base.audit

    def with_config(self, config: Config) -> ApiServices:
        """Services under `config` whose verifiers are these (a test changing one setting);
        the others are built from it on first use."""
        return ApiServices(replace(self._base, config=config))

    @functools.cached_property
    def settings(self) -> SettingsStore:
        from auth.stores.settings_store import SettingsStore

        return SettingsStore(self._base.dynamodb, self.config.settings_table)

    @functools.cached_property
    def refresh_tokens(self) -> RefreshTokens:
        from auth.refresh_tokens import RefreshTokens
        from auth.stores.refresh_family_store import RefreshFamilyStore

        return RefreshTokens(
            RefreshFamilyStore(self._base.dynamodb, self.config.refresh_tokens_table, self.users),
            self.users,
            self.keys,
            self.clock,
            self.config.refresh_token_ttl,
            self.audit,
            reuse_grace=self.config.refresh_reuse_grace,
        )

    @functools.cached_property
    def factor_store(self) -> FactorStore:
        from auth.stores.factor_store import FactorStore

        return FactorStore(self._base.dynamodb, self.config.factors_table)

    @functools.cached_property
    def idp_store(self) -> IdpStore:
        from auth.stores.idp_store import IdpStore

        return IdpStore(
            self._base.dynamodb, self.config.identity_providers_table, self.config.linked_identities_table
        )

    @functools.cached_property
    def passkey_store(self) -> PasskeyStore:
        from auth.stores.passkey_store import PasskeyStore

        return PasskeyStore(self._base.dynamodb, self.config.factors_table, self.users)

    @functools.cached_property
    def revocation(self) -> CredentialRevocation:
        from auth.revocation import CredentialRevocation

        return CredentialRevocation(
            self.refresh_tokens,
            self.sessions,
            self.pats,
            self.clock,
            self.audit,
            self.factor_store,
            self.idp_store,
            self.passkey_store,
            self.users,
        )

    @functools.cached_property
    def throttle(self) -> SignInThrottle:
        from auth.stores.throttle_store import ThrottleStore
        from auth.throttle import SignInThrottle

        return SignInThrottle(ThrottleStore(self._base.dynamodb, self.config.settings_table), self.clock)

    @functools.cached_property
    def accounts(self) -> Accounts:
        from auth.accounts import Accounts

        return Accounts(
            self.users, self.settings, self.throttle, self.clock, self.config.bcrypt_cost, self.audit
        )

    @functools.cached_property
    def recent_sign_in(self) -> RecentSignIn:
        from auth.recent_sign_in import RecentSignIn

        return RecentSignIn(self.clock, self.config.reauth_max_age)

    @functools.cached_property
    def factor_keys(self) -> SigningKeys:
        # The same client as the signing key's: one connection pool, one client to build.
        return build_factor_keys(self.config, self.clock, self._base.secretsmanager)

    @functools.cached_property
    def factor_changes(self) -> FactorChanges:
        from auth.factor_changes import FactorChanges

        return FactorChanges(self.recent_sign_in, self.revocation, self.users, self.clock, self.audit)

    @functools.cached_property
    def factors(self) -> Factors:
        from auth.factor_cipher import FactorCipher
        from auth.factors import Factors

        return Factors(self.factor_store, FactorCipher(self.factor_keys), self.factor_changes)

    @functools.cached_property
    def identity_providers(self) -> IdentityProviders:
        from auth.identity_providers import IdentityProviders

        return IdentityProviders(
            self.idp_store,
            build_idp_secret_cipher(self.factor_keys),
            self.clock,
            self.audit,
            allow_http=self.config.is_local,
            discovery=self.provider_calls,
            recent_sign_in=self.recent_sign_in,
        )

    @functools.cached_property
    def provider_calls(self) -> ProviderCalls:
        return ProviderCalls(self.config.is_local, self.clock)

    @functools.cached_property
    def passkeys(self) -> Passkeys:
        from auth.passkey_ceremonies import RelyingParty
        from auth.passkeys import Passkeys

        relying_party = RelyingParty(self.config.webauthn_rp_id, self.config.webauthn_origins)
        return Passkeys(self.passkey_store, relying_party, self.factor_changes)

    @functools.cached_property
    def access_tokens(self) -> AccessTokens:
        from auth.tokens import AccessTokens

        return AccessTokens(self.keys, self.clock, self.config.access_token_ttl)

    @functools.cached_property
    def user_admin(self) -> UserAdmin:
        from auth.user_admin import UserAdmin

        return UserAdmin(
            self.users,
            self.pats,
            self.revocation,
            self.accounts,
            self.recent_sign_in,
            self.clock,
            self.config.bcrypt_cost,
            self.audit,
        )

    @functools.cached_property
    def logins(self) -> Logins:
        from auth.logins import Logins

        return Logins(self.sessions, self.refresh_tokens)

    @functools.cached_property
    def mfa_sign_in(self) -> MfaSignIn:
        from auth.mfa_sign_in import MfaSignIn

        return MfaSignIn(
            self.accounts,
            self.factors,
            self.passkeys,
            self.factor_store,
            self.users,
            self.throttle,
            self.clock,
            self.audit,
        )

    # The sign-in with a provider and linking make outbound calls (auth.outbound_http,
    # auth.provider_protocol).
    @functools.cached_property
    def sso_sign_in(self) -> SsoSignIn:
        from auth.federated_identity import FederatedIdentities
        from auth.sso_sign_in import SsoSignIn

        protocol = self.provider_calls.protocol
        identities = FederatedIdentities(self.identity_providers, protocol, self.throttle, self.audit)
        return SsoSignIn(
            identities, self.idp_store, self.users, self.settings, self.mfa_sign_in, self.clock, self.audit
        )

    @functools.cached_property
    def linked_identities(self) -> LinkedIdentities:
        from auth.linked_identities import LinkedIdentities

        return LinkedIdentities(
            self.sso_sign_in, self.idp_store, self.users, self.factor_changes, self.accounts
        )
