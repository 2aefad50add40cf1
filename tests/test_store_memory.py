"""The in-memory example store (examples/memory-store) against the store contract, and
the same operations on it and on SQLite: the same events, task states and summaries,
which are also what the domain layer derives from the events themselves."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator import domain_rules as rules
from claude_orchestrator.models import Event, FoundConflict, SyncCommit
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.protocols_store import StoreSummaries
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC, StoreContract

from .conftest import EXAMPLES


def load_memory_plugin() -> ModuleType:
    """The example plugin's package, imported from its source directory (not installed)."""
    name = "claude_orchestrator_memory"
    if name in sys.modules:
        return sys.modules[name]
    init = EXAMPLES / "memory-store" / name / "__init__.py"
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[
        str(init.parent)
    ])  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def memory_store() -> Store:
    """A new memory store, through the library's operations."""
    return Store(memory_port())


def memory_port() -> Any:
    return load_memory_plugin().MemoryStore("memory:test")


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def fresh_store(self) -> Iterator[Any]:
        store = memory_port()
        yield store
        store.close()

    @pytest.fixture
    def store(self, fresh_store: Any) -> Any:
        fresh_store.initialize()
        return fresh_store


def test_the_plugin_registers_a_memory_store() -> None:
    registered: list[tuple[str, str]] = []
    load_memory_plugin().register_stores(
        lambda name, factory, description="": registered.append((name, description))
    )
    assert [name for name, _ in registered] == ["memory"]
    pyproject = (EXAMPLES / "memory-store" / "pyproject.toml").read_text()
    assert 'memory = "claude_orchestrator_memory"' in pyproject


def test_a_failed_write_changes_nothing() -> None:
    store = memory_store()
    store.initialize()
    store.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    found = [FoundConflict("implementor-data", AGENTS[1][1], "implementor-zzz", "b", ["a"], "x")]
    with pytest.raises(Exception, match="implementor-zzz"):
        store.record_scan(SPEC, [(AGENTS[1][1], "b")], found)
    assert store.list_conflicts(SPEC, include_resolved=True) == []
    assert [e.event_type for e in store.recent_events(10)] == ["feature_created"]


# -- the same operations on both stores ----------------------------------------------------
ROLES = [role for role, _ in AGENTS]
TASKS = ["T001", "T002", "T003"]
ACTIONS = ["started", "completed", "blocked", "reopened"]
_event_op = st.tuples(st.just("event"), st.sampled_from(ROLES), st.sampled_from(TASKS),
                      st.sampled_from([*rules.STATE_EVENTS, "status_update"]))  # fmt: skip
_sync_op = st.tuples(
    st.just("sync"),
    st.sampled_from([ROLES[1], ROLES[1], ROLES[2]]),  # mostly one branch: chains of rewrites
    st.lists(st.tuples(st.sampled_from(TASKS[:2]), st.sampled_from(ACTIONS)), max_size=3),
    st.integers(min_value=0, max_value=2),  # which earlier change it rewrites (0: none)
)
_other_op = st.tuples(st.sampled_from(["block", "resolve", "merge", "scan"]),
                      st.sampled_from(ROLES[1:]), st.sampled_from(TASKS),
                      st.lists(st.sampled_from(["a.py", "b.py"]), max_size=2))  # fmt: skip
OPS = st.lists(st.one_of(_event_op, _sync_op, _sync_op, _other_op), min_size=1, max_size=16)


def _run(store: Store, ops: list[tuple[Any, ...]]) -> list[Event]:
    """Apply the operations; every one is valid by construction. Returns the events."""
    store.initialize()
    store.add_feature(SPEC, "Same", AGENTS[0][1], AGENTS)
    branch = dict(AGENTS)
    changes: dict[str, list[str]] = {}
    for number, op in enumerate(ops):
        kind, role = op[0], op[1]
        if kind == "event":
            store.append_event(rules_event(role, op[2], op[3], number))
        elif kind == "sync":
            mine = changes.setdefault(role, [])
            rewrites = (mine[-op[3]],) if 0 < op[3] <= len(mine) else ()
            patch, commit = f"p{number}", f"{number:040x}"
            said = [(task, action, "why" if action == "blocked" else None)
                    for task, action in op[2]]  # fmt: skip
            subject = " ".join(f"{t} {a}" for t, a in op[2]) or "no task"
            sync = SyncCommit(commit, patch, subject, said, rewrites, "amend" if rewrites else "")
            store.record_sync(SPEC, role, branch[role], commit, [sync])
            if rewrites:  # the rewritten change is gone from the branch
                mine.remove(rewrites[0])
            mine.append(patch)
        elif kind == "block":
            store.add_blocker(SPEC, role, "dependency", f"needs {op[2]}", "overseer", op[2])
        elif kind == "resolve":
            open_ = [b for b in store.list_blockers(SPEC) if b.role == role]
            if open_:
                store.resolve_blocker(open_[0].id, "done")
        elif kind == "merge":
            pr, _ = store.record_pull_request(SPEC, role, "PR", AGENTS[0][1], branch[role])
            store.merge_pull_request(pr.id)
        else:
            pair = (branch[role], AGENTS[0][1])
            found = [FoundConflict(role, pair[0], "overseer", pair[1], op[3], "warning")]
            store.record_scan(SPEC, [pair], found if op[3] else [])
    return store.events_after(SPEC)


def rules_event(role: str, task: str, event_type: str, number: int) -> Any:
    from claude_orchestrator.models import NewEvent

    return NewEvent(SPEC, role, event_type, f"{task} {event_type}", task, f"{number:07x}")


def _comparable(store: Store) -> tuple[Any, ...]:
    """What a user sees, without the clock."""
    events = [e._replace(created_at="") for e in store.events_after(SPEC)]
    tasks = [t._replace(updated_at="") for t in store.task_states(SPEC)]
    status = [s._replace(last_event_at=None) for s in store.feature_status(SPEC)]
    agents = [(a.role, a.status) for a in store.list_agents(SPEC)]
    blockers = [b._replace(created_at="", resolved_at=None) for b in
                store.list_blockers(SPEC, include_resolved=True)]  # fmt: skip
    conflicts = [c._replace(detected_at="", resolved_at=None) for c in
                 store.list_conflicts(SPEC, include_resolved=True)]  # fmt: skip
    return events, tasks, status, agents, blockers, conflicts


def _summary_from_events(store: Store) -> tuple[Any, ...]:
    """The domain's derivation from the store's own records."""
    feature = store.get_feature(SPEC)
    assert feature is not None
    records = rules.FeatureRecords(
        feature, store.list_agents(SPEC), store.events_after(SPEC, 0, 100_000),
        store.list_pull_requests(SPEC), store.list_conflicts(SPEC, include_resolved=True),
        store.list_blockers(SPEC, include_resolved=True),
    )  # fmt: skip
    return rules.task_states(SPEC, records.events), rules.summary(records)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_sqlite_and_memory_agree_and_match_the_domain(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "events.db")
        memory = memory_store()
        try:
            events = _run(sqlite, ops)
            assert [(e.event_type, e.role, e.task_id, e.message) for e in _run(memory, ops)] == [
                (e.event_type, e.role, e.task_id, e.message) for e in events
            ]
            assert _comparable(memory) == _comparable(sqlite)
            # the memory store keeps no summaries (the domain derives them from its records);
            # SQLite's summary tables (task_state, agent_activity) agree with the domain
            assert isinstance(sqlite.port, StoreSummaries)
            assert not isinstance(memory.port, StoreSummaries)
            assert (sqlite.task_states(SPEC), sqlite.feature_status(SPEC)) == (
                _summary_from_events(sqlite)
            )
        finally:
            sqlite.close()
