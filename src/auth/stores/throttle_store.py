"""Failure counters for sign-in throttling, kept in the Settings table.

Counters are atomic ADDs, so every container shares one count; each expires with its
window through the table's TTL (and is ignored on read once its window has passed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from auth.stores.dynamo import (
    conditional_write,
    expression_values,
    get_many,
    get_n,
    get_s,
    s,
    translated_errors,
    update_if,
)

THROTTLE_PREFIX = "throttle#"


class ThrottleStore:
    def __init__(self, client: Any, table: str, pause: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._table = table
        # Between the attempts of a batch read DynamoDB turned away (injectable for tests).
        self._pause = pause

    def counts(self, keys: Iterable[str]) -> dict[str, int]:
        """Current failure count of each key (0 when it has none); one read for all.

        A count still unread after the batch read's attempts is Unavailable, never a free pass
        (get_many). Eventually consistent: guesses sent at once race the count however it is
        read, and a consistent read would double the read cost of every sign-in.
        """
        wanted = list(dict.fromkeys(keys))
        items = get_many(
            self._client,
            self._table,
            [{"pk": s(THROTTLE_PREFIX + key)} for key in wanted],
            consistent=False,
            pause=self._pause,
        )
        found = {get_s(item, "pk"): get_n(item, "failures") for item in items}
        return {key: found.get(THROTTLE_PREFIX + key, 0) for key in wanted}

    def add_failure(self, key: str, expires_at: int) -> None:
        with translated_errors():
            self._client.update_item(
                TableName=self._table,
                Key={"pk": s(THROTTLE_PREFIX + key)},
                UpdateExpression="ADD failures :one SET expiresAt = :exp",
                ExpressionAttributeValues=expression_values({":one": 1, ":exp": expires_at}),
            )

    def reserve(self, key: str, limit: int, expires_at: int) -> bool:
        """Count an attempt on `key` before it is checked, unless `limit` are counted already
        (False): one conditional ADD, so of attempts sent at once at most `limit` pass."""
        done = update_if(
            self._client.update_item,
            self._table,
            {"pk": s(THROTTLE_PREFIX + key)},
            "ADD failures :one SET expiresAt = :exp",
            "attribute_not_exists(failures) OR failures < :limit",
            {":one": 1, ":exp": expires_at, ":limit": limit},
        )
        return done is not None

    def release(self, key: str) -> None:
        """Give back an attempt `reserve` counted: the counter gone when it was the only one
        (as if never asked), else one less (never below 0)."""
        key_item = {"pk": s(THROTTLE_PREFIX + key)}
        only = conditional_write(
            self._client.delete_item,
            TableName=self._table,
            Key=key_item,
            ConditionExpression=(condition := "failures = :one"),
            ExpressionAttributeValues=expression_values({":one": 1}, condition),
        )
        if only is not None:
            return
        update_if(
            self._client.update_item,
            self._table,
            key_item,
            "ADD failures :minus_one",
            "failures > :zero",
            {":minus_one": -1, ":zero": 0},
        )

    def clear(self, key: str) -> None:
        with translated_errors():
            self._client.delete_item(TableName=self._table, Key={"pk": s(THROTTLE_PREFIX + key)})
