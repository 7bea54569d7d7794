"""Memos' rows as any of its databases holds them (store/migration/*/LATEST.sql, SPEC §9).

A reader fills these and does nothing else: JSON values stay text here, so that parsing and
judging them is the mapping's, the same for SQLite, MySQL and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# user_setting keys (Memos' storepb.UserSetting_Key) and system_setting names the importer reads.
PERSONAL_ACCESS_TOKENS = "PERSONAL_ACCESS_TOKENS"
REFRESH_TOKENS = "REFRESH_TOKENS"
BASIC = "BASIC"
GENERAL = "GENERAL"


@dataclass(frozen=True)
class UserRow:
    id: int
    created_ts: int
    updated_ts: int
    row_status: str
    username: str
    role: str
    email: str
    nickname: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class UserSettingRow:
    user_id: int
    key: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class IdpRow:
    id: int
    uid: str
    name: str
    type: str
    identifier_filter: str
    # protojson `{"oauth2Config":{…}}`, the client secret in it: never printed.
    config: str = field(repr=False)


@dataclass(frozen=True)
class UserIdentityRow:
    user_id: int
    # The idp's uid.
    provider: str
    extern_uid: str


@dataclass
class MemosDatabase:
    users: list[UserRow] = field(default_factory=list)
    user_settings: list[UserSettingRow] = field(default_factory=list)
    # name -> value; BASIC holds the signing key, so this is never printed.
    system_settings: dict[str, str] = field(default_factory=dict, repr=False)
    idps: list[IdpRow] = field(default_factory=list)
    user_identities: list[UserIdentityRow] = field(default_factory=list)
