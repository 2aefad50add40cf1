"""The VCS contract suite run against the built-in git plugin."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.plugins.git_vcs import GitVCS
from claude_orchestrator.testing_vcs import VCSContract

from .conftest import git, make_repo


class GitHistory:
    def __init__(self, root: Path) -> None:
        self.root = root

    def commit(self, branch: str, path: str, text: str, message: str) -> str:
        self.checkout(branch)
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        git(self.root, "add", path)
        git(self.root, "commit", "-q", "-m", message)
        return git(self.root, "rev-parse", "HEAD").strip()

    def checkout(self, branch: str) -> None:
        exists = git(self.root, "branch", "--list", branch).strip()
        git(self.root, "checkout", "-q", *(() if exists else ("-b",)), branch)


class TestGitVCS(VCSContract):
    @pytest.fixture
    def vcs(self, tmp_path: Path) -> GitVCS:
        root = make_repo(tmp_path / "repo")
        return GitVCS(root, root / ".git")

    @pytest.fixture
    def history(self, vcs: GitVCS) -> GitHistory:
        return GitHistory(vcs.root)
