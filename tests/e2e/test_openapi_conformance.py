"""Schemathesis against the API's own OpenAPI document: no 5xx, and every answer (status,
content type, headers, body) is one the document describes.

The suite runs on a stack of its own: it changes instance settings as an admin, signs up
users by the dozen and fails sign-ins until its address is throttled, none of which the
other end-to-end files sharing a session stack should have to survive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

from auth.routes import ROUTE_ACCESS, Access
from devstack.stack import LocalStack
from handlers import api as api_function
from handlers.openapi_document import document_json
from tests.e2e.conftest import PASSWORD, Api
from tests.support.local_stacks import local_stack
from tests.support.sso import oauth2_body

pytestmark = pytest.mark.e2e

# The document as the API function builds it; `test_the_stack_serves_this_document`
# proves it is the one the stack serves. (schemathesis.pytest.from_fixture, which could
# load it from the stack, fails on pytest 9: it sets Node._nodeid, which is gone.)
DOCUMENT = json.loads(document_json(api_function.app))
CONFIG = schemathesis.Config.from_dict(
    {
        # The same cases on every run (no example database to replay), and few enough of
        # them to stay well under a minute on two cores.
        "generation": {"deterministic": True, "database": "none", "max-examples": 10},
        # Generating data slowly on a busy machine is no fault of the API.
        "suppress-health-check": ["too_slow"],
        "checks": {
            # Checks that cannot hold for this API by contract, and why:
            # - a well-formed request may be refused with 400 on purpose: Memos answers an
            #   unknown user or a wrong password with 400, and the 72-byte password limit
            #   counts UTF-8 bytes, which JSON Schema cannot state;
            "positive_data_acceptance": {"enabled": False},
            # - an undocumented method should get 405, but API Gateway HTTP APIs answer any
            #   request no route matches with 404 {"message":"Not Found"}.
            "unsupported_method": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@dataclass
class Caller:
    """Who calls one operation: a user of its own, so that what one operation does (delete
    the user, change their password, end their sessions) cannot spoil another. `path` holds
    the values for its path parameters: that user's name, token id, login id."""

    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)


AUTHORIZATION = "authorization"
CREDENTIAL_COOKIES = ("user_session", "memos_refresh")
# Filled by the `callers` fixture, read by `OwnCredentials`: Schemathesis builds auth
# providers itself, so they cannot take fixtures.
CALLERS: dict[str, Caller] = {}


@schema.auth(refresh_interval=None)  # no caching: each operation has a caller of its own
class OwnCredentials:
    """The operation's caller's credential, where the document asks for one. Going through
    Schemathesis (not plain request headers) lets it leave the credential out of the cases
    that test its absence, and strip it for the `ignored_auth` probes."""

    def get(self, case: Case, context: schemathesis.AuthContext) -> Caller | None:
        caller = CALLERS.get(case.operation.label)
        return caller if caller is not None and (caller.headers or caller.cookies) else None

    def set(self, case: Case, data: Caller, context: schemathesis.AuthContext) -> None:
        # Replaces whatever credential was generated: the authorizer reads a bearer header
        # before a cookie, so a generated one would hide the caller's session.
        headers = {key: value for key, value in (case.headers or {}).items() if key.lower() != AUTHORIZATION}
        cookies = {key: value for key, value in (case.cookies or {}).items() if key not in CREDENTIAL_COOKIES}
        case.headers = {**headers, **data.headers}  # type: ignore[assignment]  # a dict, as schemathesis' own auth docs set
        case.cookies = {**cookies, **data.cookies}


def lend_credential(case: Case) -> None:
    """Credentials for the cases built when pytest collects (explicit examples, coverage),
    before any fixture has run and so before any caller existed; fuzzed cases got theirs
    when generated. A case about a missing or invalid credential keeps it missing."""
    if case.meta is None or case.meta.phase.name not in (TestPhase.EXAMPLES, TestPhase.COVERAGE):
        return
    if not case.operation.schema.is_security_param_negated(case):
        schema.auth.set(case, schemathesis.AuthContext(operation=case.operation, app=None))


@pytest.fixture(scope="module")
def own_stack() -> Iterator[LocalStack]:
    with local_stack() as running:
        yield running


@pytest.fixture(scope="module")
def own_api(own_stack: LocalStack) -> Api:
    return Api(own_stack)


REFRESH = "POST /api/v1/auth/refresh"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _provider(api: Api, label: str, admin_token: str) -> dict[str, str]:
    """A provider of the operation's own (a DELETE of one must not spoil a GET of another)."""
    provider_id = "conformance-" + "-".join(label.lower().split()[0:1])
    body = oauth2_body("http://127.0.0.1:9", "conformance")
    path = f"/identity-providers?identityProviderId={provider_id}"
    created = api.call("POST", path, json=body, headers=bearer(admin_token))
    assert created.status_code == 200, created.text
    return {"id": provider_id}


def _caller(api: Api, label: str, admin_token: str) -> Caller:
    access_rule = ROUTE_ACCESS[label]
    if "/identity-providers/{id}" in label:
        headers = bearer(admin_token) if access_rule is Access.ADMIN else {}
        return Caller(headers=headers, path=_provider(api, label, admin_token))
    if access_rule is Access.ADMIN:
        return Caller(headers=bearer(admin_token))
    if access_rule is Access.PUBLIC and "{username}" not in label and label != REFRESH:
        return Caller()
    username, access, refresh = api.new_user()
    caller = Caller(path={"username": username})
    if label == REFRESH:
        caller.cookies["memos_refresh"] = refresh
    elif label.endswith("/auth/sessions/current") or label == "PATCH /api/v1/users/{username}":
        # A session cookie also keeps PATCH signed in: a password change ends every other
        # credential, but not the session that made it.
        body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
        caller.cookies["user_session"] = api.call("POST", "/auth/sessions", json=body).cookies["user_session"]
    elif access_rule is not Access.PUBLIC:
        caller.headers = bearer(access)
    if "{tokenId}" in label:
        created = api.call("POST", f"/users/{username}/personalAccessTokens", json={}, headers=bearer(access))
        caller.path["tokenId"] = created.json()["personalAccessToken"]["name"].rsplit("/", 1)[-1]
    if "{id}" in label:
        logins = api.call("GET", f"/users/{username}/sessions", headers=bearer(access)).json()
        caller.path["id"] = logins["sessions"][0]["id"]
    return caller


@pytest.fixture(scope="module")
def callers(own_api: Api) -> Iterator[dict[str, Caller]]:
    """A caller for every operation, all signed in before any fuzzing: fuzzed sign-ins soon
    get this address throttled, and then no one could sign in."""
    assert own_api.sign_up("admin").json()["role"] == "ADMIN"
    admin_token = own_api.sign_in("admin").json()["accessToken"]
    for operation in schema.get_all_operations():
        label = operation.ok().label
        CALLERS[label] = _caller(own_api, label, admin_token)
    yield CALLERS
    CALLERS.clear()


def test_the_stack_serves_this_document(own_api: Api) -> None:
    served = own_api.call("GET", "/openapi.json")
    assert served.status_code == 200 and served.json() == DOCUMENT


@schema.parametrize()
def test_every_answer_is_documented(case: Case, own_api: Api, callers: dict[str, Caller]) -> None:
    caller = callers[case.operation.label]
    lend_credential(case)
    if case.meta is None or not case.meta.is_negative_at(ParameterLocation.PATH):
        # A generated username almost never exists: name the caller's own user (and their
        # token, their login) so that the routes answer with data, not only with 404s.
        for name in case.path_parameters or {}:
            case.path_parameters[name] = caller.path[name]
    case.call_and_validate(base_url=own_api.stack.url)
