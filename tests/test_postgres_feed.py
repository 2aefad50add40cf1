"""The postgres store's live feed: ``LISTEN``/``NOTIFY`` on the project's channel wakes a
subscription, which reads the committed events by cursor (so none is missed or doubled),
on a connection of its own; a writer on another connection is what it sees."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from claude_orchestrator.errors import StoreUnavailableError
from claude_orchestrator.models import Event, NewEvent, SyncCommit
from claude_orchestrator.testing import AGENTS, SPEC

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins.postgres_port import PostgresPort, PostgresStore  # noqa: E402

#: a bound for what should come at once, on a loaded machine (not a speed target)
PATIENCE_S = 30.0


@pytest.fixture
def writer(pg_dsn: str) -> Iterator[PostgresStore]:
    """The writing side: a store object (so a connection) of its own."""
    store = PostgresStore(pg_dsn, "feed")
    store.initialize()
    store.add_feature(SPEC, "Feed", AGENTS[0][1], AGENTS)
    yield store
    store.close()


@pytest.fixture
def reader(pg_dsn: str, writer: PostgresStore) -> Iterator[PostgresPort]:
    port = PostgresPort.for_dsn(pg_dsn, "feed")
    yield port
    port.close()


def _append(store: PostgresStore, *messages: str) -> list[Event]:
    return [store.append_event(NewEvent(SPEC, "overseer", "status_update", m)) for m in messages]


def test_a_wait_is_woken_by_a_commit_on_another_connection(
    reader: PostgresPort, writer: PostgresStore
) -> None:
    feed = reader.subscribe(after_id=writer.recent_events(1)[0].id)
    try:
        assert feed.wait(0) == []
        later = threading.Timer(0.3, _append, (writer, "pushed"))
        started = time.monotonic()
        later.start()
        found = feed.wait(PATIENCE_S)
        woken = time.monotonic() - started
        later.join()
        assert [e.message for e in found] == ["pushed"]
        assert woken < PATIENCE_S  # the notification woke it, not its timeout
        assert feed.wait(0.2) == []  # nothing twice
    finally:
        feed.close()


def test_events_come_by_cursor_every_one_once_in_order(
    reader: PostgresPort, writer: PostgresStore
) -> None:
    feed = reader.subscribe(after_id=0, limit=3)
    try:
        stored = writer.events_since()  # feature_created, before the subscription
        stored += _append(writer, *(f"m{i}" for i in range(4)))
        commits = [SyncCommit(f"{i:040x}", f"p{i}", f"T00{i} done", [(f"T00{i}", "completed",
                   None)]) for i in range(1, 4)]  # fmt: skip
        stored += writer.record_sync(SPEC, "implementor-data", AGENTS[1][1], "3" * 40, commits)
        seen: list[Event] = []
        while len(seen) < len(stored):
            batch = feed.wait(PATIENCE_S)
            assert 0 < len(batch) <= 3
            seen += batch
        assert seen == stored
        assert feed.wait(0) == []
    finally:
        feed.close()


def test_another_project_does_not_wake_or_reach_it(
    pg_dsn: str, reader: PostgresPort, writer: PostgresStore
) -> None:
    other = PostgresStore(pg_dsn, "feed-other")
    other.initialize()
    feed = reader.subscribe(after_id=writer.recent_events(1)[0].id)
    try:
        other.add_feature("009-other", "Other", "o", [("overseer", "o")])
        assert feed.wait(0.5) == []
        _append(writer, "mine")
        assert [e.message for e in feed.wait(PATIENCE_S)] == ["mine"]
    finally:
        feed.close()
        other.close()


def test_a_lost_connection_is_said_and_the_next_wait_catches_up(
    pg_dsn: str, reader: PostgresPort, writer: PostgresStore
) -> None:
    feed = reader.subscribe(after_id=writer.recent_events(1)[0].id)
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%%'"
            )
        with pytest.raises(StoreUnavailableError, match="lost the connection"):
            feed.wait(PATIENCE_S)
        _append(writer, "meanwhile")
        assert [e.message for e in feed.wait(PATIENCE_S)] == ["meanwhile"]
        later = threading.Timer(0.3, _append, (writer, "listening again"))
        later.start()
        assert [e.message for e in feed.wait(PATIENCE_S)] == ["listening again"]
        later.join()
    finally:
        feed.close()


def test_close_is_idempotent_and_releases_the_connection(
    pg_dsn: str, reader: PostgresPort, writer: PostgresStore
) -> None:
    def listening() -> int:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'LISTEN%%'"
            ).fetchone()
            return int(row[0])

    feed = reader.subscribe()
    assert listening() == 1
    feed.close()
    feed.close()
    assert feed.wait(0) == []
    deadline = time.monotonic() + PATIENCE_S
    while listening() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listening() == 0
