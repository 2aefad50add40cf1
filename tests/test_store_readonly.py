"""A store its reader may not write (another user, a read-only mount): reads work, writes
fail with one clear line that names the fix (issue 9, items 16 and 24). ``read_only``
uses the immutable attribute when the tests run as root, whom file modes do not stop."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from claude_orchestrator.plugins.sqlite_port import SQLiteStore

from .conftest import Run, digest, read_only

SPEC = "003-reading-goals"


def checkpointed_copy(store_db: Path, directory: Path) -> Path:
    """A copy of a store in ``directory`` with everything in the file (no -wal, no -shm)."""
    directory.mkdir()
    db = directory / "events.db"
    shutil.copy(store_db, db)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    return db


@pytest.fixture
def cli(cli_process: Run) -> Run:
    """Each reader a process of its own, as beside the tests' writer connections."""
    return cli_process


@pytest.fixture
def ro_copy(initialized: Path, store_db: Path, tmp_path: Path, cli: Run) -> Path:
    """A copy of a store with one logged event."""
    assert cli("events", "log-event", SPEC, "overseer", "task_completed", "done", "T001").code == 0
    return checkpointed_copy(store_db, tmp_path / "ro")


def reads(cli: Run, db: Path) -> None:
    status = cli("events", "status", SPEC, "--db", str(db), "--json")
    assert status.code == 0, status
    assert {r["role"] for r in status.json()} >= {"overseer", "implementor-data"}
    recent = cli("events", "recent", "5", "--db", str(db), "--json")
    assert recent.code == 0, recent
    assert recent.json()[0]["task_id"] == "T001"
    report = cli("events", "export", SPEC, "--db", str(db), "--format", "json")
    assert report.code == 0, report
    assert [(t["task_id"], t["status"]) for t in report.json()["tasks"]] == [("T001", "completed")]


def refuses_writes(cli: Run, db: Path) -> None:
    result = cli("events", "log-event", SPEC, "overseer", "status_update", "x", "--db", str(db))
    assert result.code == 2, result
    assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1
    assert "read-only" in result.err and "--worktrees" in result.err
    assert "writable" in result.err


@pytest.mark.parametrize("what", ["file and directory", "directory", "file"])
def test_reads_work_and_writes_are_refused(cli: Run, ro_copy: Path, what: str) -> None:
    paths = {"file and directory": [ro_copy, ro_copy.parent], "directory": [ro_copy.parent],
             "file": [ro_copy]}[what]  # fmt: skip
    before = digest(ro_copy)
    with read_only(*paths):
        reads(cli, ro_copy)
        refuses_writes(cli, ro_copy)
    assert digest(ro_copy) == before
    if what != "file":  # nothing could be created beside it, and nothing was
        assert [p.name for p in ro_copy.parent.iterdir()] == ["events.db"]


def test_reads_see_what_is_still_in_the_wal(cli: Run, ro_copy: Path) -> None:
    """A store read while its WAL holds committed rows (a writer is still open)."""
    writer = sqlite3.connect(ro_copy)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute(
        "INSERT INTO task_events (feature_id, agent_id, event_type, task_id, message) "
        "VALUES (1, 1, 'status_update', NULL, 'only in the WAL')"
    )
    writer.commit()
    wal = ro_copy.with_name(ro_copy.name + "-wal")
    shm = ro_copy.with_name(ro_copy.name + "-shm")
    assert wal.stat().st_size > 0
    try:
        with read_only(ro_copy, wal, shm, ro_copy.parent):
            recent = cli("events", "recent", "1", "--db", str(ro_copy), "--json")
            assert recent.code == 0, recent
            assert recent.json()[0]["message"] == "only in the WAL"
            refuses_writes(cli, ro_copy)
    finally:
        writer.close()


def test_library_reads_a_read_only_store(ro_copy: Path) -> None:
    with read_only(ro_copy, ro_copy.parent):
        store = SQLiteStore(ro_copy)
        try:
            assert [t.status for t in store.task_states(SPEC)] == ["completed"]
            assert store.get_feature(SPEC) is not None
        finally:
            store.close()
