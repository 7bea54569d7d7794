"""Logs, metrics and audit lines of the deployed handlers, called in-process.

The log scan runs a whole flow through the real handlers and checks that no log line
(nor metric line) ever holds a password, a token, the signing key or a token hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from auth.audit import AuditEvent
from auth.config import Config
from auth.keys import CURRENT_STAGE
from auth.wiring import build_api_services, build_authorizer_services
from handlers import api, api_context, authorizer
from handlers.audit_log import LoggerAudit
from handlers.cookies import REFRESH_COOKIE
from handlers.denials import RefusalLog, count_denial
from handlers.observability import DenialReason, Metric, logger
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext, authorizer_event, http_event
from tests.support.metrics import emitted_metrics, json_lines

PASSWORD = "correct horse battery"
WRONG_PASSWORD = "incorrect pony staple"


@dataclass
class Flow:
    """What a flow step needs, and every secret it saw, to be looked for in the logs."""

    secrets: list[str] = field(default_factory=lambda: [PASSWORD, WRONG_PASSWORD])
    access_token: str = ""
    refresh_cookie: str = ""
    requests: int = 0

    def saw(self, *tokens: str) -> None:
        for token in tokens:
            self.secrets.append(token)
            # A JWT's signature alone is as bad as the token; a stored hash too.
            self.secrets.append(token.rsplit(".", 1)[-1])
            self.secrets.append(hashlib.sha256(token.encode()).hexdigest())

    def request_id(self) -> str:
        self.requests += 1
        return f"req-{self.requests:04d}"

    def call_api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        event = http_event(method, path, **kwargs)
        event["requestContext"]["requestId"] = self.request_id()
        response = api.handler(event, FakeLambdaContext())
        for cookie in response.get("cookies", []):
            name, _, rest = cookie.partition("=")
            if name == REFRESH_COOKIE and rest.split(";")[0]:
                self.refresh_cookie = rest.split(";")[0]
                self.saw(self.refresh_cookie)
        return response

    def authorize(self, route_key: str, **kwargs: Any) -> dict[str, str] | None:
        """The authorizer's context, or None when it refused (401 or 403)."""
        event = authorizer_event(route_key, **kwargs)
        event["requestContext"]["requestId"] = self.request_id()
        try:
            answer = authorizer.handler(event, FakeLambdaContext())
        except Exception:
            return None
        return answer["context"] if answer["isAuthorized"] else None


def signed_in_caller(flow: Flow, route_key: str) -> dict[str, str]:
    """Sign alice in; the authorizer's context for her access token on `route_key`."""
    sign_in(flow)
    caller = flow.authorize(route_key, authorization=f"Bearer {flow.access_token}")
    assert caller is not None
    return caller


def body(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


def sign_up(flow: Flow) -> None:
    created = flow.call_api(
        "POST", "/api/v1/users", body={"user": {"username": "alice", "password": PASSWORD}}
    )
    assert created["statusCode"] == 200


def fail_sign_in(flow: Flow) -> None:
    credentials = {"username": "alice", "password": WRONG_PASSWORD}
    refused = flow.call_api("POST", "/api/v1/auth/signin", body={"passwordCredentials": credentials})
    assert refused["statusCode"] == 400


def sign_in(flow: Flow) -> None:
    credentials = {"username": "alice", "password": PASSWORD}
    signed_in = flow.call_api("POST", "/api/v1/auth/signin", body={"passwordCredentials": credentials})
    assert signed_in["statusCode"] == 200
    flow.access_token = body(signed_in)["accessToken"]
    flow.saw(flow.access_token)


def use_access_token(flow: Flow) -> None:
    caller = flow.authorize("GET /api/v1/auth/me", authorization=f"Bearer {flow.access_token}")
    assert caller is not None
    me = flow.call_api("GET", "/api/v1/auth/me", authorizer=caller)
    assert body(me)["user"]["username"] == "alice"


def refresh_then_reuse(flow: Flow) -> None:
    first = flow.refresh_cookie
    for _ in range(2):
        refreshed = flow.call_api(
            "POST", "/api/v1/auth/refresh", cookies=[f"{REFRESH_COOKIE}={flow.refresh_cookie}"]
        )
        assert refreshed["statusCode"] == 200
        flow.saw(body(refreshed)["accessToken"])
    # Two rotations old: a reuse even within the retry grace (the clock does not move here).
    reused = flow.call_api("POST", "/api/v1/auth/refresh", cookies=[f"{REFRESH_COOKIE}={first}"])
    assert reused["statusCode"] == 401


def sign_out(flow: Flow) -> None:
    caller = signed_in_caller(flow, "POST /api/v1/auth/signout")
    cookies = [f"{REFRESH_COOKIE}={flow.refresh_cookie}"]
    signed_out = flow.call_api("POST", "/api/v1/auth/signout", authorizer=caller, cookies=cookies)
    assert signed_out["statusCode"] == 200


def create_and_use_a_pat(flow: Flow) -> None:
    route = "POST /api/v1/users/{username}/personalAccessTokens"
    caller = signed_in_caller(flow, route)
    created = flow.call_api(
        "POST",
        "/api/v1/users/alice/personalAccessTokens",
        route=route,
        path_parameters={"username": "alice"},
        authorizer=caller,
        body={"description": "ci", "expiresInDays": 0},
    )
    assert created["statusCode"] == 200, created["body"]
    token = body(created)["token"]
    flow.saw(token)
    assert flow.authorize("GET /api/v1/auth/me", authorization=f"Bearer {token}") is not None


def sign_in_with_a_session(flow: Flow) -> None:
    credentials = {"username": "alice", "password": PASSWORD}
    created = flow.call_api("POST", "/api/v1/auth/sessions", body={"passwordCredentials": credentials})
    assert created["statusCode"] == 200
    cookie = next(c.split(";")[0] for c in created["cookies"] if c.startswith("user_session="))
    flow.saw(cookie.partition("=")[2])
    assert flow.authorize("GET /api/v1/auth/me", cookies=[cookie]) is not None


def present_bad_credentials(flow: Flow) -> None:
    tampered = flow.access_token[:-4] + "AAAA"
    flow.saw(tampered)
    assert flow.authorize("GET /api/v1/auth/me", authorization=f"Bearer {tampered}") is None
    assert flow.authorize("GET /api/v1/auth/me") is None


# The flow the log scan runs, in order: every credential kind is created and used.
FLOW_STEPS: list[Callable[[Flow], None]] = [
    sign_up,
    fail_sign_in,
    sign_in,
    use_access_token,
    refresh_then_reuse,
    sign_out,
    create_and_use_a_pat,
    sign_in_with_a_session,
    present_bad_credentials,
]


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    """Every line the shared Logger writes, at DEBUG, while the test runs."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous_stream, previous_level = handler.stream, logger.log_level
    handler.setStream(buffer)
    logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        handler.setStream(previous_stream)
        logger.setLevel(previous_level)


@pytest.fixture
def deployed(aws: dict[str, Any], clock: FakeClock, config: Config) -> Iterator[dict[str, Any]]:
    """The handlers' containers, wired as in Lambda but on moto and a fake clock."""
    clients = (aws["dynamodb"], aws["secretsmanager"])
    api_context.services.replace(build_api_services(config, clock, *clients, audit=LoggerAudit(logger)))
    authorizer.services.replace(build_authorizer_services(config, clock, *clients, audit=LoggerAudit(logger)))
    try:
        yield aws
    finally:
        api_context.services.replace()
        authorizer.services.replace()


def run_flow(capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO) -> tuple[Flow, list[str]]:
    capsys.readouterr()
    flow = Flow()
    for step in FLOW_STEPS:
        step(flow)
    printed = capsys.readouterr()
    lines = [*log_buffer.getvalue().splitlines(), *printed.out.splitlines(), *printed.err.splitlines()]
    return flow, [line for line in lines if line.strip()]


def test_no_log_line_holds_a_password_token_key_or_hash(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO
) -> None:
    flow, lines = run_flow(capsys, log_buffer)
    key = json.loads(
        deployed["secretsmanager"].get_secret_value(SecretId="SigningKeySecret", VersionStage=CURRENT_STAGE)[
            "SecretString"
        ]
    )["key"]
    flow.secrets.append(key)
    assert len(lines) > 10, "the flow logged: the scan is not vacuous"
    assert len(flow.secrets) > 15
    for line in lines:
        for secret in flow.secrets:
            assert secret not in line, f"a secret reached a log line: {line[:200]}"


def test_every_credential_event_is_audited(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO
) -> None:
    _, lines = run_flow(capsys, log_buffer)
    audited = [line["audit_event"] for line in json_lines(lines) if "audit_event" in line]
    assert audited == [
        AuditEvent.CREATED,  # sign-up
        AuditEvent.REFUSED,  # a wrong password
        AuditEvent.CREATED,  # first sign-in
        AuditEvent.FIRST_USED,  # refresh (the second is no first use)
        AuditEvent.REUSE_REFUSED,  # the first token again, two rotations old
        AuditEvent.REVOKED,  # ... revokes its family
        AuditEvent.CREATED,  # second sign-in
        AuditEvent.REVOKED,  # sign-out
        AuditEvent.CREATED,  # third sign-in, to create a PAT
        AuditEvent.CREATED,  # the PAT
        AuditEvent.FIRST_USED,  # ... used (recorded by the authorizer)
        AuditEvent.CREATED,  # a session
        AuditEvent.FIRST_USED,  # ... used
    ]


def test_log_lines_carry_the_request_id_as_correlation_id(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO
) -> None:
    _, lines = run_flow(capsys, log_buffer)
    logged = [line for line in json_lines(lines) if "message" in line and "level" in line]
    assert logged
    assert all(str(line.get("correlation_id", "")).startswith("req-") for line in logged)


def test_metrics_count_sign_ins_failures_reuse_and_authorizer_decisions(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO
) -> None:
    _, lines = run_flow(capsys, log_buffer)
    metrics = emitted_metrics(lines)
    names = [name for name, _ in metrics]
    assert names.count(Metric.SIGN_INS) == 4  # three token sign-ins, one session sign-in
    assert names.count(Metric.SIGN_IN_FAILURES) == 1
    assert names.count(Metric.REFRESH_REUSE_DETECTED) == 1
    denials = sorted(document["reason"] for name, document in metrics if name == Metric.AUTHORIZER_DENIED)
    assert denials == [DenialReason.INVALID_CREDENTIAL, DenialReason.NO_CREDENTIAL]


def test_a_non_admin_on_an_admin_route_is_counted_as_route_forbidden(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO
) -> None:
    flow = Flow()
    sign_up(flow)  # the first user is the admin
    flow.call_api("POST", "/api/v1/users", body={"user": {"username": "bob", "password": PASSWORD}})
    credentials = {"username": "bob", "password": PASSWORD}
    signed_in = flow.call_api("POST", "/api/v1/auth/signin", body={"passwordCredentials": credentials})
    capsys.readouterr()
    token = body(signed_in)["accessToken"]
    assert flow.authorize("GET /api/v1/users", authorization=f"Bearer {token}") is None
    documents = [document for name, document in emitted_metrics(capsys.readouterr().out.splitlines())]
    assert [document.get("reason") for document in documents] == [DenialReason.ROUTE_FORBIDDEN]


def test_a_failing_dependency_is_counted_as_failed_closed(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO
) -> None:
    flow = Flow()
    sign_up(flow)
    sign_in(flow)
    deployed["dynamodb"].delete_table(TableName="UsersTable")
    capsys.readouterr()
    with pytest.raises(Exception, match="storage unavailable"):
        authorizer.handler(
            authorizer_event("GET /api/v1/auth/me", authorization=f"Bearer {flow.access_token}"),
            FakeLambdaContext(),
        )
    documents = [document for _, document in emitted_metrics(capsys.readouterr().out.splitlines())]
    assert [document.get("reason") for document in documents] == [DenialReason.FAILED_CLOSED]


def test_refusals_are_all_counted_but_logged_at_most_once_an_interval(
    capsys: pytest.CaptureFixture[str], log_buffer: io.StringIO
) -> None:
    clock = FakeClock()
    refusals = RefusalLog(interval=1.0, now=clock.now)
    capsys.readouterr()
    for _ in range(3):
        count_denial(DenialReason.INVALID_CREDENTIAL)
        refusals.refused("malformed token", "GET /api/v1/auth/me")
    clock.advance(1.0)
    count_denial(DenialReason.INVALID_CREDENTIAL)
    refusals.refused("invalid token", "GET /api/v1/auth/me")
    documents = [document for _, document in emitted_metrics(capsys.readouterr().out.splitlines())]
    assert [document["reason"] for document in documents] == [DenialReason.INVALID_CREDENTIAL] * 4
    assert all(document["AuthorizerDenied"] == [1.0] for document in documents)
    logged = [line for line in json_lines(log_buffer.getvalue().splitlines()) if line.get("message")]
    assert [(line["reason"], line["suppressed"]) for line in logged] == [
        ("malformed token", 0),
        ("invalid token", 2),
    ]
