"""The local stacks (devstack.stack.LocalStack) the browser and end-to-end suites start, and
the settings they change in them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from devstack.stack import LocalStack
from tests.support import shared_dynamodb

# Revocation lag 0: a revoked credential fails on the very next request, which a test can
# then check at once. bcrypt cost 4 keeps the many sign-ups and sign-ins cheap; the cost
# itself is tested in tests/unit/test_passwords_and_usernames.py.
STACK_SETTINGS: Mapping[str, str] = MappingProxyType({"REVOCATION_LAG_SECONDS": "0", "BCRYPT_COST": "4"})


@contextmanager
def local_stack(defaults: Mapping[str, str] = STACK_SETTINGS, **settings: str) -> Iterator[LocalStack]:
    """A running stack with `defaults` and `settings`, on the run's shared DynamoDB Local
    (tests/support/shared_dynamodb): a stack that pauses DynamoDB or keeps data starts a
    LocalStack of its own instead."""
    overrides = {**defaults, **settings}
    with LocalStack(env_overrides=overrides, shared_dynamodb_local=shared_dynamodb.url()) as running:
        yield running
