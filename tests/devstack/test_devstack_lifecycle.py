"""Starting and stopping: the ready line, Ctrl-C, failures, and nothing left behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from devstack.stack import LocalStack, StackError
from devstack.template import REPO_ROOT

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"
# The URL, then which DynamoDB and Secrets Manager answer and where their data is kept.
READY_LINE = re.compile(
    r"^memos-auth is serving on (http://127\.0\.0\.1:\d+) \((DynamoDB: .+; Secrets Manager: .+)\)\n$"
)


def marked_pids(marker: str) -> set[int]:
    """Live processes whose environment carries `marker`: whatever a stack started inherits it."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"DEVSTACK_TEST_MARKER={marker}".encode() in environ.split(b"\0") and state != "Z":
            found.add(int(entry.name))
    return found


def wait_until_gone(marker: str, timeout: float = 10) -> set[int]:
    deadline = time.monotonic() + timeout
    while (left := marked_pids(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")


def test_stopping_a_stack_leaves_no_process_behind():
    marker = str(uuid.uuid4())
    stack = LocalStack(env_overrides={"DEVSTACK_TEST_MARKER": marker}, template=FIXTURE_TEMPLATE)
    with stack:
        # A protected route: both functions have a worker running now.
        assert requests.get(stack.url + "/items/1", headers={"Authorization": "Bearer good"}, timeout=30).ok
        running = marked_pids(marker)
        assert set(stack.pids) <= running
        # devstack, its backends, and a worker per function at least.
        assert len(running) >= len(stack.pids) + 2
    assert stack.process.returncode == 0
    assert wait_until_gone(marker) == set()


def test_ctrl_c_stops_everything_and_exits_zero():
    marker = str(uuid.uuid4())
    env = {**os.environ, "DEVSTACK_TEST_MARKER": marker, "DEVSTACK_DYNAMODB": "moto", "GREETING": "hi"}
    process = subprocess.Popen(  # noqa: S603 - a fixed argv
        [sys.executable, "-m", "devstack", "--template", str(FIXTURE_TEMPLATE), "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        ready = READY_LINE.match(line)
        assert ready, line + process.stderr.read()
        assert ready.group(2) == "DynamoDB: moto, in memory; Secrets Manager: moto, in memory"
        got = requests.get(ready.group(1) + "/public", timeout=30).json()
        assert got["env"]["GREETING"] == "hi"
        assert len(marked_pids(marker)) >= 3
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        stdout, stderr = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
    # One ready line and nothing else on stdout; the moto fallback is announced on stderr.
    assert stdout == ""
    assert "moto's server is used for DynamoDB" in stderr
    # Readable by default: a line per request, nothing the handler printed.
    assert re.search(r"^GET /public 200 \d+ ms EchoFunction$", stderr, re.MULTILINE), stderr
    assert wait_until_gone(marker) == set()


def test_a_failed_start_leaves_no_process_behind(tmp_path):
    # Backends are up by the time the table is created, and then creating it fails.
    broken = FIXTURE_TEMPLATE.read_text().replace("AttributeName: owner\n          AttributeType: N", "")
    template = tmp_path / "template.yaml"
    template.write_text(broken)
    marker = str(uuid.uuid4())
    stack = LocalStack(env_overrides={"DEVSTACK_TEST_MARKER": marker}, template=template)
    with pytest.raises(StackError, match="exited with 1"):
        stack.start()
    assert wait_until_gone(marker) == set()
    # Kept for debugging by LocalStack since the start failed; expected here.
    shutil.rmtree(stack.log_path.parent)


def test_a_busy_port_fails_fast(tmp_path):
    with LocalStack(template=FIXTURE_TEMPLATE, env_overrides={"DEVSTACK_DYNAMODB": "moto"}) as first:
        port = int(first.url.rsplit(":", 1)[1])
        started = time.monotonic()
        second = LocalStack(template=FIXTURE_TEMPLATE, port=port)
        with pytest.raises(StackError, match="cannot start"):
            second.start()
        assert time.monotonic() - started < 10
        shutil.rmtree(second.log_path.parent)
