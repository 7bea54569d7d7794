"""The whole local stack in one object: backends, tables and secrets, workers, HTTP API."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from devstack import backends
from devstack.environment import Endpoints, function_environment
from devstack.gateway import Gateway, GatewayServer
from devstack.ports import HOST
from devstack.provision import provision
from devstack.routes import Router
from devstack.runtime import DEFAULT_MAX_WORKERS, FunctionPool, Outcome
from devstack.template import DEFAULT_TEMPLATE, load_template

READY_MESSAGE = "memos-auth is serving on {url}"


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
    ) -> None:
        self._template_path = Path(template_path)
        self._port = port
        self._environ = dict(os.environ if environ is None else environ)
        self._keep_logs = log_dir is not None
        self._log_dir = log_dir
        self._max_workers = max_workers
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
            self._server = GatewayServer((HOST, self._port), Gateway(router, self._pools))
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="devstack-"))
        self._backends = backends.start(self._log_dir, self._environ)
        for message in self._backends.notes:
            note(message)
        self._backends.wait_ready()
        endpoints = self.endpoints
        for message in provision(self.template, endpoints):
            note(message)
        for function in self.template.functions.values():
            environment = function_environment(function, endpoints, self._environ)
            self._pools[function.logical_id] = FunctionPool(function, environment, self._max_workers)
        if warm:
            self._warm()

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

    @property
    def endpoints(self) -> Endpoints:
        assert self._backends is not None, "not started"
        return Endpoints(
            dynamodb=self._backends.dynamodb.endpoint,
            secretsmanager=self._backends.secretsmanager.endpoint,
        )

    def describe(self) -> dict[str, Any]:
        """What a test needs to reach the stack and check that it stopped completely."""
        assert self._backends is not None, "not started"
        return {
            "url": self.url if self._server is not None else None,
            "dynamodb_endpoint": self.endpoints.dynamodb,
            "dynamodb_backend": self._backends.dynamodb.name,
            # Its own process (and group), so tests can pause and resume it (a hanging DynamoDB).
            "dynamodb_pid": self._backends.dynamodb.process.pid,
            "secretsmanager_endpoint": self.endpoints.secretsmanager,
            "tables": {table.logical_id: table.name for table in self.template.tables.values()},
            "secrets": {secret.logical_id: secret.name for secret in self.template.secrets.values()},
            "pid": os.getpid(),
            "backend_pids": [backend.process.pid for backend in self._backends.all],
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
        if self._backends is not None:
            self._backends.stop()
        if self._log_dir is None:
            return
        if failed or self._keep_logs:
            note(f"logs kept in {self._log_dir}")
        else:
            shutil.rmtree(self._log_dir, ignore_errors=True)
