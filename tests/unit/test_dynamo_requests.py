"""The requests auth.stores.dynamo composes: DynamoDB refuses an ExpressionAttributeValues
entry its expressions do not use, moto does not, so the stores' own checks stand in for it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from auth.stores import dynamo


def test_values_given_with_their_expressions_must_be_exactly_those_they_use() -> None:
    assert dynamo.expression_values({":now": 5, ":no": False}, "SET a = :now", "b = :no") == {
        ":now": {"N": "5"},
        ":no": {"BOOL": False},
    }
    with pytest.raises(ValueError, match="not those used"):
        # `:no` is not `:now`: a placeholder is a whole word.
        dynamo.expression_values({":no": False}, "SET a = :now")
    with pytest.raises(ValueError, match="not those used"):
        dynamo.expression_values({":now": 5, ":unused": 1}, "SET a = :now")


def test_an_update_if_sends_one_request_of_its_parts_and_is_none_when_its_condition_fails() -> None:
    sent: list[dict[str, Any]] = []

    def update_item(**request: Any) -> dict[str, Any]:
        sent.append(request)
        if len(sent) == 2:
            raise ClientError({"Error": {"Code": dynamo.CONDITION_FAILED}}, "UpdateItem")
        return {"Attributes": {"n": {"N": "1"}}}

    key = {"pk": {"S": "x"}}
    args = ("t", key, "SET #v = :v", "attribute_not_exists(#v)", {":v": 1})
    assert dynamo.update_if(update_item, *args, names={"#v": "value"}, returning="ALL_OLD") == {
        "Attributes": {"n": {"N": "1"}}
    }
    assert dynamo.update_if(update_item, *args) is None
    assert sent[0] == {
        "TableName": "t",
        "Key": key,
        "UpdateExpression": "SET #v = :v",
        "ConditionExpression": "attribute_not_exists(#v)",
        "ExpressionAttributeValues": {":v": {"N": "1"}},
        "ExpressionAttributeNames": {"#v": "value"},
        "ReturnValues": "ALL_OLD",
    }
    # Without names and returning, neither key is sent (DynamoDB refuses empty names too).
    assert "ExpressionAttributeNames" not in sent[1] and "ReturnValues" not in sent[1]


def test_an_update_if_with_a_value_its_expressions_do_not_use_sends_nothing() -> None:
    sent: list[dict[str, Any]] = []

    def update_item(**request: Any) -> dict[str, Any]:
        sent.append(request)
        return {}

    with pytest.raises(ValueError):
        dynamo.update_if(update_item, "t", {}, "SET a = :a", "b = :b", {":a": 1})
    assert sent == []
