"""LocalStack.pause_dynamodb / resume_dynamodb / dynamodb_paused, on a stand-in process.

The stand-in leads its own process group, as devstack's backends do, and the stack's
description names it as the DynamoDB backend; the e2e suite pauses the real DynamoDB Local.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import LocalStack, StackError

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states in /proc")


def state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


@pytest.fixture
def backend() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def described(pid: int, backend_name: str = "dynamodb-local") -> LocalStack:
    stack = LocalStack()
    stack._description = {"dynamodb_pid": pid, "dynamodb_backend": backend_name, "backend_pids": [pid]}
    return stack


def test_paused_inside_the_block_running_after_it(backend: subprocess.Popen[bytes]) -> None:
    stack = described(backend.pid)
    with stack.dynamodb_paused():
        assert state_of(backend.pid) == "T"
    assert state_of(backend.pid) != "T"


def test_resumed_when_the_block_raises(backend: subprocess.Popen[bytes]) -> None:
    stack = described(backend.pid)
    with pytest.raises(RuntimeError, match="inside"), stack.dynamodb_paused():
        raise RuntimeError("inside")
    assert state_of(backend.pid) != "T"


def test_stop_resumes_a_backend_left_paused(backend: subprocess.Popen[bytes]) -> None:
    stack = described(backend.pid)
    stack.pause_dynamodb()
    stack.stop()  # no devstack process here: only the resume, and nothing else, happens
    assert state_of(backend.pid) != "T"


def test_moto_is_not_paused_it_serves_secrets_manager_too(backend: subprocess.Popen[bytes]) -> None:
    stack = described(backend.pid, backend_name="moto")
    with pytest.raises(StackError, match="only DynamoDB Local"), stack.dynamodb_paused():
        pass
    assert state_of(backend.pid) != "T"


def test_a_stack_that_is_not_running_has_nothing_to_pause() -> None:
    with pytest.raises(StackError, match="not running"):
        LocalStack().pause_dynamodb()
