"""``agents`` and ``inbox`` read only the events they need: on a real SQLite store with
many unrelated events, the views and the inbox are what reading every event of the
feature and keeping the relevant ones gives (Hypothesis: any mix of state, message,
guard and unrelated events), and the rows the store decodes are the relevant ones only
(counted at the row decoder, which still does the work)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator.agent_state import VIEW_TYPES, AgentView, agent_views, view
from claude_orchestrator.messages import TYPES as MESSAGE_TYPES
from claude_orchestrator.messages import inbox, messages_of
from claude_orchestrator.models import Event, NewEvent
from claude_orchestrator.plugins import sqlite_rows

SPEC = "007-reads"
OTHER = "008-other"
ROLES = ("overseer", "implementor-data", "implementor-api")
UNRELATED = ("task_started", "task_completed", "status_update", "task_blocked")


class Spec(NamedTuple):
    """One event to write: the agent (index), its type, and for a delivery the index of
    the message it delivers among those sent before it."""

    role: int
    kind: str
    detail: str
    message: int


def make_orch(path: Path) -> Orchestrator:
    orch = Orchestrator(path, db=path / "events.db", env={})
    orch.init_store()
    for spec_id in (SPEC, OTHER):
        orch.add_feature(spec_id, spec_id, areas=["data", "api"])
    return orch


def new_event(spec_id: str, item: Spec, sent: list[Event]) -> NewEvent | None:
    role, meta = ROLES[item.role], dict[str, Any]()
    if item.kind == "message_sent":
        sender = ROLES[(item.role + 1) % len(ROLES)]
        meta = {"from": sender, "to": role, "routed_from": None}
    elif item.kind == "message_delivered":
        if not sent:
            return None
        message = sent[item.message % len(sent)]
        role = message.role
        meta = {"message_id": message.id, "how": "Stop"}
    elif item.kind == "guard_decision":
        meta = {"tool": "Bash", "input": item.detail, "decision": "allow"}
    elif item.kind.startswith("agent_"):
        meta = {"session_id": f"s-{item.detail}", "worktree": f"/w/{role}", "pid": 7,
                "tool": "Edit", "detail": item.detail}  # fmt: skip
    return NewEvent(spec_id, role, item.kind, item.detail or item.kind, None, None, meta or None)


def write(orch: Orchestrator, items: list[Spec], spec_id: str = SPEC) -> None:
    sent: list[Event] = []
    with orch.store.transaction() as tx:
        for item in items:
            new = new_event(spec_id, item, sent)
            if new is not None:
                event = tx.append(new)
                if event.event_type == "message_sent":
                    sent.append(event)


def every_event(orch: Orchestrator, spec_id: str) -> list[Event]:
    """All of the feature's events, page by page (what the views read before)."""
    found: list[Event] = []
    while page := orch.store.events_after(spec_id, found[-1].id if found else 0, 1000):
        found += page
    return found


def expected_views(orch: Orchestrator, spec_id: str, now: float) -> list[AgentView]:
    relevant = [e for e in every_event(orch, spec_id) if e.event_type in VIEW_TYPES]
    rows = {row.role: row for row in orch.store.feature_status(spec_id)}
    tasks = orch.store.task_states(spec_id)
    stale_after = orch.config.stale_after
    found = []
    for agent in orch.store.list_agents(spec_id):
        mine = [e for e in relevant if e.role == agent.role]
        found.append(
            view(agent, mine, rows.get(agent.role), tasks, now=now, stale_after=stale_after)
        )
    return found


def timeless(views: list[AgentView]) -> list[AgentView]:
    return [v._replace(seconds_in_state=None) for v in views]


kinds = st.sampled_from((*VIEW_TYPES, *UNRELATED))
specs = st.builds(Spec, st.integers(0, len(ROLES) - 1), kinds,
                  st.text("abc xyz", max_size=8), st.integers(0, 50))  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(items=st.lists(specs, max_size=40), noise=st.lists(specs, max_size=20))
def test_views_and_inbox_are_those_of_every_event(items: list[Spec], noise: list[Spec]) -> None:
    with tempfile.TemporaryDirectory() as tmp, make_orch(Path(tmp)) as orch:
        write(orch, items)
        write(orch, noise, OTHER)  # another feature's events, of the same types
        write(orch, [Spec(n % 3, UNRELATED[n % 4], "x", 0) for n in range(200)])
        messages = inbox(orch, SPEC)
        views = agent_views(orch, SPEC)
        every = every_event(orch, SPEC)
        assert messages == messages_of(every)
        assert [m.id for m in messages] == [e.id for e in every if e.event_type == "message_sent"]
        assert timeless(views) == timeless(expected_views(orch, SPEC, 0.0))
        both = agent_views(orch)
        assert timeless(both) == timeless(
            expected_views(orch, SPEC, 0.0) + expected_views(orch, OTHER, 0.0)
        )


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The type of each event row the SQLite store decodes (the real decoder runs)."""
    seen: list[str] = []
    real: Callable[..., Event] = sqlite_rows.event

    def counting(row: Any, **options: Any) -> Event:
        event = real(row, **options)
        seen.append(event.event_type)
        return event

    monkeypatch.setattr(sqlite_rows, "event", counting)
    yield seen


def test_rows_read_are_bounded_by_the_relevant_events(tmp_path: Path, decoded: list[str]) -> None:
    orch = make_orch(tmp_path)
    relevant = [Spec(0, "agent_working", "go", 0), Spec(1, "message_sent", "hi", 0),
                Spec(1, "message_delivered", "", 0), Spec(2, "guard_decision", "ls", 0),
                Spec(1, "agent_idle", "", 0)]  # fmt: skip
    noise = [Spec(n % 3, UNRELATED[n % 4], "x", 0) for n in range(3000)]
    write(orch, noise[:1500] + relevant + noise[1500:])
    inbox(orch, SPEC)  # routing starts: its cursor at the newest event (one row read)
    decoded.clear()
    views = agent_views(orch, SPEC)
    assert [v.role for v in views if v.state != "not_started"] == list(ROLES[:2])
    assert sorted(decoded) == sorted(r.kind for r in relevant)  # none of the 3,000 others
    decoded.clear()
    messages = inbox(orch, SPEC)
    assert [(m.text, m.status) for m in messages] == [("hi", "delivered")]
    assert sorted(decoded) == sorted(MESSAGE_TYPES)
    orch.close()
