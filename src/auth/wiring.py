"""Builds the object graph from a Config, once per container.

Two entry points, so the authorizer builds (and imports) only what it uses: no bcrypt,
no account or refresh logic on its cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auth.audit import AuditSink, NullAudit
from auth.authenticator import Authenticator, CachedUsers
from auth.clock import Clock, SystemClock
from auth.config import PRODUCTION_STAGE, Config
from auth.errors import Internal
from auth.keys import DemoKeyRing, KeyRing, SecretsManagerKeySource
from auth.personal_access_tokens import PersonalAccessTokens
from auth.sessions import Sessions
from auth.stores.personal_access_tokens import PatStore
from auth.stores.sessions import SessionStore
from auth.stores.users import UserStore

if TYPE_CHECKING:
    from auth.access_tokens import AccessTokens
    from auth.accounts import Accounts
    from auth.logins import Logins
    from auth.refresh import RefreshTokens
    from auth.stores.settings import SettingsStore
    from auth.user_admin import UserAdmin


def build_key_ring(config: Config, clock: Clock, secretsmanager: Any) -> KeyRing | DemoKeyRing:
    if config.demo:
        if config.stage == PRODUCTION_STAGE:
            raise Internal("demo mode (MEMOS_DEMO) is refused on the prod stage")
        return DemoKeyRing()
    source = SecretsManagerKeySource(secretsmanager, config.signing_key_secret_id)
    return KeyRing(source, clock, max_age=config.key_cache_seconds)


@dataclass
class AuthorizerServices:
    config: Config
    clock: Clock
    authenticator: Authenticator


@dataclass
class ApiServices:
    config: Config
    clock: Clock
    keys: KeyRing | DemoKeyRing
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
    audit: AuditSink


def _clients(dynamodb: Any, secretsmanager: Any, for_authorizer: bool) -> tuple[Any, Any]:
    from auth import aws

    config = aws.AUTHORIZER_CALLS if for_authorizer else aws.API_CALLS
    return dynamodb or aws.dynamodb_client(config), secretsmanager or aws.secretsmanager_client(config)


def _pats(
    config: Config, clock: Clock, dynamodb: Any, users: UserStore, audit: AuditSink
) -> PersonalAccessTokens:
    store = PatStore(dynamodb, config.personal_access_tokens_table, users)
    # A lag of 0 promises that a delete is seen at once: only a consistent read keeps that.
    return PersonalAccessTokens(store, clock, audit, consistent_reads=config.revocation_lag == 0)


def _sessions(config: Config, clock: Clock, dynamodb: Any, audit: AuditSink) -> Sessions:
    store = SessionStore(dynamodb, config.sessions_table)
    return Sessions(store, clock, config.session_ttl, audit, consistent_reads=config.revocation_lag == 0)


def _authenticator(
    config: Config,
    clock: Clock,
    keys: KeyRing | DemoKeyRing,
    users: UserStore,
    pats: PersonalAccessTokens,
    sessions: Sessions,
) -> Authenticator:
    cached = CachedUsers(users, clock, max_age=config.revocation_lag)
    return Authenticator(keys, cached, pats, sessions, clock)


def build_authorizer_services(
    config: Config | None = None,
    clock: Clock | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
    audit: AuditSink | None = None,
) -> AuthorizerServices:
    config = config or Config.from_env()
    clock = clock or SystemClock()
    audit = audit or NullAudit()
    dynamodb, secretsmanager = _clients(dynamodb, secretsmanager, for_authorizer=True)
    keys = build_key_ring(config, clock, secretsmanager)
    users = UserStore(dynamodb, config.users_table, config.settings_table)
    authenticator = _authenticator(
        config,
        clock,
        keys,
        users,
        _pats(config, clock, dynamodb, users, audit),
        _sessions(config, clock, dynamodb, audit),
    )
    return AuthorizerServices(config, clock, authenticator)


def build_api_services(
    config: Config | None = None,
    clock: Clock | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
    audit: AuditSink | None = None,
) -> ApiServices:
    from auth.access_tokens import AccessTokens
    from auth.accounts import Accounts
    from auth.logins import Logins
    from auth.refresh import RefreshTokens
    from auth.revocation import CredentialRevocation
    from auth.stores.refresh_tokens import RefreshTokenStore
    from auth.stores.settings import SettingsStore
    from auth.stores.throttle import ThrottleStore
    from auth.throttle import SignInThrottle
    from auth.user_admin import UserAdmin

    config = config or Config.from_env()
    clock = clock or SystemClock()
    audit = audit or NullAudit()
    dynamodb, secretsmanager = _clients(dynamodb, secretsmanager, for_authorizer=False)
    keys = build_key_ring(config, clock, secretsmanager)
    users = UserStore(dynamodb, config.users_table, config.settings_table)
    settings = SettingsStore(dynamodb, config.settings_table)
    refresh_store = RefreshTokenStore(dynamodb, config.refresh_tokens_table)
    pats = _pats(config, clock, dynamodb, users, audit)
    sessions = _sessions(config, clock, dynamodb, audit)
    revocation = CredentialRevocation(refresh_store, sessions, pats, clock)
    return ApiServices(
        config=config,
        clock=clock,
        keys=keys,
        users=users,
        settings=settings,
        accounts=Accounts(
            users,
            settings,
            SignInThrottle(ThrottleStore(dynamodb, config.settings_table), clock),
            clock,
            config.bcrypt_cost,
        ),
        access_tokens=AccessTokens(keys, clock, config.access_token_ttl),
        refresh_tokens=RefreshTokens(refresh_store, users, keys, clock, config.refresh_token_ttl, audit),
        user_admin=UserAdmin(users, pats, revocation, clock, config.bcrypt_cost),
        authenticator=_authenticator(config, clock, keys, users, pats, sessions),
        pats=pats,
        sessions=sessions,
        logins=Logins(sessions, refresh_store, clock, audit),
        audit=audit,
    )
