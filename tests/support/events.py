"""API Gateway HTTP API (payload 2.0) events for calling handlers directly in tests."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any


def http_event(
    method: str,
    path: str,
    route: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    authorizer: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    source_ip: str = "203.0.113.7",
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    route_key = f"{method} {route or path}"
    request_context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "localhost",
        "domainPrefix": "localhost",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": (headers or {}).get("user-agent", "pytest"),
        },
        "requestId": "test-request",
        "routeKey": route_key,
        "stage": "$default",
        "time": "01/Jan/2027:00:00:00 +0000",
        "timeEpoch": 1798761600000,
    }
    if authorizer is not None:
        request_context["authorizer"] = {"lambda": authorizer}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": urllib.parse.urlencode(query or {}),
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def authorizer_event(
    route_key: str,
    authorization: str | None = None,
    cookies: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    method, path = route_key.split(" ", 1)
    all_headers = dict(headers or {})
    if authorization is not None:
        all_headers["authorization"] = authorization
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:local/$default/{method}{path}",
        "identitySource": None,
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": "test-request",
            "routeKey": route_key,
            "stage": "$default",
        },
    }
    if cookies:
        event["cookies"] = cookies
    return event


class FakeLambdaContext:
    function_name = "test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
