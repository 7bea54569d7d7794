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


KINDS = {"boto3": boto3_baseline, "authorizer": authorizer, "api": api}

if __name__ == "__main__":
    KINDS[sys.argv[1]]()
    print(json.dumps({"kind": sys.argv[1], "ms": (time.perf_counter() - STARTED) * 1000}))
