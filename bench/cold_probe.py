"""Run in a fresh interpreter by bench.cold_start: import one function and build its clients.

Prints the milliseconds from this script's first line to services built, as JSON. It adds
src/ to sys.path itself, so it runs in the Lambda-like virtualenv, which has no bench deps.
"""

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def boto3_baseline() -> None:
    import boto3

    boto3.client("dynamodb")


def authorizer() -> None:
    from handlers import authorizer

    authorizer.services()


def api() -> None:
    import handlers.api  # noqa: F401
    from handlers import api_context

    api_context.services()


def api_first_request() -> None:
    """The API's cold start plus its first routed request: `GET /api/v1/auth/me` without
    the authorizer's context, refused (401) before any AWS call. The resolver, request
    validation and the route's module that an on-demand init leaves out are paid here."""
    api()
    import handlers.api

    event = {
        "version": "2.0",
        "routeKey": "GET /api/v1/auth/me",
        "rawPath": "/api/v1/auth/me",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": "/api/v1/auth/me", "sourceIp": "203.0.113.7"},
            "requestId": "bench",
            "routeKey": "GET /api/v1/auth/me",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    answer = handlers.api.handler(event, _Context())
    assert answer["statusCode"] == 401, answer


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"


KINDS = {
    "boto3": boto3_baseline,
    "authorizer": authorizer,
    "api": api,
    "api_first_request": api_first_request,
}

if __name__ == "__main__":
    KINDS[sys.argv[1]]()
    print(json.dumps({"kind": sys.argv[1], "ms": (time.perf_counter() - STARTED) * 1000}))
