"""``init-feature``: a feature's branches, worktrees, store records and state files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import validate as v
from .errors import ValidationError, refuse_implementor
from .models_vcs import WorktreeEntry
from .protocols_vcs import VCS
from .workflow import require_git

if TYPE_CHECKING:
    from .api import Orchestrator
    from .worktree_setup import SetupResult

EXCLUDE_LINE = "/state/"
EXCLUDE_COMMENT = "claude-orchestrator state files (views of the store)"


class InitFeatureResult(NamedTuple):
    spec_id: str
    #: branch -> "created" | "exists"
    branches: dict[str, str]
    #: branch -> worktree path, and whether it was created now
    worktrees: dict[str, tuple[str, bool]]
    feature_created: bool
    agents_added: list[str]
    state_files: list[str]
    #: branches whose worktree an interrupted init-feature had left half checked out
    repaired: list[str] = []  # noqa: RUF012 - a NamedTuple default, never mutated
    #: branch -> what ``worktrees.setup`` did in its worktree (with ``--worktrees``)
    setup: dict[str, SetupResult] = {}  # noqa: RUF012 - a NamedTuple default, never mutated


def _worktree_root(orch: Orchestrator) -> Path:
    root: Path = orch.location.root
    text = orch.config.worktrees_dir.replace("{repo}", root.name)
    path = Path(text)
    return (path if path.is_absolute() else root / path).resolve()


def init_feature(
    orch: Orchestrator,
    spec_id: str,
    *,
    areas: Sequence[str] | None = None,
    base: str | None = None,
    worktrees: bool = False,
    name: str | None = None,
) -> InitFeatureResult:
    """Create the feature's branches (and worktrees), ignore ``state/``, register it.

    Safe to re-run: what exists is reported and kept; only what is missing is created.
    Everything is checked before anything is created. What a killed run left is
    repaired: a worktree whose checkout was interrupted is finished (only when every
    file in it is what git was writing: see ``GitVCS.finish_worktree``), and a worktree
    deleted by hand is unregistered and created again.
    """
    refuse_implementor("init-feature")
    already_written = len(orch.written)
    spec_id = v.check_spec_id(spec_id)
    area_list = v.check_areas(areas) if areas is not None else orch.config.areas
    title = v.check_message(name, "feature name") if name else spec_id
    config = orch.config
    vcs = require_git(orch)
    if vcs.is_bare():
        raise ValidationError(
            "this is a bare repository: run init-feature in a working tree "
            "(clone it, or `git worktree add` one)"
        )
    if not vcs.has_commits():
        raise ValidationError(
            "the repository has no commits yet: make a first commit "
            "(e.g. `git commit --allow-empty -m init`), then run init-feature"
        )
    base_name = base or config.main_branch
    base_commit = vcs.resolve(base_name)
    if base_commit is None:
        raise ValidationError(
            f"base {base_name!r} does not exist: name an existing branch or commit with --base"
        )
    overseer = config.overseer_branch(spec_id)
    wanted = [overseer] + [config.implementor_branch(spec_id, a) for a in area_list]
    for branch in wanted:
        v.check_branch(branch)
    plan: dict[str, Path] = {}
    existing_trees: dict[str, Path] = vcs.worktrees()
    entries = vcs.worktree_entries()
    registered = {e.branch: e for e in entries if e.branch is not None and e.branch in wanted}
    # an add killed before it set the worktree's branch: only its `.git` file is there
    unborn = {e.path: e for e in entries if e.branch is None and e.interrupted
              and not e.missing and [p.name for p in e.path.iterdir()] == [".git"]}  # fmt: skip
    if worktrees:
        root = _worktree_root(orch)
        for branch in wanted:
            entry = registered.get(branch)
            missing = entry is not None and entry.missing
            if entry is not None and missing and entry.locked is not None and not entry.interrupted:
                reason = f" ({entry.locked})" if entry.locked else ""
                raise ValidationError(
                    f"the worktree of {branch} at {entry.path} is missing but locked"
                    f"{reason}: if it is gone for good, run `git worktree unlock "
                    f"{entry.path}`, then run init-feature again"
                )
            if branch in existing_trees and not missing:
                continue
            path = root / spec_id / branch.rsplit("/", 1)[1]
            if path.resolve() in unborn:
                vcs.discard_worktree(unborn[path.resolve()])
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise ValidationError(
                    f"cannot create a worktree for {branch} at {path}: it exists and is not "
                    "that branch's worktree; move it away or set worktrees.dir"
                )
            plan[branch] = path
    # -- everything checked: create ------------------------------------------------
    repaired = _finish_worktrees(vcs, registered, plan) if worktrees else []
    if not orch.store_plugin().exists():
        orch.init_store()
    status: dict[str, str] = {}
    # a branch another machine pushed (this clone has only origin's) starts where it is
    # there, as `git checkout BRANCH` would: never a second, diverging copy of it
    group = overseer.rsplit("/", 1)[0]
    tips = vcs.branch_tips(f"{group}/*", remotes=True)
    pushed = {branch: tip.commit for branch, tip in tips.items() if tip.remote}
    start = pushed.get(overseer, base_commit)
    status[overseer] = "created" if vcs.create_branch(overseer, start) else "exists"
    overseer_tip = vcs.resolve(f"refs/heads/{overseer}")
    if overseer_tip is None:  # deleted by another process since create_branch
        raise ValidationError(
            f"branch {overseer} was deleted while init-feature ran: run init-feature again"
        )
    for branch in wanted[1:]:
        made = vcs.create_branch(branch, pushed.get(branch, overseer_tip))
        status[branch] = "created" if made else "exists"
    trees: dict[str, tuple[str, bool]] = {
        b: (str(p), False) for b, p in existing_trees.items() if b in wanted and b not in plan
    }
    for branch, path in plan.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        vcs.add_worktree(path, branch)
        trees[branch] = (str(path), True)
    ignore_state_dir(orch)
    feature_created = False
    agents_added: list[str] = []
    store = orch.store
    if store.get_feature(spec_id) is None:
        orch.add_feature(spec_id, title, areas=area_list)
        feature_created = True
    else:
        have = {a.role for a in store.list_agents(spec_id)}
        for area in area_list:
            role = v.role_for_area(area)
            if role not in have:
                orch.add_agent(spec_id, role)
                agents_added.append(role)
    orch.notify(changed=[spec_id])  # the worktrees made now get their state files
    setup = _setup_worktrees(orch, spec_id, trees) if worktrees else {}
    written = list(dict.fromkeys(str(p) for p in orch.written[already_written:]))
    return InitFeatureResult(
        spec_id, status, trees, feature_created, agents_added, written,
        repaired, setup,
    )  # fmt: skip


def _setup_worktrees(
    orch: Orchestrator, spec_id: str, trees: dict[str, tuple[str, bool]]
) -> dict[str, SetupResult]:
    """``worktrees.setup`` in each of the feature's worktrees (a failed command raises
    SetupError with its output; everything init-feature made stays for a re-run)."""
    from .workflow import parse_branch
    from .worktree_setup import prepare, record_created

    agents: dict[str, tuple[str, Path]] = {}
    for branch, (path, created) in trees.items():
        parsed = parse_branch(orch.config.branch_prefix, branch)
        if parsed is not None and parsed.spec_id == spec_id:
            agents[branch] = (parsed.role, Path(path))
            if created:  # every new one first: a failure below leaves them all pending
                record_created(orch, spec_id, parsed.role, Path(path))
    return {branch: prepare(orch, spec_id, role, path) for branch, (role, path) in agents.items()}


def _finish_worktrees(
    vcs: VCS, registered: dict[str, WorktreeEntry], plan: dict[str, Path]
) -> list[str]:
    """What a killed init-feature (or a hand) left: a worktree whose checkout was
    interrupted is finished; one whose directory was deleted is unregistered, to be
    created again (it is in ``plan``). Returns the branches whose worktree was repaired."""
    repaired = []
    for branch, entry in registered.items():
        if entry.missing and branch in plan:
            vcs.forget_missing_worktree(entry)
        elif not entry.missing and entry.interrupted:
            vcs.finish_worktree(entry)
            repaired.append(branch)
    return repaired


def ignore_state_dir(orch: Orchestrator) -> bool:
    """Ignore ``/state/`` in every worktree (git: ``info/exclude``); True if added."""
    added: bool = orch.vcs().ignore_path(EXCLUDE_LINE, EXCLUDE_COMMENT)
    return added
