"""Builds the object graph from a Config, once per container.

Two entry points, so the authorizer builds (and imports) only what it uses: no bcrypt,
no account or refresh logic on its cold start. What both need (clients, keys, the stores
and services a credential is verified with) is built by one function, `_verifiers`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
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
    from auth.sso_sign_in import SsoSignIn
    from auth.stores.idp_store import IdpStore
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
class ApiServices:
    config: Config
    clock: Clock
    keys: SigningKeys
    users: UserStore
    settings: SettingsStore
    accounts: Accounts
    access_tokens: AccessTokens
    refresh_tokens: RefreshTokens
    user_admin: UserAdmin
    authenticator: Authenticator
    pats: PersonalAccessTokens
    sessions: Sessions
    logins: Logins
    recent_sign_in: RecentSignIn
    audit: AuditSink
    factors: Factors
    passkeys: Passkeys
    mfa_sign_in: MfaSignIn
    throttle: SignInThrottle
    # SPEC §8: the providers (admin API, public listing) and their table.
    identity_providers: IdentityProviders
    idp_store: IdpStore
    provider_calls: ProviderCalls

    # The sign-in with a provider and linking make outbound calls (auth.outbound_http,
    # auth.provider_protocol): built on the first request that needs them, so that other
    # requests' cold starts import none of it.
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
            self.sso_sign_in, self.idp_store, self.users, self.recent_sign_in, self.clock, self.audit
        )


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
    secretsmanager = secretsmanager or aws.secretsmanager_client(budget)
    keys = build_key_ring(config, clock, secretsmanager)
    users = UserStore(dynamodb, config.users_table, config.settings_table)
    # A lag of 0 promises that a revocation is seen at once: only a consistent read keeps that.
    consistent = config.revocation_lag == 0
    pat_store = PatStore(dynamodb, config.personal_access_tokens_table, users, bookkeeping=bookkeeping)
    pats = PersonalAccessTokens(pat_store, clock, audit, consistent, config.accept_imported_pats)
    session_store = SessionStore(dynamodb, config.sessions_table, bookkeeping)
    sessions = Sessions(session_store, clock, config.session_ttl, audit, consistent)
    cached = CachedUsers(users, clock, max_age=config.revocation_lag)
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
    from auth.accounts import Accounts
    from auth.factor_cipher import FactorCipher
    from auth.factors import Factors
    from auth.identity_providers import IdentityProviders
    from auth.logins import Logins
    from auth.mfa_sign_in import MfaSignIn
    from auth.passkey_ceremonies import RelyingParty
    from auth.passkeys import Passkeys
    from auth.recent_sign_in import RecentSignIn
    from auth.refresh_tokens import RefreshTokens
    from auth.revocation import CredentialRevocation
    from auth.stores.factor_store import FactorStore
    from auth.stores.idp_store import IdpStore
    from auth.stores.passkey_store import PasskeyStore
    from auth.stores.refresh_family_store import RefreshFamilyStore
    from auth.stores.settings_store import SettingsStore
    from auth.stores.throttle_store import ThrottleStore
    from auth.throttle import SignInThrottle
    from auth.tokens import AccessTokens
    from auth.user_admin import UserAdmin

    base = _verifiers(config, clock, dynamodb, secretsmanager, audit, for_authorizer=False)
    config, clock, audit, users = base.config, base.clock, base.audit, base.users
    settings = SettingsStore(base.dynamodb, config.settings_table)
    refresh_tokens = RefreshTokens(
        RefreshFamilyStore(base.dynamodb, config.refresh_tokens_table),
        users,
        base.keys,
        clock,
        config.refresh_token_ttl,
        audit,
        reuse_grace=config.refresh_reuse_grace,
    )
    factor_store = FactorStore(base.dynamodb, config.factors_table)
    idp_store = IdpStore(base.dynamodb, config.identity_providers_table, config.linked_identities_table)
    passkey_store = PasskeyStore(base.dynamodb, config.factors_table, users)
    revocation = CredentialRevocation(
        refresh_tokens, base.sessions, base.pats, factor_store, idp_store, passkey_store
    )
    throttle = SignInThrottle(ThrottleStore(base.dynamodb, config.settings_table), clock)
    accounts = Accounts(users, settings, throttle, clock, config.bcrypt_cost)
    recent_sign_in = RecentSignIn(clock, config.reauth_max_age)
    # The same client as the signing key's: one connection pool, one client to build.
    factor_keys = build_factor_keys(config, clock, base.secretsmanager)
    factors = Factors(factor_store, FactorCipher(factor_keys), recent_sign_in, revocation, clock, audit)
    provider_calls = ProviderCalls(config.is_local, clock)
    identity_providers = IdentityProviders(
        idp_store,
        build_idp_secret_cipher(factor_keys),
        clock,
        audit,
        allow_http=config.is_local,
        discovery=provider_calls,
    )
    relying_party = RelyingParty(config.webauthn_rp_id, config.webauthn_origins)
    passkeys = Passkeys(passkey_store, relying_party, recent_sign_in, revocation, clock, audit)
    return ApiServices(
        config=config,
        clock=clock,
        keys=base.keys,
        users=users,
        settings=settings,
        accounts=accounts,
        access_tokens=AccessTokens(base.keys, clock, config.access_token_ttl),
        refresh_tokens=refresh_tokens,
        user_admin=UserAdmin(
            users, base.pats, revocation, accounts, recent_sign_in, clock, config.bcrypt_cost, audit
        ),
        authenticator=base.authenticator,
        pats=base.pats,
        sessions=base.sessions,
        logins=Logins(base.sessions, refresh_tokens),
        recent_sign_in=recent_sign_in,
        audit=audit,
        factors=factors,
        passkeys=passkeys,
        mfa_sign_in=MfaSignIn(accounts, factors, passkeys, factor_store, users, throttle, clock, audit),
        throttle=throttle,
        identity_providers=identity_providers,
        idp_store=idp_store,
        provider_calls=provider_calls,
    )
