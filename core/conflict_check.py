"""``check-conflicts``: one branch merged in memory with its overseer and each sibling,
and the commits on each side that touched each conflicting file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from .conflict_branches import check_history, feature_branches, listing, scan_role
from .errors import ValidationError
from .protocols_vcs import VCS
from .workflow import BranchRole, _current_feature_branch

if TYPE_CHECKING:
    from .api import Orchestrator


class FileTouch(NamedTuple):
    path: str
    #: (commit, subject) on each side since the merge base, newest first
    ours: list[tuple[str, str]]
    theirs: list[tuple[str, str]]


class PairResult(NamedTuple):
    branch: str
    other_branch: str
    other_role: str | None
    conflicted: bool
    files: list[str]
    touches: list[FileTouch]
    #: why git could not merge the pair at all (unrelated histories); None when it did
    error: str | None = None


def _branch_to_check(orch: Orchestrator, branch: str | None) -> tuple[str, BranchRole]:
    try:
        return _current_feature_branch(orch, branch)
    except ValidationError:
        name = branch or orch.vcs().current_branch()
        parsed = scan_role(orch.config.branch_prefix, name) if name else None
        if name is None or parsed is None:
            raise
        return name, parsed


def check_conflicts(orch: Orchestrator, *, branch: str | None = None) -> list[PairResult]:
    """The current branch merged in memory with its overseer branch and each sibling.

    Works without an event store, on local or remote-tracking branches (CI). Every merge
    uses the overseer branch's ``.gitattributes``: implementor work is merged into that
    branch, in its worktree. A pair git cannot merge at all comes back with ``error``.
    """
    config = orch.config
    vcs = orch.vcs()
    name, parsed = _branch_to_check(orch, branch)
    prefix = config.branch_prefix
    branches = feature_branches(listing(vcs, f"{prefix}/{parsed.spec_id}/**"), prefix,
                                parsed.spec_id).tips  # fmt: skip
    head = branches.get(name)
    if head is None and branch is not None and branch != vcs.current_branch():
        raise ValidationError(
            f"branch {branch} does not exist (locally or as a remote-tracking branch): "
            f"check the name (`git branch -a --list '{prefix}/{parsed.spec_id}/*'`), or "
            "fetch it"
        )
    head = head or vcs.resolve("HEAD")
    if head is None:
        raise ValidationError(
            f"{name} has no commits yet: commit your work on it, then run check-conflicts again"
        )
    overseer = config.overseer_branch(parsed.spec_id)
    if overseer not in branches:
        raise ValidationError(
            f"the overseer branch {overseer} does not exist (locally or as a remote-tracking "
            f"branch): fetch it, or create it with `claude-orchestrator init-feature "
            f"{parsed.spec_id}`"
        )
    others = [b for b in sorted(branches) if b != name]
    if parsed.role != "overseer":
        others = [overseer] + [b for b in others if b != overseer]
    pairs = [(head, branches[b]) for b in others]
    check_history(vcs, pairs)
    merged = vcs.merge_conflicts(pairs, attributes_from=branches[overseer])
    results = []
    for other, pair in zip(others, pairs, strict=True):
        outcome = merged[pair]
        role = scan_role(prefix, other)
        touches: list[FileTouch] = []
        if outcome.conflicted:
            touches = _attribute(vcs, pair[0], pair[1], outcome.files)
        results.append(PairResult(name, other, role.role if role else None, outcome.conflicted,
                                  list(outcome.files), touches, outcome.error))  # fmt: skip
    return results


def _attribute(vcs: VCS, ours: str, theirs: str, files: Sequence[str]) -> list[FileTouch]:
    """The commits on each side that touched each conflicting file, following renames:
    a file one side renamed (or moved with its directory) has another name on the other
    side, and the commits there touched that name."""
    base = vcs.merge_base(ours, theirs)
    if base is None:
        return [FileTouch(f, [], []) for f in files]
    mine = vcs.files_by_commit(base, ours)
    other = vcs.files_by_commit(base, theirs)
    renamed = [*vcs.renames(base, ours), *vcs.renames(base, theirs)]
    touches = []
    for path in files:
        names = _names_of(path, renamed)
        touches.append(FileTouch(
            path,
            [(c, s) for c, s, changed in mine if names.intersection(changed)],
            [(c, s) for c, s, changed in other if names.intersection(changed)],
        ))  # fmt: skip
    return touches


def _names_of(path: str, renamed: Sequence[tuple[str, str]]) -> set[str]:
    """Every name ``path`` has on either side: through the renames, and through the
    directories they moved (a file added under a directory the other side renamed is
    merged into the new directory)."""
    moved_dirs: dict[str, str] = {}
    for old, new in renamed:
        old_dir, _, old_name = old.rpartition("/")
        new_dir, _, new_name = new.rpartition("/")
        if old_dir != new_dir and old_name == new_name:
            moved_dirs[new_dir] = old_dir
    names = {path}
    while True:
        more = {o for o, n in renamed if n in names} | {n for o, n in renamed if o in names}
        for name in names:
            directory, _, leaf = name.rpartition("/")
            if directory in moved_dirs:
                more.add(f"{moved_dirs[directory]}/{leaf}".lstrip("/"))
        if more <= names:
            return names
        names |= more
