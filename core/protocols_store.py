"""The event store's persistence port: what a store plugin implements.

A store persists and queries; it does not decide. Every operation that changes state
(add a feature, open a blocker, record a sync, merge a pull request...) is
:class:`claude_orchestrator.store_service.Store`'s: plain Python over this port, which
words each event with :mod:`claude_orchestrator.domain` and applies the rules of
:mod:`claude_orchestrator.domain_rules`. A store offers:

- the **lifecycle**: ``location``, :meth:`~EventStore.exists`,
  :meth:`~EventStore.initialize`, :meth:`~EventStore.info`, :meth:`~EventStore.close`;
- the **event feed** (:class:`EventFeed`): every committed event in order, and one
  delivery cursor per consumer, for notifiers that deliver elsewhere (the outbox).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .models import Event


@runtime_checkable
class EventFeed(Protocol):
    """Committed events in order, and where each consumer of them has got to.

    A consumer (a notifier that delivers elsewhere: a webhook, a chat) reads the events
    after its cursor with :meth:`events_since`, delivers them, then moves its cursor with
    :meth:`move_delivery_cursor`. The move is a compare-and-set, so two processes
    delivering for the same consumer never both move it: the one that loses sees False
    and reads the cursor again. Nothing is lost when a process dies between delivering
    and moving (the events are delivered again: at least once).
    """

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """The events of every feature with ``id > after_id``, oldest first (ids only
        increase, so this is commit order), at most ``limit`` of them (none for a
        ``limit`` below 1). Guard decisions and custom events are included.

        :raises NotInitializedError: the store was never created.
        """

    def delivery_cursor(self, consumer: str) -> int | None:
        """The id of the last event delivered to ``consumer`` (as it last moved its
        cursor), or None if it never moved it.

        :raises NotInitializedError: the store was never created.
        """

    def move_delivery_cursor(self, consumer: str, expected: int | None, new: int) -> bool:
        """Set ``consumer``'s cursor to ``new`` if it is ``expected`` now (None: it has
        never been set), atomically across processes: True when it moved; False, and
        nothing changed, when the cursor is not ``expected`` (another process moved it
        first).

        :raises ValidationError: the consumer's name is empty, ``new`` is negative, or
            ``new`` is below the cursor (a cursor never moves back).
        :raises NotInitializedError: the store was never created.
        """
