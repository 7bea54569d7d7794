"""A whole local stack (DynamoDB Local or moto, moto, workers, HTTP API) on a fixture template."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from devstack.stack import LocalStack

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
OVERRIDES = {"GREETING": "overridden", "EXTRA": "from-the-shell", "AWS_PROFILE": "someone-real"}


@pytest.fixture(scope="module")
def stack():
    with LocalStack(env_overrides=OVERRIDES, template=FIXTURE_TEMPLATE) as running:
        yield running


def echo(stack, path, **kwargs):
    response = requests.request(kwargs.pop("method", "GET"), stack.url + path, timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def raw_request(stack, method, path, headers, body=b""):
    """http.client, to send repeated headers and read repeated Set-Cookie headers."""
    parsed = urllib.parse.urlsplit(stack.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers:
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    result = (response.status, response.msg, response.read())
    connection.close()
    return result


def test_route_and_path_parameters(stack):
    event = echo(stack, "/items/42/comments/a%20b", headers={"Authorization": "Bearer good"})["event"]
    assert event["routeKey"] == "GET /items/{id}/comments/{commentId}"
    assert event["pathParameters"] == {"id": "42", "commentId": "a b"}
    assert event["rawPath"] == "/local/items/42/comments/a%20b"


def test_greedy_and_exact_routes(stack):
    greedy = echo(stack, "/files/a/b/c", method="DELETE")["event"]
    assert greedy["routeKey"] == "ANY /files/{proxy+}"
    assert greedy["pathParameters"] == {"proxy": "a/b/c"}
    assert echo(stack, "/files/special")["event"]["routeKey"] == "GET /files/special"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("DELETE", "/public"), ("GET", "/files"), ("TRACE", "/public")]
)
def test_unknown_routes_are_404(stack, method, path):
    response = requests.request(method, stack.url + path, timeout=30)
    assert response.status_code == 404
    assert response.json() == {"message": "Not Found"}


def test_the_deployed_stage_prefix_is_accepted(stack):
    assert echo(stack, "/local/public")["event"]["routeKey"] == "GET /public"


@pytest.mark.parametrize(
    ("authorization", "status", "message"),
    [
        ("Bearer nope", 401, "Unauthorized"),
        (None, 401, "Unauthorized"),
        ("Bearer admin-only", 403, "Forbidden"),
        ("Bearer crash", 500, "Internal Server Error"),
        ("Bearer garbage", 500, "Internal Server Error"),
    ],
)
def test_authorizer_denials(stack, authorization, status, message):
    headers = {"Authorization": authorization} if authorization else {}
    response = requests.get(stack.url + "/items/1", headers=headers, timeout=30)
    assert response.status_code == status
    assert response.json() == {"message": message}


def test_authorizer_context_reaches_the_integration(stack):
    event = echo(stack, "/items/7", headers={"Authorization": "Bearer good"})["event"]
    assert event["requestContext"]["authorizer"] == {
        "lambda": {
            "userId": "1",
            "username": "alice",
            "routeArn": "arn:aws:execute-api:us-east-1:123456789012:local/local/GET/items/{id}",
        }
    }


def test_public_routes_skip_the_authorizer(stack):
    event = echo(stack, "/public", headers={"Authorization": "Bearer nope"})["event"]
    assert "authorizer" not in event["requestContext"]


def test_the_authorizer_gets_a_request_event(stack):
    headers = {"Authorization": "Bearer echo-event", "Cookie": "user_session=1-abc"}
    got = echo(stack, "/items/9?x=1", headers=headers)["event"]["requestContext"]["authorizer"]["lambda"]
    event = json.loads(got["event"])
    assert event["version"] == "2.0"
    assert event["type"] == "REQUEST"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["cookies"] == ["user_session=1-abc"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["authorization"] == "Bearer echo-event"
    assert event["pathParameters"] == {"id": "9"}
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["requestContext"]["http"]["method"] == "GET"


def test_cookies_move_from_headers_to_cookies(stack):
    status, _, body = raw_request(
        stack,
        "GET",
        "/public",
        [("Cookie", "a=1; b=2"), ("Cookie", "c=3"), ("X-Multi", "x"), ("X-Multi", "y")],
    )
    assert status == 200
    event = json.loads(body)["event"]
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "x,y"


def test_forwarded_headers_like_api_gateway(stack):
    event = echo(stack, "/public", headers={"X-Forwarded-For": "203.0.113.9"})["event"]
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


def test_set_cookie_from_cookies(stack):
    status, headers, _ = raw_request(stack, "GET", "/public?cookies=1", [])
    assert status == 200
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/; HttpOnly"]
    assert headers["x-echo"] == "yes"
    assert headers["apigw-requestid"]


def test_text_and_binary_bodies(stack):
    text = echo(stack, "/public", method="POST", data='{"ü": 1}'.encode())["event"]
    assert (text["body"], text["isBase64Encoded"]) == ('{"ü": 1}', False)
    binary = echo(stack, "/public", method="POST", data=b"\xff\xfe\x00")["event"]
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\xfe\x00"


def test_base64_responses_are_decoded(stack):
    response = requests.get(stack.url + "/public?mode=binary", timeout=30)
    assert response.content == b"\x00\xff\x10"


def test_a_plain_json_result_is_a_200(stack):
    response = requests.get(stack.url + "/public?mode=plain", timeout=30)
    assert response.status_code == 200
    assert response.json() == {"hello": "world"}


@pytest.mark.parametrize("mode", ["raise", "garbage"])
def test_failing_handlers_are_500(stack, mode):
    response = requests.get(stack.url + f"/public?mode={mode}", timeout=30)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}


def test_bodies_over_10_mb_are_413(stack):
    parsed = urllib.parse.urlsplit(stack.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as connection:
        connection.sendall(b"POST /public HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n")
        answer = connection.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")


def test_environment_reaches_the_handler(stack):
    got = echo(stack, "/public")
    assert got["env"] == {
        "STAGE": "local",
        "GREETING": "overridden",
        "ONLY_ECHO": "yes",
        "ITEMS_TABLE": "ItemsTable",
        "KEY_SECRET_ID": "KeySecret",
        "EXTRA": "from-the-shell",
        "AWS_PROFILE": None,
    }
    assert got["endpoints"] == {
        "dynamodb": stack.dynamodb_endpoint,
        "secretsmanager": stack.secretsmanager_endpoint,
        # A stack with a DynamoDB Local of its own needs no namespace in it.
        "access_key_id": "local",
    }


def test_handler_logs_and_request_lines_reach_the_stacks_log(stack):
    # LocalStack runs in json mode, so tests can scan what the handlers logged.
    assert requests.get(stack.url + "/public?mode=log", timeout=30).json() == {"logged": True}
    log = stack.log_text()
    assert '{"level": "INFO", "message": "the echo handler logged"}\n' in log
    assert re.search(r"^GET /public 200 \d+ ms EchoFunction$", log, re.MULTILINE)


def test_lambda_context(stack):
    first, second = echo(stack, "/public")["context"], echo(stack, "/public")["context"]
    assert first["function_name"] == "EchoFunction"
    assert first["memory_limit_in_mb"] == "128"
    assert first["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    assert 0 < first["remaining_ms"] <= 3000
    assert first["aws_request_id"] != second["aws_request_id"]


def test_a_warm_worker_is_reused(stack):
    first, second = echo(stack, "/public"), echo(stack, "/public")
    assert first["pid"] == second["pid"]
    assert second["invocations"] == first["invocations"] + 1


def test_parallel_requests_run_in_separate_processes(stack):
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: echo(stack, "/public?sleep=1.5"), range(4)))
    elapsed = time.monotonic() - started
    pids = {result["pid"] for result in results}
    assert len(pids) >= 3
    assert os.getpid() not in pids
    # Serially this would take 6 s; cold starts of the new workers cost a little.
    assert elapsed < 5


def test_a_timed_out_worker_is_replaced(stack):
    slow = requests.get(stack.url + "/public?sleep=5", timeout=30)
    assert slow.status_code == 500
    assert echo(stack, "/public")["pid"] > 0


def test_tables_are_created_from_the_template(stack):
    dynamodb = stack.client("dynamodb")
    table = dynamodb.describe_table(TableName=stack.tables["ItemsTable"])["Table"]
    assert {key["AttributeName"] for key in table["KeySchema"]} == {"id"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["byOwner"]
    ttl = dynamodb.describe_time_to_live(TableName=stack.tables["ItemsTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiresAt"}


def test_secret_is_created_without_a_value(stack):
    secretsmanager = stack.client("secretsmanager")
    assert secretsmanager.describe_secret(SecretId=stack.secrets["KeySecret"])["Name"] == "KeySecret"
    with pytest.raises(secretsmanager.exceptions.ResourceNotFoundException):
        secretsmanager.get_secret_value(SecretId=stack.secrets["KeySecret"])
