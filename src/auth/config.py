"""Settings read once from the environment the template (or `make run`) provides."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from auth.cross_origin import normalized_origin
from auth.errors import Internal

# Demo mode is refused on this stage (the template also allows "local" and "dev").
PRODUCTION_STAGE = "prod"
# An origin as a browser writes it in clientDataJSON: no path, no trailing slash.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise Internal(f"{name} must be an integer") from exc


def _origins(env: Mapping[str, str], default: tuple[str, ...]) -> tuple[str, ...]:
    """WEBAUTHN_ORIGINS: comma-separated `scheme://host[:port]`, compared exactly."""
    raw = env.get("WEBAUTHN_ORIGINS", "")
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        if _ORIGIN.fullmatch(origin) is None:
            raise Internal("WEBAUTHN_ORIGINS must be comma-separated origins (scheme://host[:port])")
    return origins or default


@dataclass(frozen=True)
class Config:
    stage: str = "local"
    demo: bool = False
    users_table: str = "UsersTable"
    sessions_table: str = "SessionsTable"
    refresh_tokens_table: str = "RefreshTokensTable"
    personal_access_tokens_table: str = "PersonalAccessTokensTable"
    settings_table: str = "SettingsTable"
    signing_key_secret_id: str = "SigningKeySecret"
    # SPEC §7: the API function's alone (the authorizer never reads a second factor).
    factors_table: str = "FactorsTable"
    factor_key_secret_id: str = "FactorKeySecret"
    # SPEC §8: identity providers and linked identities, the API function's alone too.
    identity_providers_table: str = "IdentityProvidersTable"
    linked_identities_table: str = "LinkedIdentitiesTable"
    # SPEC §7 passkeys: the WebAuthn relying party id (a domain) and the origins whose
    # ceremonies are accepted (what clientDataJSON's origin must be exactly).
    webauthn_rp_id: str = "localhost"
    webauthn_origins: tuple[str, ...] = ("http://localhost:3000",)
    bcrypt_cost: int = 10
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 30 * 24 * 3600
    session_ttl: int = 14 * 24 * 3600
    revocation_lag: int = 10
    # SPEC §3: how old a sign-in may be for the changes that need a recent one (RFC 9470).
    reauth_max_age: int = 600
    # SPEC §3, retry-safe refresh: how long the token a rotation replaced still answers like
    # the current one, for a client whose answer was lost; 0 turns the grace off.
    refresh_reuse_grace: int = 30
    # SPEC §2: keys are cached in a container for at most five minutes.
    key_cache_seconds: int = 300
    # Whether a PAT without our checksum is looked up, as one imported from Memos may be
    # (SECURITY.md: what it costs; off on a stack that never imported any).
    accept_imported_pats: bool = True
    # SPEC §10: the CORS origins allowed credentials (template AllowedOrigins), trusted by
    # the cross-site rule (auth.cross_origin) as the API's own origin is.
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            stage=env.get("STAGE", defaults.stage),
            demo=env.get("MEMOS_DEMO", "").strip().lower() in ("1", "true", "yes"),
            users_table=env.get("USERS_TABLE", defaults.users_table),
            sessions_table=env.get("SESSIONS_TABLE", defaults.sessions_table),
            refresh_tokens_table=env.get("REFRESH_TOKENS_TABLE", defaults.refresh_tokens_table),
            personal_access_tokens_table=env.get(
                "PERSONAL_ACCESS_TOKENS_TABLE", defaults.personal_access_tokens_table
            ),
            settings_table=env.get("SETTINGS_TABLE", defaults.settings_table),
            signing_key_secret_id=env.get("SIGNING_KEY_SECRET_ID", defaults.signing_key_secret_id),
            factors_table=env.get("FACTORS_TABLE", defaults.factors_table),
            factor_key_secret_id=env.get("FACTOR_KEY_SECRET_ID", defaults.factor_key_secret_id),
            identity_providers_table=env.get("IDENTITY_PROVIDERS_TABLE", defaults.identity_providers_table),
            linked_identities_table=env.get("LINKED_IDENTITIES_TABLE", defaults.linked_identities_table),
            webauthn_rp_id=env.get("WEBAUTHN_RP_ID", "").strip() or defaults.webauthn_rp_id,
            webauthn_origins=_origins(env, defaults.webauthn_origins),
            bcrypt_cost=_int(env, "BCRYPT_COST", defaults.bcrypt_cost),
            access_token_ttl=_int(env, "ACCESS_TOKEN_TTL_SECONDS", defaults.access_token_ttl),
            refresh_token_ttl=_int(env, "REFRESH_TOKEN_TTL_SECONDS", defaults.refresh_token_ttl),
            session_ttl=_int(env, "SESSION_TTL_SECONDS", defaults.session_ttl),
            revocation_lag=_int(env, "REVOCATION_LAG_SECONDS", defaults.revocation_lag),
            reauth_max_age=_int(env, "REAUTH_MAX_AGE_SECONDS", defaults.reauth_max_age),
            refresh_reuse_grace=_int(env, "REFRESH_REUSE_GRACE_SECONDS", defaults.refresh_reuse_grace),
            accept_imported_pats=env.get("ACCEPT_IMPORTED_PATS", "true").strip().lower()
            not in ("0", "false", "no"),
            allowed_origins=tuple(
                normalized_origin(origin)
                for origin in env.get("ALLOWED_ORIGINS", "").split(",")
                if origin.strip()
            ),
        )

    @property
    def is_local(self) -> bool:
        return self.stage == "local"
