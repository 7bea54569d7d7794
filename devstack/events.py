"""API Gateway HTTP API events, payload format 2.0, built from an incoming request.

Shapes follow the AWS documentation of the Lambda authorizer (REQUEST, 2.0) and Lambda
proxy integration (2.0) payloads: lower-case headers with repeats joined by commas, the
Cookie header moved to `cookies`, optional keys left out when they would be empty.
"""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devstack.intrinsics import ACCOUNT_ID, arn
from devstack.template import LOCAL_API_ID


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str
    raw_query: str
    # In arrival order, names as sent: repeats are joined later, as API Gateway does.
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str
    request_id: str
    epoch_ms: int

    @property
    def user_agent(self) -> str:
        return self.header("user-agent") or ""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name]
        return ",".join(values) if values else None


def new_request_id() -> str:
    # The shape of API Gateway's ids (e.g. "JKJaXmPLvHcESHA="); uniqueness is what matters.
    return base64.b64encode(os.urandom(11)).decode()


def now_ms() -> int:
    return int(time.time() * 1000)


def authorizer_event(
    request: Request, route_key: str, stage: str, path_parameters: Mapping[str, str]
) -> dict[str, Any]:
    method, _, path = route_key.partition(" ")
    route_arn = arn("execute-api", f"{LOCAL_API_ID}/{stage}/{method}{path}")
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn,
        # No identity sources are configured (SPEC §4), so there is nothing to list.
        "identitySource": None,
        "routeKey": route_key,
    }
    event.update(_common(request, route_key, stage, path_parameters))
    return event


def integration_event(
    request: Request,
    route_key: str,
    stage: str,
    path_parameters: Mapping[str, str],
    authorizer_context: Mapping[str, Any] | None,
) -> dict[str, Any]:
    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key}
    event.update(_common(request, route_key, stage, path_parameters))
    if authorizer_context is not None:
        event["requestContext"]["authorizer"] = {"lambda": dict(authorizer_context)}
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
            event["isBase64Encoded"] = False
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


def stage_path(stage: str, path: str) -> str:
    """The path a function sees: API Gateway keeps a named stage's segment in it.

    The local stack serves the stage at the root URL (SPEC §6), so it adds the segment
    back: handlers that strip it (as Powertools' resolver does) then work as deployed.
    """
    return path if stage == "$default" else f"/{stage}{path}"


def _common(
    request: Request, route_key: str, stage: str, path_parameters: Mapping[str, str]
) -> dict[str, Any]:
    headers, cookies = _headers_and_cookies(request.headers)
    raw_path = stage_path(stage, request.raw_path)
    common: dict[str, Any] = {"rawPath": raw_path, "rawQueryString": request.raw_query}
    if cookies:
        common["cookies"] = cookies
    common["headers"] = headers
    query = _query_parameters(request.raw_query)
    if query:
        common["queryStringParameters"] = query
    common["requestContext"] = _request_context(request, route_key, stage, headers, raw_path)
    if path_parameters:
        common["pathParameters"] = dict(path_parameters)
    return common


def _headers_and_cookies(raw: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in raw:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers, cookies


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _request_context(
    request: Request, route_key: str, stage: str, headers: Mapping[str, str], raw_path: str
) -> dict[str, Any]:
    domain_name = headers.get("host", "127.0.0.1")
    return {
        "accountId": ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.user_agent,
        },
        "requestId": request.request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.epoch_ms / 1000)),
        "timeEpoch": request.epoch_ms,
    }
