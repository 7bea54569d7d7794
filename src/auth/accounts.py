"""Sign-up and password sign-in (SPEC §3), with Memos' rules."""

from __future__ import annotations

from dataclasses import replace

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit, audited_if_lost, by_whom
from auth.clock import Clock
from auth.errors import UNMATCHED_CREDENTIALS, InvalidArgument, PermissionDenied
from auth.models import Role, State, User
from auth.passwords import hash_password, spend_verify_time, validate_password, verify_password
from auth.principal import Principal
from auth.shown_text import check_shown_text
from auth.stores.settings_store import SettingsStore
from auth.stores.user_store import OwnerTaken, UserStore
from auth.throttle import SignInThrottle
from auth.usernames import is_valid_username, validate_username

MAX_DISPLAY_NAME_CHARS = 256
MAX_EMAIL_CHARS = 256


def validate_profile(display_name: str, email: str) -> None:
    check_shown_text("displayName", display_name)
    check_shown_text("email", email)
    if len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise InvalidArgument(f"displayName must be at most {MAX_DISPLAY_NAME_CHARS} characters")
    if len(email) > MAX_EMAIL_CHARS:
        raise InvalidArgument(f"email must be at most {MAX_EMAIL_CHARS} characters")
    if email and (email.count("@") != 1 or any(ch.isspace() for ch in email)):
        raise InvalidArgument("email is not a valid address")


class Accounts:
    def __init__(
        self,
        users: UserStore,
        settings: SettingsStore,
        throttle: SignInThrottle,
        clock: Clock,
        bcrypt_cost: int,
        audit: AuditSink | None = None,
    ) -> None:
        self._users = users
        self._settings = settings
        self._throttle = throttle
        self._clock = clock
        self._bcrypt_cost = bcrypt_cost
        self._audit = audit or NullAudit()

    def sign_up(
        self,
        username: str,
        password: str,
        display_name: str = "",
        email: str = "",
        caller: Principal | None = None,
    ) -> User:
        validate_username(username)
        validate_password(password)
        validate_profile(display_name, email)
        if caller is None or not caller.is_admin:
            settings = self._settings.get_instance()
            if settings.disallow_user_registration:
                raise PermissionDenied("user registration is not allowed")
            if settings.disallow_password_auth:
                raise PermissionDenied("password signup is not allowed")
        password_hash = hash_password(password, self._bcrypt_cost)
        now = int(self._clock.now())
        claim_owner = not self._users.owner_exists()
        user = User(
            id=self._users.next_user_id(),
            username=username,
            role=Role.ADMIN if claim_owner else Role.USER,
            state=State.NORMAL,
            password_hash=password_hash,
            display_name=display_name,
            email=email,
            create_time=now,
            update_time=now,
        )
        # An account and its password are born here, the instance's first ADMIN among them.
        made = f"created {by_whom(caller)}" if caller is not None and caller.is_admin else "signed up"

        def created(user: User, note: str = "") -> None:
            reason = f"{made} as {user.role.value}{note}"
            self._audit.record(AuditEvent.CREATED, CredentialKind.ACCOUNT, user.id, "", reason=reason)

        try:
            with audited_if_lost(lambda note: created(user, note)):
                self._users.create(user, claim_owner=claim_owner)
        except OwnerTaken:
            # Lost the race to be first: this sign-up is an ordinary user.
            user = replace(user, role=Role.USER)
            with audited_if_lost(lambda note: created(user, note)):
                self._users.create(user, claim_owner=False)
        created(user)
        return user

    def check_current_password(self, user: User, password: str | None, source_ip: str) -> None:
        """A user changing their own password proves they know the current one; a wrong one
        counts as a failed sign-in, throttled like one. A user who has none (made by a first
        sign-in with an identity provider) has nothing to prove, and sets one with the recent
        sign-in alone that the change needs anyway (auth.user_admin); what they send is
        ignored."""
        if not user.password_hash:
            # The user was read eventually consistently: a password set a moment ago is asked for.
            fresh = self._users.get(user.id, consistent=True)
            if fresh is None or not fresh.password_hash:
                return
            user = fresh
        if not password:
            raise InvalidArgument("currentPassword is required to change your own password")
        with self._throttle.attempt(user.username, source_ip):
            if not verify_password(password, user.password_hash):
                self._throttle.record_failure(user.username, source_ip)
                self._refused(user, "wrong current password")
                raise PermissionDenied("current password is incorrect")

    def sign_in(self, username: str, password: str, source_ip: str, forgive: bool = True) -> User:
        """The user whose password this is. `forgive`: a correct password clears this
        address's earlier failures; a first step that a second factor must still finish
        leaves them (auth.mfa_sign_in), so wrong codes add up with wrong passwords."""
        with self._throttle.attempt(username, source_ip):
            user = self._users.get_by_username(username) if is_valid_username(username) else None
            if user is None or not user.password_hash:
                # No user, or one who signs in with an identity provider only: as slow as a
                # wrong password, so neither can be told apart from one.
                spend_verify_time(password, self._bcrypt_cost)
            if user is None or not verify_password(password, user.password_hash):
                self._throttle.record_failure(username, source_ip)
                if user is not None:
                    # An unknown username names no account, so nothing of anyone's is refused:
                    # the throttle counts it, and its metric shows a guessing run.
                    self._refused(user, "wrong password" if user.password_hash else "no password set")
                raise InvalidArgument(UNMATCHED_CREDENTIALS)
            if forgive:
                self._throttle.record_success(username, source_ip)
            # Checked after the password, so only the account holder learns it is archived.
            self.check_may_sign_in(user)
            return user

    def check_may_sign_in(
        self,
        user: User,
        with_password: bool = True,
        kind: CredentialKind = CredentialKind.PASSWORD,
        credential_id: str = "",
    ) -> None:
        """What a correct credential does not override: an archived user, and password
        sign-in turned off for users; a refusal is audited against the credential that was
        presented (`kind`, `credential_id`). Checked again by a second step
        (auth.mfa_sign_in), in case it changed in between; `with_password` False for a first
        step made with an identity provider or a passkey alone, which `disallowPasswordAuth`
        does not concern."""
        if not user.is_active:
            reason = "user has been archived"
        elif with_password and self._refuses_password_sign_in(user):
            reason = "password signin is not allowed"
        else:
            return
        self._audit.record(AuditEvent.REFUSED, kind, user.id, credential_id, reason=reason)
        raise PermissionDenied(reason)

    def _refused(self, user: User, reason: str) -> None:
        self._audit.record(AuditEvent.REFUSED, CredentialKind.PASSWORD, user.id, "", reason=reason)

    def password_signs_in(self, user: User) -> bool:
        """Whether the user can sign in with a password now: they have one, and
        `disallowPasswordAuth` does not refuse it (it refuses a USER's, never an ADMIN's)."""
        return bool(user.password_hash) and not self._refuses_password_sign_in(user)

    def _refuses_password_sign_in(self, user: User) -> bool:
        return not user.is_admin and self._settings.get_instance().disallow_password_auth
