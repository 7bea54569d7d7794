"""Failure counters for sign-in throttling, kept in the Settings table.

Counters are atomic ADDs, so every container shares one count; each expires with its
window through the table's TTL (and is ignored on read once its window has passed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auth.errors import Unavailable
from auth.stores.dynamo import expression_values, get_n, get_s, s, translated_errors

THROTTLE_PREFIX = "throttle#"


class ThrottleStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def counts(self, keys: Iterable[str]) -> dict[str, int]:
        """Current failure count of each key (0 when it has none); one read for all."""
        wanted = list(dict.fromkeys(keys))
        with translated_errors():
            response = self._client.batch_get_item(
                RequestItems={self._table: {"Keys": [{"pk": s(THROTTLE_PREFIX + key)} for key in wanted]}}
            )
        if response.get("UnprocessedKeys"):
            # Not knowing the count must not become a free pass.
            raise Unavailable("storage unavailable")
        found = {
            get_s(item, "pk"): get_n(item, "failures")
            for item in response.get("Responses", {}).get(self._table, [])
        }
        return {key: found.get(THROTTLE_PREFIX + key, 0) for key in wanted}

    def add_failure(self, key: str, expires_at: int) -> None:
        with translated_errors():
            self._client.update_item(
                TableName=self._table,
                Key={"pk": s(THROTTLE_PREFIX + key)},
                UpdateExpression="ADD failures :one SET expiresAt = :exp",
                ExpressionAttributeValues=expression_values({":one": 1, ":exp": expires_at}),
            )

    def clear(self, key: str) -> None:
        with translated_errors():
            self._client.delete_item(TableName=self._table, Key={"pk": s(THROTTLE_PREFIX + key)})
