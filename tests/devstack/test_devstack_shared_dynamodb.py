"""Stacks on one DynamoDB Local (LocalStack(shared_dynamodb_local=...), as the test suite runs
most of its stacks): each sees only its own tables and items, one stopping leaves the other
and the emulator as they were, and none may pause it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack import backends, processes
from devstack.stack import LocalStack, StackError

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
_kind, _why = backends.choose_dynamodb(os.environ)
pytestmark = pytest.mark.skipif(_kind != backends.DYNAMODB_LOCAL, reason=f"needs DynamoDB Local: {_why}")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = backends.start_shared_dynamodb_local(tmp_path_factory.mktemp("shared"), os.environ)
    assert backend.process is not None
    try:
        backend.wait_ready()
        yield backend.endpoint
    finally:
        processes.stop(backend.process)


def on(shared: str) -> LocalStack:
    return LocalStack(template=FIXTURE_TEMPLATE, shared_dynamodb_local=shared)


def namespace_of_function(stack: LocalStack) -> str:
    return str(requests.get(stack.url + "/public", timeout=30).json()["endpoints"]["access_key_id"])


def count(stack: LocalStack) -> int:
    return int(stack.client("dynamodb").scan(TableName=stack.tables["ItemsTable"], Select="COUNT")["Count"])


def test_two_stacks_on_one_dynamodb_local_each_see_only_their_own(shared: str) -> None:
    with on(shared) as first, on(shared) as second:
        assert first.dynamodb_endpoint == second.dynamodb_endpoint == shared
        # The same table name in both, each its stack's own.
        assert first.tables["ItemsTable"] == second.tables["ItemsTable"]
        first.client("dynamodb").put_item(TableName=first.tables["ItemsTable"], Item={"id": {"S": "1"}})
        assert (count(first), count(second)) == (1, 0)
        # The functions use their stack's namespace, as its provisioning and clients do.
        assert namespace_of_function(first) != namespace_of_function(second)
        assert first.backends.startswith(f"DynamoDB: DynamoDB Local shared at {shared}, in memory;")
    with on(shared) as third:
        # A stack that stopped took nothing of the next one's, and left the emulator running.
        assert count(third) == 0


def test_a_stack_on_a_shared_dynamodb_local_may_not_pause_it(shared: str) -> None:
    with on(shared) as stack:
        with pytest.raises(StackError, match="shares DynamoDB Local"):
            stack.pause_dynamodb()
        with pytest.raises(StackError, match="shares DynamoDB Local"), stack.dynamodb_paused():
            pass
        # Nothing was frozen: the stack still answers, and its DynamoDB too.
        assert count(stack) == 0
        # The processes the stack started, and stops: devstack and moto's server, not the emulator.
        assert len(stack.pids) == 2
