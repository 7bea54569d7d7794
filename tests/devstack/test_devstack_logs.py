"""`make run`'s terminal: one readable line per request, the handlers' JSON logs in a file
per function, and no traceback for an authorizer's ordinary "Unauthorized" (issue 10).
`make run LOGS=json` (and LocalStack, by default) shows the handlers' logs instead."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import requests

from devstack.request_log import Invocation, RequestLog, failure_lines, request_line
from devstack.runtime import Outcome
from devstack.stack import LocalStack

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
REFUSED = Outcome(error={"errorMessage": "Unauthorized", "errorType": "Exception", "stackTrace": ["f\n"]})
CRASHED = Outcome(
    error={
        "errorMessage": "boom",
        "errorType": "RuntimeError",
        "stackTrace": ['  File "handler.py", line 3, in handler\n    raise RuntimeError("boom")\n'],
    }
)
REQUEST_LINE = re.compile(r"^(GET|POST) (/\S*) (\d{3}) (\d+) ms(?: (.+))?$")


def test_a_request_line_names_status_time_and_the_functions_that_ran():
    both = [
        Invocation("AuthorizerFunction", Outcome(result={}), authorizer=True),
        Invocation("ApiFunction", Outcome()),
    ]
    assert request_line("GET", "/api/v1/auth/me", 200, 20.4, both) == (
        "GET /api/v1/auth/me 200 20 ms AuthorizerFunction, ApiFunction"
    )
    assert request_line("GET", "/nope", 404, 0.2, []) == "GET /nope 404 0 ms"


def test_an_authorizers_unauthorized_is_not_a_failure_but_anything_else_is():
    refused = Invocation("AuthorizerFunction", REFUSED, authorizer=True)
    assert failure_lines([refused], with_traces=True) == []
    # The same error from an integration is a bug in it.
    assert failure_lines([Invocation("ApiFunction", REFUSED)], with_traces=False) == [
        "    ApiFunction: Exception: Unauthorized"
    ]
    crashed = Invocation("AuthorizerFunction", CRASHED, authorizer=True)
    assert failure_lines([crashed], with_traces=True) == [
        "    AuthorizerFunction: RuntimeError: boom",
        '        File "handler.py", line 3, in handler',
        '          raise RuntimeError("boom")',
    ]


@pytest.mark.parametrize(("mode", "traced"), [("readable", True), ("json", False)])
def test_the_trace_is_printed_only_where_the_worker_did_not_print_it(mode, traced):
    stream = io.StringIO()
    RequestLog(mode, stream).record("GET", "/x", 500, 3, [Invocation("ApiFunction", CRASHED)])
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["GET /x 500 3 ms ApiFunction", "    ApiFunction: RuntimeError: boom"]
    assert (len(lines) > 2) is traced


def test_an_unknown_log_mode_is_refused():
    with pytest.raises(ValueError, match="expected one of readable, json"):
        RequestLog("pretty")


@pytest.fixture(scope="module")
def readable():
    env = {"DEVSTACK_DYNAMODB": "moto"}
    with LocalStack(template=FIXTURE_TEMPLATE, env_overrides=env, logs="readable") as running:
        yield running


def get(stack, path, **headers):
    return requests.get(stack.url + path, headers=headers, timeout=30).status_code


def test_readable_mode_prints_one_line_per_request_and_no_handler_logs(readable):
    assert get(readable, "/public?mode=log") == 200
    assert get(readable, "/items/1", Authorization="Bearer nope") == 401
    assert get(readable, "/items/1", Authorization="Bearer good") == 200
    assert get(readable, "/nope") == 404
    lines = [line for line in readable.log_text().splitlines() if REQUEST_LINE.match(line)]
    got = [REQUEST_LINE.match(line).group(1, 2, 3, 5) for line in lines]
    assert got[-4:] == [
        ("GET", "/public", "200", "EchoFunction"),
        ("GET", "/items/1", "401", "AuthorizerFunction"),
        ("GET", "/items/1", "200", "AuthorizerFunction, EchoFunction"),
        ("GET", "/nope", "404", None),
    ]
    terminal = readable.log_text()
    assert "the echo handler logged" not in terminal
    assert "[ERROR]" not in terminal and "Traceback" not in terminal
    # Nothing is lost: each function's own output is in its log file, as in CloudWatch.
    assert "the echo handler logged" in readable.function_log_text("EchoFunction")
    assert "[ERROR] Exception: Unauthorized" in readable.function_log_text("AuthorizerFunction")


def test_readable_mode_shows_a_failed_functions_error_and_trace(readable):
    assert get(readable, "/public?mode=raise") == 500
    terminal = readable.log_text()
    assert "GET /public 500 " in terminal
    assert "    EchoFunction: ValueError: the handler failed\n" in terminal
    assert 'raise ValueError("the handler failed")' in terminal
