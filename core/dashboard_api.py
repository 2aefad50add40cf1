"""The data the dashboard shows and the actions it offers, one function each, shared with
the CLI: a command's ``--json`` and the dashboard's endpoint for it print the same value
(:func:`claude_orchestrator.render.to_json` of what the function returns), so the two
cannot drift.

Free to import (no web framework here): the CLI's commands call these functions too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from . import validate as v
from .errors import ValidationError

if TYPE_CHECKING:
    from .agent_state import AgentView
    from .api import Orchestrator
    from .conflict_scan import FeatureScan
    from .grammar import TaskAction
    from .messages import Message, Sent
    from .models import AgentStatus, Blocker, Conflict, Event, PullRequest, TaskState, TestResult
    from .tasks import TaskLine

#: who the dashboard's actions are recorded as (the ``actor`` of a ``dashboard_action``)
ACTOR = "dashboard"
#: the event type that records each action the dashboard took, naming its actor
ACTION_EVENT = "dashboard_action"
#: the task board's status of a task no event names yet
TODO = "todo"


# -------------------------------------------------------------------------------- views
def features(orch: Orchestrator, spec_id: str | None = None) -> list[AgentStatus]:
    """Each feature's agents with their counters (``events status --json``)."""
    return orch.status(spec_id)


def agents(orch: Orchestrator, spec_id: str | None = None) -> list[AgentView]:
    """Each agent's state, task and time in state (``agents [SPEC] --json``)."""
    from .agent_state import agent_views

    return agent_views(orch, spec_id)


def events(orch: Orchestrator, limit: int = 20, spec_id: str | None = None) -> list[Event]:
    """The newest events, newest first (``events recent N --json [--spec]``)."""
    return orch.recent(limit, spec_id)


def conflicts(
    orch: Orchestrator, spec_id: str | None = None, include_resolved: bool = False
) -> list[Conflict]:
    """Open conflicts, resolved ones too with ``include_resolved`` (``events conflicts``)."""
    return orch.conflicts(spec_id, include_resolved)


def blockers(
    orch: Orchestrator, spec_id: str | None = None, include_resolved: bool = False
) -> list[Blocker]:
    """Active blockers, resolved ones too with ``include_resolved`` (``events blockers``)."""
    return orch.blockers(spec_id, include_resolved)


def recorded_tests(
    orch: Orchestrator, spec_id: str | None = None, limit: int = 20
) -> list[TestResult]:
    """The latest test results, newest first (``events test-results``)."""
    return orch.test_results(spec_id, limit)


def pull_requests(orch: Orchestrator, spec_id: str | None = None) -> list[PullRequest]:
    """Pull requests (``prs [SPEC] --json``)."""
    from .prs import list_prs

    return list_prs(orch, spec_id)


class BoardTask(NamedTuple):
    """One card of the task board (``events tasks SPEC --json``)."""

    task_id: str
    #: its line in tasks.md; None for a task only the events name
    title: str | None
    #: ``todo`` when no event names it, else its derived state (in-progress, blocked,
    #: completed, merged, reopened)
    status: str
    #: the agent whose event decided the state; None for a task no event names
    role: str | None
    commit_hash: str | None
    updated_at: str | None


def tasks(orch: Orchestrator, spec_id: str) -> list[BoardTask]:
    """The task board: every task of the feature's tasks.md (read from the overseer
    branch), in its order, with its state and agent (``todo`` and no agent when no event
    names it), then the tasks only the events name (``events tasks SPEC --json``)."""
    spec_id = orch.feature(spec_id).spec_id
    states = {t.task_id: t for t in orch.store.task_states(spec_id)}
    board: list[BoardTask] = []
    for line in task_lines(orch, spec_id):
        if all(line.task_id != card.task_id for card in board):
            board.append(_card(line.task_id, line.description, states.pop(line.task_id, None)))
    return board + [_card(t.task_id, None, t) for _, t in sorted(states.items())]


def task_lines(orch: Orchestrator, spec_id: str) -> list[TaskLine]:
    """The tasks of ``tasks.file`` on the overseer branch ([] where there is none)."""
    from .tasks import parse_tasks
    from .workflow import branch_tip

    if not orch.location.in_git:
        return []
    vcs = orch.vcs()
    tip = branch_tip(vcs, orch.config.overseer_branch(spec_id))
    text = vcs.show_file(tip, orch.config.tasks_file(spec_id)) if tip else None
    return parse_tasks(text).tasks if text is not None else []


def _card(task_id: str, title: str | None, state: TaskState | None) -> BoardTask:
    if state is None:
        return BoardTask(task_id, title, TODO, None, None, None)
    return BoardTask(task_id, title, state.status, state.role, state.commit_hash,
                     state.updated_at)  # fmt: skip


class ConflictCommit(NamedTuple):
    """A commit of one side, ahead of the merge base, that touched the conflict's files."""

    commit: str
    subject: str
    #: the task ids its subject names
    tasks: list[str]
    #: the conflict's files it touched
    files: list[str]


class ConflictSide(NamedTuple):
    """One branch of a conflict and its commits that touched the files, newest first."""

    branch: str
    role: str | None
    #: the branch's commit; None when the branch is gone (merged and deleted, say)
    tip: str | None
    commits: list[ConflictCommit]


class ConflictDetail(NamedTuple):
    """A conflict with the commits and tasks on each side (``events conflict ID --json``)."""

    conflict: Conflict
    #: the two branches' merge base; None without one (a branch gone, unrelated histories)
    merge_base: str | None
    #: the conflict's branch, then the one it conflicts with
    sides: list[ConflictSide]

    def text(self) -> str:
        c = self.conflict
        lines = [f"conflict {c.id} ({c.severity}{', resolved' if c.resolved else ''}): "
                 + ", ".join(c.files)]  # fmt: skip
        for side in self.sides:
            lines.append(f"{side.branch}{' (gone)' if side.tip is None else ''}:")
            lines += [f"  {k.commit[:10]} {k.subject}" for k in side.commits] or ["  (none)"]
        return "\n".join(lines)


def conflict(
    orch: Orchestrator, conflict_id: int | str, spec_id: str | None = None
) -> ConflictDetail:
    """A conflict (of the feature ``spec_id``, when given) with each side's commits ahead of
    the merge base that touched its files, and the tasks they name (``events conflict ID
    --json``): a scan's conflict is between its two branches; one an agent logged, between
    the agent's branch and the overseer's."""
    from .conflict_check import _attribute
    from .domain import conflict_not_found
    from .workflow import branch_tip

    number = v.check_positive_id(conflict_id, "conflict")
    wanted = orch.feature(spec_id).spec_id if spec_id is not None else None
    found = next((c for c in orch.conflicts(wanted, include_resolved=True) if c.id == number),
                 None)  # fmt: skip
    if found is None:
        raise conflict_not_found(number)
    vcs = orch.vcs()
    ours, theirs = _branches(orch, found)
    tips = [branch_tip(vcs, ours[0]), branch_tip(vcs, theirs[0])]
    base = vcs.merge_base(tips[0], tips[1]) if tips[0] and tips[1] else None
    touches = _attribute(vcs, tips[0], tips[1], found.files) if base and tips[0] and tips[1] else []
    sides = []
    for (branch, role), tip, mine in zip((ours, theirs), tips, (True, False), strict=True):
        order = [c for c, _, _ in vcs.files_by_commit(base, tip)] if base and tip else []
        commits = _touching([(t.path, t.ours if mine else t.theirs) for t in touches], order)
        sides.append(ConflictSide(branch, role, tip, commits))
    return ConflictDetail(found, base, sides)


def _branches(orch: Orchestrator, found: Conflict) -> tuple[tuple[str, str | None], ...]:
    """(branch, role) of each side of ``found``."""
    agents = {a.role: a.branch_name for a in orch.store.list_agents(found.spec_id)}
    overseer = orch.config.overseer_branch(found.spec_id)
    ours = found.branch or agents.get(found.role) or overseer
    other_role = found.other_role if found.other_branch else found.other_role or "overseer"
    theirs = found.other_branch or agents.get(other_role or "") or overseer
    return (ours, found.role), (theirs, other_role)


def _touching(
    touches: list[tuple[str, list[tuple[str, str]]]], order: list[str]
) -> list[ConflictCommit]:
    """Each commit that touched one of the files, in ``order`` (newest first), with the
    files it touched and the tasks its subject names."""
    from .grammar import parse_commit_message

    files: dict[tuple[str, str], list[str]] = {}
    for path, commits in touches:
        for commit in commits:
            files.setdefault(commit, []).append(path)
    rank = {c: i for i, c in enumerate(order)}
    ordered = sorted(files.items(), key=lambda item: rank.get(item[0][0], 0))
    return [ConflictCommit(c, s, _named(parse_commit_message(s)), paths)
            for (c, s), paths in ordered]  # fmt: skip


def _named(actions: list[TaskAction]) -> list[str]:
    return list(dict.fromkeys(a.task_id for a in actions))


def here(orch: Orchestrator) -> tuple[str, str] | None:
    """(spec id, role) of the feature branch checked out where the command runs."""
    from .agent_event import find_agent

    if not orch.location.in_git:
        return None
    agent = find_agent(orch)
    return (agent.spec_id, agent.role) if agent else None


def feature_meant(orch: Orchestrator, spec_id: str | None, role: str | None) -> str:
    """The feature a command means: ``spec_id``, the checked-out branch's, or the only one
    with an agent ``role``."""
    if spec_id is not None:
        return orch.feature(spec_id).spec_id
    found = here(orch)
    if found is not None:
        return found[0]
    specs = [f.spec_id for f in orch.store.list_features()]
    if len(specs) > 1 and role is not None:
        specs = [s for s in specs if any(a.role == role for a in orch.store.list_agents(s))]
    if len(specs) == 1:
        return specs[0]
    which = f"with an agent {role} " if role else ""
    raise ValidationError(
        f"{len(specs)} features {which}in the store ({', '.join(specs) or 'none'}): "
        "name one with --spec SPEC (or run the command in a feature's worktree)"
    )


def inbox(orch: Orchestrator, spec_id: str | None = None, role: str | None = None) -> list[Message]:
    """The messages to ``role`` (or to every agent) of a feature (``inbox [ROLE] --json``)."""
    from .messages import inbox as read

    role = v.check_role(role) if role is not None else None
    return read(orch, feature_meant(orch, spec_id, role), role)


# ------------------------------------------------------------------------------ actions
def tell(
    orch: Orchestrator, role: str, text: str, sender: str | None = None, spec_id: str | None = None
) -> Sent:
    """Send ``text`` to the agent ``role`` (``tell ROLE TEXT --json``); the sender is the
    checked-out branch's role, else ``person``; an idle agent is nudged."""
    from .launcher import nudge
    from .messages import PERSON, check_sender
    from .messages import tell as send

    role = v.check_role(role)
    v.check_message(text)
    if sender is None:
        found = here(orch)
        sender = found[1] if found else PERSON
    return send(orch, feature_meant(orch, spec_id, role), role, text, check_sender(sender),
                nudge=nudge)  # fmt: skip


class Detected(NamedTuple):
    """What ``detect-conflicts --json`` prints: whether any conflict was found, and each
    feature's scan."""

    conflicts: bool
    features: list[FeatureScan]


def detect_conflicts(
    orch: Orchestrator,
    spec_id: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Detected:
    """Scan every active feature's branch pairs (``detect-conflicts --json``); with
    ``spec_id``, only that feature's scan is returned (every feature is scanned: one batch
    of merges)."""
    from .conflict_scan import detect_conflicts as scan

    if spec_id is not None:
        spec_id = orch.feature(spec_id).spec_id
    scans = [s for s in scan(orch, progress=progress) if spec_id in (None, s.spec_id)]
    return Detected(any(s.conflicts for s in scans), scans)


def record_action(orch: Orchestrator, spec_id: str, role: str, action: str, text: str,
                  **details: object) -> Event:  # fmt: skip
    """Record that the dashboard took ``action`` (a ``dashboard_action`` event of the agent
    ``role`` it concerns, its metadata naming the actor ``dashboard``)."""
    metadata = {"actor": ACTOR, "action": action, **details}
    return orch.log_event(spec_id, role, ACTION_EVENT, f"{ACTOR}: {text}", metadata=metadata)
