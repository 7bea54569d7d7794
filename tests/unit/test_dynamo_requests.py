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


def _lost_once(aws: dict[str, Any], boto_session: Any, then_throttled: bool = False) -> Any:
    """A client configured as the API's (auth.aws.API_CALLS: its own retry of a timeout)
    whose first DeleteItem is applied and its answer lost: botocore sends it again (and,
    `then_throttled`, that second attempt is throttled)."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders
    from botocore.exceptions import ReadTimeoutError
    from moto.core.botocore_stubber import MockRawResponse

    from auth.aws import API_CALLS

    client = boto_session.client("dynamodb", region_name="us-east-1", config=API_CALLS)
    sent: list[str] = []

    def apply_then_lose(request: Any, **_: Any) -> AWSResponse | None:
        sent.append("sent")
        if len(sent) == 1:
            aws["dynamodb"].delete_item(TableName="UsersTable", Key={"pk": {"S": "probe#gone"}})
            raise ReadTimeoutError(endpoint_url=request.url)
        if then_throttled:
            body = '{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"slow down"}'
            return AWSResponse(request.url, 400, HTTPHeaders(), MockRawResponse(body))
        return None

    client.meta.events.register_first("before-send.dynamodb.DeleteItem", apply_then_lose)
    return client


def test_a_condition_that_fails_only_on_the_retry_of_a_lost_write_is_an_unknown_outcome(
    aws: dict[str, Any], boto_session: Any
) -> None:
    """The first attempt deleted the item, its answer was lost, and botocore's retry found
    the item gone: not "it was not there" (a 404 with nothing audited) but perhaps done."""
    from auth.errors import OutcomeUnknown

    aws["dynamodb"].put_item(TableName="UsersTable", Item={"pk": {"S": "probe#gone"}})
    request = {
        "TableName": "UsersTable",
        "Key": {"pk": {"S": "probe#gone"}},
        "ConditionExpression": "attribute_exists(pk)",
    }
    with pytest.raises(OutcomeUnknown):
        dynamo.conditional_write(_lost_once(aws, boto_session).delete_item, **request)
    # Sent once and answered, the same failed condition is a plain "not there".
    assert dynamo.conditional_write(aws["dynamodb"].delete_item, **request) is None


def test_a_write_whose_answer_never_came_is_an_unknown_outcome_and_a_refusal_is_not() -> None:
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    from auth.errors import OutcomeUnknown, Unavailable

    def failing(exc: Exception) -> Any:
        def operation(**_: Any) -> dict[str, Any]:
            raise exc

        return operation

    for sent in (ReadTimeoutError(endpoint_url="x"), ConnectionClosedError(endpoint_url="x")):
        with pytest.raises(OutcomeUnknown):
            dynamo.conditional_write(failing(sent))
    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "DeleteItem")
    for refused in (EndpointConnectionError(endpoint_url="x"), throttled):
        with pytest.raises(Unavailable) as raised:
            dynamo.conditional_write(failing(refused))
        assert not isinstance(raised.value, OutcomeUnknown)


def test_an_unconditional_delete_whose_retry_found_nothing_is_an_unknown_outcome(
    aws: dict[str, Any], boto_session: Any
) -> None:
    """DeleteItem with ReturnValues ALL_OLD, its first attempt applied and answer lost: the
    retry answers no old item, which is not "there was none"."""
    from auth.errors import OutcomeUnknown

    aws["dynamodb"].put_item(TableName="UsersTable", Item={"pk": {"S": "probe#gone"}})
    request = {"TableName": "UsersTable", "Key": {"pk": {"S": "probe#gone"}}, "ReturnValues": "ALL_OLD"}
    with pytest.raises(OutcomeUnknown):
        dynamo.removed_item(_lost_once(aws, boto_session).delete_item(**request))
    assert dynamo.removed_item(aws["dynamodb"].delete_item(**request)) is None


def test_a_lost_write_whose_retry_is_throttled_is_an_unknown_outcome_and_a_read_never_is(
    aws: dict[str, Any], boto_session: Any
) -> None:
    from botocore.exceptions import ReadTimeoutError

    from auth.errors import OutcomeUnknown, Unavailable

    aws["dynamodb"].put_item(TableName="UsersTable", Item={"pk": {"S": "probe#gone"}})
    client = _lost_once(aws, boto_session, then_throttled=True)
    with pytest.raises(OutcomeUnknown), dynamo.translated_errors():
        client.delete_item(TableName="UsersTable", Key={"pk": {"S": "probe#gone"}})
    assert (
        aws["dynamodb"].get_item(TableName="UsersTable", Key={"pk": {"S": "probe#gone"}}).get("Item") is None
    )
    # A read changes nothing, whatever became of its answer.
    with pytest.raises(Unavailable) as raised, dynamo.translated_errors(reading=True):
        raise ReadTimeoutError(endpoint_url="x")
    assert not isinstance(raised.value, OutcomeUnknown)
