"""One DynamoDB Local for the stacks of a test run (devstack.backends.start_shared_dynamodb_local).

Each emulator costs about three seconds of CPU to start, and more to warm up; a run starts
a dozen stacks that need neither to pause DynamoDB nor to keep data. The pytest process that
owns the session (pytest alone, or xdist's controller, before it starts its workers) starts
one, hands its URL to every process below it in SHARED_VARIABLE, and stops it by the pid it
started. tests/support/local_stacks puts stacks on it; each keeps to a namespace of its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import backends

SHARED_VARIABLE = "MEMOS_AUTH_TESTS_DYNAMODB_LOCAL"
TESTS = Path(__file__).resolve().parents[1]
# The suites whose stacks share it; a run of other tests alone does not start it.
STACK_SUITES = (TESTS / "e2e", TESTS / "browser")


@dataclass(frozen=True)
class Shared:
    backend: backends.Backend
    log_dir: Path


def start(config: pytest.Config) -> Shared | None:
    """The run's DynamoDB Local, started without waiting (a stack waits for it); None where
    another process owns it, no test of the run starts stacks, or it cannot run here."""
    if hasattr(config, "workerinput") or os.environ.get(SHARED_VARIABLE) or not _runs_stacks(config):
        return None
    kind, _ = backends.choose_dynamodb(os.environ)
    if kind != backends.DYNAMODB_LOCAL:
        return None  # each stack says why, or falls back to moto, as it would alone
    log_dir = Path(tempfile.mkdtemp(prefix="shared-dynamodb-"))
    # The JVM's full tiering: this one serves the whole run, long enough for its optimizing
    # compiler to pay (make test ran 6:40 and 5:54 with it, 7:09 to 7:28 without, on 2 cores).
    backend = backends.start_shared_dynamodb_local(log_dir, {**os.environ, **backends.SUSTAINED_LOAD})
    os.environ[SHARED_VARIABLE] = backend.endpoint
    return Shared(backend, log_dir)


def stop(shared: Shared | None) -> None:
    if shared is None:
        return
    os.environ.pop(SHARED_VARIABLE, None)
    shared.backend.stop()
    shutil.rmtree(shared.log_dir, ignore_errors=True)


def url() -> str | None:
    """The shared DynamoDB Local of this run, if there is one."""
    return os.environ.get(SHARED_VARIABLE) or None


def _runs_stacks(config: pytest.Config) -> bool:
    for argument in config.args:
        path = Path(argument.split("::")[0]).resolve()
        if any(path == suite or suite in path.parents or path in suite.parents for suite in STACK_SUITES):
            return True
    return False
