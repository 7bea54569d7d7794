"""README's curl walk-through, run as written (with bash, curl and python3) on a stack of its
own: a newcomer pastes it on a fresh machine, so it must work top to bottom (issue 10).

The blocks check themselves: every request meant to succeed is `curl -sSf` (bash -e stops
at the first that fails), and the results the README states in comments, `# HTTP 401`
after a `status` call and `# alice` after a `json_get`, are compared with what ran.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import LocalStack
from devstack.template import REPO_ROOT
from tests.support.local_stacks import local_stack

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "README.md"
SECTION = "## Calling the API (curl walk-through)"
# The URL the README tells people `make run` serves.
README_URL = "http://127.0.0.1:3000"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
STATUS_LINE = re.compile(r"^status .*#\s*(HTTP \d{3})\b", re.MULTILINE)
STATED_VALUE = re.compile(r"\|\s*json_get [^#\n]*#\s*(\S+)\s*$", re.MULTILINE)


def walkthrough(readme: str) -> str:
    """The shell blocks of the walk-through section, in order, as one script."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    blocks = SH_BLOCK.findall(readme[start : end if end != -1 else None])
    assert len(blocks) >= 2, "the walk-through has its shell blocks"
    return "\n".join(blocks)


def commands(script: str) -> str:
    """The script with continued lines joined: a command and its comment on one line."""
    return script.replace("\\\n", " ")


def stated_statuses(script: str) -> list[str]:
    return STATUS_LINE.findall(commands(script))


def stated_values(script: str) -> list[str]:
    return STATED_VALUE.findall(commands(script))


def in_order(expected: list[str], lines: list[str]) -> bool:
    """Whether `expected` appears in `lines` in this order (other output in between)."""
    remaining = iter(lines)
    return all(any(line == wanted for line in remaining) for wanted in expected)


def test_the_parsers_see_what_the_readme_states():
    script = walkthrough(README.read_text(encoding="utf-8"))
    assert README_URL in script
    statuses, values = stated_statuses(script), stated_values(script)
    assert statuses.count("HTTP 401") >= 5 and "HTTP 403" in statuses and "HTTP 404" in statuses
    assert values[:2] == ["ADMIN", "alice"] and "USER" in values and "ARCHIVED" in values
    assert in_order(["a", "c"], ["a", "b", "c"]) and not in_order(["c", "a"], ["a", "b", "c"])


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # As `make run` serves it: the template's own revocation lag, nothing overridden.
    with local_stack(defaults={}) as running:
        yield running


def test_the_readme_walkthrough_runs_as_written(stack: LocalStack, tmp_path: Path):
    bash, curl = shutil.which("bash"), shutil.which("curl")
    assert bash and curl, "the walk-through needs bash and curl"
    script = walkthrough(README.read_text(encoding="utf-8"))
    completed = subprocess.run(  # noqa: S603 - the README's own commands, against a local stack
        [bash, "-euo", "pipefail", "-c", script.replace(README_URL, stack.url)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = completed.stdout.splitlines()
    assert completed.returncode == 0, f"the walk-through stopped:\n{completed.stdout}\n{completed.stderr}"
    assert [line for line in output if re.fullmatch(r"HTTP \d{3}", line)] == stated_statuses(script)
    assert in_order(stated_values(script), output), output
