"""In-process stand-ins for the DynamoDB and Secrets Manager clients.

They answer the few calls the authorizer makes (get_item, batch_get_item, put_item,
update_item, get_secret_value), plus the transactions that store PATs, from dictionaries:
a timed invocation then measures the project's own work and not an HTTP round trip or moto,
and the suites that call the authorizer thousands of times (tests/unit/test_authorizer_fuzz.py,
the attack matrix) cost microseconds a call. Conditions are not evaluated: the code under
test checks timestamps itself before it writes, and whatever depends on a condition is
tested against moto or DynamoDB Local.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from devstack.template import Template

Item = dict[str, dict[str, Any]]
CURRENT_STAGE = "AWSCURRENT"


def _key_id(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def key_names(template: Template) -> dict[str, tuple[str, ...]]:
    """Each table's key attributes, as FakeDynamoDB wants them."""
    return {
        table.name: tuple(part["AttributeName"] for part in table.create_args["KeySchema"])
        for table in template.tables.values()
    }


class FakeDynamoDB:
    def __init__(
        self, key_names: Mapping[str, tuple[str, ...]], tables: dict[str, dict[str, Item]] | None = None
    ) -> None:
        # Table name -> the attributes of its primary key, to find an item's key on put.
        self.key_names = dict(key_names)
        self.tables: dict[str, dict[str, Item]] = tables or {name: {} for name in key_names}
        # The name of every write asked for, in order.
        self.writes: list[str] = []

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
        self.writes.append("PutItem")
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
        self.writes.append("UpdateItem")
        old = self._update(TableName, Key, UpdateExpression, ExpressionAttributeValues)
        return {"Attributes": old} if ReturnValues == "ALL_OLD" else {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        """Puts, Updates and Deletes are applied; conditions are not evaluated."""
        self.writes.append("TransactWriteItems")
        for action in TransactItems:
            if "Put" in action:
                put = action["Put"]
                key = {name: put["Item"][name] for name in self.key_names[put["TableName"]]}
                self.tables[put["TableName"]][_key_id(key)] = dict(put["Item"])
            elif "Update" in action:
                update = action["Update"]
                self._update(
                    update["TableName"],
                    update["Key"],
                    update["UpdateExpression"],
                    update["ExpressionAttributeValues"],
                )
            elif "Delete" in action:
                self.tables[action["Delete"]["TableName"]].pop(_key_id(action["Delete"]["Key"]), None)
            elif "ConditionCheck" not in action:
                raise ValueError(f"the fake does not know this transaction item: {sorted(action)}")
        return {}

    def _update(
        self, table_name: str, key: Mapping[str, Any], expression: str, values: Mapping[str, Any]
    ) -> Item:
        """Apply the update to the item (created if missing); the item as it was."""
        table = self.tables[table_name]
        old = table.get(_key_id(key), {})
        new = {**old, **key}
        _apply_update(new, expression, values)
        table[_key_id(key)] = new
        return old


def _apply_update(item: Item, expression: str, values: Mapping[str, Any]) -> None:
    """Apply `SET a = :x, b = if_not_exists(b, :y)` or `ADD n :k`, the forms the stores write."""
    if expression.startswith("ADD "):
        name, placeholder = expression[len("ADD ") :].split()
        item[name] = {"N": str(int(item.get(name, {"N": "0"})["N"]) + int(values[placeholder]["N"]))}
        return
    if not expression.startswith("SET "):
        raise ValueError(f"the fake only understands SET and ADD expressions: {expression!r}")
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
