"""Warm in-process durations of the handlers, on moto, with the template's bcrypt cost.

Run: python bench/handler_durations.py (from the repository root). The numbers feed the
cost table of docs/operations.md; they are local measurements, not Lambda's.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
# moto accepts any credentials; these keep a developer's real ones out of the run.
os.environ.update(
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106
    AWS_DEFAULT_REGION="us-east-1",
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from auth.config import Config  # noqa: E402
from auth.wiring import build_api_services, build_authorizer_services  # noqa: E402
from devstack.provision import create_all  # noqa: E402
from devstack.template import load_template  # noqa: E402
from handlers import api, api_context, authorizer  # noqa: E402
from tests.support.events import FakeLambdaContext, authorizer_event, http_event  # noqa: E402

RUNS = 30
PASSWORD = "correct horse battery"


def median_ms(call: Callable[[], object], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    with mock_aws():
        template = load_template()
        dynamodb, secretsmanager = boto3.client("dynamodb"), boto3.client("secretsmanager")
        create_all(template, dynamodb, secretsmanager)
        config = Config(bcrypt_cost=int(template.parameters["BcryptCost"]))
        api_context.services.replace(build_api_services(config, None, dynamodb, secretsmanager))
        authorizer.services.replace(build_authorizer_services(config, None, dynamodb, secretsmanager))
        context = FakeLambdaContext()
        signup = {"user": {"username": "alice", "password": PASSWORD}}
        api.handler(http_event("POST", "/api/v1/users", body=signup), context)
        credentials = {"passwordCredentials": {"username": "alice", "password": PASSWORD}}

        def sign_in() -> dict[str, Any]:
            # Powertools' decorators leave api.handler typed as returning Any.
            return cast(
                "dict[str, Any]",
                api.handler(http_event("POST", "/api/v1/auth/signin", body=credentials), context),
            )

        signed_in = sign_in()
        token = json.loads(str(signed_in["body"]))["accessToken"]
        cookie = [c.split(";")[0] for c in signed_in["cookies"]]
        me = authorizer_event("GET /api/v1/auth/me", authorization=f"Bearer {token}")

        def refresh() -> None:
            nonlocal cookie
            answer = api.handler(http_event("POST", "/api/v1/auth/refresh", cookies=cookie), context)
            cookie = [c.split(";")[0] for c in answer["cookies"]]

        caller = authorizer.handler(me, context)["context"]
        lag_zero = replace(config, revocation_lag=0)
        every_time = build_authorizer_services(lag_zero, None, dynamodb, secretsmanager)

        def uncached(event: dict[str, object], context: object) -> object:
            authorizer.services.replace(every_time)
            return authorizer.handler(event, context)

        me_call = http_event("GET", "/api/v1/auth/me", authorizer=caller)
        results = {
            "authorizer (warm, user cached)": median_ms(lambda: authorizer.handler(me, context), 200),
            "authorizer (user read, lag 0)": median_ms(lambda: uncached(me, context), 100),
            "GET /auth/me": median_ms(lambda: api.handler(me_call, context), 100),
            "sign-in (bcrypt verify)": median_ms(sign_in, 10),
            "refresh": median_ms(refresh),
        }
        for name, value in results.items():
            print(f"{name:34s} {value:8.1f} ms")


if __name__ == "__main__":
    main()
