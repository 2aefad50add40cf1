"""What a :class:`~claude_orchestrator.protocols_vcs.VCS` returns: commits, merges,
branch tips, worktrees and hooks, as plain NamedTuples (no git in them)."""

from pathlib import Path
from typing import NamedTuple

#: the lock reason ``git worktree add`` leaves while it checks out (LC_ALL=C)
WORKTREE_ADD_LOCK = "initializing"


class CommitInfo(NamedTuple):
    commit: str
    subject: str
    message: str


class WorktreeEntry(NamedTuple):
    path: Path
    branch: str | None
    #: the lock's reason ("" without one); None when the worktree is not locked
    locked: str | None
    #: its directory is gone (deleted by hand)
    missing: bool
    #: the VCS would unregister it when asked to prune (gone, and not locked)
    prunable: bool = False

    @property
    def interrupted(self) -> bool:
        """Left locked by a ``git worktree add`` that did not finish (it was killed)."""
        return self.locked == WORKTREE_ADD_LOCK


class BranchTip(NamedTuple):
    commit: str
    #: the remote the tip comes from; None for a local branch
    remote: str | None
    #: (remote, commit) of the other remotes whose branch of that name is elsewhere
    others: tuple[tuple[str, str], ...]


class MergeResult(NamedTuple):
    """The outcome of merging two commits in memory.

    ``conflicted`` follows git's status, not the file list: a few directory-rename
    conflicts list no file at all.
    """

    conflicted: bool
    files: list[str]
    #: why git could not merge the pair at all (e.g. unrelated histories); None when it did
    error: str | None = None


class ConflictStage(NamedTuple):
    """One side of a conflicted file in the merge's index: 1 the merge base, 2 ours,
    3 theirs (a side that deleted the file has no stage)."""

    stage: int
    mode: str
    blob: str


class ConflictedFile(NamedTuple):
    path: str
    stages: tuple[ConflictStage, ...]
    #: git's conflict types for it: ``content``, ``modify/delete``, ``rename/delete``...
    kinds: tuple[str, ...]
    #: git's own messages about it
    messages: tuple[str, ...]
    #: the file as the merge left it, conflict markers and all; None when it is not in
    #: the merged tree, or is binary, not UTF-8 or too large to show
    merged: str | None


class MergeDetail(NamedTuple):
    """An in-memory merge read back: the conflicted files and what the merge made of them."""

    conflicted: bool
    #: the merged tree (in objects thrown away afterwards); None when git could not merge
    tree: str | None
    files: list[ConflictedFile]
    error: str | None = None


class PatchCheck(NamedTuple):
    """A patch applied to a commit in memory, and the result merged with another."""

    applies: bool
    #: why the patch does not apply, or why the result could not be merged
    error: str | None
    #: the merge of the patched commit with the other side; None when there was none
    merge: MergeResult | None


class MergeSequence(NamedTuple):
    """Commits merged one after another in memory, up to the first that conflicted."""

    #: the commits merged so far, the first one included
    merged: list[str]
    #: the tree of the last clean merge
    tree: str
    #: the commit that conflicted (or could not be merged); None when all merged
    stopped_at: str | None
    #: the files it conflicted in
    files: list[str]
    #: why git could not merge ``stopped_at`` at all
    error: str | None = None


class HookSettings(NamedTuple):
    """What the installed repository hooks need to know.

    :param command: how a hook calls this installation (``python -m claude_orchestrator``).
    :param branch_prefix: the feature branches' prefix (``feature``).
    :param main_branch: the main branch (``main``).
    """

    command: str
    branch_prefix: str
    main_branch: str


class HookState(NamedTuple):
    hook: str
    path: str
    installed: bool
    current: bool
    chained: bool


__all__ = [
    "WORKTREE_ADD_LOCK", "BranchTip", "CommitInfo", "ConflictStage", "ConflictedFile",
    "HookSettings", "HookState", "MergeDetail", "MergeResult", "MergeSequence", "PatchCheck",
    "WorktreeEntry",
]  # fmt: skip
