"""The whole local stack in one object: backends, tables and secrets, workers, HTTP API."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.exceptions

from devstack import backends, processes
from devstack.dynamodb_tap import DynamoDBTap
from devstack.environment import LOCAL_ACCESS_KEY_ID, Endpoints, function_environment
from devstack.gateway import Gateway, GatewayServer
from devstack.persistence import DataDir, restore_secrets, save_secrets
from devstack.ports import HOST
from devstack.provision import client, provision
from devstack.request_log import JSON, READABLE, RequestLog
from devstack.routes import Router
from devstack.runtime import DEFAULT_MAX_WORKERS, FunctionPool, Outcome
from devstack.template import DEFAULT_TEMPLATE, load_template

# `backends` says which DynamoDB and Secrets Manager answer, and whether data is kept:
# "DynamoDB: DynamoDB Local, data in .devstack/dynamodb; Secrets Manager: moto, ...".
READY_MESSAGE = "memos-auth is serving on {url} ({backends})"


def note(message: str) -> None:
    sys.stderr.write(f"devstack: {message}\n")
    sys.stderr.flush()


class App:
    """Start with `start()`, serve with `serve_forever()`; `stop()` is always safe to call."""

    def __init__(
        self,
        template_path: Path = DEFAULT_TEMPLATE,
        port: int = 3000,
        environ: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        max_workers: int = DEFAULT_MAX_WORKERS,
        log_mode: str = JSON,
        data_dir: Path | None = None,
        fresh: bool = False,
        dynamodb_tap: bool = False,
        shared_dynamodb_local: str | None = None,
    ) -> None:
        """`data_dir` keeps DynamoDB Local's data and the secrets between runs (None: memory
        only); `fresh` empties it first. `log_mode` readable sends the handlers' logs to a
        file per function and prints a line per request instead (devstack.request_log).
        `dynamodb_tap` puts devstack.dynamodb_tap between the functions and DynamoDB.
        `shared_dynamodb_local` is a running DynamoDB Local to use instead of starting one
        (devstack.backends.start_shared_dynamodb_local), in a namespace of this stack's own."""
        self._template_path = Path(template_path)
        self._port = port
        self._environ = dict(os.environ if environ is None else environ)
        self._keep_logs = log_dir is not None
        self._log_dir = log_dir
        self._max_workers = max_workers
        self._request_log = RequestLog(log_mode)
        # Absolute: the backends run in their log directory, not where devstack was started.
        self._data = DataDir(Path(data_dir).resolve()) if data_dir is not None else None
        self._fresh = fresh
        self._want_tap = dynamodb_tap
        self._shared_dynamodb_local = shared_dynamodb_local
        # The stack's namespace in a shared DynamoDB Local (Endpoints.access_key_id).
        self._access_key_id = (
            f"stack{secrets.token_hex(8)}" if shared_dynamodb_local is not None else LOCAL_ACCESS_KEY_ID
        )
        self._tap: DynamoDBTap | None = None
        self._provisioned = False
        self._backends: backends.Backends | None = None
        self._pools: dict[str, FunctionPool] = {}
        self._server: GatewayServer | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.template = load_template(self._template_path)

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self, serve_http: bool = True, warm: bool = True) -> None:
        if serve_http:
            # Bind first: a busy port fails in milliseconds, before any backend is started.
            router = Router(self.template.routes)
            self._server = GatewayServer((HOST, self._port), Gateway(router, self._pools), self._request_log)
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="devstack-"))
        if self._data is not None:
            self._data.prepare(self._fresh)
        self._backends = backends.start(
            self._log_dir,
            self._environ,
            dynamodb_data=self._data.dynamodb if self._data else None,
            shared_dynamodb_local=self._shared_dynamodb_local,
        )
        for message in self._backends.notes:
            note(message)
        self._backends.wait_ready()
        endpoints = self.endpoints
        for message in provision(self.template, endpoints):
            note(message)
        if self._data is not None:
            self._restore_secrets()
        self._provisioned = True
        if self._want_tap:
            self._tap = self._start_tap()
            # Only the functions go through it: provisioning and tests read DynamoDB directly.
            endpoints = replace(endpoints, dynamodb=self._tap.endpoint)
            note(f"the functions reach DynamoDB through a tap; its control is {self._tap.control_endpoint}")
        environ = self._environ
        if self._server is not None and "WEBAUTHN_ORIGINS" not in environ:
            # Passkeys are verified against the page's origin: the one this stack serves.
            port = self._server.server_address[1]
            environ = {**environ, "WEBAUTHN_ORIGINS": f"http://localhost:{port}"}
        for function in self.template.functions.values():
            environment = function_environment(function, endpoints, environ)
            self._pools[function.logical_id] = FunctionPool(
                function, environment, self._max_workers, self._function_log(function.logical_id)
            )
        if warm:
            self._warm()

    def _start_tap(self) -> DynamoDBTap:
        assert self._backends is not None
        dynamodb = self._backends.dynamodb
        url = urllib.parse.urlsplit(dynamodb.endpoint)

        process = dynamodb.process

        def pause() -> None:
            assert process is not None
            processes.signal_group(process, signal.SIGSTOP)

        # moto serves Secrets Manager too: freezing it would hang more than DynamoDB. A shared
        # DynamoDB Local serves other stacks: freezing it would hang them too.
        can_pause = dynamodb.name == backends.DYNAMODB_LOCAL and process is not None
        return DynamoDBTap(
            (url.hostname or HOST, url.port or 80), on_pause=pause if can_pause else None
        ).start()

    def invoke(self, function_name: str, event: Mapping[str, Any]) -> Outcome:
        """One invocation of a function, as `sam local invoke` would do it."""
        if function_name not in self._pools:
            known = ", ".join(sorted(self._pools)) or "none"
            raise KeyError(f"no function {function_name} in the template (functions: {known})")
        return self._pools[function_name].invoke(event)

    def _warm(self) -> None:
        # One warm worker per function, in parallel, so the first request is not a cold
        # start. A function that cannot be imported yet is reported, not fatal: every
        # invocation of it then answers 500, as a broken deployment would.
        with ThreadPoolExecutor(max_workers=max(1, len(self._pools))) as executor:
            errors = dict(
                zip(self._pools, executor.map(FunctionPool.warm, self._pools.values()), strict=True)
            )
        for name, error in errors.items():
            if error is not None:
                note(f"{name}: {error.get('errorType')}: {error.get('errorMessage')}")

    def _function_log(self, name: str) -> Path | None:
        if self._request_log.mode != READABLE:
            return None
        assert self._log_dir is not None
        (self._log_dir / "functions").mkdir(parents=True, exist_ok=True)
        return self._log_dir / "functions" / f"{name}.log"

    @property
    def _secret_names(self) -> list[str]:
        return [secret.name for secret in self.template.secrets.values()]

    def _secretsmanager(self) -> Any:
        return client("secretsmanager", self.endpoints.secretsmanager)

    def backends_summary(self) -> str:
        """Which DynamoDB and Secrets Manager answer, and where their data is kept."""
        assert self._backends is not None, "not started"
        if self._backends.dynamodb.name != backends.DYNAMODB_LOCAL:
            dynamodb = "moto, in memory"
        elif self._data is not None:
            dynamodb = f"DynamoDB Local, data in {_shown(self._data.dynamodb)}"
        elif self._backends.dynamodb.process is None:
            dynamodb = f"DynamoDB Local shared at {self._backends.dynamodb.endpoint}, in memory"
        else:
            dynamodb = "DynamoDB Local, in memory"
        secrets = f"values in {_shown(self._data.secrets_file)}" if self._data is not None else "in memory"
        return f"DynamoDB: {dynamodb}; Secrets Manager: moto, {secrets}"

    @property
    def endpoints(self) -> Endpoints:
        assert self._backends is not None, "not started"
        return Endpoints(
            dynamodb=self._backends.dynamodb.endpoint,
            secretsmanager=self._backends.secretsmanager.endpoint,
            access_key_id=self._access_key_id,
        )

    def describe(self) -> dict[str, Any]:
        """What a test needs to reach the stack and check that it stopped completely."""
        assert self._backends is not None, "not started"
        dynamodb_process = self._backends.dynamodb.process
        return {
            "url": self.url if self._server is not None else None,
            "dynamodb_endpoint": self.endpoints.dynamodb,
            "dynamodb_backend": self._backends.dynamodb.name,
            # Its own process (and group), so tests can pause and resume it (a hanging DynamoDB);
            # None for a shared one, which no stack may pause.
            "dynamodb_pid": dynamodb_process.pid if dynamodb_process is not None else None,
            "dynamodb_access_key_id": self.endpoints.access_key_id,
            # With --dynamodb-tap: what the functions use as their DynamoDB, and its trigger.
            "dynamodb_tap_endpoint": self._tap.endpoint if self._tap is not None else None,
            "dynamodb_tap_control": self._tap.control_endpoint if self._tap is not None else None,
            "backends": self.backends_summary(),
            "data_dir": str(self._data.root) if self._data is not None else None,
            "function_logs": {
                name: str(pool.log_path) for name, pool in self._pools.items() if pool.log_path is not None
            },
            "secretsmanager_endpoint": self.endpoints.secretsmanager,
            "tables": {table.logical_id: table.name for table in self.template.tables.values()},
            "secrets": {secret.logical_id: secret.name for secret in self.template.secrets.values()},
            "pid": os.getpid(),
            # Demo mode signs with Memos' demo key: an import then leaves the secret alone.
            "demo": self._environ.get("MEMOS_DEMO", "").strip().lower() in ("1", "true", "yes"),
            "backend_pids": [process.pid for process in self._backends.started],
            "log_dir": str(self._log_dir),
        }

    def serve_forever(self) -> None:
        assert self._server is not None, "not started"
        self._server.serve_forever(poll_interval=0.2)

    def stop(self, failed: bool = False) -> None:
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        if self._server is not None:
            self._server.server_close()
        for pool in self._pools.values():
            pool.close()
        if self._tap is not None:
            self._tap.stop()
            if self._backends is not None and self._backends.dynamodb.process is not None:
                # The tap may have left DynamoDB Local frozen, and a frozen process would sit
                # out the SIGTERM grace period below.
                processes.signal_group(self._backends.dynamodb.process, signal.SIGCONT)
        if self._data is not None and self._provisioned:
            self._save_secrets()
        if self._backends is not None:
            self._backends.stop()
        if self._log_dir is None:
            return
        if failed or self._keep_logs:
            note(f"logs kept in {self._log_dir}")
        else:
            shutil.rmtree(self._log_dir, ignore_errors=True)

    def _restore_secrets(self) -> None:
        assert self._data is not None
        try:
            restore_secrets(self._secretsmanager(), self._secret_names, self._data.secrets_file)
        except (botocore.exceptions.ClientError, ValueError, KeyError, TypeError) as error:
            raise backends.BackendError(
                f"{_shown(self._data.secrets_file)} cannot be restored ({type(error).__name__}): "
                "start empty with make run FRESH=1"
            ) from None

    def _save_secrets(self) -> None:
        assert self._data is not None
        try:
            save_secrets(self._secretsmanager(), self._secret_names, self._data.secrets_file)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as error:
            # Only the error's kind: never anything that could carry a secret's value.
            note(f"the secrets could not be saved ({type(error).__name__}): the next run makes new keys")


def _shown(path: Path) -> str:
    """A path as short as it can be said from where devstack runs."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
