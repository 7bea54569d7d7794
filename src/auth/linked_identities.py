"""A user's linked identities (SPEC §8): list, link while signed in, unlink.

Linking is the only way an identity reaches an existing account: the user, signed in with
a recent sign-in (RFC 9470; never a PAT), brings `ssoCredentials` from the provider, and
the verified identity is linked to them, if no other account has it. Unlinking is the
user's own or an admin's, under the rules of every factor's removal (auth.factor_changes):
the caller's recent sign-in, never a PAT, and an admin's ends every login of the user. A
user who cannot sign in with a password (they have none, or `disallowPasswordAuth` refuses
a USER's) cannot lose their last identity, whoever asks: it is their only way in.

A passkey does not count as a way in here, though it signs in alone: its removal (by the
user or an admin, auth.passkeys) asks nothing about other ways in, so counting it would
only move the lockout one step (unlink, then remove the passkey). Such a user sets a
password first (auth.accounts), or keeps an identity.

The index a user's links are listed from (`byUser`) is eventually consistent, and two
unlinkings may race: so the unlinking of a user without a password deletes the link in one
transaction with a check that another link of theirs is still there (IdpStore.delete_link
`keeping`). Of two racing for the last two links, one fails; a link listed but gone
already is never the one kept. An admin's unlinking that loses such a race has ended the
user's logins all the same: as with any step of an admin's removal that fails, it errs on
the side of signing the user out (auth.factor_changes).

When a user is deleted their links go with them (auth.revocation); when a provider is
deleted, its links (auth.identity_providers).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from auth.accounts import Accounts
from auth.audit import AuditEvent, CredentialKind, audited_if_lost, by_whom
from auth.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from auth.factor_changes import FactorChanges
from auth.idp_models import LinkRecord, provider_name
from auth.models import User
from auth.principal import Principal
from auth.provider_protocol import SsoCredentials
from auth.sso_sign_in import SsoSignIn
from auth.stores.idp_store import IdpStore, KeptLinkGone
from auth.stores.user_store import UserStore

MAX_LINKS_PER_USER = 20


class LinkedIdentities:
    def __init__(
        self,
        sso: SsoSignIn,
        store: IdpStore,
        users: UserStore,
        changes: FactorChanges,
        accounts: Accounts,
    ) -> None:
        self._sso = sso
        self._store = store
        self._users = users
        self._changes = changes
        self._accounts = accounts

    def list(self, owner: User) -> list[LinkRecord]:
        return sorted(self._store.links_of_user(owner.id), key=lambda link: (link.create_time, link.link_id))

    def link(self, caller: Principal, owner: User, credentials: SsoCredentials, source_ip: str) -> LinkRecord:
        self._changes.require_recent_sign_in(caller)
        verified = self._sso.identities.verify(credentials, source_ip, user_id=owner.id)
        found = self._sso.live_link(verified)
        if found is not None:
            mine = found[1].id == owner.id
            self._sso.identities.refused(verified.provider.id, owner.id, "identity linked already")
            raise AlreadyExists(
                "this identity is linked to your account already"
                if mine
                else "this identity is linked to another account"
            )
        if len(self._store.links_of_user(owner.id)) >= MAX_LINKS_PER_USER:
            raise InvalidArgument(f"at most {MAX_LINKS_PER_USER} linked identities")
        provider = verified.provider
        link = LinkRecord(
            provider.id,
            provider.uid,
            verified.identity.identifier,
            owner.id,
            str(uuid.uuid4()),
            self._changes.now(),
        )
        reason = f"linked {provider.name}"
        with audited_if_lost(lambda note: self._audit(AuditEvent.CREATED, link, reason + note)):
            linked = self._store.link_existing_user(link, self._users.key_of(owner.id))
        if linked is None:
            raise NotFound("user not found")
        if not linked:
            raise AlreadyExists("this identity is linked to another account")
        self._audit(AuditEvent.CREATED, link, reason)
        return link

    def unlink(self, caller: Principal, owner: User, link_id: str) -> None:
        """The user's own unlinking or an admin's (auth.factor_changes: the caller's recent
        sign-in; an admin's ends every login of the user, before the link goes)."""
        self._changes.require_recent_sign_in(caller)
        links = self._store.links_of_user(owner.id)
        link = next((link for link in links if link.link_id == link_id), None)
        if link is None:
            raise NotFound("linked identity not found")
        # A password they may sign in with is a way in no unlinking takes; a passkey is not
        # counted (see above).
        if self._accounts.password_signs_in(owner):
            removal = functools.partial(self._store.delete_link, link)
        else:
            others = [other for other in links if other.link_id != link_id]
            if not others:
                raise self._only_way_in(caller, owner, link)
            removal = functools.partial(self._unlink_keeping_another, caller, owner, link, others)
        gone = [(CredentialKind.LINKED_IDENTITY, link.link_id)]
        how = f"unlinked {provider_name(link.provider_id)}"
        if not self._changes.remove(caller, owner, "linked identity", removal, gone, how):
            raise NotFound("linked identity not found")

    def _unlink_keeping_another(
        self,
        caller: Principal,
        owner: User,
        link: LinkRecord,
        others: Sequence[LinkRecord],
        also: dict[str, Any] | None,
    ) -> bool:
        """Delete `link` while one of `others` is still there: the first one still there, as
        the listing may name links gone meanwhile."""
        for other in others:
            try:
                return self._store.delete_link(link, also, keeping=other)
            except KeptLinkGone:
                continue
        raise self._only_way_in(caller, owner, link)

    def _only_way_in(self, caller: Principal, owner: User, link: LinkRecord) -> FailedPrecondition:
        """The refusal to unlink a user's last way in, audited: an attempt to lock someone out
        (or an admin's mistake) leaves its trace."""
        self._audit(AuditEvent.REFUSED, link, f"unlink of the only way in {by_whom(caller, owner.id)}")
        whose = "your" if caller.user_id == owner.id else "the user's"
        return FailedPrecondition(f"this identity is {whose} only way to sign in; it cannot be unlinked")

    def _audit(self, event: AuditEvent, link: LinkRecord, reason: str) -> None:
        self._changes.audit.record(
            event, CredentialKind.LINKED_IDENTITY, link.user_id, link.link_id, reason=reason
        )
