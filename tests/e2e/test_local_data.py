"""`make run` keeps its data between runs (DynamoDB Local's database and the signing key),
and `make run FRESH=1` starts empty (issue 10: the local stack forgot everything)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devstack.stack import LocalStack
from devstack.template import REPO_ROOT
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

# Persistence is DynamoDB Local's (moto's DynamoDB is in memory only); cost 4 keeps bcrypt quick.
ON_DYNAMODB_LOCAL = {"DEVSTACK_DYNAMODB": "dynamodb-local", "BCRYPT_COST": "4"}


def me(api: Api, token: str) -> int:
    return api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_users_and_tokens_survive_a_restart_and_fresh_forgets_them(tmp_path: Path):
    data = tmp_path / "data"
    # Relative to where devstack runs, as `make run` gives it (.devstack).
    relative = os.path.relpath(data, REPO_ROOT)
    with LocalStack(env_overrides=ON_DYNAMODB_LOCAL, data_dir=relative) as first:
        assert first.backends == (
            f"DynamoDB: DynamoDB Local, data in {data / 'dynamodb'}; "
            f"Secrets Manager: moto, values in {data / 'secrets.json'}"
        )
        api = Api(first)
        assert api.sign_up("alice").json()["role"] == "ADMIN"
        token = api.sign_in("alice").json()["accessToken"]
    assert (data / "dynamodb" / "shared-local-instance.db").is_file()

    with LocalStack(env_overrides=ON_DYNAMODB_LOCAL, data_dir=relative) as second:
        api = Api(second)
        assert api.sign_in("alice").status_code == 200
        # The signing key came back too: a token from the first run still verifies.
        assert me(api, token) == 200
        assert api.sign_up("bob").json()["role"] == "USER"

    with LocalStack(env_overrides=ON_DYNAMODB_LOCAL, data_dir=relative, fresh=True) as third:
        api = Api(third)
        # SPEC §3: an unknown user is told apart from a wrong password by nothing.
        forgotten = api.sign_in("alice")
        assert (forgotten.status_code, forgotten.json()["message"]) == (
            400,
            "unmatched username and password",
        )
        assert me(api, token) == 401
        assert api.sign_up("bob").json()["role"] == "ADMIN"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ([], "-m devstack --data-dir .devstack --ready-file .devstack/stack.json"),
        (["FRESH=1"], "-m devstack --data-dir .devstack --ready-file .devstack/stack.json --fresh"),
        (["LOGS=json"], "-m devstack --data-dir .devstack --ready-file .devstack/stack.json --logs json"),
    ],
)
def test_make_run_passes_fresh_and_logs_to_devstack(arguments: list[str], expected: str):
    # -n prints the recipe without running it (nor anything it depends on).
    printed = subprocess.run(  # noqa: S603 - a fixed argv
        ["make", "-n", "--no-print-directory", "run", *arguments],  # noqa: S607 - make from PATH
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    run_line = next(line for line in printed.splitlines() if "-m devstack" in line)
    assert run_line.endswith(expected), run_line


def test_what_make_run_keeps_is_never_committed():
    kept = [".devstack/secrets.json", ".devstack/dynamodb/shared-local-instance.db"]
    ignored = subprocess.run(  # noqa: S603 - a fixed argv
        ["git", "check-ignore", *kept],  # noqa: S607 - git from PATH
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert ignored.stdout.split() == kept
