"""A branch without commits (``git checkout --orphan``) is a user error, not a crash:
``vcs.resolve("HEAD")`` is None there and was used as a commit."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run, git

SPEC = "003-reading-goals"


def test_check_conflicts_on_an_unborn_branch(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("init-feature", SPEC).code == 0
    git(repo, "checkout", "-q", "--orphan", f"feature/{SPEC}/impl-new")
    for args in ((), ("--branch", f"feature/{SPEC}/impl-new")):
        result = cli("check-conflicts", *args)
        assert result.code == 2, result
        assert result.err.startswith(f"error: feature/{SPEC}/impl-new has no commits yet")
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
