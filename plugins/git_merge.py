"""Real merges for the ``git`` VCS plugin (``merge-pr`` with the local forge), and the
repair of one that was killed half-way."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from claude_orchestrator.errors import OrchestratorError, ValidationError
from claude_orchestrator.fsutil import atomic_write_text, owner_alive, owner_tag

from .git_run import GitBase

#: in the overseer worktree's git directory while merge-pr runs ``git merge``: what it
#: merges, and who (a killed merge-pr leaves it; the next one repairs from it)
MERGE_MARKER = "claude-orchestrator-merge-pr.json"
#: the files ``git merge`` leaves in the git directory while a merge is under way
MERGE_STATE = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "AUTO_MERGE")


def _merge_head(git_dir: Path) -> str | None:
    """The commit MERGE_HEAD names; None without one, "" when it is empty (git creates
    the file, then writes it: a git killed in between leaves it empty, and refuses to
    merge while it exists)."""
    try:
        return (git_dir / "MERGE_HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _in_progress(merging: str) -> str:
    """The refusal for a merge merge-pr did not start."""
    if not merging:
        return (
            "an unfinished merge (an empty MERGE_HEAD: a git killed as it began the merge) "
            "is in the overseer's worktree, not one merge-pr started: abort it (`git merge "
            "--abort`), then run merge-pr again"
        )
    return (
        f"a merge of {merging[:12]} is in progress in the overseer's worktree, not one "
        "merge-pr started: conclude it (`git commit`) or abort it (`git merge --abort`), "
        "then run merge-pr again"
    )


class GitMerge(GitBase):
    """``git merge`` in the checked-out worktree, repairable when killed."""

    def merge_commit(self, base: str, head: str, message: str, *, pr: int | None = None) -> None:
        """Merge ``head`` into the checked-out branch (at ``base``) with ``--no-ff``.

        :param pr: the pull request merged, recorded in the marker.

        A marker in the git directory says what is being merged while git runs, so that
        :meth:`recover_interrupted_merge` can undo a merge whose process was killed.
        """
        git_dir = self.git_dir()
        merging = _merge_head(git_dir)
        if merging is not None:
            raise ValidationError(_in_progress(merging))
        marker = git_dir / MERGE_MARKER
        started = {"pr": pr, "base": base, "head": head, "owner": owner_tag()}
        # written before `git status` too: it takes the index lock to write the refreshed
        # index, and a lock a killed merge-pr left must be known as its own
        atomic_write_text(marker, json.dumps({**started, "step": "status"}))
        try:
            if self.run("status", "--porcelain", "--untracked-files=no").stdout.strip():
                raise ValidationError(
                    "the overseer's worktree has uncommitted changes: commit or stash them "
                    "before merging"
                )
            atomic_write_text(marker, json.dumps(started))
            try:
                self.run("merge", "--no-ff", "--no-edit", "-m", message, head, die_with_us=True)
            except OrchestratorError:
                if _merge_head(git_dir) == head:  # it stopped half-way (a hook, a conflict)
                    self.run("merge", "--abort", check=False)
                raise
        finally:
            marker.unlink(missing_ok=True)

    def recover_interrupted_merge(self) -> bool:
        """Undo what a killed merge-pr's ``git merge`` left; True if there was something.

        The marker says what was merged (base and head commits), and whether merge-pr was
        still asking ``git status`` if the worktree was clean: then only the index lock git
        status held is removed. If the branch moved past the base, git had finished: the
        index and work tree are written before the commit, so only git's merge state files
        are left. Otherwise the merge is rolled back to the
        base, so that it can be done again, but only when every difference in the work tree
        is the merge's: each changed file is the base's version, the merge's, or the start
        of the merge's (the file git was writing), and nothing else changed. A MERGE_HEAD
        that is empty (git was killed between creating and writing it) is ours too. A merge
        the user started (another MERGE_HEAD) is never touched.
        """
        git_dir = self.git_dir()
        marker = git_dir / MERGE_MARKER
        try:
            started = json.loads(marker.read_text(encoding="utf-8"))
            base, head, owner = str(started["base"]), str(started["head"]), str(started["owner"])
            merged = started.get("step") != "status"  # else killed before `git merge` began
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            marker.unlink(missing_ok=True)  # unreadable: written by nobody we can trust
            return False
        if owner_alive(owner):
            raise ValidationError(
                "another merge-pr is merging in this worktree right now: wait for it to finish"
            )
        merging = _merge_head(git_dir)
        if merging is not None and not head.startswith(merging):
            marker.unlink(missing_ok=True)  # the user's merge, started after ours was undone
            return False
        since = marker.stat().st_mtime - 1
        for lock in self._merge_locks(git_dir):
            # the killed git's (it died with merge-pr): the index's, also when it was
            # killed after writing the commit but before it let go of the index, and the
            # refs' it was updating (the branch's while the reference-transaction hook
            # ran, HEAD's, ORIG_HEAD's)
            with contextlib.suppress(OSError):
                if lock.stat().st_mtime >= since:
                    lock.unlink()
        if not merged:
            marker.unlink()
            return True
        if self._head() == base:
            self._roll_back(base, head)
        if merging is not None:  # ours: remove git's merge state, as `git merge --quit` does
            for name in MERGE_STATE:
                (git_dir / name).unlink(missing_ok=True)
        marker.unlink()
        return True

    def _merge_locks(self, git_dir: Path) -> list[Path]:
        """The lock files a ``git merge`` in this worktree takes."""
        locks = [git_dir / name for name in ("index.lock", "HEAD.lock", "ORIG_HEAD.lock",
                                             "AUTO_MERGE.lock", "MERGE_HEAD.lock")]  # fmt: skip
        try:
            head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        except OSError:
            return locks
        if head.startswith("ref: refs/heads/"):
            common = self.common_dir or git_dir
            locks.append(common / f"{head[len('ref: ') :]}.lock")
        return locks

    def _head(self) -> str | None:
        proc = self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return proc.stdout.strip() or None

    def _roll_back(self, base: str, head: str) -> None:
        """Put the index and work tree back at ``base`` after an interrupted merge of
        ``head``, refusing if anything in them is not that merge's."""
        merged = self.run("merge-tree", "--write-tree", base, head, check=False).stdout
        tree = merged.split("\n", 1)[0].strip()
        changed = set(filter(None, self.run("diff", "--name-only", "-z", "--no-renames", base,
                                            tree, "--").stdout.split("\0")))  # fmt: skip
        status = self.run("status", "--porcelain", "-z", "--no-renames",
                          "--untracked-files=all").stdout  # fmt: skip
        added: list[str] = []
        for record in filter(None, status.split("\0")):
            code, name = record[:2], record[3:]
            if code == "??" and name not in changed:
                continue  # the user's untracked file: not the merge's, left alone
            if name not in changed or not self._merge_made(name, base, tree):
                raise ValidationError(
                    f"the overseer's worktree holds an interrupted merge-pr, and {name} is not "
                    "what that merge wrote: restore the worktree by hand (`git status`; "
                    "`git merge --abort` or `git checkout -- <file>`), then run merge-pr again"
                )
            if code == "??":
                added.append(name)
        self.run("read-tree", "--reset", "-u", base)
        for name in added:
            (self.root / name).unlink(missing_ok=True)

    def _merge_made(self, name: str, base: str, tree: str) -> bool:
        """Whether the work tree's ``name`` is the base's version, the merge's, or the start
        of the merge's (git was writing it), or is missing."""
        path = self.root / name
        if not path.is_file() or path.is_symlink():
            return not path.exists() and not path.is_symlink()
        blobs = {}
        for rev in (base, tree):
            listing = self.run("ls-tree", "-z", rev, "--", name).stdout.rstrip("\0")
            if listing:
                blobs[rev] = listing.split()[2]
        found = self.run("hash-object", "--", name).stdout.strip()
        if found in blobs.values():
            return True
        if tree not in blobs:
            return False
        import subprocess

        merged = subprocess.run(["git", "cat-file", "blob", blobs[tree]], cwd=self.root,
                                capture_output=True, check=False).stdout  # fmt: skip
        return merged.startswith(path.read_bytes())


__all__ = ["MERGE_MARKER", "GitMerge"]
