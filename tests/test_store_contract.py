"""The store contract suite, run against the built-in sqlite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.plugins.sqlite_port import SQLitePort, SQLiteStore
from claude_orchestrator.testing import AGENTS, SPEC, StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def fresh_store(self, tmp_path: Path) -> Iterator[SQLitePort]:
        store = SQLitePort(tmp_path / "sub" / "events.db")
        yield store
        store.close()

    @pytest.fixture
    def store(self, fresh_store: SQLitePort) -> SQLitePort:
        fresh_store.initialize()
        return fresh_store


def test_task_events_are_append_only_in_the_database(tmp_path: Path) -> None:
    """Even a raw SQL client cannot rewrite history."""
    store = SQLiteStore(tmp_path / "events.db")
    store.initialize()
    store.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE task_events SET message = 'rewritten'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM task_events")
    assert conn.execute("SELECT COUNT(*) FROM task_events").fetchone()[0] == 1


def test_store_uses_wal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.db")
    store.initialize()
    store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_views_exist_and_answer(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.db")
    store.initialize()
    store.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    store.record_test(SPEC, "overseer", "e2e", "passed", passed=1)
    store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    assert conn.execute("SELECT COUNT(*) FROM v_feature_status").fetchone()[0] == len(AGENTS)
    assert conn.execute("SELECT COUNT(*) FROM v_recent_events").fetchone()[0] == 2
    assert conn.execute("SELECT test_type, status FROM v_test_summary").fetchall() == [
        ("e2e", "passed")
    ]


def test_set_feature_name_logs_only_a_change(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.db")
    store.initialize()
    store.add_feature(SPEC, "003-reading-goals", AGENTS[0][1], AGENTS)
    feature, event = store.set_feature_name(SPEC, "Reading Goals Tracker")
    assert feature.name == "Reading Goals Tracker"
    assert event is not None and event.event_type == "feature_renamed"
    assert event.metadata == {"name": "Reading Goals Tracker", "previous_name": "003-reading-goals"}
    assert store.set_feature_name(SPEC, "Reading Goals Tracker") == (feature, None)
    store.close()
