"""SPEC §4: the authorizer's answers, called as Lambda calls it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.stub import Stubber

from auth.config import Config
from auth.models import ClientInfo, SignIn, State
from auth.stores.user_store import user_to_item
from auth.wiring import ApiServices, AuthorizerServices
from handlers import authorizer
from handlers.observability import DenialReason, Metric
from tests.support.clock import START, FakeClock
from tests.support.events import FakeLambdaContext, authorizer_event
from tests.support.metrics import emitted_metrics

PASSWORD = "correct horse battery"
ME = "GET /api/v1/auth/me"


@pytest.fixture(autouse=True)
def wired(authorizer_services: AuthorizerServices) -> Iterator[None]:
    authorizer.services.replace(authorizer_services)
    yield
    authorizer.services.replace(None)


def call(event: dict[str, Any]) -> dict[str, Any]:
    return authorizer.handler(event, FakeLambdaContext())


def access_token(api: ApiServices, username: str) -> str:
    user = api.users.get_by_username(username) or api.accounts.sign_up(username, PASSWORD)
    return api.access_tokens.issue(user, SignIn.with_password(api.clock.now())).token


def test_valid_access_token_is_allowed_with_flat_string_context(api: ApiServices) -> None:
    token = access_token(api, "alice")
    answer = call(authorizer_event(ME, f"Bearer {token}"))
    assert answer["isAuthorized"] is True
    assert answer["context"] == {
        "userId": "1",
        "username": "alice",
        "role": "ADMIN",
        "authMethod": "access_token",
        "credentialId": "",
        # SPEC §4: the sign-in the token descends from, for routes that need a recent one.
        "authTime": str(int(START)),
        "amr": "pwd",
    }


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer not.a.token", "Bearer a b"],
)
def test_missing_or_garbage_credentials_are_unauthorized(api: ApiServices, authorization: str | None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, authorization))


def denials(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The reasons of the denials the authorizer counted since stdout was last read."""
    metrics = emitted_metrics(capsys.readouterr().out.splitlines())
    return [document["reason"] for name, document in metrics if name == Metric.AUTHORIZER_DENIED]


# A lone surrogate (a JSON event may carry one: "\ud800") cannot even be encoded as UTF-8.
NOT_ASCII = ["\ud800", "\u00e9"]


@pytest.mark.parametrize("character", NOT_ASCII, ids=["lone surrogate", "e acute"])
@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
def test_a_token_holding_a_non_ascii_character_is_an_invalid_credential_not_a_failure(
    api: ApiServices, capsys: pytest.CaptureFixture[str], character: str, segment: int
) -> None:
    parts = access_token(api, "alice").split(".")
    parts[segment] = parts[segment][:5] + character + parts[segment][5:]
    capsys.readouterr()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, "Bearer " + ".".join(parts)))
    assert denials(capsys) == [DenialReason.INVALID_CREDENTIAL]


@pytest.mark.parametrize("character", NOT_ASCII, ids=["lone surrogate", "e acute"])
def test_a_pat_or_session_cookie_holding_a_non_ascii_character_is_an_invalid_credential(
    api: ApiServices, capsys: pytest.CaptureFixture[str], character: str
) -> None:
    alice = api.accounts.sign_up("alice", PASSWORD)
    _, pat = api.pats.create(alice, "ci", 0)
    _, cookie = api.sessions.create(alice, ClientInfo())
    capsys.readouterr()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, f"Bearer {pat[:-1]}{character}"))
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, cookies=[f"user_session={cookie[:-1]}{character}"]))
    assert denials(capsys) == [DenialReason.INVALID_CREDENTIAL] * 2


def test_a_session_cookie_sent_twice_is_counted_as_an_invalid_credential(
    api: ApiServices, capsys: pytest.CaptureFixture[str]
) -> None:
    _, cookie = api.sessions.create(api.accounts.sign_up("alice", PASSWORD), ClientInfo())
    capsys.readouterr()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, cookies=[f"user_session={cookie}"] * 2))
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME))
    # A forged copy next to the real one is a credential presented, not none.
    assert denials(capsys) == [DenialReason.INVALID_CREDENTIAL, DenialReason.NO_CREDENTIAL]


def test_expired_token_is_unauthorized(api: ApiServices, clock: FakeClock) -> None:
    token = access_token(api, "alice")
    clock.advance(api.config.access_token_ttl)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, f"Bearer {token}"))


def test_admin_route_refuses_a_user_with_403(api: ApiServices) -> None:
    access_token(api, "admin")
    token = access_token(api, "bob")
    assert call(authorizer_event("GET /api/v1/users", f"Bearer {token}")) == {"isAuthorized": False}


def test_admin_route_admits_an_admin(api: ApiServices) -> None:
    token = access_token(api, "admin")
    assert call(authorizer_event("GET /api/v1/users", f"Bearer {token}"))["isAuthorized"] is True


def test_unknown_route_is_never_allowed(api: ApiServices) -> None:
    token = access_token(api, "admin")
    assert call(authorizer_event("GET /api/v1/secret", f"Bearer {token}")) == {"isAuthorized": False}


def test_archived_user_is_locked_out_within_the_revocation_lag(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config
) -> None:
    token = access_token(api, "alice")
    assert call(authorizer_event(ME, f"Bearer {token}"))["isAuthorized"]
    user = api.users.get_by_username("alice")
    assert user is not None
    aws["dynamodb"].put_item(TableName="UsersTable", Item=user_to_item(replace(user, state=State.ARCHIVED)))
    clock.advance(config.revocation_lag)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, f"Bearer {token}"))


@pytest.mark.parametrize("change", ["archived", "password changed"])
def test_a_token_remembered_by_the_container_still_sees_its_user_change(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, change: str
) -> None:
    # Alice's record is read at t; a second token, first seen at t + 5, is remembered until
    # t + 15, but her record is read again at t + 10 and that read decides.
    assert call(authorizer_event(ME, f"Bearer {access_token(api, 'alice')}"))["isAuthorized"]
    clock.advance(config.revocation_lag / 2)
    token = access_token(api, "alice")
    assert call(authorizer_event(ME, f"Bearer {token}"))["isAuthorized"]
    user = api.users.get_by_username("alice")
    assert user is not None
    changed = (
        replace(user, state=State.ARCHIVED)
        if change == "archived"
        else replace(user, tokens_not_before=int(clock.now()) + 1)
    )
    aws["dynamodb"].put_item(TableName="UsersTable", Item=user_to_item(changed))
    clock.advance(config.revocation_lag / 2)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, f"Bearer {token}"))


def test_deleted_user_is_unauthorized(api: ApiServices, aws: dict[str, Any], clock: FakeClock) -> None:
    token = access_token(api, "alice")
    aws["dynamodb"].delete_item(TableName="UsersTable", Key={"pk": {"S": "user#1"}})
    clock.advance(api.config.revocation_lag)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        call(authorizer_event(ME, f"Bearer {token}"))


def test_dynamodb_failure_fails_closed(api: ApiServices, aws: dict[str, Any]) -> None:
    token = access_token(api, "alice")
    with Stubber(aws["dynamodb"]) as stub:
        stub.add_client_error("get_item", "ProvisionedThroughputExceededException", http_status_code=400)
        with pytest.raises(Exception) as failure:
            call(authorizer_event(ME, f"Bearer {token}"))
    # Not 'Unauthorized': API Gateway answers 500, and the client keeps its good token.
    assert str(failure.value) != "Unauthorized"


def test_secrets_manager_failure_fails_closed(aws: dict[str, Any], config: Config, clock: FakeClock) -> None:
    from auth.wiring import build_authorizer_services

    authorizer.services.replace(
        build_authorizer_services(config, clock, aws["dynamodb"], aws["secretsmanager"])
    )
    with Stubber(aws["secretsmanager"]) as stub:
        stub.add_client_error("get_secret_value", "InternalServiceError", http_status_code=500)
        with pytest.raises(Exception) as failure:
            call(authorizer_event(ME, "Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6InYxIn0.e30.x"))
    assert str(failure.value) != "Unauthorized"


def test_demo_mode_on_prod_never_allows(aws: dict[str, Any], clock: FakeClock) -> None:
    from auth.errors import Internal
    from auth.wiring import build_authorizer_services

    with pytest.raises(Internal):
        build_authorizer_services(Config(demo=True, stage="prod"), clock, aws["dynamodb"], None)
