"""The notification queue in the sqlite store: version 6 adds it to a version-5 store
(keeping every record), a sender's question is answered from its index, and senders in
separate processes lease each message exactly once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from claude_orchestrator.models import Notification
from claude_orchestrator.plugins.sqlite_port import SQLitePort, SQLiteStore
from claude_orchestrator.plugins.sqlite_rows import NOTIFICATION_COLS
from claude_orchestrator.plugins.sqlite_schema import SCHEMA_VERSION
from claude_orchestrator.testing import AGENTS, SPEC
from claude_orchestrator.testing_port_queue import STATES, notification


def test_a_version_5_store_gets_the_queue(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = SQLiteStore(db)
    store.initialize()
    store.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    assert store.move_delivery_cursor("webhook", None, 1)
    store.close()
    conn = sqlite3.connect(db)  # the store as version 5 left it
    for table in ("notifications", "notify_state", "usage", "transcript_cursors"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    port = SQLitePort(db)
    info = port.initialize()
    assert (info.migrated_from, info.schema_version) == (5, SCHEMA_VERSION)
    assert port.delivery_cursor("webhook") == 1 and len(port.list_agents(SPEC)) == len(AGENTS)
    with port.transaction() as tx:
        queued = tx.insert_notification(notification("k1"))
        tx.put_notify_state("subject", "agent:x", "1")
    with port.transaction() as tx:
        assert tx.notifications(states=STATES) == [queued]
        assert tx.notify_state("subject", "agent:x") == "1"
    port.close()


def test_a_senders_question_is_answered_from_the_index(tmp_path: Path) -> None:
    """The channel's queued messages due by now, oldest due first: a search of
    ``idx_notifications_due``, no scan of the table and no sort."""
    port = SQLitePort(tmp_path / "events.db")
    port.initialize()
    port.close()
    conn = sqlite3.connect(tmp_path / "events.db")
    due = (f"SELECT {NOTIFICATION_COLS} FROM notifications WHERE state IN (?) AND channel = ? "
           "AND due_at <= ? ORDER BY due_at, id LIMIT ?")  # fmt: skip
    plan = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {due}",
                                                  ("queued", "slack", 10.0, 50)))  # fmt: skip
    assert "USING INDEX idx_notifications_due (state=? AND channel=? AND due_at<?)" in plan
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    subject = f"SELECT {NOTIFICATION_COLS} FROM notifications WHERE state IN (?) AND subject = ?"
    plan = " | ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {subject}", ("q", "s")))
    assert "USING INDEX idx_notifications_subject" in plan, plan
    conn.close()


#: a sender: argv[1] says where the store is, then its name, the ids and a start time
SENDER = """
import json, sys, time
{imports}
me, ids, start = sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4])
port = {port}
took = []
time.sleep(max(start - time.time(), 0))
for n_id in ids:
    with port.transaction() as tx:
        seen = tx.notification(n_id)
        mine = seen.lease_owner is None
        if mine:
            tx.update_notification(seen._replace(lease_owner=me, lease_until=time.time() + 60))
    if mine:
        took.append(n_id)
port.close()
print(json.dumps(took))
"""


def lease_race(
    queued: list[Notification], sender: list[str], senders: int = 6
) -> dict[str, list[int]]:
    """Run ``senders`` processes (``sender`` + its name, the ids and a start time) that
    each try to lease every notification; what each says it took."""
    ids, start = json.dumps([n.id for n in queued]), time.time() + 1.5
    procs = {
        f"host:{i}:0": subprocess.Popen([*sender, f"host:{i}:0", ids, str(start)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(senders)
    }  # fmt: skip
    outputs = {me: proc.communicate(timeout=300) for me, proc in procs.items()}
    assert [p.returncode for p in procs.values()] == [0] * senders, outputs
    return {me: json.loads(out) for me, (out, _) in outputs.items()}


def took_ids(took: dict[str, list[int]]) -> list[int]:
    """Every id the senders took, in order (each once when each was leased once)."""
    return sorted(i for ids in took.values() for i in ids)


def test_senders_in_processes_lease_each_message_once(tmp_path: Path) -> None:
    port = SQLitePort(tmp_path / "events.db")
    port.initialize()
    with port.transaction() as tx:
        queued = [tx.insert_notification(notification(f"k{i}")) for i in range(20)]
    stored = [n for n in queued if n is not None]
    sender = SENDER.format(imports="from claude_orchestrator.plugins.sqlite_port import "
                           "SQLitePort", port="SQLitePort(sys.argv[1])")  # fmt: skip
    took = lease_race(stored, [sys.executable, "-c", sender, str(tmp_path / "events.db")])
    assert took_ids(took) == [n.id for n in stored]
    with port.transaction() as tx:
        owners = {i: getattr(tx.notification(i), "lease_owner", None) for i in took_ids(took)}
    assert owners == {i: me for me, ids in took.items() for i in ids}
    port.close()
