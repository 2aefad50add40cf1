"""doctor's worktree check: agents need worktrees of their own, and they must exist."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .conftest import Run, git

SPEC = "004-doctor"


def _worktrees_check(cli: Run, cwd: Path | None = None) -> dict[str, Any]:
    result = cli("doctor", "--json", cwd=cwd)
    checks = {c["name"]: c for c in result.json()}
    check: dict[str, Any] = checks["worktrees"]
    assert result.code == (0 if all(c["ok"] for c in checks.values()) else 1)
    return check


def test_worktrees_for_every_agent_pass(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert _worktrees_check(cli)["ok"], "no feature yet: nothing to check"
    assert cli("init-feature", SPEC, "--worktrees").code == 0
    check = _worktrees_check(cli)
    assert check["ok"], check
    assert "4 agent(s)" in check["detail"]


def test_implementors_without_worktrees_are_reported(cli: Run, repo: Path) -> None:
    """Sharing the main checkout: the sandbox keeps its .git/ (the store) read-only."""
    assert cli("init").code == 0
    assert cli("init-feature", SPEC, "--implementors", "data,api").code == 0
    check = _worktrees_check(cli)
    assert not check["ok"]
    for area in ("data", "api"):
        assert f"feature/{SPEC}/impl-{area} is not checked out in a worktree" in check["detail"]
    assert f"init-feature {SPEC} --worktrees" in check["detail"]
    assert "overseer" not in check["detail"]  # the overseer is not sandboxed
    # an implementor working in the main checkout itself
    git(repo, "checkout", "-q", f"feature/{SPEC}/impl-data")
    check = _worktrees_check(cli)
    assert f"impl-data is checked out in the main checkout {repo}" in check["detail"]
    assert "read-only" in check["detail"]


def test_a_worktree_deleted_by_hand_is_reported(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    result = cli("init-feature", SPEC, "--worktrees", "--json")
    trees = {b.rsplit("/", 1)[1]: Path(p) for b, (p, _) in result.json()["worktrees"].items()}
    for name in ("impl-api", "overseer"):
        shutil.rmtree(trees[name])
    check = _worktrees_check(cli)
    assert not check["ok"]
    for name in ("impl-api", "overseer"):
        assert f"feature/{SPEC}/{name}: its worktree {trees[name]} was deleted" in check["detail"]
    assert "impl-data" not in check["detail"]
    # from one of the surviving worktrees, the answer is the same
    assert _worktrees_check(cli, cwd=trees["impl-data"])["detail"] == check["detail"]


def test_finished_features_are_not_checked(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("init-feature", SPEC).code == 0
    assert not _worktrees_check(cli)["ok"]
    assert cli("events", "set-feature-status", SPEC, "completed").code == 0
    assert _worktrees_check(cli)["ok"]
