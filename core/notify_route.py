"""The router: committed events become queued notifications, once per state change.

It is an *outbox* notifier (:mod:`claude_orchestrator.outbox`) named ``notifications``:
the outbox tells it the events after its cursor, and its ``flush`` writes, in one store
transaction per batch, a queued :class:`~claude_orchestrator.models.Notification` for each
channel that selects an event that is news (:mod:`claude_orchestrator.notify_classify`),
the subjects' new states, and an unanswered ``agent_waiting``'s escalations (queued for
later, cancelled when the agent is answered). Each notification's key is made of the
channel and the event id, so a batch routed twice (a process killed before the cursor
moved, two machines at once) queues nothing twice.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .models import Notification
from .notify_classify import RANK, Classified, classify, clears
from .notify_config import ChannelConfig, NotifySettings
from .notify_message import ESCALATION, EVENT
from .protocols import OUTBOX

if TYPE_CHECKING:
    from .models import Event
    from .protocols_store import StoreTransaction
    from .store_service import Store

#: the router's outbox name (its delivery cursor)
NAME = "notifications"
#: the ``notify_state`` scope of subjects' states
SUBJECTS = "subject"
QUEUED, SENT, DEAD, CANCELLED, DIGESTED = "queued", "sent", "dead", "cancelled", "digested"
#: sent, cancelled and digested notifications are kept this long (seconds)
KEEP_S = 7 * 86400


def selects(channel: ChannelConfig, event: Event, severity: str) -> bool:
    """Whether the channel receives this event (type, feature, least severity)."""
    if event.event_type not in channel.events and "*" not in channel.events:
        return False
    if not any(fnmatch.fnmatchcase(event.spec_id, f) for f in channel.features):
        return False
    return RANK.get(severity, 0) >= RANK.get(channel.min_severity, 0)


class Router:
    """The ``notifications`` outbox notifier (built by the wiring when channels exist)."""

    delivery = OUTBOX

    def __init__(
        self, store: Callable[[], Store], settings: NotifySettings, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self.settings = settings
        self._clock = clock
        self._batch: list[Event] = []

    def notify(self, event: Event) -> None:
        self._batch.append(event)

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            with self._store().transaction() as tx:
                route(tx, batch, self.settings, self._clock())


def route(
    tx: StoreTransaction, events: Sequence[Event], settings: NotifySettings, now: float
) -> int:
    """Queue what the events are news for; how many notifications were queued."""
    queued = 0
    prefix = store_id(tx)
    for event in events:
        for subject in clears(event):
            tx.put_notify_state(SUBJECTS, subject, None)
            _cancel_escalations(tx, subject)
        found = classify(event)
        if found is None or not _news(tx, found):
            continue
        queued += _queue_event(tx, prefix, event, found, settings, now)
        if event.event_type == "agent_waiting" and settings.escalation is not None:
            queued += _queue_escalations(tx, prefix, event, found, settings, now)
    return queued


def store_id(tx: StoreTransaction) -> str:
    """This store's random id, made on first use: the first part of every idempotency key,
    so a receiver that several repositories (or clones) send to can dedupe on the key."""
    found = tx.notify_state("store", "id")
    if found is None:
        import secrets

        found = secrets.token_hex(6)
        tx.put_notify_state("store", "id", found)
    return found


def _news(tx: StoreTransaction, found: Classified) -> bool:
    """Whether the event changes its subject's state (and record the new state)."""
    if found.subject is None or found.state is None:
        return True
    previous = tx.notify_state(SUBJECTS, found.subject)
    if previous == found.state:
        return False
    tx.put_notify_state(SUBJECTS, found.subject, found.state)
    if found.only_after is not None and previous not in found.only_after:
        return False
    if found.subject.startswith("agent:"):
        _cancel_escalations(tx, found.subject)  # a new question replaces the old one's
    return True


def _new(channel: str, key: str, kind: str, event: Event, found: Classified, payload: str,
         now: float, due: float) -> Notification:  # fmt: skip
    return Notification(0, channel, key, kind, event.spec_id, found.subject, found.severity,
                        payload, QUEUED, 0, now, due)  # fmt: skip


def _queue_event(
    tx: StoreTransaction, prefix: str, event: Event, found: Classified,
    settings: NotifySettings, now: float,
) -> int:  # fmt: skip
    message = found.message
    if settings.link:
        # the dashboard's page of the feature (it selects one by ``#spec=``)
        message = message._replace(link=f"{settings.link.rstrip('/')}/#spec={event.spec_id}")
    payload = message.to_json()
    queued = 0
    for name, channel in settings.channels.items():
        if selects(channel, event, found.severity):
            new = _new(name, f"{prefix}:{name}:e{event.id}", EVENT, event, found, payload, now,
                       now + settings.settle)  # fmt: skip
            queued += tx.insert_notification(new) is not None
    return queued


def _queue_escalations(
    tx: StoreTransaction, prefix: str, event: Event, found: Classified,
    settings: NotifySettings, now: float,
) -> int:  # fmt: skip
    escalation = settings.escalation
    assert escalation is not None
    queued = 0
    for time_ in range(1, escalation.times + 1):
        waited = escalation.after * time_
        minutes = f"{waited / 60:.0f} min" if waited >= 60 else f"{waited:.0f} s"
        message = found.message._replace(
            kind=ESCALATION,
            title=f"still waiting after {minutes}: {found.message.title}",
        )
        for name in escalation.to:
            new = _new(name, f"{prefix}:{name}:x{event.id}.{time_}", ESCALATION, event, found,
                       message.to_json(), now, now + waited)  # fmt: skip
            queued += tx.insert_notification(new) is not None
    return queued


def _cancel_escalations(tx: StoreTransaction, subject: str) -> None:
    for pending in tx.notifications(states=(QUEUED,), subject=subject, limit=1000):
        if pending.kind == ESCALATION:
            tx.update_notification(pending._replace(state=CANCELLED, last_error="answered"))


def prune(store: Store, now: float | None = None) -> int:
    """Forget sent, cancelled and digested notifications older than :data:`KEEP_S`."""
    before = (time.time() if now is None else now) - KEEP_S
    with store.transaction() as tx:
        return tx.delete_notifications(states=(SENT, CANCELLED, DIGESTED), before=before)
