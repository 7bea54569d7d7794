"""Signing in with factors (SPEC §7 "Signing in with factors"): a second step, and a
passkey alone.

A user with a factor who passes the password gets no token: the first step answers 400
`second factor required` with an opaque challenge in a google.rpc.ErrorInfo, and the
second step (`mfaCredentials`) brings it back with a TOTP code, a recovery code or a
passkey's assertion (for a ceremony begun with `passkey_options`, tied to the challenge).
Users without a factor sign in as before (SPEC §3).

The challenge is 256 random bits; only its SHA-256 is stored (like a session secret). It
lives 5 minutes, belongs to one user and to the route that issued it (a challenge from
/auth/signin cannot finish /auth/sessions), dies after 5 wrong codes, and is used once: it
is used up in the same transaction that spends the code (auth.stores.factor_store). Wrong
codes count as failed sign-ins, in the same throttle as a wrong password (auth.throttle),
per username and address. An archived user, `disallowPasswordAuth` and the throttle are
checked before a challenge is issued, and again before a code is checked. The challenge keeps
the user's `tokens_not_before` as the first step read it: once a password change (or anything
else that ends sign-ins) moved it, the challenge no longer finishes a sign-in.

A successful second step is a sign-in made with two factors: `amr` is RFC 8176's
`["pwd","otp","mfa"]` for a TOTP code and for a recovery code alike, since a recovery code
is a one-time password too (the audit trail tells the two apart), and `["pwd","hwk","mfa"]`
for a passkey; after an identity provider (`after_first_step` with `fed`) it begins with
`fed` instead of `pwd`. A wrong passkey counts like a wrong code.

A passkey alone (`with_passkey`) is two factors, something held and the user verification
it requires: `amr` `["hwk","mfa"]`, no second step. The assertion's credential names the
user; the throttle (the address's count until the passkey is found), an archived user and
the audit trail apply as to a password. `disallowPasswordAuth` does not: it is no password.
The new signature counter and the ceremony's challenge (and a second step's MFA challenge)
are written in one transaction, so one assertion signs in once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from auth import passkey_ceremonies, recovery_codes, totp
from auth.accounts import Accounts
from auth.audit import AuditEvent, AuditSink, CredentialKind
from auth.clock import Clock
from auth.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from auth.factors import WRONG_CODE, Factors, Method
from auth.models import Amr, SignIn, User
from auth.passkey_ceremonies import CounterDidNotGrow, PasskeyRefused, Presented
from auth.passkeys import INVALID_CEREMONY, Passkeys
from auth.routes import Route
from auth.stores.factor_store import ChallengeRecord, FactorStore
from auth.stores.passkey_store import CeremonyKind, CeremonyRecord, PasskeyRecord
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
WRONG_PASSKEY = "the passkey was not accepted"


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
    """What a second step brings: the challenge and exactly one code or passkey assertion."""

    # With a code it finishes a sign-in: as secret as the code.
    challenge: str = field(repr=False)
    totp_code: str | None = field(default=None, repr=False)
    recovery_code: str | None = field(default=None, repr=False)
    # An AuthenticationResponseJSON: a signed credential, kept out of reprs like the codes.
    passkey: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def kind(self) -> CredentialKind:
        if self.passkey is not None:
            return CredentialKind.PASSKEY
        return CredentialKind.TOTP if self.totp_code is not None else CredentialKind.RECOVERY_CODES


def _hash(challenge: str) -> str:
    return hashlib.sha256(challenge.encode("ascii")).hexdigest()


class MfaSignIn:
    def __init__(
        self,
        accounts: Accounts,
        factors: Factors,
        passkeys: Passkeys,
        store: FactorStore,
        users: UserStore,
        throttle: SignInThrottle,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._accounts = accounts
        self._factors = factors
        self._passkeys = passkeys
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
        methods = self._factors.methods(self._factors.enabled_totp(user.id), self._passkeys.has_any(user.id))
        if not methods:
            self._throttle.record_success(user.username, source_ip)
            return user, SignIn(int(self._clock.now()), (first.value,))
        # The address's failures are forgiven only once the second step succeeds: otherwise
        # a correct password between guesses would reset the count of wrong codes.
        challenge = secrets.token_urlsafe(CHALLENGE_BYTES)
        now = int(self._clock.now())
        self._store.create_challenge(
            ChallengeRecord(
                _hash(challenge),
                user.id,
                route.key,
                now,
                now + CHALLENGE_TTL_SECONDS,
                first_amr=first.value,
                tokens_not_before=user.tokens_not_before,
            )
        )
        raise MfaRequired(challenge, methods)

    def with_second_factor(self, proof: SecondFactor, source_ip: str, route: Route) -> tuple[User, SignIn]:
        """The second step: the challenge's user, signed in with two factors."""
        given = [proof.totp_code, proof.recovery_code, proof.passkey]
        if sum(value is not None for value in given) != 1:
            raise InvalidArgument("mfaCredentials needs exactly one of totpCode, recoveryCode and passkey")
        # A malformed code or assertion is refused before anything is read or counted: it is
        # no guess (confirming an enrolment refuses a malformed code the same way).
        if proof.totp_code is not None and not totp.is_well_formed(proof.totp_code):
            raise InvalidArgument(f"totpCode must be {totp.DIGITS} digits")
        if proof.recovery_code is not None and recovery_codes.normalised(proof.recovery_code) is None:
            raise InvalidArgument("recoveryCode is not a recovery code")
        presented = None if proof.passkey is None else passkey_ceremonies.read_assertion(proof.passkey)
        now = int(self._clock.now())
        challenge = self._live_challenge(proof.challenge, now)
        if challenge is None or challenge.route_key != route.key:
            raise InvalidArgument(INVALID_CHALLENGE)
        user = self._users.get(challenge.user_id, consistent=True)
        if user is None or user.tokens_not_before != challenge.tokens_not_before:
            # Gone, or their cut-off moved since the first step (a new password: the one that
            # step verified is not theirs any more). A change after this read is caught where
            # the session or refresh family is stored (UserStore.unchanged_since).
            raise InvalidArgument(INVALID_CHALLENGE)
        with self._throttle.attempt(user.username, source_ip):
            self._accounts.check_may_sign_in(
                user, with_password=challenge.first_amr == Amr.PASSWORD.value, kind=proof.kind
            )
            if presented is not None:
                assert proof.passkey is not None
                self._with_passkey_second(user, challenge, proof.passkey, presented, source_ip)
                self._throttle.record_success(user.username, source_ip)
                return user, SignIn(
                    now, (challenge.first_amr, Amr.HARDWARE_KEY.value, Amr.MULTIPLE_FACTORS.value)
                )
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
                refused = self._store.spend_step(record, step, challenge, now, MAX_WRONG_CODES)
            else:
                assert proof.recovery_code is not None
                code_hash = recovery_codes.hash_code(proof.recovery_code)
                # Each stored hash compared in constant time, all of them (at most ten): a set
                # lookup would end in `==` on the one whose Python hash matches.
                if not any([hmac.compare_digest(code_hash, stored) for stored in record.recovery_hashes]):
                    self._wrong(user, challenge, source_ip, CredentialKind.RECOVERY_CODES, AuditEvent.REFUSED)
                refused = self._store.spend_recovery_code(record, code_hash, challenge, now, MAX_WRONG_CODES)
            if refused is not None:
                if refused.challenge:
                    # Used up, worn out or expired by a request that got in first.
                    raise InvalidArgument(INVALID_CHALLENGE)
                # Another request spent the same step or code an instant earlier, or the factor
                # was removed (and perhaps enrolled anew) since the code was checked against it.
                self._wrong(user, challenge, source_ip, proof.kind, AuditEvent.REUSE_REFUSED)
            self._throttle.record_success(user.username, source_ip)
            if proof.kind is CredentialKind.RECOVERY_CODES:
                reason = f"signed in, {len(record.recovery_hashes) - 1} left"
            else:
                reason = "signed in"
            self._audit.record(AuditEvent.USED, proof.kind, user.id, record.enrolment_id, reason=reason)
            return user, SignIn(
                now, (challenge.first_amr, Amr.ONE_TIME_PASSWORD.value, Amr.MULTIPLE_FACTORS.value)
            )

    def _with_passkey_second(
        self,
        user: User,
        challenge: ChallengeRecord,
        credential: Mapping[str, Any],
        presented: Presented,
        source_ip: str,
    ) -> None:
        """A passkey as the second step: its ceremony must be this challenge's; a passkey
        that is not the user's or does not verify is a wrong code."""
        ceremony = self._passkeys.ceremony_for(presented, CeremonyKind.SECOND_STEP)
        if (
            ceremony is None
            or ceremony.user_id != user.id
            or not hmac.compare_digest(ceremony.mfa_challenge_hash, challenge.challenge_hash)
        ):
            raise InvalidArgument(INVALID_CEREMONY)
        passkey = self._passkeys.passkey_for(presented)
        if passkey is None or passkey.user_id != user.id:
            self._passkeys.spend_ceremony(ceremony)
            self._wrong(
                user, challenge, source_ip, CredentialKind.PASSKEY, AuditEvent.REFUSED, "not the user's"
            )
        asserted = self._verified(user, passkey, credential, presented, ceremony, challenge, source_ip)
        now = int(self._clock.now())
        also = self._store.challenge_used_up(challenge, now, MAX_WRONG_CODES)
        refused = self._passkeys.use(passkey, asserted, ceremony, also)
        if refused is not None:
            if refused.also:
                raise InvalidArgument(INVALID_CHALLENGE)
            if refused.ceremony:
                raise InvalidArgument(INVALID_CEREMONY)
            # The same assertion (or another with the same counter) was accepted an instant earlier.
            self._wrong(
                user,
                challenge,
                source_ip,
                CredentialKind.PASSKEY,
                AuditEvent.REUSE_REFUSED,
                "counter changed",
            )
        self._audit.record(
            AuditEvent.USED,
            CredentialKind.PASSKEY,
            user.id,
            passkey.passkey_id,
            reason="signed in, second step",
        )

    def _verified(
        self,
        user: User,
        passkey: PasskeyRecord,
        credential: Mapping[str, Any],
        presented: Presented,
        ceremony: CeremonyRecord,
        challenge: ChallengeRecord | None,
        source_ip: str,
    ) -> passkey_ceremonies.Asserted:
        """py_webauthn's verdict; a refusal is a failed sign-in (and, in a second step, a
        try off `challenge`), audited with its reason."""
        try:
            return self._passkeys.verify(passkey, credential, presented, ceremony)
        except PasskeyRefused as refused:
            event = AuditEvent.REUSE_REFUSED if isinstance(refused, CounterDidNotGrow) else AuditEvent.REFUSED
            if challenge is not None:
                self._wrong(
                    user, challenge, source_ip, CredentialKind.PASSKEY, event, refused.reason, passkey
                )
            self._throttle.record_failure(user.username, source_ip)
            self._audit.record(event, CredentialKind.PASSKEY, user.id, passkey.passkey_id, refused.reason)
            raise InvalidArgument(WRONG_PASSKEY) from refused

    def with_passkey(self, credential: Mapping[str, Any], source_ip: str) -> tuple[User, SignIn]:
        """A passwordless sign-in: the user whose passkey verified, signed in with two factors."""
        presented = passkey_ceremonies.read_assertion(credential)
        self._throttle.check_address(source_ip)
        ceremony = self._passkeys.ceremony_for(presented, CeremonyKind.SIGN_IN)
        if ceremony is None:
            raise InvalidArgument(INVALID_CEREMONY)
        passkey = self._passkeys.passkey_for(presented)
        user = None if passkey is None else self._users.get(passkey.user_id, consistent=True)
        if passkey is None or user is None:
            self._passkeys.spend_ceremony(ceremony)
            self._throttle.record_address_failure(source_ip)
            raise InvalidArgument(WRONG_PASSKEY)
        with self._throttle.attempt(user.username, source_ip):
            asserted = self._verified(user, passkey, credential, presented, ceremony, None, source_ip)
            try:
                # After the passkey verified, so only its holder learns the account is archived.
                self._accounts.check_may_sign_in(
                    user, with_password=False, kind=CredentialKind.PASSKEY, credential_id=passkey.passkey_id
                )
            except PermissionDenied:
                self._passkeys.spend_ceremony(ceremony)
                raise
            if self._passkeys.use(passkey, asserted, ceremony) is not None:
                # Another request got in first with this challenge or counter: a replay.
                self._throttle.record_failure(user.username, source_ip)
                self._audit.record(
                    AuditEvent.REUSE_REFUSED,
                    CredentialKind.PASSKEY,
                    user.id,
                    passkey.passkey_id,
                    reason="challenge or counter already used",
                )
                raise InvalidArgument(INVALID_CEREMONY)
            self._throttle.record_success(user.username, source_ip)
            self._audit.record(
                AuditEvent.USED,
                CredentialKind.PASSKEY,
                user.id,
                passkey.passkey_id,
                reason="signed in, passwordless",
            )
            return user, SignIn(int(self._clock.now()), (Amr.HARDWARE_KEY.value, Amr.MULTIPLE_FACTORS.value))

    def passkey_options(self, mfa_challenge: str) -> dict[str, Any]:
        """Options for a passkey second step, tied to the MFA challenge (of either route)."""
        challenge = self._live_challenge(mfa_challenge, int(self._clock.now()))
        if challenge is None:
            raise InvalidArgument(INVALID_CHALLENGE)
        return self._passkeys.second_step_options(
            challenge.user_id, challenge.challenge_hash, challenge.expires_at
        )

    def _live_challenge(self, value: str, now: int) -> ChallengeRecord | None:
        """The MFA challenge `value` names while it lives: unexpired, not worn out."""
        if _CHALLENGE.fullmatch(value) is None:
            return None
        challenge = self._store.get_challenge(_hash(value))
        # Expiry is checked on read: TTL deletion may lag by days.
        if challenge is None or challenge.expires_at <= now or challenge.failures >= MAX_WRONG_CODES:
            return None
        return challenge

    def _wrong(
        self,
        user: User,
        challenge: ChallengeRecord,
        source_ip: str,
        kind: CredentialKind,
        event: AuditEvent,
        reason: str = "wrong code at sign-in",
        passkey: PasskeyRecord | None = None,
    ) -> NoReturn:
        """A wrong (or spent) code or passkey: a failed sign-in for the throttle, a try off
        the challenge."""
        self._throttle.record_failure(user.username, source_ip)
        failures = self._store.add_challenge_failure(challenge.challenge_hash)
        if failures is not None and failures >= MAX_WRONG_CODES:
            self._store.delete_challenge(challenge.challenge_hash)
        credential_id = passkey.passkey_id if passkey is not None else ""
        self._audit.record(event, kind, user.id, credential_id, reason=reason)
        raise InvalidArgument(WRONG_CODE if kind is not CredentialKind.PASSKEY else WRONG_PASSKEY)
