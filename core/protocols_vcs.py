"""The version-control and forge kinds as ``typing.Protocol`` classes.

:class:`VCS` is everything the core asks of version control: no module of the core
runs git (or any other tool) itself. :class:`Forge` is where pull requests live
(``forge.type``): ``local`` keeps them in the store and merges with the VCS, ``github``
goes through the ``gh`` CLI.

The contract tests in :mod:`claude_orchestrator.testing_vcs` check behaviour, not just
method names: run them against your implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from .errors import OrchestratorError

if TYPE_CHECKING:
    from .models import PullRequest
    from .models_vcs import (
        BranchTip,
        CommitInfo,
        HookSettings,
        HookState,
        MergeDetail,
        MergeResult,
        MergeSequence,
        PatchCheck,
        WorktreeEntry,
    )


# ------------------------------------------------------------------------------ vcs
@runtime_checkable
class VCS(Protocol):
    """Version control: branches, worktrees, commits, in-memory merges, repository hooks.

    Errors the user must fix raise :class:`~claude_orchestrator.errors.OrchestratorError`
    subclasses with a one-line message.
    """

    def version(self) -> tuple[int, int]:
        """The tool's (major, minor) version, e.g. ``(2, 43)`` for git 2.43."""

    # -- repository state
    def has_commits(self) -> bool: ...

    def is_bare(self) -> bool: ...

    def is_shallow(self) -> bool: ...

    def current_branch(self) -> str | None:
        """The checked-out branch, or None when HEAD is detached."""

    def resolve(self, ref: str) -> str | None:
        """The commit id ``ref`` names, or None."""

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether ``ancestor`` is reachable from ``descendant`` (or is it)."""

    def operation_in_progress(self) -> str | None:
        """'rebase', 'merge', 'cherry-pick' or 'revert' while one is under way."""

    def show_file(self, ref: str, path: str) -> str | None:
        """A file's content at ``ref``, or None when it does not exist there."""

    def blob_id(self, ref: str, path: str) -> str | None:
        """The id of the content of ``path`` at ``ref`` (changes when it does), or None."""

    def read_blob(self, blob: str) -> str:
        """The content a :meth:`blob_id` names."""

    def tracked_files(self) -> list[str]:
        """Every file under version control in the working tree ([] when none)."""

    # -- branches
    def branch_exists(self, name: str) -> bool: ...

    def create_branch(self, name: str, start_point: str) -> bool:
        """Create ``name`` at ``start_point`` unless it exists (never moves it)."""

    def list_branches(self, pattern: str, *, remotes: bool = False) -> dict[str, str]:
        """Branch name -> commit id for branches matching a glob like ``feature/*``."""

    def branch_tips(self, pattern: str, *, remotes: bool = False) -> dict[str, BranchTip]:
        """Like :meth:`list_branches`, with which remote each tip comes from (a local
        branch wins, unless it is behind -- an ancestor of -- the chosen remote-tracking
        tip: then that tip, another machine's newer work) and the other remotes'
        different tips."""

    def local_branches(self) -> list[str]:
        """The names of every local branch."""

    # -- worktrees
    def worktrees(self) -> dict[str, Path]:
        """Checked-out branch -> worktree path, for every worktree of the repository (the
        main working tree included).

        The guard calls this on every tool call (the other worktrees are never the
        agent's to write): keep it cheap; git's reads its administrative files.
        """

    def worktree_entries(self) -> list[WorktreeEntry]:
        """Every registered worktree, the main one first, with its lock and whether its
        directory is gone."""

    def add_worktree(self, path: Path, branch: str) -> None: ...

    def forget_missing_worktree(self, entry: WorktreeEntry) -> None:
        """Unregister a worktree whose directory was deleted (refused when locked by
        the user)."""

    def discard_worktree(self, entry: WorktreeEntry) -> None:
        """Remove a worktree an interrupted add left before its checkout began."""

    def finish_worktree(self, entry: WorktreeEntry) -> list[str]:
        """Finish the checkout an interrupted add left; returns the files restored
        (refused, nothing touched, when anything there is the user's)."""

    # -- commits
    def new_commits(
        self, tip: str, exclude: Sequence[str], *, first_parent: bool = False
    ) -> list[CommitInfo]:
        """Non-merge commits reachable from ``tip`` and from none of ``exclude``, oldest
        first."""

    def patch_ids(self, commits: Sequence[str]) -> dict[str, str]:
        """commit -> a content id that survives a rebase (``git patch-id --stable``)."""

    def files_by_commit(self, base: str, tip: str) -> list[tuple[str, str, list[str]]]:
        """(commit, subject, changed files) for each commit in ``base..tip``."""

    def commit_files(self, commit: str) -> list[str]:
        """The files ``commit`` changes, sorted (a merge: against each parent; a root
        commit: every file in it); [] for an unknown commit."""

    def renames(self, base: str, tip: str) -> list[tuple[str, str]]:
        """(old path, new path) of each file renamed between ``base`` and ``tip``."""

    def merge_base(self, a: str, b: str) -> str | None: ...

    # -- merges
    def merge_conflicts(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        jobs: int | None = None,
        attributes_from: str | None = None,
    ) -> dict[tuple[str, str], MergeResult]:
        """(a, b) -> whether merging them conflicts, and in which files (``error`` set
        when they cannot be merged at all, e.g. unrelated histories), in memory only.

        :param jobs: merge processes (default: one per core, at most 8).
        :param attributes_from: the commit whose ``.gitattributes`` every merge uses
            (default: each pair's first commit).
        """

    def merge_detail(
        self,
        ours: str,
        theirs: str,
        *,
        attributes_from: str | None = None,
        labels: Mapping[str, str] | None = None,
        max_bytes: int = ...,
    ) -> MergeDetail:
        """Merge two commits in memory and read back each conflicted file: its stages,
        git's conflict types and messages, and its merged text with conflict markers.

        :param labels: commit id -> the name the conflict markers give that side.
        :param max_bytes: a merged file larger than this is not read back.
        """

    def blob_text(self, blob: str, *, max_bytes: int = ...) -> str | None:
        """A blob's text; None when it is binary, not UTF-8, too large or unknown."""

    def blame(
        self, base: str | None, tip: str, path: str, start: int, end: int
    ) -> list[str | None]:
        """For lines ``start``..``end`` (1-based) of ``path`` at ``tip``, the commit in
        ``base..tip`` that last changed each; None where the line is older."""

    def patch_paths(self, patch: str) -> list[str]:
        """The files a patch changes; raises ``OrchestratorError`` when it is not a text
        patch that edits files in place (binary, symbolic links, renames refused)."""

    def merge_with_patch(
        self, ours: str, patch: str, theirs: str, *, attributes_from: str | None = None
    ) -> PatchCheck:
        """Apply ``patch`` to ``ours`` in memory and merge the result with ``theirs``."""

    def apply_patch(self, worktree: Path, patch: str, *, message: str | None = None) -> str | None:
        """Apply ``patch`` in ``worktree`` (refused, nothing changed, when it does not
        apply cleanly there); commit it with ``message`` when given and return the commit."""

    def merge_sequence(
        self,
        heads: Sequence[str],
        *,
        attributes_from: str | None = None,
        into: Path | None = None,
    ) -> MergeSequence:
        """Merge ``heads[1:]`` one by one into ``heads[0]`` in memory, stopping at the
        first conflict; with ``into``, write the combined files into that directory."""

    def recover_interrupted_merge(self) -> bool:
        """Undo what a killed :meth:`merge_commit` left in the working tree; True if there
        was something (refused, nothing touched, when anything there is the user's)."""

    def merge_commit(self, base: str, head: str, message: str, *, pr: int | None = None) -> None:
        """Merge commit ``head`` into the checked-out branch (at ``base``) with a merge
        commit; refused when another merge is under way or the tree has changes.

        :param pr: the pull request this merges (kept while the merge runs).
        """

    # -- the repository's own files
    def ignore_path(self, pattern: str, comment: str) -> bool:
        """Ignore ``pattern`` in every worktree without a tracked file (git's
        ``info/exclude``); True if it was added now."""

    def hooks_dir(self) -> Path:
        """Where the repository's hooks live (absolute)."""

    def hook_status(self, settings: HookSettings) -> list[HookState]:
        """Whether each of the tool's hooks is installed, up to date and chaining one."""

    def install_hooks(self, settings: HookSettings) -> list[HookState]:
        """Install (or update) the hooks, chaining any foreign hook already there."""

    def uninstall_hooks(self, settings: HookSettings) -> list[HookState]:
        """Remove exactly what :meth:`install_hooks` added and restore chained hooks."""


# ---------------------------------------------------------------------------- forge
class ForgeError(OrchestratorError):
    """The forge (gh) cannot be used or refused the request (exit 2)."""


class Opened(NamedTuple):
    """A pull request the forge opened: its number and address there (None for none)."""

    number: int | None
    url: str | None


@runtime_checkable
class Forge(Protocol):
    """Where pull requests are opened and merged (``forge.type``)."""

    name: str
    #: PRs live in the store only: known by the store's id, merged in this repository
    #: (whose base branch must exist); otherwise by the forge's ``pr_number``
    local: bool

    def open(self, *, base: str, head: str, title: str, body: str, draft: bool) -> Opened:
        """Open a PR from ``head`` to ``base``."""

    def merge(self, pr: PullRequest) -> None:
        """Merge the PR (or raise a one-line error); the store records it afterwards."""


__all__ = ["VCS", "Forge", "ForgeError", "Opened"]
