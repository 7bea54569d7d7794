"""Fixtures of the in-process suites: three signed-up people, and handlers put back after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from auth.config import Config
from auth.wiring import ApiServices, build_api_services
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.faults import Conflicted, Conflicting
from tests.support.people import People, sign_up_people


@pytest.fixture(autouse=True)
def handlers_rewired() -> Iterator[None]:
    """Whatever services a test gave the handlers, the next test starts from none."""
    yield
    from handlers import api_context, authorizer

    api_context.services.replace(None)
    authorizer.services.replace(None)


@pytest.fixture
def people(api: ApiServices) -> People:
    """root (the first sign-up, so the only ADMIN), alice and bob."""
    return sign_up_people(api)


@pytest.fixture
def conflicted(aws: dict[str, Any], clock: FakeClock, config: Config, audit: RecordingAudit) -> Conflicted:
    client = Conflicting(aws["dynamodb"], 0)
    return Conflicted(build_api_services(config, clock, client, aws["secretsmanager"], audit), client)
