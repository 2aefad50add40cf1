"""The PostgreSQL store's transaction: the persistence port's primitive reads and writes
on one connection inside a transaction that holds the project's advisory lock (see
:class:`~claude_orchestrator.protocols_store.StoreTransaction`). Records are named by
spec id and role; the ids they are keyed by are looked up once per transaction
(features and agents are never removed, and no other writer of the project runs)."""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from claude_orchestrator import domain_rules as rules
from claude_orchestrator.domain_rules import SyncedAction
from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.models import (
    Agent,
    Blocker,
    Conflict,
    Event,
    Feature,
    NewEvent,
    Notification,
    PullRequest,
    TestResult,
    TranscriptCursor,
    Usage,
)
from claude_orchestrator.protocols_store import BlockerRow

from . import postgres_rows as pr
from . import sqlite_rows as sr

if TYPE_CHECKING:
    import psycopg  # type: ignore[import-not-found, unused-ignore]

_SYNCED = (
    "SELECT sa.patch_id, sa.task_id, sa.action, sa.event_id, sc.commit_hash "
    "FROM synced_actions sa LEFT JOIN synced_commits sc ON sc.project_id = sa.project_id "
    "AND sc.feature_id = sa.feature_id AND sc.branch = sa.branch AND sc.patch_id = sa.patch_id "
    "WHERE sa.project_id = %s AND sa.feature_id = %s AND sa.branch = %s"
)
_ACTION_KEY = (
    "project_id = %s AND feature_id = %s AND branch = %s AND patch_id = %s AND task_id = %s "
    "AND action = %s"
)


_NOTIFICATIONS = f"SELECT {sr.NOTIFICATION_COLS} FROM notifications WHERE project_id = %s"
_USAGE = (
    "SELECT u.id, u.key, f.spec_id, a.role, u.session_id, u.model, u.at, u.input_tokens, "
    "u.output_tokens, u.cache_write_tokens, u.cache_read_tokens, u.transcript, u.line, "
    "co_ts(u.created_at), u.cache_write_1h_tokens FROM usage u "
    "LEFT JOIN features f ON f.project_id = u.project_id AND f.id = u.feature_id "
    "LEFT JOIN agents a ON a.project_id = u.project_id AND a.id = u.agent_id "
    "WHERE u.project_id = %s"
)
#: the PostgreSQL types of :data:`~.sqlite_rows.USAGE_WRITTEN`, in its order
_USAGE_TYPES = ("text", "bigint", "bigint", "text", "text", "text", "bigint", "bigint", "bigint",
                "bigint", "text", "bigint", "bigint")  # fmt: skip
# One statement for any number of records: a column of values per array, inserted in the
# records' order (their ids follow it); a key stored already, or by an earlier row of the
# statement, is left out.
_INSERT_USAGE = (
    f"INSERT INTO usage (project_id, {sr.USAGE_WRITTEN}) SELECT %s, {sr.USAGE_WRITTEN} "
    f"FROM unnest({', '.join(f'%s::{t}[]' for t in _USAGE_TYPES)}) "
    f"WITH ORDINALITY AS r({sr.USAGE_WRITTEN}, n) ORDER BY n "
    "ON CONFLICT (project_id, key) DO NOTHING"
)


class PostgresTransaction(pr.RecordReads):
    """One write transaction of one project of the PostgreSQL store (``feature``,
    ``agents``, ``pull_request`` and ``delivery_cursor``: :class:`~.postgres_rows.RecordReads`)."""

    def __init__(self, conn: psycopg.Connection[Any], project: int) -> None:
        self.conn = conn
        self.project = project
        self._features: dict[str, int] = {}
        self._agents: dict[tuple[str, str], int] = {}

    # -- ids -------------------------------------------------------------------------
    def _feature_id(self, spec_id: str) -> int:
        if spec_id not in self._features:
            self._features[spec_id] = pr.feature_id(self.conn, self.project, spec_id)
        return self._features[spec_id]

    def _ids(self, spec_id: str, role: str) -> tuple[int, int]:
        """(feature id, agent id); the domain's not-found errors."""
        if (spec_id, role) not in self._agents:
            feature, agent = pr.agent_ids(self.conn, self.project, spec_id, role)
            self._features[spec_id] = feature
            self._agents[(spec_id, role)] = agent
        return self._features[spec_id], self._agents[(spec_id, role)]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        rows: list[Any] = self.conn.execute(sql, (self.project, *params)).fetchall()
        return rows

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        """Run a write whose first parameter is the project."""
        self.conn.execute(sql, (self.project, *params))

    def _update(self, table: str, columns: str, params: Sequence[Any], record_id: int) -> None:
        """``UPDATE table SET columns WHERE`` the project's record ``record_id``."""
        self.conn.execute(
            f"UPDATE {table} SET {columns} WHERE project_id = %s AND id = %s",
            (*params, self.project, record_id),
        )

    def _insert(self, sql: str, params: Sequence[Any]) -> tuple[int, str]:
        """Run an ``INSERT ... RETURNING id, <creation time>`` (the project first)."""
        row = self.conn.execute(sql, (self.project, *params)).fetchone()
        assert row is not None
        return int(row[0]), str(row[1])

    # -- reads -----------------------------------------------------------------------
    def conflict(self, conflict_id: int) -> Conflict | None:
        rows = self._rows(f"{pr.CONFLICT_SQL} AND c.id = %s", (conflict_id,))
        return pr.conflict(rows[0]) if rows else None

    def open_conflicts(self, spec_id: str) -> list[Conflict]:
        sql = f"{pr.CONFLICT_SQL} AND f.spec_id = %s AND NOT c.resolved ORDER BY c.id"
        return [pr.conflict(r) for r in self._rows(sql, (spec_id,))]

    def blocker(self, blocker_id: int) -> BlockerRow | None:
        rows = self._rows(f"{pr.BLOCKER_SQL} AND b.id = %s", (blocker_id,))
        return BlockerRow(pr.blocker(rows[0]), rows[0][10]) if rows else None

    def active_blockers(self, spec_id: str, role: str) -> list[Blocker]:
        sql = (f"{pr.BLOCKER_SQL} AND f.spec_id = %s AND a.role = %s AND b.status = 'active' "
               "ORDER BY b.id")  # fmt: skip
        return [pr.blocker(r) for r in self._rows(sql, (spec_id, role))]

    def events(
        self,
        spec_id: str,
        *,
        role: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        where, params = ["te.feature_id = %s"], list[Any]()
        try:
            params.append(self._feature_id(spec_id))
            if role is not None:
                where.append("te.agent_id = %s")
                params.append(self._ids(spec_id, role)[1])
        except NotFoundError:  # no such feature or agent: it has no events
            return []
        if task_id is not None:
            where.append("te.task_id = %s")
            params.append(task_id)
        if types is not None:
            where.append("te.event_type = ANY(%s)")
            params.append(list(types))
        sql = f"{pr.EVENT_SQL} AND {' AND '.join(where)} ORDER BY te.id"
        # the commit as stored: a merge copies it into task_merged as it is
        return [pr.event(r, stored_commit=True) for r in self._rows(sql, params)]

    def synced_commit(self, spec_id: str, branch: str, patch_id: str) -> str | None:
        rows = self._rows(
            "SELECT commit_hash FROM synced_commits WHERE project_id = %s AND feature_id = %s "
            "AND branch = %s AND patch_id = %s",
            (self._feature_id(spec_id), branch, patch_id),
        )
        return str(rows[0][0]) if rows else None

    def synced_actions(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] | None = None,
        task_id: str | None = None,
    ) -> list[SyncedAction]:
        sql, params = _SYNCED, [self._feature_id(spec_id), branch]
        if task_id is not None:
            sql += " AND sa.task_id = %s"
            params.append(task_id)
        if patch_ids is not None:
            sql += " AND sa.patch_id = ANY(%s)"
            params.append(list(patch_ids))
        rows = self._rows(sql + " ORDER BY sa.seq", params)
        return [SyncedAction(r[0], r[1], r[2], None if r[3] is None else int(r[3]), r[4])
                for r in rows]  # fmt: skip

    def notification(self, notification_id: int) -> Notification | None:
        rows = self._rows(f"{_NOTIFICATIONS} AND id = %s", (notification_id,))
        return Notification(*rows[0]) if rows else None

    def notifications(
        self,
        *,
        states: Sequence[str],
        channel: str | None = None,
        subject: str | None = None,
        due_before: float | None = None,
        sent_since: float | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        query = sr.queue_query(f"{_NOTIFICATIONS} AND", "%s", states, channel, subject,
                               due_before, sent_since, limit)  # fmt: skip
        return [] if query is None else [Notification(*r) for r in self._rows(*query)]

    def notify_state(self, scope: str, key: str) -> str | None:
        rows = self._rows(
            "SELECT value FROM notify_state WHERE project_id = %s AND scope = %s AND key = %s",
            (scope, key),
        )
        return str(rows[0][0]) if rows else None

    def usage(self, spec_id: str | None = None, *, since: str | None = None) -> list[Usage]:
        sql, params = _USAGE, list[Any]()
        if spec_id is not None:
            try:
                params.append(self._feature_id(spec_id))
            except NotFoundError:  # no such feature: it has no usage
                return []
            sql += " AND u.feature_id = %s"
        if since is not None:
            sql += f" AND u.at {pr.C} >= %s"
            params.append(since)
        return [Usage(*r) for r in self._rows(f"{sql} ORDER BY u.at {pr.C}, u.id", params)]

    def transcript_cursor(self, path: str) -> TranscriptCursor | None:
        rows = self._rows(
            f"SELECT {sr.CURSOR_COLS} FROM transcript_cursors WHERE project_id = %s AND path = %s",
            (path,),
        )
        return sr.transcript_cursor(rows[0]) if rows else None

    # -- writes ----------------------------------------------------------------------
    def insert_feature(self, feature: Feature) -> Feature:
        new_id, created = self._insert(
            "INSERT INTO features (project_id, spec_id, name, overseer_branch, status, "
            "completed_at) VALUES (%s, %s, %s, %s, %s, %s::timestamptz) "
            "RETURNING id, co_ts(created_at)",
            (feature.spec_id, feature.name, feature.overseer_branch, feature.status,
             feature.completed_at or None),
        )  # fmt: skip
        self._features[feature.spec_id] = new_id
        return feature._replace(id=new_id, created_at=created)

    def update_feature(self, feature: Feature) -> None:
        self._update(
            "features", "name = %s, status = %s, completed_at = %s::timestamptz",
            (feature.name, feature.status, feature.completed_at or None), feature.id,
        )  # fmt: skip

    def insert_agent(self, agent: Agent) -> Agent:
        feature = self._feature_id(agent.spec_id)
        new_id, created = self._insert(
            "INSERT INTO agents (project_id, role, feature_id, branch_name, status) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id, co_ts(created_at)",
            (agent.role, feature, agent.branch_name, agent.status),
        )
        self._agents[(agent.spec_id, agent.role)] = new_id
        return agent._replace(id=new_id, created_at=created)

    def update_agent(self, agent: Agent) -> None:
        self._update("agents", "status = %s", (agent.status,), agent.id)

    def insert_conflict(self, conflict: Conflict) -> Conflict:
        feature, agent = self._ids(conflict.spec_id, conflict.role)
        other = self._ids(conflict.spec_id, conflict.other_role)[1] if conflict.other_role else None
        # the file set as a scan compares it, kept for SQL readers (scans' conflicts only)
        scanned = rules.fingerprint(conflict.files) if conflict.branch is not None else None
        new_id, detected = self._insert(
            "INSERT INTO conflicts (project_id, feature_id, agent_id, conflicting_files, "
            "severity, resolved, resolution_notes, resolved_at, branch, other_branch, "
            "other_agent_id, fingerprint) VALUES (%s, %s, %s, %s::text[], %s, %s, %s, "
            "%s::timestamptz, %s, %s, %s, %s) RETURNING id, co_ts(detected_at)",
            (feature, agent, list(conflict.files), conflict.severity, bool(conflict.resolved),
             conflict.resolution_notes, conflict.resolved_at or None, conflict.branch,
             conflict.other_branch, other, scanned),
        )  # fmt: skip
        return conflict._replace(id=new_id, detected_at=detected)

    def update_conflict(self, conflict: Conflict) -> None:
        self._update(
            "conflicts",
            "resolved = %s, resolution_notes = %s, resolved_at = %s::timestamptz",
            (bool(conflict.resolved), conflict.resolution_notes, conflict.resolved_at or None),
            conflict.id,
        )

    def insert_blocker(self, blocker: Blocker, task_id: str | None) -> Blocker:
        feature, agent = self._ids(blocker.spec_id, blocker.role)
        by = blocker.blocking_role
        blocking = self._ids(blocker.spec_id, by)[1] if by else None
        new_id, created = self._insert(
            "INSERT INTO blockers (project_id, feature_id, agent_id, blocker_type, description, "
            "blocking_agent_id, status, resolved_at, resolution_notes, task_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::timestamptz, %s, %s) "
            "RETURNING id, co_ts(created_at)",
            (feature, agent, blocker.blocker_type, blocker.description, blocking, blocker.status,
             blocker.resolved_at or None, blocker.resolution_notes, task_id),
        )  # fmt: skip
        return blocker._replace(id=new_id, created_at=created)

    def update_blocker(self, blocker: Blocker) -> None:
        self._update(
            "blockers",
            "status = %s, resolution_notes = %s, resolved_at = %s::timestamptz",
            (blocker.status, blocker.resolution_notes, blocker.resolved_at or None),
            blocker.id,
        )

    def insert_test_result(self, result: TestResult) -> TestResult:
        assert result.role is not None  # a recorded run names its agent
        feature, agent = self._ids(result.spec_id, result.role)
        new_id, created = self._insert(
            "INSERT INTO test_results (project_id, feature_id, agent_id, test_type, commit_hash, "
            "status, tests_total, tests_passed, tests_failed, tests_skipped, duration_ms, "
            "logs_url) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id, co_ts(created_at)",
            (feature, agent, result.test_type, result.commit_hash, result.status,
             result.tests_total, result.tests_passed, result.tests_failed, result.tests_skipped,
             result.duration_ms, result.logs_url),
        )  # fmt: skip
        return result._replace(id=new_id, created_at=created)

    def insert_pull_request(self, pull_request: PullRequest) -> PullRequest:
        pull = pull_request
        feature, agent = self._ids(pull.spec_id, pull.role)
        new_id, created = self._insert(
            "INSERT INTO pull_requests (project_id, feature_id, agent_id, pr_number, title, "
            "status, base_branch, head_branch, url, merged_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::timestamptz) "
            "RETURNING id, co_ts(created_at)",
            (feature, agent, pull.pr_number, pull.title, pull.status, pull.base_branch,
             pull.head_branch, pull.url, pull.merged_at or None),
        )  # fmt: skip
        return pull._replace(id=new_id, created_at=created)

    def update_pull_request(self, pull_request: PullRequest) -> None:
        self._update(
            "pull_requests",
            "status = %s, merged_at = %s::timestamptz",
            (pull_request.status, pull_request.merged_at or None),
            pull_request.id,
        )

    def append(self, event: NewEvent) -> Event:
        feature, agent = self._ids(event.spec_id, event.role)
        return pr.insert_event(self.conn, self.project, feature, agent, event)

    def put_sync_cursor(self, spec_id: str, branch: str, commit: str) -> None:
        self._run(
            "INSERT INTO sync_cursors (project_id, branch, feature_id, commit_hash) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (project_id, branch) DO UPDATE SET "
            "commit_hash = excluded.commit_hash, updated_at = clock_timestamp()",
            (branch, self._feature_id(spec_id), commit),
        )

    def put_synced_commit(self, spec_id: str, branch: str, patch_id: str, commit: str) -> None:
        self._run(
            "INSERT INTO synced_commits (project_id, feature_id, branch, patch_id, commit_hash) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (project_id, feature_id, branch, patch_id) "
            "DO UPDATE SET commit_hash = excluded.commit_hash",
            (self._feature_id(spec_id), branch, patch_id, commit),
        )

    def put_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self._run(
            "INSERT INTO synced_actions (project_id, feature_id, branch, patch_id, task_id, "
            "action, event_id) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
            "(project_id, feature_id, branch, patch_id, task_id, action) DO UPDATE SET "
            "event_id = excluded.event_id",
            (self._feature_id(spec_id), branch, *action[:4]),
        )

    def delete_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self._run(
            f"DELETE FROM synced_actions WHERE {_ACTION_KEY}",
            (self._feature_id(spec_id), branch, *action[:3]),
        )

    def put_delivery_cursor(self, consumer: str, event_id: int) -> None:
        self._run(
            "INSERT INTO delivery_cursors (project_id, consumer, event_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (project_id, consumer) DO UPDATE SET event_id = excluded.event_id, "
            "updated_at = clock_timestamp()",
            (consumer, event_id),
        )

    def insert_notification(self, notification: Notification) -> Notification | None:
        n = notification
        # asked first, so that a key queued again uses up no id (the project's writers
        # are serialised); ON CONFLICT still stops a writer that skipped the lock
        if self._rows("SELECT 1 FROM notifications WHERE project_id = %s AND key = %s",
                      (n.key,)):  # fmt: skip
            return None
        rows = self._rows(
            f"INSERT INTO notifications (project_id, {sr.NOTIFICATION_COLS.removeprefix('id, ')}) "
            f"VALUES (%s, {', '.join(['%s'] * 16)}) ON CONFLICT (project_id, key) DO NOTHING "
            "RETURNING id",
            n[1:],
        )
        return n._replace(id=int(rows[0][0])) if rows else None

    def update_notification(self, notification: Notification) -> None:
        self._update("notifications", sr.NOTIFICATION_SET.format("%s"),
                     sr.mutable_notification(notification), notification.id)  # fmt: skip

    def delete_notifications(self, *, states: Sequence[str], before: float) -> int:
        if not states:
            return 0
        cursor = self.conn.execute(
            "DELETE FROM notifications WHERE project_id = %s AND state = ANY(%s) "
            "AND created_at < %s",
            (self.project, list(states), before),
        )
        return int(cursor.rowcount)

    def put_notify_state(self, scope: str, key: str, value: str | None) -> None:
        if value is None:
            self._run("DELETE FROM notify_state WHERE project_id = %s AND scope = %s AND key = %s",
                      (scope, key))  # fmt: skip
            return
        self._run(
            "INSERT INTO notify_state (project_id, scope, key, value) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (project_id, scope, key) DO UPDATE SET value = excluded.value",
            (scope, key, value),
        )

    def insert_usage(self, records: Sequence[Usage]) -> int:
        # every owner looked up and every record checked before the first is written
        rows = [sr.usage_values(r, *self._owner(r)) for r in records]
        if not rows:
            return 0
        columns = [list(column) for column in zip(*rows, strict=True)]
        return int(self.conn.execute(_INSERT_USAGE, (self.project, *columns)).rowcount)

    def _owner(self, record: Usage) -> tuple[int | None, int | None]:
        owner = sr.usage_owner(record)
        return (None, None) if owner is None else self._ids(*owner)

    def put_transcript_cursor(self, cursor: TranscriptCursor) -> None:
        self._run(
            f"INSERT INTO transcript_cursors (project_id, {sr.CURSOR_COLS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT (project_id, path) DO UPDATE SET {sr.CURSOR_SET}clock_timestamp()",
            sr.cursor_values(cursor),
        )
