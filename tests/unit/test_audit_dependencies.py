"""tools/audit_dependencies.py: what `make test` makes of a pip-audit report."""

from __future__ import annotations

from tools.audit_dependencies import judge, judge_failure

CLEAN = {"name": "pyjwt", "version": "2.15.1", "vulns": []}
SKIPPED = {"name": "bcrypt", "skip_reason": "Dependency not found on PyPI and could not be audited"}


def test_a_known_vulnerability_fails_and_is_named() -> None:
    vulnerable = {"name": "urllib3", "version": "1.0", "vulns": [{"id": "GHSA-xxxx"}]}
    verdict = judge({"dependencies": [CLEAN, vulnerable, SKIPPED]})
    assert not verdict.ok
    assert "urllib3 1.0: GHSA-xxxx" in verdict.message


def test_nothing_audited_is_a_skip_that_says_so() -> None:
    verdict = judge({"dependencies": [SKIPPED, SKIPPED]})
    assert verdict.ok
    assert verdict.message.startswith("pip-audit skipped") and "none of 2" in verdict.message


def test_audited_and_clean_passes_and_counts() -> None:
    verdict = judge({"dependencies": [CLEAN, SKIPPED]})
    assert verdict.ok
    assert verdict.message == "pip-audit: no known vulnerability in 1 dependencies (1 could not be looked up)"


def test_an_unreachable_database_without_a_report_is_a_skip() -> None:
    verdict = judge_failure(1, "requests.exceptions.ConnectionError: Max retries exceeded with url")
    assert verdict.ok and "could not be reached" in verdict.message


def test_any_other_crash_fails() -> None:
    verdict = judge_failure(2, "error: unrecognized arguments: --bogus")
    assert not verdict.ok and "--bogus" in verdict.message
