"""The SQLite store's transaction: the persistence port's primitive reads and writes on
one connection inside ``BEGIN IMMEDIATE`` (see
:class:`~claude_orchestrator.protocols_store.StoreTransaction`). Records are named by
spec id and role; the integer ids SQLite keys them by are looked up once per
transaction (features and agents are never removed, and no other writer runs)."""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

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

from . import sqlite_rows as sr

_SYNCED = (
    "SELECT sa.patch_id, sa.task_id, sa.action, sa.event_id, sc.commit_hash, sa.rowid "
    "FROM synced_actions sa LEFT JOIN synced_commits sc ON sc.feature_id = sa.feature_id "
    "AND sc.branch = sa.branch AND sc.patch_id = sa.patch_id "
    "WHERE sa.feature_id = ? AND sa.branch = ?"
)
_ACTION_KEY = "feature_id = ? AND branch = ? AND patch_id = ? AND task_id = ? AND action = ?"
# A record whose key is stored already (by this call too) is not inserted at all: an
# insert that ON CONFLICT stops would still use up an AUTOINCREMENT id.
_INSERT_USAGE = (
    f"INSERT INTO usage ({sr.USAGE_WRITTEN}) SELECT {', '.join('?' * 13)} "
    "WHERE NOT EXISTS (SELECT 1 FROM usage WHERE key = ?)"
)


class SQLiteTransaction:
    """One ``BEGIN IMMEDIATE`` transaction of the SQLite store."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._features: dict[str, int] = {}
        self._agents: dict[tuple[str, str], int] = {}

    # -- ids -------------------------------------------------------------------------
    def _feature_id(self, spec_id: str) -> int:
        if spec_id not in self._features:
            self._features[spec_id] = sr.feature_id(self.conn, spec_id)
        return self._features[spec_id]

    def _ids(self, spec_id: str, role: str) -> tuple[int, int]:
        """(feature id, agent id); the domain's not-found errors."""
        if (spec_id, role) not in self._agents:
            feature, agent = sr.agent_ids(self.conn, spec_id, role)
            self._features[spec_id] = feature
            self._agents[(spec_id, role)] = agent
        return self._features[spec_id], self._agents[(spec_id, role)]

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.conn.execute(sql, params).fetchall()

    # -- reads -----------------------------------------------------------------------
    def feature(self, spec_id: str) -> Feature | None:
        rows = self._rows(f"SELECT {sr.FEATURE_COLS} FROM features WHERE spec_id = ?", (spec_id,))
        return Feature(*rows[0]) if rows else None

    def agents(self, spec_id: str) -> list[Agent]:
        sql = f"{sr.AGENT_SQL} WHERE f.spec_id = ? ORDER BY {sr.ROLE_ORDER}"
        return [Agent(*r) for r in self._rows(sql, (spec_id,))]

    def conflict(self, conflict_id: int) -> Conflict | None:
        rows = self._rows(f"{sr.CONFLICT_SQL} WHERE c.id = ?", (conflict_id,))
        return sr.conflict(rows[0]) if rows else None

    def open_conflicts(self, spec_id: str) -> list[Conflict]:
        sql = f"{sr.CONFLICT_SQL} WHERE f.spec_id = ? AND NOT c.resolved ORDER BY c.id"
        return [sr.conflict(r) for r in self._rows(sql, (spec_id,))]

    def blocker(self, blocker_id: int) -> BlockerRow | None:
        rows = self._rows(f"{sr.BLOCKER_SQL} WHERE b.id = ?", (blocker_id,))
        return BlockerRow(sr.blocker(rows[0]), rows[0][10]) if rows else None

    def active_blockers(self, spec_id: str, role: str) -> list[Blocker]:
        sql = (f"{sr.BLOCKER_SQL} WHERE f.spec_id = ? AND a.role = ? AND b.status = 'active' "
               "ORDER BY b.id")  # fmt: skip
        return [sr.blocker(r) for r in self._rows(sql, (spec_id, role))]

    def pull_request(self, pr_id: int) -> PullRequest | None:
        rows = self._rows(f"{sr.PR_SQL} WHERE p.id = ?", (pr_id,))
        return PullRequest(*rows[0]) if rows else None

    def events(
        self,
        spec_id: str,
        *,
        role: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        where, params = ["te.feature_id = ?"], list[Any]()
        try:
            params.append(self._feature_id(spec_id))
            if role is not None:
                where.append("te.agent_id = ?")
                params.append(self._ids(spec_id, role)[1])
        except NotFoundError:  # no such feature or agent: it has no events
            return []
        if task_id is not None:
            where.append("te.task_id = ?")
            params.append(task_id)
        if types is not None:
            where.append(f"te.event_type IN ({', '.join('?' * len(types))})")
            params += types
        # Of some types only: each type's entries of the type index, then a sort (``+``:
        # not an index's order). Without it, for several types, SQLite's planner (no
        # statistics) walks all the feature's events in id order instead.
        by_type = types is not None and role is None and task_id is None
        sql = f"{sr.EVENT_SQL} WHERE {' AND '.join(where)} ORDER BY {'+' * by_type}te.id"
        # the commit as stored: a merge copies it into task_merged as it is (the original
        # tool's rows may hold '' where this store writes NULL)
        return [sr.event(r, stored_commit=True) for r in self._rows(sql, params)]

    def synced_commit(self, spec_id: str, branch: str, patch_id: str) -> str | None:
        rows = self._rows(
            "SELECT commit_hash FROM synced_commits WHERE feature_id = ? AND branch = ? "
            "AND patch_id = ?",
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
        base, params = _SYNCED, [self._feature_id(spec_id), branch]
        if task_id is not None:
            base += " AND sa.task_id = ?"
            params.append(task_id)
        if patch_ids is None:
            rows = self._rows(base, params)
        else:
            rows = []
            for start in range(0, len(patch_ids), 500):
                chunk = list(patch_ids[start : start + 500])
                marks = ", ".join("?" * len(chunk))
                rows += self._rows(f"{base} AND sa.patch_id IN ({marks})", [*params, *chunk])
        return [SyncedAction(*r[:5]) for r in sorted(rows, key=lambda r: int(r[5]))]

    def delivery_cursor(self, consumer: str) -> int | None:
        rows = self._rows("SELECT event_id FROM delivery_cursors WHERE consumer = ?", (consumer,))
        return int(rows[0][0]) if rows else None

    def notification(self, notification_id: int) -> Notification | None:
        rows = self._rows(
            f"SELECT {sr.NOTIFICATION_COLS} FROM notifications WHERE id = ?", (notification_id,)
        )
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
        query = sr.queue_query(f"SELECT {sr.NOTIFICATION_COLS} FROM notifications WHERE", "?",
                               states, channel, subject, due_before, sent_since, limit)  # fmt: skip
        return [] if query is None else [Notification(*r) for r in self._rows(*query)]

    def notify_state(self, scope: str, key: str) -> str | None:
        rows = self._rows("SELECT value FROM notify_state WHERE scope = ? AND key = ?",
                          (scope, key))  # fmt: skip
        return str(rows[0][0]) if rows else None

    def usage(self, spec_id: str | None = None, *, since: str | None = None) -> list[Usage]:
        where, params = list[str](), list[Any]()
        if spec_id is not None:
            try:
                params.append(self._feature_id(spec_id))
            except NotFoundError:  # no such feature: it has no usage
                return []
            where.append("u.feature_id = ?")
        if since is not None:
            where.append("u.at >= ?")
            params.append(since)
        sql = sr.USAGE_SQL + (f" WHERE {' AND '.join(where)}" if where else "")
        return [Usage(*r) for r in self._rows(sql + " ORDER BY u.at, u.id", params)]

    def transcript_cursor(self, path: str) -> TranscriptCursor | None:
        rows = self._rows(
            f"SELECT {sr.CURSOR_COLS} FROM transcript_cursors WHERE path = ?", (path,)
        )
        return sr.transcript_cursor(rows[0]) if rows else None

    # -- writes ----------------------------------------------------------------------
    def _insert(self, sql: str, params: Sequence[Any]) -> tuple[int, str]:
        """Run an ``INSERT ... RETURNING id, <creation time>``."""
        row = self.conn.execute(sql, params).fetchone()
        return int(row[0]), str(row[1])

    def insert_feature(self, feature: Feature) -> Feature:
        new_id, created = self._insert(
            "INSERT INTO features (spec_id, name, overseer_branch, status, completed_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id, created_at",
            (feature.spec_id, feature.name, feature.overseer_branch, feature.status,
             feature.completed_at),
        )  # fmt: skip
        self._features[feature.spec_id] = new_id
        return feature._replace(id=new_id, created_at=created)

    def update_feature(self, feature: Feature) -> None:
        self.conn.execute(
            "UPDATE features SET name = ?, status = ?, completed_at = ? WHERE id = ?",
            (feature.name, feature.status, feature.completed_at, feature.id),
        )

    def insert_agent(self, agent: Agent) -> Agent:
        feature = self._feature_id(agent.spec_id)
        new_id, created = self._insert(
            "INSERT INTO agents (role, feature_id, branch_name, status) VALUES (?, ?, ?, ?) "
            "RETURNING id, created_at",
            (agent.role, feature, agent.branch_name, agent.status),
        )
        self._agents[(agent.spec_id, agent.role)] = new_id
        return agent._replace(id=new_id, created_at=created)

    def update_agent(self, agent: Agent) -> None:
        self.conn.execute("UPDATE agents SET status = ? WHERE id = ?", (agent.status, agent.id))

    def insert_conflict(self, conflict: Conflict) -> Conflict:
        feature, agent = self._ids(conflict.spec_id, conflict.role)
        other = self._ids(conflict.spec_id, conflict.other_role)[1] if conflict.other_role else None
        # the file set as a scan compares it, kept for SQL readers (scans' conflicts only)
        scanned = rules.fingerprint(conflict.files) if conflict.branch is not None else None
        new_id, detected = self._insert(
            "INSERT INTO conflicts (feature_id, agent_id, conflicting_files, severity, resolved, "
            "resolution_notes, resolved_at, branch, other_branch, other_agent_id, fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, detected_at",
            (feature, agent, json.dumps(list(conflict.files)), conflict.severity,
             conflict.resolved, conflict.resolution_notes, conflict.resolved_at, conflict.branch,
             conflict.other_branch, other, scanned),
        )  # fmt: skip
        return conflict._replace(id=new_id, detected_at=detected)

    def update_conflict(self, conflict: Conflict) -> None:
        self.conn.execute(
            "UPDATE conflicts SET resolved = ?, resolution_notes = ?, resolved_at = ? WHERE id = ?",
            (conflict.resolved, conflict.resolution_notes, conflict.resolved_at, conflict.id),
        )

    def insert_blocker(self, blocker: Blocker, task_id: str | None) -> Blocker:
        feature, agent = self._ids(blocker.spec_id, blocker.role)
        by = blocker.blocking_role
        blocking = self._ids(blocker.spec_id, by)[1] if by else None
        new_id, created = self._insert(
            "INSERT INTO blockers (feature_id, agent_id, blocker_type, description, "
            "blocking_agent_id, status, resolved_at, resolution_notes, task_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, created_at",
            (feature, agent, blocker.blocker_type, blocker.description, blocking, blocker.status,
             blocker.resolved_at, blocker.resolution_notes, task_id),
        )  # fmt: skip
        return blocker._replace(id=new_id, created_at=created)

    def update_blocker(self, blocker: Blocker) -> None:
        self.conn.execute(
            "UPDATE blockers SET status = ?, resolution_notes = ?, resolved_at = ? WHERE id = ?",
            (blocker.status, blocker.resolution_notes, blocker.resolved_at, blocker.id),
        )

    def insert_test_result(self, result: TestResult) -> TestResult:
        assert result.role is not None  # a recorded run names its agent
        feature, agent = self._ids(result.spec_id, result.role)
        new_id, created = self._insert(
            "INSERT INTO test_results (feature_id, agent_id, test_type, commit_hash, status, "
            "tests_total, tests_passed, tests_failed, tests_skipped, duration_ms, logs_url) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, created_at",
            (feature, agent, result.test_type, result.commit_hash, result.status,
             result.tests_total, result.tests_passed, result.tests_failed, result.tests_skipped,
             result.duration_ms, result.logs_url),
        )  # fmt: skip
        return result._replace(id=new_id, created_at=created)

    def insert_pull_request(self, pull_request: PullRequest) -> PullRequest:
        pr = pull_request
        feature, agent = self._ids(pr.spec_id, pr.role)
        new_id, created = self._insert(
            "INSERT INTO pull_requests (feature_id, agent_id, pr_number, title, status, "
            "base_branch, head_branch, url, merged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id, created_at",
            (feature, agent, pr.pr_number, pr.title, pr.status, pr.base_branch, pr.head_branch,
             pr.url, pr.merged_at),
        )  # fmt: skip
        return pr._replace(id=new_id, created_at=created)

    def update_pull_request(self, pull_request: PullRequest) -> None:
        self.conn.execute(
            "UPDATE pull_requests SET status = ?, merged_at = ? WHERE id = ?",
            (pull_request.status, pull_request.merged_at, pull_request.id),
        )

    def append(self, event: NewEvent) -> Event:
        return sr.insert_event(self.conn, *self._ids(event.spec_id, event.role), event)

    def put_sync_cursor(self, spec_id: str, branch: str, commit: str) -> None:
        self.conn.execute(
            "INSERT INTO sync_cursors (branch, feature_id, commit_hash) VALUES (?, ?, ?) "
            "ON CONFLICT (branch) DO UPDATE SET commit_hash = excluded.commit_hash, "
            f"updated_at = {sr.NOW}",
            (branch, self._feature_id(spec_id), commit),
        )

    def put_synced_commit(self, spec_id: str, branch: str, patch_id: str, commit: str) -> None:
        self.conn.execute(
            "INSERT INTO synced_commits (feature_id, branch, patch_id, commit_hash) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (feature_id, branch, patch_id) "
            "DO UPDATE SET commit_hash = excluded.commit_hash",
            (self._feature_id(spec_id), branch, patch_id, commit),
        )

    def put_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self.conn.execute(
            "INSERT INTO synced_actions (feature_id, branch, patch_id, task_id, action, "
            "event_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "event_id = excluded.event_id",
            (self._feature_id(spec_id), branch, *action[:4]),
        )

    def delete_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self.conn.execute(
            f"DELETE FROM synced_actions WHERE {_ACTION_KEY}",
            (self._feature_id(spec_id), branch, *action[:3]),
        )

    def put_delivery_cursor(self, consumer: str, event_id: int) -> None:
        self.conn.execute(
            "INSERT INTO delivery_cursors (consumer, event_id) VALUES (?, ?) "
            "ON CONFLICT (consumer) DO UPDATE SET event_id = excluded.event_id, "
            f"updated_at = {sr.NOW}",
            (consumer, event_id),
        )

    def insert_notification(self, notification: Notification) -> Notification | None:
        n = notification
        # asked first: an insert its key stops still uses up an AUTOINCREMENT id
        if self._rows("SELECT 1 FROM notifications WHERE key = ?", (n.key,)):
            return None
        row = self.conn.execute(
            f"INSERT INTO notifications ({sr.NOTIFICATION_COLS.removeprefix('id, ')}) "
            f"VALUES ({', '.join('?' * 16)}) ON CONFLICT (key) DO NOTHING RETURNING id",
            n[1:],
        ).fetchone()
        return None if row is None else n._replace(id=int(row[0]))

    def update_notification(self, notification: Notification) -> None:
        self.conn.execute(
            f"UPDATE notifications SET {sr.NOTIFICATION_SET.format('?')} WHERE id = ?",
            (*sr.mutable_notification(notification), notification.id),
        )

    def delete_notifications(self, *, states: Sequence[str], before: float) -> int:
        if not states:
            return 0
        marks = ", ".join("?" * len(states))
        cursor = self.conn.execute(
            f"DELETE FROM notifications WHERE state IN ({marks}) AND created_at < ?",
            (*states, before),
        )
        return int(cursor.rowcount)

    def put_notify_state(self, scope: str, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM notify_state WHERE scope = ? AND key = ?",
                              (scope, key))  # fmt: skip
            return
        self.conn.execute(
            "INSERT INTO notify_state (scope, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
            (scope, key, value),
        )

    def insert_usage(self, records: Sequence[Usage]) -> int:
        # every owner looked up and every record checked before the first is written
        rows = [(*sr.usage_values(r, *self._owner(r)), r.key) for r in records]
        if not rows:
            return 0
        return int(self.conn.executemany(_INSERT_USAGE, rows).rowcount)

    def _owner(self, record: Usage) -> tuple[int | None, int | None]:
        owner = sr.usage_owner(record)
        return (None, None) if owner is None else self._ids(*owner)

    def put_transcript_cursor(self, cursor: TranscriptCursor) -> None:
        self.conn.execute(
            f"INSERT INTO transcript_cursors ({sr.CURSOR_COLS}) VALUES (?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (path) DO UPDATE SET {sr.CURSOR_SET}{sr.NOW}",
            sr.cursor_values(cursor),
        )
