"""SPEC §9 on moto: reading a Memos database, mapping its rows, and writing them into the
stack's tables idempotently (the same through DynamoDB Local: tests/e2e/test_import_memos.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from auth.config import Config
from auth.errors import Unauthenticated
from auth.models import Role, State
from auth.passwords import verify_password
from auth.pats import is_well_formed
from auth.principal import AuthMethod, Principal
from auth.wiring import ApiServices, build_api_services
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.memos_db import PASSWORD, MemosDb, go_bcrypt, memos_access_token, memos_refresh_token
from tools.memos_import import mapping, memos_sqlite
from tools.memos_import.mapping import IDP_NOT_SUPPORTED, Plan
from tools.memos_import.target import Target
from tools.memos_import.writer import Importer, Report

TARGET = Target(
    users_table="UsersTable",
    refresh_tokens_table="RefreshTokensTable",
    pats_table="PersonalAccessTokensTable",
    settings_table="SettingsTable",
    secret_id="SigningKeySecret",
)


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
    db.idp(7, "google")
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


def _snapshot(aws: dict[str, Any]) -> dict[str, list[Any]]:
    tables = ("UsersTable", "PersonalAccessTokensTable", "RefreshTokensTable", "SettingsTable")
    items = {t: sorted(map(json.dumps, aws["dynamodb"].scan(TableName=t)["Items"])) for t in tables}
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
    assert plan.max_user_id == 3 and plan.owner_id == 1
    assert plan.disallow_user_registration is True and plan.disallow_password_auth is False


def test_rows_it_cannot_take_are_named_with_a_reason(memos: MemosDb) -> None:
    plan = _plan(memos)
    reasons = {rejection.row: rejection.reason for rejection in plan.rejections}
    assert "username memos-auth refuses" in reasons["user 4"]
    assert "clashes with user 2" in reasons["user 5"]
    assert reasons["user_setting PERSONAL_ACCESS_TOKENS of user 3"] == "value is not Memos' JSON"
    assert reasons["idp 7"] == IDP_NOT_SUPPORTED
    assert len(reasons) == 4


def test_expired_tokens_are_left_out_and_counted(memos: MemosDb) -> None:
    plan = _plan(memos)
    by_id = {imported.user.id: imported for imported in plan.users}
    assert len(by_id[1].pats) == 2 and by_id[2].pats == []
    assert plan.expired_pats == 1 and plan.expired_refresh_tokens == 1
    (family,) = by_id[1].families
    assert family.family_id == family.current_token_id and family.imported


def test_an_older_database_has_host_and_no_identity_tables(tmp_path: Path) -> None:
    db = MemosDb(tmp_path / "old.db", old=True)
    db.user(1, "admin", role="HOST")
    db.close()
    plan = _plan(db)
    assert [imported.user.role for imported in plan.users] == [Role.ADMIN]
    assert plan.rejections == [] and plan.users[0].pats == []


def test_not_a_memos_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_text("not sqlite")
    with pytest.raises(memos_sqlite.NotAMemosDatabase):
        memos_sqlite.read(tmp_path / "x.db")


def test_nothing_in_a_plan_repr_carries_a_credential(memos: MemosDb) -> None:
    shown = repr(_plan(memos)) + repr(memos_sqlite.read(memos.path))
    assert memos.secret_key not in shown and "$2a$" not in shown
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
    access = memos_access_token(memos.secret_key, "host", 1, now)
    assert api.authenticator.authenticate(f"Bearer {access}", None).username == "host"
    (token_id,) = memos.refresh_token_ids
    user, issued, _ = api.refresh_tokens.rotate(memos_refresh_token(memos.secret_key, 1, token_id, now))
    assert user.id == 1
    # The new token is a memos-auth family's: it has a fid and rotates as usual.
    api.refresh_tokens.rotate(issued.token)


def test_new_users_get_ids_above_the_imported_ones_and_are_not_admins(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    _import(memos)
    api = _services(aws, clock)
    # The import closed sign-up (Memos' GENERAL switch): an admin adds the user.
    admin = Principal(1, "host", Role.ADMIN, AuthMethod.ACCESS_TOKEN)
    new = api.accounts.sign_up("dave", PASSWORD, caller=admin)
    assert new.id == 4 and new.role is Role.USER


def test_a_second_run_changes_nothing(aws: dict[str, Any], memos: MemosDb) -> None:
    _import(memos)
    before = _snapshot(aws)
    again = _import(memos)
    assert _snapshot(aws) == before
    assert again.counts[("users", "unchanged")] == 3 and again.counts[("users", "imported")] == 0
    assert again.counts[("personal access tokens", "unchanged")] == 2
    assert again.counts[("refresh tokens", "unchanged")] == 1
    assert again.counts[("secret key", "unchanged")] == 1


def test_an_interrupted_run_completes_when_run_again(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path
) -> None:
    db = MemosDb(tmp_path / "big.db")
    for user_id in range(1, 41):
        db.user(user_id, f"user{user_id}", password_hash=go_bcrypt(PASSWORD))
        db.pats_of(user_id, 2)
    db.close()
    written = []

    def stop_after_ten(imported: Any) -> None:
        written.append(imported.user.id)
        if len(written) == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Importer(TARGET, threads=1).run(_plan(db), after_user=stop_after_ten)
    users = aws["dynamodb"].scan(TableName="UsersTable", FilterExpression="attribute_exists(id)")["Items"]
    assert 10 <= len(users) < 40
    report = _import(db)
    assert report.rejections == []
    assert report.counts[("users", "imported")] + report.counts[("users", "unchanged")] == 40
    api = _services(aws, clock)
    for user_id in range(1, 41):
        counted = api.users.get_counted(user_id)
        assert counted is not None and counted[1] == 2
    assert all(api.pats.find(token).user_id == uid for token, uid in db.pats.items())


def test_a_user_memos_auth_created_is_never_overwritten(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    api = _services(aws, clock)
    own = api.accounts.sign_up("Bob", "another good password")  # takes bob's name (any case)
    report = _import(memos)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    assert "not overwritten" in reasons["user 2"]
    assert api.accounts.sign_in("bob", "another good password", "203.0.113.1").id == own.id


def test_the_secret_is_refused_when_the_stack_has_users_of_its_own(
    aws: dict[str, Any], clock: FakeClock, memos: MemosDb
) -> None:
    api = _services(aws, clock)
    api.accounts.sign_up("zed", PASSWORD)
    kid_before = api.keys.signing_key()
    report = _import(memos)
    reasons = {rejection.row: rejection.reason for rejection in report.rejections}
    assert "users of its own" in reasons["system_setting BASIC"]
    fresh = _services(aws, clock)
    assert fresh.keys.signing_key() == kid_before
    with pytest.raises(Unauthenticated):
        fresh.authenticator.authenticate(
            f"Bearer {memos_access_token(memos.secret_key, 'host', 1, int(clock.now()))}", None
        )


def test_a_dry_run_writes_nothing(aws: dict[str, Any], memos: MemosDb) -> None:
    before = _snapshot(aws)
    report = _import(memos, dry_run=True)
    assert _snapshot(aws) == before
    assert report.counts[("users", "would be imported")] == 3
    assert report.counts[("secret key", "would be imported")] == 1


def test_a_short_memos_key_is_imported_as_it_is(
    aws: dict[str, Any], clock: FakeClock, tmp_path: Path
) -> None:
    db = MemosDb(tmp_path / "short.db", secret_key="short-secret")
    db.user(1, "host", role="HOST")
    db.close()
    assert _import(db).rejections == []
    api = _services(aws, clock)
    access = memos_access_token("short-secret", "host", 1, int(clock.now()))
    assert api.authenticator.authenticate(f"Bearer {access}", None).user_id == 1
