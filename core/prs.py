"""Pull requests from an implementor branch to its overseer branch, and merging them.

Two forges behind one interface, chosen by ``forge.type``:

* ``local`` needs no server: the PR lives in the store, and the overseer runs
  ``claude-orchestrator merge-pr <n>``, which performs a real ``git merge`` of the
  implementor branch into the overseer branch (refusing, with the conflicting files,
  when it would conflict);
* ``github`` goes through the ``gh`` CLI (which must be installed and authenticated).

Merging is the overseer's: it runs where the overseer branch is checked out, and an
implementor's branch cannot merge.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any, NamedTuple, Protocol

from .errors import OrchestratorError, ValidationError, refuse_implementor
from .models import PullRequest


class ForgeError(OrchestratorError):
    """The forge (gh) cannot be used or refused the request (exit 2)."""


class Opened(NamedTuple):
    number: int | None
    url: str | None


class Forge(Protocol):
    name: str

    def open(self, *, base: str, head: str, title: str, body: str, draft: bool) -> Opened: ...

    def merge(self, pr: PullRequest, orch: Any) -> None: ...


class LocalForge:
    """PRs kept in the store; merged with a real git merge in the overseer's worktree."""

    name = "local"

    def open(self, *, base: str, head: str, title: str, body: str, draft: bool) -> Opened:
        return Opened(None, None)

    def merge(self, pr: PullRequest, orch: Any) -> None:
        vcs = orch.vcs()
        head = vcs.resolve(f"refs/heads/{pr.head_branch}")
        base = vcs.resolve(f"refs/heads/{pr.base_branch}")
        if head is None or base is None:
            missing = pr.head_branch if head is None else pr.base_branch
            raise ValidationError(f"branch {missing} does not exist: cannot merge PR #{pr.id}")
        outcome = vcs.merge_conflicts([(base, head)], attributes_from=base)[(base, head)]
        if outcome.conflicted:
            files = ", ".join(outcome.files) or "(a directory-rename conflict)"
            raise ValidationError(
                f"PR #{pr.id} would conflict with {pr.base_branch} in: {files}; the "
                f"implementor rebases {pr.head_branch} onto it first (see "
                "`claude-orchestrator check-conflicts`)"
            )
        if vcs.run("status", "--porcelain", "--untracked-files=no").stdout.strip():
            raise ValidationError(
                "the overseer's worktree has uncommitted changes: commit or stash them "
                "before merging"
            )
        vcs.run("merge", "--no-ff", "--no-edit", "-m",
                f"Merge PR #{pr.id}: {pr.title}\n\n{pr.head_branch} -> {pr.base_branch}",
                pr.head_branch)  # fmt: skip


class GitHubForge:
    """PRs on GitHub through the ``gh`` CLI."""

    name = "github"

    def __init__(self, cwd: Any) -> None:
        self.cwd = cwd

    def _gh(self, *args: str) -> subprocess.CompletedProcess[str]:
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

    def merge(self, pr: PullRequest, orch: Any) -> None:
        self._ready()
        if pr.pr_number is None:
            raise ForgeError(f"PR #{pr.id} has no GitHub number: it was opened locally")
        proc = self._gh("pr", "merge", str(pr.pr_number), "--merge")
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ForgeError(f"gh pr merge {pr.pr_number} failed: {detail}")


def forge_for(orch: Any) -> Forge:
    kind = orch.config.forge["type"]
    if kind == "github":
        return GitHubForge(orch.location.root)
    return LocalForge()


def _body(orch: Any, spec_id: str, role: str) -> str:
    store = orch.store
    done = [t for t in store.task_states(spec_id) if t.role == role
            and t.status in ("completed", "merged")]  # fmt: skip
    tests = [t for t in store.list_test_results(spec_id, 50) if t.role == role]
    latest: dict[str, Any] = {}
    for t in tests:
        latest.setdefault(t.test_type, t)
    lines = ["## Tasks completed", ""]
    lines += [f"- {t.task_id} ({(t.commit_hash or '')[:7]})" for t in done] or ["- none yet"]
    lines += ["", "## Last test results", ""]
    if latest:
        for kind, t in sorted(latest.items()):
            counts = f"{t.tests_passed or 0} passed, {t.tests_failed or 0} failed"
            lines.append(f"- {kind}: **{t.status}** ({counts}) at {(t.commit_hash or '')[:7]}")
    else:
        lines.append("- none recorded (run `claude-orchestrator run-tests`)")
    lines += ["", "Opened with `claude-orchestrator open-pr`."]
    return "\n".join(lines) + "\n"


def open_pr(orch: Any, *, title: str | None = None, body: str | None = None,
            draft: bool = False, branch: str | None = None) -> PullRequest:  # fmt: skip
    """Open a PR from the current implementor branch to its overseer branch."""
    from . import validate as v
    from .workflow import _current_feature_branch

    name, parsed = _current_feature_branch(orch, branch)
    if parsed.role == "overseer":
        raise ValidationError(
            "open-pr runs on an implementor branch: the overseer branch is where PRs go"
        )
    store = orch.store
    if store.get_feature(parsed.spec_id) is None:
        raise ValidationError(
            f"Feature not found in event store: {parsed.spec_id}. Set it up with: "
            f"claude-orchestrator init-feature {parsed.spec_id}"
        )
    base = orch.config.overseer_branch(parsed.spec_id)
    if orch.vcs().resolve(f"refs/heads/{base}") is None and orch.config.forge["type"] == "local":
        raise ValidationError(f"the overseer branch {base} does not exist")
    for pr in store.list_pull_requests(parsed.spec_id):
        if pr.head_branch == name and pr.status in ("draft", "open", "approved"):
            raise ValidationError(
                f"{name} already has an open PR (#{pr.pr_number or pr.id}): update the "
                "branch, the PR follows it"
            )
    title = (
        v.check_message(title, "title")
        if title
        else (f"{parsed.spec_id}: {parsed.role.replace('implementor-', '')} -> overseer")
    )
    text = v.check_message(body, "body") if body else _body(orch, parsed.spec_id, parsed.role)
    opened = forge_for(orch).open(base=base, head=name, title=title, body=text, draft=draft)
    pr, event = store.record_pull_request(
        parsed.spec_id, parsed.role, title, base, name, pr_number=opened.number,
        status="draft" if draft else "open", url=opened.url,
    )  # fmt: skip
    orch.notify(event)
    result: PullRequest = pr
    return result


def merge_pr(orch: Any, number: int | str) -> PullRequest:
    """Merge PR ``number`` into the overseer branch; only where the overseer branch is
    checked out (implementors cannot merge)."""
    from . import validate as v
    from .workflow import _current_feature_branch

    refuse_implementor("merge-pr")
    wanted = v.check_positive_id(number, "pull request")
    name, parsed = _current_feature_branch(orch, None)
    if parsed.role != "overseer":
        raise ValidationError(
            "implementors may not merge: open a PR with `claude-orchestrator open-pr`; the "
            "overseer merges it from the overseer branch"
        )
    store = orch.store
    forge = forge_for(orch)
    prs = store.list_pull_requests(parsed.spec_id)
    if forge.name == "github":
        match = [p for p in prs if p.pr_number == wanted]
    else:
        match = [p for p in prs if p.id == wanted]
    if not match:
        raise ValidationError(
            f"no pull request #{wanted} for {parsed.spec_id}: see `claude-orchestrator prs`"
        )
    pr = match[0]
    if pr.base_branch != name:
        raise ValidationError(f"PR #{wanted} goes to {pr.base_branch}, not {name}")
    if pr.status in ("merged", "closed"):
        raise ValidationError(f"pull request #{wanted} is already {pr.status}")
    forge.merge(pr, orch)
    merged, events = store.merge_pull_request(pr.id)
    orch.notify(*events)
    result: PullRequest = merged
    return result


def list_prs(orch: Any, spec_id: str | None = None) -> list[PullRequest]:
    if spec_id is not None:
        orch.feature(spec_id)
    return list(orch.store.list_pull_requests(spec_id))


__all__ = ["Forge", "ForgeError", "GitHubForge", "LocalForge", "list_prs", "merge_pr", "open_pr"]
