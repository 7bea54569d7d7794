"""Child processes that can be stopped for sure: own process group, dies with its parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. If `make run` itself is killed with
    # SIGKILL no finally block runs; the kernel then still sends the backend SIGTERM.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start(
    argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a backend in its own session, so stopping its group reaches its children too."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - argv is built by devstack, never from input
            list(argv),
            # Backends may drop files in their working directory; keep them out of the repo.
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # started from the main thread only: preexec_fn is not thread-safe
        )


def stop(process: subprocess.Popen[bytes], grace_seconds: float = 5.0) -> None:
    """SIGTERM the process group we created, SIGKILL it if it lingers, and reap it."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
    # Children the backend left in its group die with the group, even after it exited.
    _signal_group(process.pid, signal.SIGKILL)


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the group of a backend we started (SIGSTOP / SIGCONT freeze and resume it)."""
    _signal_group(process.pid, signum)


def _signal_group(pgid: int, signum: int) -> None:
    # The group id is the pid we started (start_new_session), never a group we did not make.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
