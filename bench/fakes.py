"""In-process stand-ins for the DynamoDB and Secrets Manager clients, for timing only.

They answer the few calls the authorizer makes (get_item, put_item, update_item,
get_secret_value) from dictionaries, so a timed invocation measures the project's own work
and not an HTTP round trip or moto. Conditions are not evaluated: the code under test checks
timestamps itself before it writes, and the call-counting run (bench.calls) uses real boto3
clients against moto.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

Item = dict[str, dict[str, Any]]
CURRENT_STAGE = "AWSCURRENT"


def _key_id(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


class FakeDynamoDB:
    def __init__(
        self, key_names: Mapping[str, tuple[str, ...]], tables: dict[str, dict[str, Item]] | None = None
    ) -> None:
        # Table name -> the attributes of its primary key, to find an item's key on put.
        self.key_names = dict(key_names)
        self.tables: dict[str, dict[str, Item]] = tables or {name: {} for name in key_names}

    def get_item(self, TableName: str, Key: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        item = self.tables[TableName].get(_key_id(Key))
        return {"Item": item} if item is not None else {}

    def batch_get_item(self, RequestItems: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        responses: dict[str, list[Item]] = {}
        for table, request in RequestItems.items():
            found = (self.tables[table].get(_key_id(key)) for key in request["Keys"])
            responses[table] = [item for item in found if item is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}

    def put_item(self, TableName: str, Item: Item, **_: Any) -> dict[str, Any]:
        key = {name: Item[name] for name in self.key_names[TableName]}
        self.tables[TableName][_key_id(key)] = dict(Item)
        return {}

    def update_item(
        self,
        TableName: str,
        Key: Mapping[str, Any],
        UpdateExpression: str,
        ExpressionAttributeValues: Mapping[str, Any],
        ReturnValues: str = "NONE",
        **_: Any,
    ) -> dict[str, Any]:
        table = self.tables[TableName]
        old = table.get(_key_id(Key), {})
        new = {**old, **Key}
        _apply_set(new, UpdateExpression, ExpressionAttributeValues)
        table[_key_id(Key)] = new
        return {"Attributes": old} if ReturnValues == "ALL_OLD" else {}


def _apply_set(item: Item, expression: str, values: Mapping[str, Any]) -> None:
    """Apply `SET a = :x, b = if_not_exists(b, :y)`, the only form the stores write."""
    if not expression.startswith("SET "):
        raise ValueError(f"the fake only understands SET expressions: {expression!r}")
    for clause in _top_level_commas(expression[len("SET ") :]):
        name, value = (part.strip() for part in clause.split("=", 1))
        if value.startswith("if_not_exists("):
            placeholder = value.rsplit(",", 1)[1].strip(" )")
            item.setdefault(name, values[placeholder])
        else:
            item[name] = values[value]


def _top_level_commas(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part for part in parts if part.strip()]


class FakeSecretsManager:
    def __init__(self, secret_strings: Mapping[str, str]) -> None:
        # Version stage -> secret string; a missing stage answers as AWS does.
        self.secret_strings = dict(secret_strings)

    def get_secret_value(self, SecretId: str, VersionStage: str = CURRENT_STAGE) -> dict[str, Any]:
        value = self.secret_strings.get(VersionStage)
        if value is None:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "no such version"}},
                "GetSecretValue",
            )
        return {"SecretString": value}
