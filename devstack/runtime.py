"""Lambda-like execution: a pool of warm worker processes per function.

Each worker runs one invocation at a time, like a Lambda execution environment, so
parallel requests run in parallel processes with their own module state. A worker that
times out or dies is discarded (Lambda does the same with its sandbox); the next
invocation gets a fresh one (a cold start).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

from devstack import worker
from devstack.template import Function

DEFAULT_MAX_WORKERS = 4
# Lambda allows 10 s for init; a cold import on a busy laptop or CI runner can take longer.
INIT_TIMEOUT_SECONDS = 30.0
# spawn, not fork: a worker must not inherit the server's threads, sockets or locks.
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Outcome:
    """What one invocation produced: a JSON result or a Lambda-style error document."""

    result: Any = None
    error: Mapping[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class PoolClosed(RuntimeError):
    pass


class _Worker:
    def __init__(self, spec: worker.WorkerSpec) -> None:
        parent_end, child_end = _CONTEXT.Pipe()
        self.connection: Connection = parent_end
        self.process: BaseProcess = _CONTEXT.Process(
            target=worker.main, args=(child_end, spec), name=f"lambda:{spec.function_arn}"
        )
        self.process.start()
        child_end.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def wait_initialized(self) -> Mapping[str, Any] | None:
        """None once the handler is imported, else the init error."""
        try:
            if not self.connection.poll(INIT_TIMEOUT_SECONDS):
                return {"errorType": "Runtime.InitTimeout", "errorMessage": "handler import timed out"}
            _, error = self.connection.recv()
        except (EOFError, OSError):
            # The worker died, or the pool was closed under us (shutdown).
            return {"errorType": "Runtime.ExitError", "errorMessage": "worker exited during init"}
        # What the worker sent: ("init", its error payload or None).
        return cast("Mapping[str, Any] | None", error)

    def invoke(self, event_json: str, timeout: float) -> Outcome:
        try:
            self.connection.send((str(uuid.uuid4()), event_json))
            if not self.connection.poll(timeout):
                return Outcome(
                    error={
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"Task timed out after {timeout:.2f} seconds",
                    }
                )
            status, payload = self.connection.recv()
        except (EOFError, OSError):
            return Outcome(error={"errorType": "Runtime.ExitError", "errorMessage": "worker exited"})
        if status == "ok":
            return Outcome(result=json.loads(payload))
        return Outcome(error=payload)

    def stop(self, grace_seconds: float = 1.0) -> None:
        # Closing the pipe ends the worker's loop cleanly; a busy or stuck one is killed.
        with contextlib.suppress(OSError):
            self.connection.close()
        self.process.join(grace_seconds)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class FunctionPool:
    """Warm workers of one function, at most `max_workers` at a time."""

    def __init__(
        self,
        function: Function,
        environment: Mapping[str, str],
        max_workers: int = DEFAULT_MAX_WORKERS,
        log_path: Path | None = None,
    ) -> None:
        self.function = function
        self.log_path = log_path
        self._spec = worker.WorkerSpec(
            handler=function.handler,
            code_uri=str(function.code_uri),
            function_arn=function.arn,
            timeout_seconds=float(function.timeout_seconds),
            environment=dict(environment),
            log_path=str(log_path) if log_path is not None else None,
        )
        self._max_workers = max_workers
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._slots = threading.Condition()
        self._closed = False

    def warm(self) -> Mapping[str, Any] | None:
        """Start one worker ahead of the first request; returns its init error, if any."""
        with self._slots:
            new = self._spawn_locked()
        started = self._initialize(new)
        if isinstance(started, _Worker):
            self._release(started)
            return None
        return started

    def invoke(self, event: Mapping[str, Any]) -> Outcome:
        acquired = self._acquire()
        if not isinstance(acquired, _Worker):
            return Outcome(error=acquired)
        outcome = acquired.invoke(json.dumps(event), float(self.function.timeout_seconds))
        error_type = str((outcome.error or {}).get("errorType", ""))
        if error_type.startswith(("Sandbox.", "Runtime.")):
            # A timed-out or crashed environment is never reused.
            self._discard(acquired)
        else:
            self._release(acquired)
        return outcome

    def close(self) -> None:
        with self._slots:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._slots.notify_all()
        for each in workers:
            each.stop()

    def _acquire(self) -> _Worker | Mapping[str, Any]:
        with self._slots:
            while True:
                if self._closed:
                    raise PoolClosed(self.function.logical_id)
                if self._idle:
                    # Most recently used first: the warmest environment, as Lambda prefers.
                    return self._idle.pop()
                if len(self._all) < self._max_workers:
                    new = self._spawn_locked()
                    break
                self._slots.wait()
        return self._initialize(new)

    def _spawn_locked(self) -> _Worker:
        if self._closed:
            raise PoolClosed(self.function.logical_id)
        new = _Worker(self._spec)
        self._all.add(new)
        return new

    def _initialize(self, new: _Worker) -> _Worker | Mapping[str, Any]:
        """The worker once its handler is imported, or the init error (the worker is then gone)."""
        error = new.wait_initialized()
        if error is not None:
            self._discard(new)
            return {**error, "errorMessage": f"Init error: {error.get('errorMessage')}"}
        return new

    def _release(self, used: _Worker) -> None:
        with self._slots:
            retired = used not in self._all
            if not retired:
                self._idle.append(used)
            self._slots.notify()
        if retired:
            used.stop()

    def _discard(self, gone: _Worker) -> None:
        with self._slots:
            self._all.discard(gone)
            self._slots.notify()
        gone.stop(grace_seconds=0)
