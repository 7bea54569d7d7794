"""The local stacks (devstack.stack.LocalStack) the browser and end-to-end suites start, and
the settings they change in them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from devstack.stack import LocalStack

# Revocation lag 0: a revoked credential fails on the very next request, which a test can
# then check at once. bcrypt cost 4 keeps the many sign-ups and sign-ins cheap; the cost
# itself is tested in tests/unit/test_passwords_and_usernames.py.
STACK_SETTINGS: Mapping[str, str] = MappingProxyType({"REVOCATION_LAG_SECONDS": "0", "BCRYPT_COST": "4"})


def local_stack(**settings: str) -> Iterator[LocalStack]:
    """A running stack with STACK_SETTINGS and `settings`, stopped when the fixture that
    yields from this is finished."""
    with LocalStack(env_overrides={**STACK_SETTINGS, **settings}) as running:
        yield running
