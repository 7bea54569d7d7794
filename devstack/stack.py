"""Start and stop a whole local stack from tests.

    with LocalStack(env_overrides={"MEMOS_DEMO": "true"}) as stack:
        requests.post(f"{stack.url}/api/v1/users", json=...)
        stack.client("dynamodb").scan(TableName=stack.tables["UsersTable"])

The stack runs as `python -m devstack` in a subprocess, exactly as `make run` does, so
tests exercise the same process model (one process per warm function "container").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from devstack.provision import Service, client
from devstack.request_log import JSON
from devstack.template import DEFAULT_TEMPLATE, REPO_ROOT

STARTUP_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 15.0
# SIGSTOP and SIGCONT take effect within milliseconds; this only bounds a broken /proc.
SIGNAL_SETTLE_SECONDS = 5.0


class StackError(RuntimeError):
    """The stack did not start; the message carries the end of its log."""


class TapTrigger:
    """The tap's one trigger, through its control endpoint (devstack.dynamodb_tap)."""

    def __init__(self, control: str) -> None:
        self._url = control.rstrip("/") + "/trigger"

    def arm(self, target: str, table: str) -> None:
        self._call("PUT", {"target": target, "table": table, "pause": True})

    def disarm(self) -> None:
        self._call("DELETE")

    @property
    def fired(self) -> bool:
        """Whether the call was caught (and DynamoDB Local frozen)."""
        state = self._call("GET")
        return bool(state and state["fired"])

    def _call(self, method: str, document: object = None) -> Any:
        body = None if document is None else json.dumps(document).encode()
        request = urllib.request.Request(self._url, data=body, method=method)  # noqa: S310 - our own URL
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310  # nosec B310
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise StackError(f"the tap refused {method}: {error.code} {error.read()!r}") from None
        return json.loads(text) if text else None


class LocalStack:
    def __init__(
        self,
        env_overrides: Mapping[str, str] | None = None,
        port: int = 0,
        template: Path | str = DEFAULT_TEMPLATE,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        max_workers: int | None = None,
        logs: str = JSON,
        data_dir: Path | str | None = None,
        fresh: bool = False,
        dynamodb_tap: bool = False,
        shared_dynamodb_local: str | None = None,
    ) -> None:
        """`logs` is json by default, so `log_text()` holds every line the handlers logged
        (tests scan them for secrets). Without `data_dir` the stack keeps nothing: every
        stack starts empty, whatever other tests or `make run` stored. `dynamodb_tap` puts
        devstack.dynamodb_tap between the functions and DynamoDB, for
        `dynamodb_paused_at`. `shared_dynamodb_local` is the URL of a DynamoDB Local that
        devstack.backends.start_shared_dynamodb_local started: the stack uses it, in a
        namespace of its own, instead of starting one (it then cannot pause it)."""
        self.env_overrides = dict(env_overrides or {})
        self.port = port
        self.template = Path(template).resolve()
        self.startup_timeout = startup_timeout
        self.max_workers = max_workers
        self.logs = logs
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.fresh = fresh
        self.dynamodb_tap = dynamodb_tap
        self.shared_dynamodb_local = shared_dynamodb_local
        self.process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._description: dict[str, Any] = {}
        self._dynamodb_paused = False

    # -- what tests use ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return str(self._described("url"))

    @property
    def dynamodb_endpoint(self) -> str:
        return str(self._described("dynamodb_endpoint"))

    @property
    def secretsmanager_endpoint(self) -> str:
        return str(self._described("secretsmanager_endpoint"))

    @property
    def dynamodb_backend(self) -> str:
        """ "dynamodb-local" (AWS's emulator on Java) or "moto"."""
        return str(self._described("dynamodb_backend"))

    @property
    def backends(self) -> str:
        """What the ready line says: "DynamoDB: ...; Secrets Manager: ..."."""
        return str(self._described("backends"))

    @property
    def tables(self) -> dict[str, str]:
        """Local table name by logical id, e.g. {"UsersTable": "UsersTable"}."""
        return dict(self._described("tables"))

    @property
    def secrets(self) -> dict[str, str]:
        return dict(self._described("secrets"))

    @property
    def pids(self) -> list[int]:
        """The devstack process and the backends it started."""
        return [int(self._described("pid")), *map(int, self._described("backend_pids"))]

    @property
    def ready_file(self) -> Path:
        """The stack's endpoints and names as JSON (what `make run` writes to .devstack/stack.json)."""
        assert self._workdir is not None, "not started"
        return self._workdir / "ready.json"

    @property
    def log_path(self) -> Path:
        assert self._workdir is not None, "not started"
        return self._workdir / "devstack.log"

    def log_text(self) -> str:
        """Everything devstack printed: request lines, notes, and in json mode the handlers' logs."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def dynamodb_pid(self) -> int:
        """The DynamoDB backend's process, which leads its own process group."""
        pid = self._described("dynamodb_pid")
        if pid is None:
            raise StackError(
                "this stack shares DynamoDB Local with others, so it may not pause it: "
                "start it without shared_dynamodb_local"
            )
        return int(pid)

    def pause_dynamodb(self) -> None:
        """Freeze DynamoDB Local (SIGSTOP): it keeps accepting connections, never answers.

        That is a hanging dependency, unlike a refused connection. Only DynamoDB Local can
        be paused: moto's server also serves Secrets Manager.
        """
        if self.dynamodb_backend != "dynamodb-local":
            raise StackError(f"only DynamoDB Local can be paused, not {self.dynamodb_backend}")
        self._signal_dynamodb(signal.SIGSTOP)
        self._dynamodb_paused = True
        self._wait_dynamodb_state(stopped=True)

    def resume_dynamodb(self) -> None:
        self._signal_dynamodb(signal.SIGCONT)
        self._dynamodb_paused = False
        self._wait_dynamodb_state(stopped=False)

    @contextlib.contextmanager
    def dynamodb_paused(self) -> Iterator[None]:
        """`with stack.dynamodb_paused(): ...` runs its block with DynamoDB Local frozen and
        resumes it afterwards, whatever the block raised."""
        self.pause_dynamodb()
        try:
            yield
        finally:
            self.resume_dynamodb()

    @contextlib.contextmanager
    def dynamodb_paused_at(self, operation: str, table: str) -> Iterator[TapTrigger]:
        """Freeze DynamoDB Local exactly while one call is in flight (needs `dynamodb_tap`).

        In the block, the next `operation` ("UpdateItem") on `table` that a function sends
        reaches DynamoDB Local, which is then frozen; the function never hears back (the tap
        withholds that answer for good), so it times out as if the answer were lost. After
        the block DynamoDB Local runs again, and applies the call if it had not yet.
        """
        if self.dynamodb_backend != "dynamodb-local":
            raise StackError(f"only DynamoDB Local can be paused, not {self.dynamodb_backend}")
        control = self._described("dynamodb_tap_control")
        if control is None:
            raise StackError("the functions do not go through a tap: LocalStack(dynamodb_tap=True)")
        trigger = TapTrigger(str(control))
        # From now on the tap may freeze DynamoDB Local at any moment: stop() must resume it.
        self._dynamodb_paused = True
        try:
            trigger.arm(f"DynamoDB_20120810.{operation}", table)
            yield trigger
        finally:
            try:
                trigger.disarm()
            finally:
                self.resume_dynamodb()

    def _signal_dynamodb(self, signum: signal.Signals) -> None:
        # The group devstack created for the backend (start_new_session): never anyone else's.
        os.killpg(self.dynamodb_pid, signum)

    def _wait_dynamodb_state(self, stopped: bool) -> None:
        """Poll /proc until the kernel shows the process stopped (T) or running again."""
        stat = Path(f"/proc/{self.dynamodb_pid}/stat")
        deadline = time.monotonic() + SIGNAL_SETTLE_SECONDS
        while True:
            try:
                # "pid (comm) state ...": the state follows the last parenthesis.
                state = stat.read_text().rpartition(")")[2].split()[0]
            except OSError:
                return  # no /proc (not Linux): the signal was sent, nothing more to check
            if (state in ("T", "t")) == stopped:
                return
            if time.monotonic() > deadline:
                raise StackError(f"DynamoDB Local is in state {state!r}, expected stopped={stopped}")
            time.sleep(0.01)

    def function_log_text(self, function: str) -> str:
        """In readable mode, what one function's workers wrote (its "log group")."""
        path = self._described("function_logs").get(function)
        try:
            return Path(path).read_text(errors="replace") if path else ""
        except OSError:
            return ""

    def client(self, service: Service) -> Any:
        """A boto3 client for "dynamodb" or "secretsmanager" on this stack's backend."""
        endpoints = {"dynamodb": self.dynamodb_endpoint, "secretsmanager": self.secretsmanager_endpoint}
        namespace = str(self._described("dynamodb_access_key_id"))
        return client(service, endpoints[service], access_key_id=namespace)

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        self._workdir = Path(tempfile.mkdtemp(prefix="localstack-"))
        ready_file = self._workdir / "ready.json"
        argv = [
            sys.executable,
            "-m",
            "devstack",
            "--template",
            str(self.template),
            "--port",
            str(self.port),
            "--ready-file",
            str(ready_file),
            "--log-dir",
            str(self._workdir / "backends"),
        ]
        if self.max_workers is not None:
            argv += ["--max-workers", str(self.max_workers)]
        argv += ["--logs", self.logs]
        if self.data_dir is not None:
            argv += ["--data-dir", str(self.data_dir)]
        if self.fresh:
            argv.append("--fresh")
        if self.dynamodb_tap:
            argv.append("--dynamodb-tap")
        if self.shared_dynamodb_local is not None:
            argv += ["--shared-dynamodb-local", self.shared_dynamodb_local]
        with self.log_path.open("wb") as log:
            # Output goes to a file, not a pipe: nobody drains a pipe once the stack is up,
            # and a full pipe would block the handlers' logging.
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                argv,
                cwd=REPO_ROOT,
                env={**os.environ, **self.env_overrides},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready(ready_file)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, ready_file: Path) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while not ready_file.exists():
            if self.process.poll() is not None:
                raise StackError(f"devstack exited with {self.process.returncode}:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"devstack not ready after {self.startup_timeout:.0f}s:\n{self._log_tail()}")
            time.sleep(0.05)
        self._description = json.loads(ready_file.read_text())

    def stop(self) -> None:
        """Stop devstack as Ctrl-C would; kill whatever is left by the pids it started."""
        if self._dynamodb_paused:
            # A stopped process would sit out devstack's SIGTERM grace period.
            with contextlib.suppress(ProcessLookupError, PermissionError, StackError):
                self.resume_dynamodb()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            # devstack leads its own group (its workers) and each backend leads one: a
            # devstack that failed to clean up must not leave them behind a test run.
            for group in [self.process.pid, *self._description.get("backend_pids", [])]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(int(group), signal.SIGKILL)
        if self._workdir is not None and self.process is not None and self.process.returncode == 0:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _described(self, key: str) -> Any:
        if key not in self._description:
            raise StackError("the stack is not running")
        return self._description[key]

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])
