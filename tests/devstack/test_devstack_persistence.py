"""What `make run` keeps between runs: the secrets' saved versions, the data directory and
tables kept from an earlier run (moto in-process; tests/e2e/test_local_data.py restarts a
real stack)."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from devstack.persistence import DataDir, restore_secrets, save_secrets, saved_versions
from devstack.provision import create_table
from devstack.stack import LocalStack, StackError
from devstack.template import load_template

REGION = "us-east-1"
FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


@pytest.fixture
def secretsmanager(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def rotated_secret(secretsmanager, name):
    """A secret mid-rotation: a previous, a current and a pending version."""
    secretsmanager.create_secret(Name=name)
    for value, token, stages in [
        ("old", "1" * 32, ["AWSCURRENT"]),
        ("now", "2" * 32, ["AWSCURRENT"]),
        ("next", "3" * 32, ["AWSPENDING"]),
    ]:
        secretsmanager.put_secret_value(
            SecretId=name, SecretString=value, ClientRequestToken=token, VersionStages=stages
        )


def test_saved_versions_come_back_with_their_stages(secretsmanager, tmp_path):
    rotated_secret(secretsmanager, "Key")
    secretsmanager.create_secret(Name="Empty")
    before = saved_versions(secretsmanager, "Key")
    assert {v["SecretString"]: v["VersionStages"] for v in before} == {
        "old": ["AWSPREVIOUS"],
        "now": ["AWSCURRENT"],
        "next": ["AWSPENDING"],
    }
    path = tmp_path / "secrets.json"
    save_secrets(secretsmanager, ["Key", "Empty"], path)
    # A new backend, as after a restart: the secrets exist again, without values.
    for name in ("Key", "Empty"):
        secretsmanager.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        secretsmanager.create_secret(Name=name)
    assert restore_secrets(secretsmanager, ["Key", "Empty"], path) == 3
    key = sorted(saved_versions(secretsmanager, "Key"), key=lambda v: v["VersionId"])
    assert key == sorted(before, key=lambda v: v["VersionId"])
    assert secretsmanager.get_secret_value(SecretId="Key")["SecretString"] == "now"
    assert saved_versions(secretsmanager, "Empty") == []


def test_the_saved_file_is_for_its_owner_only(secretsmanager, tmp_path):
    rotated_secret(secretsmanager, "Key")
    path = tmp_path / "secrets.json"
    save_secrets(secretsmanager, ["Key"], path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [entry.name for entry in tmp_path.iterdir()] == ["secrets.json"]


def test_only_secrets_the_template_still_has_are_restored(secretsmanager, tmp_path):
    path = tmp_path / "secrets.json"
    saved = [{"VersionId": "4" * 32, "VersionStages": ["AWSCURRENT"], "SecretString": "x"}]
    path.write_text(json.dumps({"Gone": saved, "Key": saved}))
    secretsmanager.create_secret(Name="Key")
    assert restore_secrets(secretsmanager, ["Key"], path) == 1
    assert restore_secrets(secretsmanager, ["Key"], tmp_path / "missing.json") == 0


def test_fresh_forgets_what_the_data_directory_kept(tmp_path):
    data = DataDir(tmp_path / "data")
    data.prepare(fresh=False)
    (data.dynamodb / "shared-local-instance.db").write_bytes(b"tables")
    data.secrets_file.write_text("{}")
    data.prepare(fresh=False)
    assert (data.dynamodb / "shared-local-instance.db").exists() and data.secrets_file.exists()
    data.prepare(fresh=True)
    assert list(data.dynamodb.iterdir()) == [] and not data.secrets_file.exists()


def test_a_kept_table_is_reused_and_a_changed_one_reported(secretsmanager):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = load_template(FIXTURE_TEMPLATE).tables["ItemsTable"]
    assert create_table(dynamodb, table) == []
    dynamodb.put_item(TableName=table.name, Item={"id": {"S": "kept"}, "owner": {"N": "1"}})
    assert create_table(dynamodb, table) == []
    assert dynamodb.scan(TableName=table.name)["Count"] == 1
    # The template has since dropped the table's index.
    changed = {key: value for key, value in table.create_args.items() if key != "GlobalSecondaryIndexes"}
    changed["AttributeDefinitions"] = [{"AttributeName": "id", "AttributeType": "S"}]
    notes = create_table(dynamodb, type(table)(table.logical_id, table.name, changed, None))
    assert notes == [
        f"{table.name} is kept from an earlier run, but template.yaml changed it since: make run FRESH=1"
    ]


def test_a_secrets_file_that_cannot_be_restored_stops_the_stack_with_what_to_do(tmp_path):
    (tmp_path / "secrets.json").write_text("{not json")
    stack = LocalStack(
        template=FIXTURE_TEMPLATE, env_overrides={"DEVSTACK_DYNAMODB": "moto"}, data_dir=tmp_path
    )
    with pytest.raises(StackError, match="exited with 1") as failed:
        stack.start()
    assert "secrets.json cannot be restored (JSONDecodeError): start empty with make run FRESH=1" in str(
        failed.value
    )
    # Kept for debugging by LocalStack since the start failed; expected here.
    shutil.rmtree(stack.log_path.parent)
