"""Signing in with a second factor (SPEC §7 "Signing in with factors").

A user with a factor who passes the password gets no token: the first step answers 400
`second factor required` with an opaque challenge in a google.rpc.ErrorInfo, and the
second step (`mfaCredentials`) brings it back with a TOTP code or a recovery code. Users
without a factor sign in as before (SPEC §3).

The challenge is 256 random bits; only its SHA-256 is stored (like a session secret). It
lives 5 minutes, belongs to one user and to the route that issued it (a challenge from
/auth/signin cannot finish /auth/sessions), dies after 5 wrong codes, and is used once: it
is used up in the same transaction that spends the code (auth.stores.factor_store). Wrong
codes count as failed sign-ins, in the same throttle as a wrong password (auth.throttle),
per username and address. An archived user, `disallowPasswordAuth` and the throttle are
checked before a challenge is issued, and again before a code is checked.

A successful second step is a sign-in made with two factors: `amr` is RFC 8176's
`["pwd","otp","mfa"]` for a TOTP code and for a recovery code alike, since a recovery code
is a one-time password too (the audit trail tells the two apart); after an identity
provider (`after_first_step` with `fed`) it begins with `fed` instead of `pwd`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import NoReturn

from auth import recovery_codes, totp
from auth.accounts import Accounts
from auth.audit import AuditEvent, AuditSink, CredentialKind
from auth.clock import Clock
from auth.errors import FailedPrecondition, InvalidArgument
from auth.factors import WRONG_CODE, Factors, Method
from auth.models import Amr, SignIn, User
from auth.routes import Route
from auth.stores.factor_store import ChallengeRecord, FactorStore
from auth.stores.user_store import UserStore
from auth.throttle import SignInThrottle

CHALLENGE_TTL_SECONDS = 5 * 60
MAX_WRONG_CODES = 5
CHALLENGE_BYTES = 32
# secrets.token_urlsafe(32): 43 characters of base64url; anything else is refused unread.
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
ERROR_DOMAIN = "memos-auth"
MFA_REQUIRED_REASON = "MFA_REQUIRED"
INVALID_CHALLENGE = "the second-factor challenge is invalid or has expired; sign in again"


class MfaRequired(FailedPrecondition):
    """The password was right, and the user has a second factor: finish with the challenge."""

    default_message = "second factor required"

    def __init__(self, challenge: str, methods: tuple[Method, ...]) -> None:
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": MFA_REQUIRED_REASON,
            "domain": ERROR_DOMAIN,
            # google.rpc.ErrorInfo's metadata is a map of strings.
            "metadata": {"mfaChallenge": challenge, "methods": ",".join(methods)},
        }
        super().__init__(details=[info])


@dataclass(frozen=True)
class SecondFactor:
    """What a second step brings: the challenge and exactly one code."""

    challenge: str
    totp_code: str | None = field(default=None, repr=False)
    recovery_code: str | None = field(default=None, repr=False)


def _hash(challenge: str) -> str:
    return hashlib.sha256(challenge.encode("ascii")).hexdigest()


class MfaSignIn:
    def __init__(
        self,
        accounts: Accounts,
        factors: Factors,
        store: FactorStore,
        users: UserStore,
        throttle: SignInThrottle,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._accounts = accounts
        self._factors = factors
        self._store = store
        self._users = users
        self._throttle = throttle
        self._clock = clock
        self._audit = audit

    def with_password(
        self, username: str, password: str, source_ip: str, route: Route
    ) -> tuple[User, SignIn]:
        """The first step: the user and their sign-in, or MfaRequired when they have a factor."""
        user = self._accounts.sign_in(username, password, source_ip, forgive=False)
        return self.after_first_step(user, Amr.PASSWORD, source_ip, route)

    def after_first_step(self, user: User, first: Amr, source_ip: str, route: Route) -> tuple[User, SignIn]:
        """A first step passed (a password, an identity provider): the sign-in, or
        MfaRequired with a challenge when the user has a second factor."""
        methods = self._factors.methods(self._factors.enabled_totp(user.id))
        if not methods:
            self._throttle.record_success(user.username, source_ip)
            return user, SignIn(int(self._clock.now()), (first.value,))
        # The address's failures are forgiven only once the second step succeeds: otherwise
        # a correct password between guesses would reset the count of wrong codes.
        challenge = secrets.token_urlsafe(CHALLENGE_BYTES)
        now = int(self._clock.now())
        self._store.create_challenge(
            ChallengeRecord(
                _hash(challenge), user.id, route.key, now, now + CHALLENGE_TTL_SECONDS, first_amr=first.value
            )
        )
        raise MfaRequired(challenge, methods)

    def with_second_factor(self, proof: SecondFactor, source_ip: str, route: Route) -> tuple[User, SignIn]:
        """The second step: the challenge's user, signed in with two factors."""
        if (proof.totp_code is None) == (proof.recovery_code is None):
            raise InvalidArgument("mfaCredentials needs exactly one of totpCode and recoveryCode")
        if _CHALLENGE.fullmatch(proof.challenge) is None:
            raise InvalidArgument(INVALID_CHALLENGE)
        now = int(self._clock.now())
        challenge = self._store.get_challenge(_hash(proof.challenge))
        # Expiry is checked on read: TTL deletion may lag by days.
        if (
            challenge is None
            or challenge.expires_at <= now
            or challenge.failures >= MAX_WRONG_CODES
            or challenge.route_key != route.key
        ):
            raise InvalidArgument(INVALID_CHALLENGE)
        user = self._users.get(challenge.user_id, consistent=True)
        if user is None:
            raise InvalidArgument(INVALID_CHALLENGE)
        self._throttle.check(user.username, source_ip)
        self._accounts.check_may_sign_in(user, with_password=challenge.first_amr == Amr.PASSWORD.value)
        record = self._factors.enabled_totp(user.id)
        if record is None:
            # Removed since the first step: that step's answer no longer holds.
            raise InvalidArgument(INVALID_CHALLENGE)
        if proof.totp_code is not None:
            step = totp.matching_step(self._factors.secret_of(record), proof.totp_code, now)
            if step is None:
                self._wrong(user, challenge, source_ip, CredentialKind.TOTP, AuditEvent.REFUSED)
            if record.last_step is not None and step <= record.last_step:
                # A code already accepted once (or an older one): never again.
                self._wrong(user, challenge, source_ip, CredentialKind.TOTP, AuditEvent.REUSE_REFUSED)
            refused = self._store.spend_step(user.id, step, challenge, now, MAX_WRONG_CODES)
            kind = CredentialKind.TOTP
        else:
            assert proof.recovery_code is not None
            bare = recovery_codes.normalised(proof.recovery_code)
            code_hash = None if bare is None else recovery_codes.hash_code(bare)
            # A set lookup of the hash: nothing secret is compared in Python.
            if code_hash is None or code_hash not in record.recovery_hashes:
                self._wrong(user, challenge, source_ip, CredentialKind.RECOVERY_CODES, AuditEvent.REFUSED)
            refused = self._store.spend_recovery_code(user.id, code_hash, challenge, now, MAX_WRONG_CODES)
            kind = CredentialKind.RECOVERY_CODES
        if refused is not None:
            if refused.challenge:
                # Used up, worn out or expired by a request that got in first.
                raise InvalidArgument(INVALID_CHALLENGE)
            # Another request spent the same step or code an instant earlier.
            self._wrong(user, challenge, source_ip, kind, AuditEvent.REUSE_REFUSED)
        self._throttle.record_success(user.username, source_ip)
        if kind is CredentialKind.RECOVERY_CODES:
            left = len(record.recovery_hashes) - 1
            self._audit.record(
                AuditEvent.USED, kind, user.id, record.enrolment_id, reason=f"signed in, {left} left"
            )
        return user, SignIn(
            now, (challenge.first_amr, Amr.ONE_TIME_PASSWORD.value, Amr.MULTIPLE_FACTORS.value)
        )

    def _wrong(
        self, user: User, challenge: ChallengeRecord, source_ip: str, kind: CredentialKind, event: AuditEvent
    ) -> NoReturn:
        """A wrong (or spent) code: a failed sign-in for the throttle, a try off the challenge."""
        self._throttle.record_failure(user.username, source_ip)
        failures = self._store.add_challenge_failure(challenge.challenge_hash)
        if failures is not None and failures >= MAX_WRONG_CODES:
            self._store.delete_challenge(challenge.challenge_hash)
        self._audit.record(event, kind, user.id, "", reason="wrong code at sign-in")
        raise InvalidArgument(WRONG_CODE)
