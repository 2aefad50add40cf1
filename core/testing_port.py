"""The persistence port's own contract (imports pytest): lifecycle, transactions, the
event feed and the notification queue (:mod:`.testing_port_queue`), for any
:class:`~claude_orchestrator.protocols_store.EventStore`. Part of
:class:`~claude_orchestrator.testing_store.StoreContract`; subclass that one."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from .errors import NotInitializedError, ValidationError
from .models import Feature, NewEvent
from .protocols_store import EventStore
from .store_service import Store
from .testing_port_queue import QueueContract

SPEC = "001-contract"
AGENTS = [
    ("overseer", "feature/001-contract/overseer"),
    ("implementor-data", "feature/001-contract/impl-data"),
    ("implementor-api", "feature/001-contract/impl-api"),
]


class PortContract(QueueContract):
    """What a store's port promises. Provide ``store`` (an initialized port) and
    ``fresh_store`` (one not initialized yet)."""

    @pytest.fixture
    def store(self) -> Any:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `store` fixture")

    @pytest.fixture
    def fresh_store(self) -> Any:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `fresh_store` fixture")

    @pytest.fixture
    def service(self, store: EventStore) -> Store:
        """The operations over the port, as the library runs them."""
        return Store(store)

    # -- lifecycle -------------------------------------------------------------------
    def test_satisfies_protocol(self, store: EventStore) -> None:
        assert isinstance(store, EventStore)

    def test_initialize_creates_and_is_idempotent(self, fresh_store: EventStore) -> None:
        assert not fresh_store.exists()
        first = fresh_store.initialize()
        assert fresh_store.exists()
        assert first.created
        second = fresh_store.initialize()
        assert not second.created
        assert second.schema_version == first.schema_version

    def test_info_counts_rows(self, service: Store) -> None:
        service.add_feature(SPEC, "Contract feature", AGENTS[0][1], AGENTS)
        info = service.info()
        assert info.counts is not None
        assert info.counts["features"] == 1
        assert info.counts["agents"] == len(AGENTS)

    # -- transactions ----------------------------------------------------------------
    def _feature(self, spec_id: str = SPEC) -> Feature:
        return Feature(0, spec_id, "Contract feature", AGENTS[0][1], "in-progress", "")

    def test_a_transaction_reads_its_own_writes(self, store: EventStore) -> None:
        with store.transaction() as tx:
            feature = tx.insert_feature(self._feature())
            assert feature.id > 0 and feature.created_at
            assert tx.feature(SPEC) == feature
        assert store.get_feature(SPEC) == feature

    def test_a_transaction_that_raises_leaves_nothing(self, service: Store) -> None:
        service.add_feature(SPEC, "Contract feature", AGENTS[0][1], AGENTS)
        before = (service.list_features(), service.recent_events(10), service.info().counts)
        with pytest.raises(RuntimeError, match="halfway"), service.port.transaction() as tx:
            tx.insert_feature(self._feature("002-half"))
            tx.append(NewEvent(SPEC, "overseer", "status_update", "half"))
            tx.put_delivery_cursor("webhook", 1)
            raise RuntimeError("halfway")
        after = (service.list_features(), service.recent_events(10), service.info().counts)
        assert after == before
        assert service.delivery_cursor("webhook") is None

    def test_transactions_are_serialised(self, store: EventStore) -> None:
        """Read-modify-write in transactions from several threads loses no update."""

        def work() -> None:
            for _ in range(25):
                with store.transaction() as tx:
                    tx.put_delivery_cursor("count", (tx.delivery_cursor("count") or 0) + 1)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.delivery_cursor("count") == 100

    # -- the event feed and delivery cursors (the outbox) ----------------------------
    def test_events_since_reads_every_feature_oldest_first(self, service: Store) -> None:
        service.add_feature(SPEC, "Contract feature", AGENTS[0][1], AGENTS)
        other = ("002-other", "Other", "feature/002-other/overseer")
        service.add_feature(*other, [("overseer", other[2])])
        mine = service.append_event(NewEvent(SPEC, "implementor-data", "status_update", "hi"))
        theirs = service.append_event(NewEvent(other[0], "overseer", "guard_denied", "no"))
        every = service.events_since()
        assert [e.id for e in every] == sorted(e.id for e in every)
        assert [e.event_type for e in every] == [
            "feature_created", "feature_created", "status_update", "guard_denied",
        ]  # fmt: skip
        assert service.events_since(mine.id - 1) == [mine, theirs]
        assert service.events_since(every[0].id, limit=2) == every[1:3]
        assert service.events_since(theirs.id) == []
        assert service.events_since(0, limit=0) == []

    def test_delivery_cursor_is_a_compare_and_set(self, service: Store) -> None:
        assert service.delivery_cursor("webhook") is None
        assert service.move_delivery_cursor("webhook", None, 5)
        assert not service.move_delivery_cursor("webhook", None, 6)  # it has a value now
        assert not service.move_delivery_cursor("webhook", 4, 6)
        assert service.delivery_cursor("webhook") == 5
        assert service.move_delivery_cursor("webhook", 5, 5)  # delivered nothing new
        assert service.move_delivery_cursor("webhook", 5, 9)
        assert (service.delivery_cursor("webhook"), service.delivery_cursor("slack")) == (9, None)
        for consumer, expected, new in (("webhook", 9, 8), ("webhook", None, -1), ("", None, 1)):
            with pytest.raises(ValidationError):
                service.move_delivery_cursor(consumer, expected, new)
        assert service.delivery_cursor("webhook") == 9

    def test_delivery_cursor_moves_once_per_race(self, service: Store) -> None:
        """Threads moving one cursor by one each: every move that succeeded is counted."""
        moved: list[int] = []

        def work() -> None:
            for _ in range(25):
                current = service.delivery_cursor("race")
                if service.move_delivery_cursor("race", current, (current or 0) + 1):
                    moved.append(1)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert service.delivery_cursor("race") == len(moved) > 0

    def test_the_store_needs_initializing(self, fresh_store: EventStore) -> None:
        service = Store(fresh_store)
        for use in (
            service.events_since,
            lambda: service.delivery_cursor("webhook"),
            lambda: service.move_delivery_cursor("webhook", None, 1),
            service.list_features,
            lambda: service.append_event(NewEvent(SPEC, "overseer", "status_update", "x")),
        ):
            with pytest.raises(NotInitializedError):
                use()
