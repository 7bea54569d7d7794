"""Write an import's plan into a stack: conditional writes only, so it is idempotent and
resumable and never overwrites what memos-auth created.

Each user goes in one transaction with its tokens and refresh families (its token count set
to the tokens written with it), so an interrupted run leaves every user whole or absent.
A user that is already there is compared, not rewritten: an earlier import's user (flagged
`imported`) gets only the credentials it still lacks, one conditional write each; any other
user is a clash, reported. Users are written by a pool of threads: DynamoDB answers each
transaction in milliseconds, and many in flight at once is what makes 10,000 users quick.

Identity providers and links come after the users (SPEC §8). A provider is put where its
id is free, its client secret sealed by the API's own cipher (auth.wiring); one whose uid
starts with IMPORTED_UID_PREFIX is an earlier import's (an admin may have edited it since:
kept as it is), any other a provider of memos-auth's own: a clash. A link is put only to a
user this import wrote, for a provider it wrote.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit
from auth.clock import Clock, SystemClock
from auth.config import Config
from auth.errors import InvalidArgument, NotFound, Unavailable
from auth.factor_cipher import FactorCipher, Sealed
from auth.identity_providers import MAX_PROVIDERS
from auth.idp_models import LinkRecord
from auth.keys import CURRENT_STAGE, FIRST_KID, IMPORTED_FLAG, imported_secret_string
from auth.models import User
from auth.pats import MAX_DESCRIPTION_CHARS
from auth.stores.dynamo import (
    ITEM_CONDITION_FAILED,
    NO_FAILURE,
    TRANSACTION_CONFLICT,
    conditional_write,
    write_transaction,
)
from auth.stores.idp_store import IdpStore, StoredProvider
from auth.stores.pat_store import PatRecord, PatStore
from auth.stores.refresh_family_store import RefreshFamily, RefreshFamilyStore
from auth.stores.settings_store import InstanceSettings, SettingsStore
from auth.stores.user_store import UserStore
from auth.usernames import username_key
from auth.wiring import build_factor_keys, build_idp_secret_cipher
from tools.memos_import.mapping import (
    USER_NOT_IMPORTED,
    ImportedLink,
    ImportedProvider,
    ImportedUser,
    Plan,
    Rejection,
)
from tools.memos_import.target import Target

# DynamoDB's limit of items in one transaction; a user and its username record take two.
MAX_TRANSACTION_ITEMS = 100
DEFAULT_THREADS = 16
CONFLICT_ATTEMPTS = 5
SECRET_ROW = "system_setting BASIC"
# An imported provider's internal uid: how a later run tells it from one memos-auth created.
IMPORTED_UID_PREFIX = "memos-import-"
UNAVAILABLE = "storage unavailable: run the import again"
# Each credential the import writes is audited as made, as the service audits its own.
IMPORTED = "imported from Memos"
_AUDITED_AS = {
    "users": CredentialKind.ACCOUNT,
    "personal access tokens": CredentialKind.PAT,
    "refresh tokens": CredentialKind.REFRESH_TOKEN,
    "secret key": CredentialKind.SIGNING_KEY,
    "identity providers": CredentialKind.IDENTITY_PROVIDER,
    "linked identities": CredentialKind.LINKED_IDENTITY,
}


@dataclass
class Report:
    # ("users", "created") -> n; kinds: users, personal access tokens, refresh tokens, ...
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, outcome: str, count: int = 1) -> None:
        self.counts[(kind, outcome)] += count


class Importer:
    def __init__(
        self,
        target: Target,
        threads: int = DEFAULT_THREADS,
        clock: Clock | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self._target = target
        self._clock = clock or SystemClock()
        # Thread-safe: the pool's threads record through it.
        self._audit = audit or NullAudit()
        self._dynamodb = target.dynamodb()
        self._secrets = target.secretsmanager()
        self._users = UserStore(self._dynamodb, target.users_table, target.settings_table)
        self._pats = PatStore(self._dynamodb, target.pats_table, self._users)
        self._families = RefreshFamilyStore(self._dynamodb, target.refresh_tokens_table, self._users)
        self._settings = SettingsStore(self._dynamodb, target.settings_table)
        self._idps = IdpStore(self._dynamodb, target.identity_providers_table, target.linked_identities_table)
        self._cipher: FactorCipher | None = None
        self._threads = threads

    def run(
        self,
        plan: Plan,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> Report:
        """Import `plan`; `progress(n)` after every n users."""
        report = Report(rejections=list(plan.rejections))
        report.add("expired personal access tokens", "left out", plan.expired_pats)
        report.add("expired refresh tokens", "left out", plan.expired_refresh_tokens)
        cut = f"cut to {MAX_DESCRIPTION_CHARS} characters"
        report.add("personal access token descriptions", cut, plan.cut_descriptions)
        legacy = plan.legacy_access_tokens
        report.add("access tokens of Memos before v0.26 (ACCESS_TOKENS)", "left out", legacy)
        report.add("sign-ins of Memos before v0.26 (SESSIONS)", "left out", plan.legacy_sessions)
        self._secret(plan, dry_run, report)
        if dry_run:
            refused = self._users_a_run_would_import(plan.users, report)
            report.add("identity providers", "would be imported", len(plan.providers))
            links = [link for link in plan.links if link.user_id not in refused]
            unlinked = [link for link in plan.links if link.user_id in refused]
            report.rejections += [Rejection(link.row, USER_NOT_IMPORTED) for link in unlinked]
            report.add("linked identities", "would be imported", len(links))
            report.notes.append("dry run: nothing was written")
            return report
        # Before any user: a sign-up meanwhile gets an id above every Memos user's, a rejected
        # row's too (even when every row is: a token Memos issued to it must not name the
        # newcomer), and is not made the instance's ADMIN.
        if plan.max_user_id:
            self._users.raise_user_id_counter(plan.max_user_id)
        if plan.users:
            owner = plan.owner_id or min(imported.user.id for imported in plan.users)
            self._users.claim_owner(owner)
        self._instance_settings(plan, report)
        self._all_users(plan.users, report, progress)
        uids = self._providers(plan.providers, plan.links, report)
        self._links([link for link in plan.links if link.provider_id in uids], uids, report)
        return report

    def _imported(
        self, report: Report, what: str, user_id: int, credential_id: str, reason: str = IMPORTED
    ) -> None:
        """Count a credential written and audit it, as its service audits one it makes (an
        identity provider and the signing key belong to no user: 0)."""
        report.add(what, "imported")
        self._audit.record(AuditEvent.CREATED, _AUDITED_AS[what], user_id, credential_id, reason=reason)

    def _imported_user(self, user: User, report: Report) -> None:
        self._imported(report, "users", user.id, "", reason=f"{IMPORTED}, as {user.role.value}")

    # -- the signing key ------------------------------------------------------------------

    def _secret(self, plan: Plan, dry_run: bool, report: Report) -> None:
        if plan.secret_key is None:
            report.notes.append("the database holds no secret key: tokens Memos signed will not verify")
            return
        if self._target.demo:
            report.notes.append("demo mode: the stack signs with the demo key; Memos' key is not imported")
            return
        held = self._imported_keys()
        if any(hmac.compare_digest(key.encode(), plan.secret_key.encode()) for key in held):
            report.add("secret key", "unchanged")
            return
        refusal = None
        if held:
            refusal = (
                "the stack holds the key of a Memos database imported before: this one's would let "
                "its users' tokens pass as the users of that one with the same ids, so it is not imported"
            )
        elif self._users.has_users():
            refusal = (
                "the stack already has users: Memos' key would replace the one their tokens are "
                "signed with, so it is not imported (Memos' tokens will not verify)"
            )
        if refusal is not None:
            report.rejections.append(Rejection(SECRET_ROW, refusal))
            return
        if dry_run:
            report.add("secret key", "would be imported")
            return
        self._secrets.put_secret_value(
            SecretId=self._target.secret_id,
            SecretString=imported_secret_string(plan.secret_key),
            VersionStages=[CURRENT_STAGE],
        )
        self._imported(report, "secret key", 0, FIRST_KID)

    def _imported_keys(self) -> list[str]:
        """The Memos keys any version of the secret holds, imported: one that verifies, or one
        that rotations retired since (bringing that back would make it sign again, and retire
        the key that signed the refresh tokens of the last interval). Secrets Manager keeps a
        retired version until the secret has 100."""
        listing = {"SecretId": self._target.secret_id, "IncludeDeprecated": True}
        keys: list[str] = []
        while True:
            try:
                page = self._secrets.list_secret_version_ids(**listing)
            except self._secrets.exceptions.ResourceNotFoundException:
                return keys
            keys += [key for v in page.get("Versions", []) if (key := self._imported_key(v["VersionId"]))]
            if not page.get("NextToken"):
                return keys
            listing["NextToken"] = page["NextToken"]

    def _imported_key(self, version_id: str) -> str | None:
        try:
            value = self._secrets.get_secret_value(SecretId=self._target.secret_id, VersionId=version_id)
        except self._secrets.exceptions.ResourceNotFoundException:
            # A version with no value (a rotation that had not put its key).
            return None
        try:
            stored = json.loads(value.get("SecretString") or "")
        except ValueError:
            return None
        if not isinstance(stored, dict) or stored.get(IMPORTED_FLAG) is not True:
            return None
        held = stored.get("key")
        return held if isinstance(held, str) else None

    # -- settings ---------------------------------------------------------------------------

    def _instance_settings(self, plan: Plan, report: Report) -> None:
        if plan.disallow_user_registration is None or plan.disallow_password_auth is None:
            return
        wanted = InstanceSettings(plan.disallow_user_registration, plan.disallow_password_auth)
        if self._settings.put_instance_if_absent(wanted):
            report.add("instance settings", "imported")
        elif self._settings.get_instance() == wanted:
            report.add("instance settings", "unchanged")
        else:
            report.rejections.append(
                Rejection("system_setting GENERAL", "the stack has instance settings of its own: kept")
            )

    # -- users ------------------------------------------------------------------------------

    def _all_users(
        self,
        users: list[ImportedUser],
        report: Report,
        progress: Callable[[int], None] | None,
    ) -> None:
        # Read first (one batch read per 100 users): a second run finds what is already there
        # without a failed write per user, and knows which credentials its users still lack.
        present = self._users.imported_or_own([imported.user.id for imported in users])
        again = [imported for imported in users if imported.user.id in present]
        known = self._credentials_of(again)
        jobs: list[tuple[list[ImportedUser], Callable[[Report], None]]] = [
            ([imported], partial(self._present_user, imported, present[imported.user.id], known))
            for imported in again
        ]
        fresh = [imported for imported in users if imported.user.id not in present]
        jobs += [(group, partial(self._group, group)) for group in _groups(fresh)]

        def one(members: list[ImportedUser], job: Callable[[Report], None]) -> Report:
            part = Report()
            try:
                job(part)
            except Unavailable:
                part.rejections.extend(
                    Rejection(f"user {imported.user.id}", "storage unavailable: run the import again")
                    for imported in members
                )
            return part

        executor = ThreadPoolExecutor(max_workers=self._threads)
        try:
            futures = {executor.submit(one, members, job): len(members) for members, job in jobs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                for future in done:
                    part = future.result()
                    report.counts.update(part.counts)
                    report.rejections.extend(part.rejections)
                if progress is not None and done:
                    progress(sum(futures[future] for future in done))
        finally:
            # An interrupted run stops queued users at once; the next run picks them up.
            executor.shutdown(wait=True, cancel_futures=True)

    def _credentials_of(self, users: list[ImportedUser]) -> Known:
        """The tokens and refresh families of users already here, as stored (batch reads)."""
        return Known(
            self._pats.get_many([pat.token_hash for imported in users for pat in imported.pats]),
            self._families.get_many([family.family_id for imported in users for family in imported.families]),
        )

    def _group(self, group: list[ImportedUser], report: Report) -> None:
        """New users, each whole with its credentials, in one transaction; when it cannot be
        applied (a clash, a credential in the way, a race), each user on its own."""
        if len(group) > 1:
            try:
                codes = self._transact([item for imported in group for item in self._user_items(imported)])
            except Unavailable:
                codes = [NO_FAILURE]
            if codes is None:
                for imported in group:
                    self._written(imported, report)
                return
        for imported in group:
            try:
                self._user(imported, report)
            except Unavailable:
                report.rejections.append(
                    Rejection(f"user {imported.user.id}", "storage unavailable: run the import again")
                )

    def _user_items(self, imported: ImportedUser) -> list[dict[str, Any]]:
        """A user's transaction items: its user and username items, its tokens (counted on the
        user) and refresh families; at most MAX_TRANSACTION_ITEMS (_groups keeps a user with
        more credentials than fit to a transaction of its own, and _user writes the rest)."""
        pats, families = _fitting(imported)
        return [
            *self._users.imported_items(imported.user, len(pats)),
            *(self._pats.put_new(pat) for pat in pats),
            *({"Put": self._families.put_new(family)} for family in families),
        ]

    def _user(self, imported: ImportedUser, report: Report) -> None:
        user = imported.user
        codes = self._transact(self._user_items(imported))
        if codes is None:
            self._written(imported, report)
        elif ITEM_CONDITION_FAILED in codes[:2]:
            existing = self._users.get_imported(user.id)
            self._present_user(imported, existing, self._credentials_of([imported]), report)
        else:
            # A credential of the user is in the way, not the user: the user alone, then each.
            if self._transact(self._users.imported_items(user, 0)) is not None:
                raise Unavailable("storage unavailable")
            self._imported_user(user, report)
            self._credentials(imported.pats, imported.families, Known(), report)

    def _written(self, imported: ImportedUser, report: Report) -> None:
        """Count a user written by its transaction, then write what did not fit in it."""
        pats, families = _fitting(imported)
        self._imported_user(imported.user, report)
        for pat in pats:
            self._imported(report, "personal access tokens", pat.user_id, pat.token_id)
        for family in families:
            self._imported(report, "refresh tokens", family.user_id, family.family_id)
        rest_pats, rest_families = imported.pats[len(pats) :], imported.families[len(families) :]
        self._credentials(rest_pats, rest_families, Known(), report)

    def _users_a_run_would_import(self, users: list[ImportedUser], report: Report) -> set[int]:
        """A dry run's users, read only, and the ids of those the run would refuse: one whose id
        memos-auth holds for a user of its own is refused as the run would refuse it (and its
        links with it), one an earlier run imported is unchanged (the credentials it may still
        lack, and a username one of memos-auth's own users took under another id, show only
        when written)."""
        present = self._users.imported_or_own([imported.user.id for imported in users])
        coming = []
        refused: set[int] = set()
        for imported in users:
            if imported.user.id not in present:
                coming.append(imported)
            elif (clash := _clash(imported, present[imported.user.id])) is not None:
                report.rejections.append(clash)
                refused.add(imported.user.id)
            else:
                report.add("users", "unchanged")
        report.add("users", "would be imported", len(coming))
        report.add("personal access tokens", "would be imported", sum(len(u.pats) for u in coming))
        report.add("refresh tokens", "would be imported", sum(len(u.families) for u in coming))
        return refused

    def _present_user(
        self, imported: ImportedUser, existing: User | None, known: Known, report: Report
    ) -> None:
        """A user whose id is taken: an earlier import's gets the credentials it lacks; memos-auth's
        own (or another user under this id) is a clash."""
        clash = _clash(imported, existing)
        if clash is not None:
            report.rejections.append(clash)
            return
        report.add("users", "unchanged")
        self._credentials(imported.pats, imported.families, known, report)

    def _credentials(
        self, pats: list[PatRecord], families: list[RefreshFamily], known: Known, report: Report
    ) -> None:
        for pat in pats:
            self._pat(pat, known.pats.get(pat.token_hash), report)
        for family in families:
            self._family(family, known.families.get(family.family_id), report)

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        for _ in range(CONFLICT_ATTEMPTS):
            codes = write_transaction(self._dynamodb, items)
            if codes is None or TRANSACTION_CONFLICT not in codes:
                return codes
        raise Unavailable("storage unavailable")

    def _pat(self, pat: PatRecord, existing: PatRecord | None, report: Report) -> None:
        """One token of a user already here; `existing`: the token as read before, if it was."""
        name = f"personal access token {pat.token_id} of user {pat.user_id}"
        if existing is None:
            try:
                if self._pats.add_imported(pat):
                    self._imported(report, "personal access tokens", pat.user_id, pat.token_id)
                    return
            except (NotFound, InvalidArgument) as error:
                report.rejections.append(Rejection(name, error.message))
                return
            existing = self._pats.get(pat.token_hash, consistent=True)
        if (
            existing is not None
            and existing.imported
            and (existing.token_id, existing.user_id) == (pat.token_id, pat.user_id)
        ):
            report.add("personal access tokens", "unchanged")
        else:
            report.rejections.append(Rejection(name, "another token with the same hash exists"))

    def _family(self, family: RefreshFamily, existing: RefreshFamily | None, report: Report) -> None:
        """One refresh family of a user already here; `existing`: as read before, if it was."""
        if existing is None:
            if conditional_write(self._dynamodb.put_item, **self._families.put_new(family)) is not None:
                self._imported(report, "refresh tokens", family.user_id, family.family_id)
                return
            existing = self._families.get(family.family_id)
        # Kept as it is, rotated or revoked since: never put back to Memos' token.
        if existing is not None and existing.imported and existing.user_id == family.user_id:
            report.add("refresh tokens", "unchanged")
        else:
            report.rejections.append(
                Rejection(f"refresh token {family.family_id} of user {family.user_id}", "its id is taken")
            )

    # -- identity providers and links ---------------------------------------------------------

    def _seal(self, secret: str, provider_id: str) -> Sealed:
        if self._cipher is None:
            # The API's wiring: the stack's factor key secret, the identity providers' purpose.
            keys = build_factor_keys(
                Config(factor_key_secret_id=self._target.factor_key_secret_id), self._clock, self._secrets
            )
            self._cipher = build_idp_secret_cipher(keys)
        return self._cipher.seal(secret, provider_id)

    def _providers(
        self, providers: list[ImportedProvider], links: list[ImportedLink], report: Report
    ) -> dict[str, str]:
        """Each provider put or found; the uid of every provider that is this import's, by id."""
        if not providers:
            return {}
        try:
            present = {stored.provider.id: stored for stored in self._idps.list_providers()}
        except Unavailable:
            report.rejections.extend(Rejection(p.row, UNAVAILABLE) for p in providers)
            return {}
        uids: dict[str, str] = {}
        for imported in providers:
            try:
                uid = self._provider(imported, present, links, report)
            except Unavailable:
                report.rejections.append(Rejection(imported.row, UNAVAILABLE))
                continue
            if uid is not None:
                uids[imported.provider_id] = uid
        return uids

    def _provider(
        self,
        imported: ImportedProvider,
        present: dict[str, StoredProvider],
        links: list[ImportedLink],
        report: Report,
    ) -> str | None:
        existing = present.get(imported.provider_id)
        if existing is None:
            if len(present) >= MAX_PROVIDERS:
                report.rejections.append(
                    Rejection(imported.row, f"the stack has {MAX_PROVIDERS} identity providers")
                )
                return None
            stored = self._new_provider(imported)
            if self._idps.put_provider(stored):
                present[imported.provider_id] = stored
                self._imported(report, "identity providers", 0, imported.provider_id)
                return stored.provider.uid
            # Created meanwhile (an admin, or another run): judged as any present one.
            existing = self._idps.get_provider(imported.provider_id)
            if existing is None:
                raise Unavailable("storage unavailable")
        if existing.provider.uid.startswith(IMPORTED_UID_PREFIX):
            report.add("identity providers", "unchanged")
            return existing.provider.uid
        theirs = sum(1 for link in links if link.provider_id == imported.provider_id)
        report.rejections.append(
            Rejection(
                imported.row,
                "memos-auth has an identity provider of its own with this id: not overwritten "
                f"(nor given its {theirs} linked identities)",
            )
        )
        return None

    def _new_provider(self, imported: ImportedProvider) -> StoredProvider:
        given = imported.given
        uid = IMPORTED_UID_PREFIX + str(uuid.uuid4())
        provider = given.created(imported.provider_id, uid, int(self._clock.now()))
        return StoredProvider(provider, self._seal(given.client_secret, provider.id))

    def _links(self, links: list[ImportedLink], uids: dict[str, str], report: Report) -> None:
        """Links to users this import wrote (the same id and username), read first in batches
        so a second run writes nothing; the new ones put by the pool of threads."""
        if not links:
            return
        try:
            users = self._users.imported_or_own(sorted({link.user_id for link in links}))
            known = self._idps.get_links([(link.provider_id, link.extern_uid) for link in links])
        except Unavailable:
            report.rejections.extend(Rejection(link.row, UNAVAILABLE) for link in links)
            return
        fresh: list[ImportedLink] = []
        for link in links:
            user = users.get(link.user_id)
            if user is None or username_key(user.username) != username_key(link.username):
                report.rejections.append(Rejection(link.row, USER_NOT_IMPORTED))
            elif (link.provider_id, link.extern_uid) in known:
                self._judge_link(link, known[(link.provider_id, link.extern_uid)], uids, report)
            else:
                fresh.append(link)

        def one(link: ImportedLink) -> Report:
            part = Report()
            try:
                self._put_link(link, uids, part)
            except Unavailable:
                part.rejections.append(Rejection(link.row, UNAVAILABLE))
            return part

        with ThreadPoolExecutor(max_workers=self._threads) as executor:
            for part in executor.map(one, fresh):
                report.counts.update(part.counts)
                report.rejections.extend(part.rejections)

    def _put_link(self, link: ImportedLink, uids: dict[str, str], report: Report) -> None:
        record = LinkRecord(
            provider_id=link.provider_id,
            provider_uid=uids[link.provider_id],
            extern_uid=link.extern_uid,
            user_id=link.user_id,
            link_id=str(uuid.uuid4()),
            create_time=int(self._clock.now()),
        )
        if self._idps.put_link(record):
            self._imported(report, "linked identities", record.user_id, record.link_id)
            return
        existing = self._idps.get_link(link.provider_id, link.extern_uid)
        if existing is None:
            raise Unavailable("storage unavailable")
        self._judge_link(link, existing, uids, report)

    def _judge_link(
        self, link: ImportedLink, existing: LinkRecord, uids: dict[str, str], report: Report
    ) -> None:
        if existing.user_id == link.user_id and existing.provider_uid == uids[link.provider_id]:
            report.add("linked identities", "unchanged")
        else:
            report.rejections.append(
                Rejection(link.row, "memos-auth has linked this identity already (to another user): kept")
            )


@dataclass
class Known:
    """Credentials read before writing, by key: those not here are looked up when needed."""

    pats: dict[str, PatRecord] = field(default_factory=dict)
    families: dict[str, RefreshFamily] = field(default_factory=dict)


def _fitting(imported: ImportedUser) -> tuple[list[PatRecord], list[RefreshFamily]]:
    """The credentials that fit in one transaction with their user (its two items)."""
    room = MAX_TRANSACTION_ITEMS - 2
    return imported.pats[:room], imported.families[: max(0, room - len(imported.pats))]


def _groups(users: list[ImportedUser]) -> Iterator[list[ImportedUser]]:
    """Users in runs whose items fill a transaction without overflowing it: DynamoDB Local
    spends most of an import's time on each request's own work, so a few large
    transactions cost far less than one per user."""
    group: list[ImportedUser] = []
    size = 0
    for imported in users:
        pats, families = _fitting(imported)
        items = 2 + len(pats) + len(families)
        if group and size + items > MAX_TRANSACTION_ITEMS:
            yield group
            group, size = [], 0
        group.append(imported)
        size += items
    if group:
        yield group


def _clash(imported: ImportedUser, existing: User | None) -> Rejection | None:
    """The refusal of a user whose id is taken by memos-auth's own user (`existing` None) or by
    another user than this one; None when an earlier import wrote this very user."""
    user = imported.user
    if existing is not None and username_key(existing.username) == username_key(user.username):
        return None
    return Rejection(
        f"user {user.id}",
        "memos-auth has a user of its own with this id or username: not overwritten "
        f"(nor its {len(imported.pats)} tokens and {len(imported.families)} refresh tokens)",
    )
