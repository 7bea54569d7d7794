"""Sign-in throttling (SPEC §3): repeated failures per username and per source IP get a 429.

Three counters per fixed window, shared by every container through DynamoDB:
- per (username, IP): the usual brute force of one account from one address;
- per IP: one address spraying many usernames;
- per username, across all IPs: a distributed attack on one account. This one only
  throttles addresses that have themselves failed for that username in the window, so an
  attacker cannot lock the real user out of a correct sign-in from elsewhere.

An attempt is counted against (username, IP) before it is checked, by one conditional
write that refuses past the limit, and then settled: a failure adds to the other two
counters, a sign-in that forgives clears it, anything else gives it back. Counted after
the check instead, attempts sent at the same instant would all read one count and all be
checked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from auth.clock import Clock
from auth.errors import ResourceExhausted, Unavailable
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
        # Whether this thread's attempt was settled (failed or forgiven), so that the end of
        # its block gives back only an attempt nothing else settled.
        self._attempt = threading.local()

    def _window(self) -> tuple[int, int]:
        """The current window's number and the seconds left in it."""
        now = int(self._clock.now())
        size = self._policy.window_seconds
        return now // size, size - now % size

    def _keys(self, username: str, ip: str, window: int) -> tuple[str, str, str]:
        name = username_key(username)
        return (f"pair#{window}#{ip}#{name}", f"ip#{window}#{ip}", f"user#{window}#{name}")

    def _expires_at(self, window: int) -> int:
        # Kept one extra window so TTL deletion never races the window's end.
        return (window + 2) * self._policy.window_seconds

    def check(self, username: str, ip: str) -> None:
        """Raise ResourceExhausted (429) when this attempt must wait; otherwise count it for
        (username, IP) before it is checked. Counted first, in one conditional write: attempts
        sent at the same instant would otherwise all read one count and all be checked (a
        burst of TOTP codes, each on a challenge of its own). `attempt` settles it."""
        window, remaining = self._window()
        pair, by_ip, by_user = self._keys(username, ip, window)
        counts = self._store.counts((pair, by_ip, by_user))
        policy = self._policy
        if (
            counts[pair] >= policy.max_failures_per_user_and_ip
            or counts[by_ip] >= policy.max_failures_per_ip
            or (counts[by_user] >= policy.max_failures_per_user and counts[pair] > 0)
            or not self._store.reserve(pair, policy.max_failures_per_user_and_ip, self._expires_at(window))
        ):
            raise ResourceExhausted("too many failed sign-ins, try again later", retry_after=remaining)

    @contextmanager
    def attempt(self, username: str, ip: str) -> Iterator[None]:
        """`check`, then the block that checks the attempt. The block settles it (a failure,
        or a sign-in that forgives); one that ends without settling it, however it ends (a
        first step a code must finish, a provider's answer, a 503), gives it back."""
        self.check(username, ip)
        self._attempt.settled = False
        try:
            yield
        except BaseException:
            if not self._attempt.settled:
                # Storage may be down: then the attempt stays counted, the safe side, and
                # the error the block raised is the answer.
                with suppress(Unavailable):
                    self._release(username, ip)
            raise
        if not self._attempt.settled:
            # Failing, it is this request's 503, as any write of it would be.
            self._release(username, ip)

    def record_failure(self, username: str, ip: str) -> None:
        """An attempt `check` let through failed: (username, IP) counted it already."""
        self._attempt.settled = True
        window, _ = self._window()
        _, by_ip, by_user = self._keys(username, ip, window)
        for key in (by_ip, by_user):
            self._store.add_failure(key, self._expires_at(window))

    def _release(self, username: str, ip: str) -> None:
        self._attempt.settled = True
        window, _ = self._window()
        self._store.release(self._keys(username, ip, window)[0])

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
        self._store.add_failure(self._keys("", ip, window)[1], self._expires_at(window))

    def record_success(self, username: str, ip: str) -> None:
        """A correct password from this address forgives its earlier typos."""
        self._attempt.settled = True
        window, _ = self._window()
        self._store.clear(self._keys(username, ip, window)[0])
