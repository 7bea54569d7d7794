"""The OpenAPI document says what the API answers (tests/e2e/test_openapi_conformance.py
holds the API to it over HTTP; these catch a drift without a stack)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel

from auth.audit import CredentialKind
from auth.errors import AuthError, Internal, InvalidArgument
from auth.logins import Login
from auth.models import ClientInfo, Device, Role, State, TokenOwner, User
from auth.routes import ROUTE_ACCESS, ROUTES, Access
from auth.stores.pat_store import PatRecord
from auth.usernames import is_valid_username
from handlers import api as api_function
from handlers.bodies import LoginJson, PersonalAccessTokenJson, UserJson
from handlers.http_json import error_response, json_response
from handlers.openapi_document import SIGNED_IN, document_json

DOCUMENT = json.loads(document_json(api_function.app))
GATEWAY = {"$ref": "#/components/schemas/GatewayError"}
OPERATIONS = {
    f"{method.upper()} {path}": operation
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
}

ALICE = TokenOwner("alice", Role.USER, State.NORMAL)


def shapes(operation: dict[str, Any], status: str) -> list[dict[str, Any]]:
    """The body shapes documented for `status`; none when it is not documented."""
    if status not in operation["responses"]:
        return []
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    return schema.get("anyOf", [schema])


def test_no_422_is_promised_since_invalid_requests_are_400s() -> None:
    assert all("422" not in operation["responses"] for operation in OPERATIONS.values())
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]


@pytest.mark.parametrize("route_key", sorted(route.key for route in ROUTES))
def test_each_route_documents_its_credential_and_the_authorizers_refusals(route_key: str) -> None:
    operation, access = OPERATIONS[route_key], ROUTE_ACCESS[route_key]
    assert {"200", "400", "500"} <= set(operation["responses"])
    refusals = {status: GATEWAY in shapes(operation, status) for status in ("401", "403")}
    if access is Access.PUBLIC:
        assert refusals == {"401": False, "403": False}
        assert operation.get("security") != SIGNED_IN
    else:
        assert operation["security"] == SIGNED_IN
        assert refusals == {"401": True, "403": access is Access.ADMIN}


def test_only_the_sign_in_throttle_promises_retry_after() -> None:
    throttled = {key for key, operation in OPERATIONS.items() if "headers" in operation["responses"]["429"]}
    # SPEC §8: linking exchanges a code, throttled like a sign-in with one.
    assert throttled == {
        "POST /api/v1/auth/signin",
        "POST /api/v1/auth/sessions",
        "POST /api/v1/users/{username}/linkedIdentities",
    }


USER = User(
    1, "alice", Role.USER, State.NORMAL, "hash", "Alice", "a@example.com", 1_800_000_000, 1_800_000_009
)
CLIENT = ClientInfo(user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", ip_address="203.0.113.7")
LOGIN = Login("id", CredentialKind.SESSION, 1, 2, 3, CLIENT, Device("Desktop", "Linux", "Firefox 128"))


BODIES = [
    ("UserJson", UserJson.of(USER, include_email=True)),
    ("UserJson", UserJson.of(USER, include_email=False)),
    (
        "PersonalAccessTokenJson",
        PersonalAccessTokenJson.of("alice", PatRecord("h", "t", 1, "ci", 1, None, None, ALICE)),
    ),
    (
        "PersonalAccessTokenJson",
        PersonalAccessTokenJson.of("alice", PatRecord("h", "t", 1, "ci", 1, 2, 3, ALICE)),
    ),
    ("LoginJson", LoginJson.of("alice", LOGIN)),
]


def sent(body: BaseModel) -> Any:
    """The JSON a route sends for `body`, as a client reads it."""
    return json.loads(json.dumps(json_response(body).body))


@pytest.mark.parametrize(("schema", "body"), BODIES)
def test_what_a_route_sends_is_what_the_document_describes(schema: str, body: BaseModel) -> None:
    # The served document's own schema (refs resolved in it), not the model: the two must agree.
    document_schema = {"$ref": f"#/components/schemas/{schema}", "components": DOCUMENT["components"]}
    assert jsonschema_rs.validator_for(document_schema).is_valid(sent(body))


ERROR_INFO = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "EXAMPLE", "domain": "memos"}


@pytest.mark.parametrize(
    "error",
    [InvalidArgument("bad"), Internal("secret detail"), InvalidArgument("bad", details=[ERROR_INFO])],
    ids=["no details", "internal", "an ErrorInfo"],
)
def test_an_error_answer_is_what_the_document_describes(error: AuthError) -> None:
    document_schema = {"$ref": "#/components/schemas/Error", "components": DOCUMENT["components"]}
    body = json.loads(json.dumps(error_response(error).body))
    assert jsonschema_rs.validator_for(document_schema).is_valid(body)
    # The google.rpc.Status shape: `details` is always there, so the document requires it.
    assert set(body) == {"code", "message", "details"}
    assert set(DOCUMENT["components"]["schemas"]["Error"]["required"]) == {"code", "message", "details"}


def test_times_are_rfc_3339_utc_and_absent_fields_are_left_out() -> None:
    user = sent(UserJson.of(USER, include_email=False))
    assert user["createTime"] == "2027-01-15T08:00:00Z"
    assert user["updateTime"] == "2027-01-15T08:00:09Z"
    assert "email" not in user
    assert sent(UserJson.of(USER, include_email=True))["email"] == "a@example.com"
    token = sent(PersonalAccessTokenJson.of("alice", PatRecord("h", "t", 1, "ci", 1, None, None, ALICE)))
    assert set(token) == {"name", "description", "createdAt"}


USERNAMES = ["a", "a" * 36, "a" * 37, "al-ice", "-alice", "alice-", "al ice", "ålice", "alice\n", ""]


@pytest.mark.parametrize("username", USERNAMES)
def test_the_documented_username_rule_is_the_domains(username: str) -> None:
    rule = DOCUMENT["components"]["schemas"]["NewUser"]["properties"]["username"]
    # A JSON Schema validator, not `re`: its `$` does not match before a final newline.
    assert jsonschema_rs.validator_for(rule).is_valid(username) is is_valid_username(username)


def test_the_routes_that_set_the_session_cookie_document_it() -> None:
    setting = {key for key, operation in OPERATIONS.items() if "headers" in operation["responses"]["200"]}
    # SPEC §1: sign-in sets it; the current session's answer slides the browser's copy.
    assert setting == {"POST /api/v1/auth/sessions", "GET /api/v1/auth/sessions/current"}
    for key in setting:
        assert set(OPERATIONS[key]["responses"]["200"]["headers"]) == {"Set-Cookie"}


def test_the_routes_that_need_a_recent_sign_in_document_the_challenge() -> None:
    challenged = {
        key
        for key, operation in OPERATIONS.items()
        if "WWW-Authenticate" in operation["responses"].get("401", {}).get("headers", {})
    }
    assert challenged == {
        "PATCH /api/v1/users/{username}",
        "DELETE /api/v1/users/{username}",
        "POST /api/v1/users/{username}/personalAccessTokens",
        # SPEC §7: every enrolment or removal made by the user themself.
        "POST /api/v1/users/{username}/totp",
        "POST /api/v1/users/{username}/totp/confirm",
        "DELETE /api/v1/users/{username}/totp",
        "POST /api/v1/users/{username}/recoveryCodes",
        # SPEC §8: linking and unlinking an identity.
        "POST /api/v1/users/{username}/linkedIdentities",
        "DELETE /api/v1/users/{username}/linkedIdentities/{id}",
        "POST /api/v1/users/{username}/passkeys/registration",
        "POST /api/v1/users/{username}/passkeys",
        "DELETE /api/v1/users/{username}/passkeys/{id}",
        # A provider decides who signs in as whom (its links stay through a change).
        "POST /api/v1/identity-providers",
        "PATCH /api/v1/identity-providers/{id}",
    }


def test_the_user_change_documents_its_update_mask() -> None:
    # Memos' UpdateUser takes it as a query parameter, by its JSON name or its proto name.
    parameters = OPERATIONS["PATCH /api/v1/users/{username}"]["parameters"]
    masks = {parameter["name"]: parameter for parameter in parameters if parameter["in"] == "query"}
    assert set(masks) == {"updateMask", "update_mask"}
    assert not any(mask["required"] for mask in masks.values())
    assert "display_name" in masks["updateMask"]["description"]
