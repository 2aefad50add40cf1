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
    #: why git could not merge the pair at all (unrelated histories); None when it did
    error: str | None = None


class UncomparedPair(NamedTuple):
    """A pair of branches git cannot merge at all: neither clean nor conflicted."""

    branch: str
    other_branch: str
    error: str


def _scan_role(prefix: str, branch: str) -> BranchRole | None:
    """Like :func:`parse_branch`, but ``impl-<anything>`` counts: a branch named against
    the area rule (``impl-1``, ``impl-fix_views``) is still somebody's work, and its
    conflicts are real. Its role (``implementor-1``) can never be registered."""
    parsed = parse_branch(prefix, branch)
    if parsed is not None:
        return parsed
    start = prefix.rstrip("/") + "/"
    spec_id, _, leaf = branch[len(start) :].partition("/")
    if not branch.startswith(start) or not leaf.startswith("impl-") or leaf == "impl-":
        return None
    try:
        v.check_spec_id(spec_id)
    except ValidationError:
        return None
    area = leaf[len("impl-") :]
    return BranchRole(spec_id, v.role_for_area(area), area)


def bad_area_rule(prefix: str) -> str:
    """The naming rule an ``impl-`` branch breaks when its area is not valid."""
    return (
        f"{prefix}/<spec-id>/impl-<area> with <area> in lowercase letters, digits and "
        f"single '-', starting with a letter, at most {v.AREA_MAX} characters"
    )


def misnamed_branches(vcs: Any, prefix: str) -> list[str]:
    """``impl-`` branches (local or remote-tracking) whose area breaks the naming rule."""
    found = vcs.list_branches(f"{prefix}/*/impl-*", remotes=True)
    return sorted(b for b in found if parse_branch(prefix, b) is None and _scan_role(prefix, b))


class _Branches(NamedTuple):
    #: branch -> commit: local branches, and remote-tracking ones where no local one exists
    tips: dict[str, str]
    #: the names in ``tips`` that exist only as remote-tracking branches
    remote_only: set[str]
    #: names in the feature's namespace that are no overseer or implementor branch
    skipped: list[str]
    #: implementor branches scanned although their area breaks the naming rule
    misnamed: list[str]


def _feature_branches(vcs: Any, prefix: str, spec_id: str) -> _Branches:
    pattern = f"{prefix}/{spec_id}/*"
    every = vcs.list_branches(pattern, remotes=True)
    local = set(vcs.list_branches(pattern))
    tips = {b: c for b, c in every.items() if _scan_role(prefix, b) is not None}
    return _Branches(
        tips,
        set(tips) - local,
        sorted(b for b in every if b not in tips),
        sorted(b for b in tips if parse_branch(prefix, b) is None),
    )


def _check_history(vcs: Any, pairs: Sequence[tuple[str, str]]) -> None:
    if vcs.is_shallow():
        for a, b in pairs:
            if vcs.merge_base(a, b) is None:
                raise ValidationError(
                    "this is a shallow clone without the merge base of the feature branches: "
                    "fetch the full history (`git fetch --unshallow`, or `fetch-depth: 0` in "
                    "actions/checkout)"
                )


def _branch_to_check(orch: Any, branch: str | None) -> tuple[str, BranchRole]:
    try:
        return _current_feature_branch(orch, branch)
    except ValidationError:
        name = branch or orch.vcs().current_branch()
        parsed = _scan_role(orch.config.branch_prefix, name) if name else None
        if name is None or parsed is None:
            raise
        return name, parsed


def check_conflicts(orch: Any, *, branch: str | None = None) -> list[PairResult]:
    """The current branch merged in memory with its overseer branch and each sibling.

    Works without an event store, on local or remote-tracking branches (CI). Every merge
    uses the overseer branch's ``.gitattributes``: implementor work is merged into that
    branch, in its worktree. A pair git cannot merge at all comes back with ``error``.
    """
    config = orch.config
    vcs = orch.vcs()
    name, parsed = _branch_to_check(orch, branch)
    prefix = config.branch_prefix
    branches = _feature_branches(vcs, prefix, parsed.spec_id).tips
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
    merged = vcs.merge_conflicts(pairs, attributes_from=branches[overseer])
    results = []
    for other, pair in zip(others, pairs, strict=True):
        outcome = merged[pair]
        role = _scan_role(prefix, other)
        touches: list[FileTouch] = []
        if outcome.conflicted:
            touches = _attribute(vcs, pair[0], pair[1], outcome.files)
        results.append(PairResult(name, other, role.role if role else None, outcome.conflicted,
                                  list(outcome.files), touches,
                                  getattr(outcome, "error", None)))  # fmt: skip
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
    #: every note joined by "; " (kept for older readers of the JSON); see ``notes``
    note: str | None = None
    #: what the reader must know: skipped or misnamed branches, an overseer branch that
    #: exists only as a remote-tracking branch, pairs not compared, conflicts not recorded
    notes: list[str] = []  # noqa: RUF012 - a NamedTuple default, never mutated
    #: pairs git could not merge at all (unrelated histories): neither clean nor conflicted
    not_comparable: list[UncomparedPair] = []  # noqa: RUF012


def _attribute_for_store(
    found: FoundConflict, registered: set[str], roles: dict[str, str | None]
) -> FoundConflict | None:
    """The conflict as the store records it: on a registered agent's side.

    A branch nobody registered (``impl-extra``, or one named against the area rule) has
    no agent: the conflict goes to the registered side (its ``other_role`` left empty),
    or to the overseer when neither side is registered; None when there is no overseer.
    """
    mine, theirs = roles.get(found.branch), roles.get(found.other_branch)
    if mine is not None:
        return found._replace(role=mine, other_role=theirs)
    if theirs is not None:
        return found._replace(role=theirs, branch=found.other_branch, other_role=None,
                              other_branch=found.branch)  # fmt: skip
    if "overseer" in registered:
        return found._replace(role="overseer", other_role=None)
    return None


def detect_conflicts(orch: Any) -> list[FeatureScan]:
    """Scan every active feature's branch pairs in one batch of in-memory merges.

    Features come from the store (in-progress ones); without a store, every
    ``<prefix>/<spec>/`` branch group. Local branches are used, and remote-tracking ones
    (``origin/...``) where no local branch exists, so a fresh clone is scanned too.
    Conflicts are recorded once per pair and file set, and resolved automatically when
    they disappear. Merges use the overseer branch's ``.gitattributes`` (the branch every
    implementor's work is merged into); without an overseer branch, the first branch's.
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
        found_branches = vcs.list_branches(f"{prefix}/*/*", remotes=True)
        groups = {_scan_role(prefix, b) for b in found_branches}
        specs = sorted({g.spec_id for g in groups if g is not None})
    plan: dict[str, list[tuple[str, str, str, str]]] = {}  # spec -> (a, b, commit_a, commit_b)
    notes: dict[str, list[str]] = {}
    attributes: dict[str, str | None] = {}
    for spec_id in specs:
        found = _feature_branches(vcs, prefix, spec_id)
        branches = found.tips
        overseer = config.overseer_branch(spec_id)
        impls = sorted(b for b in branches if b != overseer)
        said = notes.setdefault(spec_id, [])
        pairs: list[tuple[str, str, str, str]] = []
        if not branches:
            said.append(
                "no branch of this feature found (locally or remote-tracking): nothing scanned"
            )
        elif overseer in branches:
            pairs += [(b, overseer, branches[b], branches[overseer]) for b in impls]
            if overseer in found.remote_only:
                said.append(f"overseer branch {overseer} exists only as a remote-tracking "
                            "branch: scanned that")  # fmt: skip
        else:
            said.append(f"overseer branch {overseer} is missing: only sibling pairs scanned")
        for i, a in enumerate(impls):
            for b in impls[i + 1 :]:
                pairs.append((a, b, branches[a], branches[b]))
        if found.misnamed:
            said.append(f"scanned {', '.join(found.misnamed)} although the name breaks the "
                        f"rule {bad_area_rule(prefix)}: rename it (`git branch -m`)")  # fmt: skip
        if found.skipped:
            said.append(f"skipped {', '.join(found.skipped)}: not an overseer or "
                        "impl-<area> branch")  # fmt: skip
        plan[spec_id] = pairs
        attributes[spec_id] = branches.get(overseer)
    every = [(p[2], p[3]) for pairs in plan.values() for p in pairs]
    total = len(every)
    if sys.stderr.isatty() and total:
        print(f"merging {total} branch pairs in memory...", file=sys.stderr)
    _check_history(vcs, every[:1])
    merged: dict[tuple[str | None, str, str], Any] = {}
    by_source: dict[str | None, list[tuple[str, str]]] = {}
    for spec_id, pairs in plan.items():
        by_source.setdefault(attributes[spec_id], []).extend((p[2], p[3]) for p in pairs)
    for source, commit_pairs in by_source.items():
        outcomes = vcs.merge_conflicts(list(dict.fromkeys(commit_pairs)), attributes_from=source)
        merged.update({(source, *pair): outcome for pair, outcome in outcomes.items()})
    scans = []
    all_events: list[Event] = []
    for spec_id, pairs in plan.items():
        said = notes[spec_id]
        found_now: list[FoundConflict] = []
        uncompared: list[UncomparedPair] = []
        compared: list[tuple[str, str]] = []
        for a, b, ca, cb in pairs:
            outcome = merged[(attributes[spec_id], ca, cb)]
            error = getattr(outcome, "error", None)
            if error:
                uncompared.append(UncomparedPair(a, b, error))
                said.append(f"{a} vs {b}: not comparable: {error}")
                continue
            compared.append((a, b))
            if not outcome.conflicted:
                continue
            role_a = _scan_role(prefix, a)
            role_b = _scan_role(prefix, b)
            assert role_a is not None and role_b is not None
            severity = "critical" if role_b.role == "overseer" else "warning"
            found_now.append(FoundConflict(role_a.role, a, role_b.role, b, list(outcome.files),
                                           severity))  # fmt: skip
        opened = resolved = 0
        saved = False
        if spec_id in recorded:
            registered = {agent.role for agent in store.list_agents(spec_id)}
            roles: dict[str, str | None] = {}
            for a, b, _, _ in pairs:
                for name in (a, b):
                    role = _scan_role(prefix, name)
                    roles[name] = role.role if role and role.role in registered else None
            unregistered = sorted(n for n, r in roles.items() if r is None)
            if unregistered:
                said.append(
                    f"not registered in the store: {', '.join(unregistered)} (their "
                    "conflicts are recorded on the other side, or the overseer)"
                )
            to_record = []
            for item in found_now:
                stored = _attribute_for_store(item, registered, roles)
                if stored is None:
                    said.append(
                        f"{item.branch} vs {item.other_branch}: not recorded (no registered "
                        "agent on either side, and no overseer agent)"
                    )
                else:
                    to_record.append(stored)
            try:
                new, gone, events = store.record_scan(spec_id, compared, to_record)
            except NotFoundError as exc:
                said.append(f"scan not recorded: {exc}")
            else:
                opened, resolved, saved = len(new), len(gone), True
                all_events += events
        scans.append(FeatureScan(spec_id, len(pairs), found_now, opened, resolved, saved,
                                 "; ".join(said) or None, said, uncompared))  # fmt: skip
    if all_events:
        orch.notify(*all_events)
    return scans


__all__ = [
    "BranchRole", "FeatureScan", "FileTouch", "InitFeatureResult", "OrchestratorError",
    "PairResult", "SyncResult", "UncomparedPair", "bad_area_rule", "check_conflicts",
    "detect_conflicts", "init_feature", "misnamed_branches", "parse_branch", "sync_status",
]  # fmt: skip
