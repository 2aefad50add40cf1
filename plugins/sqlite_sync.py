"""The SQLite store's multi-event writes: sync-status, conflict scans and PR merges.

The domain decides (:mod:`claude_orchestrator.domain_rules`: which actions a synced
commit logs, what a rewrite carries over or retracts, which recorded conflicts a scan
resolves or opens, which tasks a merge merges) and words the events
(:mod:`claude_orchestrator.domain`); this module reads what it needs and persists.
"""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from claude_orchestrator import domain
from claude_orchestrator import domain_rules as rules
from claude_orchestrator.domain_tasks import STATE_EVENTS
from claude_orchestrator.models import Conflict, Event, FoundConflict, PullRequest, SyncCommit

from . import sqlite_rows as sr
from .sqlite_writes import SQLiteWrites

_ACTION_KEY = "feature_id = ? AND branch = ? AND patch_id = ? AND task_id = ? AND action = ?"


class _Synced(NamedTuple):
    """The branch a sync records for: its feature, its agent, their names."""

    feature_id: int
    agent_id: int
    spec_id: str
    role: str
    branch: str


class SQLiteSync(SQLiteWrites):
    """sync-status, conflict scans and merges on the SQLite store."""

    # -- sync-status -----------------------------------------------------------------
    def record_sync(
        self, spec_id: str, role: str, branch: str, head: str, commits: Sequence[SyncCommit]
    ) -> list[Event]:
        """Log the commits' task events and move the branch's cursor, in one transaction.

        What a commit says now counts, once: for a change (patch id) seen before -- a
        rebased or amended commit -- only the actions its message has now and did not
        have then are considered (:func:`~claude_orchestrator.domain_rules.new_actions`);
        an action is logged only when it changes the state this branch gives the task
        (:func:`~claude_orchestrator.domain_rules.logs_action`). Every action considered
        is remembered for the change, logged or not. A commit that rewrote synced changes
        (``SyncCommit.rewrites``) takes over what they said and its message still says;
        the rest is retracted (:meth:`_rewrite`).
        """
        events: list[Event] = []
        with self._write() as conn:
            feature_id, agent_id = sr.agent_ids(conn, spec_id, role)
            where = _Synced(feature_id, agent_id, spec_id, role, branch)
            for commit in commits:
                if commit.rewrites:
                    events += self._rewrite(conn, where, commit)
                said = conn.execute(
                    "SELECT task_id, action FROM synced_actions WHERE feature_id = ? "
                    "AND branch = ? AND patch_id = ?",
                    (feature_id, branch, commit.patch_id),
                ).fetchall()
                conn.execute(
                    "INSERT OR IGNORE INTO synced_commits (feature_id, branch, patch_id, "
                    "commit_hash) VALUES (?, ?, ?, ?)",
                    (feature_id, branch, commit.patch_id, commit.commit),
                )
                fresh = rules.new_actions(commit, ((str(t), str(a)) for t, a in said))
                for action in fresh:
                    event = self._sync_action(conn, where, commit, action)
                    if event is not None:
                        events.append(event)
                    conn.execute(
                        "INSERT INTO synced_actions (feature_id, branch, patch_id, task_id, "
                        "action, event_id) VALUES (?, ?, ?, ?, ?, ?)",
                        (feature_id, branch, commit.patch_id, action[0], action[1],
                         event.id if event is not None else None),
                    )  # fmt: skip
            conn.execute(
                "INSERT INTO sync_cursors (branch, feature_id, commit_hash) VALUES (?, ?, ?) "
                "ON CONFLICT (branch) DO UPDATE SET commit_hash = excluded.commit_hash, "
                f"updated_at = {sr.NOW}",
                (branch, feature_id, head),
            )
        return events

    def _rewrite(self, conn: sqlite3.Connection, where: _Synced, commit: SyncCommit) -> list[Event]:
        """A commit rewrote synced changes of this branch: the domain's
        :func:`~claude_orchestrator.domain_rules.plan_rewrite` says what is carried over
        to this change and what is retracted. Only this branch's records are touched."""
        feature_id, agent_id, spec_id, role, branch = where
        marks = ", ".join("?" * len(commit.rewrites))
        rows = conn.execute(
            "SELECT sa.patch_id, sa.task_id, sa.action, sa.event_id, sc.commit_hash "
            "FROM synced_actions sa LEFT JOIN synced_commits sc ON sc.feature_id = "
            "sa.feature_id AND sc.branch = sa.branch AND sc.patch_id = sa.patch_id "
            f"WHERE sa.feature_id = ? AND sa.branch = ? AND sa.patch_id IN ({marks}) "
            "ORDER BY sa.event_id IS NULL, sa.event_id",
            (feature_id, branch, *commit.rewrites),
        ).fetchall()
        events: list[Event] = []
        for row, step in rules.plan_rewrite(commit, (rules.SyncedAction(*r) for r in rows)):
            conn.execute(f"DELETE FROM synced_actions WHERE {_ACTION_KEY}",
                         (feature_id, branch, row.patch_id, row.task_id, row.action))  # fmt: skip
            if step == rules.CARRY:
                conn.execute(
                    "INSERT INTO synced_actions (feature_id, branch, patch_id, task_id, "
                    "action, event_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                    "event_id = coalesce(synced_actions.event_id, excluded.event_id)",
                    (feature_id, branch, commit.patch_id, row.task_id, row.action, row.event_id),
                )
            elif step == rules.RETRACT:
                assert row.event_id is not None
                retracted = (row.task_id, row.action, row.event_id, row.commit)
                new = domain.sync_retraction(spec_id, role, branch, retracted, commit)
                events.append(sr.insert_event(conn, feature_id, agent_id, new))
                events += self._still_said(conn, where, row.task_id)
        conn.execute(
            "UPDATE synced_commits SET commit_hash = ? WHERE feature_id = ? AND branch = ? "
            "AND patch_id = ?",
            (commit.commit, feature_id, branch, commit.patch_id),
        )
        return events

    def _still_said(self, conn: sqlite3.Connection, where: _Synced, task_id: str) -> list[Event]:
        """After a retraction: log what other synced commits of the branch say about the
        task and was not logged because the retracted event had said it already."""
        feature_id, branch = where.feature_id, where.branch
        rows = conn.execute(
            "SELECT sa.patch_id, sa.action, sc.commit_hash FROM synced_actions sa "
            "JOIN synced_commits sc ON sc.feature_id = sa.feature_id AND sc.branch = sa.branch "
            "AND sc.patch_id = sa.patch_id WHERE sa.feature_id = ? AND sa.branch = ? "
            "AND sa.task_id = ? AND sa.event_id IS NULL ORDER BY sa.rowid",
            (feature_id, branch, task_id),
        ).fetchall()
        events = []
        for patch_id, action, commit_hash in rows:
            still = domain.still_said(task_id, str(action), str(commit_hash), str(patch_id))
            event = self._sync_action(conn, where, still, (task_id, str(action), None))
            if event is not None:
                events.append(event)
                conn.execute(f"UPDATE synced_actions SET event_id = ? WHERE {_ACTION_KEY}",
                             (event.id, feature_id, branch, patch_id, task_id, action))  # fmt: skip
        return events

    def _sync_action(
        self,
        conn: sqlite3.Connection,
        where: _Synced,
        commit: SyncCommit,
        action: tuple[str, str, str | None],
    ) -> Event | None:
        """Log one action of a synced commit if the domain says it is logged."""
        feature_id, agent_id, spec_id, role, branch = where
        task_id, kind, reason = action
        mine = sr.task_events(conn, feature_id, task_id, agent_id)
        if not rules.logs_action(mine, kind, agent_id):
            return None
        new = domain.sync_action(spec_id, role, branch, commit, action)
        event = sr.insert_event(conn, feature_id, agent_id, new)
        if kind == "blocked":
            conn.execute(
                "INSERT INTO blockers (feature_id, agent_id, blocker_type, description, "
                "task_id) VALUES (?, ?, 'dependency', ?, ?)",
                (feature_id, agent_id, domain.sync_blocker_description(commit, reason), task_id),
            )
            self._set_agent_status(conn, agent_id, rules.status_after_block())
        return event

    # -- conflict scans --------------------------------------------------------------
    def record_scan(
        self,
        spec_id: str,
        scanned: Sequence[tuple[str, str]],
        found: Sequence[FoundConflict],
    ) -> tuple[list[Conflict], list[Conflict], list[Event]]:
        """Reconcile a scan with the open scan conflicts of a feature, in one transaction
        (the domain's :func:`~claude_orchestrator.domain_rules.reconcile_scan` decides).

        :return: (opened, resolved, events)
        """
        opened_ids: list[int] = []
        resolved_ids: list[int] = []
        events: list[Event] = []
        with self._write() as conn:
            feature_id = sr.feature_id(conn, spec_id)
            open_rows = conn.execute(
                "SELECT c.id, a.role, c.branch, c.other_branch, c.fingerprint, c.agent_id "
                "FROM conflicts c JOIN agents a ON a.id = c.agent_id "
                "WHERE c.feature_id = ? AND NOT c.resolved AND c.branch IS NOT NULL",
                (feature_id,),
            ).fetchall()
            agent_of = {row[0]: row[5] for row in open_rows}
            recorded = [rules.RecordedConflict(*row[:5]) for row in open_rows]
            plan = rules.reconcile_scan(scanned, found, recorded)
            for row, note in plan.resolve:
                self._close_conflict(conn, row.id, domain.scan_resolution_notes(note))
                resolved_ids.append(row.id)
                events.append(sr.insert_event(conn, feature_id, agent_of[row.id],
                    domain.scan_conflict_resolved(spec_id, row.role, row.id, row.branch,
                                                  row.other_branch, note)))  # fmt: skip
            for item in plan.open:
                conflict_id, event = self._open_scan_conflict(conn, spec_id, feature_id, item)
                opened_ids.append(conflict_id)
                events.append(event)
        opened = [self._conflict(i) for i in opened_ids]
        resolved = [self._conflict(i) for i in resolved_ids]
        return opened, resolved, events

    def _open_scan_conflict(
        self, conn: sqlite3.Connection, spec_id: str, feature_id: int, item: FoundConflict
    ) -> tuple[int, Event]:
        _, agent_id = sr.agent_ids(conn, spec_id, item.role)
        other_id = sr.agent_ids(conn, spec_id, item.other_role)[1] if item.other_role else None
        conflict_id = int(conn.execute(
            "INSERT INTO conflicts (feature_id, agent_id, conflicting_files, severity, "
            "branch, other_branch, other_agent_id, fingerprint) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (feature_id, agent_id, json.dumps(item.files), item.severity, item.branch,
             item.other_branch, other_id, rules.fingerprint(item.files)),
        ).fetchone()[0])  # fmt: skip
        new = domain.scan_conflict_detected(spec_id, item, conflict_id)
        return conflict_id, sr.insert_event(conn, feature_id, agent_id, new)

    # -- merges ----------------------------------------------------------------------
    def merge_pull_request(self, pr_id: int) -> tuple[PullRequest, list[Event]]:
        """Mark a PR merged, log ``pr_merged``, and ``task_merged`` for every task its
        author had completed (:func:`~claude_orchestrator.domain_rules.merged_tasks`),
        in one transaction."""
        events: list[Event] = []
        with self._write() as conn:
            row = conn.execute(
                "SELECT f.spec_id, a.role, p.feature_id, p.agent_id, p.pr_number, p.status, "
                "p.head_branch, p.base_branch FROM pull_requests p "
                "JOIN features f ON f.id = p.feature_id JOIN agents a ON a.id = p.agent_id "
                "WHERE p.id = ?",
                (pr_id,),
            ).fetchone()
            if row is None:
                raise domain.pull_request_not_found(pr_id, merging=True)
            spec_id, role, feature_id, agent_id, number, status, head, base = row
            rules.check_mergeable(pr_id, status)
            conn.execute(
                f"UPDATE pull_requests SET status = 'merged', merged_at = {sr.NOW} WHERE id = ?",
                (pr_id,),
            )
            new = domain.pr_merged(spec_id, role, pr_id, number, (head, base))
            events.append(sr.insert_event(conn, feature_id, agent_id, new))
            tasks = conn.execute(
                "SELECT DISTINCT task_id FROM task_events WHERE feature_id = ? AND agent_id = ? "
                f"AND task_id IS NOT NULL AND task_id <> '' AND event_type IN ({sr.STATE_MARKS})",
                (feature_id, agent_id, *STATE_EVENTS),
            ).fetchall()
            by_task = {str(t): sr.task_events(conn, feature_id, t, agent_id) for (t,) in tasks}
            for task in rules.merged_tasks(by_task):
                new = domain.task_merged(spec_id, role, pr_id, number, task)
                events.append(sr.insert_event(conn, feature_id, agent_id, new))
        return self._pull_request(pr_id), events
