"""Sign-in throttling (SPEC §3): repeated failures per username and per source IP get a 429.

Three counters per fixed window, shared by every container through DynamoDB:
- per (username, IP): the usual brute force of one account from one address;
- per IP: one address spraying many usernames;
- per username, across all IPs: a distributed attack on one account. This one only
  throttles addresses that have themselves failed for that username in the window, so an
  attacker cannot lock the real user out of a correct sign-in from elsewhere.

An attempt is counted against (username, IP) and against the IP before it is checked, each
by one conditional write that refuses past its limit, and then settled: a failure stays
counted (and adds to the username's counter), a sign-in that forgives clears the pair's
counter and gives back the IP's, anything else gives both back. Counted after the check
instead, attempts sent at the same instant would all read one count and all be checked:
many passwords for one account, or one address's guesses spread over many usernames.
The username's counter is added to after the check, as its limit holds only addresses
that failed already (a burst from many fresh addresses is held by the pair limit each).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from auth import deadline as deadlines
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
        # This thread's open attempt: the counters `check` added it to, until it is settled
        # (failed, forgiven or given back), so that the end of its block gives back only an
        # attempt nothing else settled, and only once, whatever window the clock is in by then.
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

    def check(self, username: str, ip: str) -> tuple[str, str]:
        """Raise ResourceExhausted (429) when this attempt must wait; otherwise count it for
        (username, IP) and for the IP before it is checked, each in one conditional write,
        and return the two counters' keys: attempts sent at the same instant would otherwise
        all read one count and all be checked (a burst of TOTP codes, each on a challenge of
        its own, or of passwords for as many usernames). `attempt` settles it."""
        window, remaining = self._window()
        pair, by_ip, by_user = self._keys(username, ip, window)
        counts = self._store.counts((pair, by_ip, by_user))
        policy = self._policy
        expires_at = self._expires_at(window)
        if (
            counts[pair] >= policy.max_failures_per_user_and_ip
            or counts[by_ip] >= policy.max_failures_per_ip
            or (counts[by_user] >= policy.max_failures_per_user and counts[pair] > 0)
            or not self._store.reserve(pair, policy.max_failures_per_user_and_ip, expires_at)
        ):
            raise _too_many(remaining)
        try:
            counted = self._store.reserve(by_ip, policy.max_failures_per_ip, expires_at)
        except BaseException:
            # Storage may be down: then the pair's count stays, the safe side.
            with suppress(Unavailable):
                self._release(pair)
            raise
        if not counted:
            self._release(pair)
            raise _too_many(remaining)
        return pair, by_ip

    @contextmanager
    def attempt(self, username: str, ip: str) -> Iterator[None]:
        """`check`, then the block that checks the attempt. The block settles it (a failure,
        or a sign-in that forgives); one that ends without settling it, however it ends (a
        first step a code must finish, a provider's answer, a 503), gives it back."""
        self._attempt.counted = self.check(username, ip)
        try:
            yield
        except BaseException:
            # Storage may be down: then the attempt stays counted, the safe side, and the
            # error the block raised is the answer.
            with suppress(Unavailable):
                self._give_back()
            raise
        # Failing, it is this request's 503, as any write of it would be.
        self._give_back()

    def _settle(self) -> tuple[str, str] | None:
        """The counters of this thread's attempt if it is still open; it is settled now."""
        counted: tuple[str, str] | None = getattr(self._attempt, "counted", None)
        self._attempt.counted = None
        return counted

    def _give_back(self) -> None:
        counted = self._settle()
        if counted is not None:
            self._release(*counted)

    def _release(self, *keys: str) -> None:
        """Give back what `check` reserved: an undoing, which the request's deadline does not
        refuse (auth.deadline.compensating)."""
        with deadlines.compensating():
            for key in keys:
                self._store.release(key)

    def record_failure(self, username: str, ip: str) -> None:
        """An attempt `check` let through failed: (username, IP) and the IP counted it already."""
        self._settle()
        window, _ = self._window()
        self._store.add_failure(self._keys(username, ip, window)[2], self._expires_at(window))

    def check_address(self, ip: str) -> None:
        """The per-address limit alone, for a sign-in that names no user yet (a passkey's
        assertion, before its passkey is found)."""
        window, remaining = self._window()
        by_ip = self._keys("", ip, window)[1]
        if self._store.counts((by_ip,))[by_ip] >= self._policy.max_failures_per_ip:
            raise _too_many(remaining)

    def record_address_failure(self, ip: str) -> None:
        """A failure that names no user (an unknown passkey): the address's count alone."""
        window, _ = self._window()
        self._store.add_failure(self._keys("", ip, window)[1], self._expires_at(window))

    def record_success(self, username: str, ip: str) -> None:
        """A correct password from this address forgives its earlier typos. The IP's count of
        an attempt still open is given back (a first step's already was, when its block
        ended); the address's failures for other usernames stay."""
        counted = self._settle()
        if counted is None:
            self._store.clear(self._keys(username, ip, self._window()[0])[0])
            return
        pair, by_ip = counted
        self._store.clear(pair)
        self._store.release(by_ip)


def _too_many(remaining: int) -> ResourceExhausted:
    """The 429 of any limit reached, with the seconds left in its window."""
    return ResourceExhausted("too many failed sign-ins, try again later", retry_after=remaining)
