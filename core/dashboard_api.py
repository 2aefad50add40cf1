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
    from .messages import Message, Sent
    from .models import AgentStatus, Blocker, Conflict, Event, PullRequest, TaskState, TestResult

#: who the dashboard's actions are recorded as (the ``actor`` of a ``dashboard_action``)
ACTOR = "dashboard"
#: the event type that records each action the dashboard took, naming its actor
ACTION_EVENT = "dashboard_action"


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


def tasks(orch: Orchestrator, spec_id: str) -> list[TaskState]:
    """The task board: each task's latest state and the agent on it (the ``tasks`` of
    ``events export SPEC --format json``)."""
    return orch.store.task_states(orch.feature(spec_id).spec_id)


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
