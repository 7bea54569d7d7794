"""SPEC §3: the API function's routes for sign-up, sign-in, refresh, sign-out and me."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from auth import untrusted_json
from auth.errors import Internal, InvalidArgument
from auth.wiring import ApiServices
from handlers import api as api_function
from handlers.api_context import services
from handlers.http_json import error_body, to_json
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext, http_event
from tests.support.people import context_for

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def wired(api: ApiServices) -> Iterator[None]:
    services.replace(api)
    yield
    services.replace(None)


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    response = api_function.handler(event, FakeLambdaContext())
    body = json.loads(response["body"]) if response.get("body") else {}
    return response["statusCode"], body, response


def sign_up(username: str = "alice", password: str = PASSWORD, **extra: Any) -> tuple[int, dict[str, Any]]:
    status, body, _ = call(
        http_event(
            "POST", "/api/v1/users", body={"user": {"username": username, "password": password, **extra}}
        )
    )
    return status, body


def sign_in(username: str = "alice", password: str = PASSWORD, **kwargs: Any) -> dict[str, Any]:
    return api_function.handler(
        http_event(
            "POST",
            "/api/v1/auth/signin",
            body={"passwordCredentials": {"username": username, "password": password}},
            **kwargs,
        ),
        FakeLambdaContext(),
    )


def refresh_cookie(response: dict[str, Any]) -> str:
    (cookie,) = [c for c in response["cookies"] if c.startswith("memos_refresh=")]
    return cookie.split(";", 1)[0]


def users_in_table(aws: dict[str, Any]) -> int:
    return aws["dynamodb"].scan(TableName="UsersTable")["Count"]


def test_sign_up_returns_the_user_without_secrets() -> None:
    status, body = sign_up(displayName="Alice", email="alice@example.com")
    assert status == 200
    assert body["name"] == "users/alice" and body["role"] == "ADMIN" and body["state"] == "NORMAL"
    assert body["displayName"] == "Alice" and body["email"] == "alice@example.com"
    assert body["createTime"].endswith("Z")
    assert not {"password", "passwordHash"} & set(body)


def test_second_sign_up_is_a_user() -> None:
    sign_up("alice")
    assert sign_up("bob")[1]["role"] == "USER"


# Depths from past MAX_DEPTH to where json.loads itself gives up, through the band where
# only a second parse from deeper in the stack would.
UNDER_THE_RECURSION_LIMITS = (untrusted_json.MAX_DEPTH, 500, *range(940, 1000, 5))


@pytest.mark.parametrize(
    "raw_body",
    [
        "{not json",
        "[]",
        json.dumps({}),
        json.dumps({"user": {"username": "alice"}}),
        json.dumps({"user": {"password": PASSWORD}}),
        json.dumps({"user": {"username": "-alice-", "password": PASSWORD}}),
        json.dumps({"user": {"username": "alice", "password": "short"}}),
        json.dumps({"user": {"username": "alice", "password": "x" * 73}}),
        json.dumps({"user": {"username": 42, "password": PASSWORD}}),
        json.dumps({"user": {"username": "alice", "password": PASSWORD, "displayName": 5}}),
        json.dumps({"user": {"username": "alice", "password": PASSWORD, "email": "a" * 10_000}}),
        # Powertools alone would sign alice up from the array's first element.
        json.dumps([{"user": {"username": "alice", "password": PASSWORD}}]),
        # Deeper than the interpreter's recursion limit, well within the size limit.
        "[" * 30_000 + "]" * 30_000,
        # An object nested just under it: parsed once near the stack's bottom, it would
        # overflow when Powertools parses it again from deeper (a 500 at ~980 levels).
        *('{"user": ' + "[" * depth + "]" * depth + "}" for depth in UNDER_THE_RECURSION_LIMITS),
    ],
)
def test_bad_sign_up_is_a_400_in_spec_shape_and_changes_nothing(aws: dict[str, Any], raw_body: str) -> None:
    status, body, _ = call(http_event("POST", "/api/v1/users", body=raw_body))
    assert status == 400
    assert body["code"] == 3 and isinstance(body["message"], str) and body["message"]
    assert users_in_table(aws) == 0


TOO_COMMON = {"code": 3, "message": "password is too common", "details": []}


@pytest.mark.parametrize("password", ["password", "12345678", "Password1", "qwertyuiop"])
def test_a_common_password_is_refused_at_sign_up(aws: dict[str, Any], password: str) -> None:
    assert sign_up("alice", password) == (400, TOO_COMMON)
    assert users_in_table(aws) == 0


def test_a_strong_random_password_is_accepted_at_sign_up() -> None:
    password = secrets.token_urlsafe(18)
    assert sign_up("alice", password)[0] == 200
    assert json.loads(sign_in("alice", password)["body"])["user"]["username"] == "alice"


def test_error_messages_never_echo_the_password() -> None:
    secret = "hunter2-but-longer-than-72-bytes-" * 3
    status, body, _ = call(
        http_event("POST", "/api/v1/users", body={"user": {"username": "ok", "password": secret}})
    )
    assert status == 400 and secret not in json.dumps(body)


@pytest.mark.parametrize(
    "event",
    [
        # Refused before routing (http_json.error_body), by the domain, by validation, no route.
        http_event("POST", "/api/v1/users", body="x" * 1_000_000),
        http_event("POST", "/api/v1/users", body={"user": {"username": "-x-", "password": PASSWORD}}),
        http_event("POST", "/api/v1/users", body={"user": {"username": 42, "password": PASSWORD}}),
        http_event("GET", "/api/v1/nowhere", route="GET /api/v1/nowhere"),
    ],
    ids=["refused body", "domain rule", "validation", "no such route"],
)
def test_every_error_is_a_google_rpc_status_with_empty_details(event: dict[str, Any]) -> None:
    status, body, _ = call(event)
    assert 400 <= status < 500
    assert set(body) == {"code", "message", "details"} and body["details"] == []


@pytest.mark.parametrize(
    "event",
    [
        http_event("POST", "/api/v1/users", body="x" * 1_000_000),
        http_event("POST", "/api/v1/users", body={"user": {"username": "-x-", "password": PASSWORD}}),
        http_event("POST", "/api/v1/users", body={"user": {"username": "spelled", "password": PASSWORD}}),
        http_event("GET", "/api/v1/openapi.json", route="GET /api/v1/openapi.json"),
    ],
    ids=["refused before routing", "domain error", "a route's answer", "the OpenAPI document"],
)
def test_every_body_is_spelled_one_way(event: dict[str, Any]) -> None:
    # One JSON spelling whoever writes the body: the resolver, the pre-routing refusal, the document.
    _, body, response = call(event)
    assert response["body"] == to_json(body)


def test_an_errors_details_are_answered_but_never_an_internal_errors() -> None:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "MFA_REQUIRED", "domain": "memos"}
    assert error_body(InvalidArgument("needs more", details=[info])) == to_json(
        {"code": 3, "message": "needs more", "details": [info]}
    )
    assert json.loads(error_body(Internal("inside", details=[info]))) == {
        "code": 13,
        "message": "internal error",
        "details": [],
    }
    assert InvalidArgument("no details").details == []


def test_a_body_that_is_not_utf8_is_a_400(aws: dict[str, Any]) -> None:
    event = http_event("POST", "/api/v1/users", body=base64.b64encode(b'{"user": "\xff"}').decode())
    event["isBase64Encoded"] = True
    status, body, _ = call(event)
    assert (status, body["code"]) == (400, 3)
    assert users_in_table(aws) == 0


def test_a_body_whose_json_is_no_unicode_text_is_a_400_before_any_route(aws: dict[str, Any]) -> None:
    # `\ud800` is valid JSON; the string it decodes to is no text any store takes.
    body = json.dumps({"user": {"username": "alice", "password": PASSWORD, "displayName": "A\ud800"}})
    status, answer, _ = call(http_event("POST", "/api/v1/users", body=body))
    assert (status, answer["message"]) == (400, "request body must be a JSON object in UTF-8")
    assert users_in_table(aws) == 0


def test_one_megabyte_body_is_refused(aws: dict[str, Any]) -> None:
    status, body, _ = call(http_event("POST", "/api/v1/users", body="x" * 1_000_000))
    assert (status, body["code"]) == (400, 3)
    assert users_in_table(aws) == 0


def test_a_form_encoded_body_is_refused_with_a_clear_message(aws: dict[str, Any]) -> None:
    event = http_event(
        "POST",
        "/api/v1/users",
        body="user=alice",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    status, body, _ = call(event)
    assert (status, body["code"]) == (400, 3) and "JSON" in body["message"]
    assert users_in_table(aws) == 0


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/json; charset=UTF-8"])
@pytest.mark.parametrize("header_name", ["content-type", "Content-Type"])
def test_a_json_media_type_is_json_in_any_case(header_name: str, content_type: str) -> None:
    event = http_event("POST", "/api/v1/users", body={"user": {"username": "alice", "password": PASSWORD}})
    event["headers"] = {header_name: content_type}
    status, body, _ = call(event)
    assert (status, body["name"]) == (200, "users/alice")


@pytest.mark.parametrize("header_name", ["content-type", "Content-Type"])
@pytest.mark.parametrize("body", [None, ""])
def test_a_route_that_takes_a_body_called_with_none_and_another_media_type_is_a_400(
    aws: dict[str, Any], header_name: str, body: str | None
) -> None:
    event = http_event("POST", "/api/v1/users", body=body)
    event["headers"] = {header_name: "text/plain"}
    status, answer, _ = call(event)
    assert (status, answer["code"]) == (400, 3) and "JSON" in answer["message"]
    assert users_in_table(aws) == 0


@pytest.mark.parametrize("media_type", ["text/plain", "application/jsonx", "application/json-patch+json"])
def test_a_capitalised_content_type_header_that_is_not_json_is_refused(
    aws: dict[str, Any], media_type: str
) -> None:
    event = http_event("POST", "/api/v1/users", body='{"user": {"username": "alice"}}')
    event["headers"] = {"Content-Type": media_type}
    status, answer, _ = call(event)
    assert (status, answer["code"]) == (400, 3) and "JSON" in answer["message"]
    assert users_in_table(aws) == 0


def test_duplicate_username_is_409() -> None:
    sign_up("alice")
    status, body = sign_up("alice")
    assert (status, body["code"]) == (409, 6)


def test_sign_in_returns_tokens_and_sets_the_refresh_cookie() -> None:
    sign_up()
    response = sign_in()
    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert body["user"]["username"] == "alice" and body["accessToken"].count(".") == 2
    assert body["accessTokenExpiresAt"].endswith("Z")
    (cookie,) = response["cookies"]
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0].startswith("memos_refresh=ey")
    assert {"Path=/", "HttpOnly", "SameSite=Lax"} <= set(attributes)
    assert "Secure" not in attributes, "plain HTTP on the local stage"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-proto": "https"},
        {"forwarded": "for=1.2.3.4;proto=https"},
        {"origin": "https://app.example"},
    ],
)
def test_cookie_is_secure_over_https(headers: dict[str, str]) -> None:
    sign_up()
    (cookie,) = sign_in(headers=headers)["cookies"]
    assert "; Secure" in cookie


def test_cookie_is_secure_off_the_local_stage(api: ApiServices) -> None:
    from dataclasses import replace

    services.replace(api.with_config(replace(api.config, stage="dev")))
    sign_up()
    (cookie,) = sign_in()["cookies"]
    assert "; Secure" in cookie


def test_wrong_password_and_unknown_user_get_the_same_400() -> None:
    sign_up()
    answers = [json.loads(sign_in("alice", "wrong password")["body"]), json.loads(sign_in("nobody")["body"])]
    assert (
        answers[0]
        == answers[1]
        == {
            "code": 3,
            "message": "unmatched username and password",
            "details": [],
        }
    )


def test_refresh_rotates_the_cookie_and_reuse_revokes_the_family(api: ApiServices, clock: FakeClock) -> None:
    sign_up()
    first = refresh_cookie(sign_in())
    rotated = api_function.handler(
        http_event("POST", "/api/v1/auth/refresh", cookies=[first]), FakeLambdaContext()
    )
    assert rotated["statusCode"] == 200 and json.loads(rotated["body"])["accessToken"]
    second = refresh_cookie(rotated)
    assert second != first
    # Past the retry grace (tests/unit/test_refresh.py covers the inside of it).
    clock.advance(api.config.refresh_reuse_grace)
    reused = api_function.handler(
        http_event("POST", "/api/v1/auth/refresh", cookies=[first]), FakeLambdaContext()
    )
    assert reused["statusCode"] == 401 and json.loads(reused["body"])["code"] == 16
    assert any(c.startswith("memos_refresh=;") and "1970" in c for c in reused["cookies"])
    newest = api_function.handler(
        http_event("POST", "/api/v1/auth/refresh", cookies=[second]), FakeLambdaContext()
    )
    assert newest["statusCode"] == 401


def test_refresh_without_a_cookie_is_401() -> None:
    status, body, _ = call(http_event("POST", "/api/v1/auth/refresh"))
    assert (status, body["code"]) == (401, 16)


def caller_context(api: ApiServices, username: str) -> dict[str, str]:
    user = api.users.get_by_username(username)
    assert user is not None
    return context_for(user)


def test_me_returns_the_caller(api: ApiServices) -> None:
    sign_up(email="alice@example.com")
    status, body, _ = call(http_event("GET", "/api/v1/auth/me", authorizer=caller_context(api, "alice")))
    assert (
        status == 200 and body["user"]["username"] == "alice" and body["user"]["email"] == "alice@example.com"
    )


def test_me_without_an_authorizer_context_is_401() -> None:
    status, body, _ = call(http_event("GET", "/api/v1/auth/me"))
    assert (status, body["code"]) == (401, 16)


def test_sign_out_revokes_the_refresh_token_and_clears_the_cookie(api: ApiServices) -> None:
    sign_up()
    cookie = refresh_cookie(sign_in())
    out = api_function.handler(
        http_event("POST", "/api/v1/auth/signout", cookies=[cookie], authorizer=caller_context(api, "alice")),
        FakeLambdaContext(),
    )
    assert out["statusCode"] == 200 and json.loads(out["body"]) == {}
    assert any(c.startswith("memos_refresh=;") and "Expires=Thu, 01 Jan 1970" in c for c in out["cookies"])
    again = api_function.handler(
        http_event("POST", "/api/v1/auth/refresh", cookies=[cookie]), FakeLambdaContext()
    )
    assert again["statusCode"] == 401


def test_every_response_carries_no_store_and_security_headers() -> None:
    events = (
        http_event("GET", "/api/v1/instance/settings"),
        http_event("POST", "/api/v1/users", body="{"),
        http_event("GET", "/api/v1/nowhere"),
    )
    for event in events:
        _, _, response = call(event)
        headers = response["headers"]
        assert headers["Cache-Control"] == "no-store"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_unknown_route_is_404_in_spec_shape() -> None:
    status, body, _ = call(http_event("GET", "/api/v1/nowhere"))
    assert (status, body["code"]) == (404, 5)


def test_openapi_document_lists_the_routes() -> None:
    status, body, _ = call(http_event("GET", "/api/v1/openapi.json"))
    assert status == 200 and body["openapi"].startswith("3.")
    assert {"/api/v1/users", "/api/v1/auth/signin", "/api/v1/auth/refresh"} <= set(body["paths"])
