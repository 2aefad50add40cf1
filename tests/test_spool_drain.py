"""The drain itself, on a real SQLite store: any interleaving of spooling, busy stores,
drains out of time and drains that cannot run syncs ends with every event stored once
and in order and every spooled sync run after it was spooled; a write the store failed
that committed anyway is not stored twice; one drainer at a time."""

from __future__ import annotations

import contextlib
import select
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator import spool_drain
from claude_orchestrator.errors import StoreUnavailableError
from claude_orchestrator.models import Event, NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.spool import event_record, for_store, summary, sync_record
from claude_orchestrator.spool_drain import drain, drain_then

SPEC = "003-reading-goals"
ROLE = "implementor-data"
BRANCH = f"feature/{SPEC}/impl-data"


@contextlib.contextmanager
def new_store() -> Iterator[tuple[Path, Path]]:
    """(store file, state dir) of a new store with the feature, in a directory of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "orchestrator"
        db = state_dir / "events.db"
        store = SQLiteStore(db)
        store.initialize()
        overseer = f"feature/{SPEC}/overseer"
        store.add_feature(SPEC, "Reading goals", overseer,
                          [("overseer", overseer), (ROLE, BRANCH)])  # fmt: skip
        store.close()
        yield db, state_dir


def event(n: int, db: Path) -> dict[str, Any]:
    return event_record(NewEvent(SPEC, ROLE, "status_update", f"e{n}"), str(db))


def stored(db: Path, prefix: str) -> list[tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT message, json_extract(metadata, '$.record_id') FROM "
                            "task_events WHERE message LIKE ? ORDER BY id",
                            (prefix + "%",)).fetchall()  # fmt: skip
    return [(str(m), r) for m, r in rows]


#: one step: spool events, spool a sync, or drain (free, store busy, out of time at once,
#: or without a runner for syncs, as the guard drains)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("events"), st.integers(1, 3)),
        st.tuples(st.just("sync"), st.just(0)),
        st.tuples(st.just("drain"), st.sampled_from(["free", "busy", "budget", "guard"])),
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None)
@given(steps)
def test_any_interleaving_stores_every_event_once_in_order_and_runs_every_sync(
    plan: list[tuple[str, Any]],
) -> None:
    with new_store() as (db, state_dir):
        spool = for_store(state_dir, str(db))
        store = SQLiteStore(db, busy_timeout=0.001)
        holder = sqlite3.connect(db, isolation_level=None)
        clock = [0]
        events: list[str] = []
        syncs: list[int] = []  # the clock when each sync was spooled
        ran: list[int] = []  # the clock when a sync ran

        def runner(record: Mapping[str, Any]) -> object:
            clock[0] += 1
            store.append_event(NewEvent(SPEC, ROLE, "status_update", f"sync {clock[0]}"))
            ran.append(clock[0])
            return None

        try:
            for action, count in plan:
                clock[0] += 1
                if action == "events":
                    for _ in range(count):
                        record = event(len(events), db)
                        assert spool.append(record)
                        events.append(record["id"])
                elif action == "sync":
                    assert spool.append(sync_record(str(db), db.parent, BRANCH))
                    syncs.append(clock[0])
                elif count == "busy":
                    holder.execute("BEGIN IMMEDIATE")
                    report = drain(store, state_dir, runner=runner)
                    holder.execute("ROLLBACK")
                    assert report.stored == 0
                else:
                    budget = 0.0 if count == "budget" else None
                    drain(store, state_dir, budget_s=budget,
                          runner=None if count == "guard" else runner)  # fmt: skip
                assert len(set(r for _, r in stored(db, "e"))) == len(stored(db, "e"))
            final = drain(store, state_dir, runner=runner)
        finally:
            holder.close()
            store.close()
        assert (final.left, final.stopped, final.rejected) == (0, None, [])
        assert [r for _, r in stored(db, "e")] == events  # each once, in the spooled order
        for spooled_at in syncs:
            assert any(at > spooled_at for at in ran), (spooled_at, ran)
        assert summary(state_dir).waiting == 0


def test_a_sync_spooled_while_the_drain_runs_one_is_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Syncs of one branch spooled together run once (a sync reads the whole branch);
    one spooled after that run began needs a run of its own."""
    with new_store() as (db, state_dir):
        spool = for_store(state_dir, str(db))
        first, second = (sync_record(str(db), db.parent, BRANCH) for _ in range(2))
        for record in (event(0, db), first, second):
            spool.append(record)
        store = SQLiteStore(db)
        assert drain(store, state_dir, budget_s=0).stopped == "budget"  # e0 only: a claim
        log: list[str] = []

        def runner(record: Mapping[str, Any]) -> object:
            log.append(f"ran {record['id']}")
            return None

        def checkpoint(point: str) -> None:
            if point == "marked" and log == [f"ran {first['id']}"]:
                late = sync_record(str(db), db.parent, BRANCH)
                assert spool.append(late)  # a commit's hook, while the sync runs
                log.append(f"spooled {late['id']}")

        monkeypatch.setattr(spool_drain, "_checkpoint", checkpoint)
        report = drain(store, state_dir, runner=runner)
        store.close()
        assert (report.stopped, report.left) == (None, 0)
        late_id = log[1].split()[1]
        assert log == [f"ran {first['id']}", f"spooled {late_id}", f"ran {late_id}"]


def test_a_kind_this_release_does_not_know_waits_and_a_torn_line_is_rejected() -> None:
    with new_store() as (db, state_dir):
        spool = for_store(state_dir, str(db))
        newer = {**event(0, db), "kind": "from-a-newer-release"}
        for record in (newer, event(1, db)):
            spool.append(record)
        with spool.path.open("a") as file:
            file.write('{"torn": \n')
        store = SQLiteStore(db)
        report = drain(store, state_dir)
        again = drain(store, state_dir)
        store.close()
        assert (report.stored, report.left, len(report.rejected)) == (1, 1, 1)
        assert (again.stored, again.left, again.rejected) == (0, 1, [])
        assert summary(state_dir).kinds == {"from-a-newer-release": 1}
        assert [m for m, _ in stored(db, "e")] == ["e1"]


class CommitsThenFails(SQLiteStore):
    """A store whose connection is lost as it commits: the event is in, the caller gets
    StoreUnavailableError (a server store can do this; the drain cannot tell)."""

    def __init__(self, path: Path, lose: set[str]) -> None:
        super().__init__(path)
        self.lose = lose

    def append_event(self, event: NewEvent) -> Event:
        stored = super().append_event(event)
        if (event.metadata or {}).get("record_id") in self.lose:
            raise StoreUnavailableError("the connection was lost at commit")
        return stored


def test_a_write_that_failed_but_committed_is_not_stored_again() -> None:
    with new_store() as (db, state_dir):
        spool = for_store(state_dir, str(db))
        records = [event(n, db) for n in range(3)]
        for record in records:
            spool.append(record)
        failing = CommitsThenFails(db, {records[1]["id"]})
        first = drain(failing, state_dir)
        failing.close()
        assert (first.stored, first.left, first.stopped) == (1, 2, "unavailable")
        store = SQLiteStore(db)
        again = drain(store, state_dir)
        store.close()
        assert (again.stored, again.left) == (1, 0)  # the one in doubt was found stored
        assert [r for _, r in stored(db, "e")] == [r["id"] for r in records]


PAUSED = """
import sys, time
from pathlib import Path
from claude_orchestrator import spool_drain
from claude_orchestrator.plugins.sqlite_port import SQLiteStore

def pause(point):
    if point == "marked":
        print("paused", flush=True)
        sys.stdin.read()

spool_drain._checkpoint = pause
print(spool_drain.drain(SQLiteStore(sys.argv[1]), Path(sys.argv[2])), flush=True)
"""


def test_one_drainer_at_a_time_and_a_writer_queues_behind_it() -> None:
    """While a drain is under way, another writer does not overtake the records it is
    storing: it is told to spool its own behind them."""
    with new_store() as (db, state_dir):
        spool = for_store(state_dir, str(db))
        records = [event(n, db) for n in range(3)]
        for record in records:
            spool.append(record)
        args = [sys.executable, "-c", PAUSED, str(db), str(state_dir)]
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready and proc.stdout.readline().strip() == "paused"
            store = SQLiteStore(db)
            written: list[str] = []
            report, result = drain_then(store, state_dir, lambda r: written.append("own"))
            store.close()
            assert (report.stopped, result, written) == ("busy", None, [])
            assert spool.append(event(3, db))  # what the writer does: spool it behind
        finally:
            proc.stdin.close()
            assert proc.wait(timeout=60) == 0
            proc.stdout.close()
        store = SQLiteStore(db)
        report, result = drain_then(store, state_dir, lambda r: "own")
        store.close()
        assert result == "own" and report.stopped is None
        assert [m for m, _ in stored(db, "e")] == ["e0", "e1", "e2", "e3"]
