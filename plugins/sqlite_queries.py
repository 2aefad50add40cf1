"""The SQLite store's queries (:class:`~claude_orchestrator.protocols_store.StoreQueries`)
and the summaries it keeps (:class:`~claude_orchestrator.protocols_store.StoreSummaries`):
everything it reads back outside a transaction (nothing here writes)."""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from claude_orchestrator.models import (
    Agent,
    AgentStatus,
    Blocker,
    Conflict,
    Event,
    Feature,
    PullRequest,
    TaskState,
    TestResult,
)

from . import sqlite_rows as sr
from .sqlite_conn import SQLiteConnection


class SQLiteQueries(SQLiteConnection):
    """The read side of the SQLite store."""

    def get_feature(self, spec_id: str) -> Feature | None:
        rows = self._read(f"SELECT {sr.FEATURE_COLS} FROM features WHERE spec_id = ?", (spec_id,))
        return Feature(*rows[0]) if rows else None

    def list_features(self) -> list[Feature]:
        return [
            Feature(*r)
            for r in self._read(f"SELECT {sr.FEATURE_COLS} FROM features ORDER BY spec_id")
        ]

    def list_agents(self, spec_id: str) -> list[Agent]:
        rows = self._read(
            f"{sr.AGENT_SQL} WHERE f.spec_id = ? ORDER BY {sr.ROLE_ORDER}", (spec_id,)
        )
        return [Agent(*r) for r in rows]

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        if spec_id is None:
            rows = self._read(f"{sr.EVENT_SQL} ORDER BY te.id DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                f"{sr.EVENT_SQL} WHERE te.feature_id = (SELECT id FROM features WHERE spec_id = ?) "
                "ORDER BY te.id DESC LIMIT ?",
                (spec_id, limit),
            )
        return [sr.event(r) for r in rows]

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        rows = self._read(
            f"{sr.EVENT_SQL} WHERE te.feature_id = (SELECT id FROM features WHERE spec_id = ?) "
            "AND te.id > ? ORDER BY te.id LIMIT ?",
            (spec_id, after_id, limit),
        )
        return [sr.event(r) for r in rows]

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        rows = self._read(
            f"{sr.EVENT_SQL} WHERE te.id > ? ORDER BY te.id LIMIT ?", (after_id, max(limit, 0))
        )
        return [sr.event(r) for r in rows]

    def delivery_cursor(self, consumer: str) -> int | None:
        rows = self._read("SELECT event_id FROM delivery_cursors WHERE consumer = ?", (consumer,))
        return int(rows[0][0]) if rows else None

    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        sql = "SELECT * FROM v_feature_status"
        params: tuple[Any, ...] = ()
        if spec_id is not None:
            sql += " WHERE spec_id = ?"
            params = (spec_id,)
        sql += " ORDER BY spec_id, (role IS NULL), (role <> 'overseer'), role"
        return [AgentStatus(*r) for r in self._read(sql, params)]

    def task_states(self, spec_id: str) -> list[TaskState]:
        rows = self._read(
            "SELECT f.spec_id, ts.task_id, ts.status, a.role, ts.commit_hash, ts.updated_at, "
            "ts.reopened "
            "FROM task_state ts JOIN features f ON f.id = ts.feature_id "
            "JOIN agents a ON a.id = ts.agent_id WHERE f.spec_id = ? ORDER BY ts.task_id",
            (spec_id,),
        )
        return [TaskState(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        where, params = [], []
        if spec_id is not None:
            where.append("f.spec_id = ?")
            params.append(spec_id)
        if not include_resolved:
            where.append("NOT c.resolved")
        sql = (
            sr.CONFLICT_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY c.id"
        )
        return [sr.conflict(r) for r in self._read(sql, params)]

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        where, params = [], []
        if spec_id is not None:
            where.append("f.spec_id = ?")
            params.append(spec_id)
        if not include_resolved:
            where.append("b.status = 'active'")
        sql = sr.BLOCKER_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY b.id"
        return [sr.blocker(r) for r in self._read(sql, params)]

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        if spec_id is None:
            rows = self._read(f"{sr.TEST_SQL} ORDER BY t.id DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                f"{sr.TEST_SQL} WHERE f.spec_id = ? ORDER BY t.id DESC LIMIT ?", (spec_id, limit)
            )
        return [TestResult(*r) for r in rows]

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        if spec_id is None:
            return [PullRequest(*r) for r in self._read(f"{sr.PR_SQL} ORDER BY p.id")]
        rows = self._read(f"{sr.PR_SQL} WHERE f.spec_id = ? ORDER BY p.id", (spec_id,))
        return [PullRequest(*r) for r in rows]

    def sync_cursor(self, branch: str) -> str | None:
        rows = self._read("SELECT commit_hash FROM sync_cursors WHERE branch = ?", (branch,))
        return str(rows[0][0]) if rows else None

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        if not patch_ids:
            return set()
        known: set[str] = set()
        for start in range(0, len(patch_ids), 500):
            chunk = list(patch_ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self._read(
                "SELECT s.patch_id FROM synced_commits s JOIN features f ON f.id = s.feature_id "
                f"WHERE f.spec_id = ? AND s.branch = ? AND s.patch_id IN ({marks})",
                (spec_id, branch, *chunk),
            )
            known.update(str(r[0]) for r in rows)
        return known

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for column, values in (("patch_id", list(patch_ids)), ("commit_hash", list(commits))):
            for start in range(0, len(values), 500):
                chunk = values[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                found += [(str(r[0]), str(r[1])) for r in self._read(
                    "SELECT s.patch_id, s.commit_hash FROM synced_commits s JOIN features f "
                    f"ON f.id = s.feature_id WHERE f.spec_id = ? AND s.branch = ? AND s.{column} "
                    f"IN ({marks}) ORDER BY s.patch_id", (spec_id, branch, *chunk))]  # fmt: skip
        return sorted(set(found))

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        rows = self._read(f"{sr.PR_SQL} WHERE p.id = ?", (pr_id,))
        return PullRequest(*rows[0]) if rows else None
