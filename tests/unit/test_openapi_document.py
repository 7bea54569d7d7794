"""The OpenAPI document says what the API answers (tests/e2e/test_openapi_conformance.py
holds the API to it over HTTP; these catch a drift without a stack)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel

from auth.access import ROUTE_ACCESS, Access
from auth.logins import Login, LoginKind
from auth.models import ClientInfo, Device, Role, State, TokenOwner, User
from auth.stores.personal_access_tokens import PatRecord
from auth.usernames import is_valid_username
from handlers import api as api_function
from handlers import response_bodies as bodies
from handlers.openapi_document import SIGNED_IN, document_json
from handlers.views import login_view, pat_view, user_view

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


@pytest.mark.parametrize("route_key", sorted(ROUTE_ACCESS))
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
    assert throttled == {"POST /api/v1/auth/signin", "POST /api/v1/auth/sessions"}


USER = User(
    1, "alice", Role.USER, State.NORMAL, "hash", "Alice", "a@example.com", 1_800_000_000, 1_800_000_009
)
CLIENT = ClientInfo(user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", ip_address="203.0.113.7")
LOGIN = Login("id", LoginKind.SESSION, 1, 2, 3, CLIENT, Device("Desktop", "Linux", "Firefox 128"))


@pytest.mark.parametrize(
    ("model", "view"),
    [
        (bodies.User, user_view(USER, include_email=True)),
        (bodies.User, user_view(USER, include_email=False)),
        (
            bodies.PersonalAccessToken,
            pat_view(
                "alice",
                PatRecord("h", "t", 1, "ci", 1, None, None, ALICE),
            ),
        ),
        (bodies.PersonalAccessToken, pat_view("alice", PatRecord("h", "t", 1, "ci", 1, 2, 3, ALICE))),
        (bodies.Login, login_view("alice", LOGIN)),
    ],
)
def test_views_have_the_documented_shape(model: type[BaseModel], view: dict[str, Any]) -> None:
    # JSON mode, as a client reads them; extra="forbid" refuses an undocumented field.
    model.model_validate_json(json.dumps(view), strict=True)


USERNAMES = ["a", "a" * 36, "a" * 37, "al-ice", "-alice", "alice-", "al ice", "ålice", "alice\n", ""]


@pytest.mark.parametrize("username", USERNAMES)
def test_the_documented_username_rule_is_the_domains(username: str) -> None:
    rule = DOCUMENT["components"]["schemas"]["NewUser"]["properties"]["username"]
    # A JSON Schema validator, not `re`: its `$` does not match before a final newline.
    assert jsonschema_rs.validator_for(rule).is_valid(username) is is_valid_username(username)
