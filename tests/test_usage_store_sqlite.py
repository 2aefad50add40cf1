"""Token usage in the sqlite store: the usage contract on the store and through the store
proxy, version 7 adds the tables to a version-6 store (keeping every record, and the same
schema as a new store's), a repeated key uses up no id, a feature's usage since a time is
read from an index, a large call, and ingests in separate processes writing overlapping
replies at once keep each reply once."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.errors import ValidationError
from claude_orchestrator.models import TranscriptCursor, Usage
from claude_orchestrator.plugins.sqlite_port import SQLitePort
from claude_orchestrator.plugins.sqlite_rows import USAGE_SQL
from claude_orchestrator.plugins.sqlite_schema import SCHEMA_VERSION
from claude_orchestrator.store_proxy import ProxyPort
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC
from claude_orchestrator.testing_port_queue import STATES, notification
from claude_orchestrator.testing_port_usage import UsageContract, bare, register_features, usage

from . import test_store_proxy_support as support
from .test_store_proxy_support import proxied, stop, wait_for_daemon

no_daemons_left = support.no_daemons_left


class TestSQLiteUsage(UsageContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLitePort]:
        port = SQLitePort(tmp_path / "events.db")
        port.initialize()
        yield port
        port.close()


class TestUsageThroughTheProxy(UsageContract):
    """Every call in the daemon (none falls back), behaving as it does directly."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[ProxyPort]:
        port = proxied(tmp_path)
        state = wait_for_daemon(port)
        port.initialize()
        yield port
        assert port.direct_calls == 0, "a call was done directly: the daemon failed it"
        assert port.proxied_calls > 0
        port.close()
        stop(state.pid)


def schema_of(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        conn.close()


def test_a_version_6_store_gets_the_usage_tables(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = Store(SQLitePort(db))
    store.initialize()
    store.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    with store.port.transaction() as tx:
        queued = tx.insert_notification(notification("k1"))
    store.close()
    conn = sqlite3.connect(db)  # the store as version 6 left it
    for table in ("usage", "transcript_cursors"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    conn.close()
    port = SQLitePort(db)
    info = port.initialize()
    assert (info.migrated_from, info.schema_version) == (6, SCHEMA_VERSION) == (6, 7)
    assert info.counts is not None and info.counts["usage"] == 0
    assert [a.role for a in port.list_agents(SPEC)] == [
        "overseer",
        *sorted(r for r, _ in AGENTS[1:]),
    ]
    assert [e.event_type for e in port.events_since()] == ["feature_created"]
    with port.transaction() as tx:
        assert tx.notifications(states=STATES) == [queued]
        assert tx.insert_usage([usage("m1:r1", (SPEC, "overseer"))]) == 1
        tx.put_transcript_cursor(TranscriptCursor("/t/a.jsonl", 1, 2, 3, 4, "a"))
    with port.transaction() as tx:
        assert bare(tx.usage(SPEC)) == [usage("m1:r1", (SPEC, "overseer"))]
        assert tx.transcript_cursor("/t/a.jsonl") == TranscriptCursor("/t/a.jsonl", 1, 2, 3, 4, "a")
    port.close()
    fresh = SQLitePort(tmp_path / "fresh.db")
    fresh.initialize()
    fresh.close()
    assert schema_of(db) == schema_of(tmp_path / "fresh.db")  # as a new store's, exactly


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (usage("m1:r1", ("001-usage", None)),
         "the usage record 'm1:r1' names spec_id='001-usage' and role=None: give both"),
        (usage("m1:r1", (None, "overseer")), "spec_id=None and role='overseer': give both"),
        (usage("m1:r1", output_tokens=-1, line=7),
         r"'m1:r1' \(/t/session-1.jsonl:7\) has output_tokens -1: a count is a whole number "
         r"from 0 to 2\*\*63 - 1"),
        (usage("m1:r1", cache_read_tokens=2**63), f"has cache_read_tokens {2**63}:"),
        (usage("m1:r1", cache_write_1h_tokens=-1), "has cache_write_1h_tokens -1: a count is"),
        (usage("m1:r1", cache_write_tokens=30, cache_write_1h_tokens=31, line=7),
         r"'m1:r1' \(/t/session-1.jsonl:7\) has cache_write_1h_tokens 31 above its "
         "cache_write_tokens 30: the 1-hour writes are a part of the cache writes"),
        (usage("m1:r1", line=-5), r"\(/t/session-1.jsonl:-5\) has line -5:"),
        (usage("m1\x00:r1"), r"\(/t/session-1.jsonl:1\) has a NUL character in its key, which"),
        (usage("m1:r1", model="claude\x00"), "a NUL character in its model"),
        (usage("m1:r1", at="\x00"), "a NUL character in its at"),
    ],
)  # fmt: skip
def test_a_bad_record_is_refused_in_one_line_naming_it(
    tmp_path: Path, bad: Usage, says: str
) -> None:
    port = SQLitePort(tmp_path / "events.db")
    port.initialize()
    register_features(port)
    with pytest.raises(ValidationError, match=says) as refused, port.transaction() as tx:
        tx.insert_usage([bad])
    assert "\n" not in str(refused.value)
    with pytest.raises(ValidationError, match="has a NUL character"), port.transaction() as tx:
        tx.put_transcript_cursor(TranscriptCursor("/t/a\x00.jsonl", 1, 2, 3, 4, "a"))
    with port.transaction() as tx:
        assert tx.usage() == []
    cursor = TranscriptCursor("/t/a.jsonl", 2**64, 0, -1, 0, "a")
    says = f"^the transcript cursor of /t/a.jsonl has device {2**64}: give a whole number from "
    with pytest.raises(ValidationError, match=f"{says}0 to {2**64 - 1}$"), port.transaction() as tx:
        tx.put_transcript_cursor(cursor)
    port.close()


def test_a_repeated_key_uses_up_no_id(tmp_path: Path) -> None:
    port = SQLitePort(tmp_path / "events.db")
    port.initialize()
    register_features(port)
    with port.transaction() as tx:
        assert tx.insert_usage([usage("a"), usage("a"), usage("b")]) == 2
    with port.transaction() as tx:
        assert tx.insert_usage([usage("b"), usage("a"), usage("c")]) == 1
    with port.transaction() as tx:
        assert [(u.id, u.key) for u in tx.usage()] == [(1, "a"), (2, "b"), (3, "c")]
    port.close()


def test_usage_since_a_time_is_read_from_an_index(tmp_path: Path) -> None:
    """Of a feature or of all, in ``at`` then id order: a search of an index, no scan of
    the table and no sort."""
    port = SQLitePort(tmp_path / "events.db")
    port.initialize()
    port.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    for where, index in (("u.feature_id = ? AND u.at >= ?", "idx_usage_feature_at"),
                         ("u.at >= ? AND ? IS NOT NULL", "idx_usage_at")):  # fmt: skip
        sql = f"EXPLAIN QUERY PLAN {USAGE_SQL} WHERE {where} ORDER BY u.at, u.id"
        plan = " | ".join(r[3] for r in conn.execute(sql, (1, "2026")))
        assert f"SEARCH u USING INDEX {index}" in plan, plan
        assert "SCAN u" not in plan and "TEMP B-TREE" not in plan, plan
    conn.close()


def test_ten_thousand_replies_in_one_call(tmp_path: Path) -> None:
    """A large transcript's replies, half of them stored already: counted right, every
    field kept, numbered without a gap."""
    port = SQLitePort(tmp_path / "events.db")
    port.initialize()
    register_features(port)
    replies = [
        usage(f"msg_{i:05d}:req_{i:05d}", at=f"2026-01-01T00:{i % 60:02d}:00.{i % 1000:03d}Z",
              input_tokens=i, line=i + 1)
        for i in range(10_000)
    ]  # fmt: skip
    with port.transaction() as tx:
        assert tx.insert_usage(replies[::2]) == 5_000
    with port.transaction() as tx:
        assert tx.insert_usage(replies) == 5_000
    with port.transaction() as tx:
        stored = tx.usage()
    assert sorted(u.id for u in stored) == list(range(1, 10_001))
    assert sorted(bare(stored)) == sorted(replies)
    counts = port.info().counts
    assert counts is not None and counts["usage"] == 10_000
    port.close()


#: an ingest: argv[1] says where the store is, then the keys (JSON) and a start time
INGEST = """
import json, sys, time
{imports}
from claude_orchestrator.testing_port_usage import usage
keys, start = json.loads(sys.argv[2]), float(sys.argv[3])
port = {port}
written = 0
time.sleep(max(start - time.time(), 0))
for at in range(0, len(keys), 25):
    with port.transaction() as tx:
        written += tx.insert_usage([usage(k, (None, None)) for k in keys[at : at + 25]])
port.close()
print(json.dumps(written))
"""


def ingest_race(command: list[str], keys: list[list[str]]) -> list[int]:
    """Run one process per list of keys, all starting at once, each inserting its keys
    25 at a time; how many each says it wrote."""
    start = time.time() + 1.5
    procs = [subprocess.Popen([*command, json.dumps(mine), str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for mine in keys]  # fmt: skip
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), outputs
    return [json.loads(out) for out, _ in outputs]


def overlapping_keys(processes: int = 3, each: int = 150) -> list[list[str]]:
    """Each process's keys, in an order of its own: some every process has, some only it
    has, and some it shares with the next and with the one before."""
    every = [f"all-{i}" for i in range(each)]
    keys = []
    for p in range(processes):
        mine = [*every, *(f"own-{p}-{i}" for i in range(each)),
                *(f"pair-{p}-{i}" for i in range(each)),
                *(f"pair-{(p - 1) % processes}-{i}" for i in range(each))]  # fmt: skip
        random.Random(p).shuffle(mine)
        keys.append(mine)
    return keys


def test_ingests_in_processes_keep_each_reply_once(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    port = SQLitePort(db)
    port.initialize()
    keys = overlapping_keys()
    command = [sys.executable, "-c", INGEST.format(
        imports="from claude_orchestrator.plugins.sqlite_port import SQLitePort",
        port="SQLitePort(sys.argv[1])"), str(db)]  # fmt: skip
    written = ingest_race(command, keys)
    distinct = {k for mine in keys for k in mine}
    assert sum(written) == len(distinct) and all(written)
    with port.transaction() as tx:
        stored = tx.usage()
    assert sorted(u.key for u in stored) == sorted(distinct)  # each once
    assert sorted(u.id for u in stored) == list(range(1, len(distinct) + 1))
    port.close()
