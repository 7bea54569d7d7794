"""Every mypy ignore comment names the error it ignores and says, after it, why mypy is wrong there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The ignore, its error codes, then a comment of at least a few words' worth.
_IGNORE = re.compile(r"#\s*type:\s*ignore")
_WITH_REASON = re.compile(r"#\s*type:\s*ignore\[[\w\-, ]+\]\s+#\s*\S.{8,}")


SOURCES = ("src", "devstack", "bench", "tools", "tests")


def _our_python() -> list[Path]:
    """The project's Python files: not the virtualenvs `make bench` leaves under bench/."""
    return [
        path
        for folder in SOURCES
        for path in (ROOT / folder).rglob("*.py")
        if not any(part.startswith(".venv") for part in path.relative_to(ROOT).parts)
    ]


def test_every_type_ignore_carries_its_reason() -> None:
    files = _our_python()
    assert len(files) > 100, "too few files found for this check to mean anything"
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _IGNORE.search(line) and not _WITH_REASON.search(line)
    ]
    assert bare == [], f"say why after each of these ignores: {bare}"
