"""The prepared repositories tests copy (conftest's Templates): each copy is a repository
of its own, its worktrees linked to it, not to the template or to another copy."""

from __future__ import annotations

from pathlib import Path

from .conftest import Templates, git
from .test_workflow_setup import SPEC, build_feature, commit, worktrees


def test_copies_of_a_prepared_feature_are_independent(templates: Templates, tmp_path: Path) -> None:
    copies = [tmp_path / "a", tmp_path / "b"]
    for top in copies:
        top.mkdir()
        templates.copy("feature", build_feature, top)
    template = templates.built["feature"]
    overseer = f"feature/{SPEC}/overseer"
    tip = git(template / "repo", "rev-parse", overseer)
    for top in copies:
        for leaf, tree in worktrees(top / "repo").items():
            common = Path(git(tree, "rev-parse", "--path-format=absolute", "--git-common-dir"))
            assert common == top / "repo" / ".git", leaf
            assert git(tree, "status", "--porcelain") == "", leaf
        listed = git(top / "repo", "worktree", "list", "--porcelain")
        assert str(template) not in listed and "prunable" not in listed
    commit(worktrees(copies[0] / "repo")["overseer"], "src/x.py", "x\n", "only in a")
    assert git(copies[1] / "repo", "rev-parse", overseer) == tip
    assert git(template / "repo", "rev-parse", overseer) == tip
    assert str(copies[0]) not in git(template / "repo", "worktree", "list", "--porcelain")
