"""Reading, changing and deleting users (SPEC §3), with Memos' rules on who may do what."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from auth import page_tokens
from auth.accounts import Accounts, validate_profile
from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit, audited_if_lost, by_whom
from auth.clock import Clock
from auth.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from auth.models import Role, State, User
from auth.passwords import hash_password, validate_password
from auth.pats import PersonalAccessTokens
from auth.principal import Principal
from auth.recent_sign_in import RecentSignIn
from auth.revocation import CredentialRevocation
from auth.routes import Access, may_act_for
from auth.stores.user_store import CutOffPassed, OwnerChanged, TokensRemain, UserStore
from auth.usernames import validate_username

# A token created between the sweep of a user's tokens and the user's deletion sends the
# deletion round again, and a role or state change that met another is applied again over
# it; this many rounds is far more than concurrent clients can provoke.
ATTEMPTS = 3
# GET /api/v1/users: a page holds DEFAULT_PAGE_SIZE users unless pageSize asks otherwise, and
# at most MAX_PAGE_SIZE (Memos caps its page sizes too), which keeps one page well inside a
# Lambda's time and a Scan call's 1 MB.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class UserChanges:
    password: str | None = field(default=None, repr=False)
    # Required with a new password of one's own, unless the user has none yet (SPEC §3).
    current_password: str | None = field(default=None, repr=False)
    display_name: str | None = None
    email: str | None = None
    role: Role | None = None
    state: State | None = None


# PATCH's updateMask, as Memos' UpdateUser reads it: the User fields a path may name, each
# with the UserChanges field it sets. Memos names them as its proto does (display_name; gRPC-
# gateway passes a query's paths on as they are), this API's JSON in camelCase: both are read.
_MASK_PATHS = {
    "display_name": "display_name",
    "displayName": "display_name",
    "email": "email",
    "password": "password",
    "role": "role",
    "state": "state",
}
# Memos' fields memos-auth holds nothing of: named, they change nothing, as in a body (a Memos
# client's profile dialog names them with display_name, which must not fail for their sake).
_MASK_PATHS_NOT_HELD = frozenset({"avatar_url", "avatarUrl", "description"})
# A masked field absent from the body: Memos clears a text field (its empty value); a password,
# role or state has no empty value to set.
_CLEARED_WHEN_ABSENT = {"display_name": "", "email": ""}


def masked(changes: UserChanges, update_mask: str) -> UserChanges:
    """`changes` with only the fields `update_mask` names (comma-separated paths); the others
    given are ignored, as Memos ignores them. No mask: every field given, as before masks."""
    if not update_mask.strip():
        return changes
    named: set[str] = set()
    for path in (part.strip() for part in update_mask.split(",")):
        if path in _MASK_PATHS:
            named.add(_MASK_PATHS[path])
        elif path not in _MASK_PATHS_NOT_HELD:
            # Memos' own message; a path of Memos' User this API cannot change (username) too.
            raise InvalidArgument(f"invalid update path: {path}")
    fields: dict[str, Any] = {}
    for name in ("display_name", "email", "password", "role", "state"):
        value = getattr(changes, name) if name in named else None
        if name in named and value is None:
            if name not in _CLEARED_WHEN_ABSENT:
                raise InvalidArgument(f"the update mask names {name} but the body has none")
            value = _CLEARED_WHEN_ABSENT[name]
        fields[name] = value
    # The current password goes with a new one only.
    fields["current_password"] = changes.current_password if "password" in named else None
    return UserChanges(**fields)


class UserAdmin:
    def __init__(
        self,
        users: UserStore,
        pats: PersonalAccessTokens,
        revocation: CredentialRevocation,
        accounts: Accounts,
        recent_sign_in: RecentSignIn,
        clock: Clock,
        bcrypt_cost: int,
        audit: AuditSink | None = None,
    ) -> None:
        self._users = users
        self._accounts = accounts
        self._recent_sign_in = recent_sign_in
        self._pats = pats
        self._revocation = revocation
        self._clock = clock
        self._bcrypt_cost = bcrypt_cost
        self._audit = audit or NullAudit()

    def get(self, username: str, consistent: bool = False) -> User:
        validate_username(username)
        user = self._users.get_by_username(username, consistent=consistent)
        if user is None:
            raise NotFound(f"user {username} not found")
        return user

    def list(
        self, caller: Principal, page_size: int = DEFAULT_PAGE_SIZE, page_token: str = ""
    ) -> tuple[list[User], str]:
        """One page of users and the token of the next page ("" after the last).

        Pages come in the Users table's Scan order, not by id (README: listing users).
        """
        if not caller.is_admin:
            raise PermissionDenied("only an admin may list users")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidArgument(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        after = page_tokens.decode(page_token) if page_token else None
        users, last = self._users.page(page_size, after)
        return users, page_tokens.encode(last) if last is not None else ""

    def _target(self, caller: Principal, username: str) -> User:
        # Read consistently: a change writes only what differs from this read, and one
        # made just before must not make a real change look like none.
        user = self.get(username, consistent=True)
        if not self.may_act_for(caller, user.id, Access.SELF_OR_ADMIN):
            raise PermissionDenied("you may only change your own account")
        return user

    def may_act_for(self, caller: Principal, owner_id: int, access: Access) -> bool:
        """routes.may_act_for, with an admin acting on another's account checked against a
        consistent read of their own: the role the authorizer saw may be up to the
        revocation lag old, and an admin just demoted, archived or deleted by another must
        not act as one within it (nor demote, archive or delete that one in turn, which
        could leave no admin at all)."""
        if not may_act_for(caller, owner_id, access):
            return False
        if caller.user_id == owner_id or not caller.is_admin:
            return True
        fresh = self._users.get(caller.user_id, consistent=True)
        return fresh is not None and fresh.is_admin and fresh.is_active

    def update(
        self,
        caller: Principal,
        username: str,
        changes: UserChanges,
        current_credential: str = "",
        source_ip: str = "",
    ) -> User:
        """Apply `changes`; a new password revokes every other credential of the user, keeping
        `current_credential` (the caller's own session or sign-in) when they change their own.

        A new password needs a recent sign-in of the caller's (theirs or an admin's), and the
        current password when it is their own.
        """
        user = self._target(caller, username)
        if changes.password is not None:
            # The new password's own rules first: they cost no sign-in attempt.
            validate_password(changes.password)
            self._recent_sign_in.require(caller)
            if caller.user_id == user.id:
                self._accounts.check_current_password(user, changes.current_password, source_ip)
        # A role or state the user already has is no change (a Memos client sends back the
        # whole User it read): only a different one needs an admin.
        if changes.role not in (None, user.role) or changes.state not in (None, user.state):
            if not caller.is_admin:
                raise PermissionDenied("only an admin may change role or state")
            if caller.user_id == user.id:
                # An admin demoting or archiving themselves could leave nobody to undo it.
                raise InvalidArgument("an admin cannot change their own role or state")
        # Only what changes: a profile stored before a rule (a Memos client sends back the
        # whole User it read) must not keep an admin from archiving its user.
        validate_profile(
            changes.display_name if changes.display_name not in (None, user.display_name) else "",
            changes.email if changes.email not in (None, user.email) else "",
        )
        now = int(self._clock.now())
        fields: dict[str, Any] = {"update_time": now}
        for name in ("display_name", "email", "role", "state"):
            # Only what differs from the user as read: a value sent back as it was (a Memos
            # client sends the whole User) would undo a concurrent change when written over it.
            if getattr(changes, name) not in (None, getattr(user, name)):
                fields[name] = getattr(changes, name)
        password_changed = changes.password is not None

        def written(also: dict[str, Any]) -> User:
            # Audited as soon as stored (or perhaps stored, its answer lost): a step after the
            # write that fails (the second sweep of sign-ins) must not leave a change that
            # the trail never saw.
            meant = replace(user, **fields, **also)
            with audited_if_lost(
                lambda note: self._audit_changes(caller, user, meant, password_changed, note)
            ):
                before, updated = self._write(user, fields | also)
            # Against what this change was written over, which a retry read afresh: another
            # admin's concurrent change is theirs to audit.
            self._audit_changes(caller, before, updated, password_changed)
            return updated

        if changes.password is None:
            return written({})
        fields["password_hash"] = hash_password(changes.password, self._bcrypt_cost)
        # The new password is stored with the cut-off, in one write: access tokens issued
        # before it stop passing (the caller gets a new one), and a sign-in that verified
        # the old password cannot store its session or refresh family after it.
        keep = current_credential if caller.user_id == user.id else ""
        return self._revocation.end_every_login(
            user,
            keep,
            reason="password changed",
            write=lambda cut_off: written({"tokens_not_before": cut_off}),
        )

    def _audit_changes(
        self, caller: Principal, before: User, after: User, password_changed: bool, note: str = ""
    ) -> None:
        by = by_whom(caller, after.id) + note
        if password_changed:
            self._audit.record(
                AuditEvent.CHANGED, CredentialKind.PASSWORD, after.id, "", reason=f"changed {by}"
            )
        if before.state is not after.state:
            event = AuditEvent.SUSPENDED if after.state is State.ARCHIVED else AuditEvent.RESTORED
            self._audit.record(
                event, CredentialKind.ACCOUNT, after.id, "", reason=f"{after.state.value} {by}"
            )
        if before.role is not after.role:
            # What every credential of the account may do changed with it: an admin's rights
            # given or taken belong in the trail as much as a password change.
            self._audit.record(
                AuditEvent.CHANGED,
                CredentialKind.ACCOUNT,
                after.id,
                "",
                reason=f"role {before.role.value} -> {after.role.value} {by}",
            )

    def _write(self, user: User, fields: dict[str, Any]) -> tuple[User, User]:
        """Store `fields` over the user; only they are written, so a concurrent change of
        other fields is kept. The user they were written over (read again after a
        concurrent change of role or state) and the user as stored."""
        for _ in range(ATTEMPTS):
            updated = replace(user, **fields)
            if updated.as_owner == user.as_owner:
                self._users.update(user, updated)
                return user, updated
            try:
                # Each of the user's tokens carries a copy of role and state: they change together.
                self._pats.save_owner(user, updated)
                return user, updated
            except OwnerChanged:
                # Another change of role or state landed first: apply this one over it.
                fresh = self._users.get(user.id, consistent=True)
                if fresh is None:
                    raise NotFound("user not found") from None
                if "tokens_not_before" in fields:
                    # The other change may have moved the cut-off as far: this one's must pass it.
                    CutOffPassed.check(fresh, fields["tokens_not_before"])
                user = fresh
        raise Unavailable("the user kept changing; try again")

    def delete(self, caller: Principal, username: str) -> None:
        user = self._target(caller, username)
        if user.is_admin and caller.user_id == user.id:
            raise InvalidArgument("an admin cannot delete their own account")
        if caller.user_id == user.id:
            self._recent_sign_in.require(caller)

        def deleted(note: str = "") -> None:
            reason = f"deleted {by_whom(caller, user.id)}{note}"
            self._audit.record(AuditEvent.REVOKED, CredentialKind.ACCOUNT, user.id, "", reason=reason)

        # Credentials go first, the user last: if a step fails, the user is still there (signed
        # out everywhere) and a retry finishes the job. The other order would leave orphaned
        # credentials that a retry could no longer reach, the user being gone.
        for _ in range(ATTEMPTS):
            self._revocation.remove_all(user.id)
            try:
                with audited_if_lost(deleted):
                    self._users.delete(user)
                break
            except TokensRemain:
                # A token was created after the sweep: sweep again.
                continue
        else:
            raise Unavailable("the user's tokens kept changing; try again")
        # In the trail as soon as the user is gone, before the last step can fail.
        deleted()
        # A session or refresh token created in between is swept here; later ones are
        # never stored (their user is gone: UserStore.unchanged_since).
        self._revocation.revoke_sign_ins(user.id, reason="user deleted")
