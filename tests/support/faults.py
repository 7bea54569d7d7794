"""Fault injection into real boto3 clients (moto behind them), through botocore's own hooks.

`FaultInjector` counts every call the given clients make (paginated ones included, since
the hooks sit below the paginators) and, once armed, fails the Nth: before the call reaches
AWS (throttled, refused, unreachable), or after AWS applied it and the answer was lost (a
read timeout on a write: the nastiest case for partial writes).

`Conflicting` wraps a DynamoDB client whose next transactions meet another one in flight;
`Unprocessing`, one whose next batch reads are turned away, as a throttled table's are.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

if TYPE_CHECKING:
    from auth.wiring import ApiServices

T = TypeVar("T")

ENDPOINT = "https://aws.invalid"
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "PutSecretValue"})


def _client_error(code: str, status: int) -> Callable[[str], Exception]:
    def make(operation: str) -> Exception:
        response = {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return ClientError(response, operation)  # type: ignore[arg-type]  # a plain dict stands in for botocore's error response TypedDict

    return make


FAULTS: dict[str, Callable[[str], Exception]] = {
    "ThrottlingException": _client_error("ThrottlingException", 400),
    "ProvisionedThroughputExceededException": _client_error("ProvisionedThroughputExceededException", 400),
    "InternalServerError": _client_error("InternalServerError", 500),
    "ReadTimeoutError": lambda _: ReadTimeoutError(endpoint_url=ENDPOINT),
    "EndpointConnectionError": lambda _: EndpointConnectionError(endpoint_url=ENDPOINT),
}
_ids = itertools.count()


@dataclass(frozen=True)
class Armed:
    index: int
    fault: str
    # True: the call goes through, then its answer is lost (a timeout after the write).
    after: bool = False


class FaultInjector:
    def __init__(self, *clients: Any) -> None:
        self._clients = clients
        self._id = f"fault-injector-{next(_ids)}"
        self.calls: list[str] = []
        self.armed: Armed | None = None
        for client in clients:
            client.meta.events.register("before-call", self._before, unique_id=self._id + "-before")
            client.meta.events.register("after-call", self._after, unique_id=self._id + "-after")

    def reset(self, armed: Armed | None = None) -> None:
        self.calls = []
        self.armed = armed

    def close(self) -> None:
        for client in self._clients:
            client.meta.events.unregister("before-call", unique_id=self._id + "-before")
            client.meta.events.unregister("after-call", unique_id=self._id + "-after")

    def _before(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)
        armed = self.armed
        if armed is not None and not armed.after and armed.index == len(self.calls) - 1:
            raise FAULTS[armed.fault](model.name)

    def _after(self, model: Any, **_: Any) -> None:
        armed = self.armed
        if armed is not None and armed.after and armed.index == len(self.calls) - 1:
            raise FAULTS[armed.fault](model.name)


class Conflicting:
    """The real client, except that the next `left` transactions are canceled as DynamoDB
    cancels one that met another transaction on one of its items (here the last): that item's
    reason is TransactionConflict, the others' None, and no condition failed."""

    def __init__(self, client: Any, times: int) -> None:
        self._client = client
        self.left = times

    def transact_write_items(self, **request: Any) -> Any:
        if self.left == 0:
            return self._client.transact_write_items(**request)
        self.left -= 1
        items = len(request["TransactItems"])
        reasons = [{"Code": "None"}] * (items - 1) + [{"Code": "TransactionConflict"}]
        error = {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}}
        raise ClientError({**error, "CancellationReasons": reasons}, "TransactWriteItems")  # type: ignore[typeddict-item]  # a plain dict stands in for botocore's error response TypedDict

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass(frozen=True)
class Conflicted:
    """Services on the tables, clock and audit trail of `api` (its people too) whose next
    transaction, when a test says so, meets another transaction in flight."""

    api: ApiServices
    client: Conflicting

    def once(self, call: Callable[[ApiServices], T]) -> T:
        """What `call` answers when its first transaction meets a conflict."""
        self.client.left = 1
        answer = call(self.api)
        assert self.client.left == 0, "the call wrote no transaction"
        return answer


class Unprocessing:
    """The DynamoDB client, but its next `times` BatchGetItems read nothing and leave every
    key unprocessed, as DynamoDB does for a throttled table."""

    def __init__(self, client: Any, times: int) -> None:
        self._client = client
        self.times = times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if self.times:
            self.times -= 1
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return dict(self._client.batch_get_item(RequestItems=RequestItems, **kwargs))
