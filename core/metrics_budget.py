"""Budgets: ``budgets: {feature, agent, task, on_exceed}`` in US dollars.

After an ingest stored new usage, :func:`check_budgets` adds up what the feature, each of
its agents and each task cost (:mod:`.metrics`) and records, once per cap and subject,
``budget_warning`` when 80% of a cap is spent and ``budget_exceeded`` at 100% (the
notification channels select both by default). Raising a cap in the config makes the
new cap's crossings due again; an event already recorded is never recorded twice, even
by two ingests at once (the check and the append are one transaction).

Budgets (and the prices they are counted in) are read from the ``orchestrator.yaml``
committed on the feature's overseer branch (:func:`trusted_config`), as the guard reads
its rules: an agent that edits its own copy of the file raises no cap, turns no ``stop``
into ``warn`` and makes no model cheaper.

``on_exceed: stop`` halts the agents an exceeded budget covers (the agent; the agent that
had the task; every agent of the feature) until the cap is raised (or ``on_exceed`` is
``warn`` again), by :func:`halt_reason` in two hooks from the settings the agent cannot
write: the guard (PreToolUse) refuses every tool call, deciding on the committed config
as it does for its other rules, so no edit of the agent's own files lifts it; the
observation hook (``agent-event``) also refuses the next prompt and ends a turn after
its tool call. The agent's process stays up, so the person can read its screen, raise
the cap and go on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .api import Orchestrator
    from .config_model import Config
    from .metrics_model import Attributed
    from .models import Event, NewEvent

WARNING = "budget_warning"
EXCEEDED = "budget_exceeded"
TYPES = (WARNING, EXCEEDED)
#: (share of the cap, the event recorded when it is spent)
LEVELS = ((0.8, WARNING), (1.0, EXCEEDED))
SCOPES = ("feature", "agent", "task")


class Spent(NamedTuple):
    """What one subject of a budget cost."""

    scope: str
    #: the spec id, the role or the task id
    subject: str
    #: the agent the event names (the feature's: the overseer)
    role: str
    task_id: str | None
    cost: float


def spending(spec_id: str, charged: Sequence[Attributed]) -> list[Spent]:
    """What the feature, each agent and each task cost (priced replies only)."""
    agents: dict[str, float] = {}
    tasks: dict[str, tuple[str, float]] = {}
    total = 0.0
    for reply in charged:
        role = reply.usage.role
        if reply.cost is None or role is None or reply.usage.spec_id != spec_id:
            continue
        total += reply.cost
        agents[role] = agents.get(role, 0.0) + reply.cost
        if reply.task_id is not None:
            owner, cost = tasks.get(reply.task_id, (role, 0.0))
            tasks[reply.task_id] = (owner, cost + reply.cost)
    spent = [Spent("feature", spec_id, "overseer", None, total)]
    spent += [Spent("agent", role, role, None, cost) for role, cost in sorted(agents.items())]
    spent += [Spent("task", task, owner, task, cost)
              for task, (owner, cost) in sorted(tasks.items())]  # fmt: skip
    return spent


def _metadata(event: Event) -> dict[str, Any]:
    meta = event.metadata
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return {}
    return meta if isinstance(meta, dict) else {}


def _key(event_type: str, meta: Mapping[str, Any]) -> tuple[str, str, str, float]:
    return (event_type, str(meta.get("scope")), str(meta.get("subject")),
            float(meta.get("budget") or 0))  # fmt: skip


def _words(spent: Spent, spec_id: str) -> str:
    if spent.scope == "feature":
        return f"feature {spec_id}"
    return spent.subject if spent.scope == "agent" else f"task {spent.subject}"


def due(spec_id: str, charged: Sequence[Attributed], caps: Mapping[str, Any]) -> list[NewEvent]:
    """The budget events the spending calls for (recorded or not)."""
    from .models import NewEvent

    events = []
    for spent in spending(spec_id, charged):
        cap = caps.get(spent.scope)
        if cap is None:
            continue
        for share, event_type in LEVELS:
            if spent.cost < share * float(cap):
                continue
            percent = round(100 * spent.cost / float(cap))
            what = _words(spent, spec_id)
            message = (f"{what} has cost ${spent.cost:,.2f}, {percent}% of its "
                       f"${float(cap):,.2f} budget") if event_type == WARNING else (
                       f"{what} has cost ${spent.cost:,.2f}: over its ${float(cap):,.2f} "
                       "budget")  # fmt: skip
            meta = {"scope": spent.scope, "subject": spent.subject, "budget": float(cap),
                    "spent": round(spent.cost, 6), "percent": percent,
                    "on_exceed": caps.get("on_exceed", "warn")}  # fmt: skip
            events.append(NewEvent(spec_id, spent.role, event_type, message, spent.task_id,
                                   None, meta))  # fmt: skip
    return events


def trusted_config(orch: Orchestrator, spec_id: str) -> Config:
    """The config committed on the feature's overseer branch (read through git, cached by
    blob id like the guard's); the defaults (no caps, the shipped prices) when none is
    committed there. The working copy's branch prefix counts only when the config it
    leads to says the same (an agent could point a prefix of its own at a branch it made)."""
    from .config import default_config
    from .guard_context import open_vcs
    from .guard_hook import _overseer_config, trusted_cache_dir

    default = default_config()
    if not orch.location.in_git:
        return orch.config  # no branches to trust: the one config there is
    vcs = open_vcs(orch.location, default, registry=orch.registry)
    candidates = (
        [orch.config, default] if orch.config.branch_prefix != default.branch_prefix else [default]
    )
    for candidate in candidates:
        committed = _overseer_config(vcs, candidate.overseer_branch(spec_id), trusted_cache_dir())
        if committed is not None and committed.branch_prefix == candidate.branch_prefix:
            return committed
    return default


def check_budgets(orch: Orchestrator, spec_id: str) -> list[Event]:
    """Record the feature's budget events that are due and not recorded yet; the events
    recorded (none when no cap is set)."""
    from .metrics import attributed

    caps = trusted_config(orch, spec_id).data.get("budgets") or {}
    if all(caps.get(scope) is None for scope in SCOPES):
        return []
    wanted = due(spec_id, attributed(orch, spec_id), caps)
    if not wanted:
        return []
    written: list[Event] = []
    with orch.store.transaction() as tx:
        known = {_key(e.event_type, _metadata(e)) for e in tx.events(spec_id, types=TYPES)}
        roles = {a.role for a in tx.agents(spec_id)}
        for event in wanted:
            key = _key(event.event_type, event.metadata or {})
            if key not in known and event.role in roles:
                known.add(key)
                written.append(tx.append(event))
    if written:
        orch.notify(*written)
    return written


def halt_reason(
    events: Sequence[Event], caps: Mapping[str, Any], role: str, tasks: Sequence[str] = ()
) -> str | None:
    """Why the agent ``role`` must stop (``on_exceed: stop`` and a recorded
    ``budget_exceeded`` that covers it whose cap is still the configured one), or None.
    ``events``: the feature's budget events; ``tasks``: the tasks the agent worked on."""
    if caps.get("on_exceed") != "stop":
        return None
    for event in reversed(events):
        if event.event_type != EXCEEDED:
            continue
        meta = _metadata(event)
        scope, cap = meta.get("scope"), caps.get(str(meta.get("scope")))
        if cap is None or float(cap) != float(meta.get("budget") or -1):
            continue  # the cap was raised or removed since
        subject = meta.get("subject")
        covered = (scope == "feature" or (scope == "agent" and subject == role)
                   or (scope == "task" and (event.role == role or subject in tasks)))  # fmt: skip
        if covered:
            return (f"claude-orchestrator: {event.message}. Stop here: the person must raise "
                    f"budgets.{scope} in the orchestrator.yaml committed on the overseer "
                    "branch before this agent goes on.")  # fmt: skip
    return None
