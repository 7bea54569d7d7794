"""Every relative link in the project's Markdown resolves inside the repository (issue 10:
a fresh clone had a README linking to a SPEC.md outside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devstack.template import REPO_ROOT

DOCUMENTS = ["README.md", "SECURITY.md", "devstack/README.md", "bench/README.md", "docs/*.md"]
# [text](target) with a target that is not a URL or an in-page anchor.
LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)\s]+)\)")


def documents() -> list[Path]:
    found = [path for pattern in DOCUMENTS for path in sorted(REPO_ROOT.glob(pattern))]
    assert found, "no Markdown found"
    return found


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_relative_links_stay_in_the_repository_and_exist(document: Path):
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        resolved = (document.parent / target.split("#", 1)[0]).resolve()
        inside = resolved.is_relative_to(REPO_ROOT.resolve())
        assert inside, f"{document.name}: {target} leaves the repository"
        assert resolved.exists(), f"{document.name}: {target} does not exist"


def test_the_contract_is_in_the_repository():
    spec = (REPO_ROOT / "docs" / "SPEC.md").read_text(encoding="utf-8")
    assert "# memos-auth: the contract" in spec
    assert "](docs/SPEC.md)" in (REPO_ROOT / "README.md").read_text(encoding="utf-8")
