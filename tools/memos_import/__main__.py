"""`python -m tools.memos_import --db memos_prod.db [--dry-run]` (= `make import-memos DB=…`).

Into the stack `make run` serves (it writes `.devstack/stack.json`), or a deployed one:
`--stack-outputs outputs.json` (the CloudFormation stack's outputs) or `--users-table …
--secret-id …`. Prints counts, a progress bar on a terminal, and every row not taken with
its reason; never a hash, token or key. Each credential it writes is audited, one JSON
line each appended to `--audit-log` (memos-import-audit.jsonl). Exits 1 when any row was not taken, 2 when it
could not run at all or its storage failed on the way (run it again: it takes up from there).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from auth.errors import Unavailable
from tools.memos_import import mapping, memos_sqlite
from tools.memos_import.audit_file import AuditFile
from tools.memos_import.target import (
    ENVIRONMENT,
    TargetError,
    from_environment,
    from_stack_file,
    from_stack_outputs,
    resolve,
)
from tools.memos_import.writer import DEFAULT_THREADS, Importer, Report

LOCAL_STACK_FILE = Path(".devstack/stack.json")
AUDIT_LOG = Path("memos-import-audit.jsonl")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.memos_import", description=__doc__)
    parser.add_argument("--db", type=Path, required=True, help="the Memos SQLite database")
    parser.add_argument("--dry-run", action="store_true", help="report what would be imported; write nothing")
    parser.add_argument(
        "--stack-file", type=Path, help=f"a local stack's endpoints (default: {LOCAL_STACK_FILE} if present)"
    )
    parser.add_argument("--stack-outputs", type=Path, help="a deployed stack's CloudFormation outputs (JSON)")
    for name, variable in ENVIRONMENT.items():
        parser.add_argument("--" + name.replace("_", "-"), help=f"(default: ${variable})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument(
        "--audit-log",
        type=Path,
        default=AUDIT_LOG,
        help=f"where each credential written is audited, one JSON line each, appended (default: {AUDIT_LOG})",
    )
    return parser.parse_args(argv)


def _target_layers(arguments: argparse.Namespace) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    deployed = arguments.stack_outputs is not None or any(os.environ.get(v) for v in ENVIRONMENT.values())
    stack_file = arguments.stack_file
    if stack_file is None and not deployed and LOCAL_STACK_FILE.is_file():
        stack_file = LOCAL_STACK_FILE
    if stack_file is not None:
        layers.append(from_stack_file(stack_file))
    if arguments.stack_outputs is not None:
        layers.append(from_stack_outputs(arguments.stack_outputs))
    layers.append(from_environment(os.environ))
    layers.append({name: getattr(arguments, name) for name in ENVIRONMENT})
    return layers


def _printable(text: str) -> str:
    """`text` with what a terminal would act on, or cannot print, escaped: a row's name holds
    the database's words (a token id), which may carry escape sequences or lone surrogates."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _print_report(report: Report, seconds: float) -> None:
    for (kind, outcome), count in sorted(report.counts.items()):
        if count:
            print(f"{kind}: {count:,} {outcome}")
    for note in report.notes:
        print(f"note: {note}")
    for rejection in report.rejections:
        print(f"not imported: {_printable(rejection.row)}: {_printable(rejection.reason)}")
    print(f"{len(report.rejections)} rows not imported; took {seconds:.1f} s")


def _audit_failed(audit: AuditFile | None) -> bool:
    """Whether the audit log could not be written, said if so."""
    if audit is None or audit.failure is None:
        return False
    print(
        f"memos-import: the audit log {audit.path} could not be written ({audit.failure}); "
        "run the import again once it can: it audits what this run wrote",
        file=sys.stderr,
    )
    return True


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    started = time.monotonic()
    try:
        target = resolve(*_target_layers(arguments))
        database = memos_sqlite.read(arguments.db)
    except (TargetError, memos_sqlite.NotAMemosDatabase) as error:
        print(f"memos-import: {error}", file=sys.stderr)
        return 2
    plan = mapping.plan(database, int(time.time()), allow_http=target.is_local)
    print(
        f"read {arguments.db}: {len(database.users):,} users, {len(database.user_settings):,} user settings,"
        f" {len(database.idps):,} identity providers, {len(database.user_identities):,} linked identities"
    )
    try:
        # A dry run writes nothing, so it audits nothing either.
        audit = None if arguments.dry_run else AuditFile(arguments.audit_log)
    except OSError as error:
        print(
            f"memos-import: cannot append to the audit log {arguments.audit_log}: {error.strerror}",
            file=sys.stderr,
        )
        return 2
    try:
        importer = Importer(target, threads=arguments.threads, audit=audit)
        # The bar goes to stderr, and only on a terminal: a log file gets the counts alone.
        with Progress(
            TextColumn("users"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not sys.stderr.isatty(),
            transient=True,
        ) as bar:
            task = bar.add_task("users", total=len(plan.users))
            report = importer.run(plan, arguments.dry_run, progress=lambda done: bar.advance(task, done))
    except (Unavailable, BotoCoreError, ClientError) as error:
        if _audit_failed(audit):
            return 2
        # A step outside the users' own (the key, the id counter, a first read) failed: every
        # write is whole and conditional, so a second run takes up from here. The error's
        # kind alone: no message of a request that may have carried the key.
        kind = error.response.get("Error", {}).get("Code", "") if isinstance(error, ClientError) else ""
        print(
            f"memos-import: storage unavailable ({kind or type(error).__name__}); run the import again",
            file=sys.stderr,
        )
        return 2
    finally:
        if audit is not None:
            audit.close()
    if audit is not None:
        report.notes.append(f"{audit.recorded:,} credentials written, each audited in {audit.path}")
    _print_report(report, time.monotonic() - started)
    if _audit_failed(audit):
        return 2
    if report.storage_failed:
        # The counts say what was not reached; the rows named are the ones storage failed on.
        print("memos-import: storage unavailable on the way; run the import again", file=sys.stderr)
        return 2
    return 1 if report.rejections else 0


if __name__ == "__main__":
    sys.exit(main())
