"""One warm "container" of a function: a process that imports the handler once, then
serves invocations sent over a pipe until the pipe closes.

Runs in a spawned process, so it only ever sees what `WorkerSpec` carries.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from devstack.context import LambdaContext

Handler = Callable[[Any, LambdaContext], Any]


@dataclass(frozen=True)
class WorkerSpec:
    handler: str
    code_uri: str
    function_arn: str
    timeout_seconds: float
    environment: dict[str, str]
    # Where the handler's stdout and stderr go (its "log group"); None: devstack's stderr.
    log_path: str | None = None


def error_payload(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """The error document Lambda returns for an unhandled exception."""
    frames: list[traceback.FrameSummary] = traceback.extract_tb(exc.__traceback__)
    # Start at the handler's frames, as Lambda's trace does, not at devstack's.
    frames = [frame for frame in frames if frame.filename != __file__] or frames
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def load_handler(handler: str) -> Handler:
    module_name, _, function_name = handler.rpartition(".")
    module = importlib.import_module(module_name)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return cast("Handler", function)


def call_handler(handler: Handler, event_json: str, context: LambdaContext) -> tuple[str, Any]:
    """("ok", JSON text) or ("error", error payload), as the Lambda runtime reports them."""
    try:
        result = handler(json.loads(event_json), context)
    except Exception as exc:
        # Lambda logs the error and the traceback of every failed invocation. An
        # authorizer's "Unauthorized" is its ordinary way to say no: one line is enough.
        print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
        if str(exc) != "Unauthorized":
            traceback.print_exc()
        return "error", error_payload(exc)
    try:
        return "ok", json.dumps(result)
    except (TypeError, ValueError) as exc:
        return "error", error_payload(exc, "Runtime.MarshalError")


def _prepare(spec: WorkerSpec) -> None:
    # The terminal's Ctrl-C reaches the whole process group; the parent stops workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec.log_path is not None:
        # O_APPEND: the function's workers share the file, each line written whole.
        descriptor = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(descriptor, sys.stdout.fileno())
        os.dup2(descriptor, sys.stderr.fileno())
        os.close(descriptor)
    else:
        # Handler logs go to stderr so devstack's stdout carries only its ready line.
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.clear()
    os.environ.update(spec.environment)
    time.tzset()
    os.chdir(spec.code_uri)
    sys.path.insert(0, spec.code_uri)


def _init_error_type(exc: Exception) -> str | None:
    if isinstance(exc, ImportError):
        return "Runtime.ImportModuleError"
    if isinstance(exc, AttributeError):
        return "Runtime.HandlerNotFound"
    return None


def main(connection: Connection, spec: WorkerSpec) -> None:
    _prepare(spec)
    try:
        handler = load_handler(spec.handler)
    except Exception as exc:
        traceback.print_exc()
        connection.send(("init", error_payload(exc, _init_error_type(exc))))
        return
    connection.send(("init", None))
    while True:
        try:
            request_id, event_json = connection.recv()
        except (EOFError, OSError):
            return
        context = LambdaContext(spec.function_arn, spec.timeout_seconds, request_id)
        connection.send(call_handler(handler, event_json, context))
