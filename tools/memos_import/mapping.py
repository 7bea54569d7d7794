"""Memos' rows (tools.memos_import.rows) to memos-auth's records: what to write, what not.

Pure: no I/O, so the whole plan of an import is known (and a dry run can show it) before
anything is written. A row that cannot be taken becomes a Rejection naming it and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from auth.models import ClientInfo, Role, State, User
from auth.stores.pat_store import MAX_TOKENS_PER_USER, PatRecord
from auth.stores.refresh_family_store import RefreshFamily
from auth.usernames import is_valid_username, username_key
from tools.memos_import.rows import (
    BASIC,
    GENERAL,
    PERSONAL_ACCESS_TOKENS,
    REFRESH_TOKENS,
    MemosDatabase,
    UserRow,
    UserSettingRow,
)

# Memos' roles; HOST is what databases before v0.25 call the admin.
ROLES = {"HOST": Role.ADMIN, "ADMIN": Role.ADMIN, "USER": Role.USER}
STATES = {"NORMAL": State.NORMAL, "ARCHIVED": State.ARCHIVED}
# The bcrypt prefixes Go (`$2a$`) and other implementations write; Python's bcrypt checks all.
_BCRYPT = re.compile(r"\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# protojson Timestamps: RFC 3339, with up to nine fraction digits and Z or an offset.
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", re.IGNORECASE)
MAX_TOKEN_ID_CHARS = 64
IDP_NOT_SUPPORTED = "identity providers are not supported yet"


@dataclass(frozen=True)
class Rejection:
    """A row not taken: `row` names it (table and id), never with a credential in it."""

    row: str
    reason: str


@dataclass
class ImportedUser:
    user: User
    pats: list[PatRecord] = field(default_factory=list)
    families: list[RefreshFamily] = field(default_factory=list)



@dataclass
class Plan:
    users: list[ImportedUser] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # Tokens Memos would refuse too: left out on purpose, counted, not errors.
    expired_pats: int = 0
    expired_refresh_tokens: int = 0
    disallow_user_registration: bool | None = None
    disallow_password_auth: bool | None = None
    # Memos' HS256 key; never printed (the dataclass repr leaves it out).
    secret_key: str | None = field(default=None, repr=False)

    @property
    def max_user_id(self) -> int:
        return max((imported.user.id for imported in self.users), default=0)

    @property
    def owner_id(self) -> int | None:
        """The first admin: sign-up must not make another ADMIN once users are here."""
        admins = [imported.user.id for imported in self.users if imported.user.is_admin]
        return min(admins) if admins else None


def plan(database: MemosDatabase, now: int) -> Plan:
    result = Plan()
    by_id: dict[int, ImportedUser] = {}
    taken: dict[str, int] = {}
    for row in database.users:
        user = _user(row, result.rejections)
        if user is None:
            continue
        key = username_key(user.username)
        if key in taken:
            result.rejections.append(
                Rejection(f"user {row.id}", f"username clashes with user {taken[key]}'s (case-insensitive)")
            )
            continue
        taken[key] = user.id
        by_id[user.id] = ImportedUser(user)
    # A token's hash and a refresh token's id key their items: the first row to claim one
    # has it (the writer batches many users' items, and takes each key once).
    hashes: dict[str, str] = {}
    family_ids: dict[str, str] = {}
    for setting in database.user_settings:
        owner = by_id.get(setting.user_id)
        if setting.key == PERSONAL_ACCESS_TOKENS:
            _pats(setting, owner, now, result, hashes)
        elif setting.key == REFRESH_TOKENS:
            _families(setting, owner, now, result, family_ids)
    _system_settings(database.system_settings, result)
    for idp in database.idps:
        result.rejections.append(Rejection(f"idp {idp.id}", IDP_NOT_SUPPORTED))
    for identity in database.user_identities:
        result.rejections.append(Rejection(f"user_identity of user {identity.user_id}", IDP_NOT_SUPPORTED))
    result.users = list(by_id.values())
    return result


def _user(row: UserRow, rejections: list[Rejection]) -> User | None:
    name = f"user {row.id}"
    problem = None
    if not 0 < row.id < 2**31:
        problem = "id out of range"
    elif not is_valid_username(row.username):
        problem = "username memos-auth refuses (1-36 of A-Z a-z 0-9 -, starting and ending alphanumeric)"
    elif row.role not in ROLES:
        problem = f"unknown role {row.role[:20]!r}"
    elif row.row_status not in STATES:
        problem = f"unknown row_status {row.row_status[:20]!r}"
    elif not _BCRYPT.fullmatch(row.password_hash or ""):
        problem = "password hash is not bcrypt"
    if problem is not None:
        rejections.append(Rejection(name, problem))
        return None
    return User(
        id=row.id,
        username=row.username,
        role=ROLES[row.role],
        state=STATES[row.row_status],
        password_hash=row.password_hash,
        display_name=row.nickname or "",
        email=row.email or "",
        create_time=int(row.created_ts),
        update_time=int(row.updated_ts),
    )


def _entries(setting: UserSettingRow, list_name: str, result: Plan) -> Iterator[tuple[int, dict[str, Any]]]:
    """The entries of a user setting's protojson list, each with its index; a corrupt value is
    one rejection for the whole row."""
    try:
        value = json.loads(setting.value)
        entries = value.get(list_name, []) if isinstance(value, dict) else None
    except ValueError:
        entries = None
    if not isinstance(entries, list):
        result.rejections.append(
            Rejection(f"user_setting {setting.key} of user {setting.user_id}", "value is not Memos' JSON")
        )
        return
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            yield index, entry
        else:
            result.rejections.append(
                Rejection(f"user_setting {setting.key} of user {setting.user_id} #{index}", "not an object")
            )


def _pats(
    setting: UserSettingRow, owner: ImportedUser | None, now: int, result: Plan, hashes: dict[str, str]
) -> None:
    for index, entry in _entries(setting, "tokens", result):
        name = f"personal access token {str(entry.get('tokenId', index))[:64]} of user {setting.user_id}"
        token_id, token_hash = entry.get("tokenId"), entry.get("tokenHash")
        expires_at = _time(entry.get("expiresAt"))
        if owner is None:
            result.rejections.append(Rejection(name, "its user is not imported"))
        elif not _good_token_id(token_id):
            result.rejections.append(Rejection(name, "missing or overlong tokenId"))
        elif not isinstance(token_hash, str) or not _SHA256_HEX.fullmatch(token_hash.lower()):
            result.rejections.append(Rejection(name, "tokenHash is not SHA-256 hex"))
        elif expires_at is not None and expires_at <= now:
            result.expired_pats += 1
        elif token_hash.lower() in hashes:
            result.rejections.append(Rejection(name, f"same tokenHash as {hashes[token_hash.lower()]}"))
        elif len(owner.pats) >= MAX_TOKENS_PER_USER:
            result.rejections.append(Rejection(name, f"a user has at most {MAX_TOKENS_PER_USER} tokens"))
        else:
            assert isinstance(token_id, str)
            hashes[token_hash.lower()] = name
            owner.pats.append(
                PatRecord(
                    token_hash=token_hash.lower(),
                    token_id=token_id,
                    user_id=owner.user.id,
                    description=str(entry.get("description") or ""),
                    created_at=_time(entry.get("createdAt")) or owner.user.create_time,
                    expires_at=expires_at,
                    last_used_at=_time(entry.get("lastUsedAt")),
                    owner=owner.user.as_owner,
                    imported=True,
                )
            )


def _families(
    setting: UserSettingRow, owner: ImportedUser | None, now: int, result: Plan, family_ids: dict[str, str]
) -> None:
    for index, entry in _entries(setting, "refreshTokens", result):
        token_id = entry.get("tokenId")
        name = f"refresh token {str(token_id or index)[:64]} of user {setting.user_id}"
        expires_at = _time(entry.get("expiresAt"))
        if owner is None:
            result.rejections.append(Rejection(name, "its user is not imported"))
        elif not _good_token_id(token_id):
            result.rejections.append(Rejection(name, "missing or overlong tokenId"))
        elif expires_at is None or expires_at <= now:
            result.expired_refresh_tokens += 1
        elif token_id in family_ids:
            result.rejections.append(Rejection(name, f"same tokenId as {family_ids[token_id]}"))
        else:
            assert isinstance(token_id, str)
            family_ids[token_id] = name
            client = entry.get("clientInfo")
            client = client if isinstance(client, dict) else {}
            created_at = _time(entry.get("createdAt")) or now
            owner.families.append(
                RefreshFamily(
                    # Memos' refresh JWT names no family: its token id names the family.
                    family_id=token_id,
                    user_id=owner.user.id,
                    current_token_id=token_id,
                    created_at=created_at,
                    last_used_at=created_at,
                    expires_at=expires_at,
                    revoked=False,
                    client=ClientInfo(
                        user_agent=str(client.get("userAgent") or "")[:512],
                        ip_address=str(client.get("ipAddress") or "")[:64],
                    ),
                    imported=True,
                )
            )


def _system_settings(settings: dict[str, str], result: Plan) -> None:
    basic = _setting_object(settings, BASIC, result)
    if basic is not None:
        # protojson writes lowerCamelCase; parsers accept the proto name too.
        key = basic.get("secretKey", basic.get("secret_key"))
        if isinstance(key, str) and key:
            result.secret_key = key
        else:
            result.rejections.append(Rejection(f"system_setting {BASIC}", "no secretKey"))
    general = _setting_object(settings, GENERAL, result)
    if general is not None:
        result.disallow_user_registration = _flag(general, "disallowUserRegistration")
        result.disallow_password_auth = _flag(general, "disallowPasswordAuth")


def _setting_object(settings: dict[str, str], name: str, result: Plan) -> dict[str, Any] | None:
    if name not in settings:
        return None
    try:
        value = json.loads(settings[name])
    except ValueError:
        value = None
    if not isinstance(value, dict):
        result.rejections.append(Rejection(f"system_setting {name}", "value is not Memos' JSON"))
        return None
    return value


def _flag(value: dict[str, Any], camel: str) -> bool:
    snake = re.sub(r"[A-Z]", lambda match: "_" + match.group(0).lower(), camel)
    # protojson leaves out a false bool: absent is off.
    return value.get(camel, value.get(snake)) is True


def _good_token_id(token_id: object) -> bool:
    return isinstance(token_id, str) and 0 < len(token_id) <= MAX_TOKEN_ID_CHARS


def _time(value: object) -> int | None:
    """Epoch seconds of a protojson Timestamp (fraction dropped); None when absent or not one."""
    if not isinstance(value, str) or not value:
        return None
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        return None
    zone = "+00:00" if match.group(3).upper() == "Z" else match.group(3)
    try:
        moment = datetime.fromisoformat(match.group(1) + zone)
    except ValueError:
        return None
    return int(moment.astimezone(UTC).timestamp())
