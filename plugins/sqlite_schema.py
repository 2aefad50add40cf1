"""The event store's SQL schema and its migrations.

Version 0 is the schema of the original shell tool (``event-store.sh``), recognised by
its tables and an unset ``user_version``; it is migrated forward like any other version.
A new store is created at version 1 and migrated forward through :data:`MIGRATIONS`, so
the migration path is the one every store takes. Views are always dropped and recreated
at their latest definition. Everything runs inside the caller's transaction.
"""

from __future__ import annotations

SCHEMA_VERSION = 7

# Tables as the original defined them, plus what version 1 added. ``IF NOT EXISTS``
# lets the migration from version 0 create only what is missing.
TABLES = """
CREATE TABLE IF NOT EXISTS schema_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS features (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spec_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    overseer_branch TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'in-progress',
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    completed_at DATETIME
);
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    branch_name TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS task_events (
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
CREATE TABLE IF NOT EXISTS pull_requests (
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
CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    conflicting_files TEXT NOT NULL,
    severity TEXT NOT NULL DEFAULT 'warning',
    resolved BOOLEAN DEFAULT FALSE,
    resolution_notes TEXT,
    detected_at DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    resolved_at DATETIME
);
CREATE TABLE IF NOT EXISTS test_results (
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
CREATE TABLE IF NOT EXISTS blockers (
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
-- Summaries kept current (agent_activity by a trigger, task_state by the store, which
-- derives it in Python: claude_orchestrator.tasks.derive_task_state), so status needs
-- no scan of task_events.
CREATE TABLE IF NOT EXISTS agent_activity (
    agent_id INTEGER PRIMARY KEY REFERENCES agents(id),
    events INTEGER NOT NULL DEFAULT 0,
    last_event_id INTEGER,
    last_event_type TEXT,
    last_event_at DATETIME
);
CREATE TABLE IF NOT EXISTS task_state (
    feature_id INTEGER NOT NULL REFERENCES features(id),
    task_id TEXT NOT NULL,
    status TEXT NOT NULL,
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    commit_hash TEXT,
    last_event_id INTEGER NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (feature_id, task_id)
);
"""

INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS idx_agents_feature_role ON agents(feature_id, role);
CREATE INDEX IF NOT EXISTS idx_task_events_feature_id ON task_events(feature_id, id);
CREATE INDEX IF NOT EXISTS idx_task_events_agent ON task_events(agent_id, id);
CREATE INDEX IF NOT EXISTS idx_pull_requests_agent ON pull_requests(agent_id, status);
CREATE INDEX IF NOT EXISTS idx_conflicts_agent ON conflicts(agent_id, resolved);
CREATE INDEX IF NOT EXISTS idx_conflicts_feature ON conflicts(feature_id, resolved);
CREATE INDEX IF NOT EXISTS idx_blockers_agent ON blockers(agent_id, status);
CREATE INDEX IF NOT EXISTS idx_blockers_feature ON blockers(feature_id, status);
CREATE INDEX IF NOT EXISTS idx_test_results_feature ON test_results(feature_id, id);
CREATE INDEX IF NOT EXISTS idx_task_state_agent ON task_state(agent_id, status);
"""

TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS task_events_no_update BEFORE UPDATE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only: events cannot be changed');
END;
CREATE TRIGGER IF NOT EXISTS task_events_no_delete BEFORE DELETE ON task_events
BEGIN
    SELECT RAISE(ABORT, 'task_events is append-only: events cannot be deleted');
END;
CREATE TRIGGER IF NOT EXISTS task_events_activity AFTER INSERT ON task_events
BEGIN
    INSERT INTO agent_activity (agent_id, events, last_event_id, last_event_type, last_event_at)
    VALUES (NEW.agent_id, 1, NEW.id, NEW.event_type, NEW.created_at)
    ON CONFLICT (agent_id) DO UPDATE SET
        events = events + 1,
        last_event_id = NEW.id,
        last_event_type = NEW.event_type,
        last_event_at = NEW.created_at;
END;
"""

#: version -> statements that bring a store from version - 1 to version
MIGRATIONS: dict[int, str] = {
    2: """
-- Where sync-status stopped on each branch, and which changes (by patch id) it has
-- logged, so a rebased commit is never logged twice.
CREATE TABLE sync_cursors (
    branch TEXT PRIMARY KEY,
    feature_id INTEGER NOT NULL REFERENCES features(id),
    commit_hash TEXT NOT NULL,
    updated_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE synced_commits (
    feature_id INTEGER NOT NULL REFERENCES features(id),
    branch TEXT NOT NULL,
    patch_id TEXT NOT NULL,
    commit_hash TEXT NOT NULL,
    PRIMARY KEY (feature_id, branch, patch_id)
);
-- A detected conflict is a pair of branches and a set of files.
ALTER TABLE conflicts ADD COLUMN branch TEXT;
ALTER TABLE conflicts ADD COLUMN other_branch TEXT;
ALTER TABLE conflicts ADD COLUMN other_agent_id INTEGER REFERENCES agents(id);
ALTER TABLE conflicts ADD COLUMN fingerprint TEXT;
CREATE INDEX idx_conflicts_pair ON conflicts(feature_id, branch, other_branch, resolved);
CREATE INDEX idx_conflicts_other_agent ON conflicts(other_agent_id, resolved);
""",
    3: """
-- task_merged events (a merged PR) move a task's state to 'merged'; the trigger is
-- recreated at its latest definition right after the migrations.
DROP TRIGGER IF EXISTS task_events_task_state;
""",
    4: """
-- Task state is derived in Python (claude_orchestrator.tasks.derive_task_state) when an
-- event is appended, not by a trigger; the store rebuilds task_state after this step.
DROP TRIGGER IF EXISTS task_events_task_state;
ALTER TABLE task_state ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_task_events_task ON task_events(feature_id, task_id, id);
-- What each synced change (branch, patch id) said about each task, recorded or not: a
-- rewritten commit (amend, rebase) adds only what its message says now and was not
-- recorded for that change before.
CREATE TABLE synced_actions (
    feature_id INTEGER NOT NULL REFERENCES features(id),
    branch TEXT NOT NULL,
    patch_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    action TEXT NOT NULL,
    event_id INTEGER REFERENCES task_events(id),
    PRIMARY KEY (feature_id, branch, patch_id, task_id, action)
);
INSERT OR IGNORE INTO synced_actions (feature_id, branch, patch_id, task_id, action, event_id)
SELECT s.feature_id, s.branch, s.patch_id, te.task_id, substr(te.event_type, 6), te.id
FROM synced_commits s JOIN task_events te
  ON te.feature_id = s.feature_id AND te.commit_hash = s.commit_hash
 AND CASE WHEN json_valid(te.metadata) THEN json_extract(te.metadata, '$.branch') END = s.branch
WHERE te.event_type IN ('task_started', 'task_completed', 'task_blocked', 'task_reopened',
                        'task_merged');
""",
    5: """
-- The outbox: how far each consumer of the committed events (a notifier that delivers
-- elsewhere) has had them delivered, moved by compare-and-set.
CREATE TABLE delivery_cursors (
    consumer TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL,
    updated_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
""",
    6: """
-- The notification queue (claude_orchestrator.notify_queue): one row per message owed to
-- a channel, leased by the sender that sends it; times are Unix seconds. The key is the
-- message's idempotency key: queueing it again writes nothing.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    spec_id TEXT,
    subject TEXT,
    severity TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    due_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    sent_at REAL,
    last_error TEXT,
    last_status INTEGER
);
-- A sender's question: the channel's queued messages due by now, oldest due first.
CREATE INDEX idx_notifications_due ON notifications(state, channel, due_at, id);
-- An answered subject cancels its queued escalations.
CREATE INDEX idx_notifications_subject ON notifications(subject, state)
    WHERE subject IS NOT NULL;
-- What the pipeline remembers between runs (a subject's last notification, a channel's
-- Retry-After), by scope and key.
CREATE TABLE notify_state (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
""",
    7: """
-- Token usage (claude_orchestrator.metrics): one row per model reply, read from the
-- agents' Claude Code transcripts. The key (<message id>:<request id>) names a reply
-- across transcripts (a resumed session copies earlier replies): each is kept once.
-- feature_id and agent_id are both NULL for a session outside any feature's agent;
-- at is the transcript's own time (the agent's clock), as it wrote it.
CREATE TABLE usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    feature_id INTEGER REFERENCES features(id),
    agent_id INTEGER REFERENCES agents(id),
    session_id TEXT NOT NULL,
    model TEXT NOT NULL,
    at TEXT NOT NULL,
    input_tokens INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens INTEGER NOT NULL CHECK (output_tokens >= 0),
    cache_write_tokens INTEGER NOT NULL CHECK (cache_write_tokens >= 0),
    cache_read_tokens INTEGER NOT NULL CHECK (cache_read_tokens >= 0),
    -- the part of cache_write_tokens that were 1-hour cache writes
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0
        CHECK (cache_write_1h_tokens BETWEEN 0 AND cache_write_tokens),
    transcript TEXT NOT NULL,
    line INTEGER NOT NULL CHECK (line >= 0),
    created_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Usage since a time, of a feature (metrics SPEC --since) or of all, in the order it is
-- read (an index's entries end with the rowid: ties of at come in id order).
CREATE INDEX idx_usage_feature_at ON usage(feature_id, at);
CREATE INDEX idx_usage_at ON usage(at);
-- A feature's events of some types (the observation hook reads its budget_exceeded on
-- every call): a search by type, not a scan of the feature's events.
CREATE INDEX IF NOT EXISTS idx_task_events_type ON task_events(feature_id, event_type, id);
-- How far ingest read each transcript: the next byte (byte_offset: OFFSET is a keyword)
-- and the lines before it, and the file's identity then (device, inode; stored as
-- signed 64-bit integers), so a replaced or truncated file is read again from the start.
CREATE TABLE transcript_cursors (
    path TEXT PRIMARY KEY,
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL CHECK (byte_offset >= 0),
    line INTEGER NOT NULL CHECK (line >= 0),
    session_id TEXT NOT NULL,
    updated_at DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
""",
}

VIEWS = """
CREATE VIEW IF NOT EXISTS v_feature_status AS
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

CREATE VIEW IF NOT EXISTS v_recent_events AS
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

CREATE VIEW IF NOT EXISTS v_test_summary AS
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
"""

VIEW_NAMES = ("v_feature_status", "v_recent_events", "v_test_summary")

#: Tables the original tool created; a version-0 database has all of them.
ORIGINAL_TABLES = frozenset(
    {"features", "agents", "task_events", "pull_requests", "conflicts", "test_results", "blockers"}
)
