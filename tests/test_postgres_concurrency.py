"""Writers in many processes at once on the postgres store: every event is stored once,
ids run 1..N in commit order, and read-modify-write transactions lose no update (a
project's transactions are serialised by its advisory lock)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from claude_orchestrator.testing import AGENTS, SPEC

pytest.importorskip("psycopg")

from claude_orchestrator.plugins.postgres_port import PostgresStore

WRITER = """
import json, sys, time
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.postgres_port import PostgresStore
dsn, project, number, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
store = PostgresStore(dsn, project)
time.sleep(max(start - time.time(), 0))
ids = []
for i in range(25):
    event = NewEvent("001-contract", "implementor-data", "status_update", f"w{number} {i}")
    ids.append(store.append_event(event).id)
    with store.transaction() as tx:  # read, then write what was read plus one
        tx.put_delivery_cursor("count", (tx.delivery_cursor("count") or 0) + 1)
store.close()
print(json.dumps(ids))
"""
WRITERS = 10


def test_writers_in_many_processes_lose_nothing(pg_dsn: str) -> None:
    setup = PostgresStore(pg_dsn, "writers")
    setup.initialize()
    setup.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    start = time.time() + 2
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, pg_dsn, "writers", str(n), str(start)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(WRITERS)
    ]  # fmt: skip
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * WRITERS, outputs
    returned = sorted(i for out, _ in outputs for i in json.loads(out))
    try:
        events = setup.events_since(0, 100_000)
        assert [e.id for e in events] == list(range(1, WRITERS * 25 + 2))  # + feature_created
        assert returned == [e.id for e in events[1:]]
        for number in range(WRITERS):  # each writer's events in its own order
            mine = [e.message for e in events if e.message.startswith(f"w{number} ")]
            assert mine == [f"w{number} {i}" for i in range(25)]
        assert setup.delivery_cursor("count") == WRITERS * 25
        status = {row.role: row.events for row in setup.feature_status(SPEC)}
        assert status["implementor-data"] == WRITERS * 25
    finally:
        setup.close()
