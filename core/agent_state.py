"""What each agent is doing, from its events (``agents``; the dashboard reuses
:func:`agent_views`).

The states come from Claude Code's hooks, never from reading a screen: the observation
hook (:mod:`.agent_event`) records each change as an event, ``up`` records
``agent_started`` and ``down`` ``agent_stopped``:

============  ==========================================================================
starting      ``agent_started`` (up) or ``agent_starting`` (SessionStart)
working       ``agent_working`` (UserPromptSubmit, PostToolUse, PostToolUseFailure)
waiting       ``agent_waiting`` (PermissionRequest; Notification permission_prompt)
idle          ``agent_idle`` (Stop; Notification idle_prompt)
exited        ``agent_exited`` (SessionEnd, except after /clear) or ``agent_stopped``
stale         starting or working, and no event of the agent for ``agents.stale_after``
              seconds (an interrupted turn fires no hook at all: it stays "working")
not_started   no such event yet
============  ==========================================================================

The current task is the agent's latest in-progress (else blocked) task; the last tool
call is the newest of its guard decisions and observed tool calls.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .messages import TYPES as MESSAGE_TYPES
from .messages import feature_events, pending_of

if TYPE_CHECKING:
    from .api import Orchestrator
    from .models import Agent, AgentStatus, Event, TaskState

#: the state each event puts its agent in
STATE_OF_EVENT = {
    "agent_started": "starting",
    "agent_starting": "starting",
    "agent_working": "working",
    "agent_waiting": "waiting",
    "agent_idle": "idle",
    "agent_exited": "exited",
    "agent_stopped": "exited",
}
#: the event the observation hook records for each state it sees
EVENT_OF_STATE = {
    "starting": "agent_starting",
    "working": "agent_working",
    "waiting": "agent_waiting",
    "idle": "agent_idle",
    "exited": "agent_exited",
}
STATE_TYPES = tuple(STATE_OF_EVENT)
STATES = ("not_started", "starting", "working", "waiting", "idle", "exited", "stale")
#: the states that become ``stale`` without a signal
STALE_STATES = ("starting", "working")
GUARD_DECISION = "guard_decision"
#: what one view reads of a feature's events
VIEW_TYPES = (*STATE_TYPES, *MESSAGE_TYPES, GUARD_DECISION)
TOOL_TEXT = 160


class AgentView(NamedTuple):
    """One agent: its state, since when, what it works on, where and how to reach it."""

    spec_id: str
    role: str
    branch: str
    state: str
    #: when it entered the state (the store's time), and how long ago that is
    since: str | None
    seconds_in_state: float | None
    #: the time of its latest event of any kind
    last_signal: str | None
    #: what the state is about: the permission it waits for, the last prompt...
    detail: str | None
    task: str | None
    last_tool: str | None
    worktree: str | None
    attach: str | None
    session_id: str | None
    pid: int | None
    pending_messages: int


def seconds(stamp: str | None) -> float | None:
    """A store time (``YYYY-MM-DDTHH:MM:SS[.fff][Z]``, or with a space) as epoch
    seconds; None when it is none of those."""
    if not stamp:
        return None
    text = stamp.strip().replace(" ", "T").removesuffix("Z")
    whole, _, fraction = text.partition(".")
    try:
        parsed = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
        return parsed + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)
    except ValueError:
        return None


def latest_state(events: Sequence[Event]) -> tuple[str, Event | None, Event | None]:
    """(state, the event that entered it, the latest state event) from the agent's
    events, oldest first; ``not_started`` without state events."""
    states = [e for e in events if e.event_type in STATE_OF_EVENT]
    if not states:
        return "not_started", None, None
    state = STATE_OF_EVENT[states[-1].event_type]
    entered = states[-1]
    for event in reversed(states):
        if STATE_OF_EVENT[event.event_type] != state:
            break
        entered = event
    return state, entered, states[-1]


def _tool(event: Event) -> tuple[str, str] | None:
    meta = event.metadata or {}
    tool = meta.get("tool")
    if not isinstance(tool, str) or not tool or tool == "None":
        return None
    text = meta.get("input") if event.event_type == GUARD_DECISION else meta.get("detail")
    return event.created_at, f"{tool}: {text}"[:TOOL_TEXT] if text else tool


def last_tool(events: Iterable[Event]) -> str | None:
    found = [t for t in map(_tool, events) if t is not None]
    return found[-1][1] if found else None


def current_task(role: str, tasks: Iterable[TaskState]) -> str | None:
    """The agent's latest in-progress task, else its latest blocked one."""
    mine = sorted((t for t in tasks if t.role == role), key=lambda t: t.updated_at)
    for status in ("in-progress", "blocked"):
        chosen = [t for t in mine if t.status == status]
        if chosen:
            return f"{chosen[-1].task_id} ({status})"
    return None


def _started(events: Sequence[Event]) -> Mapping[str, Any]:
    for event in reversed(events):
        if event.event_type == "agent_started":
            return event.metadata or {}
    return {}


def _latest(events: Sequence[Event], key: str) -> object:
    """The newest state event's metadata ``key`` (None when none has it)."""
    for event in reversed(events):
        if event.event_type in STATE_OF_EVENT and (event.metadata or {}).get(key):
            return (event.metadata or {})[key]
    return None


def view(
    agent: Agent,
    events: Sequence[Event],
    status: AgentStatus | None,
    tasks: Sequence[TaskState],
    *,
    now: float,
    stale_after: float,
    gone: bool = False,
) -> AgentView:
    """The agent's view from its events (state, message and guard events, oldest first),
    its status row (the time of its latest event) and the feature's task states;
    ``gone``: the process ``up`` started for it is known to have ended (killed: no
    SessionEnd), so it is ``exited`` whatever its hooks said last."""
    state, entered, latest = latest_state(events)
    times = (seconds(status.last_event_at) if status else None,
             seconds(latest.created_at) if latest else None)  # fmt: skip
    signals = [s for s in times if s is not None]
    last_signal_at = max(signals) if signals else None
    last_signal = status.last_event_at if status and status.last_event_at else None
    if last_signal is None and latest is not None:
        last_signal = latest.created_at
    since = entered.created_at if entered else None
    since_at = seconds(since)
    if state in STALE_STATES and last_signal_at is not None and now - last_signal_at > stale_after:
        state, since, since_at = "stale", last_signal, last_signal_at
    started = _started(events)
    detail = latest.message if latest is not None else None
    if gone and state not in ("exited", "not_started"):
        state, since, since_at = "exited", last_signal, last_signal_at
        detail = f"its process (pid {started.get('pid')}) ended without ending its session"
    worktree = _latest(events, "worktree")
    session_id = _latest(events, "session_id")
    pid = started.get("pid")
    return AgentView(
        spec_id=agent.spec_id,
        role=agent.role,
        branch=agent.branch_name,
        state=state,
        since=since,
        seconds_in_state=round(max(0.0, now - since_at), 1) if since_at is not None else None,
        last_signal=last_signal,
        detail=detail,
        task=current_task(agent.role, tasks),
        last_tool=last_tool(events),
        worktree=str(worktree) if worktree else None,
        attach=f"claude-orchestrator attach {agent.role}" if started.get("runner") else None,
        session_id=str(session_id) if session_id else None,
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        pending_messages=len(pending_of(events)),
    )


def agent_views(orch: Orchestrator, spec_id: str | None = None) -> list[AgentView]:
    """Every agent's view (of one feature, or of every feature), overseer first, then by
    role; reads only: a feature's state, message and guard events in one query (a short
    transaction), none of its other events."""
    if spec_id is not None:
        features = [orch.feature(spec_id).spec_id]
    else:
        features = [f.spec_id for f in orch.store.list_features()]
    store, now, stale_after = orch.store, time.time(), orch.config.stale_after
    views: list[AgentView] = []
    for feature in features:
        by_role: dict[str, list[Event]] = {}
        for event in feature_events(store, feature, VIEW_TYPES):
            by_role.setdefault(event.role, []).append(event)
        rows = {row.role: row for row in store.feature_status(feature)}
        tasks = store.task_states(feature)
        for agent in store.list_agents(feature):
            events = by_role.get(agent.role, [])
            gone = process_gone(_started(events))
            views.append(view(agent, events, rows.get(agent.role), tasks, now=now,
                              stale_after=stale_after, gone=gone))  # fmt: skip
    return views


def process_gone(started: Mapping[str, Any]) -> bool:
    """Whether the process an ``agent_started`` event names has ended: only on the
    machine that started it (its ``host``), where its ``process`` tag (pid namespace,
    pid, start time) tells a reused pid from it."""
    import platform

    from .fsutil import owner_alive

    tag = started.get("process")
    if not isinstance(tag, str) or started.get("host") != platform.node():
        return False
    return owner_alive(tag) is False
