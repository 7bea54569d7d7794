"""Memos' rows as any of its databases holds them (store/migration/*/LATEST.sql, SPEC §9).

A reader fills these and does nothing else: JSON values stay text here, so that parsing and
judging them is the mapping's, the same for SQLite, MySQL and PostgreSQL.

Each row class is its table's one column list: `TABLE` names the table and the fields are
the columns the importer reads, in order (`columns`). The reader selects by it, and the
tests' Memos databases (tests/support/memos_db.py) insert by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    class Row(DataclassInstance, Protocol):
        TABLE: ClassVar[str]


# user_setting keys (Memos' storepb.UserSetting_Key) and system_setting names the importer reads.
PERSONAL_ACCESS_TOKENS = "PERSONAL_ACCESS_TOKENS"
REFRESH_TOKENS = "REFRESH_TOKENS"
# Keys of Memos up to v0.25 (PATs as JWTs, and sign-ins), dropped by v0.26 without a migration:
# only counted, as left out.
LEGACY_ACCESS_TOKENS = "ACCESS_TOKENS"
LEGACY_SESSIONS = "SESSIONS"
BASIC = "BASIC"
GENERAL = "GENERAL"


@dataclass(frozen=True)
class UserRow:
    TABLE: ClassVar[str] = "user"

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
    TABLE: ClassVar[str] = "user_setting"

    user_id: int
    key: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class IdpRow:
    TABLE: ClassVar[str] = "idp"

    id: int
    uid: str
    name: str
    type: str
    identifier_filter: str
    # protojson `{"oauth2Config":{…}}`, the client secret in it: never printed.
    config: str = field(repr=False)


@dataclass(frozen=True)
class SystemSettingRow:
    TABLE: ClassVar[str] = "system_setting"

    name: str
    # BASIC's value holds Memos' signing key.
    value: str = field(repr=False)


@dataclass(frozen=True)
class UserIdentityRow:
    TABLE: ClassVar[str] = "user_identity"

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


def columns(row: type[Row]) -> tuple[str, ...]:
    """The columns of the row's table that it holds, in the order of its fields."""
    return tuple(column.name for column in fields(row))
