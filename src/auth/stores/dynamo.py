"""Small helpers shared by the stores: attribute marshalling, error translation, and the
reads and conditional writes every store makes (a record's whole item is auth.stores.schema).

The low-level client is used instead of the resource API: it imports faster, which keeps
the authorizer's cold start lean.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

from auth.errors import OutcomeUnknown, Unavailable

Item = Mapping[str, Mapping[str, Any]]

# (table name, key) of one item.
TableKey = tuple[str, dict[str, Any]]

CONDITION_FAILED = "ConditionalCheckFailedException"
# A canceled transaction names each failed condition with this shorter code.
ITEM_CONDITION_FAILED = "ConditionalCheckFailed"
# ...and an item that did not fail with this one.
NO_FAILURE = "None"
TRANSACTION_CANCELED = "TransactionCanceledException"
# A cancellation reason: another transaction held one of the items at that instant.
TRANSACTION_CONFLICT = "TransactionConflict"
# A value placeholder in an expression (`:now`).
_PLACEHOLDER = re.compile(r":\w+")


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def boolean(value: bool) -> dict[str, bool]:
    return {"BOOL": value}


def binary(value: bytes) -> dict[str, bytes]:
    return {"B": value}


def attribute_value(value: object) -> dict[str, Any]:
    """A plain value in DynamoDB's form: a bool is BOOL, an int N, a str S, bytes B; a value
    already in that form (a dict, such as a string set's {"SS": [...]}) is kept."""
    # bool before int: True is an int too.
    if isinstance(value, bool):
        return boolean(value)
    if isinstance(value, int):
        return n(value)
    if isinstance(value, str):
        return s(value)
    if isinstance(value, bytes):
        return binary(value)
    if isinstance(value, dict):
        return value
    raise TypeError(f"no DynamoDB form for a {type(value).__name__}")


def expression_values(values: Mapping[str, object], *expressions: str) -> dict[str, dict[str, Any]]:
    """ExpressionAttributeValues of plain values (`{":now": now, ":no": False}`).

    DynamoDB refuses a value its expressions do not use, and moto does not: given the
    expressions, a value they do not use (or one they use and lack) is a ValueError here, so
    the unit tests catch what only DynamoDB would.
    """
    if expressions:
        used = {match for expression in expressions for match in _PLACEHOLDER.findall(expression)}
        if used != set(values):
            raise ValueError(f"expression values {sorted(values)} are not those used: {sorted(used)}")
    return {name: attribute_value(value) for name, value in values.items()}


def set_attributes(attributes: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The part of an UpdateItem request that sets these attributes (values as an item holds
    them): `SET #a = :a, ...`. Every name goes through ExpressionAttributeNames, so that a
    reserved word (`role`, `state`, ...) is safe; a condition adds its own to both maps."""
    return {
        "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in attributes),
        "ExpressionAttributeNames": {f"#{name}": name for name in attributes},
        "ExpressionAttributeValues": {f":{name}": value for name, value in attributes.items()},
    }


def get_s(item: Item, name: str, default: str = "") -> str:
    value = item.get(name)
    return value["S"] if value and "S" in value else default


def get_n(item: Item, name: str, default: int = 0) -> int:
    value = item.get(name)
    return int(value["N"]) if value and "N" in value else default


def get_bool(item: Item, name: str, default: bool = False) -> bool:
    value = item.get(name)
    return bool(value["BOOL"]) if value and "BOOL" in value else default


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def cancellation_codes(exc: ClientError) -> list[str]:
    """Per-item reasons of a canceled transaction, in the order the items were given."""
    reasons = exc.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or NO_FAILURE) for reason in reasons]


@contextmanager
def translated_errors(reading: bool = False) -> Iterator[None]:
    """Turn an unexpected DynamoDB failure into Unavailable (fail closed, retryable); for a
    write that may have been applied, OutcomeUnknown: one sent and never answered, or one
    botocore sent again that then failed (its first attempt's answer may be what was lost).

    Callers that expect a specific ClientError (a failed condition) catch it inside.
    """
    try:
        yield
    except ClientError as exc:
        if not reading and retried(exc.response):
            raise OutcomeUnknown("storage unavailable") from exc
        raise Unavailable("storage unavailable") from exc
    except (ReadTimeoutError, ConnectionClosedError) as exc:
        if not reading:
            raise OutcomeUnknown("storage unavailable") from exc
        raise Unavailable("storage unavailable") from exc
    except BotoCoreError as exc:
        raise Unavailable("storage unavailable") from exc


def retried(response: Mapping[str, Any]) -> bool:
    """Whether botocore sent the request more than once (a response's or a ClientError's):
    what a retry of a write found may be the first attempt's own work, its answer lost."""
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0)) > 0


def removed_item(response: Mapping[str, Any]) -> Item | None:
    """The item an unconditional DeleteItem (ReturnValues ALL_OLD) removed, None when there
    was none; OutcomeUnknown when botocore sent it again and the retry found none, since the
    first attempt may have removed it."""
    old = response.get("Attributes")
    if old:
        return cast(Item, old)
    if retried(response):
        raise OutcomeUnknown("storage unavailable")
    return None


def conditional_write(operation: Callable[..., dict[str, Any]], **request: Any) -> dict[str, Any] | None:
    """Run one conditional write: its response, or None when its condition failed.

    Any other failure is Unavailable, as in `translated_errors`.
    """
    with translated_errors():
        try:
            return operation(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                # A transaction needs no such care: boto3 gives it an idempotency token, so
                # its retry answers as the first attempt did.
                if retried(exc.response):
                    raise OutcomeUnknown("storage unavailable") from exc
                return None
            raise


def update_if(
    operation: Callable[..., dict[str, Any]],
    table: str,
    key: dict[str, Any],
    update: str,
    condition: str,
    values: Mapping[str, object],
    *,
    names: Mapping[str, str] | None = None,
    returning: str | None = None,
) -> dict[str, Any] | None:
    """One conditional UpdateItem by `operation` (a client's update_item): its response, or
    None when `condition` failed; `values` are exactly those the two expressions use."""
    request: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": update,
        "ConditionExpression": condition,
        "ExpressionAttributeValues": expression_values(values, update, condition),
    }
    if names:
        request["ExpressionAttributeNames"] = dict(names)
    if returning:
        request["ReturnValues"] = returning
    return conditional_write(operation, **request)


def prefixed_key(prefix: str, value: object) -> dict[str, Any]:
    """The key of a table that keeps several kinds of item under one `pk`: kind#value."""
    return {"pk": s(f"{prefix}{value}")}


def new_item(table: str, item: Item, key: str = "pk") -> dict[str, dict[str, Any]]:
    """The Put of an item where none has its key, as a transaction item (`put_new` makes it
    on its own)."""
    return {"Put": {"TableName": table, "Item": item, "ConditionExpression": f"attribute_not_exists({key})"}}


def still_exists(table_key: TableKey) -> dict[str, Any]:
    """A transaction item that holds only while this item exists (a user being linked to)."""
    table, key = table_key
    return {"ConditionCheck": {"TableName": table, "Key": key, "ConditionExpression": "attribute_exists(pk)"}}


def put_new(client: Any, table: str, item: Item, key: str = "pk") -> bool:
    """Put an item where none has its key: False when one had (the write is then not made).

    Any other failure is Unavailable, as in `translated_errors`.
    """
    return conditional_write(client.put_item, **new_item(table, item, key)["Put"]) is not None


def put_new_random(client: Any, table: str, item: Item, key: str = "pk") -> None:
    """put_new for an item whose key is random (a challenge, a session secret's hash): taken
    means something is wrong, so it is Unavailable, and nothing is overwritten."""
    if not put_new(client, table, item, key):
        raise Unavailable("storage unavailable")


def write_transaction(client: Any, items: list[dict[str, Any]]) -> list[str] | None:
    """Run a write transaction: None when it was applied; when it was canceled, each item's
    reason in the order the items were given. Any other failure is Unavailable."""
    with translated_errors():
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == TRANSACTION_CANCELED:
                return cancellation_codes(exc)
            raise
    return None


def back_off(attempt: int, first_seconds: float, pause: Callable[[float], None] = time.sleep) -> None:
    """The pause before try `attempt + 1` of a request DynamoDB turned away: full jitter up to
    a bound that doubles with each attempt, so that requests that collided once do not
    collide again in step."""
    pause(random.uniform(0, first_seconds * 2**attempt))  # noqa: S311 - not a secret


# A checked put conflicts with any other transaction on the item it checks at that instant
# (two sign-ins of one user, a PAT created meanwhile): tried again after a jittered pause
# that doubles, at most 0.15 s in all, well inside a sign-in's time.
CHECKED_PUT_ATTEMPTS = 3
FIRST_CHECKED_PUT_PAUSE_SECONDS = 0.05


def put_new_checked(
    client: Any,
    table: str,
    item: Item,
    key: str,
    check: dict[str, Any],
    pause: Callable[[float], None] = time.sleep,
) -> bool:
    """`put_new_random` in one transaction with `check` (a ConditionCheck item): False when
    the check failed, and nothing is written. A conflict with another transaction is tried
    again; a taken key, a throttle, a conflict that lasts or any other failure is
    Unavailable."""
    for attempt in range(CHECKED_PUT_ATTEMPTS):
        reasons = write_transaction(client, [new_item(table, item, key), check])
        if reasons is None:
            return True
        if reasons[1:2] == [ITEM_CONDITION_FAILED]:
            return False
        if TRANSACTION_CONFLICT not in reasons or attempt == CHECKED_PUT_ATTEMPTS - 1:
            break
        back_off(attempt, FIRST_CHECKED_PUT_PAUSE_SECONDS, pause)
    raise Unavailable("storage unavailable")


def failed_conditions(reasons: Sequence[str], count: int) -> list[bool]:
    """Which of a canceled transaction's `count` items failed their condition, in the order
    the items were given (`reasons` as `write_transaction` returns them).

    A transaction canceled with no condition failed (it met another transaction on one of
    its items, or was throttled) refused nothing: Unavailable, which the client may retry,
    never an answer that a credential was wrong or spent.
    """
    failed = [index < len(reasons) and reasons[index] == ITEM_CONDITION_FAILED for index in range(count)]
    if not any(failed):
        raise Unavailable("storage unavailable")
    return failed


def write_with(client: Any, items: list[dict[str, Any]], also: dict[str, Any] | None) -> list[bool] | None:
    """Run a write transaction of `items` and, after them, `also` (another transaction item
    a caller adds) when given: None when it was applied, else which failed their condition
    (`failed_conditions`; `also`'s last, False when there is none)."""
    reasons = write_transaction(client, items if also is None else [*items, also])
    return None if reasons is None else failed_conditions(reasons, len(items) + 1)


def delete_with(client: Any, delete: dict[str, Any], also: dict[str, Any] | None) -> bool:
    """Run a conditional Delete (its request), in one transaction with `also` when given:
    False when its condition, or `also`'s, failed."""
    if also is None:
        return conditional_write(client.delete_item, **delete) is not None
    return write_with(client, [{"Delete": delete}], also) is None


# BatchGetItem's limit of keys in one request; keys it leaves unprocessed (throttling) are
# asked again, after a jittered pause that doubles each time.
MAX_BATCH_GET_KEYS = 100
BATCH_GET_ATTEMPTS = 6
FIRST_BATCH_GET_PAUSE_SECONDS = 0.05


def get_many(
    client: Any,
    table: str,
    keys: Sequence[dict[str, Any]],
    consistent: bool,
    pause: Callable[[float], None] = time.sleep,
) -> list[Item]:
    """The items of `keys` that exist, in BatchGetItem requests of 100 keys (no order kept).

    Unavailable when DynamoDB still leaves keys unprocessed after its attempts: a key not
    read must never pass for a missing item.
    """
    found: list[Item] = []
    for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table: {"Keys": list(keys[start : start + MAX_BATCH_GET_KEYS]), "ConsistentRead": consistent}
        }
        for attempt in range(BATCH_GET_ATTEMPTS):
            with translated_errors(reading=True):
                response = client.batch_get_item(RequestItems=request)
            found.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            back_off(attempt, FIRST_BATCH_GET_PAUSE_SECONDS, pause)
        else:
            raise Unavailable("storage unavailable")
    return found


# Every table holding a user's credentials has this index on `userId`.
BY_USER_INDEX = "byUser"


def get_one(client: Any, table: str, key: dict[str, Any], consistent: bool) -> Item | None:
    with translated_errors(reading=True):
        response = client.get_item(TableName=table, Key=key, ConsistentRead=consistent)
    return cast("Item | None", response.get("Item"))


def pages(client: Any, operation: str, **request: Any) -> Iterator[list[Item]]:
    """The items of each page a Query or Scan (`operation`) answers, page by page."""
    paginator = client.get_paginator(operation)
    with translated_errors(reading=True):
        for page in paginator.paginate(**request):
            yield page.get("Items", [])


def items_of_user(client: Any, table: str, user_id: int) -> Iterator[Item]:
    """Every item of a user, through the table's byUser index (all pages)."""
    for items in pages(
        client,
        "query",
        TableName=table,
        IndexName=BY_USER_INDEX,
        KeyConditionExpression="userId = :user",
        ExpressionAttributeValues={":user": n(user_id)},
    ):
        yield from items


def get_pair(
    client: Any, first: TableKey, second: TableKey, consistent: bool
) -> tuple[Item | None, Item | None]:
    """Two items of two tables in one BatchGetItem round trip (None for a missing one).

    The authorizer reads a credential and its user together this way, so a request costs
    one DynamoDB call even when both are due.
    """
    request: dict[str, dict[str, Any]] = {}
    for table, key in (first, second):
        request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(key)
    with translated_errors(reading=True):
        response = client.batch_get_item(RequestItems=request)
    if response.get("UnprocessedKeys"):
        # Not knowing whether a credential is revoked must never read as "it is not".
        raise Unavailable("storage unavailable")
    found = response.get("Responses", {})

    def pick(table_key: TableKey) -> Item | None:
        # `==` on a key that may be a secret's hash is no oracle: DynamoDB returned only
        # items whose keys are the ones asked for, so each is compared with a value we sent.
        table, key = table_key
        return next(
            (item for item in found.get(table, []) if all(item.get(k) == v for k, v in key.items())), None
        )

    return pick(first), pick(second)
