"""In-memory stand-ins for the two AWS clients the authorizer uses, for suites that call it
thousands of times (moto costs milliseconds a call; these cost microseconds).

Only what the authorizer asks of AWS: GetItem, BatchGetItem and PutItem by the template's key
schema, and
UpdateItem accepted and recorded without being evaluated (the authorizer only writes
best-effort bookkeeping: lastUsedAt, lastAccessedAt). Anything else is a test failure.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from devstack.template import Table, load_template


class FakeDynamoDB:
    def __init__(self, tables: Mapping[str, Table] | None = None) -> None:
        tables = tables if tables is not None else load_template().tables
        self._key_names = {
            table.name: [key["AttributeName"] for key in table.create_args["KeySchema"]]
            for table in tables.values()
        }
        self._items: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self._key_names}
        self.updates: list[dict[str, Any]] = []

    def _key(self, table: str, item: Mapping[str, Any]) -> str:
        return json.dumps([item[name] for name in self._key_names[table]], sort_keys=True)

    def put_item(self, *, TableName: str, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._items[TableName][self._key(TableName, Item)] = copy.deepcopy(Item)
        return {}

    def get_item(self, *, TableName: str, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self._items[TableName].get(self._key(TableName, Key))
        return {"Item": copy.deepcopy(item)} if item is not None else {}

    def batch_get_item(self, *, RequestItems: dict[str, Any], **_: Any) -> dict[str, Any]:
        responses = {
            table: [
                found["Item"] for key in request["Keys"] if (found := self.get_item(TableName=table, Key=key))
            ]
            for table, request in RequestItems.items()
        }
        return {"Responses": responses, "UnprocessedKeys": {}}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        return {"Attributes": {}}

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected DynamoDB call: {name}")


class FakeSecretsManager:
    """A signing-key secret with an AWSCURRENT version and no AWSPREVIOUS one."""

    def __init__(self, kid: str, key: str) -> None:
        self._current = json.dumps({"kid": kid, "key": key})

    def get_secret_value(self, *, SecretId: str, VersionStage: str = "AWSCURRENT") -> dict[str, Any]:
        if VersionStage == "AWSCURRENT":
            return {"SecretString": self._current}
        error = {"Error": {"Code": "ResourceNotFoundException", "Message": "no such version"}}
        raise ClientError(error, "GetSecretValue")  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Secrets Manager call: {name}")
