"""The API function as Lambda calls it: every route resolves (no 500 from the framework)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from auth.clock import FakeClock
from auth.config import Config
from auth.wiring import build_api_services
from handlers import api, api_context
from tests.support.events import FakeLambdaContext, http_event


@pytest.fixture
def wired(aws: dict[str, Any], clock: FakeClock, config: Config) -> Iterator[None]:
    api_context.reset_services(build_api_services(config, clock, aws["dynamodb"], aws["secretsmanager"]))
    try:
        yield
    finally:
        api_context.reset_services()


def test_openapi_document_is_served() -> None:
    response = api.handler(http_event("GET", "/api/v1/openapi.json"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert "/api/v1/auth/signin" in json.loads(response["body"])["paths"]


def test_sign_up_answers_the_new_user(wired: None) -> None:
    event = http_event("POST", "/api/v1/users", body={"user": {"username": "alice", "password": "x" * 12}})
    response = api.handler(event, FakeLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["username"] == "alice"
