"""Sign-in throttling (SPEC §3): repeated failures per username and per source IP get a 429.

Three counters per fixed window, shared by every container through DynamoDB:
- per (username, IP): the usual brute force of one account from one address;
- per IP: one address spraying many usernames;
- per username, across all IPs: a distributed attack on one account. This one only
  throttles addresses that have themselves failed for that username in the window, so an
  attacker cannot lock the real user out of a correct sign-in from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from auth.clock import Clock
from auth.errors import ResourceExhausted
from auth.stores.throttle_store import ThrottleStore
from auth.usernames import username_key


@dataclass(frozen=True)
class ThrottlePolicy:
    window_seconds: int = 15 * 60
    # Enough for a user who mistypes a few times; far too few to guess a password.
    max_failures_per_user_and_ip: int = 5
    # A shared NAT may hold several honest users; one address guessing many accounts is not.
    max_failures_per_ip: int = 30
    # A username under attack from many addresses.
    max_failures_per_user: int = 100


class SignInThrottle:
    def __init__(self, store: ThrottleStore, clock: Clock, policy: ThrottlePolicy | None = None) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy or ThrottlePolicy()

    def _window(self) -> tuple[int, int]:
        """The current window's number and the seconds left in it."""
        now = int(self._clock.now())
        size = self._policy.window_seconds
        return now // size, size - now % size

    def _keys(self, username: str, ip: str, window: int) -> tuple[str, str, str]:
        name = username_key(username)
        return (f"pair#{window}#{ip}#{name}", f"ip#{window}#{ip}", f"user#{window}#{name}")

    def check(self, username: str, ip: str) -> None:
        """Raise ResourceExhausted (429) when this attempt must wait; read-only."""
        window, remaining = self._window()
        pair, by_ip, by_user = self._keys(username, ip, window)
        counts = self._store.counts((pair, by_ip, by_user))
        policy = self._policy
        if (
            counts[pair] >= policy.max_failures_per_user_and_ip
            or counts[by_ip] >= policy.max_failures_per_ip
            or (counts[by_user] >= policy.max_failures_per_user and counts[pair] > 0)
        ):
            raise ResourceExhausted("too many failed sign-ins, try again later", retry_after=remaining)

    def record_failure(self, username: str, ip: str) -> None:
        window, _ = self._window()
        # Kept one extra window so TTL deletion never races the window's end.
        expires_at = (window + 2) * self._policy.window_seconds
        for key in self._keys(username, ip, window):
            self._store.add_failure(key, expires_at)

    def check_address(self, ip: str) -> None:
        """The per-address limit alone, for a sign-in that names no user yet (a passkey's
        assertion, before its passkey is found)."""
        window, remaining = self._window()
        by_ip = self._keys("", ip, window)[1]
        if self._store.counts((by_ip,))[by_ip] >= self._policy.max_failures_per_ip:
            raise ResourceExhausted("too many failed sign-ins, try again later", retry_after=remaining)

    def record_address_failure(self, ip: str) -> None:
        """A failure that names no user (an unknown passkey): the address's count alone."""
        window, _ = self._window()
        expires_at = (window + 2) * self._policy.window_seconds
        self._store.add_failure(self._keys("", ip, window)[1], expires_at)

    def record_success(self, username: str, ip: str) -> None:
        """A correct password from this address forgives its earlier typos."""
        window, _ = self._window()
        self._store.clear(self._keys(username, ip, window)[0])
