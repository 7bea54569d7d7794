"""`pip-audit` over the project's installed (locked) dependencies, for `make test`.

Known vulnerabilities fail the run. When the vulnerability database cannot be reached (as
on machines whose only route out is a package mirror), pip-audit reports every dependency
as skipped and still says "No known vulnerabilities found"; this says plainly that nothing
was audited instead, and does not fail, since no code of ours can fix the network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

# What pip-audit prints on stderr when it cannot talk to its vulnerability service.
UNREACHABLE_MARKERS = ("ConnectionError", "Max retries exceeded", "Failed to resolve", "timed out")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def judge(report: dict[str, Any]) -> Verdict:
    """The outcome of one pip-audit JSON report."""
    dependencies = report.get("dependencies", [])
    vulnerable = [dep for dep in dependencies if dep.get("vulns")]
    if vulnerable:
        lines = [
            f"  {dep['name']} {dep.get('version', '')}: "
            + ", ".join(vuln.get("id", "?") for vuln in dep["vulns"])
            for dep in vulnerable
        ]
        return Verdict(False, "pip-audit: known vulnerabilities\n" + "\n".join(lines))
    audited = [dep for dep in dependencies if "skip_reason" not in dep]
    if not audited:
        return Verdict(
            True,
            f"pip-audit skipped: the vulnerability database could not be reached, "
            f"so none of {len(dependencies)} dependencies was audited",
        )
    skipped = len(dependencies) - len(audited)
    note = f" ({skipped} could not be looked up)" if skipped else ""
    return Verdict(True, f"pip-audit: no known vulnerability in {len(audited)} dependencies{note}")


def judge_failure(returncode: int, stderr: str) -> Verdict:
    """The outcome when pip-audit produced no report at all."""
    if any(marker in stderr for marker in UNREACHABLE_MARKERS):
        return Verdict(True, "pip-audit skipped: the vulnerability database could not be reached")
    return Verdict(False, f"pip-audit failed (exit {returncode}):\n{stderr.strip()}")


def main() -> int:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--local",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        "10",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - a fixed argv
    try:
        verdict = judge(json.loads(completed.stdout))
    except ValueError:
        verdict = judge_failure(completed.returncode, completed.stderr)
    print(verdict.message)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
