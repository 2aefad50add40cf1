"""The store contract suite against the built-in postgres store on a real server, and the
same operations on PostgreSQL and on SQLite: the same events (ids, messages, metadata,
order), records, task states and summaries, which are what the domain derives."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from claude_orchestrator.models import FoundConflict, NewEvent, SyncCommit
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.protocols_store import StoreFeed, StoreSummaries
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC
from tests.test_postgres_support import PostgresContract, unique_project
from tests.test_store_memory import OPS, _comparable, _run, _summary_from_events

pytest.importorskip("psycopg")

from claude_orchestrator.plugins.postgres_port import PostgresPort, PostgresStore


class TestPostgresStore(PostgresContract):
    @pytest.fixture
    def store_dsn(self, pg_dsn: str) -> str:
        return pg_dsn


def test_the_port_keeps_summaries_and_a_feed(pg_dsn: str) -> None:
    store = PostgresPort.for_dsn(pg_dsn, "kinds")
    try:
        assert isinstance(store, StoreSummaries) and isinstance(store, StoreFeed)
    finally:
        store.close()


# -- one scripted scenario on both stores ----------------------------------------------
OTHER = ("002-other", "Other feature", "feature/002-other/overseer")
DATA, API = AGENTS[1][1], AGENTS[2][1]


def scenario(store: Store) -> None:
    """Features, agents, syncs (and a rewrite), conflicts, blockers, pull requests, test
    results and custom events: every kind of operation the library runs."""
    store.initialize()
    store.add_feature(SPEC, "Contract feature", AGENTS[0][1], AGENTS)
    store.add_feature(*OTHER, [("overseer", OTHER[2])])
    store.add_agent(SPEC, "implementor-ui", "feature/001-contract/impl-ui")
    store.set_feature_name(OTHER[0], "Renamed feature")
    store.append_event(NewEvent(SPEC, "implementor-data", "deploy_note", "custom", None, None,
                                {"env": "staging", "n": [1, 2.5, None], "ok": True}))  # fmt: skip
    first = [
        SyncCommit(
            "a" * 40,
            "p1",
            "T001 T002 done",
            [("T001", "completed", None), ("T002", "completed", None)],
        ),
        SyncCommit("b" * 40, "p2", "blocked T003: waits", [("T003", "blocked", "waits")]),
    ]
    store.record_sync(SPEC, "implementor-data", DATA, "b" * 40, first)
    amended = SyncCommit("c" * 40, "p1b", "T001 done", [("T001", "completed", None)],
                         rewrites=("p1",), how="amend")  # fmt: skip
    store.record_sync(SPEC, "implementor-data", DATA, "c" * 40, [amended])
    conflict, _ = store.add_conflict(SPEC, "implementor-api", ["src/a.py", "src/b.py"], "critical")
    store.resolve_conflict(conflict.id, "rebased")
    found = [FoundConflict("implementor-data", DATA, "implementor-api", API, ["x.py"], "warning")]
    store.record_scan(SPEC, [(DATA, API)], found)
    store.record_scan(SPEC, [(DATA, API)], [])
    blocker, _ = store.add_blocker(SPEC, "implementor-api", "dependency", "needs data",
                                   "implementor-data", "T004")  # fmt: skip
    store.resolve_blocker(blocker.id, "data merged")
    store.record_test(SPEC, "implementor-data", "unit", "failed", commit_hash="c" * 12,
                      passed=3, failed=1, skipped=2, total=6, duration_ms=1234)  # fmt: skip
    store.record_test(SPEC, "overseer", "e2e", "passed", passed=1)
    pull, _ = store.record_pull_request(SPEC, "implementor-data", "Data layer", AGENTS[0][1],
                                        DATA, pr_number=7, url="https://example.com/7")  # fmt: skip
    store.merge_pull_request(pull.id)
    other_pr, _ = store.record_pull_request(SPEC, "implementor-api", "API", AGENTS[0][1], API)
    store.set_pull_request_status(other_pr.id, "closed")
    store.set_feature_status(OTHER[0], "completed")
    store.append_event(NewEvent(OTHER[0], "overseer", "guard_denied", "no", metadata={"x": 1}))


def _seen(store: Store) -> dict[str, Any]:
    """Everything a user sees of the stores' records, the clock masked."""
    no_time = {"created_at": "", "detected_at": "", "resolved_at": None, "merged_at": None,
               "completed_at": None, "updated_at": "", "last_event_at": None}  # fmt: skip

    def mask(records: list[Any]) -> list[Any]:
        return [r._replace(**{k: v for k, v in no_time.items() if k in r._fields})
                for r in records]  # fmt: skip

    return {
        "events": mask(store.events_since(0, 10_000)),
        "features": mask(store.list_features()),
        "agents": {s: mask(store.list_agents(s)) for s in (SPEC, OTHER[0])},
        "conflicts": mask(store.list_conflicts(include_resolved=True)),
        "blockers": mask(store.list_blockers(include_resolved=True)),
        "tests": mask(store.list_test_results()),
        "prs": mask(store.list_pull_requests()),
        "status": mask(store.feature_status()),
        "tasks": {s: mask(store.task_states(s)) for s in (SPEC, OTHER[0])},
        "sync": (store.sync_cursor(DATA), store.synced_changes(SPEC, DATA, commits=["c" * 40])),
        "counts": store.info().counts,
    }


def test_one_scenario_gives_the_same_events_on_sqlite_and_postgres(
    pg_dsn: str, tmp_path: Path
) -> None:
    sqlite, postgres = SQLiteStore(tmp_path / "events.db"), PostgresStore(pg_dsn, "scenario")
    try:
        for store in (sqlite, postgres):
            scenario(store)
        mine, theirs = _seen(postgres), _seen(sqlite)
        assert len(mine["events"]) == 24
        # ids included: numbered per project from 1, as SQLite numbers them
        assert mine["events"] == theirs["events"]
        assert mine == theirs
        assert [e.created_at for e in postgres.events_since()] == sorted(
            e.created_at for e in postgres.events_since()
        )
    finally:
        sqlite.close()
        postgres.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_generated_operations_agree_with_sqlite_and_the_domain(
    pg_dsn: str, ops: list[tuple[Any, ...]]
) -> None:
    """Random operation sequences (each a project of its own in one database)."""
    postgres = PostgresStore(pg_dsn, unique_project("ops"))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "events.db")
        try:
            events = _run(sqlite, ops)
            assert _run(postgres, ops) == [
                e._replace(created_at=p.created_at)
                for e, p in zip(events, postgres.events_after(SPEC), strict=True)
            ]
            assert _comparable(postgres) == _comparable(sqlite)
            assert (postgres.task_states(SPEC), postgres.feature_status(SPEC)) == (
                _summary_from_events(postgres)
            )
        finally:
            sqlite.close()
            postgres.close()
