"""The PostgreSQL store's rows: the queries that read them back as models, the lookups by
spec id and role, and appending an event (which keeps the ``task_state`` summary current
with the domain's :func:`~claude_orchestrator.domain_tasks.derive_task_state`).

Every query is scoped to one project: its first parameter is the project's id. Text is
ordered byte-wise (``COLLATE "C"``), as SQLite and Python order it, whatever the
database's collation. Everything here runs on a connection inside the caller's
transaction.
"""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from claude_orchestrator import domain
from claude_orchestrator.domain_tasks import STATE_EVENTS, TaskEvent, derive_task_state
from claude_orchestrator.models import (
    Agent,
    Blocker,
    Conflict,
    Event,
    Feature,
    NewEvent,
    PullRequest,
)

if TYPE_CHECKING:
    import psycopg  # type: ignore[import-not-found, unused-ignore]

C = 'COLLATE "C"'
FEATURE_SQL = (
    "SELECT id, spec_id, name, overseer_branch, status, co_ts(created_at), "
    "co_ts(completed_at) FROM features WHERE project_id = %s"
)
AGENT_SQL = (
    "SELECT a.id, f.spec_id, a.role, a.branch_name, a.status, co_ts(a.created_at) "
    "FROM agents a JOIN features f ON f.project_id = a.project_id AND f.id = a.feature_id "
    "WHERE a.project_id = %s"
)
EVENT_SQL = (
    "SELECT te.id, f.spec_id, a.role, te.event_type, te.message, te.task_id, "
    "te.commit_hash, te.metadata, co_ts(te.created_at) "
    "FROM task_events te "
    "JOIN features f ON f.project_id = te.project_id AND f.id = te.feature_id "
    "JOIN agents a ON a.project_id = te.project_id AND a.id = te.agent_id "
    "WHERE te.project_id = %s"
)
CONFLICT_SQL = (
    "SELECT c.id, f.spec_id, a.role, c.conflicting_files, c.severity, c.resolved, "
    "c.resolution_notes, co_ts(c.detected_at), co_ts(c.resolved_at), c.branch, "
    "c.other_branch, oa.role "
    "FROM conflicts c JOIN features f ON f.project_id = c.project_id AND f.id = c.feature_id "
    "JOIN agents a ON a.project_id = c.project_id AND a.id = c.agent_id "
    "LEFT JOIN agents oa ON oa.project_id = c.project_id AND oa.id = c.other_agent_id "
    "WHERE c.project_id = %s"
)
#: a blocker's columns, then the task it blocks (not in the model)
BLOCKER_SQL = (
    "SELECT b.id, f.spec_id, a.role, b.blocker_type, b.description, ba.role, b.status, "
    "co_ts(b.created_at), co_ts(b.resolved_at), b.resolution_notes, b.task_id "
    "FROM blockers b JOIN features f ON f.project_id = b.project_id AND f.id = b.feature_id "
    "JOIN agents a ON a.project_id = b.project_id AND a.id = b.agent_id "
    "LEFT JOIN agents ba ON ba.project_id = b.project_id AND ba.id = b.blocking_agent_id "
    "WHERE b.project_id = %s"
)
TEST_SQL = (
    "SELECT t.id, f.spec_id, a.role, t.test_type, t.status, t.commit_hash, t.tests_total, "
    "t.tests_passed, t.tests_failed, t.tests_skipped, t.duration_ms, t.logs_url, "
    "co_ts(t.created_at) "
    "FROM test_results t JOIN features f ON f.project_id = t.project_id AND f.id = t.feature_id "
    "LEFT JOIN agents a ON a.project_id = t.project_id AND a.id = t.agent_id "
    "WHERE t.project_id = %s"
)
PR_SQL = (
    "SELECT p.id, f.spec_id, a.role, p.pr_number, p.title, p.status, p.base_branch, "
    "p.head_branch, p.url, co_ts(p.created_at), co_ts(p.merged_at) "
    "FROM pull_requests p JOIN features f ON f.project_id = p.project_id AND f.id = p.feature_id "
    "JOIN agents a ON a.project_id = p.project_id AND a.id = p.agent_id "
    "WHERE p.project_id = %s"
)
ROLE_ORDER = f"(a.role <> 'overseer'), a.role {C}"
#: the id of a feature by spec id, for ``... = (FEATURE_ID)`` with (project, spec id)
FEATURE_ID = "SELECT id FROM features WHERE project_id = %s AND spec_id = %s"
#: the event a sync-status retraction (a rewritten commit no longer says it) takes back
_RETRACTS = (
    "CASE WHEN event_type = 'task_reopened' AND metadata->>'source' = 'sync-status' "
    "THEN metadata->'retracts' END"
)


def event(row: Sequence[Any], *, stored_commit: bool = False) -> Event:
    """An event read back; ``stored_commit``: the commit as stored ('' kept), not None."""
    return Event(
        id=int(row[0]),
        spec_id=row[1],
        role=row[2],
        event_type=row[3],
        message=row[4],
        task_id=row[5] or None,
        commit_hash=row[6] if stored_commit else row[6] or None,
        metadata=row[7] or None,
        created_at=row[8],
    )


def conflict(row: Sequence[Any]) -> Conflict:
    return Conflict(int(row[0]), row[1], row[2], list(row[3]), row[4], bool(row[5]), *row[6:12])


def blocker(row: Sequence[Any]) -> Blocker:
    return Blocker(int(row[0]), *row[1:10])


def metadata_json(metadata: dict[str, Any] | None) -> str | None:
    """Metadata as stored: the SQLite store's text (sorted keys), None for none."""
    return json.dumps(metadata, sort_keys=True) if metadata else None


class RecordReads:
    """The reads a transaction and the queries share, over ``_rows`` (the rows of a
    query whose first parameter, added by ``_rows``, is the project's id)."""

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError  # pragma: no cover - the transaction and the queries

    def feature(self, spec_id: str) -> Feature | None:
        rows = self._rows(f"{FEATURE_SQL} AND spec_id = %s", (spec_id,))
        return Feature(*rows[0]) if rows else None

    def agents(self, spec_id: str) -> list[Agent]:
        sql = f"{AGENT_SQL} AND f.spec_id = %s ORDER BY {ROLE_ORDER}"
        return [Agent(*r) for r in self._rows(sql, (spec_id,))]

    def pull_request(self, pr_id: int) -> PullRequest | None:
        rows = self._rows(f"{PR_SQL} AND p.id = %s", (pr_id,))
        return PullRequest(*rows[0]) if rows else None

    def delivery_cursor(self, consumer: str) -> int | None:
        rows = self._rows(
            "SELECT event_id FROM delivery_cursors WHERE project_id = %s AND consumer = %s",
            (consumer,),
        )
        return int(rows[0][0]) if rows else None


# -- lookups -------------------------------------------------------------------------------
def feature_id(conn: psycopg.Connection[Any], project: int, spec_id: str) -> int:
    row = conn.execute(FEATURE_ID, (project, spec_id)).fetchone()
    if row is None:
        raise domain.feature_not_found(spec_id)
    return int(row[0])


def agent_ids(
    conn: psycopg.Connection[Any], project: int, spec_id: str, role: str
) -> tuple[int, int]:
    """(feature id, agent id) of a role of a feature."""
    row = conn.execute(
        "SELECT f.id, a.id FROM features f LEFT JOIN agents a ON a.project_id = f.project_id "
        "AND a.feature_id = f.id AND a.role = %s WHERE f.project_id = %s AND f.spec_id = %s",
        (role, project, spec_id),
    ).fetchone()
    if row is None:
        raise domain.feature_not_found(spec_id)
    if row[1] is None:
        raise domain.agent_not_found(spec_id, role)
    return int(row[0]), int(row[1])


# -- events and the task-state summary -----------------------------------------------------
def task_events(
    conn: psycopg.Connection[Any], project: int, feature: int, task_id: str
) -> list[TaskEvent]:
    """A task's state events, as the domain's state derivation reads them."""
    rows = conn.execute(
        f"SELECT id, agent_id, event_type, commit_hash, co_ts(created_at), {_RETRACTS} "
        "FROM task_events WHERE project_id = %s AND feature_id = %s AND task_id = %s "
        "AND event_type = ANY(%s) ORDER BY id",
        (project, feature, task_id, list(STATE_EVENTS)),
    ).fetchall()
    return [
        # an int, as SQLite's json_extract gives it (true is 1 there)
        TaskEvent(int(r[0]), int(r[1]), r[2], r[3], r[4],
                  int(r[5]) if isinstance(r[5], int) else None)
        for r in rows
    ]  # fmt: skip


def refresh_task_state(
    conn: psycopg.Connection[Any], project: int, feature: int, task_id: str
) -> None:
    """Derive the task's state from all its events (the domain's rule) and store it."""
    state = derive_task_state(task_events(conn, project, feature, task_id))
    if state is None:
        conn.execute(
            "DELETE FROM task_state WHERE project_id = %s AND feature_id = %s AND task_id = %s",
            (project, feature, task_id),
        )
        return
    decided = state.event
    conn.execute(
        "INSERT INTO task_state (project_id, feature_id, task_id, status, agent_id, "
        "commit_hash, last_event_id, updated_at, reopened) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::timestamptz, %s) "
        "ON CONFLICT (project_id, feature_id, task_id) DO UPDATE SET "
        "status = excluded.status, agent_id = excluded.agent_id, "
        "commit_hash = excluded.commit_hash, last_event_id = excluded.last_event_id, "
        "updated_at = excluded.updated_at, reopened = excluded.reopened",
        (project, feature, task_id, state.status, decided.source, decided.commit_hash or None,
         decided.id, decided.created_at, state.reopened),
    )  # fmt: skip


def insert_event(
    conn: psycopg.Connection[Any], project: int, feature: int, agent: int, new: NewEvent
) -> Event:
    """Append an event (the domain worded it) and keep the task's state current."""
    row = conn.execute(
        "INSERT INTO task_events (project_id, feature_id, agent_id, event_type, task_id, "
        "commit_hash, message, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::json) "
        "RETURNING id, co_ts(created_at)",
        (project, feature, agent, new.event_type, new.task_id, new.commit_hash, new.message,
         metadata_json(new.metadata)),
    ).fetchone()  # fmt: skip
    assert row is not None
    if new.task_id and new.event_type in STATE_EVENTS:
        refresh_task_state(conn, project, feature, new.task_id)
    return Event(int(row[0]), new.spec_id, new.role, new.event_type, new.message, new.task_id,
                 new.commit_hash, new.metadata, row[1])  # fmt: skip
