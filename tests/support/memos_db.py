"""Memos SQLite databases for the importer's tests, built from Memos' own schema.

The DDL is written from SPEC §9's columns (Memos' store/migration/sqlite/LATEST.sql), with
its identity providers (`idp`, config as protojson `{"oauth2Config":{…}}`) and linked
identities (`user_identity`). Older Memos' databases, as its migrations left them:
`SCHEMA_0_26` (v0.11-v0.26: `idp` without `uid`, no `user_identity`) and `SCHEMA_0_10`
(before v0.11: no `idp` either); the admin is HOST up to v0.26 (a row's value, not the DDL).
Passwords are hashed with `$2a$` as Go's bcrypt writes them; tokens are made and hashed as
Memos does (`memos_pat_` + 32 random characters, no checksum; SHA-256 hex stored).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import sqlite3
import string
import time
import uuid
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bcrypt
import jwt

from tools.memos_import import rows

if TYPE_CHECKING:
    from tools.memos_import.rows import Row

SCHEMA = """
CREATE TABLE user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_ts BIGINT NOT NULL DEFAULT (strftime('%s', 'now')),
  updated_ts BIGINT NOT NULL DEFAULT (strftime('%s', 'now')),
  row_status TEXT NOT NULL CHECK (row_status IN ('NORMAL', 'ARCHIVED')) DEFAULT 'NORMAL',
  username TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL DEFAULT 'USER',
  email TEXT NOT NULL DEFAULT '',
  nickname TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  avatar_url TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT ''
);
CREATE TABLE user_setting (
  user_id INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  UNIQUE(user_id, key)
);
CREATE TABLE system_setting (
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  UNIQUE(name)
);
CREATE TABLE idp (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  identifier_filter TEXT NOT NULL DEFAULT '',
  config TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE user_identity (
  user_id INTEGER NOT NULL,
  provider TEXT NOT NULL,
  extern_uid TEXT NOT NULL,
  UNIQUE(provider, extern_uid)
);
"""
# Memos v0.11-v0.26: store/migration/sqlite/0.11/01__idp.sql made `idp` without `uid`;
# 0.27 added it, 0.28 made `user_identity`.
SCHEMA_0_26 = SCHEMA.replace("  uid TEXT NOT NULL UNIQUE,\n", "").split("CREATE TABLE user_identity", 1)[0]
# Memos before v0.11: no identity providers at all.
SCHEMA_0_10 = SCHEMA.split("CREATE TABLE idp", 1)[0]
# What upgrading to v0.27 does to `idp`, verbatim (store/migration/sqlite/0.27/01__add_idp_uid.sql).
MIGRATION_0_27_IDP_UID = """
ALTER TABLE idp ADD COLUMN uid TEXT NOT NULL DEFAULT '';
UPDATE idp SET uid = printf('%08x', id) WHERE uid = '';
CREATE UNIQUE INDEX IF NOT EXISTS idx_idp_uid ON idp (uid);
"""
PASSWORD = "correct horse battery"
_ALPHABET = string.ascii_letters + string.digits
# Hashing at cost 4 keeps the tests fast; the prefix is Go's.
_COST = 4


def oauth2_config(
    base: str = "https://accounts.example.com",
    client_id: str = "memos-client",
    client_secret: str = "memos-client-secret",  # noqa: S107 - a test provider's
    identifier: str = "email",
) -> dict[str, Any]:
    """Memos' `oauth2Config` as its protojson writes it (lowerCamelCase), on `base`'s endpoints."""
    return {
        "clientId": client_id,
        "clientSecret": client_secret,
        "authUrl": f"{base}/auth",
        "tokenUrl": f"{base}/token",
        "userInfoUrl": f"{base}/me",
        "scopes": ["openid", "profile", "email"],
        "fieldMapping": {"identifier": identifier, "displayName": "name", "email": "email"},
    }


def go_bcrypt(password: str, cost: int = _COST) -> str:
    """A bcrypt hash as Go's golang.org/x/crypto/bcrypt writes it: `$2a$`."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost, prefix=b"2a")).decode()


def memos_pat() -> str:
    """A token as Memos makes one: `memos_pat_` + 32 random characters, no checksum."""
    return "memos_pat_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def memos_access_token(
    secret_key: str,
    username: str,
    user_id: int,
    now: int,
    ttl: int = 900,
    role: str = "USER",
    status: str = "NORMAL",
) -> str:
    """Exactly Memos' GenerateAccessTokenV2 (v0.26 on, server/auth/token.go): header kid v1,
    claims type/role/status/username/iss/aud/sub/iat/exp."""
    claims = {
        "type": "access",
        "role": role,
        "status": status,
        "username": username,
        "iss": "memos",
        "aud": ["user.access-token"],
        "sub": str(user_id),
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"kid": "v1"})


def memos_legacy_access_token(secret_key: str, username: str, user_id: int, now: int, ttl: int | None) -> str:
    """A token of Memos up to v0.25 (GenerateAccessToken, still in server/auth/token.go but
    called by nothing since v0.26): claims name/iss/aud/sub/iat and an `exp` only when given,
    no `type`. Memos kept such a token in the user's ACCESS_TOKENS setting (a PAT, or a
    sign-in) and accepted it only while it was listed there; v0.26 refuses it outright."""
    claims: dict[str, Any] = {
        "name": username,
        "iss": "memos",
        "aud": ["user.access-token"],
        "sub": str(user_id),
        "iat": now,
    }
    if ttl is not None:
        claims["exp"] = now + ttl
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"kid": "v1"})


def memos_refresh_token(secret_key: str, user_id: int, token_id: str, now: int, ttl: int = 30 * 86400) -> str:
    """Memos' refresh JWT: a token id (`tid`) and no family id."""
    claims = {
        "type": "refresh",
        "tid": token_id,
        "iss": "memos",
        "sub": str(user_id),
        "aud": ["user.refresh-token"],
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"kid": "v1"})


@dataclass
class MemosDb:
    """A Memos database being written, and the credentials in it (for the tests to use)."""

    path: Path
    secret_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema: str = SCHEMA
    # token -> user id, refresh token id -> user id: what a test presents afterwards.
    pats: dict[str, int] = field(default_factory=dict)
    refresh_token_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._db = sqlite3.connect(self.path)
        self._db.executescript(self.schema)
        self.system_setting("BASIC", json.dumps({"secretKey": self.secret_key}))

    def user(
        self,
        user_id: int,
        username: str,
        role: str = "USER",
        row_status: str = "NORMAL",
        password_hash: str | None = None,
        nickname: str = "",
        email: str = "",
    ) -> None:
        created = int(time.time()) - 86400
        hashed = password_hash if password_hash is not None else go_bcrypt(PASSWORD)
        row = rows.UserRow(user_id, created, created, row_status, username, role, email, nickname, hashed)
        self._insert(row)

    def pats_of(
        self, user_id: int, count: int = 1, expires_in: int | None = 86400, raw: str | None = None
    ) -> list[str]:
        """`count` tokens of the user (expiring in `expires_in` s; negative: expired already)."""
        now = time.time()
        tokens, entries = [], []
        for _ in range(count):
            token = memos_pat()
            tokens.append(token)
            entry = {
                "tokenId": str(uuid.uuid4()),
                "tokenHash": hashlib.sha256(token.encode()).hexdigest(),
                "description": "ci",
                "createdAt": rfc3339(now - 3600),
            }
            if expires_in is not None:
                entry["expiresAt"] = rfc3339(now + expires_in)
            entries.append(entry)
            if expires_in is None or expires_in > 0:
                self.pats[token] = user_id
        self.user_setting(user_id, "PERSONAL_ACCESS_TOKENS", raw or json.dumps({"tokens": entries}))
        return tokens

    def refresh_tokens_of(self, user_id: int, count: int = 1, expires_in: int = 86400) -> list[str]:
        now = time.time()
        ids = [str(uuid.uuid4()) for _ in range(count)]
        entries = [
            {
                "tokenId": token_id,
                "expiresAt": rfc3339(now + expires_in),
                "createdAt": rfc3339(now - 60),
                "clientInfo": {"userAgent": "Mozilla/5.0 Memos", "ipAddress": "203.0.113.9"},
            }
            for token_id in ids
        ]
        if expires_in > 0:
            self.refresh_token_ids.update(dict.fromkeys(ids, user_id))
        self.user_setting(user_id, "REFRESH_TOKENS", json.dumps({"refreshTokens": entries}))
        return ids

    def user_setting(self, user_id: int, key: str, value: str) -> None:
        self._insert(rows.UserSettingRow(user_id, key, value))

    def system_setting(self, name: str, value: str) -> None:
        self._insert(rows.SystemSettingRow(name, value), "OR REPLACE")

    def idp(
        self,
        idp_id: int,
        uid: str | None,
        config: dict[str, Any] | None = None,
        name: str | None = None,
        type: str = "OAUTH2",
        identifier_filter: str = "",
        raw_config: str | None = None,
    ) -> None:
        """An identity provider row; `config` is the oauth2Config object (oauth2_config()); `uid`
        None for a database from before idp had one (SCHEMA_0_26)."""
        value = raw_config if raw_config is not None else json.dumps({"oauth2Config": config or {}})
        title = (uid or "").title() if name is None else name
        row = rows.IdpRow(idp_id, uid or "", title, type, identifier_filter, value)
        self._insert(row, without=() if uid is not None else ("uid",))

    def user_identity(self, user_id: int, provider: str, extern_uid: str) -> None:
        """A linked identity: `provider` is the idp's uid, `extern_uid` the mapped identifier."""
        self._insert(rows.UserIdentityRow(user_id, provider, extern_uid))

    def _insert(self, row: Row, conflict: str = "", without: tuple[str, ...] = ()) -> None:
        """The row into its table, by the same column list the importer reads it with (less the
        columns `without`, which an older table lacks)."""
        named = zip(rows.columns(type(row)), astuple(row), strict=True)
        kept = [(name, value) for name, value in named if name not in without]
        listed, placeholders = ", ".join(name for name, _ in kept), ", ".join("?" * len(kept))
        # Table and column names are the row classes' constants, never input (format(), as in
        # tools.memos_import.memos_sqlite).
        statement = "INSERT {} INTO {} ({}) VALUES ({})".format(conflict, row.TABLE, listed, placeholders)  # noqa: S608, UP032
        self._db.execute(statement, [value for _, value in kept])

    def close(self) -> Path:
        self._db.commit()
        self._db.close()
        return self.path


def upgraded(path: Path, migration: str, to: Path) -> Path:
    """A copy of the database at `to`, with one of Memos' migrations run on it as Memos' upgrade
    runs it (the original is left as it was)."""
    shutil.copyfile(path, to)
    connection = sqlite3.connect(to)
    try:
        connection.executescript(migration)
        connection.commit()
    finally:
        connection.close()
    return to


def many_users(path: Path, users: int, pats_each: int, password_hash: str) -> MemosDb:
    """A large database (the bench's): `users` users with `pats_each` tokens each, one hash."""
    db = MemosDb(path)
    for user_id in range(1, users + 1):
        db.user(
            user_id, f"user{user_id}", role="ADMIN" if user_id == 1 else "USER", password_hash=password_hash
        )
        db.pats_of(user_id, pats_each, expires_in=None)
    return db
