"""The change feed's contract (imports pytest; re-exported by
:mod:`claude_orchestrator.testing`).

Subclass :class:`FeedContract`, provide a ``store`` fixture (an *initialized* port, as
for :class:`~claude_orchestrator.testing_store.StoreContract`) and, for a store that
other processes reach over connections of their own, an ``other_store`` fixture: a
second port on the same store, through which the tests commit what the subscription
must see. The subscription is :func:`claude_orchestrator.feed.subscribe`'s: the store's
own when it is a :class:`~claude_orchestrator.protocols_store.StoreFeed` (``LISTEN`` /
``NOTIFY``), polling by cursor otherwise. The interleaving test uses Hypothesis and is
skipped where it is not installed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import pytest

from .errors import ValidationError
from .feed import Subscription, newest_id, subscribe
from .models import Event, NewEvent
from .protocols_store import EventStore
from .store_service import Store
from .testing_port import AGENTS, SPEC

__all__ = ["FeedContract"]

T = TypeVar("T")

#: the longest a test waits for something that should come at once (a generous bound
#: for a loaded machine, not a speed target)
PATIENCE_S = 30.0
#: more batches than any test stores events
DRAIN_BATCHES = 1000


class FeedContract:
    """What a store's change feed promises (see :mod:`claude_orchestrator.feed`).

    Provide ``store`` (an initialized port); override ``other_store`` (default: ``store``
    itself) with a second port on the same store where writers use connections of their
    own.
    """

    @pytest.fixture
    def store(self) -> Any:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `store` fixture")

    @pytest.fixture
    def other_store(self, store: EventStore) -> EventStore:
        """Where the tests' writers commit: by default the subscriber's own port."""
        return store

    @pytest.fixture
    def writer(self, other_store: EventStore) -> Store:
        """The operations over ``other_store``, with the contract's feature in it."""
        service = Store(other_store)
        if service.get_feature(SPEC) is None:
            service.add_feature(SPEC, "Feed contract", AGENTS[0][1], AGENTS)
        return service

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def append(writer: Store, count: int, tag: str = "e") -> list[Event]:
        """Commit ``count`` events, one transaction each; the events as stored."""
        return [
            writer.append_event(NewEvent(SPEC, "implementor-data", "status_update", f"{tag} {i}"))
            for i in range(count)
        ]

    @staticmethod
    def drain(feed: Subscription) -> list[Event]:
        """What the subscription has now, every batch of it (a wait of 0 each)."""
        seen: list[Event] = []
        for _ in range(DRAIN_BATCHES):
            batch = feed.wait(0)
            if not batch:
                return seen
            seen += batch
        pytest.fail(f"still events after {DRAIN_BATCHES} batches: is the cursor moving?")

    @staticmethod
    def in_thread(work: Callable[[], T]) -> Callable[[], T]:
        """Start ``work`` in a thread; call what is returned for its result (it waits up
        to :data:`PATIENCE_S` for the thread, and raises what ``work`` raised)."""
        result: list[T] = []
        failed: list[BaseException] = []

        def run() -> None:
            try:
                result.append(work())
            except BaseException as exc:
                failed.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        def joined() -> T:
            thread.join(PATIENCE_S)
            assert not thread.is_alive(), f"no answer in {PATIENCE_S:g} s"
            if failed:
                raise failed[0]
            return result[0]

        return joined

    # -- what is stored, and what comes ----------------------------------------------
    def test_feed_gives_stored_events_oldest_first_in_batches(
        self, store: EventStore, writer: Store
    ) -> None:
        self.append(writer, 7)
        stored = store.events_since(0, 100)
        with subscribe(store, 0, limit=3) as feed:
            batches = [feed.wait(0) for _ in range(4)]
            assert feed.last_id == stored[-1].id
        assert [len(b) for b in batches] == [3, 3, 2, 0]
        assert [e for b in batches for e in b] == stored

    def test_feed_starts_after_the_cursor_given(self, store: EventStore, writer: Store) -> None:
        appended = self.append(writer, 5)
        with subscribe(store, appended[1].id) as feed:
            assert feed.last_id == appended[1].id
            assert [e.id for e in self.drain(feed)] == [e.id for e in appended[2:]]
        with subscribe(store, appended[-1].id) as feed:
            assert feed.wait(0) == []

    def test_feed_from_now_skips_what_is_stored(self, store: EventStore, writer: Store) -> None:
        self.append(writer, 3)
        with subscribe(store, None) as feed:
            assert feed.last_id == newest_id(store) > 0
            assert feed.wait(0) == []
            later = self.append(writer, 2, "later")
            assert [e.id for e in self.drain_until(feed, 2)] == [e.id for e in later]

    def test_feed_sees_events_committed_before_its_first_wait(
        self, store: EventStore, writer: Store
    ) -> None:
        start = newest_id(store)
        with subscribe(store, start) as feed:
            between = self.append(writer, 4, "between")
            assert [e.id for e in self.drain_until(feed, 4)] == [e.id for e in between]

    def drain_until(self, feed: Subscription, count: int) -> list[Event]:
        """Wait for ``count`` events (a pushing store may tell of a commit a moment after
        it): what came, oldest first."""
        seen: list[Event] = []
        deadline = time.monotonic() + PATIENCE_S
        while len(seen) < count and time.monotonic() < deadline:
            seen += feed.wait(1.0)
        return seen + self.drain(feed)

    # -- waiting -----------------------------------------------------------------------
    def test_feed_wait_with_nothing_new_honours_its_timeout(
        self, store: EventStore, writer: Store
    ) -> None:
        self.append(writer, 1)
        with subscribe(store, None) as feed:
            for timeout in (0.0, 0.3):
                started = time.monotonic()
                assert feed.wait(timeout) == []
                waited = time.monotonic() - started
                assert timeout <= waited < timeout + PATIENCE_S

    def test_feed_wait_returns_when_another_writer_commits(
        self, store: EventStore, writer: Store
    ) -> None:
        with subscribe(store, newest_id(store)) as feed:
            started = time.monotonic()
            waited = self.in_thread(lambda: feed.wait(4 * PATIENCE_S))
            time.sleep(0.2)
            committed = self.append(writer, 1, "wake")
            got = waited()
            assert got == store.events_since(committed[0].id - 1)
            assert [e.id for e in got] == [committed[0].id]
            assert time.monotonic() - started < 2 * PATIENCE_S  # not the timeout's end

    def test_feed_concurrent_writers_every_event_once_in_order(
        self, store: EventStore, writer: Store
    ) -> None:
        start = newest_id(store)
        writers = [
            threading.Thread(target=self.append, args=(writer, 25, f"w{n}")) for n in range(4)
        ]
        with subscribe(store, start, limit=7) as feed:
            for thread in writers:
                thread.start()
            seen: list[Event] = []
            deadline = time.monotonic() + PATIENCE_S
            while len(seen) < 100 and time.monotonic() < deadline:
                batch = feed.wait(1.0)
                assert len(batch) <= 7
                seen += batch
            for thread in writers:
                thread.join()
            seen += self.drain(feed)
        assert seen == store.events_since(start, 1000)
        assert len(seen) == 100 == len({e.id for e in seen})
        for n in range(4):  # each writer's events in the order it committed them
            mine = [e.message for e in seen if e.message.startswith(f"w{n} ")]
            assert mine == [f"w{n} {i}" for i in range(25)]

    # -- closing -----------------------------------------------------------------------
    def test_feed_close_is_idempotent_and_ends_the_subscription(
        self, store: EventStore, writer: Store
    ) -> None:
        feed = subscribe(store, 0)
        with feed:
            assert not feed.closed
        assert feed.closed
        feed.close()
        feed.close()
        self.append(writer, 1)
        with pytest.raises(ValidationError, match="closed"):
            feed.wait(0)
        assert list(feed.events(0)) == []

    def test_feed_close_from_another_thread_ends_a_wait(self, store: EventStore) -> None:
        feed = subscribe(store, None)
        waited = self.in_thread(lambda: feed.wait(4 * PATIENCE_S))
        time.sleep(0.2)
        feed.close()
        assert waited() == []
        feed.close()

    def test_feed_iterates_until_idle_or_closed(self, store: EventStore, writer: Store) -> None:
        appended = self.append(writer, 3)
        with subscribe(store, appended[0].id - 1, limit=2) as feed:
            assert [e.id for e in feed.events(idle_timeout=0.2)] == [e.id for e in appended]
            closer = threading.Timer(0.3, feed.close)
            closer.start()
            assert list(feed) == []  # iterating forever ends when another thread closes
            closer.join()

    # -- arguments -----------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("after_id", "limit", "poll_interval"),
        [(-1, 10, 0.1), (True, 10, 0.1), (2**63, 10, 0.1), (0, 0, 0.1), (0, -5, 0.1),
         (0, 100_001, 0.1), (0, 10, 0), (0, 10, -1.0), (0, 10, float("nan")), (0, 10, 1e9)],
    )  # fmt: skip
    def test_feed_refuses_bad_arguments(
        self, store: EventStore, after_id: Any, limit: Any, poll_interval: Any
    ) -> None:
        with pytest.raises(ValidationError) as refused:
            subscribe(store, after_id, limit=limit, poll_interval=poll_interval)
        assert "\n" not in str(refused.value)

    @pytest.mark.parametrize("timeout", [-1, -0.001, float("nan"), float("inf"), 1e9, "1", True])
    def test_feed_refuses_bad_timeouts(self, store: EventStore, timeout: Any) -> None:
        with subscribe(store, 0) as feed:
            with pytest.raises(ValidationError, match="timeout") as refused:
                feed.wait(timeout)
            assert "\n" not in str(refused.value)
            with pytest.raises(ValidationError, match="timeout"):
                next(feed.events(timeout))
            assert feed.wait(0) == store.events_since(0, 1000)  # still usable

    # -- any interleaving ----------------------------------------------------------------
    def test_feed_any_interleaving_of_appends_and_waits(
        self, store: EventStore, writer: Store
    ) -> None:
        """The union of what the waits return is what was appended, in order, once."""
        hypothesis = pytest.importorskip("hypothesis")
        st = pytest.importorskip("hypothesis.strategies")
        step = st.one_of(
            st.tuples(st.just("append"), st.integers(1, 4)),
            st.tuples(st.just("wait"), st.sampled_from([0.0, 0.01])),
            st.tuples(st.just("append-during-wait"), st.integers(1, 3)),
        )

        def check(steps: list[tuple[str, float]], limit: int) -> None:
            start = newest_id(store)
            appended: list[Event] = []
            batches: list[list[Event]] = []
            with subscribe(store, start, limit=limit) as feed:
                for kind, value in steps:
                    if kind == "append":
                        appended += self.append(writer, int(value))
                    elif kind == "wait":
                        batches.append(feed.wait(value))
                    else:
                        appending = self.in_thread(partial(self.append, writer, int(value)))
                        batches.append(feed.wait(0.05))
                        appended += appending()
                seen = [e for b in batches for e in b]
                batches.append(self.drain_until(feed, len(appended) - len(seen)))
            assert all(len(b) <= limit for b in batches[:-1])
            seen = [e for b in batches for e in b]
            assert [e.id for e in seen] == [e.id for e in appended]
            assert seen == store.events_since(start, 1000)

        # applied, not decorated: Hypothesis is optional here, so its types may be absent
        examples = hypothesis.given(steps=st.lists(step, max_size=12), limit=st.integers(1, 5))
        hypothesis.settings(max_examples=25, deadline=None, database=None)(examples(check))()
