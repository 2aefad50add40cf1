"""The memory store's writes and queries of features, agents, events, conflicts,
blockers, test results and pull requests. The domain words every event and decides
every rule, exactly as for the built-in SQLite store."""

from __future__ import annotations

from collections.abc import Sequence

from claude_orchestrator import domain
from claude_orchestrator import domain_rules as rules
from claude_orchestrator.models import (
    Agent,
    AgentStatus,
    Blocker,
    Conflict,
    Event,
    Feature,
    NewEvent,
    PullRequest,
    StoreInfo,
    TaskState,
    TestResult,
)

from .tables import Base, Tables, now

SCHEMA_VERSION = 1


class Records(Base):
    # -- lifecycle -------------------------------------------------------------------
    def initialize(self) -> StoreInfo:
        with self._lock:
            created = self._tables is None
            if created:
                self._tables = Tables()
            info = self.info()
        return info._replace(created=created)

    def info(self) -> StoreInfo:
        with self._read() as t:
            counts = {
                "features": len(t.features),
                "agents": sum(len(a) for a in t.agents.values()),
                "task_events": len(t.events),
                "pull_requests": len(t.pull_requests),
                "conflicts": len(t.conflicts),
                "test_results": len(t.tests),
                "blockers": len(t.blockers),
            }
        return StoreInfo(self.location, SCHEMA_VERSION, written_by=__package__, counts=counts)

    # -- features and agents ---------------------------------------------------------
    def add_feature(
        self, spec_id: str, name: str, overseer_branch: str, agents: Sequence[tuple[str, str]]
    ) -> tuple[Feature, Event]:
        rules.check_agents(role for role, _ in agents)
        with self._write() as t:
            if spec_id in t.features:
                raise domain.feature_exists(spec_id)
            t.features[spec_id] = Feature(
                t.next_id("feature"), spec_id, name, overseer_branch, "in-progress", now()
            )
            t.agents[spec_id] = {}
            for role, branch in agents:
                self._new_agent(t, spec_id, role, branch)
            roles = [role for role, _ in agents]
            event = self._append(t, domain.feature_created(spec_id, name, overseer_branch, roles))
            return t.features[spec_id], event

    @staticmethod
    def _new_agent(t: Tables, spec_id: str, role: str, branch: str) -> Agent:
        agent = Agent(t.next_id("agent"), spec_id, role, branch, rules.ACTIVE, now())
        t.agents[spec_id][role] = agent
        return agent

    def set_feature_name(self, spec_id: str, name: str) -> tuple[Feature, Event | None]:
        with self._write() as t:
            feature = self._feature_of(t, spec_id)
            if feature.name == name:
                return feature, None
            t.features[spec_id] = feature._replace(name=name)
            event = self._append(t, domain.feature_renamed(spec_id, feature.name, name))
            return t.features[spec_id], event

    def get_feature(self, spec_id: str) -> Feature | None:
        with self._read() as t:
            return t.features.get(spec_id)

    def list_features(self) -> list[Feature]:
        with self._read() as t:
            return [t.features[s] for s in sorted(t.features)]

    def set_feature_status(self, spec_id: str, status: str) -> tuple[Feature, Event]:
        with self._write() as t:
            feature = self._feature_of(t, spec_id)
            done = now() if status == "completed" else feature.completed_at
            t.features[spec_id] = feature._replace(status=status, completed_at=done)
            event = self._append(t, domain.feature_status_set(spec_id, status))
            return t.features[spec_id], event

    def add_agent(self, spec_id: str, role: str, branch_name: str) -> tuple[Agent, Event]:
        with self._write() as t:
            self._feature_of(t, spec_id)
            if role in t.agents[spec_id]:
                raise domain.agent_exists(spec_id, role)
            agent = self._new_agent(t, spec_id, role, branch_name)
            return agent, self._append(t, domain.agent_registered(spec_id, role, branch_name))

    def list_agents(self, spec_id: str) -> list[Agent]:
        with self._read() as t:
            agents = t.agents.get(spec_id, {})
            return [agents[r] for r in sorted(agents, key=rules.role_order)]

    # -- events ----------------------------------------------------------------------
    def append_event(self, event: NewEvent) -> Event:
        with self._write() as t:
            return self._append(t, event)

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        with self._read() as t:
            mine = [e for e in t.events if spec_id is None or e.spec_id == spec_id]
            return mine[::-1][: max(limit, 0)]

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        with self._read() as t:
            mine = [e for e in t.events if e.spec_id == spec_id and e.id > after_id]
            return mine[: max(limit, 0)]

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        with self._read() as t:
            return [e for e in t.events if e.id > after_id][: max(limit, 0)]

    def delivery_cursor(self, consumer: str) -> int | None:
        with self._read() as t:
            return t.delivery.get(consumer)

    def move_delivery_cursor(self, consumer: str, expected: int | None, new: int) -> bool:
        rules.check_cursor_move(consumer, expected, new)
        with self._write() as t:
            if t.delivery.get(consumer) != expected:
                return False
            t.delivery[consumer] = new
            return True

    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        with self._read() as t:
            specs = sorted(t.features) if spec_id is None else [spec_id] * (spec_id in t.features)
            rows: list[AgentStatus] = []
            for spec in specs:
                rows += rules.summary(rules.FeatureRecords(
                    t.features[spec], list(t.agents[spec].values()),
                    [e for e in t.events if e.spec_id == spec],
                    [p for p in t.pull_requests.values() if p.spec_id == spec],
                    [c for c in t.conflicts.values() if c.spec_id == spec],
                    [b for b in t.blockers.values() if b.spec_id == spec],
                ))  # fmt: skip
            return rows

    def task_states(self, spec_id: str) -> list[TaskState]:
        with self._read() as t:
            return rules.task_states(spec_id, (e for e in t.events if e.spec_id == spec_id))

    # -- conflicts -------------------------------------------------------------------
    def add_conflict(
        self, spec_id: str, role: str, files: Sequence[str], severity: str
    ) -> tuple[Conflict, Event]:
        with self._write() as t:
            self._agent_of(t, spec_id, role)
            conflict = Conflict(t.next_id("conflict"), spec_id, role, list(files), severity,
                                False, None, now(), None)  # fmt: skip
            t.conflicts[conflict.id] = conflict
            new = domain.conflict_detected(spec_id, role, conflict.id, files, severity)
            return conflict, self._append(t, new)

    def _open_conflict(self, t: Tables, conflict_id: int) -> Conflict:
        conflict = t.conflicts.get(conflict_id)
        if conflict is None:
            raise domain.conflict_not_found(conflict_id)
        return conflict

    def resolve_conflict(self, conflict_id: int, notes: str) -> tuple[Conflict, Event]:
        with self._write() as t:
            conflict = self._open_conflict(t, conflict_id)
            if conflict.resolved:
                raise domain.conflict_already_resolved(conflict_id)
            closed = self._close_conflict(t, conflict, notes)
            new = domain.conflict_resolved(conflict.spec_id, conflict.role, conflict_id, notes)
            return closed, self._append(t, new)

    @staticmethod
    def _close_conflict(t: Tables, conflict: Conflict, notes: str) -> Conflict:
        closed = conflict._replace(resolved=True, resolution_notes=notes, resolved_at=now())
        t.conflicts[conflict.id] = closed
        return closed

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        with self._read() as t:
            return [c for _, c in sorted(t.conflicts.items())
                    if (spec_id is None or c.spec_id == spec_id)
                    and (include_resolved or not c.resolved)]  # fmt: skip

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
        with self._write() as t:
            agent = self._agent_of(t, spec_id, role)
            if blocking_role:
                self._agent_of(t, spec_id, blocking_role)
            blocker = self._new_blocker(t, agent, (blocker_type, description, blocking_role),
                                        task_id)  # fmt: skip
            event = self._append(t, domain.blocker_added(
                spec_id, role, blocker.id, blocker_type, description, blocking_role, task_id
            ))  # fmt: skip
            return blocker, event

    def _new_blocker(
        self, t: Tables, agent: Agent, what: tuple[str, str, str | None], task_id: str | None
    ) -> Blocker:
        """``what``: (type, description, blocking role)."""
        blocker = Blocker(t.next_id("blocker"), agent.spec_id, agent.role, *what,
                          rules.ACTIVE, now(), None, None)  # fmt: skip
        t.blockers[blocker.id] = blocker
        t.blocker_tasks[blocker.id] = task_id
        self._set_agent_status(t, agent, rules.status_after_block())
        return blocker

    def resolve_blocker(self, blocker_id: int, notes: str) -> tuple[Blocker, Event]:
        with self._write() as t:
            blocker = t.blockers.get(blocker_id)
            if blocker is None:
                raise domain.blocker_not_found(blocker_id)
            if blocker.status == "resolved":
                raise domain.blocker_already_resolved(blocker_id)
            done = blocker._replace(status="resolved", resolution_notes=notes, resolved_at=now())
            t.blockers[blocker_id] = done
            agent = self._agent_of(t, blocker.spec_id, blocker.role)
            left = sum(1 for b in t.blockers.values() if b.spec_id == agent.spec_id
                       and b.role == agent.role and b.status == rules.ACTIVE)  # fmt: skip
            self._set_agent_status(t, agent, rules.status_after_resolve(agent.status, left))
            event = self._append(t, domain.blocker_resolved(
                blocker.spec_id, blocker.role, blocker_id, notes, t.blocker_tasks[blocker_id]
            ))  # fmt: skip
            return done, event

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        with self._read() as t:
            return [b for _, b in sorted(t.blockers.items())
                    if (spec_id is None or b.spec_id == spec_id)
                    and (include_resolved or b.status == rules.ACTIVE)]  # fmt: skip

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
        with self._write() as t:
            self._agent_of(t, spec_id, role)
            result = TestResult(
                t.next_id("test"), spec_id, role, test_type, status, commit_hash,
                total, passed, failed, skipped, duration_ms, logs_url, now(),
            )  # fmt: skip
            t.tests.append(result)
            event = self._append(t, domain.test_recorded(
                spec_id, role, result.id, test_type, status, commit_hash, (passed, failed, skipped)
            ))  # fmt: skip
            return result, event

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        with self._read() as t:
            mine = [r for r in t.tests if spec_id is None or r.spec_id == spec_id]
            return mine[::-1][: max(limit, 0)]

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
        with self._write() as t:
            self._agent_of(t, spec_id, role)
            pr = PullRequest(t.next_id("pr"), spec_id, role, pr_number, title, status,
                             base_branch, head_branch, url, now(), None)  # fmt: skip
            t.pull_requests[pr.id] = pr
            event = self._append(t, domain.pr_opened(
                spec_id, role, pr.id, pr_number, (head_branch, base_branch), title, url
            ))  # fmt: skip
            return pr, event

    def _pr(self, t: Tables, pr_id: int) -> PullRequest:
        pr = t.pull_requests.get(pr_id)
        if pr is None:
            raise domain.pull_request_not_found(pr_id)
        return pr

    def set_pull_request_status(self, pr_id: int, status: str) -> tuple[PullRequest, Event]:
        with self._write() as t:
            pr = self._pr(t, pr_id)
            merged_at = now() if status == "merged" else pr.merged_at
            t.pull_requests[pr_id] = pr._replace(status=status, merged_at=merged_at)
            new = domain.pr_status_set(pr.spec_id, pr.role, pr_id, pr.pr_number, status)
            return t.pull_requests[pr_id], self._append(t, new)

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        with self._read() as t:
            return [p for _, p in sorted(t.pull_requests.items())
                    if spec_id is None or p.spec_id == spec_id]  # fmt: skip

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        with self._read() as t:
            return t.pull_requests.get(pr_id)
