"""What each load client holds and every answer it got, for the checks after a run.

Clients write here while Locust runs them (one greenlet each, so a client's own state needs
no lock); the checks read it once the run has stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jwt


def token_claims(token: str) -> dict[str, str]:
    """The family and token ids a refresh token names (a JWT; read, never trusted)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return {"fid": str(claims["fid"]), "tid": str(claims["tid"])}


@dataclass
class Client:
    """One signed-up user driven by one Locust user."""

    username: str
    access: str = ""
    # The latest refresh token of each of the client's sign-ins, by family id.
    families: dict[str, str] = field(default_factory=dict)
    current_family: str = ""
    session_cookie: str = ""
    live_pats: dict[str, str] = field(default_factory=dict)
    deleted_pats: dict[str, str] = field(default_factory=dict)
    # A refresh or PAT deletion answered 5xx: its outcome is unknown, so the client retries it
    # before anything else, as a real client keeping its state would.
    pending_refresh: bool = False
    pending_delete: str = ""

    @property
    def refresh(self) -> str:
        return self.families.get(self.current_family, "")

    def signed_in(self, access: str, refresh: str) -> None:
        self.access = access
        self.current_family = token_claims(refresh)["fid"]
        self.families[self.current_family] = refresh

    def refreshed(self, access: str, refresh: str) -> None:
        family = token_claims(refresh)["fid"]
        self.access = access
        self.families[family] = refresh


@dataclass(frozen=True)
class Answer:
    """One request as the client saw it: `start` on the wall clock (time.time)."""

    name: str
    start: float
    seconds: float
    status: int
    # The statuses this request should get with every dependency up.
    expected: frozenset[int]
    # A request that must never pass (a deleted PAT, a garbage token).
    must_fail: bool = False
    # API Gateway's own {"message": ...} answer rather than the function's.
    from_gateway: bool = False


@dataclass
class Ledger:
    clients: list[Client]
    answers: list[Answer] = field(default_factory=list)
    started: float = field(default_factory=time.time)
