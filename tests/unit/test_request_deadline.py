"""A dependency slow on every call, never hung on one: the request's deadline (auth.deadline)
answers it with a 503 well inside the function's timeout, and no attempt starts that could
end after it. Time is a fake monotonic clock that each AWS request moves on."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from auth import aws as aws_clients
from auth import deadline as deadlines
from auth.aws import API_CALLS, API_REQUEST_BUDGET_SECONDS, RequestOutOfTime
from auth.config import Config
from auth.deadline import Deadline, request_deadline
from auth.stores.throttle_store import THROTTLE_PREFIX
from auth.wiring import build_api_services
from devstack.template import load_template
from handlers import api as api_function
from handlers.api_context import services
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext, http_event

# An attempt on a pooled connection takes at most its read timeout (auth.aws).
ATTEMPT_SECONDS = API_CALLS.read_timeout  # type: ignore[attr-defined]  # botocore sets it at run time
# Each call answers, just under its read timeout.
SLOW_SECONDS = 1.4


class SlowAws:
    """AWS clients made as the functions make them (auth.aws), each request of which takes
    `seconds` of `monotonic`'s time; `sent` holds when each request went out."""

    def __init__(self, monotonic: FakeClock) -> None:
        self.sent: list[float] = []
        self.seconds = SLOW_SECONDS
        self.dynamodb = self._slow(aws_clients.dynamodb_client())
        self.secretsmanager = self._slow(aws_clients.secretsmanager_client())
        self._monotonic = monotonic

    def _slow(self, client: Any) -> Any:
        def answer_slowly(**_: Any) -> None:
            self.sent.append(self._monotonic.now())
            self._monotonic.advance(self.seconds)

        # After the deadline's own check (registered first): only requests it lets go are slow.
        client.meta.events.register("before-send", answer_slowly)
        return client


def timeout_of(function: str) -> int:
    return load_template().functions[function].timeout_seconds


@pytest.fixture
def monotonic() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def slow(aws: dict[str, Any], monotonic: FakeClock) -> SlowAws:
    return SlowAws(monotonic)


def test_an_attempt_that_could_end_after_the_deadline_is_never_sent(
    aws: dict[str, Any], slow: SlowAws, monotonic: FakeClock
) -> None:
    item = {"pk": {"S": "deadline#probe"}}
    with request_deadline(Deadline(ATTEMPT_SECONDS + 1, monotonic.now)):
        slow.dynamodb.put_item(TableName="SettingsTable", Item=item)
        assert len(slow.sent) == 1
        monotonic.advance(1)
        with pytest.raises(RequestOutOfTime):
            slow.dynamodb.delete_item(TableName="SettingsTable", Key=item)
        # An undoing is not refused: it runs as without a deadline.
        with deadlines.compensating():
            slow.dynamodb.get_item(TableName="SettingsTable", Key=item)
    assert len(slow.sent) == 2
    assert "Item" in aws["dynamodb"].get_item(TableName="SettingsTable", Key=item), "the delete never went"
    # Outside a request (the importer, a script) nothing is bounded.
    assert deadlines.current() is None
    slow.dynamodb.delete_item(TableName="SettingsTable", Key=item)
    assert len(slow.sent) == 3


@pytest.fixture
def slow_api(slow: SlowAws, monotonic: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowAws]:
    api = build_api_services(
        Config(bcrypt_cost=4), FakeClock(), slow.dynamodb, slow.secretsmanager, RecordingAudit()
    )
    monkeypatch.setattr(api_function, "Deadline", functools.partial(Deadline, monotonic=monotonic.now))
    services.replace(api)
    yield slow
    services.replace(None)


def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return api_function.handler(http_event("POST", path, body=body), FakeLambdaContext())


def sign_in(slow: SlowAws, seconds: float) -> dict[str, Any]:
    """alice, signed up with calls that answer at once, signing in with calls of `seconds`."""
    slow.seconds = 0.0
    user = {"username": "alice", "password": "correct horse battery"}
    assert call("/api/v1/users", {"user": user})["statusCode"] == 200
    slow.seconds, slow.sent = seconds, []
    return call("/api/v1/auth/signin", {"passwordCredentials": user})


THROTTLE_ITEMS = {"pk": {"AttributeValueList": [{"S": THROTTLE_PREFIX}], "ComparisonOperator": "BEGINS_WITH"}}
# Calls that may start: while an attempt's worst would still end within the budget.
STARTED_IN_TIME = int((API_REQUEST_BUDGET_SECONDS - ATTEMPT_SECONDS) // SLOW_SECONDS) + 1


def test_a_sign_in_whose_every_call_is_slow_is_a_503_that_counts_no_failure(
    slow_api: SlowAws, monotonic: FakeClock, aws: dict[str, Any]
) -> None:
    started = monotonic.now()
    response = sign_in(slow_api, SLOW_SECONDS)
    answered = json.loads(response["body"])
    assert (response["statusCode"], answered["code"], answered["details"]) == (503, 14, [])
    # Every call answered; none started once one more could not end before the budget, but
    # the attempt's give-back to the throttle: the right password is no failed sign-in.
    forward = [sent - started for sent in slow_api.sent[:STARTED_IN_TIME]]
    assert forward[-1] <= API_REQUEST_BUDGET_SECONDS - ATTEMPT_SECONDS < forward[-1] + SLOW_SECONDS
    throttle = aws["dynamodb"].scan(TableName="SettingsTable", ScanFilter=THROTTLE_ITEMS)["Items"]
    assert throttle == []
    assert monotonic.now() - started < timeout_of("ApiFunction")


def test_the_same_sign_in_with_calls_that_answer_in_time_is_made(slow_api: SlowAws) -> None:
    # What the deadline refuses is a request out of time, not the request: with each call
    # taking a tenth of a second, the same sign-in is made, with more calls than the slow
    # one could start.
    response = sign_in(slow_api, 0.1)
    assert response["statusCode"] == 200, response["body"]
    assert len(slow_api.sent) > STARTED_IN_TIME
