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

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from .errors import OrchestratorError, ValidationError, refuse_implementor
from .fsutil import atomic_write_text, owner_alive, owner_tag
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
        git_dir = Path(vcs.run("rev-parse", "--absolute-git-dir").stdout.strip())
        _recover_interrupted_merge(vcs, git_dir)
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
        merging = _merge_head(git_dir)
        if merging is not None:
            raise ValidationError(
                f"a merge of {merging[:12]} is in progress in the overseer's worktree, not one "
                "merge-pr started: conclude it (`git commit`) or abort it (`git merge "
                "--abort`), then run merge-pr again"
            )
        if vcs.run("status", "--porcelain", "--untracked-files=no").stdout.strip():
            raise ValidationError(
                "the overseer's worktree has uncommitted changes: commit or stash them "
                "before merging"
            )
        marker = git_dir / MERGE_MARKER
        atomic_write_text(marker, json.dumps({"pr": pr.id, "base": base, "head": head,
                                              "owner": owner_tag()}))  # fmt: skip
        try:
            vcs.run("merge", "--no-ff", "--no-edit", "-m",
                    f"Merge PR #{pr.id}: {pr.title}\n\n{pr.head_branch} -> {pr.base_branch}",
                    head, die_with_us=True)  # fmt: skip
        except OrchestratorError:
            if _merge_head(git_dir) == head:  # it stopped half-way (a hook, a conflict)
                vcs.run("merge", "--abort", check=False)
            raise
        finally:
            marker.unlink(missing_ok=True)


#: in the overseer worktree's git directory while merge-pr runs ``git merge``: what it
#: merges, and who (a killed merge-pr leaves it; the next one repairs from it)
MERGE_MARKER = "claude-orchestrator-merge-pr.json"
#: the files ``git merge`` leaves in the git directory while a merge is under way
MERGE_STATE = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "AUTO_MERGE")


def _merge_head(git_dir: Path) -> str | None:
    try:
        return (git_dir / "MERGE_HEAD").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _recover_interrupted_merge(vcs: Any, git_dir: Path) -> bool:
    """Undo what a killed merge-pr's ``git merge`` left; True if there was something.

    The marker says what was merged (base and head commits). If the branch moved past
    the base, git had finished: the index and work tree are written before the commit,
    so only git's merge state files are left. Otherwise the merge is rolled back to the
    base, so that it can be done again, but only when every difference in the work tree
    is the merge's: each changed file is the base's version, the merge's, or the start
    of the merge's (the file git was writing), and nothing else changed. A merge the
    user started (another MERGE_HEAD) is never touched.
    """
    marker = git_dir / MERGE_MARKER
    try:
        started = json.loads(marker.read_text(encoding="utf-8"))
        base, head, owner = str(started["base"]), str(started["head"]), str(started["owner"])
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):
        marker.unlink(missing_ok=True)  # unreadable: written by nobody we can trust
        return False
    if owner_alive(owner):
        raise ValidationError(
            "another merge-pr is merging in this worktree right now: wait for it to finish"
        )
    merging = _merge_head(git_dir)
    if merging is not None and merging != head:
        marker.unlink(missing_ok=True)  # the user's merge, started after ours was undone
        return False
    if vcs.resolve("HEAD") == base:
        lock = git_dir / "index.lock"
        if lock.exists() and lock.stat().st_mtime >= marker.stat().st_mtime - 1:
            lock.unlink()  # the killed git's (it died with merge-pr)
        _roll_back(vcs, base, head)
    if merging is not None:  # ours: remove git's merge state, as `git merge --quit` does
        for name in MERGE_STATE:
            (git_dir / name).unlink(missing_ok=True)
    marker.unlink()
    return True


def _roll_back(vcs: Any, base: str, head: str) -> None:
    """Put the index and work tree back at ``base`` after an interrupted merge of
    ``head``, refusing if anything in them is not that merge's."""
    merged = vcs.run("merge-tree", "--write-tree", base, head, check=False).stdout
    tree = merged.split("\n", 1)[0].strip()
    changed = set(filter(None, vcs.run("diff", "--name-only", "-z", "--no-renames", base,
                                       tree, "--").stdout.split("\0")))  # fmt: skip
    status = vcs.run("status", "--porcelain", "-z", "--no-renames",
                     "--untracked-files=all").stdout  # fmt: skip
    added: list[str] = []
    for record in filter(None, status.split("\0")):
        code, name = record[:2], record[3:]
        if code == "??" and name not in changed:
            continue  # the user's untracked file: not the merge's, left alone
        if name not in changed or not _merge_made(vcs, name, base, tree):
            raise ValidationError(
                f"the overseer's worktree holds an interrupted merge-pr, and {name} is not "
                "what that merge wrote: restore the worktree by hand (`git status`; "
                "`git merge --abort` or `git checkout -- <file>`), then run merge-pr again"
            )
        if code == "??":
            added.append(name)
    vcs.run("read-tree", "--reset", "-u", base)
    root = Path(vcs.root)
    for name in added:
        (root / name).unlink(missing_ok=True)


def _merge_made(vcs: Any, name: str, base: str, tree: str) -> bool:
    """Whether the work tree's ``name`` is the base's version, the merge's, or the start
    of the merge's (git was writing it), or is missing."""
    path = Path(vcs.root) / name
    if not path.is_file() or path.is_symlink():
        return not path.exists() and not path.is_symlink()
    blobs = {}
    for rev in (base, tree):
        listing = vcs.run("ls-tree", "-z", rev, "--", name).stdout.rstrip("\0")
        if listing:
            blobs[rev] = listing.split()[2]
    found = vcs.run("hash-object", "--", name).stdout.strip()
    if found in blobs.values():
        return True
    if tree not in blobs:
        return False
    merged = subprocess.run(["git", "cat-file", "blob", blobs[tree]], cwd=vcs.root,
                            capture_output=True, check=False).stdout  # fmt: skip
    return merged.startswith(path.read_bytes())


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
