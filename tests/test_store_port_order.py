"""Details the port must not change: the order a rewrite carries unlogged actions in (it
decides what a later retraction logs again), and the commit a merge copies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from claude_orchestrator.models import NewEvent, SyncCommit
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.store_service import Store

from .test_store_memory import memory_store

SPEC = "001-x"
DATA = "feature/001-x/impl-data"
AGENTS = [("overseer", "feature/001-x/overseer"), ("implementor-data", DATA)]


def _sync(store: Store, commit: str, patch: str, actions: list[tuple[str, str]],
          rewrites: tuple[str, ...] = ()) -> list[tuple[str, str | None]]:  # fmt: skip
    said = [(task, action, None) for task, action in actions]
    sync = SyncCommit(commit * 40, patch, "x", said, rewrites, "amend" if rewrites else "")
    events = store.record_sync(SPEC, "implementor-data", DATA, commit * 40, [sync])
    return [(e.event_type, e.task_id) for e in events]


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_retraction_logs_again_what_carried_changes_say_in_key_order(
    kind: str, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "events.db") if kind == "sqlite" else memory_store()
    store.initialize()
    store.add_feature(SPEC, "X", AGENTS[0][1], AGENTS)
    assert _sync(store, "a", "p1", [("T002", "completed")]) == [("task_completed", "T002")]
    # said again, after the completion: nothing logged, both remembered for p2
    assert _sync(store, "b", "p2", [("T002", "started"), ("T002", "completed")]) == []
    # p2 amended: both carried over to p3 (by key: completed, then started)
    assert _sync(store, "c", "p3", [("T002", "started"), ("T002", "completed")], ("p2",)) == []
    # p1 no longer says T002: its completion is retracted, and what p3 still says is
    # logged again -- the completion first, so the later start changes nothing
    assert _sync(store, "d", "p4", [], ("p1",)) == [
        ("task_reopened", "T002"), ("task_completed", "T002"),
    ]  # fmt: skip
    assert [(t.task_id, t.status) for t in store.task_states(SPEC)] == [("T002", "completed")]
    store.close()


def test_a_merge_copies_the_completing_commit_as_stored(tmp_path: Path) -> None:
    """A row of the original tool may hold '' for no commit; task_merged copies it."""
    store = SQLiteStore(tmp_path / "events.db")
    store.initialize()
    store.add_feature(SPEC, "X", AGENTS[0][1], AGENTS)
    store.append_event(NewEvent(SPEC, "implementor-data", "task_completed", "done", "T001", ""))
    pr, _ = store.record_pull_request(SPEC, "implementor-data", "PR", AGENTS[0][1], DATA)
    _, events = store.merge_pull_request(pr.id)
    assert [(e.event_type, e.commit_hash) for e in events] == [
        ("pr_merged", None), ("task_merged", ""),
    ]  # fmt: skip
    store.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    rows = conn.execute("SELECT event_type, commit_hash FROM task_events WHERE task_id = 'T001'")
    assert rows.fetchall() == [("task_completed", ""), ("task_merged", "")]
    conn.close()
