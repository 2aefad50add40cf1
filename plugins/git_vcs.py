"""The built-in ``git`` VCS plugin.

GitPython is the general interface (creating branches). The paths that run
on every commit or scan many branches — listing new commits, patch ids, in-memory merges
— run the git binary directly: GitPython costs ~100 ms to import, and a batch of merges
is one ``git merge-tree --stdin`` process however many pairs it has.

The plugin's parts: running git (:mod:`.git_run`), worktrees (:mod:`.git_worktrees`),
in-memory merges (:mod:`.git_merge_tree`), real merges for ``merge-pr``
(:mod:`.git_merge`), the repository hooks and ``info/exclude`` (:mod:`.git_hooks`).
"""

from __future__ import annotations

import os  # noqa: F401 - tests patch git_vcs.os.cpu_count (the merge job count)
from collections.abc import Sequence
from pathlib import Path

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.models_vcs import (
    WORKTREE_ADD_LOCK,
    BranchTip,
    CommitInfo,
    MergeResult,
    WorktreeEntry,
)
from claude_orchestrator.protocols import PluginContext, Register

from .git_hooks import GitHooks
from .git_merge import GitMerge
from .git_merge_content import GitMergeContent
from .git_merge_tree import (
    MAX_MERGE_JOBS,
    SCRATCH_ATTRIBUTES,
    SCRATCH_OBJECTS,
    merge_jobs,
)
from .git_run import (
    GIT_ENV_OVERRIDES,
    MERGE_TREE_STDIN,
    MIN_GIT,
    GitError,
    clean_env,
    parse_version,
)
from .git_worktrees import GitWorktrees


@hookimpl(trylast=True)
def register_vcs(register: Register) -> None:
    register("git", GitVCS.from_context, description="git (GitPython; merge-tree for conflicts)")


class GitVCS(GitWorktrees, GitMergeContent, GitMerge, GitHooks):
    """A :class:`~claude_orchestrator.protocols_vcs.VCS` for the repository at ``root``."""

    @classmethod
    def from_context(cls, context: PluginContext) -> GitVCS:
        return cls(context.root, context.common_dir)

    # -- repository state ------------------------------------------------------------
    def has_commits(self) -> bool:
        return self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False).returncode == 0

    def current_branch(self) -> str | None:
        proc = self.run("symbolic-ref", "-q", "--short", "HEAD", check=False)
        return proc.stdout.strip() or None

    def resolve(self, ref: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}",
                        check=False)  # fmt: skip
        return proc.stdout.strip() or None

    def branch_exists(self, name: str) -> bool:
        return self.resolve(f"refs/heads/{name}") is not None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant,
                        check=False).returncode == 0  # fmt: skip

    def is_shallow(self) -> bool:
        return self.run("rev-parse", "--is-shallow-repository").stdout.strip() == "true"

    def is_bare(self) -> bool:
        return self.run("rev-parse", "--is-bare-repository").stdout.strip() == "true"

    def operation_in_progress(self) -> str | None:
        """'rebase', 'merge', 'cherry-pick' or 'revert' while one is under way."""
        git_dir = Path(self.run("rev-parse", "--absolute-git-dir").stdout.removesuffix("\n"))
        for name, marker in (("rebase", "rebase-merge"), ("rebase", "rebase-apply"),
                             ("merge", "MERGE_HEAD"), ("cherry-pick", "CHERRY_PICK_HEAD"),
                             ("revert", "REVERT_HEAD")):  # fmt: skip
            if (git_dir / marker).exists():
                return name
        return None

    def list_branches(self, pattern: str, *, remotes: bool = False) -> dict[str, str]:
        """Branch -> commit for local branches matching a glob like ``feature/*``.

        With ``remotes``, remote-tracking branches (``origin/feature/...``) are listed
        too, under their name without the remote, when no local branch has that name
        (which remote's, when several have it: see :meth:`branch_tips`).
        """
        return {
            name: tip.commit for name, tip in self.branch_tips(pattern, remotes=remotes).items()
        }

    def branch_tips(self, pattern: str, *, remotes: bool = False) -> dict[str, BranchTip]:
        """Like :meth:`list_branches`, with where each tip comes from.

        A local branch wins, unless it is behind: when its tip is in the history of the
        chosen remote-tracking tip (someone moved the branch forward on another machine and
        this clone fetched it; the local branch was never updated), the remote-tracking
        tip is the branch's newest state and is used. A local branch that is ahead or
        has diverged wins (its commits are not pushed yet). Among remotes, the one
        ``checkout.defaultRemote`` names, then ``origin``, then one that is some local
        branch's upstream, then the first by name; the others' different tips are in
        ``others``.
        """
        refs = [f"refs/heads/{pattern}"]
        rank = self._remote_preference() if remotes else {}
        if remotes:  # a remote's name may hold '/', which '*' does not match
            refs += [f"refs/remotes/{r}/{pattern}" for r in rank if "/" in r]
            refs.append(f"refs/remotes/*/{pattern}")
        out = self.run("for-each-ref", "--format=%(objectname) %(refname)", *refs).stdout
        found: dict[str, BranchTip] = {}
        remote: dict[str, dict[str, str]] = {}  # name -> remote -> commit
        for line in out.splitlines():
            commit, ref = line.split(" ", 1)
            if ref.startswith("refs/heads/"):
                found[ref[len("refs/heads/") :]] = BranchTip(commit, None, ())
            elif ref.startswith("refs/remotes/"):
                rest = ref[len("refs/remotes/") :]
                # the longest configured remote name that fits
                names = (r for r in sorted(rank, key=len, reverse=True) if rest.startswith(f"{r}/"))
                owner = next(names, rest.split("/")[0])
                remote.setdefault(rest[len(owner) + 1 :], {})[owner] = commit
        for name, tips in remote.items():
            chosen = min(tips, key=lambda r: (rank.get(r, 3), r))
            local = found.get(name)
            if local is not None and not self._behind(local.commit, tips[chosen]):
                continue
            others = tuple((r, c) for r, c in sorted(tips.items()) if c != tips[chosen])
            found[name] = BranchTip(tips[chosen], chosen, others)
        return found

    def _behind(self, local: str, remote: str) -> bool:
        """Whether the local tip ``local`` is strictly behind ``remote`` (an ancestor)."""
        return local != remote and self.is_ancestor(local, remote)

    def _remote_preference(self) -> dict[str, int]:
        """Configured remote -> rank (lower wins): 0 ``checkout.defaultRemote``,
        1 ``origin``, 2 a local branch's upstream, 3 the rest."""
        proc = self.run("config", "-z", "--get-regexp",
                        r"^(checkout\.defaultremote|remote\..*\.(url|fetch)|branch\..*\.remote)$",
                        check=False)  # fmt: skip
        default: str | None = None
        configured: set[str] = set()
        upstreams: set[str] = set()
        for entry in filter(None, proc.stdout.split("\0")):
            key, _, value = entry.partition("\n")
            if key == "checkout.defaultremote":
                default = value
            elif key.startswith("remote."):
                configured.add(key[len("remote.") :].rsplit(".", 1)[0])
            else:
                upstreams.add(value)
        ranks = {r: 3 for r in configured}
        ranks.update({r: 2 for r in upstreams if r != "."})
        ranks["origin"] = 1
        if default:
            ranks[default] = 0
        return ranks

    def create_branch(self, name: str, start_point: str) -> bool:
        """Create ``name`` at ``start_point`` unless it exists (never moves a branch)."""
        import git  # GitPython, imported only where branches are created

        with git.Repo(self.root) as repo:  # closed: no git cat-file process outlives it
            if name in [head.name for head in repo.heads]:
                return False
            repo.create_head(name, start_point)
            return True

    def show_file(self, ref: str, path: str) -> str | None:
        proc = self.run("show", f"{ref}:{path}", check=False)
        return proc.stdout if proc.returncode == 0 else None

    # -- commits ---------------------------------------------------------------------
    def new_commits(
        self, tip: str, exclude: Sequence[str], *, first_parent: bool = False
    ) -> list[CommitInfo]:
        """Commits reachable from ``tip`` but from none of ``exclude``, oldest first,
        merges left out."""
        args = ["log", "--reverse", "--no-merges", "--format=%H%x00%s%x00%B%x1e"]
        if first_parent:
            args.append("--first-parent")
        args += [tip, *(f"^{ref}" for ref in exclude), "--"]
        out = self.run(*args).stdout
        commits = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            commit, subject, message = record.split("\x00", 2)
            commits.append(CommitInfo(commit, subject, message.strip()))
        return commits

    def patch_ids(self, commits: Sequence[str]) -> dict[str, str]:
        """commit -> ``git patch-id --stable`` (unchanged by a rebase that applies cleanly).

        A commit with an empty diff gets ``empty:<commit>``.
        """
        if not commits:
            return {}
        diff = self.run("show", "--format=commit %H", "--patch", "--no-color", *commits).stdout
        out = self.run("patch-id", "--stable", input=diff).stdout
        result = {}
        for line in out.splitlines():
            patch_id, commit = line.split()
            result[commit] = patch_id
        for commit in commits:
            result.setdefault(commit, f"empty:{commit}")
        return result

    def files_by_commit(self, base: str, tip: str) -> list[tuple[str, str, list[str]]]:
        """(commit, subject, changed files) for each commit in ``base..tip``, newest first.

        Read with ``-z``: file names come raw, as merge-tree gives them (not quoted by
        ``core.quotePath``), whatever characters they hold.
        """
        # -z: "\0<commit>\0<subject>\0" then "\n<name>\0<name>\0..." per commit; no
        # name is empty, so an empty field ends a commit's names
        out = self.run("log", "-z", "--format=%x00%H%x00%s", "--name-only", "--no-renames",
                       f"{base}..{tip}", "--").stdout  # fmt: skip
        fields = out.split("\0")
        result = []
        index = 0
        while index + 1 < len(fields):
            if fields[index] == "":
                index += 1
                continue
            commit, subject = fields[index], fields[index + 1]
            index += 2
            names = []
            while index < len(fields) and fields[index] != "":
                names.append(fields[index])
                index += 1
            if names:
                names[0] = names[0].removeprefix("\n")
            result.append((commit, subject, names))
        return result

    def commit_files(self, commit: str) -> list[str]:
        out = self.run("diff-tree", "-z", "--no-commit-id", "--name-only", "-r", "-m",
                       "--root", commit, check=False).stdout  # fmt: skip
        return sorted({path for path in out.split("\0") if path})

    def renames(self, base: str, tip: str) -> list[tuple[str, str]]:
        """(old path, new path) of each file renamed between ``base`` and ``tip``, by git's
        rename detection (the same a merge of ``tip`` uses)."""
        out = self.run("diff", "--name-status", "-z", "-M", base, tip, "--").stdout
        fields = out.split("\0")
        found = []
        index = 0
        while index < len(fields) and fields[index]:
            status = fields[index]
            if status.startswith(("R", "C")):
                if status.startswith("R"):
                    found.append((fields[index + 1], fields[index + 2]))
                index += 3
            else:
                index += 2
        return found

    def merge_base(self, a: str, b: str) -> str | None:
        proc = self.run("merge-base", a, b, check=False)
        return proc.stdout.strip() or None

    # -- files -----------------------------------------------------------------------
    def blob_id(self, ref: str, path: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "-q", f"{ref}:{path}", check=False)
        blob = proc.stdout.strip()
        return blob if proc.returncode == 0 and blob else None

    def read_blob(self, blob: str) -> str:
        return self.run("cat-file", "blob", blob).stdout

    def tracked_files(self) -> list[str]:
        """``git ls-files``, sorted: [] when git cannot list them (a bare repository)."""
        proc = self.run("ls-files", "-z", check=False)
        if proc.returncode != 0:
            return []
        return sorted(name for name in proc.stdout.split("\0") if name)

    def local_branches(self) -> list[str]:
        out = self.run("for-each-ref", "--format=%(refname)", "refs/heads/").stdout
        return [ref[len("refs/heads/") :] for ref in out.split()]


__all__ = [
    "GIT_ENV_OVERRIDES", "MAX_MERGE_JOBS", "MERGE_TREE_STDIN", "MIN_GIT", "SCRATCH_ATTRIBUTES",
    "SCRATCH_OBJECTS", "WORKTREE_ADD_LOCK", "BranchTip", "CommitInfo", "GitError", "GitVCS",
    "MergeResult", "WorktreeEntry", "clean_env", "merge_jobs", "parse_version",
]  # fmt: skip
