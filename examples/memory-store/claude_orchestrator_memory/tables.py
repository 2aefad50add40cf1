"""The memory store's records and its transactions.

Every record is a model from :mod:`claude_orchestrator.models` in a dict or a list. A
write holds the lock and works on the live records; when it raises, the snapshot taken
at its start is put back, so a write is all or nothing, as in any store.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from claude_orchestrator import domain
from claude_orchestrator import domain_rules as rules
from claude_orchestrator.domain_tasks import TaskEvent
from claude_orchestrator.errors import NotInitializedError
from claude_orchestrator.models import (
    Agent,
    Blocker,
    Conflict,
    Event,
    Feature,
    NewEvent,
    PullRequest,
    TestResult,
)

#: (branch, patch id, task id, action) -> the event that logged it (None: logged nothing)
ActionKey = tuple[str, str, str, str]


def now() -> str:
    """A timestamp written as SQLite's ``strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`` writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Tables:
    """Everything the store holds; ids are assigned per kind, increasing from 1."""

    features: dict[str, Feature] = field(default_factory=dict)
    #: spec id -> role -> agent
    agents: dict[str, dict[str, Agent]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    conflicts: dict[int, Conflict] = field(default_factory=dict)
    blockers: dict[int, Blocker] = field(default_factory=dict)
    blocker_tasks: dict[int, str | None] = field(default_factory=dict)
    tests: list[TestResult] = field(default_factory=list)
    pull_requests: dict[int, PullRequest] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    #: spec id -> (branch, patch id) -> the change's latest commit
    synced: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)
    #: spec id -> what each synced change said, in the order it was recorded
    actions: dict[str, dict[ActionKey, int | None]] = field(default_factory=dict)
    #: consumer -> the id of the last event delivered to it
    delivery: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        self.ids[kind] = self.ids.get(kind, 0) + 1
        return self.ids[kind]


class Base:
    """The lock, the transactions, the lookups and appending an event."""

    def __init__(self, location: str = "memory") -> None:
        self.location = location
        self._tables: Tables | None = None
        self._lock = threading.RLock()

    def exists(self) -> bool:
        return self._tables is not None

    def close(self) -> None:
        """Nothing to release: the records stay until the object is gone."""

    def _ready(self) -> Tables:
        if self._tables is None:
            raise NotInitializedError(
                f"Event store not initialized: {self.location} does not exist. "
                "Run: claude-orchestrator events init"
            )
        return self._tables

    @contextlib.contextmanager
    def _write(self) -> Iterator[Tables]:
        with self._lock:
            tables = self._ready()
            snapshot = copy.deepcopy(tables)
            try:
                yield tables
            except BaseException:
                self._tables = snapshot
                raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tables]:
        with self._lock:
            yield self._ready()

    # -- lookups ---------------------------------------------------------------------
    @staticmethod
    def _feature_of(tables: Tables, spec_id: str) -> Feature:
        feature = tables.features.get(spec_id)
        if feature is None:
            raise domain.feature_not_found(spec_id)
        return feature

    def _agent_of(self, tables: Tables, spec_id: str, role: str) -> Agent:
        self._feature_of(tables, spec_id)
        agent = tables.agents[spec_id].get(role)
        if agent is None:
            raise domain.agent_not_found(spec_id, role)
        return agent

    def _append(self, tables: Tables, new: NewEvent) -> Event:
        """Append an event (the domain worded it) for the agent it names."""
        self._agent_of(tables, new.spec_id, new.role)
        event = Event(tables.next_id("event"), new.spec_id, new.role, new.event_type,
                      new.message, new.task_id or None, new.commit_hash or None,
                      copy.deepcopy(new.metadata) or None, now())  # fmt: skip
        tables.events.append(event)
        return event

    @staticmethod
    def _task_events(tables: Tables, agent: Agent, task_id: str) -> list[TaskEvent]:
        """One agent's state events of a task, as the domain reads them."""
        return [
            rules.task_event(e, agent.id) for e in tables.events
            if e.spec_id == agent.spec_id and e.role == agent.role and e.task_id == task_id
            and rules.moves_state(e)
        ]  # fmt: skip

    @staticmethod
    def _set_agent_status(tables: Tables, agent: Agent, status: str) -> None:
        tables.agents[agent.spec_id][agent.role] = agent._replace(status=status)
