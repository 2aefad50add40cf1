"""The rules a store applies to its records (pure: no I/O).

A store reads what a rule needs, calls it, and persists what it decides: whether an
agent is blocked, which tasks a merged pull request merges, which recorded conflicts a
scan keeps, resolves or opens, what a synced commit logs, and each agent's summary row.
The events' wording is in :mod:`.domain`; a task's state in :mod:`.domain_tasks`.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from .domain_tasks import STATE_EVENTS, TaskEvent, changes_state, derive_task_state, source_state
from .errors import ValidationError
from .models import (
    Agent,
    AgentStatus,
    Blocker,
    Conflict,
    Event,
    Feature,
    FoundConflict,
    PullRequest,
    SyncCommit,
    TaskState,
)

#: an id that sorts after every stored event: "an event appended now"
NEXT_ID = 2**62
ACTIVE, BLOCKED = "active", "blocked"


# -- features, agents, blockers, pull requests ---------------------------------------------
def check_agents(roles: Iterable[str]) -> None:
    """A feature is added with its overseer."""
    if "overseer" not in set(roles):
        raise ValidationError("a feature needs an overseer agent")


def status_after_block() -> str:
    """An agent with an open blocker is blocked."""
    return BLOCKED


def status_after_resolve(status: str, open_blockers: int) -> str:
    """A blocked agent whose last open blocker is resolved is active again."""
    return ACTIVE if status == BLOCKED and open_blockers == 0 else status


def check_cursor_move(consumer: str, expected: int | None, new: int) -> None:
    """A delivery cursor is a consumer's, starts at an event id (0 or more) and never
    moves back: ``new`` below ``expected`` is refused before the store is read."""
    if not consumer:
        raise ValidationError("a delivery cursor needs a consumer: the notifier's name")
    if new < 0 or (expected is not None and new < expected):
        raise ValidationError(
            f"the delivery cursor of {consumer} cannot move to event {new}: it moves "
            f"forward only, from {expected if expected is not None else 'none'}"
        )


def check_mergeable(pr_id: int, status: str) -> None:
    if status in ("merged", "closed"):
        raise ValidationError(f"pull request #{pr_id} is already {status}")


def merged_tasks(by_task: Mapping[str, Sequence[TaskEvent]]) -> list[tuple[str, str | None]]:
    """(task id, commit) of the tasks a merged PR merges: those its author's own events
    (``by_task``: task id -> the author's state events of that task) leave completed."""
    done = []
    for task_id in sorted(by_task):
        state = source_state(by_task[task_id])
        if state is not None and state.status == "completed":
            done.append((task_id, state.event.commit_hash))
    return done


# -- conflict scans ------------------------------------------------------------------------
class RecordedConflict(NamedTuple):
    """An open conflict a scan recorded earlier."""

    id: int
    role: str
    branch: str
    other_branch: str
    fingerprint: str


class ScanPlan(NamedTuple):
    #: (recorded conflict, why it is resolved: "no longer conflicts" / "file set changed")
    resolve: list[tuple[RecordedConflict, str]]
    #: conflicts to record now
    open: list[FoundConflict]


def fingerprint(files: Sequence[str]) -> str:
    """A conflict's file set as the store compares it."""
    return json.dumps(sorted(set(files)))


def _pair(a: str, b: str) -> tuple[str, str]:
    first, second = sorted((a, b))
    return first, second


def reconcile_scan(
    scanned: Sequence[tuple[str, str]],
    found: Sequence[FoundConflict],
    recorded: Sequence[RecordedConflict],
) -> ScanPlan:
    """A conflict is its pair of branches and its set of files: an unchanged one is kept
    as it is; a changed file set resolves the old record and opens a new one; a pair
    that was scanned and is clean now has its open conflict resolved; a pair that was
    not scanned this time is left alone."""
    scanned_keys = {_pair(*pair) for pair in scanned}
    existing = {_pair(r.branch, r.other_branch): r for r in recorded}
    now_found = {_pair(f.branch, f.other_branch): f for f in found}
    resolve = []
    for key, row in existing.items():
        current = now_found.get(key)
        if key not in scanned_keys:
            continue
        if current is not None and fingerprint(current.files) == row.fingerprint:
            continue
        resolve.append((row, "no longer conflicts" if current is None else "file set changed"))
    opened = [
        item for key, item in now_found.items()
        if key not in existing or fingerprint(item.files) != existing[key].fingerprint
    ]  # fmt: skip
    return ScanPlan(resolve, opened)


# -- sync-status ---------------------------------------------------------------------------
class SyncedAction(NamedTuple):
    """What one synced change (patch id) of a branch said about a task."""

    patch_id: str
    task_id: str
    action: str
    #: the event that logged it (None: it changed nothing when it was synced)
    event_id: int | None
    #: the change's latest commit
    commit: str | None


#: what a rewrite does with one synced action of a change it rewrote
CARRY, RETRACT, DROP = "carry", "retract", "drop"


def new_actions(
    commit: SyncCommit, said: Iterable[tuple[str, str]]
) -> list[tuple[str, str, str | None]]:
    """The actions of a commit that its change (patch id) did not say before, once each."""
    seen = set(said)
    fresh = []
    for task_id, action, reason in commit.actions:
        if (task_id, action) not in seen:
            seen.add((task_id, action))
            fresh.append((task_id, action, reason))
    return fresh


def plan_rewrite(
    commit: SyncCommit, rows: Iterable[SyncedAction]
) -> list[tuple[SyncedAction, str]]:
    """A commit rewrote synced changes: what they said that its message still says (a
    start counts as said while the message names the task) is carried over to the
    commit's change, event and all (:data:`CARRY`); what it no longer says is retracted
    when it was logged (:data:`RETRACT`), else forgotten (:data:`DROP`). In the order
    the store applies them: logged actions first, in the order they were logged."""
    now = {(task_id, action) for task_id, action, _ in commit.actions}
    now |= {(task_id, "started") for task_id, _ in now}
    ordered = sorted(rows, key=lambda r: (r.event_id is None, r.event_id or 0))
    return [
        (r, CARRY if (r.task_id, r.action) in now else DROP if r.event_id is None else RETRACT)
        for r in ordered
    ]


def logs_action(branch_events: Sequence[TaskEvent], kind: str, source: int) -> bool:
    """Whether a synced action is logged: only when it changes the state the branch
    (its agent's events of the task, ``branch_events``) gives the task."""
    return changes_state(branch_events, TaskEvent(NEXT_ID, source, f"task_{kind}"))


# -- task states and the summary -----------------------------------------------------------
def retracted_id(event: Event) -> int | None:
    """The event a sync-status retraction takes back, or None."""
    meta = event.metadata or {}
    if event.event_type != "task_reopened" or meta.get("source") != "sync-status":
        return None
    value = meta.get("retracts")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def task_event(event: Event, source: int) -> TaskEvent:
    """An event as the state derivation reads it; ``source``: its agent's id."""
    return TaskEvent(
        event.id, source, event.event_type, event.commit_hash, event.created_at,
        retracted_id(event),
    )  # fmt: skip


def moves_state(event: Event) -> bool:
    return bool(event.task_id) and event.event_type in STATE_EVENTS


def task_states(spec_id: str, events: Iterable[Event]) -> list[TaskState]:
    """Every task's state in a feature, from the feature's events (ordered by task id)."""
    roles: dict[str, int] = {}
    by_task: dict[str, list[TaskEvent]] = {}
    for event in events:
        if moves_state(event):
            source = roles.setdefault(event.role, len(roles))
            by_task.setdefault(str(event.task_id), []).append(task_event(event, source))
    role_of = {source: role for role, source in roles.items()}
    states = []
    for task_id in sorted(by_task):
        state = derive_task_state(by_task[task_id])
        if state is not None:
            decided = state.event
            states.append(TaskState(spec_id, task_id, state.status, role_of[decided.source],
                                    decided.commit_hash or None, decided.created_at,
                                    state.reopened))  # fmt: skip
    return states


class FeatureRecords(NamedTuple):
    """Everything of one feature the summary counts."""

    feature: Feature
    agents: list[Agent]
    events: list[Event]
    pull_requests: list[PullRequest]
    conflicts: list[Conflict]
    blockers: list[Blocker]


def role_order(role: str) -> tuple[bool, str]:
    """Agents are listed overseer first, then by role."""
    return role != "overseer", role


def summary(records: FeatureRecords) -> list[AgentStatus]:
    """One status row per agent of a feature (one row without an agent if it has none)."""
    feature = records.feature
    head = (feature.spec_id, feature.name, feature.status)
    if not records.agents:
        return [AgentStatus(*head, None, None, None)]
    tasks = task_states(feature.spec_id, records.events)
    rows = []
    for agent in sorted(records.agents, key=lambda a: role_order(a.role)):
        mine = [e for e in records.events if e.role == agent.role]
        done = [t.status for t in tasks if t.role == agent.role]
        prs = [p.status for p in records.pull_requests if p.role == agent.role]
        rows.append(AgentStatus(
            *head, agent.role, agent.branch_name, agent.status, len(mine),
            mine[-1].event_type if mine else None, mine[-1].created_at if mine else None,
            done.count("in-progress"), done.count("completed") + done.count("merged"),
            done.count("blocked"), len(prs), prs.count("merged"),
            sum(1 for c in records.conflicts if not c.resolved
                and agent.role in (c.role, c.other_role)),
            sum(1 for b in records.blockers if b.role == agent.role and b.status == ACTIVE),
            done.count("merged"),
        ))  # fmt: skip
    return rows
