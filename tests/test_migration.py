"""Schema versions: migrating the original tool's database, refusing a newer one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from claude_orchestrator.errors import StoreError
from claude_orchestrator.plugins.sqlite_schema import SCHEMA_VERSION
from claude_orchestrator.plugins.sqlite_store import SQLiteStore

from .conftest import Run

# The shape of a database made by the original event-store.sh (schema "version 0"):
# the same tables and columns, no user_version, its own views.
ORIGINAL = """
CREATE TABLE features (id INTEGER PRIMARY KEY AUTOINCREMENT, spec_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL, overseer_branch TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'in-progress',
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, completed_at DATETIME);
CREATE TABLE agents (id INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL,
  feature_id INTEGER NOT NULL, branch_name TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'active',
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE task_events (id INTEGER PRIMARY KEY AUTOINCREMENT, feature_id INTEGER NOT NULL,
  agent_id INTEGER NOT NULL, event_type TEXT NOT NULL, task_id TEXT, commit_hash TEXT,
  message TEXT NOT NULL, metadata TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE pull_requests (id INTEGER PRIMARY KEY AUTOINCREMENT, feature_id INTEGER NOT NULL,
  agent_id INTEGER NOT NULL, pr_number INTEGER, title TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'draft', base_branch TEXT NOT NULL, head_branch TEXT NOT NULL,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, merged_at DATETIME);
CREATE TABLE conflicts (id INTEGER PRIMARY KEY AUTOINCREMENT, feature_id INTEGER NOT NULL,
  agent_id INTEGER NOT NULL, conflicting_files TEXT NOT NULL,
  severity TEXT NOT NULL DEFAULT 'warning', resolved BOOLEAN DEFAULT FALSE,
  resolution_notes TEXT, detected_at DATETIME DEFAULT CURRENT_TIMESTAMP, resolved_at DATETIME);
CREATE TABLE test_results (id INTEGER PRIMARY KEY AUTOINCREMENT, feature_id INTEGER NOT NULL,
  agent_id INTEGER, test_type TEXT NOT NULL, commit_hash TEXT NOT NULL, status TEXT NOT NULL,
  tests_total INTEGER, tests_passed INTEGER, tests_failed INTEGER, duration_ms INTEGER,
  logs_url TEXT, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE blockers (id INTEGER PRIMARY KEY AUTOINCREMENT, feature_id INTEGER NOT NULL,
  agent_id INTEGER NOT NULL, blocker_type TEXT NOT NULL, description TEXT NOT NULL,
  blocking_agent_id INTEGER, status TEXT NOT NULL DEFAULT 'active',
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, resolved_at DATETIME, resolution_notes TEXT);
CREATE INDEX idx_task_events_feature ON task_events(feature_id, created_at DESC);
CREATE VIEW v_recent_events AS SELECT f.spec_id, a.role, te.event_type, te.task_id,
  te.commit_hash, te.message, te.created_at FROM task_events te
  JOIN features f ON te.feature_id = f.id JOIN agents a ON te.agent_id = a.id
  ORDER BY te.created_at DESC LIMIT 100;
CREATE VIEW v_test_summary AS SELECT f.spec_id, tr.test_type, tr.status FROM test_results tr
  JOIN features f ON tr.feature_id = f.id;
INSERT INTO features (spec_id, name, overseer_branch)
  VALUES ('003-reading-goals', 'Reading Goals Tracker', 'feature/003-reading-goals/overseer');
INSERT INTO agents (role, feature_id, branch_name) VALUES
  ('overseer', 1, 'feature/003-reading-goals/overseer'),
  ('implementor-a', 1, 'feature/003-reading-goals/impl-data');
INSERT INTO task_events (feature_id, agent_id, event_type, task_id, commit_hash, message) VALUES
  (1, 2, 'task_started', 'T001', 'abc1234', 'Migrations started'),
  (1, 2, 'task_completed', 'T001', 'abc1235', 'Migrations done'),
  (1, 2, 'task_started', 'T002', '', 'Models');
INSERT INTO conflicts (feature_id, agent_id, conflicting_files) VALUES (1, 2, '["src/a.py"]');
INSERT INTO test_results (feature_id, agent_id, test_type, commit_hash, status)
  VALUES (1, 2, 'unit', 'abc1235', 'passed');
"""


@pytest.fixture
def original_db(tmp_path: Path) -> Path:
    path = tmp_path / "events.db"
    conn = sqlite3.connect(path)
    conn.executescript(ORIGINAL)
    conn.close()
    return path


def test_original_database_is_migrated_keeping_every_row(cli: Run, original_db: Path) -> None:
    result = cli("events", "init", "--db", str(original_db), "--json")
    assert result.code == 0, result
    info = result.json()
    assert (info["migrated_from"], info["schema_version"]) == (0, SCHEMA_VERSION)
    assert info["counts"]["task_events"] == 3 and info["counts"]["conflicts"] == 1

    recent = cli("events", "recent", "--db", str(original_db), "--json").json()
    assert [e["message"] for e in recent] == ["Models", "Migrations done", "Migrations started"]
    status = {
        r["role"]: r for r in cli("events", "status", "--db", str(original_db), "--json").json()
    }
    # the summaries were rebuilt from the existing events
    assert status["implementor-a"]["events"] == 3
    assert status["implementor-a"]["tasks_completed"] == 1
    assert status["implementor-a"]["tasks_in_progress"] == 1
    assert status["implementor-a"]["active_conflicts"] == 1
    conflicts = cli("events", "conflicts", "--db", str(original_db), "--json").json()
    assert conflicts[0]["files"] == ["src/a.py"]
    # new columns work, old NOT NULL on test_results.commit_hash is gone
    assert (
        cli(
            "events",
            "record-test",
            "003-reading-goals",
            "implementor-a",
            "lint",
            "passed",
            "--db",
            str(original_db),
        ).code
        == 0
    )
    # and history is now protected
    conn = sqlite3.connect(original_db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM task_events")


def test_migration_happens_on_first_use_too(cli: Run, original_db: Path) -> None:
    """Any command opening an older store migrates it (agents never run `init`)."""
    result = cli(
        "events",
        "log-event",
        "003-reading-goals",
        "overseer",
        "status_update",
        "hi",
        "--db",
        str(original_db),
    )
    assert result.code == 0, result
    conn = sqlite3.connect(original_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_failed_migration_changes_nothing(original_db: Path) -> None:
    """A migration is one transaction: a failure leaves the old database as it was."""
    conn = sqlite3.connect(original_db)
    # a duplicate (feature, role) makes the new unique index impossible
    conn.execute("INSERT INTO agents (role, feature_id, branch_name) VALUES ('overseer', 1, 'x')")
    conn.commit()
    conn.close()
    before = original_db.read_bytes()
    store = SQLiteStore(original_db)
    with pytest.raises(StoreError):
        store.initialize()
    store.close()
    conn = sqlite3.connect(original_db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "task_state" not in tables
    conn.close()
    assert original_db.read_bytes()[100:] == before[100:]  # header bytes may note WAL mode


def test_newer_schema_is_refused_naming_the_writer(cli: Run, tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    assert cli("events", "init", "--db", str(db)).code == 0
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("UPDATE schema_meta SET value = '9.4.0' WHERE key = 'written_by'")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    for args in (
        ["events", "status"],
        ["events", "init"],
        ["events", "log-event", "x", "overseer", "status_update", "m"],
    ):
        result = cli(*args, "--db", str(db))
        assert result.code == 2, result
        assert f"schema version {SCHEMA_VERSION + 1}" in result.err
        assert "written by claude-orchestrator 9.4.0" in result.err
        assert "upgrade it" in result.err
    assert db.read_bytes() == before
