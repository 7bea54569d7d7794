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

What an import wrote is in its ledger (tools.memos_import.ledger), read at the start of each
run: a thing that is absent but marked was deleted in memos-auth since (a revoked PAT, a
deleted user, provider or link) and is left out, counted, never written again; a user left
out so leaves out its credentials and links with it. A thing found present is marked if it
was not (stacks imported before the ledger get theirs), a thing written is marked after it.

A dry run takes the same path with every write left out: it reads what the run reads, and
what the run's conditional writes would find in the way (the usernames and credentials of
new users), and counts "would be imported" where the run counts "imported".

Once storage fails (Unavailable after the stores' own retries) the run stops: work not begun
is counted as not reached, the report says storage failed, and a second run takes up from
there.
"""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit
from auth.clock import Clock, SystemClock
from auth.config import Config
from auth.errors import InvalidArgument, NotFound, Unavailable
from auth.factor_cipher import FactorCipher, Sealed
from auth.identity_providers import MAX_PROVIDERS
from auth.idp_models import LinkRecord
from auth.keys import CURRENT_STAGE, FIRST_KID, IMPORTED_FLAG, imported_secret_string
from auth.models import Role, User
from auth.pats import MAX_DESCRIPTION_CHARS
from auth.stores import dynamo
from auth.stores.dynamo import (
    ITEM_CONDITION_FAILED,
    NO_FAILURE,
    TRANSACTION_CONFLICT,
    conditional_write,
    write_transaction,
)
from auth.stores.idp_store import IdpStore, StoredProvider
from auth.stores.pat_store import MAX_TOKENS_PER_USER, TOO_MANY_TOKENS, PatRecord, PatStore
from auth.stores.refresh_family_store import RefreshFamily, RefreshFamilyStore
from auth.stores.settings_store import INSTANCE_SETTINGS, SETTINGS, InstanceSettings, SettingsStore
from auth.stores.user_store import OWNER_MARKER, USER_ID_COUNTER, USER_PREFIX, USERNAME_PREFIX, UserStore
from auth.usernames import username_key
from auth.wiring import build_factor_keys, build_idp_secret_cipher
from tools.memos_import.ledger import (
    MAX_BATCH_WRITE_ITEMS,
    PREFIX,
    Ledger,
    family_key,
    link_key,
    pat_key,
    plan_keys,
    provider_key,
    user_key,
)
from tools.memos_import.mapping import (
    USER_NOT_IMPORTED,
    ImportedLink,
    ImportedProvider,
    ImportedUser,
    Plan,
    Rejection,
)
from tools.memos_import.target import Target

_T = TypeVar("_T")

# DynamoDB's limit of items in one transaction; a user and its username record take two.
MAX_TRANSACTION_ITEMS = 100
DEFAULT_THREADS = 16
CONFLICT_ATTEMPTS = 5
SECRET_ROW = "system_setting BASIC"
# An imported provider's internal uid: how a later run tells it from one memos-auth created.
IMPORTED_UID_PREFIX = "memos-import-"
# What a dry run takes a provider it would put to have: no link judged against it matches.
DRY_RUN_UID = IMPORTED_UID_PREFIX + "(dry run)"
UNAVAILABLE = "storage unavailable: run the import again"
# Each credential the import writes is audited as made, as the service audits its own.
IMPORTED = "imported from Memos"
USERS = "users"
PATS = "personal access tokens"
FAMILIES = "refresh tokens"
PROVIDERS = "identity providers"
LINKS = "linked identities"
_AUDITED_AS = {
    USERS: CredentialKind.ACCOUNT,
    PATS: CredentialKind.PAT,
    FAMILIES: CredentialKind.REFRESH_TOKEN,
    PROVIDERS: CredentialKind.IDENTITY_PROVIDER,
    LINKS: CredentialKind.LINKED_IDENTITY,
}
# The outcomes a report counts, besides "imported" and "unchanged".
WOULD_BE_IMPORTED = "would be imported"
DELETED = "deleted in memos-auth since imported: left out"
OF_DELETED_USERS = "of users deleted in memos-auth since imported: left out"
OF_DELETED_PROVIDERS = "of identity providers deleted in memos-auth since imported: left out"
NOT_REACHED = "not reached (storage failed): run the import again"
# Why a user whose id or username is taken is not written.
ID_OF_ITS_OWN = "memos-auth has a user of its own with this id"
ID_OF_ANOTHER_IMPORT = "an imported user with another username holds this id"
USERNAME_TAKEN = "memos-auth has a user with this username (in any case)"


@dataclass
class Report:
    # ("users", "created") -> n; kinds: users, personal access tokens, refresh tokens, ...
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Storage failed on the way: the run stopped, and what it did not reach is counted so.
    storage_failed: bool = False

    def add(self, kind: str, outcome: str, count: int = 1) -> None:
        self.counts[(kind, outcome)] += count


@dataclass
class _Part(Report):
    """A report of a run or of one job of its pool, with what the run needs besides."""

    # This import's users that are in the stack now (a dry run's: that would be).
    here: set[int] = field(default_factory=set)
    # Markers of items written or found, to write once the job is done with them (every part
    # is flushed before it is merged).
    marks: list[str] = field(default_factory=list)
    # Markers written (a dry run's: that would be).
    marked: int = 0

    def merge(self, other: _Part) -> None:
        self.counts.update(other.counts)
        self.rejections.extend(other.rejections)
        self.notes.extend(other.notes)
        self.storage_failed |= other.storage_failed
        self.here |= other.here
        self.marked += other.marked


@dataclass(frozen=True)
class _Linkable:
    """What the links' turn needs of the users' and the providers'."""

    # The uid of every provider that is this import's, by id.
    uids: dict[str, str]
    here: set[int]
    deleted_users: set[int]
    deleted_providers: set[str]


class Importer:
    """Runs one plan at a time: a run's ledger, dry flag and breaker are the importer's."""

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
        self._dry = False
        # A dry run's token count of each user here it would add tokens to (_fits).
        self._would_count: dict[int, int] = {}
        self._would_lock = threading.Lock()
        self._ledger = Ledger(self._dynamodb, target.settings_table, set())
        # Set once storage fails: the pool's threads begin nothing more.
        self._breaker = threading.Event()

    def run(
        self,
        plan: Plan,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> Report:
        """Import `plan` (`dry_run`: decide all the same, write nothing); `progress(n)` after
        every n users."""
        self._dry = dry_run
        self._would_count = {}
        self._breaker = threading.Event()
        report = _Part(rejections=list(plan.rejections))
        self._left_out_by_the_plan(plan, report)
        # Before any write: a run that cannot read its ledger must not write what it may
        # have written before.
        self._ledger = Ledger.read(
            self._dynamodb, self._target.settings_table, plan_keys(plan), self._threads
        )
        self._secret(plan, report)
        if not dry_run:
            self._reserve_ids(plan)
        self._instance_settings(plan, report)
        here, deleted_users = self._all_users(plan.users, report, progress)
        uids, deleted_providers = self._providers(plan.providers, plan.links, report)
        self._links(plan.links, _Linkable(uids, here, deleted_users, deleted_providers), report)
        self._admin_note(plan, here, report)
        self._closing_notes(report)
        return report

    def _left_out_by_the_plan(self, plan: Plan, report: Report) -> None:
        report.add("expired personal access tokens", "left out", plan.expired_pats)
        report.add("expired refresh tokens", "left out", plan.expired_refresh_tokens)
        cut = f"cut to {MAX_DESCRIPTION_CHARS} characters"
        report.add("personal access token descriptions", cut, plan.cut_descriptions)
        texts = "nicknames, token descriptions and provider names"
        report.add(texts, "control characters dropped", plan.cleaned_texts)
        legacy = plan.legacy_access_tokens
        report.add("access tokens of Memos before v0.26 (ACCESS_TOKENS)", "left out", legacy)
        report.add("sign-ins of Memos before v0.26 (SESSIONS)", "left out", plan.legacy_sessions)

    def _closing_notes(self, report: _Part) -> None:
        where = f"{self._target.settings_table}, under {PREFIX}"
        if report.marked and self._dry:
            report.notes.append(f"{report.marked:,} import ledger markers would be written ({where})")
        elif report.marked:
            report.notes.append(
                f"{report.marked:,} import ledger markers written ({where}): what the import wrote, "
                "so that what is deleted here later stays deleted"
            )
        if report.storage_failed:
            report.notes.append(
                "storage failed on the way: the import stopped; what it wrote is whole, and "
                "running it again takes up from there"
            )
        if self._dry:
            report.notes.append("dry run: nothing was written")

    @property
    def _written(self) -> str:
        """The outcome of a write: made, or in a dry run, that would be."""
        return WOULD_BE_IMPORTED if self._dry else "imported"

    def _imported(self, report: _Part, written: _Written) -> None:
        """Count a credential written, mark it and audit it, as its service audits one it makes."""
        report.add(written.what, self._written)
        self._mark(report, written.marker)
        if not self._dry:
            self._audit_created(written, written.reason)

    def _unchanged(self, report: _Part, written: _Written) -> None:
        """Count a credential an earlier run wrote. One it left unmarked (it stopped between
        the write and the marker, or ran before the ledger) may have gone unaudited too: it
        is marked and audited now (at worst a second line, never none)."""
        report.add(written.what, "unchanged")
        if written.marker in self._ledger:
            return
        self._mark(report, written.marker)
        if not self._dry:
            self._audit_created(written, f"{written.reason}, by an earlier run")

    def _audit_created(self, written: _Written, reason: str) -> None:
        kind = _AUDITED_AS[written.what]
        self._audit.record(AuditEvent.CREATED, kind, written.user_id, written.credential_id, reason=reason)

    def _imported_user(self, user: User, report: _Part) -> None:
        report.here.add(user.id)
        self._imported(report, _user_written(user))

    def _put_or_judge(
        self,
        report: _Part,
        written: _Written,
        existing: _T | None,
        put: Callable[[], bool],
        read: Callable[[], _T | None],
        is_ours: Callable[[_T], bool],
        clash: str,
    ) -> None:
        """One credential of a user here (`existing`: as read before, if it was): put where it is
        absent and was never deleted since imported; else judged, as found or as in the way of
        the put: an earlier import's (`is_ours`) is unchanged, anything else a clash."""
        if existing is None:
            if written.marker in self._ledger:
                report.add(written.what, DELETED)
                return
            try:
                put_now = put()
            except (NotFound, InvalidArgument) as error:
                report.rejections.append(Rejection(written.name, error.message))
                return
            if put_now:
                self._imported(report, written)
                return
            existing = read()
        if existing is not None and is_ours(existing):
            self._unchanged(report, written)
        else:
            report.rejections.append(Rejection(written.name, clash))

    # -- the ledger and the breaker -------------------------------------------------------------

    def _mark(self, report: _Part, marker: str) -> None:
        if marker not in self._ledger:
            report.marks.append(marker)

    def _flush(self, report: _Part) -> None:
        """Write the markers of what `report`'s job wrote or found: after the items, so that a
        run stopped in between leaves items unmarked (the next run marks them), never marks
        without their items."""
        marks, report.marks = report.marks, []
        if self._dry:
            report.marked += len(set(marks))
            return
        try:
            report.marked += self._ledger.write(marks)
        except Unavailable:
            self._stop(report)

    def _stop(self, report: Report) -> None:
        """Storage failed: nothing more is begun (against a store that hangs, every further
        try would wait its own timeouts out)."""
        self._breaker.set()
        report.storage_failed = True

    # -- the signing key ------------------------------------------------------------------

    def _secret(self, plan: Plan, report: _Part) -> None:
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
        if self._dry:
            report.add("secret key", WOULD_BE_IMPORTED)
            return
        # Audited before it is put: the key has no ledger marker, so a key put unaudited (the
        # log failing) would stay so; a put that fails after leaves a line the next run repeats.
        self._audit.record(AuditEvent.CREATED, CredentialKind.SIGNING_KEY, 0, FIRST_KID, reason=IMPORTED)
        self._secrets.put_secret_value(
            SecretId=self._target.secret_id,
            SecretString=imported_secret_string(plan.secret_key),
            VersionStages=[CURRENT_STAGE],
        )
        report.add("secret key", "imported")

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

    # -- the id counter, the owner and the settings ---------------------------------------------

    def _reserve_ids(self, plan: Plan) -> None:
        """Before any user: a sign-up meanwhile gets an id above every Memos user's, a rejected
        row's too (even when every row is: a token Memos issued to it must not name the
        newcomer), and is not made the instance's ADMIN. Read first, so that a second run
        writes nothing."""
        keys = [{"pk": dynamo.s(USER_ID_COUNTER)}, {"pk": dynamo.s(OWNER_MARKER)}]
        found = {
            dynamo.get_s(item, "pk"): item
            for item in dynamo.get_many(self._dynamodb, self._target.settings_table, keys, consistent=True)
        }
        if plan.max_user_id and dynamo.get_n(found.get(USER_ID_COUNTER, {}), "value") < plan.max_user_id:
            self._users.raise_user_id_counter(plan.max_user_id)
        if plan.users and OWNER_MARKER not in found:
            self._users.claim_owner(plan.owner_id or min(imported.user.id for imported in plan.users))

    def _instance_settings(self, plan: Plan, report: Report) -> None:
        if plan.disallow_user_registration is None or plan.disallow_password_auth is None:
            return
        wanted = InstanceSettings(plan.disallow_user_registration, plan.disallow_password_auth)
        stored = self._stored_instance_settings()
        if stored is None:
            if self._dry or self._settings.put_instance_if_absent(wanted):
                report.add("instance settings", self._written)
                return
            # Stored meanwhile (an admin): judged as any stored ones.
            stored = self._settings.get_instance()
        if stored == wanted:
            report.add("instance settings", "unchanged")
        else:
            report.rejections.append(
                Rejection("system_setting GENERAL", "the stack has instance settings of its own: kept")
            )

    def _stored_instance_settings(self) -> InstanceSettings | None:
        """The stack's instance settings, None when it has none stored (SettingsStore reads
        those as its defaults)."""
        key = {"pk": dynamo.s(INSTANCE_SETTINGS)}
        item = dynamo.get_one(self._dynamodb, self._target.settings_table, key, consistent=True)
        return SETTINGS.from_item(item) if item else None

    # -- users ------------------------------------------------------------------------------

    def _all_users(
        self,
        users: list[ImportedUser],
        report: _Part,
        progress: Callable[[int], None] | None,
    ) -> tuple[set[int], set[int]]:
        """Every user judged, written or left out; the ids of this import's users here now, and
        of those deleted in memos-auth since imported."""
        # Read first (one batch read per 100 users): a second run finds what is already there
        # without a failed write per user, and knows which credentials its users still lack.
        present = self._users.imported_or_own([imported.user.id for imported in users])
        again: list[ImportedUser] = []
        fresh: list[ImportedUser] = []
        deleted: list[ImportedUser] = []
        for imported in users:
            if imported.user.id in present:
                again.append(imported)
            elif user_key(imported.user.id) in self._ledger:
                deleted.append(imported)
            else:
                fresh.append(self._unmarked(imported, report))
        self._left_out_with_their_users(deleted, report)
        jobs: list[tuple[list[ImportedUser], Callable[[_Part], None]]]
        if self._dry:
            # What the transactions would find in the way of the new users, read instead.
            known = self._credentials_of(again + fresh)
            usernames = self._usernames_of(fresh)
            jobs = [
                ([imported], partial(self._would_import, imported, known, usernames)) for imported in fresh
            ]
        else:
            known = self._credentials_of(again)
            jobs = [(group, partial(self._group, group)) for group in _groups(fresh)]
        jobs = [
            ([imported], partial(self._present_user, imported, present[imported.user.id], known))
            for imported in again
        ] + jobs
        self._run_jobs(jobs, report, progress)
        return report.here, {imported.user.id for imported in deleted}

    def _run_jobs(
        self,
        jobs: list[tuple[list[ImportedUser], Callable[[_Part], None]]],
        report: _Part,
        progress: Callable[[int], None] | None,
    ) -> None:
        def one(members: list[ImportedUser], job: Callable[[_Part], None]) -> _Part:
            part = _Part()
            if self._breaker.is_set():
                _not_reached(members, part)
                return part
            job(part)
            self._flush(part)
            return part

        executor = ThreadPoolExecutor(max_workers=self._threads)
        try:
            futures = {executor.submit(one, members, job): len(members) for members, job in jobs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                for future in done:
                    report.merge(future.result())
                if progress is not None and done:
                    progress(sum(futures[future] for future in done))
        finally:
            # An interrupted run stops queued users at once; the next run picks them up.
            executor.shutdown(wait=True, cancel_futures=True)

    def _unmarked(self, imported: ImportedUser, report: Report) -> ImportedUser:
        """A new user without the credentials the ledger says were imported before and are gone
        (their user's marker was lost, say, to a run stopped between markers)."""
        pats = [pat for pat in imported.pats if pat_key(pat) not in self._ledger]
        families = [family for family in imported.families if family_key(family) not in self._ledger]
        report.add(PATS, DELETED, len(imported.pats) - len(pats))
        report.add(FAMILIES, DELETED, len(imported.families) - len(families))
        return replace(imported, pats=pats, families=families)

    def _left_out_with_their_users(self, deleted: list[ImportedUser], report: Report) -> None:
        report.add(USERS, DELETED, len(deleted))
        report.add(PATS, OF_DELETED_USERS, sum(len(imported.pats) for imported in deleted))
        report.add(FAMILIES, OF_DELETED_USERS, sum(len(imported.families) for imported in deleted))

    def _credentials_of(self, users: list[ImportedUser]) -> Known:
        """The tokens and refresh families of these users that are here, as stored (batch reads)."""
        return Known(
            self._pats.get_many([pat.token_hash for imported in users for pat in imported.pats]),
            self._families.get_many([family.family_id for imported in users for family in imported.families]),
        )

    def _usernames_of(self, users: list[ImportedUser]) -> set[str]:
        """Which of these users' names (username_key) a user here holds, in batch reads."""
        keys = [
            dynamo.prefixed_key(USERNAME_PREFIX, username_key(imported.user.username)) for imported in users
        ]
        items = dynamo.get_many(self._dynamodb, self._target.users_table, keys, consistent=True)
        return {dynamo.get_s(item, "pk").removeprefix(USERNAME_PREFIX) for item in items}

    def _group(self, group: list[ImportedUser], report: _Part) -> None:
        """New users, each whole with its credentials, in one transaction; when it cannot be
        applied (a clash, a credential in the way, a race), each user on its own."""
        if len(group) > 1:
            try:
                codes = self._transact([item for imported in group for item in self._user_items(imported)])
            except Unavailable:
                codes = [NO_FAILURE]
            if codes is None:
                for imported in group:
                    self._written_with_its_user(imported, report)
                return
        for index, imported in enumerate(group):
            if self._breaker.is_set():
                _not_reached(group[index:], report)
                return
            try:
                self._user(imported, report)
            except Unavailable:
                # Nothing of it was counted: its credentials are as far as it got.
                report.rejections.append(Rejection(f"user {imported.user.id}", UNAVAILABLE))
                report.add(PATS, NOT_REACHED, len(imported.pats))
                report.add(FAMILIES, NOT_REACHED, len(imported.families))
                self._stop(report)

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

    def _user(self, imported: ImportedUser, report: _Part) -> None:
        """One new user on its own; Unavailable only when nothing of it was counted."""
        user = imported.user
        codes = self._transact(self._user_items(imported))
        if codes is None:
            self._written_with_its_user(imported, report)
        elif codes[:1] == [ITEM_CONDITION_FAILED]:
            # The id was taken meanwhile: by another run of this import, or not.
            existing = self._users.get_imported(user.id)
            self._present_user(imported, existing, self._credentials_of([imported]), report)
        elif codes[1:2] == [ITEM_CONDITION_FAILED]:
            report.rejections.append(_clash(imported, USERNAME_TAKEN))
        else:
            # A credential of the user is in the way, not the user: the user alone, then each.
            if self._transact(self._users.imported_items(user, 0)) is not None:
                raise Unavailable("storage unavailable")
            self._imported_user(user, report)
            self._credentials(imported.pats, imported.families, Known(), report)

    def _written_with_its_user(self, imported: ImportedUser, report: _Part) -> None:
        """Count a user written by its transaction, then write what did not fit in it."""
        pats, families = _fitting(imported)
        self._imported_user(imported.user, report)
        for written in [*map(_pat_written, pats), *map(_family_written, families)]:
            self._imported(report, written)
        rest_pats, rest_families = imported.pats[len(pats) :], imported.families[len(families) :]
        self._credentials(rest_pats, rest_families, Known(), report)

    def _would_import(self, imported: ImportedUser, known: Known, usernames: set[str], report: _Part) -> None:
        """A dry run's new user, judged as its transaction would find the stack: refused for
        its username; else with its credentials, as the run judges them when a transaction
        fails on one (absent: would be imported)."""
        if username_key(imported.user.username) in usernames:
            report.rejections.append(_clash(imported, USERNAME_TAKEN))
            return
        self._imported_user(imported.user, report)
        with self._would_lock:
            # A user the run would write: it would have no token before the ones it brings.
            self._would_count[imported.user.id] = 0
        self._credentials(imported.pats, imported.families, known, report)

    def _present_user(
        self, imported: ImportedUser, existing: User | None, known: Known, report: _Part
    ) -> None:
        """A user whose id is taken: an earlier import's gets the credentials it lacks; memos-auth's
        own (or another user under this id) is a clash."""
        user = imported.user
        if existing is None or username_key(existing.username) != username_key(user.username):
            report.rejections.append(
                _clash(imported, ID_OF_ITS_OWN if existing is None else ID_OF_ANOTHER_IMPORT)
            )
            return
        report.here.add(user.id)
        self._unchanged(report, _user_written(user))
        self._credentials(imported.pats, imported.families, known, report)

    def _credentials(
        self, pats: list[PatRecord], families: list[RefreshFamily], known: Known, report: _Part
    ) -> None:
        """Each credential of a user here, until storage fails: that one is named, the rest
        counted as not reached (its user is counted already)."""
        steps: list[tuple[str, str, Callable[[_Part], None]]] = [
            (PATS, _pat_name(pat), partial(self._pat, pat, known.pats.get(pat.token_hash))) for pat in pats
        ]
        steps += [
            (
                FAMILIES,
                _family_name(family),
                partial(self._family, family, known.families.get(family.family_id)),
            )
            for family in families
        ]
        for index, (_kind, name, step) in enumerate(steps):
            if self._breaker.is_set():
                for left, _, _ in steps[index:]:
                    report.add(left, NOT_REACHED)
                return
            try:
                step(report)
            except Unavailable:
                report.rejections.append(Rejection(name, UNAVAILABLE))
                self._stop(report)

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        for _ in range(CONFLICT_ATTEMPTS):
            codes = write_transaction(self._dynamodb, items)
            if codes is None or TRANSACTION_CONFLICT not in codes:
                return codes
        raise Unavailable("storage unavailable")

    def _pat(self, pat: PatRecord, existing: PatRecord | None, report: _Part) -> None:
        self._put_or_judge(
            report,
            _pat_written(pat),
            existing,
            put=lambda: self._fits(pat) if self._dry else self._pats.add_imported(pat),
            read=lambda: self._pats.get(pat.token_hash, consistent=True),
            is_ours=lambda found: (
                found.imported and (found.token_id, found.user_id) == (pat.token_id, pat.user_id)
            ),
            clash="another token with the same hash exists",
        )

    def _fits(self, pat: PatRecord) -> bool:
        """A dry run's add_imported: the token fits while its user has fewer than the store
        allows, counting those the run would add before it (NotFound, InvalidArgument as the
        store raises them)."""
        with self._would_lock:
            if pat.user_id not in self._would_count:
                counted = self._users.get_counted(pat.user_id)
                if counted is None:
                    raise NotFound("user not found")
                self._would_count[pat.user_id] = counted[1]
            if self._would_count[pat.user_id] >= MAX_TOKENS_PER_USER:
                raise InvalidArgument(TOO_MANY_TOKENS)
            self._would_count[pat.user_id] += 1
        return True

    def _family(self, family: RefreshFamily, existing: RefreshFamily | None, report: _Part) -> None:
        # Kept as it is, rotated or revoked since: never put back to Memos' token.
        self._put_or_judge(
            report,
            _family_written(family),
            existing,
            put=lambda: (
                self._dry
                or conditional_write(self._dynamodb.put_item, **self._families.put_new(family)) is not None
            ),
            read=lambda: self._families.get(family.family_id),
            is_ours=lambda found: found.imported and found.user_id == family.user_id,
            clash="its id is taken",
        )

    def _admin_note(self, plan: Plan, here: set[int], report: Report) -> None:
        """Warn of a stack left with no admin: the import claimed its owner, so sign-up makes
        no ADMIN either."""
        if not plan.users or report.storage_failed:
            return
        if any(imported.user.is_admin and imported.user.id in here for imported in plan.users):
            return
        if not self._stack_has_admin():
            report.notes.append(
                "no ADMIN user is imported and the stack has none: no one can change roles, "
                "settings or identity providers, and sign-up makes no ADMIN now that users are here"
            )

    def _stack_has_admin(self) -> bool:
        """Whether any user here is an ADMIN. A Scan, made only when no imported user is one."""
        paginator = self._dynamodb.get_paginator("scan")
        with dynamo.translated_errors():
            for page in paginator.paginate(
                TableName=self._target.users_table,
                FilterExpression="begins_with(pk, :prefix) AND #role = :admin",
                ExpressionAttributeNames={"#role": "role"},
                ExpressionAttributeValues=dynamo.expression_values(
                    {":prefix": USER_PREFIX, ":admin": Role.ADMIN.value}
                ),
                ProjectionExpression="pk",
                ConsistentRead=True,
            ):
                if page.get("Items"):
                    return True
        return False

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
        self, providers: list[ImportedProvider], links: list[ImportedLink], report: _Part
    ) -> tuple[dict[str, str], set[str]]:
        """Each provider put, found or left out; the uid of every provider that is this
        import's, by id, and the ids of those deleted in memos-auth since imported."""
        uids: dict[str, str] = {}
        deleted: set[str] = set()
        if not providers:
            return uids, deleted
        try:
            present = {} if self._breaker.is_set() else self._present_providers()
        except Unavailable:
            present = {}
            self._stop(report)
        for index, imported in enumerate(providers):
            if self._breaker.is_set():
                report.add(PROVIDERS, NOT_REACHED, len(providers) - index)
                break
            if imported.provider_id not in present and provider_key(imported.provider_id) in self._ledger:
                report.add(PROVIDERS, DELETED)
                deleted.add(imported.provider_id)
                continue
            try:
                uid = self._provider(imported, present, links, report)
            except Unavailable:
                report.rejections.append(Rejection(imported.row, UNAVAILABLE))
                self._stop(report)
                continue
            if uid is not None:
                uids[imported.provider_id] = uid
        self._flush(report)
        return uids, deleted

    def _present_providers(self) -> dict[str, str]:
        """The stack's providers: the uid of each, by id."""
        return {stored.provider.id: stored.provider.uid for stored in self._idps.list_providers()}

    def _provider(
        self,
        imported: ImportedProvider,
        present: dict[str, str],
        links: list[ImportedLink],
        report: _Part,
    ) -> str | None:
        uid = present.get(imported.provider_id)
        theirs = sum(1 for link in links if link.provider_id == imported.provider_id)
        if uid is None:
            if len(present) >= MAX_PROVIDERS:
                full = f"the stack has {MAX_PROVIDERS} identity providers"
                report.rejections.append(
                    Rejection(imported.row, f"{full} (nor are its {theirs} links imported)")
                )
                return None
            new_uid = DRY_RUN_UID if self._dry else self._put_provider(imported)
            if new_uid is not None:
                present[imported.provider_id] = new_uid
                self._imported(report, _provider_written(imported))
                return new_uid
            # Created meanwhile (an admin, or another run): judged as any present one.
            existing = self._idps.get_provider(imported.provider_id)
            if existing is None:
                raise Unavailable("storage unavailable")
            uid = existing.provider.uid
        if uid.startswith(IMPORTED_UID_PREFIX):
            self._unchanged(report, _provider_written(imported))
            return uid
        report.rejections.append(
            Rejection(
                imported.row,
                "memos-auth has an identity provider of its own with this id: not overwritten "
                f"(nor given its {theirs} linked identities)",
            )
        )
        return None

    def _put_provider(self, imported: ImportedProvider) -> str | None:
        """The new provider's uid, None when its id was taken meanwhile."""
        given = imported.given
        uid = IMPORTED_UID_PREFIX + str(uuid.uuid4())
        provider = given.created(imported.provider_id, uid, int(self._clock.now()))
        stored = StoredProvider(provider, self._seal(given.client_secret, provider.id))
        return uid if self._idps.put_provider(stored) else None

    def _links(self, links: list[ImportedLink], linkable: _Linkable, report: _Part) -> None:
        """Links to users this import wrote (the same id and username), for providers it wrote;
        read first in batches so a second run writes nothing; the new ones put by the pool."""
        if not links:
            return
        if self._breaker.is_set():
            report.add(LINKS, NOT_REACHED, len(links))
            return
        linked = self._linkable(links, linkable, report)
        try:
            known = self._idps.get_links([(link.provider_id, link.extern_uid) for link in linked])
        except Unavailable:
            report.add(LINKS, NOT_REACHED, len(linked))
            self._stop(report)
            return
        fresh: list[ImportedLink] = []
        for link in linked:
            existing = known.get((link.provider_id, link.extern_uid))
            if existing is not None:
                self._judge_link(link, existing, linkable.uids, report)
            elif link_key(link) in self._ledger:
                report.add(LINKS, DELETED)
            else:
                fresh.append(link)
        self._flush(report)

        def one(chunk: Sequence[ImportedLink]) -> _Part:
            part = _Part()
            for index, link in enumerate(chunk):
                if self._breaker.is_set():
                    part.add(LINKS, NOT_REACHED, len(chunk) - index)
                    break
                try:
                    self._put_link(link, linkable.uids, part)
                except Unavailable:
                    part.rejections.append(Rejection(link.row, UNAVAILABLE))
                    self._stop(part)
            self._flush(part)
            return part

        chunks = [
            fresh[start : start + MAX_BATCH_WRITE_ITEMS]
            for start in range(0, len(fresh), MAX_BATCH_WRITE_ITEMS)
        ]
        with ThreadPoolExecutor(max_workers=self._threads) as executor:
            for part in executor.map(one, chunks):
                report.merge(part)

    def _linkable(self, links: list[ImportedLink], linkable: _Linkable, report: Report) -> list[ImportedLink]:
        """The links whose user and provider are this import's; the others counted or refused
        (those of a provider memos-auth has of its own: in the provider's refusal)."""
        kept: list[ImportedLink] = []
        for link in links:
            if link.user_id in linkable.deleted_users:
                report.add(LINKS, OF_DELETED_USERS)
            elif link.provider_id in linkable.deleted_providers:
                report.add(LINKS, OF_DELETED_PROVIDERS)
            elif link.provider_id not in linkable.uids:
                continue
            elif link.user_id not in linkable.here:
                report.rejections.append(Rejection(link.row, USER_NOT_IMPORTED))
            else:
                kept.append(link)
        return kept

    def _put_link(self, link: ImportedLink, uids: dict[str, str], report: _Part) -> None:
        record = LinkRecord(
            provider_id=link.provider_id,
            provider_uid=uids[link.provider_id],
            extern_uid=link.extern_uid,
            user_id=link.user_id,
            link_id=str(uuid.uuid4()),
            create_time=int(self._clock.now()),
        )
        if self._dry or self._idps.put_link(record):
            self._imported(report, _link_written(link, record))
            return
        existing = self._idps.get_link(link.provider_id, link.extern_uid)
        if existing is None:
            raise Unavailable("storage unavailable")
        self._judge_link(link, existing, uids, report)

    def _judge_link(
        self, link: ImportedLink, existing: LinkRecord, uids: dict[str, str], report: _Part
    ) -> None:
        if existing.user_id == link.user_id and existing.provider_uid == uids[link.provider_id]:
            self._unchanged(report, _link_written(link, existing))
        else:
            report.rejections.append(
                Rejection(link.row, "memos-auth has linked this identity already (to another user): kept")
            )


@dataclass
class Known:
    """Credentials read before writing, by key: those not here are looked up when needed."""

    pats: dict[str, PatRecord] = field(default_factory=dict)
    families: dict[str, RefreshFamily] = field(default_factory=dict)


def _pat_name(pat: PatRecord) -> str:
    return f"personal access token {pat.token_id} of user {pat.user_id}"


def _family_name(family: RefreshFamily) -> str:
    return f"refresh token {family.family_id} of user {family.user_id}"


@dataclass(frozen=True)
class _Written:
    """A credential as the report counts it, the ledger marks it and the audit names it (an
    identity provider belongs to no user: 0)."""

    what: str
    user_id: int
    credential_id: str
    marker: str
    # How a refusal names it.
    name: str = ""
    reason: str = IMPORTED


def _user_written(user: User) -> _Written:
    return _Written(USERS, user.id, "", user_key(user.id), reason=f"{IMPORTED}, as {user.role.value}")


def _pat_written(pat: PatRecord) -> _Written:
    return _Written(PATS, pat.user_id, pat.token_id, pat_key(pat), _pat_name(pat))


def _family_written(family: RefreshFamily) -> _Written:
    return _Written(FAMILIES, family.user_id, family.family_id, family_key(family), _family_name(family))


def _provider_written(imported: ImportedProvider) -> _Written:
    return _Written(PROVIDERS, 0, imported.provider_id, provider_key(imported.provider_id), imported.row)


def _link_written(link: ImportedLink, record: LinkRecord) -> _Written:
    return _Written(LINKS, record.user_id, record.link_id, link_key(link), link.row)


def _not_reached(users: list[ImportedUser], report: Report) -> None:
    report.add(USERS, NOT_REACHED, len(users))
    report.add(PATS, NOT_REACHED, sum(len(imported.pats) for imported in users))
    report.add(FAMILIES, NOT_REACHED, sum(len(imported.families) for imported in users))


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


def _clash(imported: ImportedUser, why: str) -> Rejection:
    """The refusal of a user whose id or username is taken (`why`), with its credentials."""
    return Rejection(
        f"user {imported.user.id}",
        f"{why}: not overwritten "
        f"(nor its {len(imported.pats)} tokens and {len(imported.families)} refresh tokens)",
    )
