"""The live change feed (claude_orchestrator.feed): the FeedContract on SQLite (a second
connection writes), on the memory example store, and on a memory store that pushes its
commits (a StoreFeed, as the postgres store's LISTEN/NOTIFY is); SQLite subscribers see
what other processes commit; polling backs off; Orchestrator.subscribe; bad arguments."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator.config import write_template
from claude_orchestrator.errors import NotInitializedError, ValidationError
from claude_orchestrator.feed import newest_id, subscribe
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.models import Event, NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLitePort, SQLiteStore
from claude_orchestrator.protocols_store import EventStore, StoreFeed
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC, FeedContract

from .test_store_memory import load_memory_plugin, memory_port

MemoryStore = load_memory_plugin().MemoryStore


class TestSQLiteFeed(FeedContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SQLitePort]:
        port = SQLitePort(tmp_path / "events.db")
        port.initialize()
        yield port
        port.close()

    @pytest.fixture
    def other_store(self, tmp_path: Path, store: SQLitePort) -> Iterator[SQLitePort]:
        """Another connection to the same file: what the subscriber sees is committed."""
        port = SQLitePort(tmp_path / "events.db")
        yield port
        port.close()


class TestMemoryFeed(FeedContract):
    @pytest.fixture
    def store(self) -> Any:
        port = memory_port()
        port.initialize()
        return port


# --------------------------------------------------------------- a store that pushes
class PushingMemoryStore(MemoryStore):  # type: ignore[misc, valid-type]
    """The memory example store, telling subscribers of each commit (a StoreFeed)."""

    def __init__(self) -> None:
        super().__init__("memory:pushing")
        self.commits = threading.Condition()
        self.subscribed: list[tuple[int, int]] = []
        self.subscriptions: list[Pushed] = []

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with super().transaction() as tx:
            yield tx
        with self.commits:
            self.commits.notify_all()

    def subscribe(self, after_id: int = 0, limit: int = 1000) -> Pushed:
        self.subscribed.append((after_id, limit))
        self.subscriptions.append(Pushed(self, after_id, limit))
        return self.subscriptions[-1]


class Pushed:
    """A subscription woken by the store's commits, not by polling."""

    def __init__(self, store: PushingMemoryStore, after_id: int, limit: int) -> None:
        self.store, self.cursor, self.limit = store, after_id, limit
        self.closed = 0
        self.waiting = False
        #: a connection closed under a running wait would break it: never done
        self.closed_while_waiting = False

    def wait(self, timeout: float) -> list[Event]:
        found: list[Event] = []

        def ready() -> bool:
            found[:] = self.store.events_since(self.cursor, self.limit)
            return bool(found)

        self.waiting = True
        try:
            with self.store.commits:
                self.store.commits.wait_for(ready, timeout)
        finally:
            self.waiting = False
        if found:
            self.cursor = found[-1].id
        return found

    def close(self) -> None:
        self.closed += 1
        self.closed_while_waiting |= self.waiting


class TestPushingFeed(FeedContract):
    @pytest.fixture
    def store(self) -> PushingMemoryStore:
        port = PushingMemoryStore()
        port.initialize()
        return port


def test_a_store_that_pushes_is_subscribed_to_not_polled() -> None:
    port = PushingMemoryStore()
    port.initialize()
    assert isinstance(port, StoreFeed) and isinstance(port, EventStore)
    assert not isinstance(memory_port(), StoreFeed)
    feed = subscribe(Store(port), 5, limit=3)  # the library's Store over the port
    assert port.subscribed == [(5, 3)]
    feed.close()
    feed.close()
    assert port.subscriptions[0].closed == 1  # released once, however often it is closed


def test_a_store_s_subscription_is_released_after_its_wait_ends() -> None:
    """Closed from another thread while waiting: released by the waiting thread, once
    the store's wait is over (not under it)."""
    port = PushingMemoryStore()
    port.initialize()
    feed = subscribe(port, 0)
    waiter = threading.Thread(target=feed.wait, args=(60,))
    waiter.start()
    time.sleep(0.2)
    feed.close()
    waiter.join(30)
    assert not waiter.is_alive()
    inner = port.subscriptions[0]
    assert (inner.closed, inner.closed_while_waiting) == (1, False)


# -------------------------------------------------------------- other processes write
WRITER = """
import sys
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
store = SQLiteStore(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.append_event(NewEvent(sys.argv[4], "implementor-data", "status_update",
                                f"{sys.argv[2]} {i}"))
store.close()
"""


def test_sqlite_subscriber_sees_other_processes_commits_once_in_order(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    store = SQLiteStore(db)
    store.initialize()
    store.add_feature(SPEC, "Feed", AGENTS[0][1], AGENTS)
    start = newest_id(store)
    with subscribe(store, start, limit=16, poll_interval=0.05) as feed:
        first = store.append_event(NewEvent(SPEC, "overseer", "status_update", "before wait"))
        writers = [
            subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"p{n}", "40", SPEC])
            for n in range(3)
        ]
        seen: list[Event] = []
        deadline = time.monotonic() + 120
        while len(seen) < 121 and time.monotonic() < deadline:
            seen += feed.wait(1.0)
        assert all(w.wait(60) == 0 for w in writers)
        seen += feed.wait(0)
    assert seen[0] == first
    assert seen == store.events_since(start, 1000)
    assert len(seen) == 121 == len({e.id for e in seen})
    for n in range(3):
        assert [e.message for e in seen if e.message.startswith(f"p{n} ")] == [
            f"p{n} {i}" for i in range(40)
        ]
    store.close()


class CountingPort(SQLitePort):
    """A SQLite port that counts the feed's polls."""

    polls = 0

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        self.polls += 1
        return super().events_since(after_id, limit)


def test_polling_backs_off_to_its_interval(tmp_path: Path) -> None:
    """Pauses of 0.01 s doubling to the 0.2 s cap: at most ~10 polls in a quiet second
    (a fixed 0.01 s pause would make ~100), and at least the first few."""
    port = CountingPort(tmp_path / "events.db")
    port.initialize()
    with subscribe(Store(port), 0, poll_interval=0.2) as feed:  # the library's Store
        assert feed.wait(1.0) == []
    assert 3 <= port.polls <= 12, port.polls
    port.polls = 0
    with subscribe(port, 0, poll_interval=0.01) as feed:  # a lower cap polls more
        assert feed.wait(0.5) == []
    assert port.polls > 12, port.polls
    port.close()


# ----------------------------------------------------------------------- the library
def test_orchestrator_subscribe_follows_the_library_s_writes(
    orch: Orchestrator, repo: Path
) -> None:
    with pytest.raises(NotInitializedError, match="events init"):
        orch.subscribe()
    orch.init()
    orch.add_feature(SPEC, "Feed")
    with orch.subscribe() as everything, orch.subscribe(None) as from_now:
        event = orch.log_event(SPEC, "overseer", "status_update", "hello")
        assert [e.event_type for e in everything.wait(5)] == ["feature_created", "status_update"]
        assert from_now.wait(5) == [event]
    with pytest.raises(ValidationError, match="limit"):
        orch.subscribe(limit=0)


def test_orchestrator_subscribe_goes_through_the_configured_store(repo: Path) -> None:
    """The memory store, chosen in orchestrator.yaml: the feed polls that port."""
    registry = PluginRegistry(entrypoints=False)
    registry.register(load_memory_plugin(), name="memory", version="1.0.0")
    config = repo / "orchestrator.yaml"
    write_template(config, ["data"])
    config.write_text(config.read_text().replace("store: sqlite", "store: memory"))
    with Orchestrator(repo, registry=registry, env={}) as orch:
        orch.init_store()
        orch.add_feature(SPEC, "Feed")
        with orch.subscribe(0) as feed:
            assert [e.spec_id for e in feed.wait(0)] == [SPEC]
            event = orch.log_event(SPEC, "implementor-data", "task_started", "go", "T001")
            assert feed.wait(5) == [event]
        assert orch.store.port.location.startswith("memory:")
    assert not (repo / ".git" / "orchestrator" / "events.db").exists()


# ----------------------------------------------------------------- bad arguments
_bad_after = st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63), st.booleans())
_bad_timeout = st.one_of(
    st.floats(max_value=-1e-9),
    st.floats(min_value=86_400.001),
    st.just(float("nan")),
    st.integers(max_value=-1),
)


@settings(max_examples=40)
@given(after=_bad_after)
def test_any_bad_cursor_is_refused_before_the_store_is_read(after: Any) -> None:
    fresh = memory_port()  # never initialized: reading it would raise NotInitializedError
    with pytest.raises(ValidationError, match="start after") as refused:
        subscribe(fresh, after)
    assert "\n" not in str(refused.value)


@settings(max_examples=40)
@given(timeout=_bad_timeout)
def test_any_bad_timeout_is_refused(timeout: Any) -> None:
    port = memory_port()
    port.initialize()
    with subscribe(port, 0) as feed:
        with pytest.raises(ValidationError, match="timeout") as refused:
            feed.wait(timeout)
        assert "\n" not in str(refused.value)
