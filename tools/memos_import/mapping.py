"""Memos' rows (tools.memos_import.rows) to memos-auth's records: what to write, what not.

Pure: no I/O, so the whole plan of an import is known (and a dry run can show it) before
anything is written. A row that cannot be taken becomes a Rejection naming it and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from auth import untrusted_json
from auth.accounts import validate_profile
from auth.credential_ids import is_credential_id
from auth.errors import InvalidArgument
from auth.identity_providers import MAX_PROVIDERS, ProviderInput, provider_id_of, validate
from auth.idp_models import FieldMapping, ProviderConfig, ProviderType
from auth.models import ClientInfo, Role, State, User
from auth.pats import MAX_DESCRIPTION_CHARS
from auth.sessions import MAX_USER_ID
from auth.shown_text import without_controls
from auth.stores.pat_store import MAX_TOKENS_PER_USER, PatRecord
from auth.stores.refresh_family_store import RefreshFamily
from auth.usernames import is_valid_username, username_key
from tools.memos_import.rows import (
    BASIC,
    GENERAL,
    LEGACY_ACCESS_TOKENS,
    LEGACY_SESSIONS,
    PERSONAL_ACCESS_TOKENS,
    REFRESH_TOKENS,
    IdpRow,
    MemosDatabase,
    UserIdentityRow,
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
# Memos makes every token id with a UUIDv4; one of another shape could not be revoked by any
# route (auth.credential_ids), so it is reported rather than stored.
NOT_A_TOKEN_ID = "tokenId is not a lowercase UUID, as Memos makes them"
USER_NOT_IMPORTED = "its user is not imported"
# Memos' only kind of identity provider (its IdentityProvider_Type besides UNSPECIFIED).
MEMOS_IDP_TYPES = {"OAUTH2": ProviderType.OAUTH2}
MAX_EXTERN_UID_CHARS = 256


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


@dataclass(frozen=True)
class ImportedProvider:
    """A Memos idp as memos-auth's provider: its id is Memos' uid, so `identity-providers/<uid>`
    names stay; `given` holds the client secret and is never printed."""

    memos_id: int
    provider_id: str
    given: ProviderInput = field(repr=False)

    @property
    def row(self) -> str:
        return f"idp {self.memos_id} ({self.provider_id})"


@dataclass(frozen=True)
class ImportedLink:
    """A Memos user_identity: (provider, external identifier) -> user."""

    provider_id: str
    extern_uid: str
    user_id: int
    # The user's username as imported: a link goes only to that very user (writer).
    username: str

    @property
    def row(self) -> str:
        return f"user_identity {self.provider_id}/{self.extern_uid[:64]} of user {self.user_id}"


@dataclass
class Plan:
    users: list[ImportedUser] = field(default_factory=list)
    providers: list[ImportedProvider] = field(default_factory=list)
    links: list[ImportedLink] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # Tokens Memos would refuse too: left out on purpose, counted, not errors.
    expired_pats: int = 0
    expired_refresh_tokens: int = 0
    # Token descriptions longer than the API takes (Memos caps none), cut to its limit.
    cut_descriptions: int = 0
    # Nicknames, token descriptions and provider names whose control characters were dropped.
    cleaned_texts: int = 0
    # Memos v0.25's (rows.LEGACY_*): refused by memos-auth as by Memos v0.26, so left out.
    legacy_access_tokens: int = 0
    legacy_sessions: int = 0
    disallow_user_registration: bool | None = None
    disallow_password_auth: bool | None = None
    # Memos' HS256 key; never printed (the dataclass repr leaves it out).
    secret_key: str | None = field(default=None, repr=False)
    # The highest id of any Memos user row an id of memos-auth's could equal, rejected rows
    # included: tokens Memos issued name that id, and a rejected row may be imported later.
    max_user_id: int = 0

    @property
    def owner_id(self) -> int | None:
        """The first admin: sign-up must not make another ADMIN once users are here."""
        admins = [imported.user.id for imported in self.users if imported.user.is_admin]
        return min(admins) if admins else None


def plan(database: MemosDatabase, now: int, allow_http: bool = False) -> Plan:
    """`allow_http`: the target is the local stack, whose providers may be plain http (as the
    API allows there); elsewhere an idp's URLs must be https."""
    result = Plan()
    by_id: dict[int, ImportedUser] = {}
    taken: dict[str, int] = {}
    result.max_user_id = max((row.id for row in database.users if _in_range(row.id)), default=0)
    for row in database.users:
        user = _user(replace(row, nickname=_cleaned(row.nickname or "", result)), result.rejections)
        if user is None:
            continue
        key = username_key(user.username)
        if key in taken:
            result.rejections.append(
                Rejection(f"user {row.id}", f"username clashes with user {taken[key]}'s (case-insensitive)")
            )
            continue
        if user.id in by_id:
            # Only a table without Memos' primary key holds two rows of one id.
            result.rejections.append(Rejection(f"user {row.id}", "id taken by another user row"))
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
        elif setting.key == LEGACY_ACCESS_TOKENS:
            result.legacy_access_tokens += _count(setting, "accessTokens")
        elif setting.key == LEGACY_SESSIONS:
            result.legacy_sessions += _count(setting, "sessions")
    _system_settings(database.system_settings, result)
    for idp in database.idps:
        provider = _provider(idp, allow_http, result)
        if provider is not None:
            result.providers.append(provider)
    providers = {provider.provider_id for provider in result.providers}
    linked: set[tuple[str, str]] = set()
    for identity in database.user_identities:
        link = _link(identity, by_id, providers, result.rejections)
        if link is None:
            continue
        # One identity, one user (Memos' UNIQUE(provider, extern_uid)): the first row has it.
        if (link.provider_id, link.extern_uid) in linked:
            result.rejections.append(Rejection(link.row, "identity linked by another user_identity row"))
            continue
        linked.add((link.provider_id, link.extern_uid))
        result.links.append(link)
    result.users = list(by_id.values())
    return result


def _provider(row: IdpRow, allow_http: bool, result: Plan) -> ImportedProvider | None:
    """An idp row checked by the very rules the API applies to a provider (validate)."""
    name = f"idp {row.id}"
    try:
        provider_id = provider_id_of(row.uid or "")
    except InvalidArgument:
        result.rejections.append(Rejection(name, "uid memos-auth refuses (1-32 letters, digits or '-')"))
        return None
    name = f"idp {row.id} ({provider_id})"
    kind = MEMOS_IDP_TYPES.get(row.type or "")
    oauth2 = _oauth2_config(row.config or "")
    problem = None
    if kind is None:
        problem = f"unknown type {(row.type or '')[:20]!r}"
    elif oauth2 is None:
        problem = "config is not Memos' JSON (an object with oauth2Config)"
    elif any(provider.provider_id == provider_id for provider in result.providers):
        problem = "uid taken by another idp row"
    elif len(result.providers) >= MAX_PROVIDERS:
        problem = f"at most {MAX_PROVIDERS} identity providers"
    if problem is not None:
        result.rejections.append(Rejection(name, problem))
        return None
    assert kind is not None and oauth2 is not None
    mapping = oauth2.get("fieldMapping", oauth2.get("field_mapping"))
    mapping = mapping if isinstance(mapping, dict) else {}
    scopes = oauth2.get("scopes")
    secret = _text(oauth2, "clientSecret")
    try:
        given = validate(
            ProviderInput(
                type=kind,
                title=_cleaned(row.name or "", result),
                identifier_filter=row.identifier_filter or "",
                config=ProviderConfig(
                    client_id=_text(oauth2, "clientId"),
                    scopes=tuple(str(scope) for scope in scopes) if isinstance(scopes, list) else (),
                    field_mapping=FieldMapping(
                        identifier=_text(mapping, "identifier"),
                        display_name=_text(mapping, "displayName"),
                        email=_text(mapping, "email"),
                        avatar_url=_text(mapping, "avatarUrl"),
                    ),
                    auth_url=_text(oauth2, "authUrl"),
                    token_url=_text(oauth2, "tokenUrl"),
                    user_info_url=_text(oauth2, "userInfoUrl"),
                ),
                client_secret=secret,
            ),
            allow_http,
        )
    except InvalidArgument as error:
        # The API's messages name the field, never its value.
        result.rejections.append(Rejection(name, error.message))
        return None
    if not secret:
        result.rejections.append(Rejection(name, "no clientSecret"))
        return None
    return ImportedProvider(row.id, provider_id, given)


def _oauth2_config(text: str) -> dict[str, Any] | None:
    try:
        value = untrusted_json.parsed(text)
    except ValueError:
        return None
    config = value.get("oauth2Config", value.get("oauth2_config")) if isinstance(value, dict) else None
    return config if isinstance(config, dict) else None


def _text(value: dict[str, Any], camel: str) -> str:
    """A protojson string field by its JSON name or its proto name; absent is ""."""
    snake = re.sub(r"[A-Z]", lambda match: "_" + match.group(0).lower(), camel)
    found = value.get(camel, value.get(snake))
    return found if isinstance(found, str) else ""


def _link(
    row: UserIdentityRow, users: dict[int, ImportedUser], providers: set[str], rejections: list[Rejection]
) -> ImportedLink | None:
    extern_uid = row.extern_uid or ""
    owner = users.get(row.user_id)
    link = ImportedLink(row.provider or "", extern_uid, row.user_id, owner.user.username if owner else "")
    problem = None
    if owner is None:
        problem = USER_NOT_IMPORTED
    elif link.provider_id not in providers:
        problem = "its identity provider is not imported"
    elif not extern_uid or len(extern_uid) > MAX_EXTERN_UID_CHARS:
        problem = f"extern_uid must be 1-{MAX_EXTERN_UID_CHARS} characters"
    if problem is not None:
        rejections.append(Rejection(link.row, problem))
        return None
    return link


def _user(row: UserRow, rejections: list[Rejection]) -> User | None:
    name = f"user {row.id}"
    problem = None
    if not _in_range(row.id):
        problem = "id out of range"
    elif not is_valid_username(row.username):
        problem = "username memos-auth refuses (1-36 of A-Z a-z 0-9 -, starting and ending alphanumeric)"
    elif row.role not in ROLES:
        problem = f"unknown role {row.role[:20]!r}"
    elif row.row_status not in STATES:
        problem = f"unknown row_status {row.row_status[:20]!r}"
    elif not _BCRYPT.fullmatch(row.password_hash or ""):
        problem = "password hash is not bcrypt"
    else:
        problem = _profile_problem(row)
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


def _cleaned(text: str, result: Plan) -> str:
    """Text Memos shows, without the control characters the API refuses (auth.shown_text):
    dropped and counted rather than refused, since a tab in a nickname should not leave its
    account behind."""
    cleaned = without_controls(text)
    if cleaned != text:
        result.cleaned_texts += 1
    return cleaned


def _profile_problem(row: UserRow) -> str | None:
    """What the API's rules for a profile (validate_profile) say of the nickname and email:
    an account the API could not have made, and whose profile it would refuse to keep."""
    try:
        validate_profile(row.nickname or "", row.email or "")
    except InvalidArgument as refused:
        return f"nickname or email memos-auth refuses: {refused.message}"
    return None


def _in_range(user_id: int) -> bool:
    """An id memos-auth gives, and its tokens and session cookies carry."""
    return 0 < user_id <= MAX_USER_ID


def _entries(setting: UserSettingRow, list_name: str, result: Plan) -> Iterator[tuple[int, dict[str, Any]]]:
    """The entries of a user setting's protojson list, each with its index; a corrupt value is
    one rejection for the whole row."""
    try:
        value = untrusted_json.parsed(setting.value)
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


def _count(setting: UserSettingRow, list_name: str) -> int:
    """How many entries a setting's protojson list has; a value that is not one counts none
    (nothing of it is imported either way)."""
    try:
        value = untrusted_json.parsed(setting.value)
    except ValueError:
        return 0
    entries = value.get(list_name) if isinstance(value, dict) else None
    return len(entries) if isinstance(entries, list) else 0


@dataclass(frozen=True)
class _TokenEntry:
    """An entry of a user's token list that names a user imported and a token id a route
    could name: the rest is each kind's to judge."""

    entry: dict[str, Any]
    # How the report names it: by its id, never by what a row could hold there instead.
    name: str
    token_id: str
    owner: ImportedUser
    expires_at: int | None


def _token_entries(
    setting: UserSettingRow, list_name: str, what: str, owner: ImportedUser | None, result: Plan
) -> Iterator[_TokenEntry]:
    """The entries of a token list worth judging; the others rejected, with their reasons."""
    for index, entry in _entries(setting, list_name, result):
        token_id = entry.get("tokenId")
        # By its id only when that is one, since a row can hold anything there, the token
        # itself too; else by its place in the list.
        named = token_id if is_credential_id(token_id) else f"#{index}"
        name = f"{what} {named} of user {setting.user_id}"
        if owner is None:
            result.rejections.append(Rejection(name, USER_NOT_IMPORTED))
        elif not isinstance(token_id, str) or not is_credential_id(token_id):
            result.rejections.append(Rejection(name, NOT_A_TOKEN_ID))
        else:
            yield _TokenEntry(entry, name, token_id, owner, _time(entry.get("expiresAt")))


def _pats(
    setting: UserSettingRow, owner: ImportedUser | None, now: int, result: Plan, hashes: dict[str, str]
) -> None:
    for token in _token_entries(setting, "tokens", "personal access token", owner, result):
        entry, name, expires_at, holder = token.entry, token.name, token.expires_at, token.owner
        token_hash = entry.get("tokenHash")
        if not isinstance(token_hash, str) or not _SHA256_HEX.fullmatch(token_hash.lower()):
            result.rejections.append(Rejection(name, "tokenHash is not SHA-256 hex"))
        elif expires_at is None and entry.get("expiresAt") is not None:
            # Absent is Memos' "never"; an expiry that cannot be read must not become one.
            result.rejections.append(Rejection(name, "expiresAt is not a timestamp"))
        elif expires_at is not None and expires_at <= now:
            result.expired_pats += 1
        elif token_hash.lower() in hashes:
            result.rejections.append(Rejection(name, f"same tokenHash as {hashes[token_hash.lower()]}"))
        elif len(holder.pats) >= MAX_TOKENS_PER_USER:
            result.rejections.append(Rejection(name, f"a user has at most {MAX_TOKENS_PER_USER} tokens"))
        else:
            hashes[token_hash.lower()] = name
            # Cut rather than refused: refusing would end an integration over its label, and
            # one past DynamoDB's item size would fail its user's write on every run.
            description = _cleaned(str(entry.get("description") or ""), result)
            if len(description) > MAX_DESCRIPTION_CHARS:
                description = description[:MAX_DESCRIPTION_CHARS]
                result.cut_descriptions += 1
            holder.pats.append(
                PatRecord(
                    token_hash=token_hash.lower(),
                    token_id=token.token_id,
                    user_id=holder.user.id,
                    description=description,
                    created_at=_time(entry.get("createdAt")) or holder.user.create_time,
                    expires_at=expires_at,
                    last_used_at=_time(entry.get("lastUsedAt")),
                    owner=holder.user.as_owner,
                    imported=True,
                )
            )


def _families(
    setting: UserSettingRow, owner: ImportedUser | None, now: int, result: Plan, family_ids: dict[str, str]
) -> None:
    for token in _token_entries(setting, "refreshTokens", "refresh token", owner, result):
        token_id, name, expires_at = token.token_id, token.name, token.expires_at
        if expires_at is None or expires_at <= now:
            result.expired_refresh_tokens += 1
        elif token_id in family_ids:
            result.rejections.append(Rejection(name, f"same tokenId as {family_ids[token_id]}"))
        else:
            family_ids[token_id] = name
            client = token.entry.get("clientInfo")
            client = client if isinstance(client, dict) else {}
            created_at = _time(token.entry.get("createdAt")) or now
            token.owner.families.append(
                RefreshFamily(
                    # Memos' refresh JWT names no family: its token id names the family.
                    family_id=token_id,
                    user_id=token.owner.user.id,
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
        value = untrusted_json.parsed(settings[name])
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
        # Years 1 and 9999 with an offset that carries them past datetime's range.
        return int(moment.astimezone(UTC).timestamp())
    except (ValueError, OverflowError):
        return None
