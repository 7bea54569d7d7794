"""SPEC §9 end to end: a Memos database imported into a running local stack (DynamoDB
Local), by the command `make import-memos` runs, and its credentials used over HTTP,
including a Memos identity provider on the tests' real OpenID provider (oidc-provider)
whose linked user signs in with `ssoCredentials` as the very user imported."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.stack import LocalStack
from devstack.template import REPO_ROOT
from tests.e2e.conftest import Api
from tests.support.local_stacks import local_stack
from tests.support.memos_db import PASSWORD, MemosDb, memos_access_token, memos_refresh_token, oauth2_config
from tests.support.oidc_provider import POST_CLIENT, OidcProvider, secret_of
from tests.support.sso import sso

pytestmark = pytest.mark.e2e
# Memos' idp uid, and the user of the database whose identity there is linked (Memos' id).
IDP_UID = "memos-oidc"
LINKED_USER = 2


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # A stack of its own: the import must find it with no users of memos-auth's own.
    with local_stack() as running:
        yield running


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Api:
    return Api(stack)


def _memos(
    path: Path, users: range, secret_key: str | None = None, sso: tuple[str, str] | None = None
) -> MemosDb:
    """`sso`: (issuer, external identifier): an OAUTH2 idp on that provider's endpoints, as
    Memos' admin would have set it up, and LINKED_USER's identity there."""
    db = MemosDb(path, secret_key=secret_key) if secret_key else MemosDb(path)
    for user_id in users:
        db.user(user_id, f"memo{user_id}", role="HOST" if user_id == 1 else "USER")
        db.pats_of(user_id, 1)
        db.refresh_tokens_of(user_id, 1)
    if sso is not None:
        issuer, extern_uid = sso
        config = oauth2_config(issuer, POST_CLIENT, secret_of(POST_CLIENT), identifier="sub")
        db.idp(1, IDP_UID, config, name="Memos SSO")
        db.user_identity(LINKED_USER, IDP_UID, extern_uid)
    db.close()
    return db


def _run(stack: LocalStack, db: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "tools.memos_import",
            "--db",
            str(db),
            "--stack-file",
            str(stack.ready_file),
            "--audit-log",
            str(db.with_suffix(".audit.jsonl")),
            *flags,
        ],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO_ROOT / 'src'}:{REPO_ROOT}"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _count(stack: LocalStack) -> dict[str, int]:
    dynamodb = stack.client("dynamodb")
    return {
        name: dynamodb.scan(TableName=table, Select="COUNT")["Count"]
        for name, table in stack.tables.items()
        if name in ("UsersTable", "PersonalAccessTokensTable", "RefreshTokensTable")
        or name in ("IdentityProvidersTable", "LinkedIdentitiesTable")
    }


@pytest.fixture(scope="module")
def imported(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory, oidc_provider: OidcProvider
) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("memos")
    account = oidc_provider.account(f"memos{time.time_ns()}", email="memo2@example.com", name="Memo Two")
    full = _memos(folder / "full.db", range(1, 11), sso=(oidc_provider.issuer, account))
    # The same database before users 6-10 signed up: the same rows, the same tokens.
    half = folder / "half.db"
    shutil.copy(full.path, half)
    with sqlite3.connect(half) as connection:
        connection.execute("DELETE FROM user WHERE id > 5")
        connection.execute("DELETE FROM user_setting WHERE user_id > 5")
    connection.close()
    dry = _run(stack, full.path, "--dry-run")
    counts_after_dry_run = _count(stack)
    # Import half, then all: the second run completes what the first did not reach.
    first = _run(stack, half)
    second = _run(stack, full.path)
    return {
        "db": full,
        "dry": dry,
        "dry_counts": counts_after_dry_run,
        "runs": (first, second),
        "account": account,
    }


def test_a_dry_run_writes_nothing(imported: dict[str, Any]) -> None:
    assert imported["dry"].returncode == 0, imported["dry"].stdout + imported["dry"].stderr
    assert "users: 10 would be imported" in imported["dry"].stdout
    assert "identity providers: 1 would be imported" in imported["dry"].stdout
    assert "linked identities: 1 would be imported" in imported["dry"].stdout
    assert imported["dry_counts"] == {
        "UsersTable": 0,
        "PersonalAccessTokensTable": 0,
        "RefreshTokensTable": 0,
        "IdentityProvidersTable": 0,
        "LinkedIdentitiesTable": 0,
    }


def test_half_then_all_imports_everyone_once(stack: LocalStack, imported: dict[str, Any]) -> None:
    first, second = imported["runs"]
    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert "users: 5 imported" in second.stdout and "users: 5 unchanged" in second.stdout
    # The half database has the provider and the link already (user 2 is in it).
    assert (
        "identity providers: 1 imported" in first.stdout and "linked identities: 1 imported" in first.stdout
    )
    assert "identity providers: 1 unchanged" in second.stdout
    assert "linked identities: 1 unchanged" in second.stdout
    # Each user has a user item and a username item.
    assert _count(stack) == {
        "UsersTable": 20,
        "PersonalAccessTokensTable": 10,
        "RefreshTokensTable": 10,
        "IdentityProvidersTable": 1,
        "LinkedIdentitiesTable": 1,
    }


def test_the_output_never_shows_a_hash_token_or_key(imported: dict[str, Any]) -> None:
    db: MemosDb = imported["db"]
    output = "".join(run.stdout + run.stderr for run in (*imported["runs"], imported["dry"]))
    assert db.secret_key not in output and "$2a$" not in output
    assert not any(token in output or token[10:] in output for token in db.pats)
    assert secret_of(POST_CLIENT) not in output


def test_the_provider_keeps_its_memos_name_and_its_secret_is_sealed(
    api: Api, imported: dict[str, Any]
) -> None:
    public = api.call("GET", f"/identity-providers/{IDP_UID}")
    assert public.status_code == 200, public.text
    assert public.json()["name"] == f"identity-providers/{IDP_UID}" and public.json()["title"] == "Memos SSO"
    assert secret_of(POST_CLIENT) not in public.text
    assert secret_of(POST_CLIENT) not in repr(api.scan("IdentityProvidersTable"))


def test_the_linked_memos_user_signs_in_through_the_provider_as_itself(
    stack: LocalStack, api: Api, imported: dict[str, Any], oidc_provider: OidcProvider
) -> None:
    users_before = _count(stack)["UsersTable"]
    account = imported["account"]
    code = oidc_provider.code(account, POST_CLIENT)
    signed_in = api.call("POST", "/auth/signin", json={"ssoCredentials": sso(IDP_UID, code)})
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["username"] == f"memo{LINKED_USER}"
    # The same user (Memos' id), not a new one made by a first sign-in.
    assert api.user_id(signed_in.json()["accessToken"]) == LINKED_USER
    assert _count(stack)["UsersTable"] == users_before
    links = [
        item for item in api.scan("LinkedIdentitiesTable") if item["externUid"]["S"] == imported["account"]
    ]
    assert [item["userId"]["N"] for item in links] == [str(LINKED_USER)]


def test_a_memos_password_signs_in(api: Api, imported: dict[str, Any]) -> None:
    signed_in = api.sign_in("memo1", PASSWORD)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["role"] == "ADMIN"


def test_a_memos_pat_without_checksum_calls_me(api: Api, imported: dict[str, Any]) -> None:
    for token, user_id in imported["db"].pats.items():
        me = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["user"]["username"] == f"memo{user_id}"


def test_an_access_token_memos_signed_calls_me(api: Api, imported: dict[str, Any]) -> None:
    token = memos_access_token(imported["db"].secret_key, "memo2", 2, int(time.time()))
    me = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["user"]["username"] == "memo2"


def test_a_memos_refresh_cookie_refreshes_once_then_as_a_family(api: Api, imported: dict[str, Any]) -> None:
    db: MemosDb = imported["db"]
    token_id = next(tid for tid, uid in db.refresh_token_ids.items() if uid == 3)
    memos_cookie = memos_refresh_token(db.secret_key, 3, token_id, int(time.time()))
    first = api.call("POST", "/auth/refresh", cookies={"memos_refresh": memos_cookie})
    assert first.status_code == 200, first.text
    ours = first.cookies["memos_refresh"]
    second = api.call("POST", "/auth/refresh", cookies={"memos_refresh": ours})
    assert second.status_code == 200, second.text
    me = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {second.json()['accessToken']}"})
    assert me.json()["user"]["username"] == "memo3"


def created_by_the_imported_admin(api: Api, username: str) -> int:
    """A new USER that Memos' admin (memo1) creates; their id, as a sign-in's token says."""
    admin = api.sign_in("memo1", PASSWORD).json()["accessToken"]
    created = api.call(
        "POST",
        "/users",
        json={"user": {"username": username, "password": PASSWORD}},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert created.status_code == 200, created.text
    assert created.json()["role"] == "USER"
    return api.user_id(api.sign_in(username, PASSWORD).json()["accessToken"])


def test_new_sign_ups_follow_the_imported_ids(api: Api, imported: dict[str, Any]) -> None:
    assert created_by_the_imported_admin(api, "newcomer") == 11


def test_a_second_run_changes_nothing(stack: LocalStack, imported: dict[str, Any]) -> None:
    before = _count(stack)
    again = _run(stack, imported["db"].path)
    assert again.returncode == 0, again.stdout
    assert "users: 10 unchanged" in again.stdout and " imported" not in again.stdout.replace(
        "not imported", ""
    )
    assert _count(stack) == before


def test_a_pat_revoked_since_the_import_stays_revoked_when_run_again(
    stack: LocalStack, api: Api, imported: dict[str, Any]
) -> None:
    # The ledger: a marker per user, token, refresh token, provider and link imported.
    ledger = [item for item in api.scan("SettingsTable") if item["pk"]["S"].startswith("imported#")]
    assert len(ledger) == 10 + 10 + 10 + 1 + 1
    access = api.sign_in("memo4", PASSWORD).json()["accessToken"]
    bearer = {"Authorization": f"Bearer {access}"}
    (listed,) = api.call("GET", "/users/memo4/personalAccessTokens", headers=bearer).json()[
        "personalAccessTokens"
    ]
    assert api.call("DELETE", f"/{listed['name']}", headers=bearer).status_code == 200
    again = _run(stack, imported["db"].path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "personal access tokens: 1 deleted in memos-auth since imported: left out" in again.stdout
    (token,) = [token for token, user_id in imported["db"].pats.items() if user_id == 4]
    me = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401, me.text


def test_the_secret_is_refused_into_a_stack_with_users_of_its_own(
    stack: LocalStack, imported: dict[str, Any], tmp_path: Path
) -> None:
    # A user of memos-auth's own (the same as the test above, if it ran): another Memos' key
    # would end their tokens.
    admin = Api(stack).sign_in("memo1", PASSWORD).json()["accessToken"]
    Api(stack).call(
        "POST",
        "/users",
        json={"user": {"username": "owncomer", "password": PASSWORD}},
        headers={"Authorization": f"Bearer {admin}"},
    )
    other = _memos(tmp_path / "other.db", range(50, 52), secret_key="another-memos-instance-key")
    run = _run(stack, other.path)
    assert run.returncode == 1
    # The stack holds the first database's key too, and that refusal comes first (the unit
    # tests have the one for users of its own alone).
    assert "not imported: system_setting BASIC: the stack holds the key of a Memos database" in run.stdout
    assert "another-memos-instance-key" not in run.stdout


def test_a_row_not_taken_keeps_its_id_from_new_users(
    stack: LocalStack, api: Api, imported: dict[str, Any], tmp_path: Path
) -> None:
    # The same Memos later (its key: the stack holds it already), with a user named by its
    # email as Memos' SSO names one: memos-auth refuses the name, and it has the highest id.
    db: MemosDb = imported["db"]
    later = MemosDb(tmp_path / "later.db", secret_key=db.secret_key)
    later.user(70, "jane@example.com")
    later.close()
    run = _run(stack, later.path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "not imported: user 70: username memos-auth refuses" in run.stdout
    assert created_by_the_imported_admin(api, "latecomer") == 71
    # Well signed (Memos' key), and naming no user: never the latecomer.
    token = memos_access_token(db.secret_key, "jane@example.com", 70, int(time.time()))
    me = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401, me.text
