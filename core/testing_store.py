"""The store contract suite, shipped for store plugin authors (imports pytest).

Subclass :class:`StoreContract` and provide its fixtures; pytest collects the inherited
tests (see :mod:`claude_orchestrator.testing`, which re-exports it). The port's own
promises -- lifecycle, transactions, the queries of the event feed -- are checked by
:class:`~claude_orchestrator.testing_port.PortContract`; the operations here run through
:class:`~claude_orchestrator.store_service.Store`, as the library runs them.
"""

from __future__ import annotations

import threading

import pytest

from .errors import AlreadyExistsError, NotFoundError, ValidationError
from .models import Event, FoundConflict, NewEvent, SyncCommit
from .store_service import Store
from .testing_port import AGENTS, SPEC, PortContract

__all__ = ["AGENTS", "SPEC", "PortContract", "StoreContract"]


class StoreContract(PortContract):
    """Behaviour every store must have: its port (:class:`PortContract`), and every
    operation of :class:`~claude_orchestrator.store_service.Store` over it.

    Provide a ``store`` fixture returning an *initialized* port, and a ``fresh_store``
    fixture returning one that has not been initialized yet.
    """

    @pytest.fixture
    def feature_store(self, service: Store) -> Store:
        service.add_feature(SPEC, "Contract feature", AGENTS[0][1], AGENTS)
        return service

    # -- features and agents ---------------------------------------------------------
    def test_add_feature_registers_agents_and_logs(self, service: Store) -> None:
        feature, event = service.add_feature(SPEC, "Contract feature", AGENTS[0][1], AGENTS)
        assert feature.spec_id == SPEC
        assert feature.status == "in-progress"
        assert [a.role for a in service.list_agents(SPEC)] == [
            "overseer",
            "implementor-api",
            "implementor-data",
        ]
        assert event.spec_id == SPEC and event.id > 0
        assert service.get_feature(SPEC) == feature
        assert service.get_feature("999-missing") is None

    def test_add_feature_twice_is_refused(self, feature_store: Store) -> None:
        with pytest.raises(AlreadyExistsError):
            feature_store.add_feature(SPEC, "again", AGENTS[0][1], AGENTS)
        assert len(feature_store.list_features()) == 1

    def test_add_agent(self, feature_store: Store) -> None:
        agent, _ = feature_store.add_agent(SPEC, "implementor-ui", "feature/001-contract/impl-ui")
        assert agent.role == "implementor-ui"
        with pytest.raises(AlreadyExistsError):
            feature_store.add_agent(SPEC, "implementor-ui", "x")
        with pytest.raises(NotFoundError):
            feature_store.add_agent("404-none", "implementor-ui", "x")

    def test_set_feature_status(self, feature_store: Store) -> None:
        feature, event = feature_store.set_feature_status(SPEC, "completed")
        assert feature.status == "completed"
        assert feature.completed_at
        assert event.event_type == "status_update"

    # -- events ----------------------------------------------------------------------
    def _event(self, event_type: str = "task_started", task: str | None = "T001") -> NewEvent:
        return NewEvent(
            SPEC, "implementor-data", event_type, "did something", task, "abc1234", {"k": [1, 2]}
        )

    def test_append_event_round_trips(self, feature_store: Store) -> None:
        stored = feature_store.append_event(self._event())
        assert isinstance(stored, Event)
        assert (stored.spec_id, stored.role, stored.event_type) == (
            SPEC,
            "implementor-data",
            "task_started",
        )
        assert stored.metadata == {"k": [1, 2]}
        assert feature_store.recent_events(1)[0] == stored

    def test_event_ids_increase_and_recent_is_newest_first(self, feature_store: Store) -> None:
        ids = [feature_store.append_event(self._event()).id for _ in range(5)]
        assert ids == sorted(ids) and len(set(ids)) == 5
        recent = feature_store.recent_events(3, SPEC)
        assert [e.id for e in recent] == ids[::-1][:3]
        after = feature_store.events_after(SPEC, ids[1])
        assert [e.id for e in after] == ids[2:]

    def test_unknown_feature_or_agent_is_not_found(self, feature_store: Store) -> None:
        with pytest.raises(NotFoundError, match="Feature not found"):
            feature_store.append_event(NewEvent("404-none", "overseer", "status_update", "x"))
        with pytest.raises(NotFoundError, match="implementor-zzz"):
            feature_store.append_event(NewEvent(SPEC, "implementor-zzz", "status_update", "x"))

    def test_task_state_follows_latest_event(self, feature_store: Store) -> None:
        feature_store.append_event(self._event("task_started", "T001"))
        feature_store.append_event(self._event("task_started", "T002"))
        feature_store.append_event(self._event("task_completed", "T001"))
        states = {t.task_id: t.status for t in feature_store.task_states(SPEC)}
        assert states == {"T001": "completed", "T002": "in-progress"}
        rows = {r.role: r for r in feature_store.feature_status(SPEC)}
        assert rows["implementor-data"].tasks_completed == 1
        assert rows["implementor-data"].tasks_in_progress == 1
        assert rows["implementor-data"].last_event_type == "task_completed"
        assert rows["implementor-api"].events == 0

    def test_status_lists_every_agent_overseer_first(self, feature_store: Store) -> None:
        rows = feature_store.feature_status()
        assert next(r.role for r in rows) == "overseer"
        assert {r.role for r in rows} == {role for role, _ in AGENTS}

    def test_concurrent_appends_from_threads(self, feature_store: Store) -> None:
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(20):
                    feature_store.append_event(self._event("status_update", None))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert len(feature_store.recent_events(1000, SPEC)) == 80 + 1  # + feature_created

    # -- conflicts -------------------------------------------------------------------
    def test_conflict_lifecycle(self, feature_store: Store) -> None:
        conflict, event = feature_store.add_conflict(
            SPEC, "implementor-api", ["src/a.py", "src/b.py"], "critical"
        )
        assert conflict.files == ["src/a.py", "src/b.py"] and not conflict.resolved
        assert event.event_type == "conflict_detected"
        assert feature_store.list_conflicts(SPEC) == [conflict]
        resolved, event = feature_store.resolve_conflict(conflict.id, "rebased")
        assert resolved.resolved and resolved.resolution_notes == "rebased"
        assert event.event_type == "conflict_resolved"
        assert feature_store.list_conflicts(SPEC) == []
        assert len(feature_store.list_conflicts(SPEC, include_resolved=True)) == 1
        with pytest.raises(ValidationError):
            feature_store.resolve_conflict(conflict.id, "again")
        with pytest.raises(NotFoundError):
            feature_store.resolve_conflict(conflict.id + 100, "nope")

    # -- blockers --------------------------------------------------------------------
    def test_blocker_lifecycle_sets_agent_status(self, feature_store: Store) -> None:
        blocker, event = feature_store.add_blocker(
            SPEC, "implementor-data", "dependency", "needs API", "implementor-api", "T002"
        )
        assert blocker.blocking_role == "implementor-api" and blocker.status == "active"
        assert event.event_type == "task_blocked" and event.task_id == "T002"
        agents = {a.role: a.status for a in feature_store.list_agents(SPEC)}
        assert agents["implementor-data"] == "blocked"
        assert {t.task_id: t.status for t in feature_store.task_states(SPEC)} == {"T002": "blocked"}
        resolved, _ = feature_store.resolve_blocker(blocker.id, "API merged")
        assert resolved.status == "resolved"
        agents = {a.role: a.status for a in feature_store.list_agents(SPEC)}
        assert agents["implementor-data"] == "active"
        assert feature_store.list_blockers(SPEC) == []
        with pytest.raises(ValidationError):
            feature_store.resolve_blocker(blocker.id, "again")

    # -- tests and pull requests -----------------------------------------------------
    def test_record_test(self, feature_store: Store) -> None:
        result, event = feature_store.record_test(
            SPEC,
            "implementor-data",
            "lint",
            "failed",
            commit_hash="abc1234",
            passed=3,
            failed=1,
            skipped=0,
            total=4,
        )
        assert (result.test_type, result.status, result.tests_failed) == ("lint", "failed", 1)
        assert event.commit_hash == "abc1234"
        assert feature_store.list_test_results(SPEC) == [result]

    def test_pull_request_lifecycle(self, feature_store: Store) -> None:
        pr, event = feature_store.record_pull_request(
            SPEC, "implementor-data", "Data layer", AGENTS[0][1], AGENTS[1][1], pr_number=7
        )
        assert event.event_type == "pr_opened"
        merged, event = feature_store.set_pull_request_status(pr.id, "merged")
        assert merged.status == "merged" and merged.merged_at
        assert event.event_type == "pr_merged"
        rows = {r.role: r for r in feature_store.feature_status(SPEC)}
        assert (rows["implementor-data"].prs_count, rows["implementor-data"].prs_merged) == (1, 1)

    def test_merge_pull_request_marks_tasks_merged(self, feature_store: Store) -> None:
        feature_store.append_event(self._event("task_completed", "T001"))
        pr, _ = feature_store.record_pull_request(
            SPEC, "implementor-data", "Data", AGENTS[0][1], AGENTS[1][1]
        )
        merged, events = feature_store.merge_pull_request(pr.id)
        assert merged.status == "merged"
        assert [(e.event_type, e.task_id) for e in events] == [
            ("pr_merged", None), ("task_merged", "T001"),
        ]  # fmt: skip
        assert {t.task_id: t.status for t in feature_store.task_states(SPEC)} == {"T001": "merged"}
        with pytest.raises(ValidationError):
            feature_store.merge_pull_request(pr.id)

    # -- sync and scans --------------------------------------------------------------
    def test_record_sync_moves_cursor_and_dedupes(self, feature_store: Store) -> None:
        branch = AGENTS[1][1]
        assert feature_store.sync_cursor(branch) is None
        commits = [
            SyncCommit("a" * 40, "p1", "T001: x", [("T001", "started", None)]),
            SyncCommit("b" * 40, "p2", "blocked T002: y", [("T002", "blocked", "y")]),
        ]
        events = feature_store.record_sync(SPEC, "implementor-data", branch, "b" * 40, commits)
        assert [e.event_type for e in events] == ["task_started", "task_blocked"]
        assert feature_store.sync_cursor(branch) == "b" * 40
        assert feature_store.known_patch_ids(SPEC, branch, ["p1", "p3"]) == {"p1"}
        again = feature_store.record_sync(SPEC, "implementor-data", branch, "c" * 40, commits)
        assert again == []  # the same patches are never logged twice
        assert feature_store.list_blockers(SPEC)[0].description == "y"

    def test_synced_changes_by_patch_id_and_by_commit(self, feature_store: Store) -> None:
        branch = AGENTS[1][1]
        commits = [
            SyncCommit("a" * 40, "p1", "T001: x", [("T001", "started", None)]),
            SyncCommit("b" * 40, "p2", "T002 done", [("T002", "completed", None)]),
        ]
        feature_store.record_sync(SPEC, "implementor-data", branch, "b" * 40, commits)
        changes = feature_store.synced_changes
        assert changes(SPEC, branch, patch_ids=["p2", "p9"]) == [("p2", "b" * 40)]
        assert changes(SPEC, branch, commits=["a" * 40, "f" * 40]) == [("p1", "a" * 40)]
        both = changes(SPEC, branch, patch_ids=["p2"], commits=["a" * 40, "b" * 40])
        assert both == [("p1", "a" * 40), ("p2", "b" * 40)]
        assert changes(SPEC, AGENTS[2][1], patch_ids=["p1", "p2"]) == []
        assert changes(SPEC, branch) == []

    def test_record_sync_rewrite_carries_and_retracts(self, feature_store: Store) -> None:
        branch, role = AGENTS[1][1], "implementor-data"
        said: list[tuple[str, str, str | None]] = [
            ("T001", "completed", None),
            ("T002", "completed", None),
        ]
        first = feature_store.record_sync(
            SPEC, role, branch, "a" * 40, [SyncCommit("a" * 40, "p1", "T001, T002 done", said)]
        )
        assert [(e.event_type, e.task_id) for e in first] == [
            ("task_completed", "T001"), ("task_completed", "T002"),
        ]  # fmt: skip
        amended = SyncCommit("c" * 40, "p1b", "T001 done", [("T001", "completed", None)],
                             rewrites=("p1",), how="amend")  # fmt: skip
        events = feature_store.record_sync(SPEC, role, branch, "c" * 40, [amended])
        assert [(e.event_type, e.task_id) for e in events] == [("task_reopened", "T002")]
        assert events[0].message == (
            f"T002 completed retracted: {'a' * 12} was rewritten as {'c' * 12}, "
            "whose message no longer says it"
        )
        assert events[0].metadata == {
            "branch": branch, "source": "sync-status", "retracts": first[1].id,
            "retracted": "task_completed", "rewrite": "amend", "old_commit": "a" * 40,
            "new_commit": "c" * 40,
        }  # fmt: skip
        states = {t.task_id: (t.status, t.reopened) for t in feature_store.task_states(SPEC)}
        assert states == {"T001": ("completed", False), "T002": ("reopened", True)}
        assert feature_store.synced_changes(SPEC, branch, commits=["c" * 40]) == [("p1b", "c" * 40)]
        # the carried completion is the amended change's now: syncing it again logs nothing
        assert feature_store.record_sync(SPEC, role, branch, "c" * 40, [amended]) == []

    def test_record_scan_records_once_and_resolves(self, feature_store: Store) -> None:
        data, api = AGENTS[1][1], AGENTS[2][1]
        found = [FoundConflict("implementor-data", data, "implementor-api", api, ["a.py"],
                               "warning")]  # fmt: skip
        opened, resolved, events = feature_store.record_scan(SPEC, [(data, api)], found)
        assert (len(opened), len(resolved), len(events)) == (1, 0, 1)
        assert opened[0].other_role == "implementor-api"
        assert feature_store.record_scan(SPEC, [(data, api)], found) == ([], [], [])
        opened, resolved, events = feature_store.record_scan(SPEC, [(data, api)], [])
        assert (opened, len(resolved)) == ([], 1)
        assert events[0].event_type == "conflict_resolved"
        assert feature_store.list_conflicts(SPEC) == []
