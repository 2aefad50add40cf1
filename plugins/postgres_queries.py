"""The PostgreSQL store's queries (:class:`~claude_orchestrator.protocols_store.StoreQueries`)
and the summaries it keeps (:class:`~claude_orchestrator.protocols_store.StoreSummaries`):
everything it reads back outside a transaction, of its own project only."""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from claude_orchestrator.models import (
    AgentStatus,
    Blocker,
    Conflict,
    Event,
    Feature,
    PullRequest,
    TaskState,
    TestResult,
)

from . import postgres_rows as pr
from .postgres_conn import PostgresConnection

C = pr.C
#: a query parameter that stands for this store's project id
PROJECT = object()
#: The queries of ``status``, ``recent`` and the feeds: each reads summaries or walks
#: one index, whatever the number of events (tests/test_postgres_summaries.py checks).
#: v_feature_status's columns are AgentStatus's, in its order.
_STATUS = (
    "SELECT spec_id, name, feature_status, role, branch_name, agent_status, events, "
    "last_event_type, last_event_at, tasks_in_progress, tasks_completed, tasks_blocked, "
    "prs_count, prs_merged, active_conflicts, active_blockers, tasks_merged "
    "FROM v_feature_status WHERE project_id = %s"
)
_STATUS_ORDER = f" ORDER BY spec_id {C}, (role IS NULL), (role <> 'overseer'), role {C}"
STATUS_SQL = _STATUS + _STATUS_ORDER
STATUS_OF_SQL = _STATUS + " AND spec_id = %s" + _STATUS_ORDER
RECENT_SQL = f"{pr.EVENT_SQL} ORDER BY te.id DESC LIMIT %s"
RECENT_OF_SQL = f"{pr.EVENT_SQL} AND te.feature_id = ({pr.FEATURE_ID}) ORDER BY te.id DESC LIMIT %s"
EVENTS_AFTER_SQL = (
    f"{pr.EVENT_SQL} AND te.feature_id = ({pr.FEATURE_ID}) AND te.id > %s ORDER BY te.id LIMIT %s"
)
EVENTS_SINCE_SQL = f"{pr.EVENT_SQL} AND te.id > %s ORDER BY te.id LIMIT %s"


class PostgresQueries(PostgresConnection, pr.RecordReads):
    """The read side of the PostgreSQL store."""

    get_feature = pr.RecordReads.feature
    list_agents = pr.RecordReads.agents
    get_pull_request = pr.RecordReads.pull_request

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows of a query whose first parameter is this project's id (and so is each
        :data:`PROJECT` among ``params``)."""
        with self._lock, self._errors():
            conn = self._ready()
            key = self._project_key()
            values = (key, *(key if p is PROJECT else p for p in params))
            rows: list[Any] = conn.execute(sql, values).fetchall()
            return rows

    def _spec_filter(self, sql: str, column: str, spec_id: str | None) -> tuple[str, list[Any]]:
        if spec_id is None:
            return sql, []
        return f"{sql} AND {column} = %s", [spec_id]

    def list_features(self) -> list[Feature]:
        return [Feature(*r) for r in self._rows(f"{pr.FEATURE_SQL} ORDER BY spec_id {C}")]

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        if spec_id is None:
            rows = self._rows(RECENT_SQL, (limit,))
        else:
            rows = self._rows(RECENT_OF_SQL, (PROJECT, spec_id, limit))
        return [pr.event(r) for r in rows]

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        rows = self._rows(EVENTS_AFTER_SQL, (PROJECT, spec_id, after_id, max(limit, 0)))
        return [pr.event(r) for r in rows]

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        return [pr.event(r) for r in self._rows(EVENTS_SINCE_SQL, (after_id, max(limit, 0)))]

    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        if spec_id is None:
            return [AgentStatus(*r) for r in self._rows(STATUS_SQL)]
        return [AgentStatus(*r) for r in self._rows(STATUS_OF_SQL, (spec_id,))]

    def task_states(self, spec_id: str) -> list[TaskState]:
        rows = self._rows(
            "SELECT f.spec_id, ts.task_id, ts.status, a.role, ts.commit_hash, "
            "co_ts(ts.updated_at), ts.reopened FROM task_state ts "
            "JOIN features f ON f.project_id = ts.project_id AND f.id = ts.feature_id "
            "JOIN agents a ON a.project_id = ts.project_id AND a.id = ts.agent_id "
            f"WHERE ts.project_id = %s AND f.spec_id = %s ORDER BY ts.task_id {C}",
            (spec_id,),
        )
        return [TaskState(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        sql, params = self._spec_filter(pr.CONFLICT_SQL, "f.spec_id", spec_id)
        if not include_resolved:
            sql += " AND NOT c.resolved"
        return [pr.conflict(r) for r in self._rows(sql + " ORDER BY c.id", params)]

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        sql, params = self._spec_filter(pr.BLOCKER_SQL, "f.spec_id", spec_id)
        if not include_resolved:
            sql += " AND b.status = 'active'"
        return [pr.blocker(r) for r in self._rows(sql + " ORDER BY b.id", params)]

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        sql, params = self._spec_filter(pr.TEST_SQL, "f.spec_id", spec_id)
        rows = self._rows(sql + " ORDER BY t.id DESC LIMIT %s", (*params, limit))
        return [TestResult(*r) for r in rows]

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        sql, params = self._spec_filter(pr.PR_SQL, "f.spec_id", spec_id)
        return [PullRequest(*r) for r in self._rows(sql + " ORDER BY p.id", params)]

    def sync_cursor(self, branch: str) -> str | None:
        rows = self._rows(
            "SELECT commit_hash FROM sync_cursors WHERE project_id = %s AND branch = %s",
            (branch,),
        )
        return str(rows[0][0]) if rows else None

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        if not patch_ids:
            return set()
        rows = self._rows(
            "SELECT s.patch_id FROM synced_commits s JOIN features f "
            "ON f.project_id = s.project_id AND f.id = s.feature_id "
            "WHERE s.project_id = %s AND f.spec_id = %s AND s.branch = %s "
            "AND s.patch_id = ANY(%s)",
            (spec_id, branch, list(patch_ids)),
        )
        return {str(r[0]) for r in rows}

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        if not patch_ids and not commits:
            return []
        rows = self._rows(
            "SELECT s.patch_id, s.commit_hash FROM synced_commits s JOIN features f "
            "ON f.project_id = s.project_id AND f.id = s.feature_id "
            "WHERE s.project_id = %s AND f.spec_id = %s AND s.branch = %s "
            "AND (s.patch_id = ANY(%s) OR s.commit_hash = ANY(%s))",
            (spec_id, branch, list(patch_ids), list(commits)),
        )
        return sorted({(str(r[0]), str(r[1])) for r in rows})
