"""Signing in with an identity provider (SPEC §8): the verified identity's user, made on its
first sign-in, then the second factor like any first step (auth.mfa_sign_in, `amr` `fed`).

The link (provider, external identifier) -> user is the only way from an identity to an
account. An unknown identity gets a new USER, unless `disallowUserRegistration` is set
(403 `user registration is not allowed`): never an existing account because its username
or email matches (that would hand the account to whoever controls the identity; linking is
explicit, auth.linked_identities). The username is the identifier when it is a valid
username and free, else a generated one; the user, its username record and its link are
one transaction, so two first sign-ins of one identity make one user (the loser reads the
winner's link and signs in as that user).

A link whose user is gone (deleted while the link was being made) or whose provider was
deleted and made again (another uid) is dead: it is removed and the identity is unknown
again. Archived users are refused after the provider (403), as after a password.
"""

from __future__ import annotations

import functools
import re
import secrets
import string
import uuid
from collections.abc import Iterator

from auth.accounts import MAX_DISPLAY_NAME_CHARS, validate_profile
from auth.audit import AuditEvent, AuditSink, CredentialKind, audited_if_lost, audited_write
from auth.clock import Clock
from auth.errors import InvalidArgument, PermissionDenied, Unavailable
from auth.federated_identity import FederatedIdentities, Verified
from auth.idp_models import LinkRecord
from auth.mfa_sign_in import MfaSignIn
from auth.models import Amr, Role, SignIn, State, User
from auth.provider_protocol import SsoCredentials
from auth.routes import Route
from auth.shown_text import without_controls
from auth.stores.idp_store import Created, IdpStore
from auth.stores.settings_store import SettingsStore
from auth.stores.user_store import UserStore
from auth.usernames import MAX_USERNAME_CHARS, is_valid_username

REGISTRATION_CLOSED = "user registration is not allowed"
# Dead links removed, first sign-ins lost to a racing one: far more than races provoke.
ATTEMPTS = 3
GENERATED_USERNAMES = 4
_SUFFIX_CHARS = string.ascii_lowercase + string.digits
_SUFFIX_LENGTH = 6
_NOT_USERNAME = re.compile(r"[^A-Za-z0-9-]+")


def username_candidates(identifier: str) -> Iterator[str]:
    """The identifier itself when it is a valid username, then generated ones made from it
    (its part before any '@', cleaned, and a random suffix)."""
    if is_valid_username(identifier):
        yield identifier
    base = _NOT_USERNAME.sub("-", identifier.split("@", 1)[0]).strip("-")
    base = base[: MAX_USERNAME_CHARS - _SUFFIX_LENGTH - 1].rstrip("-") or "user"
    for _ in range(GENERATED_USERNAMES):
        suffix = "".join(secrets.choice(_SUFFIX_CHARS) for _ in range(_SUFFIX_LENGTH))
        yield f"{base}-{suffix}"


def _email_or_empty(email: str) -> str:
    try:
        validate_profile("", email)
    except InvalidArgument:
        # An address this service would refuse at sign-up is left out, not stored.
        return ""
    return email


class SsoSignIn:
    def __init__(
        self,
        identities: FederatedIdentities,
        store: IdpStore,
        users: UserStore,
        settings: SettingsStore,
        mfa: MfaSignIn,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self.identities = identities
        self._store = store
        self._users = users
        self._settings = settings
        self._mfa = mfa
        self._clock = clock
        self._audit = audit

    def sign_in(self, credentials: SsoCredentials, source_ip: str, route: Route) -> tuple[User, SignIn]:
        """The user and their sign-in, or MfaRequired when they have a second factor."""
        verified = self.identities.verify(credentials, source_ip)
        link, user = self._linked_user(verified)
        if not user.is_active:
            self.identities.refused(verified.provider.id, user.id, "user archived")
            raise PermissionDenied("user has been archived")
        # The link is the credential here: its use tells a provider's sign-in apart from a
        # password's in the trail (the session or refresh token it makes is audited as any).
        self._audit.record(
            AuditEvent.USED,
            CredentialKind.LINKED_IDENTITY,
            user.id,
            link.link_id,
            reason=f"verified by {verified.provider.name}",
        )
        return self._mfa.after_first_step(user, Amr.FEDERATED, source_ip, route)

    def live_link(self, verified: Verified) -> tuple[LinkRecord, User] | None:
        """The identity's link and its user; a dead link is removed (and None answered)."""
        provider = verified.provider
        link = self._store.get_link(provider.id, verified.identity.identifier)
        if link is None:
            return None
        user = self._users.get(link.user_id, consistent=True) if link.provider_uid == provider.uid else None
        if user is None:
            gone = "user" if link.provider_uid == provider.uid else "provider"

            def removed(note: str) -> None:
                reason = f"dead link removed: its {gone} is gone{note}"
                self._audit.record(
                    AuditEvent.REVOKED,
                    CredentialKind.LINKED_IDENTITY,
                    link.user_id,
                    link.link_id,
                    reason=reason,
                )

            audited_write(functools.partial(self._store.delete_link, link), removed)
            return None
        return link, user

    def _linked_user(self, verified: Verified) -> tuple[LinkRecord, User]:
        for _ in range(ATTEMPTS):
            found = self.live_link(verified) or self._first_sign_in(verified)
            if found is not None:
                return found
        raise Unavailable("the identity kept changing; try again")

    def _first_sign_in(self, verified: Verified) -> tuple[LinkRecord, User] | None:
        """A new user and its link to the identity; None when a racing first sign-in linked it."""
        provider, identity = verified.provider, verified.identity
        if self._settings.get_instance().disallow_user_registration:
            self.identities.refused(provider.id, 0, "registration closed")
            raise PermissionDenied(REGISTRATION_CLOSED)
        now = int(self._clock.now())
        user_id = self._users.next_user_id()
        link = LinkRecord(provider.id, provider.uid, identity.identifier, user_id, str(uuid.uuid4()), now)
        for username in username_candidates(identity.identifier):
            user = User(
                id=user_id,
                username=username,
                role=Role.USER,
                state=State.NORMAL,
                # No password: such a user signs in with the provider (a password sign-in
                # is refused like a wrong password).
                password_hash="",
                # The provider's word, kept as far as this service would take it from a person.
                display_name=without_controls(identity.display_name)[:MAX_DISPLAY_NAME_CHARS],
                email=_email_or_empty(identity.email),
                create_time=now,
                update_time=now,
            )
            with audited_if_lost(functools.partial(self._created, provider.name, user, link)):
                outcome = self._store.create_user_with_link(self._users.creation_items(user), link)
            if outcome is Created.LINK_TAKEN:
                return None
            if outcome is Created.DONE:
                self._created(provider.name, user, link, "")
                return link, user
        raise Unavailable("no free username was found; try again")

    def _created(self, provider_name: str, user: User, link: LinkRecord, note: str) -> None:
        """An account born here as at a sign-up (auth.accounts), its link with it."""
        self._audit.record(
            AuditEvent.CREATED,
            CredentialKind.ACCOUNT,
            user.id,
            "",
            reason=f"first sign-in with {provider_name}, as {user.role.value}{note}",
        )
        self._audit.record(
            AuditEvent.CREATED,
            CredentialKind.LINKED_IDENTITY,
            user.id,
            link.link_id,
            reason=f"first sign-in with {provider_name}, user created{note}",
        )
