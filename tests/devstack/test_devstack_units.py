"""devstack's pure parts: template reading, routing, events, response mapping."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from devstack import events, responses
from devstack.environment import Endpoints, function_environment
from devstack.intrinsics import TemplateError, load_yaml
from devstack.routes import Router
from devstack.runtime import Outcome
from devstack.template import DEFAULT_TEMPLATE, Route, load_template

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


@pytest.fixture(scope="module")
def fixture_template():
    return load_template(FIXTURE_TEMPLATE)


def test_short_form_tags_become_long_form():
    document = load_yaml(
        "A: !Ref X\nB: !GetAtt Fn.Arn\nC: !Sub '${X}-${AWS::Region}'\nD: !Join [',', [a, b]]"
    )
    assert document == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Fn", "Arn"]},
        "C": {"Fn::Sub": "${X}-${AWS::Region}"},
        "D": {"Fn::Join": [",", ["a", "b"]]},
    }


def test_functions_read_handler_code_uri_and_settings(fixture_template):
    echo = fixture_template.functions["EchoFunction"]
    assert echo.handler == "fake.echo.handler"
    assert echo.code_uri == FIXTURE_TEMPLATE.parent / "app"
    assert echo.timeout_seconds == 3
    assert echo.memory_mb == 128
    assert echo.arn == "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"


def test_environment_merges_globals_and_function_and_resolves_refs(fixture_template):
    environment = fixture_template.functions["EchoFunction"].environment
    assert environment == {
        "STAGE": "local",  # the Stage parameter is always local, whatever its Default
        "GREETING": "hello",
        "ITEMS_TABLE": "ItemsTable",
        "KEY_SECRET_ID": "KeySecret",
        "ONLY_ECHO": "yes",
    }
    assert "ONLY_ECHO" not in fixture_template.functions["AuthorizerFunction"].environment


def test_os_environment_overrides_template_but_never_reaches_aws(fixture_template):
    function = fixture_template.functions["EchoFunction"]
    endpoints = Endpoints(dynamodb="http://127.0.0.1:1", secretsmanager="http://127.0.0.1:2")
    os_environ = {"GREETING": "hi", "EXTRA": "x", "AWS_PROFILE": "prod", "AWS_SESSION_TOKEN": "t"}
    environment = function_environment(function, endpoints, os_environ)
    assert environment["GREETING"] == "hi"
    assert environment["EXTRA"] == "x"
    assert "AWS_PROFILE" not in environment
    assert "AWS_SESSION_TOKEN" not in environment
    assert environment["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:1"
    assert environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] == "http://127.0.0.1:2"
    assert environment["AWS_DEFAULT_REGION"] == "us-east-1"
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "EchoFunction"


def test_routes_carry_method_path_and_authorizer(fixture_template):
    routes = {route.route_key: route for route in fixture_template.routes}
    assert routes["GET /public"].authorizer is None
    assert routes["GET /items/{id}"].authorizer.function == "AuthorizerFunction"
    assert routes["ANY /files/{proxy+}"].function == "EchoFunction"
    assert {route.stage for route in routes.values()} == {"local"}


def test_tables_and_secrets(fixture_template):
    table = fixture_template.tables["ItemsTable"]
    assert table.ttl_attribute == "expiresAt"
    assert table.create_args["BillingMode"] == "PAY_PER_REQUEST"
    assert table.create_args["GlobalSecondaryIndexes"][0]["IndexName"] == "byOwner"
    assert list(fixture_template.secrets) == ["KeySecret"]


def test_the_real_template_is_understood():
    template = load_template(DEFAULT_TEMPLATE)
    routes = {route.route_key: route for route in template.routes}
    assert routes["POST /api/v1/users"].authorizer is None
    assert routes["GET /api/v1/auth/me"].authorizer.function == "AuthorizerFunction"
    assert {"UsersTable", "SessionsTable", "PersonalAccessTokensTable"} <= set(template.tables)
    assert "SigningKeySecret" in template.secrets
    assert template.functions["ApiFunction"].environment["STAGE"] == "local"


def test_unsupported_intrinsics_are_reported(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Handler: a.b\n      CodeUri: .\n      Environment:\n"
        "        Variables:\n          X: !ImportValue other-stack\n"
    )
    with pytest.raises(TemplateError, match="ImportValue"):
        load_template(path)


def _route(method: str, path: str) -> Route:
    return Route(method=method, path=path, function="F", authorizer=None, stage="local")


def test_most_specific_route_wins():
    router = Router(
        [
            _route("ANY", "/files/{proxy+}"),
            _route("GET", "/files/special"),
            _route("GET", "/files/{name}"),
            _route("ANY", "/files/{name}"),
        ]
    )
    assert router.match("GET", "/files/special").route.path == "/files/special"
    named = router.match("GET", "/files/x")
    assert (named.route.method, named.route.path, named.path_parameters) == (
        "GET",
        "/files/{name}",
        {"name": "x"},
    )
    assert router.match("POST", "/files/x").route.method == "ANY"
    greedy = router.match("GET", "/files/a/b%20c")
    assert greedy.path_parameters == {"proxy": "a/b c"}
    assert router.match("GET", "/files") is None
    assert router.match("GET", "/other") is None


def test_a_trailing_slash_routes_as_the_path_without_it_as_api_gateway_does():
    router = Router([_route("GET", "/account"), _route("GET", "/account/{proxy+}")])
    assert router.match("GET", "/account/").route.path == "/account"
    assert router.match("GET", "/account/signin").path_parameters == {"proxy": "signin"}
    # The root is the root.
    assert router.match("GET", "/") is None


def _request(headers: list[tuple[str, str]], body: bytes = b"", query: str = "") -> events.Request:
    return events.Request(
        method="POST",
        raw_path="/items/1",
        raw_query=query,
        headers=headers,
        body=body,
        source_ip="10.1.2.3",
        protocol="HTTP/1.1",
        request_id="req",
        epoch_ms=1_700_000_000_000,
    )


def test_integration_event_has_the_payload_2_shape():
    request = _request(
        [("Host", "h"), ("Cookie", "a=1; b=2"), ("Cookie", "c=3"), ("X-Multi", "1"), ("x-multi", "2")],
        body=b'{"k": 1}',
        query="q=1&q=2&e=",
    )
    event = events.integration_event(request, "POST /items/{id}", "local", {"id": "1"}, {"userId": "7"})
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /items/{id}"
    assert event["rawPath"] == "/local/items/1"  # a named stage stays in the path
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "1,2"
    assert event["queryStringParameters"] == {"q": "1,2", "e": ""}
    assert event["pathParameters"] == {"id": "1"}
    assert event["body"] == '{"k": 1}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["authorizer"] == {"lambda": {"userId": "7"}}
    assert context["http"] == {
        "method": "POST",
        "path": "/local/items/1",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.1.2.3",
        "userAgent": "",
    }
    assert context["time"] == "14/Nov/2023:22:13:20 +0000"
    assert context["timeEpoch"] == 1_700_000_000_000


def test_binary_body_is_base64_and_optional_keys_are_left_out():
    event = events.integration_event(_request([], body=b"\xff\x00"), "$default", "$default", {}, None)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"
    assert event["rawPath"] == "/items/1"
    for absent in ("cookies", "queryStringParameters", "pathParameters"):
        assert absent not in event
    assert "authorizer" not in event["requestContext"]


def test_authorizer_event_has_the_request_payload_2_shape():
    event = events.authorizer_event(_request([("Cookie", "s=1")]), "GET /api/v1/auth/me", "local", {})
    assert event["type"] == "REQUEST"
    assert event["version"] == "2.0"
    assert event["routeArn"] == "arn:aws:execute-api:us-east-1:123456789012:local/local/GET/api/v1/auth/me"
    assert event["identitySource"] is None
    assert event["cookies"] == ["s=1"]
    assert "body" not in event


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (Outcome(error={"errorMessage": "Unauthorized", "errorType": "Exception"}), 401),
        (Outcome(error={"errorMessage": "boom", "errorType": "RuntimeError"}), 500),
        (Outcome(error={"errorMessage": "Task timed out", "errorType": "Sandbox.Timedout"}), 500),
        (Outcome(result={"isAuthorized": False}), 403),
        (Outcome(result={"isAuthorized": "yes"}), 500),
        (Outcome(result="allow"), 500),
        (Outcome(result={"isAuthorized": True, "context": ["x"]}), 500),
    ],
)
def test_authorizer_denials(outcome, status):
    denial = responses.authorizer_decision(outcome).denial
    assert denial is not None
    assert denial.status == status


def test_authorizer_allows_with_context():
    decision = responses.authorizer_decision(Outcome(result={"isAuthorized": True, "context": {"a": "b"}}))
    assert decision.denial is None
    assert decision.context == {"a": "b"}


def test_integration_response_mapping():
    response = responses.integration_response(
        Outcome(
            result={
                "statusCode": 201,
                "headers": {"Content-Type": "application/json", "X-N": 3},
                "multiValueHeaders": {"X-M": ["1", "2"]},
                "cookies": ["a=1; Path=/", "b=2"],
                "body": base64.b64encode(b"\x00bin").decode(),
                "isBase64Encoded": True,
            }
        )
    )
    assert response.status == 201
    assert ("X-N", "3") in response.headers
    assert [value for name, value in response.headers if name == "X-M"] == ["1", "2"]
    assert [value for name, value in response.headers if name == "Set-Cookie"] == ["a=1; Path=/", "b=2"]
    assert response.body == b"\x00bin"


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "body": 5},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "headers": {"X": "a\r\nInjected: 1"}},
        {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True},
    ],
)
def test_malformed_integration_responses_are_500(result):
    assert responses.integration_response(Outcome(result=result)).status == 500


def test_a_result_without_status_code_is_a_json_200():
    response = responses.integration_response(Outcome(result={"hello": "world"}))
    assert response.status == 200
    assert json.loads(response.body) == {"hello": "world"}
