"""The notification queue's part of the persistence port's contract (imports pytest; the
generated cases need Hypothesis): what a store's transactions promise about
``notification``, ``notifications``, ``insert_notification``, ``update_notification``,
``delete_notifications``, ``notify_state`` and ``put_notify_state`` (see
:class:`~claude_orchestrator.protocols_store.StoreTransaction`). Part of
:class:`~claude_orchestrator.testing_port.PortContract`; subclass
:class:`~claude_orchestrator.testing_store.StoreContract`.

Text the generated records hold is any Unicode but NUL (PostgreSQL's ``text`` cannot
hold it; the pipeline writes none); times are Unix seconds from 1970 to 2100.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from .models import Notification
from .protocols_store import EventStore, StoreTransaction

#: every state the pipeline gives a notification
STATES = ("queued", "sent", "dead", "cancelled", "digested")


def notification(key: str, **fields: Any) -> Notification:
    """A queued notification of the ``slack`` channel (``fields`` replace any field)."""
    queued = Notification(0, "slack", key, "event", "001-contract", None, "info", "{}",
                          "queued", 0, 1_000.0, 1_000.0)  # fmt: skip
    return queued._replace(**fields)


def expected(rows: Sequence[Notification], **query: Any) -> list[Notification]:
    """What ``notifications(**query)`` answers over ``rows``, by the docstring's words."""
    states, limit = query["states"], query.get("limit", 100)
    channel, subject = query.get("channel"), query.get("subject")
    due_before, sent_since = query.get("due_before"), query.get("sent_since")
    chosen = [
        n for n in rows
        if n.state in states and channel in (None, n.channel) and subject in (None, n.subject)
        and (due_before is None or n.due_at <= due_before)
        and (sent_since is None or (n.sent_at is not None and n.sent_at >= sent_since))
    ]  # fmt: skip
    return sorted(chosen, key=lambda n: (n.due_at, n.id))[: max(limit, 0)]


class _RolledBack(Exception):
    """Raised at the end of a transaction whose writes a check throws away."""


def rolled_back(store: EventStore, check: Callable[[StoreTransaction], None]) -> None:
    """Run ``check`` in a transaction, then roll it back (the next case starts empty)."""
    with pytest.raises(_RolledBack), store.transaction() as tx:
        check(tx)
        raise _RolledBack


def hypothesis_run(check: Callable[..., None], examples: int = 40, **strategies: Any) -> None:
    """Run ``check`` on generated arguments (Hypothesis applied, not decorated: it is an
    optional dependency of this module, so its types may be absent)."""
    hypothesis = pytest.importorskip("hypothesis")
    settings = hypothesis.settings(max_examples=examples, deadline=None, database=None)
    settings(hypothesis.given(**strategies)(check))()


def _generated_notifications() -> Any:
    """Any notification (id 0): every text field any Unicode but NUL, every time a float."""
    st = pytest.importorskip("hypothesis.strategies")
    text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                   max_size=30)  # fmt: skip
    times = st.floats(min_value=0, max_value=4_102_444_800.0, allow_nan=False,
                      allow_infinity=False, allow_subnormal=False)  # fmt: skip
    return st.builds(
        Notification, id=st.just(0), channel=text, key=text, kind=text,
        spec_id=st.none() | text, subject=st.none() | text, severity=text, payload=text,
        state=st.sampled_from(STATES) | text, attempts=st.integers(0, 2**31 - 1),
        created_at=times, due_at=times, lease_owner=st.none() | text,
        lease_until=st.none() | times, sent_at=st.none() | times,
        last_error=st.none() | text, last_status=st.none() | st.integers(100, 599),
    )  # fmt: skip


class QueueContract:
    """The notification queue of a store's transactions. Provide ``store`` (an
    initialized port)."""

    # -- records -------------------------------------------------------------------------
    def test_a_notification_reads_back_as_queued(self, store: EventStore) -> None:
        """Every field, any text and any time, read back in the transaction and after."""
        serial = itertools.count()
        ids: list[int] = []

        def check(n: Notification) -> None:
            queued = n._replace(key=f"{next(serial)}:{n.key}")  # keys are unique
            with store.transaction() as tx:
                stored = tx.insert_notification(queued)
                assert stored is not None and stored._replace(id=0) == queued
                assert tx.notification(stored.id) == stored
            with store.transaction() as tx:
                assert tx.notification(stored.id) == stored
            ids.append(stored.id)

        hypothesis_run(check, n=_generated_notifications())
        assert ids == sorted(set(ids)) and ids[0] > 0  # assigned, increasing, never reused
        with store.transaction() as tx:
            assert tx.notification(ids[-1] + 1) is None

    def test_a_key_queued_again_writes_nothing(self, store: EventStore) -> None:
        with store.transaction() as tx:
            first = tx.insert_notification(notification("k1"))
        assert first is not None
        again = notification("k1", channel="discord", payload='{"again": 1}', due_at=5.0)
        with store.transaction() as tx:
            assert tx.insert_notification(again) is None
            # the transaction goes on: a refused key is no error
            second = tx.insert_notification(notification("k2"))
            assert second is not None and second.id > first.id
        with store.transaction() as tx:
            assert tx.notification(first.id) == first
            assert tx.notifications(states=STATES) == [first, second]

    def test_an_update_writes_only_the_mutable_fields(self, store: EventStore) -> None:
        with store.transaction() as tx:
            queued = tx.insert_notification(notification("k1", subject="agent:001:data"))
        assert queued is not None
        sent = queued._replace(
            channel="discord", key="k2", kind="digest", spec_id="002-other", subject="other",
            severity="critical", created_at=5.0,  # none of these change
            payload='{"text": "sent"}', state="sent", attempts=3, due_at=1_010.5,
            lease_owner="host:1:2", lease_until=1_020.25, sent_at=1_011.0,
            last_error="HTTP 500: once", last_status=200,
        )  # fmt: skip
        with store.transaction() as tx:
            tx.update_notification(sent)
        mutable = ("payload", "state", "attempts", "due_at", "lease_owner", "lease_until",
                   "sent_at", "last_error", "last_status")  # fmt: skip
        written = queued._replace(**{f: getattr(sent, f) for f in mutable})
        with store.transaction() as tx:
            assert tx.notification(queued.id) == written
            tx.update_notification(written._replace(lease_owner=None, lease_until=None,
                                                    last_error=None, last_status=None))  # fmt: skip
        with store.transaction() as tx:
            freed = tx.notification(queued.id)
        assert freed == written._replace(lease_owner=None, lease_until=None, last_error=None,
                                         last_status=None)  # fmt: skip

    # -- queries -------------------------------------------------------------------------
    def _queue(self, tx: StoreTransaction, rows: Sequence[Notification]) -> list[Notification]:
        stored = [tx.insert_notification(n) for n in rows]
        assert all(n is not None for n in stored)
        return [n for n in stored if n is not None]

    def test_each_filter_of_the_queue(self, store: EventStore) -> None:
        def check(tx: StoreTransaction) -> None:
            a, b, c, d, e = self._queue(tx, [
                notification("a", due_at=30.0),
                notification("b", channel="discord", subject="agent:x", due_at=10.0),
                notification("c", state="sent", sent_at=50.0, due_at=20.0),
                notification("d", state="dead", subject="agent:x", due_at=10.0),
                notification("e", state="sent", sent_at=40.0, due_at=20.0, channel="discord"),
            ])  # fmt: skip
            found = tx.notifications
            assert found(states=["queued"]) == [b, a]
            assert found(states=STATES) == [b, d, c, e, a]  # due_at, then id
            assert found(states=["sent", "dead"]) == [d, c, e]
            assert found(states=STATES, channel="discord") == [b, e]
            assert found(states=STATES, subject="agent:x") == [b, d]
            assert found(states=STATES, due_before=20.0) == [b, d, c, e]
            assert found(states=STATES, due_before=9.9) == []
            assert found(states=STATES, sent_since=45.0) == [c]
            assert found(states=STATES, sent_since=40.0) == [c, e]
            assert found(states=STATES, limit=2) == [b, d]
            assert found(states=STATES, limit=0) == found(states=[]) == []
            assert found(states=["queued"], channel="discord", subject="agent:x",
                         due_before=10.0, limit=1) == [b]  # fmt: skip
            assert found(states=["cancelled"]) == found(states=STATES, channel="nowhere") == []

        rolled_back(store, check)

    def test_any_query_of_the_queue(self, store: EventStore) -> None:
        """Generated queues and queries answer as the docstring says (with ties of
        ``due_at`` broken by id), and a deletion deletes exactly what it names."""
        st = pytest.importorskip("hypothesis.strategies")
        small = st.sampled_from([1.0, 2.0, 2.5, 7.0])
        row = st.builds(
            notification, key=st.just(""), channel=st.sampled_from(["slack", "discord"]),
            subject=st.sampled_from([None, "agent:a", "agent:b"]),
            state=st.sampled_from(STATES[:3]), due_at=small, created_at=small,
            sent_at=st.none() | small,
        )  # fmt: skip
        query = st.fixed_dictionaries({"states": st.lists(st.sampled_from(STATES[:3]),
                                                          unique=True, max_size=3)}, optional={
            "channel": st.sampled_from(["slack", "discord", "teams"]),
            "subject": st.sampled_from(["agent:a", "agent:b"]), "due_before": small,
            "sent_since": small, "limit": st.integers(-1, 6),
        })  # fmt: skip
        deletion = st.tuples(st.lists(st.sampled_from(STATES), max_size=3), small)

        def check(rows: list[Notification], queries: list[dict[str, Any]],
                  delete: tuple[list[str], float]) -> None:  # fmt: skip
            def within(tx: StoreTransaction) -> None:
                stored = self._queue(tx, [n._replace(key=str(i)) for i, n in enumerate(rows)])
                for asked in queries:
                    assert tx.notifications(**asked) == expected(stored, **asked), asked
                states, before = delete
                gone = [n for n in stored if n.state in states and n.created_at < before]
                deleted = tx.delete_notifications(states=states, before=before)
                assert deleted == len(gone)
                left = [n for n in stored if n not in gone]
                assert tx.notifications(states=STATES, limit=100) == expected(left, states=STATES)

            rolled_back(store, within)

        hypothesis_run(check, rows=st.lists(row, max_size=8), queries=st.lists(query, max_size=4),
                       delete=deletion)  # fmt: skip

    def test_deleting_by_state_and_creation_time(self, store: EventStore) -> None:
        with store.transaction() as tx:
            old_sent, new_sent, old_dead, old_queued = self._queue(tx, [
                notification("a", state="sent", created_at=10.0),
                notification("b", state="sent", created_at=20.0),
                notification("c", state="dead", created_at=10.0),
                notification("d", created_at=10.0),
            ])  # fmt: skip
        with store.transaction() as tx:
            assert tx.delete_notifications(states=["sent", "dead"], before=20.0) == 2
            assert tx.delete_notifications(states=["sent", "dead"], before=20.0) == 0
            assert tx.delete_notifications(states=[], before=1e12) == 0
        with store.transaction() as tx:
            assert tx.notifications(states=STATES) == [new_sent, old_queued]
            assert tx.notification(old_sent.id) is None
            assert tx.notification(old_dead.id) is None
            newest = tx.insert_notification(notification("e", state="sent", created_at=1.0))
            assert newest is not None and newest.id > old_queued.id
        with store.transaction() as tx:
            assert tx.delete_notifications(states=["sent"], before=2.0) == 1
        with store.transaction() as tx:
            # an id is never given again, even after the newest record was deleted
            newer = tx.insert_notification(notification("f"))
            assert newer is not None and newer.id > newest.id

    # -- the pipeline's state ------------------------------------------------------------
    def test_notify_state_is_set_overwritten_and_deleted(self, store: EventStore) -> None:
        with store.transaction() as tx:
            assert tx.notify_state("subject", "agent:001:data") is None
            tx.put_notify_state("subject", "agent:001:data", "1700000000.5")
            tx.put_notify_state("retry-after", "agent:001:data", "30")  # another scope
            assert tx.notify_state("subject", "agent:001:data") == "1700000000.5"
        with store.transaction() as tx:
            assert tx.notify_state("subject", "agent:001:data") == "1700000000.5"
            tx.put_notify_state("subject", "agent:001:data", "ünïcode ✓")
        with store.transaction() as tx:
            assert tx.notify_state("subject", "agent:001:data") == "ünïcode ✓"
            tx.put_notify_state("subject", "agent:001:data", None)
            tx.put_notify_state("subject", "never set", None)  # nothing to delete: nothing
        with store.transaction() as tx:
            assert tx.notify_state("subject", "agent:001:data") is None
            assert tx.notify_state("retry-after", "agent:001:data") == "30"
            assert tx.notify_state("subject", "never set") is None

    def test_a_rolled_back_transaction_leaves_nothing_of_the_queue(self, store: EventStore) -> None:
        with store.transaction() as tx:
            kept = tx.insert_notification(notification("kept", state="sent", created_at=1.0))
            tx.put_notify_state("scope", "kept", "before")
        assert kept is not None

        def change(tx: StoreTransaction) -> None:
            assert tx.insert_notification(notification("new")) is not None
            tx.update_notification(kept._replace(state="dead", attempts=9))
            tx.put_notify_state("scope", "kept", "after")
            tx.put_notify_state("scope", "new", "value")
            assert tx.delete_notifications(states=["dead"], before=2.0) == 1

        rolled_back(store, change)
        with store.transaction() as tx:
            assert tx.notifications(states=STATES) == [kept]
            assert tx.notify_state("scope", "kept") == "before"
            assert tx.notify_state("scope", "new") is None
            again = tx.insert_notification(notification("new"))  # its key is free
        assert again is not None and again.id > kept.id

    # -- senders racing ------------------------------------------------------------------
    def test_one_sender_wins_each_lease(self, store: EventStore) -> None:
        """Threads read a notification, see no lease and take it, in transactions:
        exactly one takes each, and the lease stored is the winner's."""
        with store.transaction() as tx:
            queued = self._queue(tx, [notification(f"race-{i}") for i in range(5)])
        senders = 4
        won: dict[int, list[str]] = {n.id: [] for n in queued}
        failed: list[BaseException] = []
        start = threading.Barrier(senders)

        def sender(me: str) -> None:
            try:
                take_each(me)
            except BaseException as exc:  # the test's thread says it
                failed.append(exc)

        def take_each(me: str) -> None:
            start.wait()
            for n in queued:
                with store.transaction() as tx:
                    seen = tx.notification(n.id)
                    assert seen is not None
                    took = seen.lease_owner is None
                    if took:
                        tx.update_notification(seen._replace(lease_owner=me, lease_until=9.0))
                if took:  # committed
                    won[n.id].append(me)

        threads = [threading.Thread(target=sender, args=(f"host:{i}:0",)) for i in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failed == []
        with store.transaction() as tx:
            for n in queued:
                assert len(won[n.id]) == 1, won
                assert tx.notification(n.id) == n._replace(lease_owner=won[n.id][0],
                                                           lease_until=9.0)  # fmt: skip
