"""``events migrate`` on generated histories and when things go wrong: every query of the
copy answers exactly as SQLite does, before and after a resumed copy (Hypothesis); a
copy killed with SIGKILL in the middle leaves nothing and the next run converges; a
project with another history is refused with nothing written; a copy the server changed
on the way does not verify and is rolled back; ids with gaps and the original tool's
timestamps are kept."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.domain_tasks import STATE_EVENTS
from claude_orchestrator.errors import StoreError
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC

from .conftest import CLI, Run, clean_env
from .test_postgres_contract import scenario
from .test_postgres_migrate import one_line_error, sqlite_checksum
from .test_postgres_support import unique_project
from .test_store_memory import OPS, ROLES, TASKS, _run, rules_event

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins.postgres_migrate import migrate  # noqa: E402
from claude_orchestrator.plugins.postgres_migrate_report import Migrated  # noqa: E402
from claude_orchestrator.plugins.postgres_port import PostgresStore  # noqa: E402

BRANCHES = [branch for _, branch in AGENTS]
NUMBERED = ("features", "agents", "task_events", "pull_requests", "conflicts", "test_results",
            "blockers")  # fmt: skip


def copy(path: Path, dsn: str, project: str) -> Migrated:
    return migrate(path, dsn, project=project)


def answers(store: Store) -> dict[str, Any]:
    """What every query of the port answers (times and ids included)."""
    prs = store.list_pull_requests()
    patches = [f"p{n}" for n in range(40)]
    commits = [f"{n:040x}" for n in range(40)]
    with store.transaction() as tx:
        actions = {b: tx.synced_actions(SPEC, b) for b in BRANCHES}
        stored = tx.events(SPEC)
        active = {r: tx.active_blockers(SPEC, r) for r in ROLES}
        open_ = tx.open_conflicts(SPEC)
    return {
        "features": store.list_features(), "feature": store.get_feature(SPEC),
        "agents": store.list_agents(SPEC), "recent": store.recent_events(10_000),
        "recent of": store.recent_events(5, SPEC), "after": store.events_after(SPEC, 0, 10_000),
        "after 3": store.events_after(SPEC, 3, 2), "since": store.events_since(0, 10_000),
        "since 2": store.events_since(2, 3), "cursor": store.delivery_cursor("outbox"),
        "conflicts": store.list_conflicts(include_resolved=True),
        "open conflicts": store.list_conflicts(SPEC), "open in tx": open_,
        "blockers": store.list_blockers(include_resolved=True),
        "active": store.list_blockers(SPEC), "active in tx": active,
        "tests": store.list_test_results(), "prs": prs,
        "pr": [store.get_pull_request(p.id) for p in prs],
        "sync": [store.sync_cursor(b) for b in BRANCHES],
        "known": [store.known_patch_ids(SPEC, b, patches) for b in BRANCHES],
        "changes": [store.synced_changes(SPEC, b, patch_ids=patches, commits=commits)
                    for b in BRANCHES],
        "status": store.feature_status(), "status of": store.feature_status(SPEC),
        "tasks": store.task_states(SPEC), "synced actions": actions, "stored": stored,
        "counts": store.info().counts,
    }  # fmt: skip


#: more work after a first copy: events, resolutions, the outbox's cursor, the status
_more = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.sampled_from(ROLES), st.sampled_from(TASKS),
                  st.sampled_from([*STATE_EVENTS, "status_update"])),
        st.tuples(st.just("resolve")),
        st.tuples(st.just("cursor"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("finish")),
    ),
    max_size=6,
)  # fmt: skip


def more_work(store: Store, ops: list[tuple[Any, ...]]) -> None:
    for number, op in enumerate(ops, start=1000):
        if op[0] == "event":
            store.append_event(rules_event(op[1], op[2], op[3], number))
        elif op[0] == "resolve":
            for conflict in store.list_conflicts(SPEC)[:1]:
                store.resolve_conflict(conflict.id, "later")
            for blocker in store.list_blockers(SPEC)[:1]:
                store.resolve_blocker(blocker.id, "later")
        elif op[0] == "cursor":
            now = store.delivery_cursor("outbox")
            assert store.move_delivery_cursor("outbox", now, (now or 0) + op[1])
        else:
            store.set_feature_status(SPEC, "completed")


def target_checksum(dsn: str, project: str) -> str:
    """The events' checksum, as documented, of what the project holds."""
    import hashlib
    import json

    digest = hashlib.sha256()
    with psycopg.connect(dsn) as conn:
        for row in conn.execute(
            "SELECT te.id, f.spec_id, a.role, te.event_type, te.task_id, te.commit_hash, "
            "te.message, te.metadata::text, co_ts(te.created_at) FROM task_events te "
            "JOIN projects p ON p.id = te.project_id AND p.name = %s "
            "JOIN features f ON f.project_id = te.project_id AND f.id = te.feature_id "
            "JOIN agents a ON a.project_id = te.project_id AND a.id = te.agent_id ORDER BY te.id",
            (project,),
        ):
            item = [*row[:7], json.loads(row[7]) if row[7] else None, row[8]]
            line = json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            digest.update(line.encode() + b"\n")
    return digest.hexdigest()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=OPS, more=_more)
def test_generated_histories_are_copied_and_resumed_exactly(
    pg_dsn: str, ops: list[tuple[Any, ...]], more: list[tuple[Any, ...]]
) -> None:
    """Random operation sequences on SQLite, copied; more work, copied again: every query
    answers the same on both stores each time, and the checksum is the documented one."""
    project = unique_project("migrate")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.db"
        sqlite, postgres = SQLiteStore(path), PostgresStore(pg_dsn, project)
        try:
            _run(sqlite, ops)
            first = copy(path, pg_dsn, project)
            assert first.copied == {t: n for t, n in first.counts.items()
                                    if t not in ("agent_activity", "task_state")}  # fmt: skip
            assert answers(postgres) == answers(sqlite)
            assert first.checksum == sqlite_checksum(path) == target_checksum(pg_dsn, project)
            copied = answers(sqlite)
            more_work(sqlite, more)
            second = copy(path, pg_dsn, project)
            for table in NUMBERED:
                assert second.copied[table] == second.counts[table] - first.counts[table]
                assert second.present[table] == first.counts[table]
            assert second.nothing_new == (answers(sqlite) == copied)  # a resolve may find none
            assert answers(postgres) == answers(sqlite)
            assert second.checksum == sqlite_checksum(path) == target_checksum(pg_dsn, project)
        finally:
            sqlite.close()
            postgres.close()


# -- kill -9 in the middle of a copy --------------------------------------------------------
def _waiting_copy(dsn: str, table: str, timeout: float = 60.0) -> int:
    """The backend pid of a COPY into ``table`` that waits for a lock."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                (f"COPY {table} %",),
            ).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.02)
    pytest.fail(f"no COPY into {table} waited for the test's lock")


def _gone(dsn: str, pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "the killed copy's backend stayed"
            time.sleep(0.02)


def test_a_copy_killed_midway_leaves_nothing_and_the_next_run_converges(
    cli: Run, initialized: Path, pg_dsn: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.db"
    sqlite, postgres = SQLiteStore(path), PostgresStore(pg_dsn, "killed")
    try:
        scenario(sqlite)
        first = copy(path, pg_dsn, "killed")
        with sqlite.transaction() as tx:  # much more to copy: the copy takes a while
            for n in range(3000):
                tx.append(NewEvent(SPEC, "implementor-data", "status_update", f"note {n}"))
        sqlite.record_test(SPEC, "implementor-api", "unit", "passed", passed=2)
        copied_before = answers(postgres)
        # the copy of test_results waits for this lock: by then the events are copied
        with psycopg.connect(pg_dsn) as holder:
            holder.execute("LOCK TABLE test_results IN SHARE MODE")
            run = subprocess.Popen(
                [str(CLI), "events", "migrate", "--db", str(path), "--to", pg_dsn,
                 "--project", "killed"],
                cwd=initialized, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            try:
                backend = _waiting_copy(pg_dsn, "test_results")
                os.kill(run.pid, signal.SIGKILL)
                run.communicate(timeout=60)
            finally:
                if run.poll() is None:
                    run.kill()
            assert run.returncode == -signal.SIGKILL
        _gone(pg_dsn, backend)  # it finds its client gone and rolls back
        assert answers(postgres) == copied_before
        again = copy(path, pg_dsn, "killed")
        assert again.copied["task_events"] == 3001 and again.copied["test_results"] == 1
        assert again.present["task_events"] == first.counts["task_events"]
        assert answers(postgres) == answers(sqlite)
    finally:
        sqlite.close()
        postgres.close()


# -- another history -----------------------------------------------------------------------
@pytest.fixture
def copied(pg_dsn: str, tmp_path: Path) -> Iterator[tuple[Path, Store, Store]]:
    """A scenario on SQLite, copied into the project ``shared``; both stores."""
    path = tmp_path / "events.db"
    sqlite, postgres = SQLiteStore(path), PostgresStore(pg_dsn, "shared")
    scenario(sqlite)
    copy(path, pg_dsn, "shared")
    yield path, sqlite, postgres
    sqlite.close()
    postgres.close()


def test_another_repositorys_project_is_refused_naming_what_differs(
    cli: Run, initialized: Path, copied: tuple[Path, Store, Store], pg_dsn: str, tmp_path: Path
) -> None:
    _, _, postgres = copied
    other = tmp_path / "other.db"
    store = SQLiteStore(other)
    scenario(store)  # the same operations at other times: another history
    store.close()
    before = answers(postgres)
    result = cli("events", "migrate", "--db", str(other), "--to", pg_dsn, "--project",
                 "shared", env=clean_env())  # fmt: skip
    one_line_error(
        result, "the project shared of postgresql://", "holds another history than",
        "feature 1 differs: its created_at is", "nothing was copied", "--project",
    )  # fmt: skip
    assert answers(postgres) == before


def test_a_project_written_to_after_the_copy_is_refused(
    copied: tuple[Path, Store, Store], pg_dsn: str
) -> None:
    path, sqlite, postgres = copied
    postgres.append_event(NewEvent(SPEC, "overseer", "status_update", "on the server"))
    before = answers(postgres)
    with pytest.raises(StoreError, match=r"it has event 25, which the source lacks"):
        copy(path, pg_dsn, "shared")
    sqlite.append_event(NewEvent(SPEC, "overseer", "status_update", "on the laptop"))
    with pytest.raises(StoreError, match=r"event 25 differs: its message is 'on the server'"):
        copy(path, pg_dsn, "shared")
    assert answers(postgres) == before


def test_a_copy_the_server_changed_does_not_verify_and_is_rolled_back(
    pg_dsn: str, tmp_path: Path
) -> None:
    """A server that changes what it is given (a trigger of the test's rewrites one
    message on insert): the checksums differ, and nothing of the copy stays."""
    PostgresStore(pg_dsn, "elsewhere").initialize()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.message = 'custom' THEN NEW.message := 'tampered'; END IF; RETURN NEW; "
            "END $$; CREATE TRIGGER tamper BEFORE INSERT ON task_events FOR EACH ROW "
            "EXECUTE FUNCTION tamper()"
        )
    path = tmp_path / "events.db"
    sqlite = SQLiteStore(path)
    scenario(sqlite)
    sqlite.close()
    with pytest.raises(StoreError) as refused:
        copy(path, pg_dsn, "tampered")
    assert "did not verify: the events' checksum is" in str(refused.value)
    assert str(refused.value).endswith("it was rolled back, nothing was written")
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT name FROM projects").fetchall() == [("elsewhere",)]
        assert conn.execute("SELECT COUNT(*) FROM task_events").fetchone() == (0,)


# -- what a store may hold ---------------------------------------------------------------
def test_ids_with_gaps_and_the_original_tools_timestamps_are_kept(
    pg_dsn: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.db"
    sqlite = SQLiteStore(path)
    scenario(sqlite)
    sqlite.close()
    db = sqlite3.connect(path)  # a row deleted by hand, a time as the shell tool wrote it
    db.execute("DELETE FROM test_results WHERE id = 1")
    db.execute("UPDATE test_results SET created_at = '2024-01-02 03:04:05' WHERE id = 2")
    db.commit()
    db.close()
    said: list[str] = []
    migrate(path, pg_dsn, project="gaps", progress=said.append)
    assert "task_events: 24 copied" in said and "test_results: 1 copied" in said
    postgres = PostgresStore(pg_dsn, "gaps")
    try:
        (kept,) = postgres.list_test_results()
        assert (kept.id, kept.created_at) == (2, "2024-01-02T03:04:05.000Z")
        assert copy(path, pg_dsn, "gaps").nothing_new
        new, _ = postgres.record_test(SPEC, "overseer", "e2e", "passed")
        assert new.id == 3  # after the largest, as SQLite would number it
    finally:
        postgres.close()
