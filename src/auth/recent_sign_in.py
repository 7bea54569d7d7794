"""Recent sign-in (step-up authentication, RFC 9470; SPEC §3).

The changes that decide how an account is reached (its password, a new PAT, deleting it)
need a credential whose sign-in is at most `max_age` seconds old, so a stolen access token
or session is not enough to take the account over for good. A PAT never qualifies: a token
for automation must not mint credentials or change the account.
"""

from __future__ import annotations

from auth.clock import Clock
from auth.errors import PermissionDenied, Unauthenticated
from auth.principal import AuthMethod, Principal


class RecentSignInRequired(Unauthenticated):
    """Sign in again: the answer names the `max_age` the new sign-in must meet (RFC 9470 §3)."""

    default_message = "recent sign-in required"

    def __init__(self, max_age: int) -> None:
        super().__init__()
        self.max_age = max_age


class RecentSignIn:
    def __init__(self, clock: Clock, max_age: int) -> None:
        self._clock = clock
        self._max_age = max_age

    def require(self, caller: Principal) -> None:
        if caller.auth_method is AuthMethod.PAT:
            raise PermissionDenied("a personal access token cannot do this; sign in instead")
        auth_time = caller.sign_in.auth_time
        # No auth_time (a token minted before it was carried, or by Memos) counts as long ago.
        if auth_time <= 0 or self._clock.now() - auth_time > self._max_age:
            raise RecentSignInRequired(self._max_age)
