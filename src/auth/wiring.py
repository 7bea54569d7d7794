"""Builds the object graph from a Config, once per container.

Two entry points, so the authorizer builds (and imports) only what it uses: no bcrypt,
no account or refresh logic on its cold start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auth.audit import AuditSink
from auth.authenticator import Authenticator, CachedUsers
from auth.clock import Clock, SystemClock
from auth.config import PRODUCTION_STAGE, Config
from auth.errors import Internal
from auth.keys import DemoKeyRing, KeyRing, SecretsManagerKeySource
from auth.stores.users import UserStore

if TYPE_CHECKING:
    from auth.access_tokens import AccessTokens
    from auth.accounts import Accounts
    from auth.refresh import RefreshTokens
    from auth.stores.settings import SettingsStore


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
    authenticator: Authenticator


def _clients(dynamodb: Any, secretsmanager: Any) -> tuple[Any, Any]:
    from auth import aws

    return dynamodb or aws.dynamodb_client(), secretsmanager or aws.secretsmanager_client()


def _authenticator(
    config: Config, clock: Clock, keys: KeyRing | DemoKeyRing, users: UserStore
) -> Authenticator:
    cached = CachedUsers(users.get, clock, max_age=config.revocation_lag)
    return Authenticator(keys, cached, clock)


def build_authorizer_services(
    config: Config | None = None,
    clock: Clock | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
) -> AuthorizerServices:
    config = config or Config.from_env()
    clock = clock or SystemClock()
    dynamodb, secretsmanager = _clients(dynamodb, secretsmanager)
    keys = build_key_ring(config, clock, secretsmanager)
    users = UserStore(dynamodb, config.users_table, config.settings_table)
    return AuthorizerServices(config, clock, _authenticator(config, clock, keys, users))


def build_api_services(
    config: Config | None = None,
    clock: Clock | None = None,
    dynamodb: Any = None,
    secretsmanager: Any = None,
    audit: AuditSink | None = None,
) -> ApiServices:
    from auth.access_tokens import AccessTokens
    from auth.accounts import Accounts
    from auth.refresh import RefreshTokens
    from auth.stores.refresh_tokens import RefreshTokenStore
    from auth.stores.settings import SettingsStore

    config = config or Config.from_env()
    clock = clock or SystemClock()
    dynamodb, secretsmanager = _clients(dynamodb, secretsmanager)
    keys = build_key_ring(config, clock, secretsmanager)
    users = UserStore(dynamodb, config.users_table, config.settings_table)
    settings = SettingsStore(dynamodb, config.settings_table)
    return ApiServices(
        config=config,
        clock=clock,
        keys=keys,
        users=users,
        settings=settings,
        accounts=Accounts(users, settings, clock, config.bcrypt_cost),
        access_tokens=AccessTokens(keys, clock, config.access_token_ttl),
        refresh_tokens=RefreshTokens(
            RefreshTokenStore(dynamodb, config.refresh_tokens_table),
            users,
            keys,
            clock,
            config.refresh_token_ttl,
            audit,
        ),
        authenticator=_authenticator(config, clock, keys, users),
    )
