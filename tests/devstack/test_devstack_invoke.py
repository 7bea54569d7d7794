"""`python -m devstack.invoke`: one invocation, printed like `sam local invoke` prints it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.template import REPO_ROOT

FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "template.yaml"


def invoke(function, event, tmp_path, **env):
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    completed = subprocess.run(  # noqa: S603 - a fixed argv
        [
            sys.executable,
            "-m",
            "devstack.invoke",
            function,
            str(event_file),
            "--template",
            str(FIXTURE_TEMPLATE),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed


def test_prints_the_result(tmp_path):
    completed = invoke(
        "EchoFunction", {"rawPath": "/x", "queryStringParameters": {"mode": "plain"}}, tmp_path, GREETING="x"
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {"hello": "world"}


def test_prints_an_error_like_sam_and_exits_zero(tmp_path):
    completed = invoke("AuthorizerFunction", {"headers": {}}, tmp_path)
    assert completed.returncode == 0, completed.stderr
    error = json.loads(completed.stdout)
    assert (error["errorMessage"], error["errorType"]) == ("Unauthorized", "Exception")
    assert "authorizer.py" in "".join(error["stackTrace"])


def test_an_unknown_function_is_an_error(tmp_path):
    completed = invoke("NoSuchFunction", {}, tmp_path)
    assert completed.returncode == 2
    assert "EchoFunction" in completed.stderr


def test_make_invoke_answers_a_sample_event_as_named():
    """events/ with the real template: the seed is loaded, so a valid token is allowed."""
    make = shutil.which("make")
    assert make, "make is on PATH"
    completed = subprocess.run(  # noqa: S603 - a fixed argv
        [make, "-s", "invoke", "FN=AuthorizerFunction", "EVENT=events/authorizer-valid-access-token.json"],
        cwd=REPO_ROOT,
        env={**os.environ, "PY": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    assert answer["isAuthorized"] is True and answer["context"]["username"] == "demo"
