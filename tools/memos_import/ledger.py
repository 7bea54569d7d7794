"""The import ledger: a marker item in the stack's Settings table for each thing an import
wrote (or found there as an earlier run left it), so that a later run tells a thing it never
wrote from one it wrote and memos-auth deleted since (a revoked PAT, a deleted user, provider
or link), and leaves the latter deleted.

A marker is `imported#<kind>#<id>`, keyed by the thing's id and never by a secret (a PAT's is
its owner and token id, not its hash), and holds nothing else: no `expiresAt`, so the table's
TTL never takes it. It is written after its item, never before: a run stopped in between
leaves an item without its marker, which the next run finds present and marks; the other
order would leave a marker without its item, and the item lost for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from auth.errors import Unavailable
from auth.stores import dynamo
from auth.stores.pat_store import PatRecord
from auth.stores.refresh_family_store import RefreshFamily
from tools.memos_import.mapping import ImportedLink, Plan

PREFIX = "imported#"
# BatchWriteItem's limit of items in one request; items it leaves unprocessed (throttling)
# are sent again, after a jittered pause that doubles each time.
MAX_BATCH_WRITE_ITEMS = 25
BATCH_WRITE_ATTEMPTS = 6
FIRST_BATCH_WRITE_PAUSE_SECONDS = 0.05


USER_MARKS = f"{PREFIX}user#"


def user_key(user_id: int) -> str:
    return f"{USER_MARKS}{user_id}"


def pat_key(pat: PatRecord) -> str:
    return f"{PREFIX}pat#{pat.user_id}/{pat.token_id}"


def family_key(family: RefreshFamily) -> str:
    return f"{PREFIX}refresh#{family.family_id}"


def provider_key(provider_id: str) -> str:
    return f"{PREFIX}idp#{provider_id}"


def link_key(link: ImportedLink) -> str:
    # A provider id has no '/' (auth.identity_providers): the pair reads back one way only.
    return f"{PREFIX}link#{link.provider_id}/{link.extern_uid}"


def plan_keys(plan: Plan) -> list[str]:
    """The marker of everything `plan` could write."""
    keys = [user_key(imported.user.id) for imported in plan.users]
    keys += [pat_key(pat) for imported in plan.users for pat in imported.pats]
    keys += [family_key(family) for imported in plan.users for family in imported.families]
    keys += [provider_key(provider.provider_id) for provider in plan.providers]
    return keys + [link_key(link) for link in plan.links]


class Ledger:
    """The markers a run read at its start, and the writing of new ones."""

    def __init__(
        self,
        client: Any,
        table: str,
        marked: set[str],
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table
        # Only read after the run's start: a run writes each of its markers once.
        self._marked = frozenset(marked)
        self._pause = pause

    @classmethod
    def read(cls, client: Any, table: str, keys: Sequence[str], threads: int) -> Ledger:
        """The markers of `keys` there are, in consistent batch reads, `threads` at once."""
        size = dynamo.MAX_BATCH_GET_KEYS
        chunks = [keys[start : start + size] for start in range(0, len(keys), size)]

        def read_chunk(chunk: Sequence[str]) -> list[str]:
            items = dynamo.get_many(client, table, [_key(key) for key in chunk], consistent=True)
            return [dynamo.get_s(item, "pk") for item in items]

        with ThreadPoolExecutor(max_workers=max(1, threads)) as executor:
            marked = {key for found in executor.map(read_chunk, chunks) for key in found}
        return cls(client, table, marked)

    def __contains__(self, key: object) -> bool:
        return key in self._marked

    def write(self, keys: Iterable[str]) -> int:
        """Put the markers of `keys` not marked at the run's start; how many were put.
        Unavailable when DynamoDB still leaves some unprocessed after its attempts."""
        # Users' first: a user marked is one this import wrote, so a run stopped before the
        # rest leaves a deleted user left deleted (its credentials' markers come after).
        new = sorted({key for key in keys if key not in self._marked}, key=_users_first)
        for start in range(0, len(new), MAX_BATCH_WRITE_ITEMS):
            self._put(new[start : start + MAX_BATCH_WRITE_ITEMS])
        return len(new)

    def _put(self, keys: list[str]) -> None:
        request: dict[str, Any] = {self._table: [{"PutRequest": {"Item": _key(key)}} for key in keys]}
        for attempt in range(BATCH_WRITE_ATTEMPTS):
            with dynamo.translated_errors():
                response = self._client.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
            dynamo.back_off(attempt, FIRST_BATCH_WRITE_PAUSE_SECONDS, self._pause)
        raise Unavailable("storage unavailable")


def _users_first(key: str) -> tuple[bool, str]:
    return (not key.startswith(USER_MARKS), key)


def _key(key: str) -> dict[str, Any]:
    return {"pk": dynamo.s(key)}
