"""The domain rules of a task's state, from its events (pure: no I/O).

Every store derives a task's state with :func:`derive_task_state` (the built-in store
keeps the result in a summary table); sync-status logs an action only when
:func:`changes_state` says it moves the branch's state; the overseer's checkboxes
follow :func:`checkbox_states`.
"""

from collections.abc import Iterable, Sequence
from typing import NamedTuple

#: the event types that move a task's state (other events of a task are history only)
STATE_EVENTS = (
    "task_started",
    "task_blocked",
    "task_completed",
    "task_reopened",
    "task_merged",
    "blocker_resolved",
)
_DONE = ("completed", "merged")
_PRECEDENCE = {"reopened": 1, "in-progress": 2, "blocked": 3, "completed": 4, "merged": 5}


class TaskEvent(NamedTuple):
    """One event of one task, as the state derivation needs it."""

    id: int
    #: who logged it: one agent, so one branch; a source's events are in its history order
    source: int
    event_type: str
    commit_hash: str | None = None
    created_at: str = ""
    #: a retraction (a ``task_reopened`` that sync-status logs when a rewritten commit
    #: no longer says what it said): the id of the event of the same source it takes back
    retracts: int | None = None


class DerivedState(NamedTuple):
    #: in-progress, blocked, completed, merged, or reopened (reopened, nothing since)
    status: str
    #: explicitly reopened, and no standing completion anywhere: clears a ticked box
    reopened: bool
    #: the event that decided the status
    event: TaskEvent


def source_state(events: Iterable[TaskEvent]) -> DerivedState | None:
    """The state one source (one agent's branch) gives a task, from its events.

    Read in id order, which is the order of the branch's history: a completion is
    sticky (a later start or block does not undo it); a reopen undoes it and a new
    completion ends the reopen; merged stays merged until a reopen; a resolved
    blocker makes a blocked task in progress again. A retraction takes its event out
    as if it had never been logged; a retracted completion that nothing else of the
    source replaces clears the box as a reopen does. None: nothing that moves a state.
    """
    ordered = sorted(events, key=lambda e: e.id)
    retractions = [e for e in ordered if e.retracts is not None]
    gone = {e.retracts for e in retractions}
    kept = [e for e in ordered if e.id not in gone and e.retracts is None]
    state = _replay(kept)
    undone = [e for e in ordered if e.id in gone and e.event_type in ("task_completed",
                                                                        "task_merged")]  # fmt: skip
    if not undone or (state is not None and state.status in _DONE):
        return state
    if state is None:
        return DerivedState("reopened", True, max(retractions, key=lambda e: e.id))
    return state._replace(reopened=True)


def _replay(events: Sequence[TaskEvent]) -> DerivedState | None:
    state: DerivedState | None = None
    for event in events:
        kind = event.event_type
        status = state.status if state is not None else None
        if kind == "task_merged" or (kind == "task_completed" and status not in _DONE):
            state = DerivedState("merged" if kind == "task_merged" else "completed", False, event)
        elif kind == "task_reopened":
            state = DerivedState("reopened", True, event)
        elif status in _DONE:
            continue
        elif kind == "task_started" and status != "in-progress":
            state = DerivedState("in-progress", state is not None and state.reopened, event)
        elif kind == "task_blocked" and status != "blocked":
            state = DerivedState("blocked", state is not None and state.reopened, event)
        elif kind == "blocker_resolved" and state is not None and status == "blocked":
            state = state._replace(status="in-progress", event=event)
    return state


def derive_task_state(events: Iterable[TaskEvent]) -> DerivedState | None:
    """A task's state from all its events: a function of the *set* of events.

    Each source is read on its own (:func:`source_state`); then the strongest wins:
    merged, completed, blocked, in progress, reopened -- so a task is completed when any
    branch completed it and did not reopen it afterwards, whatever order the branches
    were synced in. Among equals the newest deciding event names the source.
    """
    by_source: dict[int, list[TaskEvent]] = {}
    for event in events:
        by_source.setdefault(event.source, []).append(event)
    states = [s for s in map(source_state, by_source.values()) if s is not None]
    if not states:
        return None
    best = max(states, key=lambda s: (_PRECEDENCE[s.status], s.event.id))
    reopened = best.status not in _DONE and any(s.reopened for s in states)
    return best._replace(reopened=reopened)


def changes_state(events: Sequence[TaskEvent], event: TaskEvent) -> bool:
    """Whether appending ``event`` to one source's ``events`` changes the state it gives."""
    before = source_state(events)
    after = source_state([*events, event])
    if before is None or after is None:
        return before != after
    return (before.status, before.reopened) != (after.status, after.reopened)


def checkbox_states(states: Iterable[tuple[str, str, bool]]) -> dict[str, bool]:
    """What the overseer's checkboxes must show, from ``(task id, status, reopened)``.

    Completed and merged tasks are ticked; a reopened one is cleared; every other box
    is left as it is -- so a box ticked by hand is never cleared unless the task is
    explicitly reopened.
    """
    boxes: dict[str, bool] = {}
    for task_id, status, reopened in states:
        if status in _DONE:
            boxes[task_id] = True
        elif reopened:
            boxes[task_id] = False
    return boxes
