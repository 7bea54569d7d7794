"""LocalStack.pause_dynamodb / resume_dynamodb / dynamodb_paused / dynamodb_paused_at, on a
stand-in process.

The stand-in leads its own process group, as devstack's backends do, and the stack's
description names it as the DynamoDB backend; the e2e suite pauses the real DynamoDB Local.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.dynamodb_tap import DynamoDBTap
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


def described(pid: int, backend_name: str = "dynamodb-local", tap_control: str | None = None) -> LocalStack:
    stack = LocalStack()
    stack._description = {
        "dynamodb_pid": pid,
        "dynamodb_backend": backend_name,
        "backend_pids": [pid],
        "dynamodb_tap_control": tap_control,
    }
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


def test_paused_at_arms_the_tap_and_disarms_and_resumes_after_the_block(
    backend: subprocess.Popen[bytes],
) -> None:
    # The tap would freeze the stand-in, as devstack freezes DynamoDB Local.
    tap = DynamoDBTap(("127.0.0.1", 9), on_pause=lambda: None).start()
    try:
        stack = described(backend.pid, tap_control=tap.control_endpoint)
        with stack.dynamodb_paused_at("UpdateItem", "RefreshTokensTable") as write:
            assert tap.state() == {
                "target": "DynamoDB_20120810.UpdateItem",
                "table": "RefreshTokensTable",
                "pause": True,
                "fired": False,
            }
            assert not write.fired
            backend.send_signal(signal.SIGSTOP)  # what the tap does when the call comes
        assert tap.state() is None
        assert state_of(backend.pid) != "T"
    finally:
        tap.stop()


def test_paused_at_needs_a_tap_and_dynamodb_local(backend: subprocess.Popen[bytes]) -> None:
    with (
        pytest.raises(StackError, match="dynamodb_tap=True"),
        described(backend.pid).dynamodb_paused_at("UpdateItem", "T"),
    ):
        pass
    with (
        pytest.raises(StackError, match="only DynamoDB Local"),
        described(backend.pid, backend_name="moto", tap_control="http://127.0.0.1:9").dynamodb_paused_at(
            "UpdateItem", "T"
        ),
    ):
        pass
