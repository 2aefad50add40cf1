"""The PostgreSQL store's views, for people reading the database (``psql``, a BI tool):
the SQLite store's three, with the project of each row (``project``, its name). The
store itself reads ``v_feature_status`` for ``status``; they are dropped and made again
at their latest definition whenever the schema is migrated."""

from __future__ import annotations

VIEWS = """
CREATE VIEW v_feature_status AS
SELECT
    p.name AS project,
    f.project_id,
    f.spec_id,
    f.name,
    f.status AS feature_status,
    a.role,
    a.branch_name,
    a.status AS agent_status,
    COALESCE(act.events, 0) AS events,
    act.last_event_type,
    co_ts(act.last_event_at) AS last_event_at,
    (SELECT COUNT(*) FROM task_state ts WHERE ts.project_id = a.project_id
      AND ts.agent_id = a.id AND ts.status = 'in-progress') AS tasks_in_progress,
    (SELECT COUNT(*) FROM task_state ts WHERE ts.project_id = a.project_id
      AND ts.agent_id = a.id AND ts.status IN ('completed', 'merged')) AS tasks_completed,
    (SELECT COUNT(*) FROM task_state ts WHERE ts.project_id = a.project_id
      AND ts.agent_id = a.id AND ts.status = 'blocked') AS tasks_blocked,
    (SELECT COUNT(*) FROM pull_requests pr WHERE pr.project_id = a.project_id
      AND pr.agent_id = a.id) AS prs_count,
    (SELECT COUNT(*) FROM pull_requests pr WHERE pr.project_id = a.project_id
      AND pr.agent_id = a.id AND pr.status = 'merged') AS prs_merged,
    (SELECT COUNT(*) FROM conflicts c WHERE c.project_id = a.project_id
      AND (c.agent_id = a.id OR c.other_agent_id = a.id) AND NOT c.resolved)
      AS active_conflicts,
    (SELECT COUNT(*) FROM blockers b WHERE b.project_id = a.project_id
      AND b.agent_id = a.id AND b.status = 'active') AS active_blockers,
    (SELECT COUNT(*) FROM task_state ts WHERE ts.project_id = a.project_id
      AND ts.agent_id = a.id AND ts.status = 'merged') AS tasks_merged
FROM features f
JOIN projects p ON p.id = f.project_id
LEFT JOIN agents a ON a.project_id = f.project_id AND a.feature_id = f.id
LEFT JOIN agent_activity act ON act.project_id = a.project_id AND act.agent_id = a.id;

CREATE VIEW v_recent_events AS
SELECT
    p.name AS project,
    te.project_id,
    te.id,
    f.spec_id,
    a.role,
    te.event_type,
    te.task_id,
    te.commit_hash,
    te.message,
    te.metadata,
    co_ts(te.created_at) AS created_at
FROM task_events te
JOIN projects p ON p.id = te.project_id
JOIN features f ON f.project_id = te.project_id AND f.id = te.feature_id
JOIN agents a ON a.project_id = te.project_id AND a.id = te.agent_id
ORDER BY te.created_at DESC, te.id DESC
LIMIT 100;

CREATE VIEW v_test_summary AS
SELECT
    p.name AS project,
    tr.project_id,
    f.spec_id,
    a.role,
    tr.test_type,
    tr.status,
    tr.commit_hash,
    tr.tests_total,
    tr.tests_passed,
    tr.tests_failed,
    tr.tests_skipped,
    co_ts(tr.created_at) AS created_at
FROM test_results tr
JOIN projects p ON p.id = tr.project_id
JOIN features f ON f.project_id = tr.project_id AND f.id = tr.feature_id
LEFT JOIN agents a ON a.project_id = tr.project_id AND a.id = tr.agent_id
ORDER BY tr.created_at DESC, tr.id DESC;
"""

VIEW_NAMES = ("v_feature_status", "v_recent_events", "v_test_summary")
