"""SPEC §3: exactly one ADMIN however many first sign-ups race (on DynamoDB Local)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Api
from tests.support.local_stacks import local_stack

pytestmark = pytest.mark.e2e


def test_twenty_concurrent_first_sign_ups_make_exactly_one_admin() -> None:
    # STACK_SETTINGS' cost 4: twenty bcrypt hashes at the default cost at once can outlast
    # the function's timeout on two busy cores, and the race is about the owner marker.
    with local_stack() as stack:
        api = Api(stack)
        with ThreadPoolExecutor(20) as pool:
            responses = list(pool.map(lambda i: api.sign_up(f"first{i}"), range(20)))
        assert [r.status_code for r in responses] == [200] * 20
        roles = [r.json()["role"] for r in responses]
        assert roles.count("ADMIN") == 1 and roles.count("USER") == 19
