"""Flow metrics, cost attribution and roll-ups, from the store's records (pure: no I/O,
no store, no clock: ``now`` is a parameter).

Times inside are whole milliseconds on the store's clock (the records' ``created_at``);
results carry them as :mod:`~claude_orchestrator.metrics_model` says. A record whose time
does not parse is left out of every figure that needs its time.

**A task's state at a time** is :func:`~claude_orchestrator.domain_tasks.derive_task_state`
over the task's events stored at or before it (the domain's rule, never a second one):
in progress, blocked, completed, merged or reopened. Deriving it after each event costs
O(k) for a task with k events, so O(k²) per task; sync-status logs only changes of
state, which keeps k to a handful.

**Attribution** (:func:`attribute`): a reply belongs to the task its agent ``(spec,
role)`` had then: among the tasks the agent *claimed* (started; a task it blocked without
ever starting is claimed by that block) whose state then is in progress, the one it
started most recently; when none is in progress, the most recently claimed of those
blocked (blocked time is still that task's while the agent has nothing else in progress,
as the dashboard's current task says); else none. A task another agent completed is
completed for everyone. An event and a reply at the same millisecond: the event first.
Each agent's answer is a step function built once in one sweep over the task events
(a heap per agent and state); each reply is one binary search: O((n + m) log(n + m))
for n replies and m events.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from . import domain_rules as rules
from .agent_state import STATE_OF_EVENT, seconds
from .domain_tasks import TaskEvent, derive_task_state
from .errors import ValidationError
from .metrics_model import (
    GROUPINGS,
    UNATTRIBUTED,
    AgentFlow,
    Attributed,
    BurnPoint,
    ConflictFlow,
    CostPoint,
    CostRow,
    FeatureFlow,
    FlowReport,
    PullRequestFlow,
    TaskFlow,
    Tokens,
    UnknownModel,
)
from .metrics_prices import Price, PriceTable
from .models import Blocker, Conflict, Event, PullRequest, TestResult, Usage

#: task states an agent's replies are charged to
IN_PROGRESS, BLOCKED = "in-progress", "blocked"
DONE = ("completed", "merged")
#: the key of the total row of a roll-up; of a reply's PR when its task is in none
TOTAL, UNMERGED = "total", "unmerged"
DAY_MS = 86_400_000
#: the time each agent state counts as (``starting``: the session loads, nobody is asked
#: anything and the model does no work yet: idle; ``exited``: not counted)
STATE_BUCKET = {"starting": "idle", "working": "working", "waiting": "waiting", "idle": "idle"}


# ---------------------------------------------------------------------------------- time
def _ms(stamp: str | None) -> int | None:
    """A store time as whole milliseconds since the epoch; None when it does not parse
    (:func:`~claude_orchestrator.agent_state.seconds`' rule; the stores' own form is
    read without :func:`time.strptime`, which would be most of the time on 100,000
    replies)."""
    found = _STAMP.fullmatch(stamp) if stamp else None
    if found is not None:
        day = _day_ms(found[1])
        hours, minutes, whole = int(found[2]), int(found[3]), int(found[4])
        if day is not None and hours < 24 and minutes < 60 and whole < 60:
            return day + ((hours * 60 + minutes) * 60 + whole) * 1000 + int(found[5])
    parsed = seconds(stamp)
    return None if parsed is None else round(parsed * 1000)


_STAMP = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", re.ASCII)


@functools.lru_cache(maxsize=4096)
def _day_ms(day: str) -> int | None:
    parsed = seconds(f"{day}T00:00:00")
    return None if parsed is None else round(parsed) * 1000


def _stamp(ms: int) -> str:
    """Milliseconds since the epoch as a store time (``YYYY-MM-DDTHH:MM:SS.sssZ``)."""
    days, rest = divmod(ms, DAY_MS)
    minutes, rest = divmod(rest, 60_000)
    return (
        f"{_day(days)}T{minutes // 60:02d}:{minutes % 60:02d}:{rest // 1000:02d}.{rest % 1000:03d}Z"
    )


@functools.lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(days * 86_400))


def _now_ms(now: str) -> int:
    found = _ms(now)
    if found is None:
        raise ValidationError(f"now is {now!r}: give a UTC time YYYY-MM-DDTHH:MM:SS.sssZ")
    return found


def _span(start: int, end: int) -> float:
    """Seconds from ``start`` to ``end``, never negative."""
    return max(0, end - start) / 1000


def _timed(events: Iterable[Event]) -> list[tuple[int, Event]]:
    """(ms, event) of the events whose time parses, in store order (time, then id)."""
    timed = [(at, e) for e in events if (at := _ms(e.created_at)) is not None]
    timed.sort(key=lambda pair: (pair[0], pair[1].id))
    return timed


# --------------------------------------------------------------------------- clock skew
def clock_offsets(events: Sequence[Event]) -> dict[tuple[str, str], float]:
    """(spec, role) -> seconds to add to that agent's own clock to get the store's.

    The smallest ``created_at - metadata["clock"]`` over the agent's events that carry a
    ``clock`` (the agent machine's UTC time when its hook ran): a spooled event is
    stored late, never early, so the smallest is the truest. Agents with no such event
    are absent (their times are taken as they are)."""
    offsets: dict[tuple[str, str], int] = {}
    for event in events:
        clock = (event.metadata or {}).get("clock")
        stored = _ms(event.created_at)
        own = _ms(clock) if isinstance(clock, str) else None
        if stored is None or own is None:
            continue
        key = (event.spec_id, event.role)
        offsets[key] = min(offsets.get(key, stored - own), stored - own)
    return {key: ms / 1000 for key, ms in offsets.items()}


# ---------------------------------------------------------------------- task timelines
class _Step(NamedTuple):
    """A task event with the task's state after it."""

    at: int
    event: Event
    spec_id: str
    task_id: str
    status: str | None


def _task_steps(events: Iterable[Event]) -> list[_Step]:
    """Every task event in store order, each with its task's state after it."""
    sources: dict[str, int] = {}
    history: dict[tuple[str, str], list[TaskEvent]] = {}
    steps = []
    for at, event in _timed(e for e in events if rules.moves_state(e)):
        key = (event.spec_id, str(event.task_id))
        source = sources.setdefault(event.role, len(sources))
        seen = history.setdefault(key, [])
        seen.append(rules.task_event(event, source))
        state = derive_task_state(seen)
        steps.append(_Step(at, event, *key, state.status if state is not None else None))
    return steps


class _Agent:
    """One agent's claims on tasks and the step function of its current task."""

    __slots__ = ("claims", "heaps", "tasks", "times")

    def __init__(self) -> None:
        #: task -> (ms, event id) of the claim (latest start, else first block)
        self.claims: dict[str, tuple[int, int]] = {}
        #: state -> heap of (-claim ms, -claim id, task); stale entries are dropped lazily
        self.heaps: dict[str, list[tuple[int, int, str]]] = {IN_PROGRESS: [], BLOCKED: []}
        self.times: list[int] = []
        self.tasks: list[str | None] = []

    def claim(self, step: _Step) -> bool:
        kind, task = step.event.event_type, step.task_id
        if kind == "task_started" or (kind == "task_blocked" and task not in self.claims):
            self.claims[task] = (step.at, step.event.id)
            return True
        return False

    def update(self, step: _Step, status: dict[str, str | None]) -> None:
        """After ``step`` of a task it claimed: note its current task from then on."""
        if step.status in self.heaps:
            at, event_id = self.claims[step.task_id]
            heapq.heappush(self.heaps[step.status], (-at, -event_id, step.task_id))
        current = self._current(status)
        if self.times and self.times[-1] == step.at:
            self.tasks[-1] = current
        elif not self.tasks or self.tasks[-1] != current:
            self.times.append(step.at)
            self.tasks.append(current)

    def _current(self, status: dict[str, str | None]) -> str | None:
        for state in (IN_PROGRESS, BLOCKED):
            heap = self.heaps[state]
            while heap:
                at, event_id, task = heap[0]
                if status.get(task) == state and self.claims[task] == (-at, -event_id):
                    return task
                heapq.heappop(heap)
        return None

    def task_at(self, at: int) -> str | None:
        index = bisect_right(self.times, at) - 1
        return self.tasks[index] if index >= 0 else None


def _agents(events: Iterable[Event]) -> dict[tuple[str, str], _Agent]:
    """Each agent's current-task step function, from one sweep over the task events."""
    agents: dict[tuple[str, str], _Agent] = {}
    claimants: dict[tuple[str, str], list[str]] = {}
    status: dict[str, dict[str, str | None]] = {}
    for step in _task_steps(events):
        spec_status = status.setdefault(step.spec_id, {})
        spec_status[step.task_id] = step.status
        roles = claimants.setdefault((step.spec_id, step.task_id), [])
        role = step.event.role
        agent = agents.setdefault((step.spec_id, role), _Agent())
        if agent.claim(step) and role not in roles:
            roles.append(role)
        for claimant in roles:
            agents[(step.spec_id, claimant)].update(step, spec_status)
    return agents


# --------------------------------------------------------------------------- attribution
def attribute(
    usages: Sequence[Usage], events: Sequence[Event], prices: PriceTable
) -> list[Attributed]:
    """Each reply with its time on the store's clock and the task its agent had then.

    The reply's ``at`` is moved by its agent's :func:`clock_offsets` (from ``events``);
    its task is the one the module's rule gives (the agent's most recently started task
    in progress then, else its most recently claimed blocked one), None for a reply of
    no agent, before any task or between tasks; its cost from ``prices`` (None for a
    model neither the config nor the shipped table prices). A reply whose ``at`` does
    not parse keeps it, with no task. Sorted by time, then key.
    """
    offsets = {key: round(value * 1000) for key, value in clock_offsets(events).items()}
    agents = _agents(events)
    found = []
    price_of = functools.lru_cache(maxsize=None)(prices.price_of)
    for usage in usages:
        at = _ms(usage.at)
        task_id = None
        stamp = usage.at
        if at is not None:
            key = (usage.spec_id or "", usage.role or "")
            at += offsets.get(key, 0)
            stamp = _stamp(at)
            agent = agents.get(key) if usage.spec_id and usage.role else None
            task_id = agent.task_at(at) if agent is not None else None
        found.append(Attributed(usage, stamp, task_id, _cost(usage, price_of(usage.model))))
    found.sort(key=lambda a: (a.at, a.usage.key, a.usage.id))
    return found


def _cost(usage: Usage, price: Price | None) -> float | None:
    if price is None:
        return None
    return price.cost(usage.input_tokens, usage.output_tokens, usage.cache_write_tokens,
                      usage.cache_read_tokens, usage.cache_write_1h_tokens)  # fmt: skip


# ------------------------------------------------------------------------------ roll-ups
def rollup(
    attributed: Sequence[Attributed],
    by: str,
    events: Sequence[Event],
    pull_requests: Sequence[PullRequest],
) -> tuple[list[CostRow], CostRow, list[UnknownModel]]:
    """The replies' tokens and cost grouped ``by`` one of :data:`GROUPINGS`.

    A row is one (spec, key): ``agent`` the role; ``task`` the task id, or
    ``unattributed``; ``pr`` ``#<number>`` (the store id of a PR without a number) of
    the PR the reply's task was last merged in (its latest ``task_merged`` event), else
    ``unmerged``; ``feature`` the spec id; ``day`` the store-clock day (``YYYY-MM-DD``)
    of ``at``, over every feature (spec None). A reply of no agent is ``unattributed``
    in each grouping but ``day``. Rows by cost, highest first, then key; the total row's
    key is ``total`` and its spec the replies' one feature (None for several). Costs are
    exactly rounded sums (:func:`math.fsum`), so no input order changes them. The
    unknown models: each unpriced model with its replies and tokens, by name.
    """
    if by not in GROUPINGS:
        raise ValidationError(f"cannot group by {by!r}: choose one of {', '.join(GROUPINGS)}")
    pr_of = _pr_keys(events, pull_requests) if by == "pr" else {}
    groups: dict[tuple[str | None, str], list[Attributed]] = {}
    for item in attributed:
        groups.setdefault(_group(item, by, pr_of), []).append(item)
    rows = [_row(key, spec, items) for (spec, key), items in groups.items()]
    rows.sort(key=lambda r: (-r.cost, r.key, r.spec_id or ""))
    specs = {a.usage.spec_id for a in attributed}
    total = _row(TOTAL, specs.pop() if len(specs) == 1 else None, attributed)
    return rows, total, _unknown(attributed)


def _group(item: Attributed, by: str, pr_of: dict[tuple[str, str], str]) -> tuple[str | None, str]:
    spec = item.usage.spec_id
    if by == "day":
        return None, item.at[:10]
    if by == "feature":
        return spec, spec or UNATTRIBUTED
    if by == "agent":
        return spec, item.usage.role or UNATTRIBUTED
    if by == "task":
        return spec, item.task_id or UNATTRIBUTED
    if item.task_id is None or spec is None:
        return spec, UNMERGED
    return spec, pr_of.get((spec, item.task_id), UNMERGED)


def _pr_keys(
    events: Sequence[Event], pull_requests: Sequence[PullRequest]
) -> dict[tuple[str, str], str]:
    """(spec, task) -> ``#<number>`` of the PR its latest ``task_merged`` event names."""
    numbers = {pr.id: pr.pr_number for pr in pull_requests}
    keys = {}
    for _, event in _timed(e for e in events if e.event_type == "task_merged" and e.task_id):
        pr_id = _int((event.metadata or {}).get("pull_request_id"))
        if pr_id is not None:
            number = numbers.get(pr_id)
            label = number if number is not None else pr_id
            keys[(event.spec_id, str(event.task_id))] = f"#{label}"
    return keys


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _row(key: str, spec_id: str | None, items: Sequence[Attributed]) -> CostRow:
    inputs = outputs = writes = reads = 0
    priced = []
    for item in items:
        usage = item.usage
        inputs += usage.input_tokens
        outputs += usage.output_tokens
        writes += usage.cache_write_tokens
        reads += usage.cache_read_tokens
        if item.cost is not None:
            priced.append(item.cost)
    tokens = Tokens(len(items), inputs, outputs, writes, reads)
    return CostRow(key, spec_id, tokens, math.fsum(priced), len(items) - len(priced))


def _unknown(attributed: Sequence[Attributed]) -> list[UnknownModel]:
    found: dict[str, tuple[int, int]] = {}
    for item in attributed:
        if item.cost is None:
            usage = item.usage
            messages, tokens = found.get(usage.model, (0, 0))
            total = (usage.input_tokens + usage.output_tokens + usage.cache_write_tokens
                     + usage.cache_read_tokens)  # fmt: skip
            found[usage.model] = (messages + 1, tokens + total)
    return [UnknownModel(model, *found[model]) for model in sorted(found)]


def cost_points(attributed: Sequence[Attributed]) -> list[CostPoint]:
    """The priced replies on a timeline (time, agent, cost), by time then role; replies
    of an unknown model are not on it (the reports list them apart)."""
    points = [CostPoint(a.at, a.usage.role, a.cost) for a in attributed if a.cost is not None]
    points.sort(key=lambda p: (p.at, p.role or "", p.cost))
    return points


# ---------------------------------------------------------------------------- burn-down
def burn_down(events: Sequence[Event], task_ids: Sequence[str], *, now: str) -> list[BurnPoint]:
    """How many of one feature's tasks were not done (completed or merged), over time.

    The feature's tasks are ``task_ids`` (tasks.md's, counted even without an event)
    and every task its events name; ``total`` is their number throughout. One point at
    the first task event, then one wherever the count changes (after all the events of
    that millisecond), then one at ``now`` (later than the last) with the count then;
    only that point when no task has an event.
    """
    end = _now_ms(now)
    steps = _task_steps(events)
    known = set(task_ids) | {s.task_id for s in steps}
    total = len(known)
    if not known:
        return []
    status: dict[str, str | None] = {}
    points: list[BurnPoint] = []
    done = 0
    for step in steps:
        done += (step.status in DONE) - (status.get(step.task_id) in DONE)
        status[step.task_id] = step.status
        remaining = total - done
        point = BurnPoint(_stamp(step.at), remaining, total)
        if points and points[-1].at == point.at:
            points[-1] = point
            if len(points) > 1 and points[-2].remaining == remaining:
                points.pop()
        elif not points or points[-1].remaining != remaining:
            points.append(point)
    last = _ms(points[-1].at) if points else None
    if last is None or end > last:
        remaining = points[-1].remaining if points else total
        points.append(BurnPoint(_stamp(end), remaining, total))
    return points


# --------------------------------------------------------------------------------- flow
def flow(
    spec_id: str,
    events: Sequence[Event],
    pull_requests: Sequence[PullRequest],
    conflicts: Sequence[Conflict],
    test_results: Sequence[TestResult],
    blockers: Sequence[Blocker],
    task_ids: Sequence[str],
    *,
    now: str,
) -> FlowReport:
    """Where one feature's time went, from its records (of other features: ignored).

    **Tasks** (tasks.md's ``task_ids`` in their order, then the others events name, by
    id; a task without events has None times and an empty role): ``started_at`` its
    first start (a start sync-status retracted does not count); ``completed_at`` the
    last time its state became done (completed or merged) from not done, None unless it
    is done now; so a reopened and again completed task's cycle runs from its first
    start to its last completion; ``merged_at`` the last time it became merged, None
    unless it is merged now, with the PR that ``task_merged`` event names;
    ``cycle_seconds`` started -> completed (None when it was completed before it was
    started); ``merge_wait_seconds`` completed -> merged; ``blocked_seconds`` the time
    its state was blocked (until ``now`` while it is); ``blocked_by`` each of its
    ``task_blocked`` events' blocker: the blocker record's description (``events
    block``), else the event's reason (sync-status: the blocker it opens says the
    same), else its message; ``role`` the agent of its last start, else of its first
    event.

    **Agents** (every role with an event, overseer first): ``tasks_done`` the tasks whose
    state is done and decided by the agent (as ``events status`` counts them);
    throughput those per day from its first to its last event (None for a span of 0);
    working, waiting and idle from its state events: each state lasts until the agent's
    next state event, the last until ``now`` unless it is ``exited``; ``starting``
    counts as idle, ``exited`` as none of them.

    **The feature**: every recorded conflict, open until resolved (or ``now``); the
    guard's denials (``guard_decision`` events that say ``deny``); red on the overseer
    while green on the implementor: the overseer's failed test runs at whose time some
    implementor had a PR merged already and was green: its latest run of each test
    type it ran (at or before then) none failed and one passed; the PRs (by opening)
    with their time to merge and the tasks merged with them.
    """
    end = _now_ms(now)
    mine = [e for e in events if e.spec_id == spec_id]
    prs = [p for p in pull_requests if p.spec_id == spec_id]
    descriptions = {b.id: b.description for b in blockers if b.spec_id == spec_id}
    feature = FeatureFlow(
        spec_id,
        _conflict_flows([c for c in conflicts if c.spec_id == spec_id], end),
        sum(1 for e in mine if e.event_type == "guard_decision"
            and (e.metadata or {}).get("decision") == "deny"),
        _red_on_overseer([r for r in test_results if r.spec_id == spec_id], prs),
        _pr_flows(prs, mine),
    )  # fmt: skip
    return FlowReport(spec_id, now, _task_flows(spec_id, mine, descriptions, task_ids, end),
                      _agent_flows(spec_id, mine, end), feature)  # fmt: skip


def _task_flows(
    spec_id: str,
    events: Sequence[Event],
    descriptions: dict[int, str],
    task_ids: Sequence[str],
    end: int,
) -> list[TaskFlow]:
    by_task: dict[str, list[_Step]] = {}
    for step in _task_steps(events):
        by_task.setdefault(step.task_id, []).append(step)
    retracted = {found for e in events if (found := rules.retracted_id(e)) is not None}
    order = dict.fromkeys([*task_ids, *sorted(by_task)])
    return [_task_flow(spec_id, task, by_task.get(task, []), (retracted, descriptions), end)
            for task in order]  # fmt: skip


def _task_flow(
    spec_id: str,
    task_id: str,
    steps: Sequence[_Step],
    known: tuple[set[int], dict[int, str]],
    end: int,
) -> TaskFlow:
    retracted, descriptions = known
    if not steps:
        return TaskFlow(spec_id, task_id, "", None, None, None, None, None, 0.0, [], None)
    kept = [s.event for s in steps if s.event.id not in retracted]
    starts = [e for e in kept if e.event_type == "task_started"]
    started = _ms(starts[0].created_at) if starts else None
    completed = merged = None
    latest_merge = merge = None
    blocked = 0
    previous: str | None = None
    for index, step in enumerate(steps):
        if step.event.event_type == "task_merged":
            latest_merge = step.event
        if step.status in DONE and previous not in DONE:
            completed = step.at
        if step.status == "merged" and previous != "merged":
            merged, merge = step.at, latest_merge
        if step.status == BLOCKED:
            until = steps[index + 1].at if index + 1 < len(steps) else end
            blocked += max(0, until - step.at)
        previous = step.status
    if previous not in DONE:
        completed = None
    if previous != "merged":
        merged = merge = None
    cycle = (completed - started) / 1000 if completed is not None and started is not None \
        and started <= completed else None  # fmt: skip
    wait = (merged - completed) / 1000 if merged is not None and completed is not None else None
    return TaskFlow(
        spec_id, task_id, (starts[-1] if starts else steps[0].event).role,
        _stamp(started) if started is not None else None,
        _stamp(completed) if completed is not None else None,
        _stamp(merged) if merged is not None else None,
        cycle, wait, blocked / 1000,
        [_blocker(e, descriptions) for e in kept if e.event_type == "task_blocked"],
        _int((merge.metadata or {}).get("pull_request_id")) if merge is not None else None,
    )  # fmt: skip


def _blocker(event: Event, descriptions: dict[int, str]) -> str:
    meta = event.metadata or {}
    found = descriptions.get(_int(meta.get("blocker_id")) or 0)
    reason = meta.get("reason")
    return found or (reason if isinstance(reason, str) and reason else event.message)


def _agent_flows(spec_id: str, events: Sequence[Event], end: int) -> list[AgentFlow]:
    done: dict[str, int] = {}
    for state in rules.task_states(spec_id, events):
        if state.status in DONE:
            done[state.role] = done.get(state.role, 0) + 1
    by_role: dict[str, list[tuple[int, Event]]] = {}
    for at, event in _timed(events):
        by_role.setdefault(event.role, []).append((at, event))
    flows = []
    for role in sorted(by_role, key=rules.role_order):
        timed = by_role[role]
        span = timed[-1][0] - timed[0][0]
        tasks_done = done.get(role, 0)
        spent = _state_time(timed, end)
        flows.append(AgentFlow(spec_id, role, tasks_done,
                               tasks_done / (span / DAY_MS) if span > 0 else None,
                               spent["working"] / 1000, spent["waiting"] / 1000,
                               spent["idle"] / 1000))  # fmt: skip
    return flows


def _state_time(timed: Sequence[tuple[int, Event]], end: int) -> dict[str, int]:
    """Milliseconds working, waiting and idle, from an agent's events in store order."""
    states = [(at, STATE_OF_EVENT[e.event_type]) for at, e in timed
              if e.event_type in STATE_OF_EVENT]  # fmt: skip
    spent = {"working": 0, "waiting": 0, "idle": 0}
    for index, (at, state) in enumerate(states):
        bucket = STATE_BUCKET.get(state)
        if bucket is not None:
            until = states[index + 1][0] if index + 1 < len(states) else end
            spent[bucket] += max(0, until - at)
    return spent


def _conflict_flows(conflicts: Sequence[Conflict], end: int) -> list[ConflictFlow]:
    flows = []
    for conflict in conflicts:
        detected = _ms(conflict.detected_at)
        resolved = _ms(conflict.resolved_at) if conflict.resolved_at else None
        open_seconds = _span(detected, resolved if resolved is not None else end) \
            if detected is not None else 0.0  # fmt: skip
        flows.append(ConflictFlow(conflict.id, conflict.role, conflict.other_role,
                                  list(conflict.files), conflict.detected_at,
                                  conflict.resolved_at, open_seconds))  # fmt: skip
    flows.sort(key=lambda c: (_ms(c.detected_at) or 0, c.id))
    return flows


def _red_on_overseer(results: Sequence[TestResult], prs: Sequence[PullRequest]) -> int:
    merges: dict[str, list[int]] = {}
    for pr in prs:
        merged = _ms(pr.merged_at) if pr.merged_at else None
        if merged is not None:
            merges.setdefault(pr.role, []).append(merged)
    runs: dict[str, list[tuple[int, TestResult]]] = {}
    for result in results:
        at = _ms(result.created_at)
        if at is not None and result.role is not None:
            runs.setdefault(result.role, []).append((at, result))
    for found in runs.values():
        found.sort(key=lambda pair: (pair[0], pair[1].id))
    count = 0
    for at, run in runs.get("overseer", []):
        if run.status != "failed":
            continue
        count += any(role.startswith("implementor-") and _green(found, at)
                     and any(m <= at for m in merges.get(role, ()))
                     for role, found in runs.items())  # fmt: skip
    return count


def _green(runs: Sequence[tuple[int, TestResult]], at: int) -> bool:
    """Whether an agent's latest run of each test type, at or before ``at``, none failed
    and one passed."""
    latest = {r.test_type: r.status for t, r in runs if t <= at}
    return "failed" not in latest.values() and "passed" in latest.values()


def _pr_flows(prs: Sequence[PullRequest], events: Sequence[Event]) -> list[PullRequestFlow]:
    tasks: dict[int, set[str]] = {}
    for event in events:
        pr_id = _int((event.metadata or {}).get("pull_request_id"))
        if event.event_type == "task_merged" and event.task_id and pr_id is not None:
            tasks.setdefault(pr_id, set()).add(event.task_id)
    flows = []
    for pr in sorted(prs, key=lambda p: (_ms(p.created_at) or 0, p.id)):
        opened, merged = _ms(pr.created_at), _ms(pr.merged_at) if pr.merged_at else None
        to_merge = _span(opened, merged) if opened is not None and merged is not None else None
        merged_tasks = sorted(tasks.get(pr.id, ()))
        flows.append(PullRequestFlow(pr.id, pr.pr_number, pr.role, pr.status, pr.created_at,
                                     pr.merged_at, to_merge, merged_tasks))  # fmt: skip
    return flows
