"""The notification queue in the postgres store: version 3 adds it to a version-2 store,
each project of a database has a queue of its own, senders in separate processes lease
each message exactly once, and ``events migrate`` copies a SQLite store's queue (queued,
sent and dead messages, the pipeline's values) with its ids, brings what changed up to
date when run again, and refuses a project whose queue is another."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.errors import StoreError
from claude_orchestrator.models import Notification
from claude_orchestrator.plugins.sqlite_port import SQLitePort
from claude_orchestrator.protocols_store import EventStore
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC
from claude_orchestrator.testing_port_queue import STATES, notification

from . import test_notify_store_sqlite
from .test_notify_store_sqlite import lease_race, took_ids
from .test_postgres_support import unique_project

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins import postgres_schema as schema  # noqa: E402
from claude_orchestrator.plugins.postgres_migrate import migrate  # noqa: E402
from claude_orchestrator.plugins.postgres_port import PostgresPort  # noqa: E402

ROLES = [role for role, _ in AGENTS]


class SecondRelease(PostgresPort):
    """The release that wrote schema version 2 (no queue)."""

    migrations: ClassVar[dict[int, str]] = {1: schema.MIGRATIONS[1], 2: schema.MIGRATIONS[2]}


def queue(store: EventStore, *rows: Notification) -> list[Notification]:
    with store.transaction() as tx:
        stored = [tx.insert_notification(n) for n in rows]
    assert all(n is not None for n in stored)
    return [n for n in stored if n is not None]


def everything(store: EventStore, keys: list[tuple[str, str]]) -> tuple[Any, ...]:
    """The whole queue and the pipeline's values of these (scope, key)."""
    with store.transaction() as tx:
        return (tx.notifications(states=STATES, limit=10_000),
                [tx.notify_state(scope, key) for scope, key in keys])  # fmt: skip


def test_a_version_2_store_gets_the_queue(pg_dsn: str) -> None:
    second = SecondRelease.for_dsn(pg_dsn, "v2")
    try:
        assert second.initialize().schema_version == 2
        Store(second).add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    finally:
        second.close()
    port = PostgresPort.for_dsn(pg_dsn, "v2")
    try:
        info = port.initialize()
        assert (info.migrated_from, info.schema_version) == (2, schema.SCHEMA_VERSION)
        assert [a.role for a in port.list_agents(SPEC)] == ["overseer", *sorted(ROLES[1:])]
        first, second_n = queue(port, notification("k1"), notification("k2"))
        assert (first.id, second_n.id) == (1, 2)
    finally:
        port.close()


def test_each_project_has_a_queue_of_its_own(pg_dsn: str) -> None:
    mine, theirs = PostgresPort.for_dsn(pg_dsn, "mine"), PostgresPort.for_dsn(pg_dsn, "theirs")
    try:
        for port in (mine, theirs):
            port.initialize()
        (a,) = queue(mine, notification("same-key"))
        (b, c) = queue(theirs, notification("same-key", channel="discord"), notification("k2"))
        assert (a.id, b.id, c.id) == (1, 1, 2)  # numbered per project, keys unique per project
        with mine.transaction() as tx:
            tx.put_notify_state("subject", "s", "mine")
            assert tx.delete_notifications(states=STATES, before=1e12) == 1
        with theirs.transaction() as tx:
            assert tx.notifications(states=STATES) == [b, c]
            assert tx.notify_state("subject", "s") is None
            assert tx.insert_notification(notification("same-key")) is None
        (d,) = queue(mine, notification("same-key"))
        assert d.id == 2  # after its project's largest was deleted: never given again
    finally:
        mine.close()
        theirs.close()


SENDER = test_notify_store_sqlite.SENDER.format(
    imports="from claude_orchestrator.plugins.postgres_port import PostgresPort",
    port='PostgresPort.for_dsn(sys.argv[1], "race")',
)


def test_senders_in_processes_lease_each_message_once(pg_dsn: str) -> None:
    port = PostgresPort.for_dsn(pg_dsn, "race")
    try:
        port.initialize()
        stored = queue(port, *(notification(f"k{i}") for i in range(20)))
        took = lease_race(stored, [sys.executable, "-c", SENDER, pg_dsn])
        assert took_ids(took) == [n.id for n in stored]
        with port.transaction() as tx:
            owners = {i: getattr(tx.notification(i), "lease_owner", None) for i in took_ids(took)}
        assert owners == {i: me for me, ids in took.items() for i in ids}
    finally:
        port.close()


# -- the same operations on SQLite and PostgreSQL ------------------------------------------
_small = st.sampled_from([1.0, 2.0, 3.5])
_OPS = st.lists(st.one_of(
    st.tuples(st.just("queue"), st.sampled_from("abcde"), st.sampled_from(STATES), _small),
    st.tuples(st.just("update"), st.integers(0, 9), st.sampled_from(STATES), _small),
    st.tuples(st.just("delete"), st.lists(st.sampled_from(STATES), max_size=2), _small),
    st.tuples(st.just("state"), st.sampled_from("xy"), st.none() | st.sampled_from("uv")),
), max_size=25)  # fmt: skip


def apply(store: EventStore, ops: list[tuple[Any, ...]]) -> list[Any]:
    """Run the operations, one transaction each; what each returned."""
    answers: list[Any] = []
    for op in ops:
        with store.transaction() as tx:
            if op[0] == "queue":
                n = notification(op[1], state=op[2], created_at=op[3], due_at=op[3])
                answers.append(tx.insert_notification(n))
            elif op[0] == "update":
                every = tx.notifications(states=STATES)
                if every:
                    chosen = every[op[1] % len(every)]
                    tx.update_notification(chosen._replace(state=op[2], sent_at=op[3]))
            elif op[0] == "delete":
                answers.append(tx.delete_notifications(states=op[1], before=op[2]))
            else:
                tx.put_notify_state("scope", op[1], op[2])
    return answers


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
def test_the_same_operations_give_the_same_queue(pg_dsn: str, ops: list[tuple[Any, ...]]) -> None:
    """Ids included: a key queued again uses none up on either store, and neither gives
    a deleted id again."""
    postgres = PostgresPort.for_dsn(pg_dsn, unique_project("queue"))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLitePort(Path(tmp) / "events.db")
        try:
            for port in (sqlite, postgres):
                port.initialize()
            assert apply(postgres, ops) == apply(sqlite, ops)
            keys = [("scope", "x"), ("scope", "y")]
            assert everything(postgres, keys) == everything(sqlite, keys)
        finally:
            sqlite.close()
            postgres.close()


# -- events migrate ----------------------------------------------------------------------
KEYS = [("subject", "agent:001:data"), ("retry-after", "slack"), ("subject", "none")]


def test_migrate_copies_the_queue_and_brings_it_up_to_date(pg_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    sqlite, postgres = SQLitePort(path), PostgresPort.for_dsn(pg_dsn, "copied")
    try:
        sqlite.initialize()
        gone, queued, sent, dead = queue(
            sqlite, notification("gone"),
            notification("q", subject="agent:001:data", lease_owner="h:1:2", lease_until=9.5),
            notification("s", state="sent", sent_at=1_001.25, attempts=1, last_status=200),
            notification("d", state="dead", attempts=5, last_error="HTTP 410: ünïcode ✓",
                         last_status=410, channel="discord", kind="escalation",
                         severity="critical", spec_id=None, payload='{"text": "x"}'),
        )  # fmt: skip
        with sqlite.transaction() as tx:  # ids with a gap, and the pipeline's values
            tx.update_notification(gone._replace(state="cancelled"))
            assert tx.delete_notifications(states=["cancelled"], before=2_000.0) == 1
            tx.put_notify_state("subject", "agent:001:data", "1700000000.5")
            tx.put_notify_state("retry-after", "slack", "30")
        first = migrate(path, pg_dsn, project="copied")
        assert (first.copied["notifications"], first.copied["notify_state"]) == (3, 2)
        assert first.counts["notifications"] == 3
        assert everything(postgres, KEYS) == everything(sqlite, KEYS)
        assert [n.id for n in everything(postgres, KEYS)[0]] == [queued.id, sent.id, dead.id]
        # more work on SQLite: a message sent, one queued, a value changed and one dropped
        with sqlite.transaction() as tx:
            tx.update_notification(queued._replace(state="sent", sent_at=1_002.0,
                                                   lease_owner=None, lease_until=None))  # fmt: skip
            newer = tx.insert_notification(notification("n", due_at=5.0))
            tx.put_notify_state("retry-after", "slack", "60")
        assert newer is not None
        second = migrate(path, pg_dsn, project="copied")
        assert (second.copied["notifications"], second.updated["notifications"]) == (1, 1)
        assert (second.present["notifications"], second.updated["notify_state"]) == (3, 1)
        assert everything(postgres, KEYS) == everything(sqlite, KEYS)
        assert migrate(path, pg_dsn, project="copied").nothing_new
        # the project's counter is above every copied id: the next is never one of them
        (native,) = queue(postgres, notification("pg"))
        assert native.id == newer.id + 1
    finally:
        sqlite.close()
        postgres.close()


def test_migrate_refuses_a_project_whose_queue_is_another(pg_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    sqlite, postgres = SQLitePort(path), PostgresPort.for_dsn(pg_dsn, "other")
    try:
        sqlite.initialize()
        queue(sqlite, notification("mine"))
        postgres.initialize()
        queue(postgres, notification("theirs"))
        with pytest.raises(StoreError, match="notification 1 differs: its key is 'theirs' there"):
            migrate(path, pg_dsn, project="other")
        assert [n.key for n in everything(postgres, [])[0]] == ["theirs"]  # nothing written
    finally:
        sqlite.close()
        postgres.close()
