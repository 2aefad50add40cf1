"""The built-in ``github`` forge: pull requests on GitHub through the ``gh`` CLI (which
must be installed and authenticated)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.models import PullRequest
from claude_orchestrator.protocols import PluginContext, Register
from claude_orchestrator.protocols_vcs import ForgeError, Opened

if TYPE_CHECKING:
    import subprocess


@hookimpl(trylast=True)
def register_forges(register: Register) -> None:
    register("github", GitHubForge.from_context, description="PRs on GitHub (the gh CLI)")


class GitHubForge:
    """PRs on GitHub through the ``gh`` CLI, run in ``cwd``."""

    name = "github"
    local = False

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd

    @classmethod
    def from_context(cls, context: PluginContext) -> GitHubForge:
        return cls(context.root)

    def _gh(self, *args: str) -> subprocess.CompletedProcess[str]:
        import shutil
        import subprocess  # here: this module is imported on every command

        gh = shutil.which("gh")
        if gh is None:
            raise ForgeError(
                "gh (the GitHub CLI) is not installed or not on PATH: install it, or set "
                "`forge.type: local` in orchestrator.yaml"
            )
        return subprocess.run([gh, *args], cwd=self.cwd, capture_output=True, text=True)

    def _ready(self) -> None:
        status = self._gh("auth", "status")
        if status.returncode != 0:
            raise ForgeError("gh is not authenticated: run `gh auth login` (or set GH_TOKEN)")

    def open(self, *, base: str, head: str, title: str, body: str, draft: bool) -> Opened:
        self._ready()
        args = ["pr", "create", "--base", base, "--head", head, "--title", title, "--body", body]
        if draft:
            args.append("--draft")
        proc = self._gh(*args)
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ForgeError(f"gh pr create failed: {detail}")
        url = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else None
        match = re.search(r"/pull/(\d+)", url or "")
        return Opened(int(match.group(1)) if match else None, url)

    def merge(self, pr: PullRequest) -> None:
        self._ready()
        if pr.pr_number is None:
            raise ForgeError(f"PR #{pr.id} has no GitHub number: it was opened locally")
        proc = self._gh("pr", "merge", str(pr.pr_number), "--merge")
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ForgeError(f"gh pr merge {pr.pr_number} failed: {detail}")


__all__ = ["GitHubForge"]
