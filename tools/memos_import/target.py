"""Where an import writes: the stack's tables and signing-key secret, and clients for them.

Three ways to name them, later ones overriding earlier ones:
- the file `make run` writes (`.devstack/stack.json`): the local stack's endpoints and names;
- a CloudFormation stack's outputs (`aws cloudformation describe-stacks --query
  'Stacks[0].Outputs'` saved to a file): a deployed stack, reached with the usual AWS
  credentials;
- `--users-table …` and the rest (or the functions' own variables USERS_TABLE …).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config

if TYPE_CHECKING:
    from devstack.provision import Service

# A pool as wide as the writer's threads, and patient retries: an import is a batch job.
# "standard", not "adaptive": adaptive's client-side rate limit halved the bench's speed.
CLIENT_CONFIG = botocore.config.Config(
    max_pool_connections=64, retries={"max_attempts": 8, "mode": "standard"}, connect_timeout=5
)
# The CloudFormation outputs template.yaml declares, by the field each fills.
OUTPUT_KEYS = {
    "users_table": "UsersTableName",
    "refresh_tokens_table": "RefreshTokensTableName",
    "pats_table": "PersonalAccessTokensTableName",
    "settings_table": "SettingsTableName",
    "secret_id": "SigningKeySecretArn",
    "identity_providers_table": "IdentityProvidersTableName",
    "linked_identities_table": "LinkedIdentitiesTableName",
    "factor_key_secret_id": "FactorKeySecretArn",
}
# The functions' environment variables (template.yaml Globals), by the same fields.
ENVIRONMENT = {
    "users_table": "USERS_TABLE",
    "refresh_tokens_table": "REFRESH_TOKENS_TABLE",
    "pats_table": "PERSONAL_ACCESS_TOKENS_TABLE",
    "settings_table": "SETTINGS_TABLE",
    "secret_id": "SIGNING_KEY_SECRET_ID",
    # The API function's own (template.yaml ApiFunction), not Globals.
    "identity_providers_table": "IDENTITY_PROVIDERS_TABLE",
    "linked_identities_table": "LINKED_IDENTITIES_TABLE",
    "factor_key_secret_id": "FACTOR_KEY_SECRET_ID",
}
# The local stack's logical ids (its ready file's "tables" and "secrets").
LOGICAL_IDS = {
    "users_table": "UsersTable",
    "refresh_tokens_table": "RefreshTokensTable",
    "pats_table": "PersonalAccessTokensTable",
    "settings_table": "SettingsTable",
    "identity_providers_table": "IdentityProvidersTable",
    "linked_identities_table": "LinkedIdentitiesTable",
}


class TargetError(Exception):
    """The stack cannot be found or is not fully named."""


@dataclass(frozen=True)
class Target:
    users_table: str
    refresh_tokens_table: str
    pats_table: str
    settings_table: str
    secret_id: str
    identity_providers_table: str
    linked_identities_table: str
    # The key identity providers' client secrets are sealed with (auth.factor_cipher).
    factor_key_secret_id: str
    # None: AWS itself; else the local stack's endpoints.
    dynamodb_endpoint: str | None = None
    secretsmanager_endpoint: str | None = None
    # The local stack's namespace in its DynamoDB (devstack.environment.Endpoints).
    dynamodb_access_key_id: str | None = None
    demo: bool = False

    @property
    def is_local(self) -> bool:
        """The local stack: its providers may be plain http, as its API allows."""
        return self.dynamodb_endpoint is not None

    def dynamodb(self) -> Any:
        return _client("dynamodb", self.dynamodb_endpoint, self.dynamodb_access_key_id)

    def secretsmanager(self) -> Any:
        return _client("secretsmanager", self.secretsmanager_endpoint)


def _client(service: Service, endpoint: str | None, access_key_id: str | None = None) -> Any:
    if endpoint is None:
        return boto3.client(service, config=CLIENT_CONFIG)
    from devstack.environment import LOCAL_ACCESS_KEY_ID
    from devstack.provision import client

    # The local stack's backends, reached as the stack itself reaches them.
    return client(service, endpoint, CLIENT_CONFIG, access_key_id or LOCAL_ACCESS_KEY_ID)


def from_stack_file(path: Path) -> dict[str, Any]:
    """The fields of a local stack's ready file (devstack --ready-file), if it is running."""
    try:
        described = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TargetError(
            f"{path}: cannot read the local stack's endpoints ({error}); is `make run` running?"
        ) from None
    pid = described.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        raise TargetError(f"{path} names a stack that is not running: start it with `make run`")
    fields: dict[str, Any] = {name: described["tables"][logical] for name, logical in LOGICAL_IDS.items()}
    fields["secret_id"] = described["secrets"]["SigningKeySecret"]
    fields["factor_key_secret_id"] = described["secrets"]["FactorKeySecret"]
    fields["dynamodb_endpoint"] = described["dynamodb_endpoint"]
    fields["secretsmanager_endpoint"] = described["secretsmanager_endpoint"]
    # None: the key of a DynamoDB Local the stack has to itself.
    fields["dynamodb_access_key_id"] = described.get("dynamodb_access_key_id")
    fields["demo"] = bool(described.get("demo"))
    return fields


def from_stack_outputs(path: Path) -> dict[str, Any]:
    """The fields of a deployed stack's outputs: a list of {OutputKey, OutputValue}, or the
    whole describe-stacks answer."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TargetError(f"{path}: cannot read the stack's outputs ({error})") from None
    if isinstance(value, dict) and "Stacks" in value:
        value = value["Stacks"][0].get("Outputs", [])
    outputs = {entry["OutputKey"]: entry["OutputValue"] for entry in value}
    return {name: outputs[key] for name, key in OUTPUT_KEYS.items() if key in outputs}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    return {name: environ[variable] for name, variable in ENVIRONMENT.items() if environ.get(variable)}


def resolve(*layers: Mapping[str, Any]) -> Target:
    fields: dict[str, Any] = {}
    for layer in layers:
        fields.update({name: value for name, value in layer.items() if value is not None})
    missing = [name for name in ENVIRONMENT if not fields.get(name)]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise TargetError(
            f"the stack is not fully named: give {flags} (or --stack-outputs, or run `make run`)"
        )
    return Target(**fields)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
