"""The SQLite store's rows: the queries that read them back as models, the lookups by
spec id and role, and appending an event (which keeps the ``task_state`` summary
current with the domain's :func:`~claude_orchestrator.domain_tasks.derive_task_state`).

Everything here runs on a connection inside the caller's transaction.
"""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from claude_orchestrator import domain
from claude_orchestrator.domain_tasks import STATE_EVENTS, TaskEvent, derive_task_state
from claude_orchestrator.errors import ValidationError
from claude_orchestrator.models import (
    Blocker,
    Conflict,
    Event,
    NewEvent,
    Notification,
    TranscriptCursor,
    Usage,
)

STATE_MARKS = ", ".join("?" * len(STATE_EVENTS))
#: the event a sync-status retraction (a rewritten commit no longer says it) takes back
_RETRACTS = (
    "CASE WHEN event_type = 'task_reopened' AND json_valid(metadata) "
    "AND json_extract(metadata, '$.source') = 'sync-status' "
    "THEN json_extract(metadata, '$.retracts') END"
)
NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

FEATURE_COLS = "id, spec_id, name, overseer_branch, status, created_at, completed_at"
AGENT_SQL = (
    "SELECT a.id, f.spec_id, a.role, a.branch_name, a.status, a.created_at "
    "FROM agents a JOIN features f ON f.id = a.feature_id"
)
EVENT_SQL = (
    "SELECT te.id, f.spec_id, a.role, te.event_type, te.message, te.task_id, "
    "te.commit_hash, te.metadata, te.created_at "
    "FROM task_events te JOIN features f ON f.id = te.feature_id "
    "JOIN agents a ON a.id = te.agent_id"
)
CONFLICT_SQL = (
    "SELECT c.id, f.spec_id, a.role, c.conflicting_files, c.severity, c.resolved, "
    "c.resolution_notes, c.detected_at, c.resolved_at, c.branch, c.other_branch, oa.role "
    "FROM conflicts c JOIN features f ON f.id = c.feature_id JOIN agents a ON a.id = c.agent_id "
    "LEFT JOIN agents oa ON oa.id = c.other_agent_id"
)
#: a blocker's columns, then the task it blocks (not in the model: see :func:`blocker`)
BLOCKER_SQL = (
    "SELECT b.id, f.spec_id, a.role, b.blocker_type, b.description, ba.role, b.status, "
    "b.created_at, b.resolved_at, b.resolution_notes, b.task_id "
    "FROM blockers b JOIN features f ON f.id = b.feature_id JOIN agents a ON a.id = b.agent_id "
    "LEFT JOIN agents ba ON ba.id = b.blocking_agent_id"
)
TEST_SQL = (
    "SELECT t.id, f.spec_id, a.role, t.test_type, t.status, t.commit_hash, t.tests_total, "
    "t.tests_passed, t.tests_failed, t.tests_skipped, t.duration_ms, t.logs_url, t.created_at "
    "FROM test_results t JOIN features f ON f.id = t.feature_id "
    "LEFT JOIN agents a ON a.id = t.agent_id"
)
PR_SQL = (
    "SELECT p.id, f.spec_id, a.role, p.pr_number, p.title, p.status, p.base_branch, "
    "p.head_branch, p.url, p.created_at, p.merged_at "
    "FROM pull_requests p JOIN features f ON f.id = p.feature_id "
    "JOIN agents a ON a.id = p.agent_id"
)
ROLE_ORDER = "(a.role <> 'overseer'), a.role"
#: a notification's columns, in :class:`~claude_orchestrator.models.Notification`'s order
NOTIFICATION_COLS = (
    "id, channel, key, kind, spec_id, subject, severity, payload, state, attempts, "
    "created_at, due_at, lease_owner, lease_until, sent_at, last_error, last_status"
)
#: what ``update_notification`` writes (the rest of a notification never changes)
NOTIFICATION_SET = (
    "payload = {0}, state = {0}, attempts = {0}, due_at = {0}, lease_owner = {0}, "
    "lease_until = {0}, sent_at = {0}, last_error = {0}, last_status = {0}"
)


#: a usage record's columns as written: its key, owner (feature and agent ids) and the rest
USAGE_WRITTEN = (
    "key, feature_id, agent_id, session_id, model, at, input_tokens, output_tokens, "
    "cache_write_tokens, cache_read_tokens, transcript, line, cache_write_1h_tokens"
)
USAGE_SQL = (
    "SELECT u.id, u.key, f.spec_id, a.role, u.session_id, u.model, u.at, u.input_tokens, "
    "u.output_tokens, u.cache_write_tokens, u.cache_read_tokens, u.transcript, u.line, "
    "u.created_at, u.cache_write_1h_tokens FROM usage u "
    "LEFT JOIN features f ON f.id = u.feature_id "
    "LEFT JOIN agents a ON a.id = u.agent_id"
)
#: a transcript cursor's columns, in :class:`~claude_orchestrator.models.TranscriptCursor`'s order
CURSOR_COLS = "path, device, inode, byte_offset, line, session_id"
#: what writing a cursor again sets (then ``updated_at``, the store's own time)
CURSOR_SET = (
    "device = excluded.device, inode = excluded.inode, byte_offset = excluded.byte_offset, "
    "line = excluded.line, session_id = excluded.session_id, updated_at = "
)
_TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens",
           "cache_write_1h_tokens")  # fmt: skip
_TEXTS = ("key", "session_id", "model", "at", "transcript")
_INT64, _UINT64 = 1 << 63, 1 << 64


def event(row: Sequence[Any], *, stored_commit: bool = False) -> Event:
    """An event read back; ``stored_commit``: the commit as stored ('' kept), not None."""
    metadata = json.loads(row[7]) if row[7] else None
    return Event(
        id=row[0],
        spec_id=row[1],
        role=row[2],
        event_type=row[3],
        message=row[4],
        task_id=row[5] or None,
        commit_hash=row[6] if stored_commit else row[6] or None,
        metadata=metadata,
        created_at=row[8],
    )


def conflict(row: Sequence[Any]) -> Conflict:
    try:
        files = json.loads(row[3])
    except ValueError:  # rows written by the original tool may hold plain text
        files = [row[3]]
    if not isinstance(files, list):
        files = [str(files)]
    return Conflict(
        row[0], row[1], row[2], [str(f) for f in files], row[4], bool(row[5]), *row[6:12]
    )


def blocker(row: Sequence[Any]) -> Blocker:
    return Blocker(*row[:10])


def queue_query(
    select: str,
    mark: str,
    states: Sequence[str],
    channel: str | None,
    subject: str | None,
    due_before: float | None,
    sent_since: float | None,
    limit: int,
) -> tuple[str, list[Any]] | None:
    """A queue query (``StoreTransaction.notifications``) and its parameters, None when
    it can find nothing (no state, a ``limit`` below 1). ``select`` ends where a condition
    may follow (``... WHERE`` or ``... AND``); ``mark`` is the driver's placeholder
    (SQLite's ``?``, psycopg's ``%s``)."""
    if not states or limit < 1:
        return None
    where = [f"state IN ({', '.join([mark] * len(states))})"]
    params: list[Any] = list(states)
    for condition, value in (("channel = ", channel), ("subject = ", subject),
                             ("due_at <= ", due_before), ("sent_at >= ", sent_since)):  # fmt: skip
        if value is not None:
            where.append(condition + mark)
            params.append(value)
    return f"{select} {' AND '.join(where)} ORDER BY due_at, id LIMIT {mark}", [*params, limit]


def mutable_notification(notification: Notification) -> tuple[Any, ...]:
    """The values of :data:`NOTIFICATION_SET`, in its order."""
    n = notification
    return (n.payload, n.state, n.attempts, n.due_at, n.lease_owner, n.lease_until, n.sent_at,
            n.last_error, n.last_status)  # fmt: skip


# -- usage and transcript cursors (both stores) ---------------------------------------------
def usage_owner(record: Usage) -> tuple[str, str] | None:
    """The (spec id, role) of the agent a usage record names, None for none; a record
    naming one without the other is a ValidationError."""
    if record.spec_id is None and record.role is None:
        return None
    if record.spec_id is None or record.role is None:
        raise ValidationError(
            f"the usage record {record.key[:80]!r} names spec_id={record.spec_id!r} and "
            f"role={record.role!r}: give both (the agent it was made by) or neither"
        )
    return record.spec_id, record.role


def usage_values(record: Usage, feature: int | None, agent: int | None) -> tuple[Any, ...]:
    """The values of :data:`USAGE_WRITTEN` (ValidationError for a count no 64-bit
    column holds, or text with a NUL, which PostgreSQL cannot store: both stores keep the
    same records, and ``events migrate`` copies every one)."""
    for name in _TEXTS:
        if "\x00" in getattr(record, name):
            raise ValidationError(
                f"the usage record {record.key[:80]!r} ({record.transcript}:{record.line}) has "
                f"a NUL character in its {name}, which the store cannot keep"
            )
    for name in (*_TOKENS, "line"):
        value = getattr(record, name)
        if not 0 <= value < _INT64:
            raise ValidationError(
                f"the usage record {record.key[:80]!r} ({record.transcript}:{record.line}) has "
                f"{name} {value}: a count is a whole number from 0 to 2**63 - 1"
            )
    if record.cache_write_1h_tokens > record.cache_write_tokens:
        raise ValidationError(
            f"the usage record {record.key[:80]!r} ({record.transcript}:{record.line}) has "
            f"cache_write_1h_tokens {record.cache_write_1h_tokens} above its cache_write_tokens "
            f"{record.cache_write_tokens}: the 1-hour writes are a part of the cache writes"
        )
    u = record
    return (u.key, feature, agent, u.session_id, u.model, u.at, u.input_tokens, u.output_tokens,
            u.cache_write_tokens, u.cache_read_tokens, u.transcript, u.line,
            u.cache_write_1h_tokens)  # fmt: skip


def cursor_values(cursor: TranscriptCursor) -> tuple[Any, ...]:
    """The values of :data:`CURSOR_COLS`: device and inode (unsigned 64-bit, as ``os.stat``
    gives them) stored as the signed 64-bit integers of the same bits; ValidationError
    for a number outside those ranges."""
    c = cursor
    if "\x00" in c.path + c.session_id:
        raise ValidationError(
            f"the transcript cursor of {c.path!r} has a NUL character, which the store cannot keep"
        )
    for name, value, top in (("device", c.device, _UINT64), ("inode", c.inode, _UINT64),
                             ("offset", c.offset, _INT64), ("line", c.line, _INT64)):  # fmt: skip
        if not 0 <= value < top:
            raise ValidationError(
                f"the transcript cursor of {c.path} has {name} {value}: give a whole number "
                f"from 0 to {top - 1}"
            )
    return (c.path, _signed(c.device), _signed(c.inode), c.offset, c.line, c.session_id)


def transcript_cursor(row: Sequence[Any]) -> TranscriptCursor:
    return TranscriptCursor(row[0], _unsigned(row[1]), _unsigned(row[2]), *row[3:6])


def _signed(value: int) -> int:
    return value - _UINT64 if value >= _INT64 else value


def _unsigned(value: int) -> int:
    return value + _UINT64 if value < 0 else value


# -- lookups -------------------------------------------------------------------------------
def feature_id(conn: sqlite3.Connection, spec_id: str) -> int:
    row = conn.execute("SELECT id FROM features WHERE spec_id = ?", (spec_id,)).fetchone()
    if row is None:
        raise domain.feature_not_found(spec_id)
    return int(row[0])


def agent_ids(conn: sqlite3.Connection, spec_id: str, role: str) -> tuple[int, int]:
    """(feature id, agent id) of a role of a feature."""
    row = conn.execute(
        "SELECT f.id, a.id FROM features f LEFT JOIN agents a "
        "ON a.feature_id = f.id AND a.role = ? WHERE f.spec_id = ?",
        (role, spec_id),
    ).fetchone()
    if row is None:
        feature_id(conn, spec_id)  # raises the feature-not-found error
    if row[1] is None:
        raise domain.agent_not_found(spec_id, role)
    return int(row[0]), int(row[1])


# -- events and the task-state summary -----------------------------------------------------
def task_events(conn: sqlite3.Connection, feature: int, task_id: str) -> list[TaskEvent]:
    """A task's state events, as the domain's state derivation reads them."""
    sql = (
        f"SELECT id, agent_id, event_type, commit_hash, created_at, {_RETRACTS} "
        f"FROM task_events WHERE feature_id = ? AND task_id = ? AND event_type IN ({STATE_MARKS})"
    )
    rows = conn.execute(sql + " ORDER BY id", (feature, task_id, *STATE_EVENTS))
    return [TaskEvent(r[0], r[1], r[2], r[3], r[4], r[5] if isinstance(r[5], int) else None)
            for r in rows]  # fmt: skip


def refresh_task_state(conn: sqlite3.Connection, feature: int, task_id: str) -> None:
    """Derive the task's state from all its events (the domain's rule) and store it."""
    state = derive_task_state(task_events(conn, feature, task_id))
    if state is None:
        conn.execute(
            "DELETE FROM task_state WHERE feature_id = ? AND task_id = ?", (feature, task_id)
        )
        return
    decided = state.event
    conn.execute(
        "INSERT INTO task_state (feature_id, task_id, status, agent_id, commit_hash, "
        "last_event_id, updated_at, reopened) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (feature_id, task_id) DO UPDATE SET status = excluded.status, "
        "agent_id = excluded.agent_id, commit_hash = excluded.commit_hash, "
        "last_event_id = excluded.last_event_id, updated_at = excluded.updated_at, "
        "reopened = excluded.reopened",
        (feature, task_id, state.status, decided.source, decided.commit_hash or None,
         decided.id, decided.created_at, int(state.reopened)),
    )  # fmt: skip


def rebuild_task_states(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM task_state")
    tasks = conn.execute(
        "SELECT DISTINCT feature_id, task_id FROM task_events WHERE task_id IS NOT NULL "
        f"AND task_id <> '' AND event_type IN ({STATE_MARKS}) ORDER BY feature_id, task_id",
        STATE_EVENTS,
    ).fetchall()
    for feature, task_id in tasks:
        refresh_task_state(conn, feature, task_id)


def insert_event(conn: sqlite3.Connection, feature: int, agent_id: int, new: NewEvent) -> Event:
    """Append an event (the domain worded it) and keep the task's state current."""
    metadata = json.dumps(new.metadata, sort_keys=True) if new.metadata else None
    row = conn.execute(
        "INSERT INTO task_events (feature_id, agent_id, event_type, task_id, commit_hash, "
        "message, metadata) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id, created_at",
        (feature, agent_id, new.event_type, new.task_id, new.commit_hash, new.message, metadata),
    ).fetchone()
    if new.task_id and new.event_type in STATE_EVENTS:
        refresh_task_state(conn, feature, new.task_id)
    return Event(int(row[0]), new.spec_id, new.role, new.event_type, new.message, new.task_id,
                 new.commit_hash, new.metadata, row[1])  # fmt: skip
