"""Stacks on one DynamoDB Local (LocalStack(shared_dynamodb_local=...), as the test suite runs
most of its stacks): each sees only its own tables and items, one stopping leaves the other
and the emulator as they were, and none may pause it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack import backends
from devstack.stack import LocalStack, StackError

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
_kind, _why = backends.choose_dynamodb(os.environ)
pytestmark = pytest.mark.skipif(_kind != backends.DYNAMODB_LOCAL, reason=f"needs DynamoDB Local: {_why}")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = backends.start_shared_dynamodb_local(tmp_path_factory.mktemp("shared"), os.environ)
    try:
        backend.wait_ready()
        yield backend.endpoint
    finally:
        backend.stop()


def on(shared: str) -> LocalStack:
    return LocalStack(template=FIXTURE_TEMPLATE, shared_dynamodb_local=shared)


def namespace_of_function(stack: LocalStack) -> str:
    return str(requests.get(stack.url + "/public", timeout=30).json()["endpoints"]["access_key_id"])


def count(stack: LocalStack) -> int:
    return int(stack.client("dynamodb").scan(TableName=stack.tables["ItemsTable"], Select="COUNT")["Count"])


def test_stacks_on_one_dynamodb_local_see_only_their_own_and_may_not_pause_it(shared: str) -> None:
    with on(shared) as second:
        with on(shared) as first:
            assert first.dynamodb_endpoint == second.dynamodb_endpoint == shared
            assert first.backends.startswith(f"DynamoDB: DynamoDB Local shared at {shared}, in memory;")
            # The same table name in both, each its stack's own.
            assert first.tables["ItemsTable"] == second.tables["ItemsTable"]
            first.client("dynamodb").put_item(TableName=first.tables["ItemsTable"], Item={"id": {"S": "1"}})
            assert (count(first), count(second)) == (1, 0)
            # The functions use their stack's namespace, as its provisioning and clients do.
            assert namespace_of_function(first) != namespace_of_function(second)
            with pytest.raises(StackError, match="shares DynamoDB Local"):
                first.pause_dynamodb()
            with pytest.raises(StackError, match="shares DynamoDB Local"), first.dynamodb_paused():
                pass
            # The processes the stack started, and stops: devstack and moto's server.
            assert len(first.pids) == 2
        # The first one stopped: the emulator still serves the second, which it never froze.
        second.client("dynamodb").put_item(TableName=second.tables["ItemsTable"], Item={"id": {"S": "2"}})
        assert count(second) == 1
