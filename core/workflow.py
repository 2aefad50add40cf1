"""The git workflow: ``init-feature``, ``sync-status``, ``check-conflicts``,
``detect-conflicts``.

Each function takes an :class:`~claude_orchestrator.api.Orchestrator` and does its git
work through the configured VCS plugin and its bookkeeping through the store.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import validate as v
from .errors import NotFoundError, OrchestratorError, ValidationError, refuse_implementor
from .models import Event, FoundConflict, SyncCommit

EXCLUDE_LINE = "/state/"


# ------------------------------------------------------------------ branch names
class BranchRole(NamedTuple):
    spec_id: str
    role: str
    area: str | None


def parse_branch(prefix: str, branch: str) -> BranchRole | None:
    """``<prefix>/<spec>/overseer`` or ``<prefix>/<spec>/impl-<area>``; None otherwise."""
    start = prefix.rstrip("/") + "/"
    if not branch.startswith(start):
        return None
    spec_id, _, leaf = branch[len(start) :].partition("/")
    try:
        v.check_spec_id(spec_id)
    except ValidationError:
        return None
    if leaf == "overseer":
        return BranchRole(spec_id, "overseer", None)
    if leaf.startswith("impl-"):
        area = leaf[len("impl-") :]
        try:
            v.check_area(area)
        except ValidationError:
            return None
        return BranchRole(spec_id, v.role_for_area(area), area)
    return None


def _not_a_feature_branch(prefix: str, branch: str) -> ValidationError:
    return ValidationError(
        f"{branch!r} is not a feature branch: expected {prefix}/<spec-id>/overseer or "
        f"{prefix}/<spec-id>/impl-<area> (check out one, or pass --branch)"
    )


def refuse_bare(location: Any) -> None:
    """Refuse to work in a bare repository (there is no working tree to coordinate)."""
    cwd = location.cwd
    if not location.in_git and (cwd / "HEAD").is_file() and (cwd / "objects").is_dir():
        raise ValidationError(
            "this is a bare repository: run this in a working tree "
            "(clone it, or `git worktree add` one)"
        )


def require_git(orch: Any) -> Any:
    """The VCS plugin, after checking that we are inside a git working tree."""
    if not orch.location.in_git:
        refuse_bare(orch.location)
        raise ValidationError(
            f"{orch.location.cwd} is not in a git repository: run this inside the "
            "repository or one of its worktrees"
        )
    return orch.vcs()


def _current_feature_branch(orch: Any, branch: str | None) -> tuple[str, BranchRole]:
    vcs = require_git(orch)
    name = branch or vcs.current_branch()
    if name is None:
        raise ValidationError(
            "HEAD is detached: check out a feature branch, or pass --branch <name>"
        )
    parsed = parse_branch(orch.config.branch_prefix, name)
    if parsed is None:
        raise _not_a_feature_branch(orch.config.branch_prefix, name)
    return name, parsed


# ------------------------------------------------------------------ init-feature
class InitFeatureResult(NamedTuple):
    spec_id: str
    #: branch -> "created" | "exists"
    branches: dict[str, str]
    #: branch -> worktree path, and whether it was created now
    worktrees: dict[str, tuple[str, bool]]
    feature_created: bool
    agents_added: list[str]
    state_files: list[str]


def _worktree_root(orch: Any) -> Path:
    root: Path = orch.location.root
    text = orch.config.worktrees_dir.replace("{repo}", root.name)
    path = Path(text)
    return (path if path.is_absolute() else root / path).resolve()


def init_feature(
    orch: Any,
    spec_id: str,
    *,
    areas: Sequence[str] | None = None,
    base: str | None = None,
    worktrees: bool = False,
    name: str | None = None,
) -> InitFeatureResult:
    """Create the feature's branches (and worktrees), ignore ``state/``, register it.

    Safe to re-run: what exists is reported and kept; only what is missing is created.
    Everything is checked before anything is created.
    """
    refuse_implementor("init-feature")
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
    if worktrees:
        root = _worktree_root(orch)
        for branch in wanted:
            if branch in existing_trees:
                continue
            path = root / spec_id / branch.rsplit("/", 1)[1]
            if path.exists() and (not path.is_dir() or any(path.iterdir())):
                raise ValidationError(
                    f"cannot create a worktree for {branch} at {path}: it exists and is not "
                    "that branch's worktree; move it away or set worktrees.dir"
                )
            plan[branch] = path
    # -- everything checked: create ------------------------------------------------
    if not orch.store_plugin().exists():
        orch.init_store()
    status: dict[str, str] = {}
    status[overseer] = "created" if vcs.create_branch(overseer, base_commit) else "exists"
    overseer_tip = vcs.resolve(f"refs/heads/{overseer}")
    for branch in wanted[1:]:
        status[branch] = "created" if vcs.create_branch(branch, overseer_tip) else "exists"
    trees: dict[str, tuple[str, bool]] = {
        b: (str(p), False) for b, p in existing_trees.items() if b in wanted
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
    written = orch.refresh_state_files(spec_id)
    return InitFeatureResult(
        spec_id, status, trees, feature_created, agents_added, [str(p) for p in written]
    )


def ignore_state_dir(orch: Any) -> bool:
    """Add ``/state/`` to ``info/exclude`` (shared by all worktrees); True if added."""
    common = orch.location.common_dir
    if common is None:
        return False
    exclude = common / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    if EXCLUDE_LINE in text.splitlines():
        return False
    from .fsutil import atomic_write_text

    separator = "" if not text or text.endswith("\n") else "\n"
    atomic_write_text(
        exclude,
        text + separator + "# claude-orchestrator state files (views of the store)\n"
        + EXCLUDE_LINE + "\n",
    )  # fmt: skip
    return True


# ------------------------------------------------------------------- sync-status
class SyncResult(NamedTuple):
    branch: str
    spec_id: str
    role: str
    commits_read: int
    events: list[Event]
    duplicates: int
    #: (commit, task id) for ids that are not in the overseer's tasks.md
    unknown_tasks: list[tuple[str, str]]
    #: task ids whose checkbox changed in the overseer's tasks.md
    tasks_updated: list[str]
    problems: list[str]
    skipped: str | None = None


def sync_status(orch: Any, *, branch: str | None = None) -> SyncResult:
    """Log task events for the commits that are new on a feature branch since its last sync.

    Implementor branches: only events. Where the overseer branch is checked out, the
    feature's tasks.md also gets its checkboxes from the store.
    """
    from .grammar import parse_commit_message
    from .tasks import parse_tasks

    config = orch.config
    vcs = orch.vcs()
    name, parsed = _current_feature_branch(orch, branch)
    store = orch.store
    if store.get_feature(parsed.spec_id) is None:
        raise NotFoundError(
            f"Feature not found in event store: {parsed.spec_id}. Set it up with: "
            f"claude-orchestrator init-feature {parsed.spec_id}"
        )
    if parsed.role not in {a.role for a in store.list_agents(parsed.spec_id)}:
        raise NotFoundError(
            f"Agent not found: {parsed.role} is not registered for {parsed.spec_id}. "
            f"Register it with: claude-orchestrator events add-agent {parsed.spec_id} "
            f"{parsed.role}"
        )
    head = vcs.resolve(f"refs/heads/{name}")
    if head is None:
        raise ValidationError(f"branch {name!r} does not exist")
    overseer = config.overseer_branch(parsed.spec_id)
    tasks_path = config.tasks_file(parsed.spec_id)
    tasks_text = vcs.show_file(f"refs/heads/{overseer}", tasks_path)
    if tasks_text is None:
        raise ValidationError(
            f"no {tasks_path} on {overseer}: the overseer commits the feature's task list "
            "there first (spec-kit tasks.md); task ids are checked against it"
        )
    known_ids = {t.task_id for t in parse_tasks(tasks_text).tasks}
    cursor = store.sync_cursor(name)
    exclude: list[str] = []
    if parsed.role == "overseer":
        if vcs.resolve(f"refs/heads/{config.main_branch}"):
            exclude.append(f"refs/heads/{config.main_branch}")
    else:
        exclude.append(f"refs/heads/{overseer}")
    if cursor and vcs.resolve(cursor):
        # after a rebase the cursor is no longer an ancestor; excluding it still drops
        # the old commits, and patch ids catch the rewritten copies of logged ones
        exclude.append(cursor)
    commits = vcs.new_commits(head, exclude, first_parent=parsed.role == "overseer")
    patch_ids = vcs.patch_ids([c.commit for c in commits])
    known = store.known_patch_ids(parsed.spec_id, name, sorted(set(patch_ids.values())))
    to_record: list[SyncCommit] = []
    unknown: list[tuple[str, str]] = []
    duplicates = 0
    seen_now: set[str] = set()
    for commit in commits:
        patch_id = patch_ids[commit.commit]
        if patch_id in known or patch_id in seen_now:
            duplicates += 1
            continue
        seen_now.add(patch_id)
        actions = []
        for action in parse_commit_message(commit.message):
            if action.task_id in known_ids:
                actions.append((action.task_id, action.action, action.reason))
            else:
                unknown.append((commit.commit, action.task_id))
        to_record.append(SyncCommit(commit.commit, patch_id, commit.subject, actions))
    events = store.record_sync(parsed.spec_id, parsed.role, name, head, to_record)
    if events:
        orch.notify(*events)
    problems: list[str] = []
    updated: list[str] = []
    if parsed.role == "overseer" and vcs.current_branch() == name:
        updated, problems = update_tasks_file(orch, parsed.spec_id)
    return SyncResult(name, parsed.spec_id, parsed.role, len(commits), events, duplicates,
                      unknown, updated, problems)  # fmt: skip


def update_tasks_file(orch: Any, spec_id: str) -> tuple[list[str], list[str]]:
    """Set the checkboxes of the overseer's tasks.md from the store (completed -> [x]).

    Tasks the store knows nothing about are left as they are.
    :return: (task ids whose checkbox changed, problems found in the file)
    """
    from .tasks import parse_tasks, set_checkboxes, write_tasks

    path = orch.location.root / orch.config.tasks_file(spec_id)
    try:
        # bytes, then decode: read_text() would translate CRLF, and every byte must survive
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return [], [f"{path} does not exist in this worktree"]
    except UnicodeDecodeError:
        return [], [f"{path} is not UTF-8 text: left alone"]
    parsed = parse_tasks(text)
    problems = [f"{path.name}:{line}: {reason}" for line, reason in parsed.problems]
    states = {t.task_id: t.status in ("completed", "merged")
              for t in orch.store.task_states(spec_id)}  # fmt: skip
    new_text, changed = set_checkboxes(text, states)
    if changed:
        write_tasks(path, new_text)
    return changed, problems


# --------------------------------------------------------------- conflicts
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


def _feature_branches(vcs: Any, prefix: str, spec_id: str, remotes: bool) -> dict[str, str]:
    found = vcs.list_branches(f"{prefix}/{spec_id}/*", remotes=remotes)
    return {b: c for b, c in found.items() if parse_branch(prefix, b) is not None}


def _check_history(vcs: Any, pairs: Sequence[tuple[str, str]]) -> None:
    if vcs.is_shallow():
        for a, b in pairs:
            if vcs.merge_base(a, b) is None:
                raise ValidationError(
                    "this is a shallow clone without the merge base of the feature branches: "
                    "fetch the full history (`git fetch --unshallow`, or `fetch-depth: 0` in "
                    "actions/checkout)"
                )


def check_conflicts(orch: Any, *, branch: str | None = None) -> list[PairResult]:
    """The current branch merged in memory with its overseer branch and each sibling.

    Works without an event store, on local or remote-tracking branches (CI).
    """
    config = orch.config
    vcs = orch.vcs()
    name, parsed = _current_feature_branch(orch, branch)
    prefix = config.branch_prefix
    branches = _feature_branches(vcs, prefix, parsed.spec_id, remotes=True)
    head = branches.get(name) or vcs.resolve("HEAD")
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
    _check_history(vcs, pairs)
    merged = vcs.merge_conflicts(pairs)
    results = []
    for other, pair in zip(others, pairs, strict=True):
        outcome = merged[pair]
        role = parse_branch(prefix, other)
        touches: list[FileTouch] = []
        if outcome.conflicted:
            touches = _attribute(vcs, pair[0], pair[1], outcome.files)
        results.append(PairResult(name, other, role.role if role else None, outcome.conflicted,
                                  list(outcome.files), touches))  # fmt: skip
    return results


def _attribute(vcs: Any, ours: str, theirs: str, files: Sequence[str]) -> list[FileTouch]:
    base = vcs.merge_base(ours, theirs)
    if base is None:
        return [FileTouch(f, [], []) for f in files]
    mine = vcs.files_by_commit(base, ours)
    other = vcs.files_by_commit(base, theirs)
    return [
        FileTouch(
            path,
            [(c, s) for c, s, changed in mine if path in changed],
            [(c, s) for c, s, changed in other if path in changed],
        )
        for path in files
    ]


class FeatureScan(NamedTuple):
    spec_id: str
    pairs: int
    conflicts: list[FoundConflict]
    opened: int
    resolved: int
    recorded: bool
    note: str | None = None


def detect_conflicts(orch: Any) -> list[FeatureScan]:
    """Scan every active feature's branch pairs in one batch of in-memory merges.

    Features come from the store (in-progress ones); without a store, every
    ``<prefix>/<spec>/`` branch group. Conflicts are recorded once per pair and file
    set, and resolved automatically when they disappear.
    """
    config = orch.config
    vcs = require_git(orch)
    prefix = config.branch_prefix
    store = orch.store_plugin()
    specs: list[str]
    recorded: set[str] = set()
    if store.exists():
        features = [f for f in store.list_features() if f.status == "in-progress"]
        specs = [f.spec_id for f in features]
        recorded = set(specs)
    else:
        specs = []
    if not specs:
        groups = {parse_branch(prefix, b) for b in vcs.list_branches(f"{prefix}/*/*")}
        specs = sorted({g.spec_id for g in groups if g is not None})
    plan: dict[str, list[tuple[str, str, str, str]]] = {}  # spec -> (a, b, commit_a, commit_b)
    notes: dict[str, str] = {}
    for spec_id in specs:
        branches = _feature_branches(vcs, prefix, spec_id, remotes=False)
        overseer = config.overseer_branch(spec_id)
        impls = sorted(b for b in branches if b != overseer)
        pairs: list[tuple[str, str, str, str]] = []
        if overseer in branches:
            pairs += [(b, overseer, branches[b], branches[overseer]) for b in impls]
        else:
            notes[spec_id] = f"overseer branch {overseer} is missing: only sibling pairs scanned"
        for i, a in enumerate(impls):
            for b in impls[i + 1 :]:
                pairs.append((a, b, branches[a], branches[b]))
        plan[spec_id] = pairs
    every = [(p[2], p[3]) for pairs in plan.values() for p in pairs]
    total = len(every)
    if sys.stderr.isatty() and total:
        print(f"merging {total} branch pairs in memory...", file=sys.stderr)
    _check_history(vcs, every[:1])
    merged = vcs.merge_conflicts(list(dict.fromkeys(every)))
    scans = []
    all_events: list[Event] = []
    for spec_id, pairs in plan.items():
        found = []
        for a, b, ca, cb in pairs:
            outcome = merged[(ca, cb)]
            if not outcome.conflicted:
                continue
            role_a = parse_branch(prefix, a)
            role_b = parse_branch(prefix, b)
            assert role_a is not None and role_b is not None
            severity = "critical" if role_b.role == "overseer" else "warning"
            found.append(FoundConflict(role_a.role, a, role_b.role, b, list(outcome.files),
                                       severity))  # fmt: skip
        opened = resolved = 0
        if spec_id in recorded:
            try:
                new, gone, events = store.record_scan(spec_id, [(a, b) for a, b, _, _ in pairs],
                                                      found)  # fmt: skip
            except NotFoundError as exc:  # a branch of an agent the store does not know
                notes[spec_id] = str(exc)
            else:
                opened, resolved = len(new), len(gone)
                all_events += events
        scans.append(FeatureScan(spec_id, len(pairs), found, opened, resolved,
                                 spec_id in recorded, notes.get(spec_id)))  # fmt: skip
    if all_events:
        orch.notify(*all_events)
    return scans


__all__ = [
    "BranchRole", "FeatureScan", "FileTouch", "InitFeatureResult", "OrchestratorError",
    "PairResult", "SyncResult", "check_conflicts", "detect_conflicts", "init_feature",
    "parse_branch", "sync_status",
]  # fmt: skip
