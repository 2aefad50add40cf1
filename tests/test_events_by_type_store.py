"""A feature's events of some types (``tx.events(spec, types=...)``: the observation hook
reads its ``budget_exceeded`` on every call, ingest its budget events) are searched in an
index by type, on both stores, not read through all the feature's events: checked on the
plan each store makes for the statement the store itself runs; version 7 (SQLite) adds
the index to a version-6 store; and what they return is still every event of those
types, in id order (Hypothesis)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLitePort
from claude_orchestrator.plugins.sqlite_schema import SCHEMA_VERSION
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC

INDEX = "idx_task_events_type"
TYPES = ("status_update", "agent_state", "task_started", "budget_warning", "budget_exceeded")
ROLES = [role for role, _ in AGENTS]
QUERIES = [("budget_exceeded",), ("budget_warning", "budget_exceeded")]


def _sqlite_store(path: Path) -> SQLitePort:
    port = SQLitePort(path)
    port.initialize()
    Store(port).add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    other = [(role, branch.replace(SPEC, "002-other")) for role, branch in AGENTS]
    Store(port).add_feature("002-other", "y", other[0][1], other)
    return port


def _append(port: Any, events: Sequence[tuple[str, int, str]]) -> None:
    with port.transaction() as tx:
        for spec, role, event_type in events:
            tx.append(NewEvent(spec, ROLES[role], event_type, f"{event_type} {role}"))


@pytest.mark.parametrize("types", QUERIES)
def test_sqlite_searches_the_type_index(tmp_path: Path, types: tuple[str, ...]) -> None:
    port = _sqlite_store(tmp_path / "events.db")
    _append(port, [(SPEC, i % 3, TYPES[i % len(TYPES)]) for i in range(50)])
    with port.transaction() as tx:
        statements: list[str] = []
        tx.conn.set_trace_callback(statements.append)
        found = tx.events(SPEC, types=types)
        tx.conn.set_trace_callback(None)
        (query,) = [s for s in statements if "event_type IN" in s]
        plan = " | ".join(r[3] for r in tx.conn.execute(f"EXPLAIN QUERY PLAN {query}"))
    port.close()
    assert f"SEARCH te USING INDEX {INDEX} (feature_id=? AND event_type=?)" in plan, plan
    assert "SCAN te" not in plan, plan
    assert [e.event_type for e in found] == [t for t in (TYPES * 10) if t in types]
    assert [e.id for e in found] == sorted(e.id for e in found)


def _indexes(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        return {name: sql for name, sql in rows if sql is not None}
    finally:
        conn.close()


def test_sqlite_version_7_adds_the_index_to_a_version_6_store(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    _append(_sqlite_store(db), [(SPEC, 0, "budget_exceeded")])
    conn = sqlite3.connect(db)  # the store as version 6 left it
    for table in ("usage", "transcript_cursors"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute(f"DROP INDEX {INDEX}")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()
    assert INDEX not in _indexes(db)
    port = SQLitePort(db)
    info = port.initialize()
    with port.transaction() as tx:
        assert [e.message for e in tx.events(SPEC, types=("budget_exceeded",))] == [
            "budget_exceeded 0"
        ]
    port.close()
    assert (info.migrated_from, info.schema_version) == (6, SCHEMA_VERSION) == (6, 7)
    assert _indexes(db)[INDEX] == (
        f"CREATE INDEX {INDEX} ON task_events(feature_id, event_type, id)"
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(
        st.tuples(st.sampled_from([SPEC, "002-other"]), st.integers(0, len(ROLES) - 1),
                  st.sampled_from(TYPES)),
        max_size=40,
    ),
    types=st.lists(st.sampled_from(TYPES), unique=True, max_size=3),
    role=st.none() | st.integers(0, len(ROLES) - 1),
)  # fmt: skip
def test_sqlite_returns_every_event_of_the_types_in_id_order(
    tmp_path_factory: pytest.TempPathFactory,
    events: list[tuple[str, int, str]],
    types: list[str],
    role: int | None,
) -> None:
    port = _sqlite_store(tmp_path_factory.mktemp("by-type") / "events.db")
    _append(port, events)
    with port.transaction() as tx:
        every = tx.events(SPEC)
        found = tx.events(SPEC, types=types, role=None if role is None else ROLES[role])
    port.close()
    assert found == [
        e for e in every if e.event_type in types and (role is None or e.role == ROLES[role])
    ]


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def loaded_pg(pg_dsn: str) -> Iterator[Any]:
    """A store of two features, each of 20,000 events (a few budget ones), analysed."""
    psycopg = pytest.importorskip("psycopg")
    from claude_orchestrator.plugins.postgres_port import PostgresPort

    port = PostgresPort.for_dsn(pg_dsn, "by-type")
    port.initialize()
    Store(port).add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    other = [(role, branch.replace(SPEC, "002-other")) for role, branch in AGENTS]
    Store(port).add_feature("002-other", "y", other[0][1], other)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO task_events (project_id, feature_id, agent_id, event_type, message) "
            "SELECT a.project_id, a.feature_id, a.id, CASE WHEN g % 5000 = 7 THEN "
            "'budget_exceeded' WHEN g % 5000 = 9 THEN 'budget_warning' ELSE 'status_update' "
            "END, 'bulk ' || g FROM agents a CROSS JOIN generate_series(1, 20000 / 3) g"
        )
        conn.execute("ANALYZE")
    yield port
    port.close()


@pytest.mark.parametrize("types", QUERIES)
def test_postgres_searches_the_type_index(loaded_pg: Any, types: tuple[str, ...]) -> None:
    """The plan PostgreSQL made for the statement the store ran (auto_explain)."""
    plans: list[str] = []
    with loaded_pg.transaction() as tx:
        tx.conn.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
        for setting in ("LOAD 'auto_explain'", "SET LOCAL auto_explain.log_min_duration = 0",
                        "SET LOCAL auto_explain.log_level = notice"):  # fmt: skip
            tx.conn.execute(setting)
        found = tx.events(SPEC, types=types)
        tx.conn.execute("SET LOCAL auto_explain.log_min_duration = -1")
    (plan,) = [p for p in plans if "event_type = ANY" in p]
    assert f"Index Scan using {INDEX} on task_events te" in plan, plan
    assert "Seq Scan on task_events" not in plan, plan
    assert len(found) == len(types) * 2 * 3  # per agent: g = 7 and 5007 (or 9 and 5009)
    assert {e.event_type for e in found} == set(types)
    assert [e.id for e in found] == sorted(e.id for e in found)
