"""events/: every sample event gives the answer it is named for, and the files are current."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from auth.clock import SystemClock
from auth.config import Config
from auth.wiring import build_api_services, build_authorizer_services
from devstack.sample_events import EVENTS_DIR, Sample, samples
from devstack.seed import load_seed
from handlers import api as api_function
from handlers import authorizer
from handlers.api_context import services
from tests.support.events import FakeLambdaContext

SAMPLES = samples()
DEMO = Config(demo=True, stage="local", bcrypt_cost=10)


@pytest.fixture
def seeded(aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    load_seed(aws["dynamodb"], aws["template"], EVENTS_DIR / "seed.json")
    # Real time: the sample tokens were issued in the past and expire in 2100.
    clock = SystemClock()
    authorizer.services.replace(
        build_authorizer_services(DEMO, clock, aws["dynamodb"], aws["secretsmanager"])
    )
    services.replace(build_api_services(DEMO, clock, aws["dynamodb"], aws["secretsmanager"]))
    yield aws
    authorizer.services.replace(None)
    services.replace(None)


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_sample_event_gets_its_answer(seeded: dict[str, Any], sample: Sample) -> None:
    event = json.loads((EVENTS_DIR / f"{sample.name}.json").read_text())
    if sample.function == "AuthorizerFunction":
        if sample.expect_authorized is None:
            with pytest.raises(Exception, match=r"^Unauthorized$"):
                authorizer.handler(event, FakeLambdaContext())
        else:
            assert authorizer.handler(event, FakeLambdaContext())["isAuthorized"] is sample.expect_authorized
    else:
        assert api_function.handler(event, FakeLambdaContext())["statusCode"] == sample.expect_status


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_event_files_are_current(sample: Sample) -> None:
    committed = json.loads((EVENTS_DIR / f"{sample.name}.json").read_text())
    assert committed == sample.event, "run: .venv/bin/python -m devstack.sample_events"
