"""The SQLite store's writes: features, agents, events, conflicts, blockers, test results
and pull requests. Each is one transaction that persists a change and the event the
domain (:mod:`claude_orchestrator.domain`) words for it; the rules are the domain's
(:mod:`claude_orchestrator.domain_rules`)."""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from claude_orchestrator import domain
from claude_orchestrator import domain_rules as rules
from claude_orchestrator.models import (
    Agent,
    Blocker,
    Conflict,
    Event,
    Feature,
    NewEvent,
    PullRequest,
    TestResult,
)

from . import sqlite_rows as sr
from .sqlite_queries import SQLiteQueries


class SQLiteWrites(SQLiteQueries):
    """The write side of the SQLite store (sync-status and scans: :mod:`.sqlite_sync`)."""

    # -- features and agents ---------------------------------------------------------
    def add_feature(
        self, spec_id: str, name: str, overseer_branch: str, agents: Sequence[tuple[str, str]]
    ) -> tuple[Feature, Event]:
        rules.check_agents(role for role, _ in agents)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM features WHERE spec_id = ?", (spec_id,)).fetchone():
                raise domain.feature_exists(spec_id)
            feature_id = conn.execute(
                "INSERT INTO features (spec_id, name, overseer_branch) VALUES (?, ?, ?) "
                "RETURNING id",
                (spec_id, name, overseer_branch),
            ).fetchone()[0]
            conn.executemany(
                "INSERT INTO agents (role, feature_id, branch_name) VALUES (?, ?, ?)",
                [(role, feature_id, branch) for role, branch in agents],
            )
            roles = [role for role, _ in agents]
            event = sr.log(conn, domain.feature_created(spec_id, name, overseer_branch, roles))
        return self._feature(spec_id), event

    def _feature(self, spec_id: str) -> Feature:
        feature = self.get_feature(spec_id)
        assert feature is not None
        return feature

    def set_feature_name(self, spec_id: str, name: str) -> tuple[Feature, Event | None]:
        with self._write() as conn:
            sr.feature_id(conn, spec_id)
            old = conn.execute("SELECT name FROM features WHERE spec_id = ?", (spec_id,))
            previous = str(old.fetchone()[0])
            event = None
            if previous != name:
                conn.execute("UPDATE features SET name = ? WHERE spec_id = ?", (name, spec_id))
                event = sr.log(conn, domain.feature_renamed(spec_id, previous, name))
        return self._feature(spec_id), event

    def set_feature_status(self, spec_id: str, status: str) -> tuple[Feature, Event]:
        with self._write() as conn:
            sr.feature_id(conn, spec_id)
            conn.execute(
                "UPDATE features SET status = ?, completed_at = CASE WHEN ? = 'completed' "
                f"THEN {sr.NOW} ELSE completed_at END WHERE spec_id = ?",
                (status, status, spec_id),
            )
            event = sr.log(conn, domain.feature_status_set(spec_id, status))
        return self._feature(spec_id), event

    def add_agent(self, spec_id: str, role: str, branch_name: str) -> tuple[Agent, Event]:
        with self._write() as conn:
            feature_id = sr.feature_id(conn, spec_id)
            exists = conn.execute(
                "SELECT 1 FROM agents WHERE feature_id = ? AND role = ?", (feature_id, role)
            ).fetchone()
            if exists:
                raise domain.agent_exists(spec_id, role)
            conn.execute(
                "INSERT INTO agents (role, feature_id, branch_name) VALUES (?, ?, ?)",
                (role, feature_id, branch_name),
            )
            event = sr.log(conn, domain.agent_registered(spec_id, role, branch_name))
        agent = next(a for a in self.list_agents(spec_id) if a.role == role)
        return agent, event

    # -- events ----------------------------------------------------------------------
    def append_event(self, event: NewEvent) -> Event:
        with self._write() as conn:
            return sr.log(conn, event)

    def move_delivery_cursor(self, consumer: str, expected: int | None, new: int) -> bool:
        rules.check_cursor_move(consumer, expected, new)
        with self._write() as conn:  # BEGIN IMMEDIATE: no other process between read and set
            row = conn.execute(
                "SELECT event_id FROM delivery_cursors WHERE consumer = ?", (consumer,)
            ).fetchone()
            if (int(row[0]) if row else None) != expected:
                return False
            conn.execute(
                "INSERT INTO delivery_cursors (consumer, event_id) VALUES (?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET event_id = excluded.event_id, "
                f"updated_at = {sr.NOW}",
                (consumer, new),
            )
        return True

    # -- conflicts -------------------------------------------------------------------
    def add_conflict(
        self, spec_id: str, role: str, files: Sequence[str], severity: str
    ) -> tuple[Conflict, Event]:
        with self._write() as conn:
            feature_id, agent_id = sr.agent_ids(conn, spec_id, role)
            conflict_id = conn.execute(
                "INSERT INTO conflicts (feature_id, agent_id, conflicting_files, severity) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (feature_id, agent_id, json.dumps(list(files)), severity),
            ).fetchone()[0]
            event = sr.insert_event(
                conn, feature_id, agent_id,
                domain.conflict_detected(spec_id, role, conflict_id, files, severity),
            )  # fmt: skip
        return self._conflict(conflict_id), event

    def resolve_conflict(self, conflict_id: int, notes: str) -> tuple[Conflict, Event]:
        with self._write() as conn:
            row = conn.execute(
                "SELECT c.resolved, f.spec_id, a.role, c.feature_id, c.agent_id FROM conflicts c "
                "JOIN features f ON f.id = c.feature_id JOIN agents a ON a.id = c.agent_id "
                "WHERE c.id = ?",
                (conflict_id,),
            ).fetchone()
            if row is None:
                raise domain.conflict_not_found(conflict_id)
            if row[0]:
                raise domain.conflict_already_resolved(conflict_id)
            self._close_conflict(conn, conflict_id, notes)
            event = sr.insert_event(
                conn, row[3], row[4], domain.conflict_resolved(row[1], row[2], conflict_id, notes)
            )
        return self._conflict(conflict_id), event

    def _close_conflict(self, conn: sqlite3.Connection, conflict_id: int, notes: str) -> None:
        conn.execute(
            f"UPDATE conflicts SET resolved = TRUE, resolution_notes = ?, resolved_at = {sr.NOW} "
            "WHERE id = ?",
            (notes, conflict_id),
        )

    # -- blockers --------------------------------------------------------------------
    def add_blocker(
        self,
        spec_id: str,
        role: str,
        blocker_type: str,
        description: str,
        blocking_role: str | None = None,
        task_id: str | None = None,
    ) -> tuple[Blocker, Event]:
        with self._write() as conn:
            feature_id, agent_id = sr.agent_ids(conn, spec_id, role)
            blocking_id = sr.agent_ids(conn, spec_id, blocking_role)[1] if blocking_role else None
            blocker_id = conn.execute(
                "INSERT INTO blockers (feature_id, agent_id, blocker_type, description, "
                "blocking_agent_id, task_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (feature_id, agent_id, blocker_type, description, blocking_id, task_id),
            ).fetchone()[0]
            self._set_agent_status(conn, agent_id, rules.status_after_block())
            event = sr.insert_event(conn, feature_id, agent_id, domain.blocker_added(
                spec_id, role, blocker_id, blocker_type, description, blocking_role, task_id
            ))  # fmt: skip
        return self._blocker(blocker_id), event

    def _set_agent_status(self, conn: sqlite3.Connection, agent_id: int, status: str) -> None:
        conn.execute("UPDATE agents SET status = ? WHERE id = ?", (status, agent_id))

    def resolve_blocker(self, blocker_id: int, notes: str) -> tuple[Blocker, Event]:
        with self._write() as conn:
            row = conn.execute(
                "SELECT b.status, f.spec_id, a.role, b.feature_id, b.agent_id, b.task_id, "
                "a.status FROM blockers b JOIN features f ON f.id = b.feature_id "
                "JOIN agents a ON a.id = b.agent_id WHERE b.id = ?",
                (blocker_id,),
            ).fetchone()
            if row is None:
                raise domain.blocker_not_found(blocker_id)
            if row[0] == "resolved":
                raise domain.blocker_already_resolved(blocker_id)
            conn.execute(
                "UPDATE blockers SET status = 'resolved', resolution_notes = ?, "
                f"resolved_at = {sr.NOW} WHERE id = ?",
                (notes, blocker_id),
            )
            left = conn.execute(
                "SELECT COUNT(*) FROM blockers WHERE agent_id = ? AND status = 'active'",
                (row[4],),
            ).fetchone()[0]
            self._set_agent_status(conn, row[4], rules.status_after_resolve(row[6], int(left)))
            event = sr.insert_event(conn, row[3], row[4], domain.blocker_resolved(
                row[1], row[2], blocker_id, notes, row[5]
            ))  # fmt: skip
        return self._blocker(blocker_id), event

    # -- test results ----------------------------------------------------------------
    def record_test(
        self,
        spec_id: str,
        role: str,
        test_type: str,
        status: str,
        *,
        commit_hash: str | None = None,
        total: int | None = None,
        passed: int | None = None,
        failed: int | None = None,
        skipped: int | None = None,
        duration_ms: int | None = None,
        logs_url: str | None = None,
    ) -> tuple[TestResult, Event]:
        with self._write() as conn:
            feature_id, agent_id = sr.agent_ids(conn, spec_id, role)
            result_id = conn.execute(
                "INSERT INTO test_results (feature_id, agent_id, test_type, commit_hash, status, "
                "tests_total, tests_passed, tests_failed, tests_skipped, duration_ms, logs_url) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (feature_id, agent_id, test_type, commit_hash, status, total, passed, failed,
                 skipped, duration_ms, logs_url),
            ).fetchone()[0]  # fmt: skip
            event = sr.insert_event(conn, feature_id, agent_id, domain.test_recorded(
                spec_id, role, result_id, test_type, status, commit_hash, (passed, failed, skipped)
            ))  # fmt: skip
        rows = self._read(f"{sr.TEST_SQL} WHERE t.id = ?", (result_id,))
        return TestResult(*rows[0]), event

    # -- pull requests ---------------------------------------------------------------
    def record_pull_request(
        self,
        spec_id: str,
        role: str,
        title: str,
        base_branch: str,
        head_branch: str,
        *,
        pr_number: int | None = None,
        status: str = "open",
        url: str | None = None,
    ) -> tuple[PullRequest, Event]:
        with self._write() as conn:
            feature_id, agent_id = sr.agent_ids(conn, spec_id, role)
            pr_id = conn.execute(
                "INSERT INTO pull_requests (feature_id, agent_id, pr_number, title, status, "
                "base_branch, head_branch, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (feature_id, agent_id, pr_number, title, status, base_branch, head_branch, url),
            ).fetchone()[0]
            event = sr.insert_event(conn, feature_id, agent_id, domain.pr_opened(
                spec_id, role, pr_id, pr_number, (head_branch, base_branch), title, url
            ))  # fmt: skip
        return self._pull_request(pr_id), event

    def set_pull_request_status(self, pr_id: int, status: str) -> tuple[PullRequest, Event]:
        with self._write() as conn:
            row = conn.execute(
                "SELECT f.spec_id, a.role, p.feature_id, p.agent_id, p.pr_number "
                "FROM pull_requests p JOIN features f ON f.id = p.feature_id "
                "JOIN agents a ON a.id = p.agent_id WHERE p.id = ?",
                (pr_id,),
            ).fetchone()
            if row is None:
                raise domain.pull_request_not_found(pr_id)
            conn.execute(
                "UPDATE pull_requests SET status = ?, merged_at = CASE WHEN ? = 'merged' "
                f"THEN {sr.NOW} ELSE merged_at END WHERE id = ?",
                (status, status, pr_id),
            )
            event = sr.insert_event(
                conn, row[2], row[3], domain.pr_status_set(row[0], row[1], pr_id, row[4], status)
            )
        return self._pull_request(pr_id), event
