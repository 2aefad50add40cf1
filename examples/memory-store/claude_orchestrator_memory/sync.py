"""The memory store's sync-status, conflict scans and merges: the domain decides what
a synced commit logs, what a rewrite carries over or retracts, which conflicts a scan
resolves or opens and which tasks a merge merges; this module keeps the records."""

from __future__ import annotations

from collections.abc import Sequence

from claude_orchestrator import domain
from claude_orchestrator import domain_rules as rules
from claude_orchestrator.models import (
    Agent,
    Conflict,
    Event,
    FoundConflict,
    PullRequest,
    SyncCommit,
)

from .records import Records
from .tables import Tables, now


class Sync(Records):
    # -- sync-status -----------------------------------------------------------------
    def sync_cursor(self, branch: str) -> str | None:
        with self._read() as t:
            return t.cursors.get(branch)

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        with self._read() as t:
            synced = t.synced.get(spec_id, {})
            return {p for p in patch_ids if (branch, p) in synced}

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        wanted, by_commit = set(patch_ids), set(commits)
        with self._read() as t:
            return sorted(
                (patch, commit) for (on, patch), commit in t.synced.get(spec_id, {}).items()
                if on == branch and (patch in wanted or commit in by_commit)
            )  # fmt: skip

    def record_sync(
        self, spec_id: str, role: str, branch: str, head: str, commits: Sequence[SyncCommit]
    ) -> list[Event]:
        """Log the commits' task events and move the branch's cursor, all or nothing."""
        events: list[Event] = []
        with self._write() as t:
            agent = self._agent_of(t, spec_id, role)
            synced = t.synced.setdefault(spec_id, {})
            actions = t.actions.setdefault(spec_id, {})
            for commit in commits:
                if commit.rewrites:
                    events += self._rewrite(t, agent, branch, commit)
                said = [(k[2], k[3]) for k in actions if k[:2] == (branch, commit.patch_id)]
                synced.setdefault((branch, commit.patch_id), commit.commit)
                for action in rules.new_actions(commit, said):
                    event = self._sync_action(t, agent, branch, commit, action)
                    if event is not None:
                        events.append(event)
                    key = (branch, commit.patch_id, action[0], action[1])
                    actions[key] = event.id if event is not None else None
            t.cursors[branch] = head
        return events

    def _rewrite(self, t: Tables, agent: Agent, branch: str, commit: SyncCommit) -> list[Event]:
        synced, actions = t.synced[agent.spec_id], t.actions[agent.spec_id]
        rows = [
            rules.SyncedAction(patch, task, action, event_id, synced.get((branch, patch)))
            for (on, patch, task, action), event_id in actions.items()
            if on == branch and patch in commit.rewrites
        ]
        events: list[Event] = []
        for row, step in rules.plan_rewrite(commit, rows):
            del actions[(branch, row.patch_id, row.task_id, row.action)]
            key = (branch, commit.patch_id, row.task_id, row.action)
            if step == rules.CARRY:
                before = actions.get(key)
                actions[key] = before if before is not None else row.event_id
            elif step == rules.RETRACT:
                assert row.event_id is not None
                retracted = (row.task_id, row.action, row.event_id, row.commit)
                new = domain.sync_retraction(agent.spec_id, agent.role, branch, retracted, commit)
                events.append(self._append(t, new))
                events += self._still_said(t, agent, branch, row.task_id)
        if (branch, commit.patch_id) in synced:
            synced[(branch, commit.patch_id)] = commit.commit
        return events

    def _still_said(self, t: Tables, agent: Agent, branch: str, task_id: str) -> list[Event]:
        synced, actions = t.synced[agent.spec_id], t.actions[agent.spec_id]
        waiting = [(patch, action) for (on, patch, task, action), event_id in actions.items()
                   if on == branch and task == task_id and event_id is None
                   and (branch, patch) in synced]  # fmt: skip
        events = []
        for patch, action in waiting:
            still = domain.still_said(task_id, action, synced[(branch, patch)], patch)
            event = self._sync_action(t, agent, branch, still, (task_id, action, None))
            if event is not None:
                events.append(event)
                actions[(branch, patch, task_id, action)] = event.id
        return events

    def _sync_action(
        self,
        t: Tables,
        agent: Agent,
        branch: str,
        commit: SyncCommit,
        action: tuple[str, str, str | None],
    ) -> Event | None:
        task_id, kind, reason = action
        if not rules.logs_action(self._task_events(t, agent, task_id), kind, agent.id):
            return None
        event = self._append(t, domain.sync_action(agent.spec_id, agent.role, branch, commit,
                                                   action))  # fmt: skip
        if kind == "blocked":
            description = domain.sync_blocker_description(commit, reason)
            self._new_blocker(t, self._agent_of(t, agent.spec_id, agent.role),
                              ("dependency", description, None), task_id)  # fmt: skip
        return event

    # -- conflict scans --------------------------------------------------------------
    def record_scan(
        self, spec_id: str, scanned: Sequence[tuple[str, str]], found: Sequence[FoundConflict]
    ) -> tuple[list[Conflict], list[Conflict], list[Event]]:
        opened: list[Conflict] = []
        resolved: list[Conflict] = []
        events: list[Event] = []
        with self._write() as t:
            self._feature_of(t, spec_id)
            recorded = [
                rules.RecordedConflict(c.id, c.role, c.branch, c.other_branch,
                                       rules.fingerprint(c.files))
                for _, c in sorted(t.conflicts.items())
                if c.spec_id == spec_id and not c.resolved and c.branch is not None
                and c.other_branch is not None
            ]  # fmt: skip
            plan = rules.reconcile_scan(scanned, found, recorded)
            for row, note in plan.resolve:
                notes = domain.scan_resolution_notes(note)
                resolved.append(self._close_conflict(t, t.conflicts[row.id], notes))
                events.append(self._append(t, domain.scan_conflict_resolved(
                    spec_id, row.role, row.id, row.branch, row.other_branch, note
                )))  # fmt: skip
            for item in plan.open:
                self._agent_of(t, spec_id, item.role)
                if item.other_role:
                    self._agent_of(t, spec_id, item.other_role)
                conflict = Conflict(t.next_id("conflict"), spec_id, item.role, list(item.files),
                                    item.severity, False, None, now(), None, item.branch,
                                    item.other_branch, item.other_role or None)  # fmt: skip
                t.conflicts[conflict.id] = conflict
                opened.append(conflict)
                events.append(
                    self._append(t, domain.scan_conflict_detected(spec_id, item, conflict.id))
                )
        return opened, resolved, events

    # -- merges ----------------------------------------------------------------------
    def merge_pull_request(self, pr_id: int) -> tuple[PullRequest, list[Event]]:
        with self._write() as t:
            pr = t.pull_requests.get(pr_id)
            if pr is None:
                raise domain.pull_request_not_found(pr_id, merging=True)
            rules.check_mergeable(pr_id, pr.status)
            merged = pr._replace(status="merged", merged_at=now())
            t.pull_requests[pr_id] = merged
            branches = (pr.head_branch, pr.base_branch)
            new = domain.pr_merged(pr.spec_id, pr.role, pr_id, pr.pr_number, branches)
            events = [self._append(t, new)]
            agent = self._agent_of(t, pr.spec_id, pr.role)
            tasks = {str(e.task_id) for e in t.events if e.spec_id == pr.spec_id
                     and e.role == pr.role and rules.moves_state(e)}  # fmt: skip
            by_task = {task: self._task_events(t, agent, task) for task in tasks}
            for task in rules.merged_tasks(by_task):
                new = domain.task_merged(pr.spec_id, pr.role, pr_id, pr.pr_number, task)
                events.append(self._append(t, new))
            return merged, events
