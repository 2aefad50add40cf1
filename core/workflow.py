"""Feature branch names, and ``sync-status``.

``init-feature`` lives in :mod:`.feature_setup`, the conflict scans in
:mod:`.conflict_scan`. Each function takes an
:class:`~claude_orchestrator.api.Orchestrator` and does its git work through the
configured VCS plugin and its bookkeeping through the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from . import validate as v
from .errors import NotFoundError, ValidationError
from .models import Event, SyncCommit

if TYPE_CHECKING:
    from .api import Orchestrator
    from .location import Location
    from .models_vcs import CommitInfo
    from .protocols_vcs import VCS
    from .store_service import Store


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


def branch_tip(vcs: VCS, name: str) -> str | None:
    """The commit of branch ``name`` as this clone knows it newest: the local branch, or
    its remote-tracking one (``origin/<name>``) where there is no local one or the
    local one is behind it (another machine moved it on; see ``VCS.branch_tips``).
    None when neither exists."""
    tip = vcs.branch_tips(name, remotes=True).get(name)
    return None if tip is None else tip.commit


def _not_a_feature_branch(prefix: str, branch: str) -> ValidationError:
    return ValidationError(
        f"{branch!r} is not a feature branch: expected {prefix}/<spec-id>/overseer or "
        f"{prefix}/<spec-id>/impl-<area> (check out one, or pass --branch)"
    )


def refuse_bare(location: Location) -> None:
    """Refuse to work in a bare repository (there is no working tree to coordinate)."""
    cwd = location.cwd
    if not location.in_git and (cwd / "HEAD").is_file() and (cwd / "objects").is_dir():
        raise ValidationError(
            "this is a bare repository: run this in a working tree "
            "(clone it, or `git worktree add` one)"
        )


def require_git(orch: Orchestrator) -> VCS:
    """The VCS plugin, after checking that we are inside a git working tree."""
    if not orch.location.in_git:
        refuse_bare(orch.location)
        raise ValidationError(
            f"{orch.location.cwd} is not in a git repository: run this inside the "
            "repository or one of its worktrees"
        )
    return orch.vcs()


def _current_feature_branch(orch: Orchestrator, branch: str | None) -> tuple[str, BranchRole]:
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


def sync_status(
    orch: Orchestrator,
    *,
    branch: str | None = None,
    rewritten: Sequence[tuple[str, str]] = (),
    how: str = "",
) -> SyncResult:
    """Log task events for the commits that are new on a feature branch since its last sync.

    Implementor branches: only events. Where the overseer branch is checked out, the
    feature's tasks.md also gets its checkboxes from the store.

    A commit that rewrote a synced one counts what it says now, once: what the old one
    said and the new message no longer says is retracted for this branch. Without
    ``rewritten`` (git's post-rewrite ``(old, new)`` pairs, which the installed hook
    passes) only a rewrite that kept the change (same patch id: an amend of the
    message, a clean rebase or reword) is recognised; with it, a changed one too.
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
    # on another machine than the overseer's, the overseer branch may be only origin's
    overseer_tip = head if name == overseer else branch_tip(vcs, overseer)
    tasks_path = config.tasks_file(parsed.spec_id)
    tasks_text = vcs.show_file(overseer_tip, tasks_path) if overseer_tip else None
    if tasks_text is None:
        fetch = "" if overseer_tip else " (not found locally or remote-tracking: `git fetch`)"
        raise ValidationError(
            f"no {tasks_path} on {overseer}{fetch}: the overseer commits the feature's task "
            "list there first (spec-kit tasks.md); task ids are checked against it"
        )
    known_ids = {t.task_id for t in parse_tasks(tasks_text).tasks}
    cursor = store.sync_cursor(name)
    exclude: list[str] = []
    if parsed.role == "overseer":
        if vcs.resolve(f"refs/heads/{config.main_branch}"):
            exclude.append(f"refs/heads/{config.main_branch}")
    else:
        assert overseer_tip is not None  # it holds the tasks
        exclude.append(overseer_tip)
    if cursor and vcs.resolve(cursor):
        # after a rebase the cursor is no longer an ancestor; excluding it still drops
        # the old commits, and patch ids catch the rewritten copies of logged ones
        exclude.append(cursor)
    commits = vcs.new_commits(head, exclude, first_parent=parsed.role == "overseer")
    patch_ids = vcs.patch_ids([c.commit for c in commits])
    known = store.known_patch_ids(parsed.spec_id, name, sorted(set(patch_ids.values())))
    extra = _rewritten_commits(vcs, head, rewritten, {c.commit for c in commits})
    patch_ids.update(vcs.patch_ids([c.commit for c in extra]))
    rewrites = _rewrites(store, vcs, (parsed.spec_id, name, head), patch_ids, known,
                         (rewritten, how))  # fmt: skip
    # Every commit goes to the store, rewritten ones (a known patch id) too: the store
    # logs what a commit's message says now and was not logged for that change before.
    to_record: list[SyncCommit] = []
    unknown: list[tuple[str, str]] = []
    duplicates = 0
    seen_now: set[str] = set()
    for commit in [*commits, *extra]:
        patch_id = patch_ids[commit.commit]
        again = patch_id in known or patch_id in seen_now
        duplicates += again and commit not in extra
        seen_now.add(patch_id)
        actions = []
        for action in parse_commit_message(commit.message):
            if action.task_id in known_ids:
                actions.append((action.task_id, action.action, action.reason))
            elif not again:
                unknown.append((commit.commit, action.task_id))
        replaced, kind = rewrites.get(commit.commit, ((), ""))
        to_record.append(SyncCommit(commit.commit, patch_id, commit.subject, actions,
                                    replaced, kind))  # fmt: skip
    events = store.record_sync(parsed.spec_id, parsed.role, name, head, to_record)
    if events:
        orch.notify(*events)
    problems: list[str] = []
    updated: list[str] = []
    if parsed.role == "overseer" and vcs.current_branch() == name:
        updated, problems = update_tasks_file(orch, parsed.spec_id)
    return SyncResult(name, parsed.spec_id, parsed.role, len(commits), events, duplicates,
                      unknown, updated, problems)  # fmt: skip


def _rewritten_commits(
    vcs: VCS, head: str, rewritten: Sequence[tuple[str, str]], listed: set[str]
) -> list[CommitInfo]:
    """The new commits of git's rewrite mapping that are on the branch but not among the
    commits this sync reads (post-commit synced them already, before post-rewrite)."""
    extra = []
    for new in dict.fromkeys(new for _, new in rewritten):
        if new not in listed and vcs.merge_base(new, head) == new:
            extra += vcs.new_commits(new, [f"{new}^@"])
    return extra


def _rewrites(
    store: Store,
    vcs: VCS,
    where: tuple[str, str, str],
    patch_ids: Mapping[str, str],
    known: set[str],
    mapping: tuple[Sequence[tuple[str, str]], str],
) -> dict[str, tuple[tuple[str, ...], str]]:
    """commit -> (patch ids of the synced changes it rewrote, how), for the commits of
    ``patch_ids`` on the branch ``where`` = (spec id, branch, head).

    Same patch id: the change synced before was last seen as another commit, which is no
    longer in the branch's history (a commit that repeats a change still there is no
    rewrite). Other patch ids: from git's mapping ``(old, new)`` pairs, the changes
    synced as its old commits.
    """
    spec_id, branch, head = where
    rewritten, how = mapping
    found: dict[str, tuple[tuple[str, ...], str]] = {}
    last = dict(store.synced_changes(spec_id, branch, patch_ids=sorted(known)))
    for commit, patch_id in patch_ids.items():
        old = last.get(patch_id)
        if old is not None and old != commit and vcs.merge_base(old, head) != old:
            found[commit] = ((patch_id,), how or "same change")
    olds = {c: p for p, c in store.synced_changes(
        spec_id, branch, commits=sorted({old for old, _ in rewritten}))}  # fmt: skip
    for old, new in rewritten:
        replaced = found.get(new, ((), ""))[0]
        if old in olds and new in patch_ids and olds[old] not in replaced:
            found[new] = ((*replaced, olds[old]), how or "rewrite")
    return found


def update_tasks_file(orch: Orchestrator, spec_id: str) -> tuple[list[str], list[str]]:
    """Set the checkboxes of the overseer's tasks.md from the store.

    Completed and merged tasks are ticked; a task that was explicitly reopened (and
    completed nowhere since) is cleared; every other box is left as it is, so a box
    ticked by hand stays ticked (:func:`.tasks.checkbox_states`).
    :return: (task ids whose checkbox changed, problems found in the file)
    """
    from .tasks import checkbox_states, parse_tasks, set_checkboxes, write_tasks

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
    states = checkbox_states((t.task_id, t.status, t.reopened)
                             for t in orch.store.task_states(spec_id))  # fmt: skip
    new_text, changed = set_checkboxes(text, states)
    if changed:
        write_tasks(path, new_text)
    return changed, problems
