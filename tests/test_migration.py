"""Schema versions: migrating the original tool's database, refusing a newer one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from claude_orchestrator.errors import StoreError
from claude_orchestrator.models import SyncCommit
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.plugins.sqlite_schema import SCHEMA_VERSION

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
        assert "upgrade it (pip install -U claude-orchestrator-toolkit)" in result.err
    assert db.read_bytes() == before


# A store at schema version 3 (task state decided by a SQL trigger, last event wins),
# as claude-orchestrator wrote it before task state moved to Python: iterdump() of a
# store where impl-data synced "T001: model", "T001 done", "T001: tweak" (patch ids
# p1-p3) and impl-api synced "T002 done" (q1), then logged "T002: follow-up" by hand.
VERSION_3 = """
CREATE TABLE agent_activity (
    agent_id INTEGER PRIMARY KEY REFERENCES agents(id),
    events INTEGER NOT NULL DEFAULT 0,
    last_event_id INTEGER,
    last_event_type TEXT,
    last_event_at DATETIME
);
INSERT INTO "agent_activity" VALUES(1,1,1,'feature_created','2026-12-01T12:27:39.411Z');
INSERT INTO "agent_activity" VALUES(2,3,4,'task_started','2026-12-01T12:27:39.411Z');
INSERT INTO "agent_activity" VALUES(3,2,6,'task_started','2026-12-01T12:27:39.412Z');
CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    branch_name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO "agents" VALUES(1,'overseer',1,'feature/003-reading-goals/overseer',
  'active','2026-12-01T12:27:39.411Z');
INSERT INTO "agents" VALUES(2,'implementor-data',1,'feature/003-reading-goals/impl-data',
  'active','2026-12-01T12:27:39.411Z');
INSERT INTO "agents" VALUES(3,'implementor-api',1,'feature/003-reading-goals/impl-api',
  'active','2026-12-01T12:27:39.411Z');
CREATE TABLE blockers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    blocker_type TEXT NOT NULL,
    description TEXT NOT NULL,
    blocking_agent_id INTEGER REFERENCES agents(id),
    status TEXT NOT NULL DEFAULT 'active',
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    resolved_at DATETIME,
    resolution_notes TEXT,
    task_id TEXT
);
CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    conflicting_files TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT 'warning',
    resolved BOOLEAN DEFAULT FALSE,
    resolution_notes TEXT,
    detected_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    resolved_at DATETIME
, branch TEXT, other_branch TEXT, other_agent_id INTEGER REFERENCES agents(id),
   fingerprint TEXT);
CREATE TABLE features (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spec_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    overseer_branch TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'in-progress',
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at DATETIME
);
INSERT INTO "features" VALUES(1,'003-reading-goals','Reading goals',
  'feature/003-reading-goals/overseer','in-progress','2026-12-01T12:27:39.411Z',
  NULL);
CREATE TABLE pull_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    pr_number INTEGER,
    title TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    base_branch TEXT NOT NULL,
    head_branch TEXT NOT NULL,
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    merged_at DATETIME,
    url TEXT
);
CREATE TABLE schema_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO "schema_meta" VALUES('written_by','0.1.0');
CREATE TABLE sync_cursors (
    branch TEXT PRIMARY KEY,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    commit_hash TEXT NOT NULL,
    updated_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO "sync_cursors" VALUES('feature/003-reading-goals/impl-data',
  1,'c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2','2026-12-01T12:27:39.411Z');
INSERT INTO "sync_cursors" VALUES('feature/003-reading-goals/impl-api',
  1,'d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1','2026-12-01T12:27:39.411Z');
CREATE TABLE synced_commits (
    feature_id INTEGER NOT NULL REFERENCES features(id),
    branch TEXT NOT NULL,
    patch_id TEXT NOT NULL,
    commit_hash TEXT NOT NULL,
    PRIMARY KEY (feature_id, branch, patch_id)
);
INSERT INTO "synced_commits" VALUES(1,'feature/003-reading-goals/impl-data',
  'p1','c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1');
INSERT INTO "synced_commits" VALUES(1,'feature/003-reading-goals/impl-data',
  'p2','c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2');
INSERT INTO "synced_commits" VALUES(1,'feature/003-reading-goals/impl-data',
  'p3','c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3');
INSERT INTO "synced_commits" VALUES(1,'feature/003-reading-goals/impl-api',
  'q1','d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1');
CREATE TABLE task_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    event_type TEXT NOT NULL,
    task_id TEXT,
    commit_hash TEXT,
    message TEXT NOT NULL,
    metadata TEXT,
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO "task_events" VALUES(1,1,1,'feature_created',NULL,
  NULL,
  'feature 003-reading-goals created: Readi' ||
  'ng goals (agents: overseer, implementor-' ||
  'data, implementor-api)'
  ,
  '{"name": "Reading goals", "overseer_branch": "feature/003-reading-goals/overseer"}',
  '2026-12-01T12:27:39.411Z');
INSERT INTO "task_events" VALUES(2,1,2,'task_started','T001',
  'c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1','T001: model',
  '{"branch": "feature/003-reading-goals/im' ||
  'pl-data", "source": "sync-status"}'
  ,
  '2026-12-01T12:27:39.411Z');
INSERT INTO "task_events" VALUES(3,1,2,'task_completed','T001',
  'c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2','T001 done',
  '{"branch": "feature/003-reading-goals/im' ||
  'pl-data", "source": "sync-status"}'
  ,
  '2026-12-01T12:27:39.411Z');
INSERT INTO "task_events" VALUES(4,1,2,'task_started','T001',
  'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3','T001: tweak',
  '{"branch": "feature/003-reading-goals/im' ||
  'pl-data", "source": "sync-status"}'
  ,
  '2026-12-01T12:27:39.411Z');
INSERT INTO "task_events" VALUES(5,1,3,'task_completed','T002',
  'd1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1','T002 done',
  '{"branch": "feature/003-reading-goals/im' ||
  'pl-api", "source": "sync-status"}'
  ,
  '2026-12-01T12:27:39.411Z');
INSERT INTO "task_events" VALUES(6,1,3,'task_started','T002',
  NULL,'T002: follow-up',NULL,'2026-12-01T12:27:39.412Z');
CREATE TABLE task_state (
    feature_id INTEGER NOT NULL REFERENCES features(id),
    task_id TEXT NOT NULL,
    status TEXT NOT NULL,
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    commit_hash TEXT,
    last_event_id INTEGER NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (feature_id, task_id)
);
INSERT INTO "task_state" VALUES(1,'T001','in-progress',2,'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3',
  4,'2026-12-01T12:27:39.411Z');
INSERT INTO "task_state" VALUES(1,'T002','in-progress',3,NULL,6,'2026-12-01T12:27:39.412Z');
CREATE TABLE test_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    agent_id INTEGER REFERENCES agents(id),
    test_type TEXT NOT NULL,
    commit_hash TEXT,
    status TEXT NOT NULL,
    tests_total INTEGER,
    tests_passed INTEGER,
    tests_failed INTEGER,
    duration_ms INTEGER,
    logs_url TEXT,
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    tests_skipped INTEGER
);
CREATE UNIQUE INDEX idx_agents_feature_role ON agents(feature_id, role);
CREATE INDEX idx_task_events_feature_id ON task_events(feature_id, id);
CREATE INDEX idx_task_events_agent ON task_events(agent_id, id);
CREATE INDEX idx_pull_requests_agent ON pull_requests(agent_id, status);
CREATE INDEX idx_conflicts_agent ON conflicts(agent_id, resolved);
CREATE INDEX idx_conflicts_feature ON conflicts(feature_id, resolved);
CREATE INDEX idx_blockers_agent ON blockers(agent_id, status);
CREATE INDEX idx_blockers_feature ON blockers(feature_id, status);
CREATE INDEX idx_test_results_feature ON test_results(feature_id, id);
CREATE INDEX idx_task_state_agent ON task_state(agent_id, status);
CREATE INDEX idx_conflicts_pair ON conflicts(feature_id, branch, other_branch, resolved);
CREATE INDEX idx_conflicts_other_agent ON conflicts(other_agent_id, resolved);
CREATE TRIGGER task_events_no_update BEFORE UPDATE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only: events cannot be changed');
END;
CREATE TRIGGER task_events_no_delete BEFORE DELETE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only: events cannot be deleted');
END;
CREATE TRIGGER task_events_activity AFTER INSERT ON task_events
BEGIN
    INSERT INTO agent_activity (agent_id, events, last_event_id, last_event_type, last_event_at)
    VALUES (NEW.agent_id, 1, NEW.id, NEW.event_type, NEW.created_at)
    ON CONFLICT (agent_id) DO UPDATE SET
        events = events + 1,
        last_event_id = NEW.id,
        last_event_type = NEW.event_type,
        last_event_at = NEW.created_at;
END;
CREATE TRIGGER task_events_task_state AFTER INSERT ON task_events
WHEN NEW.task_id IS NOT NULL AND NEW.task_id <> ''
    AND NEW.event_type IN ('task_started', 'task_completed', 'task_blocked', 'task_merged')
BEGIN
    INSERT INTO task_state (feature_id, task_id, status, agent_id, commit_hash,
                            last_event_id, updated_at)
    VALUES (NEW.feature_id, NEW.task_id,
            CASE NEW.event_type WHEN 'task_started' THEN 'in-progress'
                                WHEN 'task_completed' THEN 'completed'
                                WHEN 'task_merged' THEN 'merged'
                                ELSE 'blocked' END,
            NEW.agent_id, NEW.commit_hash, NEW.id, NEW.created_at)
    ON CONFLICT (feature_id, task_id) DO UPDATE SET
        status = excluded.status,
        agent_id = excluded.agent_id,
        commit_hash = excluded.commit_hash,
        last_event_id = excluded.last_event_id,
        updated_at = excluded.updated_at;
END;
CREATE VIEW v_feature_status AS
SELECT
    f.spec_id,
    f.name,
    f.status AS feature_status,
    a.role,
    a.branch_name,
    a.status AS agent_status,
    COALESCE(act.events, 0) AS events,
    act.last_event_type,
    act.last_event_at,
    (SELECT COUNT(*) FROM task_state ts
      WHERE ts.agent_id = a.id AND ts.status = 'in-progress') AS tasks_in_progress,
    (SELECT COUNT(*) FROM task_state ts
      WHERE ts.agent_id = a.id AND ts.status IN ('completed', 'merged')) AS tasks_completed,
    (SELECT COUNT(*) FROM task_state ts
      WHERE ts.agent_id = a.id AND ts.status = 'blocked') AS tasks_blocked,
    (SELECT COUNT(*) FROM pull_requests pr WHERE pr.agent_id = a.id) AS prs_count,
    (SELECT COUNT(*) FROM pull_requests pr
      WHERE pr.agent_id = a.id AND pr.status = 'merged') AS prs_merged,
    (SELECT COUNT(*) FROM conflicts c
      WHERE (c.agent_id = a.id OR c.other_agent_id = a.id) AND NOT c.resolved)
      AS active_conflicts,
    (SELECT COUNT(*) FROM blockers b
      WHERE b.agent_id = a.id AND b.status = 'active') AS active_blockers,
    (SELECT COUNT(*) FROM task_state ts
      WHERE ts.agent_id = a.id AND ts.status = 'merged') AS tasks_merged
FROM features f
LEFT JOIN agents a ON a.feature_id = f.id
LEFT JOIN agent_activity act ON act.agent_id = a.id;
CREATE VIEW v_recent_events AS
SELECT
    te.id,
    f.spec_id,
    a.role,
    te.event_type,
    te.task_id,
    te.commit_hash,
    te.message,
    te.metadata,
    te.created_at
FROM task_events te
JOIN features f ON te.feature_id = f.id
JOIN agents a ON te.agent_id = a.id
ORDER BY te.id DESC
LIMIT 100;
CREATE VIEW v_test_summary AS
SELECT
    f.spec_id,
    a.role,
    tr.test_type,
    tr.status,
    tr.commit_hash,
    tr.tests_total,
    tr.tests_passed,
    tr.tests_failed,
    tr.tests_skipped,
    tr.created_at
FROM test_results tr
JOIN features f ON tr.feature_id = f.id
LEFT JOIN agents a ON tr.agent_id = a.id
ORDER BY tr.id DESC;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('features',1);
INSERT INTO "sqlite_sequence" VALUES('agents',3);
INSERT INTO "sqlite_sequence" VALUES('task_events',6);

PRAGMA user_version = 3;
"""
V3_DATA = "feature/003-reading-goals/impl-data"


@pytest.fixture
def version_3_db(tmp_path: Path) -> Path:
    path = tmp_path / "events.db"
    conn = sqlite3.connect(path)
    conn.executescript(VERSION_3)
    conn.close()
    return path


def test_version_3_store_is_migrated_and_task_state_rederived(version_3_db: Path) -> None:
    conn = sqlite3.connect(version_3_db)
    before = dict(conn.execute("SELECT task_id, status FROM task_state").fetchall())
    conn.close()
    assert before == {"T001": "in-progress", "T002": "in-progress"}  # the old rule's answer
    store = SQLiteStore(version_3_db)
    info = store.initialize()
    assert (info.migrated_from, info.schema_version) == (3, SCHEMA_VERSION)
    assert info.counts is not None and info.counts["task_events"] == 6
    states = {t.task_id: t.status for t in store.task_states("003-reading-goals")}
    assert states == {"T001": "completed", "T002": "completed"}  # completion is sticky
    # the commits synced before the migration are known, with what they said
    again = [
        SyncCommit("e1" * 20, "p2", "T001 done", [("T001", "completed", None)]),
        SyncCommit("e2" * 20, "p3", "T001: tweak", [("T001", "started", None),
                                                    ("T003", "completed", None)]),
    ]  # fmt: skip
    events = store.record_sync("003-reading-goals", "implementor-data", V3_DATA, "e2" * 20, again)
    assert [(e.event_type, e.task_id) for e in events] == [("task_completed", "T003")]
    store.close()
    conn = sqlite3.connect(version_3_db)
    triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert "task_events_task_state" not in triggers
    conn.close()


def test_version_4_store_gets_the_delivery_cursors(tmp_path: Path) -> None:
    """Version 5 adds the outbox's delivery cursors to a store that had none."""
    db = tmp_path / "events.db"
    store = SQLiteStore(db)
    store.initialize()
    store.add_feature("003-reading-goals", "Reading goals", "feature/x/overseer",
                      [("overseer", "feature/x/overseer")])  # fmt: skip
    store.close()
    conn = sqlite3.connect(db)  # the store as version 4 left it: no delivery_cursors
    conn.execute("DROP TABLE delivery_cursors")
    # nor what versions 6 and 7 added
    for table in ("notifications", "notify_state", "usage", "transcript_cursors"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    store = SQLiteStore(db)
    info = store.initialize()
    assert (info.migrated_from, info.schema_version) == (4, SCHEMA_VERSION)
    assert [e.event_type for e in store.events_since()] == ["feature_created"]
    assert store.delivery_cursor("webhook") is None
    assert store.move_delivery_cursor("webhook", None, 1)
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT consumer, event_id FROM delivery_cursors").fetchall() == [
        ("webhook", 1)
    ]
    conn.close()
