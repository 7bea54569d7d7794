"""What `make run` keeps between runs: DynamoDB Local's database and the secrets' values.

DynamoDB Local writes its own database file (`-dbPath`). moto's Secrets Manager lives in
memory only, so the values of the template's secrets are saved to a file when the stack
stops and put back when it starts; without that, every restart would make a new signing
key and every token issued before it would stop working.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CURRENT = "AWSCURRENT"


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def dynamodb(self) -> Path:
        return self.root / "dynamodb"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    def prepare(self, fresh: bool) -> None:
        """Create the directory; with `fresh`, first forget everything kept in it."""
        if fresh:
            shutil.rmtree(self.dynamodb, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                self.secrets_file.unlink()
        self.dynamodb.mkdir(parents=True, exist_ok=True)


def saved_versions(secretsmanager: Any, secret_id: str) -> list[dict[str, Any]]:
    """Every staged version of a secret with its value; [] while it has none."""
    listed = secretsmanager.list_secret_version_ids(SecretId=secret_id)["Versions"]
    versions = []
    for version in listed:
        if not version.get("VersionStages"):
            continue
        value = secretsmanager.get_secret_value(SecretId=secret_id, VersionId=version["VersionId"])
        versions.append(
            {
                "VersionId": version["VersionId"],
                "VersionStages": sorted(version["VersionStages"]),
                "SecretString": value["SecretString"],
            }
        )
    return versions


def save_secrets(secretsmanager: Any, secret_ids: list[str], path: Path) -> None:
    state = {secret_id: saved_versions(secretsmanager, secret_id) for secret_id in secret_ids}
    partial = path.with_name(path.name + ".partial")
    # It holds the signing key: readable by its owner only, and written whole or not at all.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(state, file)
    partial.replace(path)


def restore_secrets(secretsmanager: Any, secret_ids: list[str], path: Path) -> int:
    """Put saved versions back into freshly created secrets; returns how many were restored.

    Only secrets the template still has: one removed from it since is left behind.
    """
    if not path.is_file():
        return 0
    state: dict[str, list[dict[str, Any]]] = json.loads(path.read_text(encoding="utf-8"))
    restored = 0
    for secret_id in secret_ids:
        versions = state.get(secret_id, [])
        # AWSCURRENT last: putting it moves the stage, so earlier versions keep theirs.
        for version in sorted(versions, key=lambda each: CURRENT in each["VersionStages"]):
            secretsmanager.put_secret_value(
                SecretId=secret_id,
                ClientRequestToken=version["VersionId"],
                SecretString=version["SecretString"],
                VersionStages=version["VersionStages"],
            )
            restored += 1
    return restored
