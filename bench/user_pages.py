"""GET /api/v1/users with 10,000 users in DynamoDB Local: a page, and the walk over them all.

`python -m bench.user_pages` (or `make bench-pages`; `make bench` runs it too) starts a
local stack, signs up an admin through the API, writes the other users straight into the
Users table with BatchWriteItem (sign-up's bcrypt would take minutes and is not what is
timed), then times, through the local API Gateway and the API function:

- the first page (`pageSize=50`, the default), SAMPLES times;
- a page in the middle of the walk (from a pageToken), SAMPLES times;
- the full walk at pageSize 50 and at 1000, once each, checking that it saw every user once.

It merges its section and targets into bench/results.json, leaving the rest as it was.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests

from auth.models import Role, State, User
from auth.stores.user_store import user_to_item
from auth.usernames import username_key
from devstack.backends import SUSTAINED_LOAD
from devstack.stack import LocalStack

RESULTS = Path(__file__).resolve().parent / "results.json"
USERS = 10_000
SAMPLES = 50
PASSWORD = "correct horse battery"
# What a page may take locally (request through devstack's gateway, the function, one or two
# Scan calls to DynamoDB Local): the authorizer's own latency targets are in microseconds and
# a page is a few DynamoDB calls away from one; 100 ms at the median leaves room for this
# shared machine while catching a page that read the whole table (the old listing: seconds).
FIRST_PAGE_P50_MS = 100.0
# A whole walk at the largest page size: ten pages of 1,000.
WALK_1000_S = 10.0
_BATCH = 25  # BatchWriteItem's limit


def _fake_user(user_id: int) -> User:
    return User(
        id=user_id,
        username=f"bench{user_id}",
        role=Role.USER,
        state=State.NORMAL,
        password_hash="not-a-hash",  # noqa: S106  # never checked: these users never sign in
        display_name="",
        email=f"bench{user_id}@example.com",
        create_time=0,
        update_time=0,
    )


def fill(client: Any, table: str, first_id: int, count: int) -> float:
    """Write `count` users (user and username items, as sign-up does) and return seconds."""
    started = time.perf_counter()
    items: list[dict[str, Any]] = []
    for user_id in range(first_id, first_id + count):
        user = _fake_user(user_id)
        items.append(user_to_item(user))
        items.append({"pk": {"S": f"username#{username_key(user.username)}"}, "userId": {"N": str(user_id)}})
    for start in range(0, len(items), _BATCH):
        pending: dict[str, Any] = {
            table: [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
        }
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return time.perf_counter() - started


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _timed_get(session: requests.Session, url: str, params: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = session.get(url, params=params, timeout=30)
    elapsed_ms = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed_ms, response.json()


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p90_ms": round(_percentile(samples, 0.9), 1),
        "max_ms": round(max(samples), 1),
    }


def _walk(session: requests.Session, url: str, page_size: int) -> dict[str, Any]:
    seen: list[str] = []
    pages, params = 0, {"pageSize": str(page_size)}
    started = time.perf_counter()
    while True:
        _, body = _timed_get(session, url, params)
        pages += 1
        seen.extend(user["username"] for user in body["users"])
        if not body["nextPageToken"]:
            break
        params["pageToken"] = body["nextPageToken"]
    return {
        "page_size": page_size,
        "pages": pages,
        "seconds": round(time.perf_counter() - started, 2),
        "users_seen": len(seen),
        "each_user_once": len(seen) == len(set(seen)) == USERS + 1,
    }


def measure() -> dict[str, Any]:
    with LocalStack(env_overrides=SUSTAINED_LOAD) as stack:
        base = stack.url + "/api/v1"
        session = requests.Session()
        credentials = {"username": "admin", "password": PASSWORD}
        session.post(f"{base}/users", json={"user": credentials}, timeout=30).raise_for_status()
        signed_in = session.post(f"{base}/auth/signin", json={"passwordCredentials": credentials}, timeout=30)
        signed_in.raise_for_status()
        session.headers["Authorization"] = f"Bearer {signed_in.json()['accessToken']}"
        fill_seconds = fill(stack.client("dynamodb"), stack.tables["UsersTable"], 2, USERS)
        url = f"{base}/users"
        _timed_get(session, url, {})  # a warm function, as in a steady state
        first = [_timed_get(session, url, {"pageSize": "50"})[0] for _ in range(SAMPLES)]
        # A token from the middle of a walk: 100 pages of 50 in.
        token = _middle_token(session, url, pages=100)
        middle = [_timed_get(session, url, {"pageSize": "50", "pageToken": token})[0] for _ in range(SAMPLES)]
        return {
            "users": USERS + 1,
            "backend": stack.dynamodb_backend,
            "fill_seconds": round(fill_seconds, 1),
            "first_page_50": _summary(first),
            "middle_page_50": _summary(middle),
            "walks": [_walk(session, url, 50), _walk(session, url, 1000)],
        }


def _middle_token(session: requests.Session, url: str, pages: int) -> str:
    params = {"pageSize": "50"}
    for _ in range(pages):
        params["pageToken"] = _timed_get(session, url, params)[1]["nextPageToken"]
    return params["pageToken"]


def evaluate(pages: dict[str, Any]) -> list[dict[str, Any]]:
    first = pages["first_page_50"]["p50_ms"]
    walk_1000 = next(walk for walk in pages["walks"] if walk["page_size"] == 1000)
    every_once = all(walk["each_user_once"] for walk in pages["walks"])
    return [
        {
            "name": "GET /api/v1/users, 10,000 users: first page of 50, p50 ms (DynamoDB Local)",
            "measured": first,
            "target": f"< {FIRST_PAGE_P50_MS:.0f}",
            "met": first < FIRST_PAGE_P50_MS,
        },
        {
            "name": "GET /api/v1/users, 10,000 users: full walk at pageSize 1000, s",
            "measured": walk_1000["seconds"],
            "target": f"< {WALK_1000_S:.0f}",
            "met": walk_1000["seconds"] < WALK_1000_S,
        },
        {
            "name": "GET /api/v1/users: a walk returns every user exactly once",
            "measured": every_once,
            "target": "true",
            "met": every_once,
        },
    ]


def merge(pages: dict[str, Any], path: Path = RESULTS) -> None:
    """Put this module's section and targets into results.json, replacing its own earlier ones."""
    results = json.loads(path.read_text()) if path.exists() else {}
    results["user_pages"] = pages
    ours = {target["name"] for target in evaluate(pages)}
    kept = [target for target in results.get("targets", []) if target["name"] not in ours]
    results["targets"] = kept + evaluate(pages)
    path.write_text(json.dumps(results, indent=2) + "\n")


def render(pages: dict[str, Any]) -> str:
    lines = [f"GET /api/v1/users with {pages['users']:,} users ({pages['backend']}):"]
    for key, label in (("first_page_50", "first page, pageSize 50"), ("middle_page_50", "page 101 of 50")):
        row = pages[key]
        lines.append(f"  {label}: p50 {row['p50_ms']} ms, p90 {row['p90_ms']} ms, max {row['max_ms']} ms")
    for walk in pages["walks"]:
        lines.append(
            f"  full walk, pageSize {walk['page_size']}: {walk['pages']} pages in {walk['seconds']} s, "
            f"{walk['users_seen']:,} users, each once: {walk['each_user_once']}"
        )
    return "\n".join(lines)


def main() -> None:
    pages = measure()
    merge(pages)
    print(render(pages))
    failed = [target["name"] for target in evaluate(pages) if not target["met"]]
    if failed:
        print("missed: " + "; ".join(failed), file=sys.stderr)


if __name__ == "__main__":
    main()
