"""SPEC §9 on moto: reading a Memos database, mapping its rows, and writing them into the
stack's tables idempotently (the same through DynamoDB Local: tests/e2e/test_import_memos.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from auth.accounts import MAX_DISPLAY_NAME_CHARS, MAX_EMAIL_CHARS
from auth.audit import AuditEvent, CredentialKind
from auth.config import Config
from auth.errors import Unauthenticated, Unavailable
from auth.idp_models import IdentityProvider
from auth.key_rotation import KeyRotation
from auth.keys import ACTIVATION_DELAY_SECONDS
from auth.models import Role, SignIn, State, User
from auth.passwords import verify_password
from auth.pats import MAX_DESCRIPTION_CHARS, is_well_formed
from auth.principal import AuthMethod, Principal
from auth.stores.dynamo import get_many
from auth.stores.pat_store import MAX_TOKENS_PER_USER, PatRecord
from auth.wiring import ApiServices, build_api_services
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.memos_db import (
    MIGRATION_0_27_IDP_UID,
    PASSWORD,
    SCHEMA_0_10,
    SCHEMA_0_26,
    MemosDb,
    go_bcrypt,
    memos_access_token,
    memos_legacy_access_token,
    memos_pat,
    memos_refresh_token,
    oauth2_config,
    rfc3339,
    upgraded,
)
from tests.unit.test_rotation import STEPS as ROTATION_STEPS
from tests.unit.test_rotation import begin_rotation
from tools.memos_import import ledger, mapping, memos_sqlite, writer
from tools.memos_import.__main__ import main as import_main
from tools.memos_import.mapping import ImportedUser, Plan, Rejection
from tools.memos_import.rows import IdpRow, MemosDatabase, UserIdentityRow, UserRow, UserSettingRow
from tools.memos_import.target import LOGICAL_IDS, OUTPUT_KEYS, Target
from tools.memos_import.writer import IMPORTED_UID_PREFIX, Importer, Report

TARGET = Target(
    users_table="UsersTable",
    refresh_tokens_table="RefreshTokensTable",
    pats_table="PersonalAccessTokensTable",
    settings_table="SettingsTable",
    secret_id="SigningKeySecret",
    identity_providers_table="IdentityProvidersTable",
    linked_identities_table="LinkedIdentitiesTable",
    factor_key_secret_id="FactorKeySecret",
)
# The fixture's identity provider: Memos' uid `google`, its client secret.
CLIENT_SECRET = "memos-client-secret"


@pytest.fixture
def clock() -> FakeClock:
    # Memos' rows carry real times: expiry is judged against now.
    return FakeClock(time.time())


@pytest.fixture
def memos(tmp_path: Path) -> MemosDb:
    db = MemosDb(tmp_path / "memos_prod.db")
    db.user(1, "host", role="HOST", nickname="The Host", email="host@example.com")
    db.user(2, "bob", nickname="Bob")
    db.user(3, "carol", row_status="ARCHIVED")
    db.user(4, "bad_name")  # an underscore: Memos allows it, memos-auth does not
    db.user(5, "BOB")  # bob's name in other case: usernames are unique regardless of case
    db.pats_of(1, 2)
    db.pats_of(2, 1, expires_in=-60)  # expired
    db.user_setting(3, "PERSONAL_ACCESS_TOKENS", "{not json")
    db.refresh_tokens_of(1, 1)
    db.refresh_tokens_of(2, 1, expires_in=-60)
    db.system_setting("GENERAL", json.dumps({"disallowUserRegistration": True}))
    db.idp(7, "google", oauth2_config(client_secret=CLIENT_SECRET), identifier_filter=r".+@example\.com")
    db.user_identity(1, "google", "host@example.com")
    db.close()
    return db


def _plan(memos: MemosDb) -> Plan:
    return mapping.plan(memos_sqlite.read(memos.path), int(time.time()))


def _import(memos: MemosDb, **kwargs: Any) -> Report:
    # One thread: moto is not safe for concurrent transactions (DynamoDB Local is: e2e).
    return Importer(TARGET, threads=1).run(_plan(memos), **kwargs)


def _services(aws: dict[str, Any], clock: FakeClock) -> ApiServices:
    return build_api_services(
        Config(bcrypt_cost=4), clock, aws["dynamodb"], aws["secretsmanager"], RecordingAudit()
    )


@dataclass(frozen=True)
class Printed:
    exit_code: int
    out: str
    err: str


class Cli:
    """The importer's command line, as `make import-memos` runs it, against a running stack's
    ready file whose endpoints are moto's: its exit code and what it printed."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self._folder = folder
        self._capsys = capsys

    def __call__(
        self,
        db: Path,
        demo: bool = False,
        threads: int | None = 1,
        dry_run: bool = False,
        audit_log: Path | None = None,
    ) -> Printed:
        argv = ["--db", str(db), "--stack-file", str(_stack_file(self._folder, demo))]
        argv += ["--dry-run"] if dry_run else []
        # Never the default, in the folder the tests run in.
        argv += ["--audit-log", str(audit_log or self._folder / "memos-import-audit.jsonl")]
        exit_code = import_main(argv + ([] if threads is None else ["--threads", str(threads)]))
        printed = self._capsys.readouterr()
        return Printed(exit_code, printed.out, printed.err)


@pytest.fixture
def cli(aws: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The command line on the tables and secrets of `aws`."""
    return Cli(tmp_path, capsys)


def _snapshot(aws: dict[str, Any]) -> dict[str, list[Any]]:
    tables = (
        "UsersTable",
        "PersonalAccessTokensTable",
        "RefreshTokensTable",
        "SettingsTable",
        "IdentityProvidersTable",
        "LinkedIdentitiesTable",
    )
    items = {t: sorted(map(repr, aws["dynamodb"].scan(TableName=t)["Items"])) for t in tables}
    versions = aws["secretsmanager"].list_secret_version_ids(SecretId="SigningKeySecret")["Versions"]
    return {**items, "secret": sorted(v["VersionId"] for v in versions)}


# -- the reader and the mapping ---------------------------------------------------------


def test_go_bcrypt_hashes_verify_in_python() -> None:
    hashed = go_bcrypt(PASSWORD)
    assert hashed.startswith("$2a$")
    assert verify_password(PASSWORD, hashed) and not verify_password("wrong password!", hashed)


def test_the_mapping_takes_users_with_their_ids_roles_states_and_names(memos: MemosDb) -> None:
    plan = _plan(memos)
    users = {imported.user.id: imported.user for imported in plan.users}
    assert sorted(users) == [1, 2, 3]
    assert users[1].role is Role.ADMIN and users[1].display_name == "The Host"
    assert users[1].email == "host@example.com" and users[1].password_hash.startswith("$2a$")
    assert users[2].role is Role.USER and users[3].state is State.ARCHIVED
    # Users 4 and 5 are rejected (test below): the id counter goes above them all the same.
    assert plan.max_user_id == 5 and plan.owner_id == 1
    assert plan.disallow_user_registration is True and plan.disallow_password_auth is False


def test_rows_it_cannot_take_are_named_with_a_reason(memos: MemosDb) -> None:
    plan = _plan(memos)
    reasons = {rejection.row: rejection.reason for rejection in plan.rejections}
    assert "username memos-auth refuses" in reasons["user 4"]
    assert "clashes with user 2" in reasons["user 5"]
    assert reasons["user_setting PERSONAL_ACCESS_TOKENS of user 3"] == "value is not Memos' JSON"
    assert len(reasons) == 3


def test_a_user_whose_nickname_or_email_the_api_refuses_is_named_with_the_apis_reason(
    tmp_path: Path,
) -> None:
    db = MemosDb(tmp_path / "profiles.db")
    db.user(1, "ann", nickname="n" * MAX_DISPLAY_NAME_CHARS, email="ann@example.com")
    db.user(2, "ben", nickname="n" * (MAX_DISPLAY_NAME_CHARS + 1))
    db.user(3, "cat", email="cat at example.com")
    db.user(4, "dan", email=f"{'d' * MAX_EMAIL_CHARS}@example.com")
    db.close()
    plan = _plan(db)
    assert [imported.user.username for imported in plan.users] == ["ann"]
    refuses = "nickname or email memos-auth refuses"
    assert {rejection.row: rejection.reason for rejection in plan.rejections} == {
        "user 2": f"{refuses}: displayName must be at most {MAX_DISPLAY_NAME_CHARS} characters",
        "user 3": f"{refuses}: email is not a valid address",
        "user 4": f"{refuses}: email must be at most {MAX_EMAIL_CHARS} characters",
    }


def test_expired_tokens_are_left_out_and_counted(memos: MemosDb) -> None:
    plan = _plan(memos)
    by_id = {imported.user.id: imported for imported in plan.users}
    assert len(by_id[1].pats) == 2 and by_id[2].pats == []
    assert plan.expired_pats == 1 and plan.expired_refresh_tokens == 1
    (family,) = by_id[1].families
    assert family.family_id == family.current_token_id and family.imported


def token_ids(*names: str) -> dict[str, str]:
    """A token id as Memos makes them (a lowercase UUIDv4) for each name, the same each run."""
    return {
        name: str(uuid.UUID(bytes=hashlib.sha256(name.encode()).digest()[:16], version=4)) for name in names
    }


ID = token_ids("t-1", "t-2", "r-1", "late", "early", "t-huge", "t-long", "t-short")


@pytest.mark.parametrize("expires_at", ["2025-02-30T00:00:00Z", "tomorrow", 1735689600, ""])
def test_a_token_whose_expiry_is_not_a_timestamp_is_not_taken_as_never_expiring(
    tmp_path: Path, expires_at: object
) -> None:
    db = MemosDb(tmp_path / "expiry.db")
    db.user(1, "ann")
    entry = {"tokenId": ID["t-1"], "tokenHash": "ab" * 32, "expiresAt": expires_at}
    never = {"tokenId": ID["t-2"], "tokenHash": "cd" * 32, "expiresAt": None}
    db.user_setting(1, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": [entry, never]}))
    db.close()
    plan = _plan(db)
    assert [(r.row, r.reason) for r in plan.rejections] == [
        (f"personal access token {ID['t-1']} of user 1", "expiresAt is not a timestamp")
    ]
    # Absent or null is Memos' "never" (protojson leaves an unset Timestamp out).
    ((token,),) = [imported.pats for imported in plan.users]
    assert (token.token_id, token.expires_at) == (ID["t-2"], None)


HASH = go_bcrypt(PASSWORD)


def _row(user_id: int, username: str) -> UserRow:
    return UserRow(user_id, 0, 0, "NORMAL", username, "USER", "", "", HASH)


def _reasons(database: MemosDatabase) -> dict[str, str]:
    return {r.row: r.reason for r in mapping.plan(database, int(time.time())).rejections}


def test_a_timestamp_past_the_calendars_ends_is_not_a_timestamp() -> None:
    # Valid RFC 3339, but the offset carries it past year 9999 (or before year 1).
    tokens = [
        {"tokenId": ID["late"], "tokenHash": "ab" * 32, "expiresAt": "9999-12-31T23:59:59-23:59"},
        {"tokenId": ID["early"], "tokenHash": "cd" * 32, "createdAt": "0001-01-01T00:00:00+01:00"},
    ]
    setting = UserSettingRow(1, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": tokens}))
    database = MemosDatabase(users=[_row(1, "ann")], user_settings=[setting])
    plan = mapping.plan(database, int(time.time()))
    assert [(r.row, r.reason) for r in plan.rejections] == [
        (f"personal access token {ID['late']} of user 1", "expiresAt is not a timestamp")
    ]
    # An unreadable creation time is the user's, as an absent one is.
    ((early,),) = [imported.pats for imported in plan.users]
    assert (early.token_id, early.created_at) == (ID["early"], 0)


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"tokens": [{"tokenId": "\\ud800", "tokenHash": "' + "ab" * 32 + '"}]}'],
    ids=["nested too deep", "lone surrogate"],
)
def test_json_too_deep_or_not_unicode_is_not_memos_json(text: str) -> None:
    config = json.dumps({"oauth2Config": oauth2_config(client_secret="x")}).replace('"x"', '"\\udfff"')
    database = MemosDatabase(
        users=[_row(1, "ann")],
        user_settings=[UserSettingRow(1, "PERSONAL_ACCESS_TOKENS", text)],
        system_settings={"BASIC": text},
        idps=[
            IdpRow(1, "corp", "Corp", "OAUTH2", "", text),
            IdpRow(2, "other", "Other", "OAUTH2", "", config),
        ],
    )
    assert _reasons(database) == {
        "user_setting PERSONAL_ACCESS_TOKENS of user 1": "value is not Memos' JSON",
        "system_setting BASIC": "value is not Memos' JSON",
        "idp 1 (corp)": "config is not Memos' JSON (an object with oauth2Config)",
        "idp 2 (other)": "config is not Memos' JSON (an object with oauth2Config)",
    }


def test_rows_a_table_without_memos_keys_holds_twice_are_taken_once() -> None:
    # Memos' user.id is its primary key and user_identity is UNIQUE(provider, extern_uid);
    # a database whose tables lost those constraints is read the same way, first row first.
    config = json.dumps({"oauth2Config": oauth2_config()})
    database = MemosDatabase(
        users=[_row(2, "ann"), _row(2, "bob"), _row(3, "cid")],
        idps=[IdpRow(1, "corp", "Corp", "OAUTH2", "", config)],
        user_identities=[UserIdentityRow(2, "corp", "sub-1"), UserIdentityRow(3, "corp", "sub-1")],
    )
    plan = mapping.plan(database, int(time.time()))
    assert sorted(imported.user.username for imported in plan.users) == ["ann", "cid"]
    assert [(link.extern_uid, link.user_id) for link in plan.links] == [("sub-1", 2)]
    assert {r.row: r.reason for r in plan.rejections} == {
        "user 2": "id taken by another user row",
        "user_identity corp/sub-1 of user 3": "identity linked by another user_identity row",
    }


def test_the_report_escapes_what_a_terminal_would_act_on(tmp_path: Path, cli: Cli) -> None:
    db = MemosDb(tmp_path / "escapes.db")
    db.user(1, "ann")
    # A linked identity's external id is the provider's text, printed in its row's name.
    db.user_identity(1, "gone", "t\x1b]0;owned\x07")
    printed = cli(db.close())
    assert "\x1b" not in printed.out and "\x07" not in printed.out
    assert (
        "not imported: user_identity gone/t\\x1b]0;owned\\x07 of user 1: "
        "its identity provider is not imported" in printed.out
    )


def test_a_token_whose_id_is_no_id_is_named_by_its_place_never_by_what_the_row_holds(
    tmp_path: Path, cli: Cli
) -> None:
    # A row may hold anything where the id belongs, the token itself too: never printed.
    db = MemosDb(tmp_path / "token-as-id.db")
    db.user(1, "ann")
    token = memos_pat()
    good = {"tokenId": str(uuid.uuid4()), "tokenHash": hashlib.sha256(b"another").hexdigest()}
    bad = {"tokenId": token, "tokenHash": hashlib.sha256(token.encode()).hexdigest()}
    db.user_setting(1, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": [good, bad]}))
    later = rfc3339(time.time() + 86400)
    db.user_setting(
        1, "REFRESH_TOKENS", json.dumps({"refreshTokens": [{"tokenId": token, "expiresAt": later}]})
    )
    path = db.close()
    for dry_run in (True, False):
        printed = cli(path, dry_run=dry_run)
        assert token not in printed.out + printed.err
        assert f"personal access token #1 of user 1: {mapping.NOT_A_TOKEN_ID}" in printed.out
        assert f"refresh token #0 of user 1: {mapping.NOT_A_TOKEN_ID}" in printed.out


def test_tokens_and_sessions_of_memos_before_v0_26_are_counted_as_left_out(tmp_path: Path, cli: Cli) -> None:
    # Memos v0.25 kept PATs (JWTs) in ACCESS_TOKENS and sign-ins in SESSIONS; v0.26 dropped
    # both keys without a migration, and memos-auth refuses such a JWT as v0.26 does. What is
    # left out is said, so that the owners of a v0.25 Memos know to make new tokens.
    db = MemosDb(tmp_path / "memos_0_25.db")
    db.user(1, "host", role="HOST")
    now = int(time.time())
    jwts = [memos_legacy_access_token(db.secret_key, "host", 1, now, ttl) for ttl in (86400, None)]
    listed = [{"accessToken": token, "description": "cli"} for token in jwts]
    db.user_setting(1, "ACCESS_TOKENS", json.dumps({"accessTokens": listed}))
    session = {"sessionId": "5f0c1a7e-6f1c-4b8e-9c53-0d1d3e0b8a11", "createTime": "2025-01-01T00:00:00Z"}
    db.user_setting(1, "SESSIONS", json.dumps({"sessions": [session]}))
    db.close()
    printed = cli(db.path)
    assert printed.exit_code == 0
    assert "access tokens of Memos before v0.26 (ACCESS_TOKENS): 2 left out" in printed.out
    assert "sign-ins of Memos before v0.26 (SESSIONS): 1 left out" in printed.out
    assert not any(token in printed.out + printed.err for token in jwts)
    assert session["sessionId"] not in printed.out + printed.err


def test_a_database_from_before_v0_11_has_host_and_no_identity_tables(tmp_path: Path) -> None:
    db = MemosDb(tmp_path / "memos_0_10.db", schema=SCHEMA_0_10)
    db.user(1, "admin", role="HOST")
    db.close()
    plan = _plan(db)
    assert [imported.user.role for imported in plan.users] == [Role.ADMIN]
    assert plan.rejections == [] and plan.users[0].pats == []


def _memos_0_26(path: Path) -> MemosDb:
    """A database of Memos v0.11-v0.26: idp rows without a uid, HOST, no user_identity."""
    db = MemosDb(path, schema=SCHEMA_0_26)
    db.user(1, "admin", role="HOST")
    db.idp(7, None, oauth2_config(client_secret=CLIENT_SECRET), name="Google")
    db.idp(300, None, oauth2_config(base="https://gitlab.example.com"), name="GitLab")
    db.close()
    return db


def test_a_database_from_before_idp_uid_reads_the_uid_memos_upgrade_gives(tmp_path: Path) -> None:
    db = _memos_0_26(tmp_path / "memos_0_26.db")
    read = memos_sqlite.read(db.path)
    assert [(idp.id, idp.uid) for idp in read.idps] == [(7, "00000007"), (300, "0000012c")]
    # The very rows Memos' own upgrade to v0.27 leaves: user_identity (v0.28) names these uids.
    after = memos_sqlite.read(upgraded(db.path, MIGRATION_0_27_IDP_UID, tmp_path / "memos_0_27.db"))
    assert after.idps == read.idps and after.users == read.users


def test_a_database_from_before_idp_uid_is_imported_with_its_providers(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path, cli: Cli
) -> None:
    db = _memos_0_26(tmp_path / "memos_0_26.db")
    printed = cli(db.path)
    assert printed.exit_code == 0
    assert "users: 1 imported" in printed.out and "identity providers: 2 imported" in printed.out
    api = _services(aws, clock)
    providers = {provider.name: provider.title for provider in api.identity_providers.list()}
    assert providers == {"identity-providers/00000007": "Google", "identity-providers/0000012c": "GitLab"}
    assert api.identity_providers.client_secret(api.identity_providers.stored("00000007")) == CLIENT_SECRET
    assert api.accounts.sign_in("admin", PASSWORD, "203.0.113.1").role is Role.ADMIN


def test_not_a_memos_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_text("not sqlite")
    with pytest.raises(memos_sqlite.NotAMemosDatabase):
        memos_sqlite.read(tmp_path / "x.db")


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("UPDATE user SET created_ts = 'yesterday' WHERE id = 2", "`user` row 2: `created_ts` holds text"),
        (
            "UPDATE user SET username = CAST(username AS BLOB) WHERE id = 3",
            "`user` row 3: `username` holds a blob",
        ),
        (
            "UPDATE user_identity SET extern_uid = CAST(extern_uid AS BLOB)",
            "`user_identity` row 1: `extern_uid` holds a blob",
        ),
    ],
    ids=["text-in-a-number", "blob-username", "blob-identity"],
)
def test_a_damaged_row_stops_the_run_before_anything_is_written(
    aws: dict[str, Any], memos: MemosDb, damage: str, named: str, cli: Cli
) -> None:
    # Memos' columns are typed, but SQLite keeps what it is given: a value of the wrong type
    # is a damaged database, refused whole with the row named (a row skipped for it could
    # leave its id to a newcomer), and never a traceback halfway.
    connection = sqlite3.connect(memos.path)
    connection.execute(damage)
    connection.commit()
    connection.close()
    before = _snapshot(aws)
    printed = cli(memos.path)
    assert printed.exit_code == 2
    assert printed.out == "" and named in printed.err and "damaged" in printed.err
    assert "yesterday" not in printed.err and "carol" not in printed.err
    assert _snapshot(aws) == before


def test_nothing_in_a_plan_repr_carries_a_credential(memos: MemosDb) -> None:
    shown = repr(_plan(memos)) + repr(memos_sqlite.read(memos.path))
    assert "google" in shown  # the provider is in the plan, its secret is not:
    assert memos.secret_key not in shown and "$2a$" not in shown and CLIENT_SECRET not in shown
    assert not any(token in shown for token in memos.pats)


# -- writing ----------------------------------------------------------------------------


def test_imported_users_sign_in_and_their_tokens_work(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    report = _import(memos)
    assert report.counts[("users", "imported")] == 3
    assert report.counts[("personal access tokens", "imported")] == 2
    assert report.counts[("refresh tokens", "imported")] == 1
    api = _services(aws, clock)
    assert api.accounts.sign_in("host", PASSWORD, "203.0.113.1").role is Role.ADMIN
    (token,) = [t for t, uid in memos.pats.items() if uid == 1][:1]
    assert not is_well_formed(token)  # no checksum of ours, yet:
    assert api.pats.find(token).owner.username == "host"
    counted = api.users.get_counted(1)
    assert counted is not None and counted[1] == 2
    assert api.settings.get_instance().disallow_user_registration is True
    now = int(clock.now())
    access = memos_access_token(memos.secret_key, "host", 1, now, role="ADMIN")
    assert api.authenticator.authenticate(f"Bearer {access}", None).username == "host"
    (token_id,) = memos.refresh_token_ids
    user, issued, _ = api.refresh_tokens.rotate(memos_refresh_token(memos.secret_key, 1, token_id, now))
    assert user.id == 1
    # The new token is a memos-auth family's: it has a fid and rotates as usual.
    api.refresh_tokens.rotate(issued.token)


def test_every_credential_an_import_writes_is_audited_once(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    plan, audit = _plan(memos), RecordingAudit()
    report = Importer(TARGET, threads=1, audit=audit).run(plan)
    (link,) = _services(aws, clock).idp_store.links_of_user(1)
    imported = writer.IMPORTED
    by_id = {user.user.id: user for user in plan.users}
    assert sorted(audit.events) == sorted(
        [
            (AuditEvent.CREATED, CredentialKind.ACCOUNT, 1, "", f"{imported}, as ADMIN"),
            (AuditEvent.CREATED, CredentialKind.ACCOUNT, 2, "", f"{imported}, as USER"),
            (AuditEvent.CREATED, CredentialKind.ACCOUNT, 3, "", f"{imported}, as USER"),
            *((AuditEvent.CREATED, CredentialKind.PAT, 1, pat.token_id, imported) for pat in by_id[1].pats),
            *(
                (AuditEvent.CREATED, CredentialKind.REFRESH_TOKEN, 1, family.family_id, imported)
                for family in by_id[1].families
            ),
            (AuditEvent.CREATED, CredentialKind.SIGNING_KEY, 0, "v1", imported),
            (AuditEvent.CREATED, CredentialKind.IDENTITY_PROVIDER, 0, "google", imported),
            (AuditEvent.CREATED, CredentialKind.LINKED_IDENTITY, 1, link.link_id, imported),
        ]
    )
    written = [n for (_, outcome), n in report.counts.items() if outcome == "imported"]
    assert report.counts[("instance settings", "imported")] == 1, "no credential: not audited"
    assert len(audit.events) == sum(written) - 1
    # What a second run finds already there was audited when it was written.
    Importer(TARGET, threads=1, audit=audit).run(_plan(memos))
    assert len(audit.events) == 9


# The `memos` fixture's credentials memos-auth takes, by the kind its audit names them.
MEMOS_CREDENTIALS = {
    "account": 3,
    "pat": 2,
    "refresh_token": 1,
    "signing_key": 1,
    "identity_provider": 1,
    "linked_identity": 1,
}


def test_the_command_appends_the_audit_trail_to_its_file_and_a_dry_run_none(
    tmp_path: Path, cli: Cli, memos: MemosDb
) -> None:
    trail = tmp_path / "audit.jsonl"
    printed = cli(memos.path, dry_run=True, audit_log=trail)
    assert not trail.exists()
    printed = cli(memos.path, audit_log=trail)
    lines = [json.loads(line) for line in trail.read_text().splitlines()]
    assert f"note: {len(lines)} credentials written, each audited in {trail}" in printed.out
    assert len(lines) == 9 and {line["message"] for line in lines} == {"audit"}
    assert Counter(line["credential_kind"] for line in lines) == MEMOS_CREDENTIALS
    written = trail.read_text()
    assert memos.secret_key not in written and CLIENT_SECRET not in written and "$2a$" not in written
    assert not any(token in written or token[10:] in written for token in memos.pats)
    cli(memos.path, audit_log=trail)
    assert len(trail.read_text().splitlines()) == 9, "a second run appends nothing: it wrote nothing"


@pytest.mark.parametrize("ttl", [365 * 86400, None], ids=["expiring-in-a-year", "never-expiring"])
def test_a_token_of_memos_before_v0_26_does_not_come_back_with_the_key(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb, ttl: int | None
) -> None:
    # Memos up to v0.25 signed its PATs and sign-ins with the same key, as JWTs with no `type`,
    # valid only while listed in the user's ACCESS_TOKENS setting; v0.26 refuses them. The key
    # that comes along must not make one (revoked, or leaked and deleted) good again.
    _import(memos)
    now = int(clock.now())
    legacy = memos_legacy_access_token(memos.secret_key, "host", 1, now - 30 * 86400, ttl)
    with pytest.raises(Unauthenticated):
        _services(aws, clock).authenticator.authenticate(f"Bearer {legacy}", None)


def test_new_users_get_ids_above_every_memos_user_and_are_not_admins(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    _import(memos)
    api = _services(aws, clock)
    # The import closed sign-up (Memos' GENERAL switch): an admin adds the user.
    admin = Principal(1, "host", Role.ADMIN, AuthMethod.ACCESS_TOKEN)
    new = api.accounts.sign_up("dave", PASSWORD, caller=admin)
    # Above 3, the highest imported id, and above 5, the highest of the rows not taken.
    assert new.id == 6 and new.role is Role.USER


@pytest.mark.parametrize(
    ("rows", "next_id"),
    [
        # An SSO-made Memos user is named by its email, which memos-auth refuses.
        ([(1, "admin"), (2, "jane@example.com")], 3),
        ([(1, "jane@example.com")], 2),
        # No token of memos-auth's names an id out of its range (auth.tokens): no gap for it.
        ([(1, "admin"), (2**31, "far")], 2),
    ],
    ids=["the-highest-row-rejected", "every-row-rejected", "out-of-range"],
)
def test_the_id_of_a_row_not_taken_is_never_given_to_a_new_user(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path, rows: list[tuple[int, str]], next_id: int, cli: Cli
) -> None:
    db = MemosDb(tmp_path / "memos_prod.db")
    for user_id, username in rows:
        db.user(user_id, username, role="ADMIN" if username == "admin" else "USER")
    db.close()
    printed = cli(db.path)
    assert printed.exit_code == 1
    rejected = [user_id for user_id, username in rows if username != "admin"]
    assert all(f"not imported: user {user_id}: " in printed.out for user_id in rejected)
    assert "secret key: 1 imported" in printed.out
    api = _services(aws, clock)
    assert api.accounts.sign_up("mallory", PASSWORD).id == next_id
    # Memos' key came along, so a token Memos issued to the skipped user is well signed: only
    # its id keeps it from being the newcomer's (or anyone's, until that row is imported).
    now = int(clock.now())
    for user_id, username in rows:
        if username != "admin" and user_id < 2**31:
            token = memos_access_token(db.secret_key, username, user_id, now)
            with pytest.raises(Unauthenticated):
                api.authenticator.authenticate(f"Bearer {token}", None)


def test_a_second_run_changes_nothing(aws: dict[str, Any], memos: MemosDb) -> None:
    _import(memos)
    before = _snapshot(aws)
    again = _import(memos)
    assert _snapshot(aws) == before
    assert again.counts[("users", "unchanged")] == 3 and again.counts[("users", "imported")] == 0
    assert again.counts[("personal access tokens", "unchanged")] == 2
    assert again.counts[("refresh tokens", "unchanged")] == 1
    assert again.counts[("secret key", "unchanged")] == 1
    assert again.counts[("identity providers", "unchanged")] == 1
    assert again.counts[("linked identities", "unchanged")] == 1
    assert again.rejections == _import(memos, dry_run=True).rejections


# The writes an import makes through its DynamoDB client.
WRITES = ("transact_write_items", "put_item", "update_item", "batch_write_item", "delete_item")


class _Client:
    """The importer's DynamoDB client, counting calls; with `die_at`, the run is killed at
    that write, before DynamoDB had it or (`applied`) after, before its answer came back; with
    `outage_at`, DynamoDB stops answering at that write, and every call from then on fails."""

    def __init__(
        self, client: Any, die_at: int | None = None, applied: bool = False, outage_at: int | None = None
    ) -> None:
        self._client = client
        self._die_at = die_at
        self._applied = applied
        self._outage_at = outage_at
        self.down = False
        self.calls: Counter[str] = Counter()

    @property
    def writes(self) -> int:
        return sum(self.calls[write] for write in WRITES)

    def __getattr__(self, name: str) -> Any:
        operation = getattr(self._client, name)
        if not callable(operation) or name.startswith("_") or name in ("exceptions", "meta"):
            return operation

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if self.down or (name in WRITES and self.writes == self._outage_at):
                self.down = True
                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
            killed = name in WRITES and self.writes == self._die_at
            if killed and not self._applied:
                raise KeyboardInterrupt
            answer = operation(*args, **kwargs)
            if killed:
                raise KeyboardInterrupt
            return answer

        return call


def _import_through(
    client: _Client,
    plan: Plan,
    monkeypatch: pytest.MonkeyPatch,
    audit: RecordingAudit | None = None,
    **kwargs: Any,
) -> Report:
    monkeypatch.setattr(Target, "dynamodb", lambda _target: client)
    return Importer(TARGET, threads=1, audit=audit).run(plan, **kwargs)


def _second_run(
    aws: dict[str, Any], plan: Plan, monkeypatch: pytest.MonkeyPatch, audit: RecordingAudit | None = None
) -> tuple[_Client, Report]:
    """`plan` imported, then again through a counting client: that client and the second
    run's report, the tables checked unchanged by it."""
    _import_through(_Client(aws["dynamodb"]), plan, monkeypatch)
    before = _snapshot(aws)
    client = _Client(aws["dynamodb"])
    again = _import_through(client, plan, monkeypatch, audit)
    assert _snapshot(aws) == before
    return client, again


@pytest.fixture
def crowd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MemosDb:
    """Transactions of 10 items (DynamoDB takes 100), so that a small database spans several:
    6 users with 2 tokens and a sign-in each (2 users to a transaction), and one with 12
    tokens, more than fit in a transaction with their user."""
    monkeypatch.setattr(writer, "MAX_TRANSACTION_ITEMS", 10)
    db = MemosDb(tmp_path / "crowd.db")
    hashed = go_bcrypt(PASSWORD)
    for user_id in range(1, 7):
        db.user(user_id, f"user{user_id}", password_hash=hashed)
        db.pats_of(user_id, 2)
        db.refresh_tokens_of(user_id, 1)
    db.user(7, "hoarder", password_hash=hashed)
    db.pats_of(7, 12)
    db.close()
    return db


CROWD_TOKENS = 6 * 2 + 12
# Its ledger: a marker per user, token and refresh token.
CROWD_MARKERS = 7 + CROWD_TOKENS + 6
# One batch of markers after each transaction of 2 users, and one after the hoarder's writes.
CROWD_MARKER_WRITES = 3 + 1
# A clean import of the crowd: the id counter, the owner marker, 3 transactions of 2 users,
# the hoarder's with 8 tokens, and one per token of the 4 left (the database has no GENERAL),
# and the markers.
CROWD_WRITES = 2 + 3 + 1 + 4 + CROWD_MARKER_WRITES


def _assert_whole(aws: dict[str, Any], clock: FakeClock, db: MemosDb) -> None:
    """Every user of `db` is here with exactly its tokens counted, and every credential works."""
    api = _services(aws, clock)
    for user_id in range(1, 8):
        counted = api.users.get_counted(user_id)
        assert counted is not None and counted[1] == (12 if user_id == 7 else 2)
    assert all(api.pats.find(token).user_id == uid for token, uid in db.pats.items())
    families = aws["dynamodb"].scan(TableName="RefreshTokensTable", Select="COUNT")["Count"]
    assert families == len(db.refresh_token_ids) == 6
    assert len(_ledger(aws)) == CROWD_MARKERS


def _ledger(aws: dict[str, Any]) -> set[str]:
    """The import ledger's markers in the Settings table."""
    items = aws["dynamodb"].scan(TableName="SettingsTable")["Items"]
    return {item["pk"]["S"] for item in items if item["pk"]["S"].startswith(ledger.PREFIX)}


def test_users_are_grouped_to_fill_transactions() -> None:
    def imported(user_id: int, credentials: int) -> ImportedUser:
        user = User(user_id, f"u{user_id}", Role.USER, State.NORMAL, "", "", "", 0, 0)
        pats = [
            PatRecord(f"{user_id}-{i}", str(i), user_id, "", 0, None, None, user.as_owner)
            for i in range(credentials)
        ]
        return ImportedUser(user, pats)

    users = [imported(i, 3) for i in range(1, 41)] + [imported(41, 99), imported(42, 0)]
    groups = [[member.user.id for member in group] for group in writer._groups(users)]
    # 5 items a user: 20 to a transaction of 100; 99 tokens overflow one, with their user.
    assert groups == [list(range(1, 21)), list(range(21, 41)), [41], [42]]


def test_users_are_written_many_to_a_transaction(
    aws: dict[str, Any], clock: FakeClock, crowd: MemosDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _Client(aws["dynamodb"])
    report = _import_through(client, _plan(crowd), monkeypatch)
    assert report.rejections == []
    assert report.counts[("users", "imported")] == 7
    assert report.counts[("personal access tokens", "imported")] == CROWD_TOKENS
    assert client.calls["transact_write_items"] == CROWD_WRITES - 2 - CROWD_MARKER_WRITES
    assert client.calls["batch_write_item"] == CROWD_MARKER_WRITES
    _assert_whole(aws, clock, crowd)


def test_a_second_run_reads_and_writes_no_user_again(
    aws: dict[str, Any], crowd: MemosDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, again = _second_run(aws, _plan(crowd), monkeypatch)
    assert again.rejections == []
    assert again.counts[("users", "unchanged")] == 7
    assert again.counts[("personal access tokens", "unchanged")] == CROWD_TOKENS
    assert again.counts[("refresh tokens", "unchanged")] == 6
    # Found by batch reads (the ledger, the id counter and owner, users, then their tokens and
    # families): no write at all, no read of one item at a time.
    assert client.writes == client.calls["get_item"] == 0
    assert client.calls["batch_get_item"] == 5


@pytest.mark.parametrize("applied", [False, True], ids=["before-applied", "after-applied"])
@pytest.mark.parametrize("die_at", range(1, CROWD_WRITES + 1))
def test_a_run_killed_at_any_write_completes_when_run_again(
    aws: dict[str, Any],
    clock: FakeClock,
    crowd: MemosDb,
    monkeypatch: pytest.MonkeyPatch,
    die_at: int,
    applied: bool,
) -> None:
    plan = _plan(crowd)
    killed = _Client(aws["dynamodb"], die_at=die_at, applied=applied)
    with pytest.raises(KeyboardInterrupt):
        _import_through(killed, plan, monkeypatch)
    report = _import_through(_Client(aws["dynamodb"]), plan, monkeypatch)
    assert report.rejections == []
    assert report.counts[("users", "imported")] + report.counts[("users", "unchanged")] == 7
    _assert_whole(aws, clock, crowd)
    before = _snapshot(aws)
    _import_through(_Client(aws["dynamodb"]), plan, monkeypatch)
    assert _snapshot(aws) == before


def test_a_user_memos_auth_created_is_never_overwritten(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    api = _services(aws, clock)
    own = api.accounts.sign_up("Bob", "another good password")  # takes bob's name (any case)
    report = _import(memos)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    # Bob's sign-up took the name, and id 1 as the stack's first user: host's id.
    assert "not overwritten" in reasons["user 2"] and "not overwritten" in reasons["user 1"]
    assert api.accounts.sign_in("bob", "another good password", "203.0.113.1").id == own.id
    assert report.counts[("users", "imported")] == 1 and api.users.get(3) is not None
    # Host's Google identity is never linked to Bob, who holds id 1 here.
    assert reasons["user_identity google/host@example.com of user 1"] == "its user is not imported"
    assert api.idp_store.get_link("google", "host@example.com") is None


def test_a_clash_in_a_transaction_of_many_users_stops_only_that_user(
    aws: dict[str, Any], clock: FakeClock, crowd: MemosDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = _services(aws, clock)
    # Id 1 (the first sign-up's) and user 4's name (any case): user 4 is in a transaction
    # with user 3, which fails as a whole; each is then tried alone.
    api.accounts.sign_up("USER4", "another good password")
    report = _import_through(_Client(aws["dynamodb"]), _plan(crowd), monkeypatch)
    users = [rejection for rejection in report.rejections if rejection.row.startswith("user ")]
    assert sorted(rejection.row for rejection in users) == ["user 1", "user 4"]
    assert all("not overwritten" in rejection.reason for rejection in users)
    assert report.counts[("users", "imported")] == 5
    for token, user_id in crowd.pats.items():
        if user_id in (1, 4):
            with pytest.raises(Unauthenticated):
                api.pats.find(token)
        else:
            assert api.pats.find(token).user_id == user_id
    counted = api.users.get_counted(3)
    assert counted is not None and counted[1] == 2
    assert api.accounts.sign_in("user4", "another good password", "203.0.113.1").id == 1


def test_a_token_hash_twice_in_the_database_is_taken_once(tmp_path: Path) -> None:
    db = MemosDb(tmp_path / "twice.db")
    db.user(1, "ann", password_hash=go_bcrypt(PASSWORD))
    db.user(2, "ben", password_hash=go_bcrypt(PASSWORD))
    entry = {"tokenId": ID["t-1"], "tokenHash": "ab" * 32, "createdAt": "2024-01-01T00:00:00Z"}
    db.user_setting(1, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": [entry]}))
    db.user_setting(2, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": [{**entry, "tokenId": ID["t-2"]}]}))
    family = {"tokenId": ID["r-1"], "expiresAt": "2999-01-01T00:00:00Z"}
    db.user_setting(1, "REFRESH_TOKENS", json.dumps({"refreshTokens": [family]}))
    db.user_setting(2, "REFRESH_TOKENS", json.dumps({"refreshTokens": [family]}))
    db.close()
    plan = _plan(db)
    reasons = {rejection.row: rejection.reason for rejection in plan.rejections}
    assert reasons == {
        f"personal access token {ID['t-2']} of user 2": (
            f"same tokenHash as personal access token {ID['t-1']} of user 1"
        ),
        f"refresh token {ID['r-1']} of user 2": f"same tokenId as refresh token {ID['r-1']} of user 1",
    }
    by_id = {imported.user.id: imported for imported in plan.users}
    assert len(by_id[1].pats) == len(by_id[1].families) == 1
    assert by_id[2].pats == [] and by_id[2].families == []


@pytest.mark.parametrize(
    "token_id",
    ["t-1", ID["t-1"].upper(), ID["t-1"].replace("-", ""), "a" * 36, str(uuid.UUID(int=1, version=1))],
    ids=["not a uuid", "upper case", "no hyphens", "uuid-sized", "version 1"],
)
def test_a_token_id_no_route_could_name_is_reported_not_imported(tmp_path: Path, token_id: str) -> None:
    # The routes that revoke a token or a sign-in take a lowercase UUID, as Memos makes its ids:
    # a token of any other id could be listed but never revoked by its owner.
    db = MemosDb(tmp_path / "ids.db")
    db.user(1, "ann", password_hash=go_bcrypt(PASSWORD))
    pat = {"tokenId": token_id, "tokenHash": "ab" * 32}
    family = {"tokenId": token_id, "expiresAt": "2999-01-01T00:00:00Z"}
    db.user_setting(1, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": [pat]}))
    db.user_setting(1, "REFRESH_TOKENS", json.dumps({"refreshTokens": [family]}))
    db.close()
    plan = _plan(db)
    assert {rejection.row: rejection.reason for rejection in plan.rejections} == {
        "personal access token #0 of user 1": mapping.NOT_A_TOKEN_ID,
        "refresh token #0 of user 1": mapping.NOT_A_TOKEN_ID,
    }
    ((imported,),) = [plan.users]
    assert imported.pats == [] and imported.families == []


def test_a_token_description_longer_than_the_api_takes_is_cut_and_the_token_imported(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path, cli: Cli
) -> None:
    # Memos caps no description; one past DynamoDB's 400 KB item limit made every run answer
    # "storage unavailable". Cut to the API's limit, the token (an integration) keeps working.
    db = MemosDb(tmp_path / "long.db")
    db.user(1, "ann")
    tokens = {ID["t-huge"]: memos_pat(), ID["t-long"]: memos_pat(), ID["t-short"]: memos_pat()}
    longest = MAX_DESCRIPTION_CHARS
    descriptions = dict(zip(tokens, ["h" * 500_000, "\u00e9" * (longest + 1), "c" * longest], strict=True))
    entries = [
        {"tokenId": token_id, "tokenHash": hashlib.sha256(token.encode()).hexdigest(), "description": text}
        for (token_id, token), text in zip(tokens.items(), descriptions.values(), strict=True)
    ]
    db.user_setting(1, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": entries}))
    db.close()
    printed = cli(db.path)
    assert printed.exit_code == 0
    assert f"personal access token descriptions: 2 cut to {MAX_DESCRIPTION_CHARS} characters" in printed.out
    assert "h" * 100 not in printed.out and "\u00e9" not in printed.out
    services = _services(aws, clock)
    for token_id, token in tokens.items():
        record = services.pats.find(token)
        assert record.token_id == token_id
        assert record.description == descriptions[token_id][:MAX_DESCRIPTION_CHARS]


def test_the_secret_is_refused_when_the_stack_has_users_of_its_own(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    api = _services(aws, clock)
    api.accounts.sign_up("zed", PASSWORD)
    kid_before = api.keys.signing_key()
    report = _import(memos)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    assert "already has users" in reasons["system_setting BASIC"]
    fresh = _services(aws, clock)
    assert fresh.keys.signing_key() == kid_before
    with pytest.raises(Unauthenticated):
        fresh.authenticator.authenticate(
            f"Bearer {memos_access_token(memos.secret_key, 'host', 1, int(clock.now()), role='ADMIN')}", None
        )


@pytest.mark.parametrize("users_of_the_second", ["clashing", "none"])
def test_another_memos_databases_key_never_replaces_the_imported_one(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb, tmp_path: Path, users_of_the_second: str
) -> None:
    # Both Memos keys are kid v1: the second would make its users' tokens pass as the users of
    # the first with the same ids (its user 1 as the first's admin), and end every token made.
    _import(memos)
    other = MemosDb(tmp_path / "other.db")
    if users_of_the_second == "clashing":
        other.user(1, "bravo", role="HOST")
    other.close()
    report = _import(other)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    assert "key of a Memos database imported before" in reasons["system_setting BASIC"]
    assert ("secret key", "imported") not in report.counts
    fresh = _services(aws, clock)
    now = int(clock.now())
    theirs = memos_access_token(other.secret_key, "host", 1, now, role="ADMIN")
    with pytest.raises(Unauthenticated):
        fresh.authenticator.authenticate(f"Bearer {theirs}", None)
    ours = memos_access_token(memos.secret_key, "host", 1, now, role="ADMIN")
    assert fresh.authenticator.authenticate(f"Bearer {ours}", None).username == "host"


def test_a_key_rotated_out_since_the_import_is_not_brought_back(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    # A later run (say for a row fixed since) after two scheduled rotations: Memos' key is
    # no longer among the versions that verify, but it was imported; putting it back would
    # make it sign again and drop the key that signed the refresh tokens of the last interval.
    _import(memos)
    rotation = KeyRotation(aws["secretsmanager"], clock, RecordingAudit())
    for _ in range(2):
        token = begin_rotation()
        for step in ROTATION_STEPS:
            rotation.run(step, "SigningKeySecret", token)
        clock.advance(ACTIVATION_DELAY_SECONDS)
    before = _snapshot(aws)
    again = _import(memos)
    assert _snapshot(aws) == before
    assert again.counts[("secret key", "unchanged")] == 1
    current = aws["secretsmanager"].get_secret_value(SecretId="SigningKeySecret", VersionStage="AWSCURRENT")
    assert json.loads(current["SecretString"])["kid"] == "v3"


class _Unreachable:
    """A DynamoDB client whose every call fails as an endpoint that does not answer."""

    exceptions = None

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

        return call


def test_a_stack_that_cannot_be_reached_is_a_clear_error_and_exit_2(
    memos: MemosDb, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.setattr(Target, "dynamodb", lambda _target: _Unreachable())
    printed = cli(memos.path)
    assert printed.exit_code == 2
    assert "memos-import: storage unavailable" in printed.err and "run the import again" in printed.err
    assert "Traceback" not in printed.err


def test_a_dry_run_writes_nothing(aws: dict[str, Any], memos: MemosDb) -> None:
    before = _snapshot(aws)
    report = _import(memos, dry_run=True)
    assert _snapshot(aws) == before
    assert report.counts[("users", "would be imported")] == 3
    assert report.counts[("secret key", "would be imported")] == 1
    assert report.counts[("identity providers", "would be imported")] == 1
    assert report.counts[("linked identities", "would be imported")] == 1


def test_a_dry_run_tells_the_users_the_run_would_refuse(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    # The stack's first user took id 1, Memos' host's: the run refuses the host, and so must
    # the dry run, not count it among those it would import.
    _services(aws, clock).accounts.sign_up("zed", PASSWORD)
    before = _snapshot(aws)
    dry = _import(memos, dry_run=True)
    assert _snapshot(aws) == before
    (clash,) = [rejection for rejection in dry.rejections if rejection.row == "user 1"]
    assert "has a user of its own with this id" in clash.reason
    assert dry.counts[("users", "would be imported")] == 2
    # The host's two tokens and refresh token would not come either.
    assert dry.counts[("personal access tokens", "would be imported")] == 0
    assert dry.counts[("refresh tokens", "would be imported")] == 0
    run = _import(memos)
    assert sorted(map(repr, run.rejections)) == sorted(map(repr, dry.rejections))
    assert run.counts[("users", "imported")] == 2


def test_a_short_memos_key_is_imported_as_it_is(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path
) -> None:
    db = MemosDb(tmp_path / "short.db", secret_key="short-secret")
    db.user(1, "host", role="HOST")
    db.close()
    assert _import(db).rejections == []
    api = _services(aws, clock)
    access = memos_access_token("short-secret", "host", 1, int(clock.now()), role="ADMIN")
    assert api.authenticator.authenticate(f"Bearer {access}", None).user_id == 1


def _stack_file(folder: Path, demo: bool = False) -> Path:
    """A running stack's ready file (.devstack/stack.json), its endpoints moto's."""
    ready = folder / "stack.json"
    ready.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "tables": {logical: logical for logical in LOGICAL_IDS.values()},
                "secrets": {"SigningKeySecret": "SigningKeySecret", "FactorKeySecret": "FactorKeySecret"},
                "dynamodb_endpoint": None,
                "secretsmanager_endpoint": None,
                "demo": demo,
            }
        )
    )
    return ready


def test_in_demo_mode_the_key_is_left_alone_saying_so(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb, cli: Cli
) -> None:
    # What `make run MEMOS_DEMO=true` writes to .devstack/stack.json (endpoints: moto here).
    before = _snapshot(aws)["secret"]
    printed = cli(memos.path, demo=True)
    assert printed.exit_code == 1
    assert "note: demo mode: the stack signs with the demo key; Memos' key is not imported" in printed.out
    assert "secret key" not in printed.out and "system_setting BASIC" not in printed.out
    assert memos.secret_key not in printed.out
    assert _snapshot(aws)["secret"] == before
    # The rest is imported as ever (exit 1: the rows the fixture cannot give).
    assert "users: 3 imported" in printed.out
    assert _services(aws, clock).accounts.sign_in("host", PASSWORD, "203.0.113.1").id == 1


class _Unprocessing:
    """A DynamoDB client whose BatchGetItem and BatchWriteItem leave everything unprocessed
    `times` times; `requests` holds how many keys or items each request carried."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.requests: list[int] = []

    def _unprocessed(self, count: int) -> bool:
        self.requests.append(count)
        if self.times:
            self.times -= 1
            return True
        return False

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        if self._unprocessed(len(request["Keys"])):
            return {"Responses": {table: []}, "UnprocessedKeys": RequestItems}
        return {"Responses": {table: list(request["Keys"])}}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((_, request),) = RequestItems.items()
        return {"UnprocessedItems": RequestItems} if self._unprocessed(len(request)) else {}


def test_batch_reads_ask_again_for_unprocessed_keys_and_never_guess() -> None:
    keys = [{"pk": {"S": f"user#{i}"}} for i in range(250)]
    pauses: list[float] = []
    client = _Unprocessing(times=2)
    found = get_many(client, "UsersTable", keys, consistent=True, pause=pauses.append)
    assert sorted(item["pk"]["S"] for item in found) == sorted(key["pk"]["S"] for key in keys)
    # 100 keys a request; the first asked three times.
    assert client.requests == [100, 100, 100, 100, 50] and len(pauses) == 2
    with pytest.raises(Unavailable):
        get_many(_Unprocessing(times=99), "UsersTable", keys, consistent=True, pause=pauses.append)


# -- identity providers and linked identities (SPEC §8) -----------------------------------


ADMIN = Principal(1, "host", Role.ADMIN, AuthMethod.ACCESS_TOKEN)


def test_providers_keep_memos_uid_as_their_id_and_links_their_user(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    report = _import(memos)
    assert report.counts[("identity providers", "imported")] == 1
    assert report.counts[("linked identities", "imported")] == 1
    api = _services(aws, clock)
    (provider,) = api.identity_providers.list()
    assert provider.name == "identity-providers/google" and provider.title == "Google"
    assert provider.type.value == "OAUTH2" and provider.identifier_filter == r".+@example\.com"
    config = provider.config
    assert (config.client_id, config.token_url) == ("memos-client", "https://accounts.example.com/token")
    assert config.scopes == ("openid", "profile", "email") and config.field_mapping.identifier == "email"
    assert provider.uid.startswith(IMPORTED_UID_PREFIX)
    link = api.idp_store.get_link("google", "host@example.com")
    assert link is not None and (link.user_id, link.provider_uid) == (1, provider.uid)
    # The link is what sign-in follows: a live link to host, under this very provider.
    assert [record.link_id for record in api.idp_store.links_of_user(1)] == [link.link_id]


def test_the_client_secret_is_sealed_as_the_api_seals_it_and_never_printed(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb, cli: Cli
) -> None:
    printed = cli(memos.path, threads=None)
    assert printed.exit_code == 1
    assert "identity providers: 1 imported" in printed.out and "linked identities: 1 imported" in printed.out
    assert CLIENT_SECRET not in printed.out + printed.err
    table = repr(aws["dynamodb"].scan(TableName="IdentityProvidersTable")["Items"])
    assert "google" in table and CLIENT_SECRET not in table
    # The API's own cipher opens it: the stack's factor key, the providers' purpose and id.
    api = _services(aws, clock)
    stored = api.identity_providers.stored("google")
    assert api.identity_providers.client_secret(stored) == CLIENT_SECRET


def test_a_run_stopped_after_the_providers_links_under_the_same_provider(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    plan = _plan(memos)
    links, plan.links = plan.links, []
    Importer(TARGET, threads=1).run(plan)
    api = _services(aws, clock)
    assert api.idp_store.get_link("google", "host@example.com") is None
    plan.links = links
    report = Importer(TARGET, threads=1).run(plan)
    assert report.counts[("identity providers", "unchanged")] == 1
    assert report.counts[("linked identities", "imported")] == 1
    link = api.idp_store.get_link("google", "host@example.com")
    assert link is not None and link.provider_uid == api.identity_providers.get("google").uid


def test_a_provider_memos_auth_created_is_never_overwritten_nor_linked(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    api = _services(aws, clock)
    ours = _provider_of_its_own(api)
    report = _import(memos)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    assert (
        "of its own with this id: not overwritten (nor given its 1 linked identities)"
        in reasons["idp 7 (google)"]
    )
    assert api.identity_providers.get("google") == ours
    assert api.identity_providers.client_secret(api.identity_providers.stored("google")) == "our-own-secret"
    assert api.idp_store.get_link("google", "host@example.com") is None
    assert report.counts[("identity providers", "imported")] == 0


def test_an_identity_memos_auth_linked_meanwhile_is_kept(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    import dataclasses

    _import(memos)
    api = _services(aws, clock)
    link = api.idp_store.get_link("google", "host@example.com")
    assert link is not None and api.idp_store.delete_link(link)
    assert api.idp_store.put_link(dataclasses.replace(link, user_id=2, link_id="theirs"))
    report = _import(memos)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    assert "linked this identity already" in reasons["user_identity google/host@example.com of user 1"]
    again = api.idp_store.get_link("google", "host@example.com")
    assert again is not None and again.user_id == 2


def test_imported_identities_sign_in_as_memos_matched_and_compared_them(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path
) -> None:
    """Memos' filter is RE2's syntax (POSIX classes and all), and its extern_uid the identifier
    exactly as the provider sent it, edge whitespace included."""
    from tests.support.sso import ScriptedProvider, json_reply, sso, sso_sign_in

    scripted = ScriptedProvider()
    try:
        db = MemosDb(tmp_path / "sso.db")
        db.user(1, "host", role="HOST")
        db.user(2, "bob")
        db.idp(
            1,
            "corp",
            oauth2_config(base=scripted.url, identifier="login"),
            identifier_filter=r"^[[:alnum:]._-]+[[:blank:]]?$",
        )
        db.user_identity(1, "corp", "host.name")
        db.user_identity(2, "corp", "bob\t")
        db.close()
        report = Importer(TARGET, threads=1).run(
            mapping.plan(memos_sqlite.read(db.path), int(time.time()), allow_http=True)
        )
        assert report.counts[("linked identities", "imported")] == 2
        api = _services(aws, clock)
        login = {"login": ""}
        scripted.routes["/token"] = lambda _: json_reply({"access_token": "at", "token_type": "Bearer"})
        scripted.routes["/me"] = lambda _: json_reply(login)

        def sign_in(identifier: str) -> Any:
            login["login"] = identifier
            return sso_sign_in(api, sso("corp", "a-code"))

        assert sign_in("host.name").body["user"]["username"] == "host"
        assert sign_in("bob\t").body["user"]["username"] == "bob"
        # Another account at the provider: not bob's.
        other = sign_in("bob")
        assert other.status == 200 and other.body["user"]["username"] != "bob"
        assert sign_in("élan").status == 403
    finally:
        scripted.stop()


def test_identity_rows_it_cannot_take_are_named_with_a_reason(tmp_path: Path) -> None:
    db = MemosDb(tmp_path / "idps.db")
    db.user(1, "ann")
    db.user(2, "bad_name")
    db.idp(1, "good", oauth2_config())
    db.idp(2, "broken", raw_config="{not json")
    db.idp(3, "saml", oauth2_config(), type="SAML")
    db.idp(4, "filtered", oauth2_config(), identifier_filter="(unclosed")
    db.idp(5, "plain", oauth2_config(base="http://accounts.example.com"))
    db.idp(6, "secretless", oauth2_config(client_secret=""))
    db.idp(7, "not_an_id", oauth2_config())
    db.idp(8, "nameless", oauth2_config(identifier=""))
    db.user_identity(1, "good", "ann@example.com")
    db.user_identity(2, "good", "bad@example.com")
    db.user_identity(1, "broken", "ann@example.com")
    db.user_identity(9, "good", "nobody@example.com")
    db.close()
    plan = _plan(db)
    reasons = {rejection.row: rejection.reason for rejection in plan.rejections}
    assert reasons.pop("user 2").startswith("username memos-auth refuses")
    assert reasons.pop("idp 4 (filtered)").startswith("identifierFilter is not a valid regular expression")
    assert reasons == {
        "idp 2 (broken)": "config is not Memos' JSON (an object with oauth2Config)",
        "idp 3 (saml)": "unknown type 'SAML'",
        "idp 5 (plain)": "authUrl must be an https URL",
        "idp 6 (secretless)": "no clientSecret",
        "idp 7": "uid memos-auth refuses (1-32 letters, digits or '-')",
        "idp 8 (nameless)": "fieldMapping.identifier is required",
        "user_identity good/bad@example.com of user 2": "its user is not imported",
        "user_identity broken/ann@example.com of user 1": "its identity provider is not imported",
        "user_identity good/nobody@example.com of user 9": "its user is not imported",
    }
    assert [provider.provider_id for provider in plan.providers] == ["good"]
    assert [(link.provider_id, link.user_id) for link in plan.links] == [("good", 1)]
    # The local stack's API takes http providers: so does an import into it.
    local = mapping.plan(memos_sqlite.read(db.path), int(time.time()), allow_http=True)
    assert sorted(provider.provider_id for provider in local.providers) == ["good", "plain"]


def test_the_importer_finds_every_table_and_secret_among_the_stacks_outputs() -> None:
    from devstack.intrinsics import load_yaml
    from devstack.template import DEFAULT_TEMPLATE

    outputs = load_yaml(Path(DEFAULT_TEMPLATE).read_text(encoding="utf-8"))["Outputs"]
    environment = {**LOGICAL_IDS, "secret_id": "SigningKeySecret", "factor_key_secret_id": "FactorKeySecret"}
    for field_name, output in OUTPUT_KEYS.items():
        # Each output names the resource the same field names on the local stack.
        assert outputs[output]["Value"] == {"Ref": environment[field_name]}, output


# -- the ledger: what memos-auth deleted since an import stays deleted -----------------------


def _gone_and_added(tmp_path: Path) -> tuple[MemosDb, Path]:
    """A Memos database (host with 2 tokens, a sign-in and a Google identity; bob with a token,
    a sign-in and an identity; carol), and the same database later, with dave and a token of
    his, and a third token of host's: (the first, the path of the later one)."""
    db = MemosDb(tmp_path / "memos_prod.db")
    db.user(1, "host", role="HOST")
    db.user(2, "bob")
    db.user(3, "carol")
    host_tokens = db.pats_of(1, 2)
    db.pats_of(2, 1)
    db.refresh_tokens_of(1, 1)
    db.refresh_tokens_of(2, 1)
    db.idp(7, "google", oauth2_config(client_secret=CLIENT_SECRET))
    db.user_identity(1, "google", "host@example.com")
    db.user_identity(2, "google", "bob@example.com")
    db.close()
    later = tmp_path / "memos_later.db"
    shutil.copy(db.path, later)
    connection = sqlite3.connect(later)
    with connection:
        connection.execute(
            "INSERT INTO user (id, username, role, password_hash) VALUES (4, 'dave', 'USER', ?)", (HASH,)
        )
        (value,) = connection.execute(
            "SELECT value FROM user_setting WHERE user_id = 1 AND key = 'PERSONAL_ACCESS_TOKENS'"
        ).fetchone()
        tokens = json.loads(value)["tokens"]
        connection.execute(
            "UPDATE user_setting SET value = ? WHERE user_id = 1 AND key = 'PERSONAL_ACCESS_TOKENS'",
            (json.dumps({"tokens": [*tokens, _entry(ADDED_HOST_TOKEN)]}),),
        )
        connection.execute(
            "INSERT INTO user_setting (user_id, key, value) VALUES (4, 'PERSONAL_ACCESS_TOKENS', ?)",
            (json.dumps({"tokens": [_entry(DAVES_TOKEN)]}),),
        )
    connection.close()
    assert len(host_tokens) == 2
    return db, later


ADDED_HOST_TOKEN = memos_pat()
DAVES_TOKEN = memos_pat()


def _entry(token: str) -> dict[str, str]:
    """A PAT entry of Memos' PERSONAL_ACCESS_TOKENS setting, never expiring."""
    return {"tokenId": str(uuid.uuid4()), "tokenHash": hashlib.sha256(token.encode()).hexdigest()}


def _counts(report: Report) -> dict[tuple[str, str], int]:
    return {key: count for key, count in report.counts.items() if count}


def test_what_memos_auth_deleted_since_stays_deleted_and_what_memos_added_comes(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path, cli: Cli
) -> None:
    db, later = _gone_and_added(tmp_path)
    assert cli(db.path).exit_code == 0
    api = _services(aws, clock)
    # An admin revokes host's first token (it leaked), deletes bob, and host unlinks Google.
    (leaked, kept) = [token for token, user_id in db.pats.items() if user_id == 1]
    api.pats.delete(1, api.pats.find(leaked).token_id)
    bobs_token = next(token for token, user_id in db.pats.items() if user_id == 2)
    api.user_admin.delete(ADMIN, "bob")
    link = api.idp_store.get_link("google", "host@example.com")
    assert link is not None and api.idp_store.delete_link(link)
    printed = cli(later)
    # Left out is no rejection: the run did all it should.
    assert printed.exit_code == 0, printed.out
    deleted = writer.DELETED
    for line in (
        f"users: 1 {deleted}",
        f"personal access tokens: 1 {deleted}",
        f"linked identities: 1 {deleted}",
        f"personal access tokens: 1 {writer.OF_DELETED_USERS}",
        f"refresh tokens: 1 {writer.OF_DELETED_USERS}",
        f"linked identities: 1 {writer.OF_DELETED_USERS}",
        # Dave and host's new token came.
        "users: 1 imported",
        "personal access tokens: 2 imported",
        "users: 2 unchanged",
    ):
        assert line in printed.out, line
    fresh = _services(aws, clock)
    for gone in (leaked, bobs_token):
        with pytest.raises(Unauthenticated):
            fresh.pats.find(gone)
    assert fresh.users.get(2) is None and fresh.accounts.sign_up("mallory", PASSWORD, caller=ADMIN).id == 5
    assert fresh.idp_store.links_of_user(1) == []
    assert fresh.pats.find(kept).user_id == 1
    assert fresh.pats.find(ADDED_HOST_TOKEN).user_id == 1 and fresh.pats.find(DAVES_TOKEN).user_id == 4
    before = _snapshot(aws)
    assert cli(later).exit_code == 0
    assert _snapshot(aws) == before


def test_a_deleted_identity_provider_stays_deleted_with_its_links(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    _import(memos)
    api = _services(aws, clock)
    api.identity_providers.delete(ADMIN, "google")
    again = _import(memos)
    assert again.counts[("identity providers", writer.DELETED)] == 1
    assert again.counts[("linked identities", writer.OF_DELETED_PROVIDERS)] == 1
    assert ("identity providers", "imported") not in again.counts
    assert sorted(map(repr, again.rejections)) == sorted(map(repr, _plan(memos).rejections))
    # Not back, and Memos' client secret with it.
    assert aws["dynamodb"].scan(TableName="IdentityProvidersTable")["Items"] == []
    assert api.idp_store.links_of_user(1) == []


def test_a_marker_lost_after_its_item_is_written_by_the_next_run(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    # A run stopped between items and their markers, or a stack imported before the ledger:
    # the items are there, their markers are not.
    first = _import(memos)
    whole = _snapshot(aws)
    markers = _ledger(aws)
    # Users 1-3, host's 2 tokens and refresh token, the provider and the link.
    assert len(markers) == 3 + 2 + 1 + 1 + 1
    assert not any(token_hash in marker for marker in markers for token_hash in _hashes(memos))
    assert f"{len(markers)} import ledger markers written" in " ".join(first.notes)
    for marker in markers:
        aws["dynamodb"].delete_item(TableName="SettingsTable", Key={"pk": {"S": marker}})
    audit = RecordingAudit()
    again = Importer(TARGET, threads=1, audit=audit).run(_plan(memos))
    assert _snapshot(aws) == whole
    # Their audit lines may have been lost with them: each is audited once the run marks it.
    assert len(audit.events) == len(markers)
    assert {event[4].split(", ")[-1] for event in audit.events} == {"by an earlier run"}
    assert (
        again.counts[("users", "unchanged")] == 3
        and again.counts[("personal access tokens", "unchanged")] == 2
    )
    assert not any(outcome == "imported" for _, outcome in again.counts)
    # Marked again, the ledger keeps a token revoked since from coming back.
    api = _services(aws, clock)
    token = next(token for token, user_id in memos.pats.items() if user_id == 1)
    api.pats.delete(1, api.pats.find(token).token_id)
    third = _import(memos)
    assert third.counts[("personal access tokens", writer.DELETED)] == 1
    with pytest.raises(Unauthenticated):
        _services(aws, clock).pats.find(token)


def _hashes(db: MemosDb) -> list[str]:
    return [hashlib.sha256(token.encode()).hexdigest() for token in db.pats]


def test_an_unchanged_second_run_makes_no_write_at_all(
    aws: dict[str, Any], memos: MemosDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Users, tokens, a refresh token, GENERAL, the key, a provider and a link: all there.
    audit = RecordingAudit()
    client, again = _second_run(aws, _plan(memos), monkeypatch, audit)
    # Not even a conditional write that fails: nothing is asked to change.
    assert client.writes == 0, client.calls
    assert audit.events == []
    assert not any(outcome == "imported" for _, outcome in again.counts)


# -- the dry run: the same decisions as the run -------------------------------------------------


def _provider_of_its_own(api: ApiServices) -> IdentityProvider:
    """A provider memos-auth's own admin made, under the id of the `memos` fixture's idp."""
    from auth.identity_providers import ProviderInput
    from auth.idp_models import FieldMapping, ProviderConfig, ProviderType

    config = ProviderConfig(
        client_id="ours",
        scopes=("openid",),
        field_mapping=FieldMapping(identifier="sub"),
        auth_url="https://ours.example/auth",
        token_url="https://ours.example/token",
        user_info_url="https://ours.example/me",
    )
    given = ProviderInput(ProviderType.OAUTH2, "Our Google", "", config, "our-own-secret")
    # The admin signed in just now: a provider's change needs a recent sign-in.
    admin = replace(ADMIN, sign_in=SignIn.with_password(api.clock.now()))
    return api.identity_providers.create(admin, given, "google")


def _deleted_since(memos: MemosDb, api: ApiServices) -> None:
    _import(memos)
    token = next(token for token, user_id in memos.pats.items() if user_id == 1)
    api.pats.delete(1, api.pats.find(token).token_id)
    api.user_admin.delete(ADMIN, "carol")
    link = api.idp_store.get_link("google", "host@example.com")
    assert link is not None and api.idp_store.delete_link(link)


def _provider_deleted_since(memos: MemosDb, api: ApiServices) -> None:
    _import(memos)
    api.identity_providers.delete(ADMIN, "google")


def _tokens_full_since(memos: MemosDb, api: ApiServices) -> None:
    # host's own tokens fill the store's quota; Memos has one more for host since.
    _import(memos)
    host = api.users.get(1, consistent=True)
    assert host is not None
    for n in range(MAX_TOKENS_PER_USER - 2):
        api.pats.create(host, f"own {n}", 0)
    connection = sqlite3.connect(memos.path)
    with connection:
        query = "SELECT value FROM user_setting WHERE user_id = 1 AND key = 'PERSONAL_ACCESS_TOKENS'"
        (value,) = connection.execute(query).fetchone()
        tokens = json.loads(value)
        more = {"tokenId": str(uuid.uuid4()), "tokenHash": hashlib.sha256(b"one more").hexdigest()}
        tokens["tokens"].append(more)
        update = "UPDATE user_setting SET value = ? WHERE user_id = 1 AND key = 'PERSONAL_ACCESS_TOKENS'"
        connection.execute(update, (json.dumps(tokens),))
    connection.close()


# Each makes the stack's state before a dry run and the run (what it returns is not used).
STACK_STATES: dict[str, Callable[[MemosDb, ApiServices], object]] = {
    "fresh": lambda memos, api: None,
    "imported": lambda memos, api: _import(memos),
    "deleted-since": _deleted_since,
    "provider-deleted-since": _provider_deleted_since,
    "settings-of-its-own": lambda memos, api: api.settings.update_instance(disallow_password_auth=True),
    "provider-of-its-own": lambda memos, api: _provider_of_its_own(api),
    # Bob's sign-up: id 1 (host's) and bob's name (user 2's, id 2 free).
    "users-of-its-own": lambda memos, api: api.accounts.sign_up("Bob", PASSWORD),
    "tokens-full-since": _tokens_full_since,
}


@pytest.mark.parametrize("state", STACK_STATES)
def test_the_dry_run_reports_what_the_run_then_does(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb, state: str
) -> None:
    STACK_STATES[state](memos, _services(aws, clock))
    before = _snapshot(aws)
    dry = _import(memos, dry_run=True)
    assert _snapshot(aws) == before
    run = _import(memos)
    as_run = {
        (kind, "imported" if outcome == "would be imported" else outcome): n
        for (kind, outcome), n in _counts(dry).items()
    }
    assert as_run == _counts(run)
    assert sorted(map(repr, dry.rejections)) == sorted(map(repr, run.rejections))
    assert not dry.storage_failed and not run.storage_failed


def test_a_dry_run_of_a_first_import_shows_the_instance_settings_and_a_stack_of_its_own_kept(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    assert _import(memos, dry_run=True).counts[("instance settings", "would be imported")] == 1
    _services(aws, clock).settings.update_instance(disallow_user_registration=False)
    dry = _import(memos, dry_run=True)
    assert (
        Rejection("system_setting GENERAL", "the stack has instance settings of its own: kept")
        in dry.rejections
    )


def test_a_dry_run_counts_as_unchanged_the_credentials_of_users_already_here(
    aws: dict[str, Any], memos: MemosDb
) -> None:
    _import(memos)
    dry = _import(memos, dry_run=True)
    assert dry.counts[("personal access tokens", "unchanged")] == 2
    assert dry.counts[("refresh tokens", "unchanged")] == 1
    assert dry.counts[("identity providers", "unchanged")] == 1
    assert dry.counts[("linked identities", "unchanged")] == 1
    assert not any(outcome == "would be imported" for _, outcome in _counts(dry))


# -- storage failing on the way ---------------------------------------------------------------


def test_storage_failing_on_the_way_stops_the_run_and_exits_2(
    aws: dict[str, Any], clock: FakeClock, crowd: MemosDb, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # DynamoDB stops answering at the first transaction (after the id counter and the owner).
    client = _Client(aws["dynamodb"], outage_at=3)
    monkeypatch.setattr(Target, "dynamodb", lambda _target: client)
    printed = cli(crowd.path)
    assert printed.exit_code == 2
    assert "storage unavailable on the way; run the import again" in printed.err
    # The group's transaction, then its first user alone; no other user is tried.
    assert client.calls["transact_write_items"] == 2
    assert printed.out.count("storage unavailable") == 1
    assert "not imported: user 1: storage unavailable: run the import again" in printed.out
    assert f"users: 6 {writer.NOT_REACHED}" in printed.out
    assert f"personal access tokens: {CROWD_TOKENS} {writer.NOT_REACHED}" in printed.out
    # Run again: it takes up from there.
    monkeypatch.setattr(Target, "dynamodb", lambda _target: _Client(aws["dynamodb"]))
    assert cli(crowd.path).exit_code == 0
    _assert_whole(aws, clock, crowd)


def test_counts_add_up_when_the_writes_after_a_large_users_transaction_fail(
    aws: dict[str, Any], crowd: MemosDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writes 3-8: the 3 transactions of 2 users, each with its markers; 9: the hoarder's with
    # 8 of its tokens; 10: its 9th token. DynamoDB stops answering at the 10th token.
    report = _import_through(_Client(aws["dynamodb"], outage_at=11), _plan(crowd), monkeypatch)
    assert report.storage_failed
    assert report.counts[("users", "imported")] == 7 and ("users", writer.NOT_REACHED) not in report.counts
    hoarders = [rejection.row for rejection in report.rejections if rejection.row.endswith("of user 7")]
    assert len(hoarders) == 1 and hoarders[0].startswith("personal access token ")
    assert report.rejections == [Rejection(hoarders[0], writer.UNAVAILABLE)]
    pats = {outcome: n for (kind, outcome), n in _counts(report).items() if kind == "personal access tokens"}
    assert pats == {"imported": 12 + 9, writer.NOT_REACHED: 2}
    assert sum(pats.values()) + len(hoarders) == CROWD_TOKENS


# -- notes and clashes ----------------------------------------------------------------------------


def test_an_import_that_leaves_the_stack_without_an_admin_says_so(
    aws: dict[str, Any], tmp_path: Path
) -> None:
    db = MemosDb(tmp_path / "no-admin.db")
    db.user(1, "ann")
    db.user(2, "HOST_NAME_REFUSED", role="HOST")  # the admin's row is not taken
    db.close()
    warning = "no ADMIN user is imported and the stack has none"
    assert any(warning in note for note in _import(db, dry_run=True).notes)
    assert any(warning in note for note in _import(db).notes)


def test_an_import_with_an_admin_says_nothing_of_admins(aws: dict[str, Any], memos: MemosDb) -> None:
    assert not any("ADMIN" in note for note in _import(memos).notes)


def test_an_id_another_import_gave_another_username_is_named_so(aws: dict[str, Any], tmp_path: Path) -> None:
    first = MemosDb(tmp_path / "first.db")
    first.user(1, "ann", role="HOST")
    first.close()
    _import(first)
    second = MemosDb(tmp_path / "second.db")
    second.user(1, "ben", role="HOST")
    second.close()
    reasons = {rejection.row: rejection.reason for rejection in _import(second).rejections}
    assert reasons["user 1"].startswith(f"{writer.ID_OF_ANOTHER_IMPORT}: not overwritten")


def test_ledger_markers_are_sent_again_while_unprocessed_and_never_taken_as_written() -> None:
    pauses: list[float] = []
    client = _Unprocessing(times=2)
    book = ledger.Ledger(client, "SettingsTable", {"imported#user#1"}, pause=pauses.append)
    keys = [f"imported#user#{i}" for i in range(1, 31)]
    # The one read at the start is not written again; 25 markers a request.
    assert book.write(keys) == 29
    assert client.requests == [25, 25, 25, 4] and len(pauses) == 2
    with pytest.raises(Unavailable):
        ledger.Ledger(_Unprocessing(times=99), "SettingsTable", set(), pause=pauses.append).write(keys)


def test_ledger_markers_of_users_go_before_those_of_their_credentials() -> None:
    # A run stopped between two batches leaves no credential marked whose user is not: a
    # user marked is one the import wrote, left deleted if memos-auth deleted it since.
    client = _Unprocessing(times=0)
    sent: list[list[str]] = []
    real = client.batch_write_item

    def recording(RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((_, request),) = RequestItems.items()
        sent.append([put["PutRequest"]["Item"]["pk"]["S"] for put in request])
        return real(RequestItems=RequestItems)

    client.batch_write_item = recording  # type: ignore[method-assign]  # recording the double's own
    pats = [f"imported#pat#{i}/{uuid.uuid4()}" for i in range(1, 30)]
    users = [f"imported#user#{i}" for i in range(1, 30)]
    ledger.Ledger(client, "SettingsTable", set()).write(pats + users)
    order = [key for batch in sent for key in batch]
    assert order[: len(users)] == sorted(users) and sorted(order[len(users) :]) == sorted(pats)
    assert len(sent) == 3


def test_control_characters_in_what_memos_shows_are_dropped_and_counted_not_refused(
    tmp_path: Path, cli: Cli, aws: dict[str, Any], clock: FakeClock
) -> None:
    db = MemosDb(tmp_path / "controls.db")
    db.user(1, "ann", role="HOST", nickname="Ann\tSmith\x1b[2J")
    token = memos_pat()
    pat = {"tokenId": str(uuid.uuid4()), "tokenHash": hashlib.sha256(token.encode()).hexdigest()}
    pats = [{**pat, "description": "ci\nfake line"}]
    db.user_setting(1, "PERSONAL_ACCESS_TOKENS", json.dumps({"tokens": pats}))
    printed = cli(db.close())
    assert "nicknames, token descriptions and provider names: 2 control characters dropped" in printed.out
    api = _services(aws, clock)
    user = api.users.get(1, consistent=True)
    assert user is not None and user.display_name == "Ann Smith[2J"
    (record,) = api.pats.list_for_user(1)
    assert record.description == "ci fake line"


def test_an_audit_log_that_cannot_be_written_stops_the_run_and_the_next_audits_what_it_wrote(
    tmp_path: Path, cli: Cli, memos: MemosDb
) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full to refuse the writes")
    printed = cli(memos.path, audit_log=full)
    assert printed.exit_code == 2
    assert f"memos-import: the audit log {full} could not be written" in printed.err
    assert "Traceback" not in printed.err
    trail = tmp_path / "audit.jsonl"
    again = cli(memos.path, audit_log=trail)
    assert again.exit_code == 1, again.err  # the fixture's rows memos-auth refuses
    lines = [json.loads(line) for line in trail.read_text().splitlines()]
    # Every credential, each once: what the first run wrote, and what it never reached.
    assert Counter(line["credential_kind"] for line in lines) == MEMOS_CREDENTIALS


def test_a_provider_refused_for_the_stacks_limit_says_its_links_are_not_imported(
    aws: dict[str, Any], memos: MemosDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stack full already (the limit made 0 here, so that no provider need fill it).
    monkeypatch.setattr(writer, "MAX_PROVIDERS", 0)
    report = _import(memos)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    assert reasons["idp 7 (google)"] == "the stack has 0 identity providers (nor are its 1 links imported)"
    assert report.counts[("linked identities", "imported")] == 0
