"""After a run: what the clients were answered, and whether anything was lost.

Each check is a (name, ok, detail) row of load.json; the run fails if any is not ok.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from bench.load.clients import CLIENT_TIMEOUT_SECONDS, REFRESH_COOKIE, SESSION_COOKIE
from bench.load.ledger import Answer, Client, token_claims

# The bound: every request sent this long after DynamoDB resumes must succeed.
RECOVERY_SECONDS = 5.0
# Requests sent this long before the pause may still meet it (the API's DynamoDB budget is
# about 3 s), so their 503 is the pause's too.
IN_FLIGHT_SECONDS = 5.0
# The most examples a failed check quotes.
EXAMPLES = 5


@dataclass(frozen=True)
class Pause:
    start: float
    resume: float


def _row(name: str, ok: bool, detail: Any = None) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}


def _brief(answer: Answer, t0: float) -> str:
    return f"{answer.name} -> {answer.status}, sent at +{answer.start - t0:.1f} s"


def _excused(answer: Answer, pause: Pause | None) -> bool:
    """A 5xx the pause explains: the function's 503, or API Gateway's 500 for an authorizer
    that could not reach DynamoDB (HTTP APIs answer an authorizer's error so, never 503)."""
    if (
        pause is None
        or not pause.start - IN_FLIGHT_SECONDS <= answer.start <= pause.resume + RECOVERY_SECONDS
    ):
        return False
    return answer.status == 503 or (answer.status == 500 and answer.from_gateway)


def answers_checks(answers: Sequence[Answer], pause: Pause | None, t0: float) -> list[dict[str, Any]]:
    """What the clients were answered: `t0` is the run's start, for the examples' times."""
    passed_wrongly = [a for a in answers if a.must_fail and a.status < 400]
    server_errors = [a for a in answers if a.status >= 500 and not _excused(a, pause)]
    unexpected = [a for a in answers if a.status < 500 and a.status not in a.expected]

    def examples(found: list[Answer]) -> list[str]:
        return [_brief(a, t0) for a in found[:EXAMPLES]]

    no_5xx = (
        "no 5xx" if pause is None else "no 5xx but the pause's (503, API Gateway's 500 for the authorizer)"
    )
    rows = [
        _row("no request that should fail passed", not passed_wrongly, examples(passed_wrongly)),
        _row(no_5xx, not server_errors, examples(server_errors)),
        _row("every other answer as expected", not unexpected, examples(unexpected)),
    ]
    if pause is not None:
        rows.extend(_pause_checks(answers, pause))
    return rows


def _pause_checks(answers: Sequence[Answer], pause: Pause) -> list[dict[str, Any]]:
    # Sent during the pause, or in flight when it began: what met the frozen DynamoDB.
    during = [a for a in answers if a.start < pause.resume and a.start + a.seconds > pause.start]
    statuses: dict[str, int] = {}
    for answer in during:
        key = f"{answer.status}{' (API Gateway)' if answer.from_gateway and answer.status >= 500 else ''}"
        statuses[key] = statuses.get(key, 0) + 1
    unavailable = sum(1 for a in during if a.status == 503)
    failed_after = [a for a in answers if a.start >= pause.resume and a.status >= 500]
    last_failure = max((a.start for a in failed_after), default=pause.resume)
    recovered = round(last_failure - pause.resume, 2)
    first_ok = min((a.start for a in answers if a.start >= pause.resume and a.status < 500), default=None)
    return [
        _row(
            "the API answered 503 during the pause",
            unavailable > 0,
            {"answers to requests sent or in flight during the pause": statuses},
        ),
        _row(
            f"recovered within {RECOVERY_SECONDS:.0f} s of the resume",
            recovered <= RECOVERY_SECONDS and first_ok is not None,
            {
                "last failed request sent after the resume, s": recovered,
                "first answered request sent after the resume, s": (
                    round(first_ok - pause.resume, 2) if first_ok is not None else None
                ),
            },
        ),
    ]


class StateChecks:
    """Whether every client's credentials are as the client believes: nothing lost."""

    def __init__(self, base_url: str, dynamodb: Any, refresh_table: str) -> None:
        self._base = base_url + "/api/v1"
        self._dynamodb = dynamodb
        self._refresh_table = refresh_table
        self._http = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self._http.cookies.clear()
        return self._http.request(method, self._base + path, timeout=CLIENT_TIMEOUT_SECONDS, **kwargs)

    def finish_pending(self, clients: Sequence[Client]) -> None:
        """Steps whose answer was lost when the run stopped: retried, as the clients would."""
        for client in clients:
            if client.pending_refresh:
                response = self._call("POST", "/auth/refresh", cookies={REFRESH_COOKIE: client.refresh})
                if response.status_code == 200:
                    client.refreshed(response.json()["accessToken"], response.cookies[REFRESH_COOKIE])
                    client.pending_refresh = False
            if client.pending_delete:
                path = f"/users/{client.username}/personalAccessTokens/{client.pending_delete}"
                response = self._call("DELETE", path, headers={"Authorization": f"Bearer {client.access}"})
                if response.status_code in (200, 404):
                    client.deleted_pats[client.pending_delete] = client.live_pats.pop(client.pending_delete)
                    client.pending_delete = ""

    def _families(self) -> dict[str, dict[str, Any]]:
        paginator = self._dynamodb.get_paginator("scan")
        return {
            item["familyId"]["S"]: item
            for page in paginator.paginate(TableName=self._refresh_table, ConsistentRead=True)
            for item in page["Items"]
        }

    def run(self, clients: Sequence[Client]) -> list[dict[str, Any]]:
        self.finish_pending(clients)
        pending = [c.username for c in clients if c.pending_refresh or c.pending_delete]
        rows = [_row("every step whose answer was lost was finished", not pending, pending[:EXAMPLES])]
        rows.append(self._family_check(clients))
        rows.extend(self._credential_checks(clients))
        return rows

    def _family_check(self, clients: Sequence[Client]) -> dict[str, Any]:
        """One item per sign-in, holding the client's last token as its one current token:
        no rotation the client did not see (a fork), no family revoked as a reuse."""
        families = self._families()
        problems = []
        for client in clients:
            for family_id, token in client.families.items():
                item = families.get(family_id)
                if item is None:
                    problems.append(f"{client.username}: family {family_id} missing")
                elif item.get("revoked", {}).get("BOOL"):
                    problems.append(f"{client.username}: family {family_id} revoked")
                elif item["currentTokenId"]["S"] != token_claims(token)["tid"]:
                    problems.append(f"{client.username}: family {family_id} moved past the client's token")
        revoked = sum(1 for item in families.values() if item.get("revoked", {}).get("BOOL"))
        held = sum(len(client.families) for client in clients)
        return _row(
            "no family forked or revoked",
            not problems and revoked == 0,
            {
                "families held": held,
                "in the table": len(families),
                "revoked": revoked,
                "problems": problems[:EXAMPLES],
            },
        )

    def _credential_checks(self, clients: Sequence[Client]) -> list[dict[str, Any]]:
        refresh_bad, pats_bad, deleted_bad, sessions_bad = [], [], [], []
        pats = deleted = families = 0
        for client in clients:
            for family_id, token in list(client.families.items()):
                families += 1
                response = self._call("POST", "/auth/refresh", cookies={REFRESH_COOKIE: token})
                if response.status_code != 200:
                    refresh_bad.append(f"{client.username}/{family_id}: {response.status_code}")
                    continue
                # Kept current, so a later run and its checks go on from here.
                client.refreshed(response.json()["accessToken"], response.cookies[REFRESH_COOKIE])
            for token_id, token in client.live_pats.items():
                pats += 1
                if not self._is_me(client, {"Authorization": f"Bearer {token}"}):
                    pats_bad.append(f"{client.username}/{token_id}")
            for token_id, token in client.deleted_pats.items():
                deleted += 1
                status = self._call(
                    "GET", "/auth/me", headers={"Authorization": f"Bearer {token}"}
                ).status_code
                if status != 401:
                    deleted_bad.append(f"{client.username}/{token_id}: {status}")
            if not self._is_me(client, {}, cookies={SESSION_COOKIE: client.session_cookie}):
                sessions_bad.append(client.username)
        return [
            _row(
                "every sign-in's last refresh token works",
                not refresh_bad,
                {"checked": families, "bad": refresh_bad[:EXAMPLES]},
            ),
            _row(
                "every PAT created and not deleted works",
                not pats_bad,
                {"checked": pats, "bad": pats_bad[:EXAMPLES]},
            ),
            _row(
                "every deleted PAT is refused",
                not deleted_bad,
                {"checked": deleted, "bad": deleted_bad[:EXAMPLES]},
            ),
            _row(
                "every session cookie works",
                not sessions_bad,
                {"checked": len(clients), "bad": sessions_bad[:EXAMPLES]},
            ),
        ]

    def _is_me(self, client: Client, headers: dict[str, str], **kwargs: Any) -> bool:
        response = self._call("GET", "/auth/me", headers=headers, **kwargs)
        return response.status_code == 200 and response.json()["user"]["username"] == client.username
