"""The live change feed: committed events as they come, from a cursor on.

:func:`subscribe` gives a :class:`Subscription` to the events of every feature with an
id above a cursor. A store that pushes commits (a
:class:`~claude_orchestrator.protocols_store.StoreFeed`: the ``postgres`` store's
``LISTEN``/``NOTIFY``) is used as it is; for any other store (``sqlite``, the memory
example) a :class:`PollingSubscription` reads
:meth:`~claude_orchestrator.protocols_store.StoreQueries.events_since` by cursor. Either
way the promises are the same:

- :meth:`Subscription.wait` returns at once when events are there, else waits up to its
  timeout for one; every committed event is returned once, in commit (id) order, those
  committed between :func:`subscribe` and the first ``wait`` included;
- :meth:`Subscription.close` is idempotent, and may come from another thread: a ``wait``
  running there returns ``[]`` (at once when polling, within :data:`SLICE_S` otherwise);
- a subscription is a context manager, and an iterator over events
  (:meth:`Subscription.events` stops after a time without one).

Polling costs one indexed query per poll: the pauses between polls start at
:data:`FIRST_POLL_S` and double up to ``poll_interval``, so a quiet store is read a few
times a second and an event arrives at most ``poll_interval`` after its commit. Ids
follow commit order on these stores because their write transactions are serialised
(:meth:`~claude_orchestrator.protocols_store.EventStore.transaction`): an event never
becomes visible below the cursor.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Self

from . import validate as v
from .errors import ValidationError
from .protocols_store import StoreFeed
from .store_service import Store

if TYPE_CHECKING:
    from .models import Event
    from .protocols_store import EventSubscription, StoreQueries

#: the first pause between two polls that found nothing; it doubles up to the cap
FIRST_POLL_S = 0.01
#: the default cap of the pauses (``poll_interval``)
POLL_S = 0.2
#: the longest pause a caller may ask for between polls
MAX_POLL_S = 60.0
#: the longest one ``wait`` may be asked to wait (loop, or iterate, for longer)
MAX_TIMEOUT_S = 86_400.0
#: a store's own subscription waits at most this long per call, so that a ``close``
#: from another thread is seen
SLICE_S = 1.0
#: events per batch by default
LIMIT = 1000


# ----------------------------------------------------------------------- validation
def check_after_id(value: int) -> int:
    """A cursor: the id of the last event already seen (0: none seen)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= v.MAX_ID:
        raise ValidationError(
            f"invalid event id {_shown(value)} to start after: give a whole number from 0 "
            f"(every stored event) to {v.MAX_ID}"
        )
    return value


def check_timeout(value: float) -> float:
    """Seconds to wait: finite, from 0 to :data:`MAX_TIMEOUT_S`."""
    if not _is_number(value) or not 0 <= value <= MAX_TIMEOUT_S:
        raise ValidationError(
            f"invalid timeout {_shown(value)}: give a number of seconds from 0 to "
            f"{MAX_TIMEOUT_S:g} (a day)"
        )
    return float(value)


def check_poll_interval(value: float) -> float:
    """The cap of the pauses between polls: above 0, at most :data:`MAX_POLL_S`."""
    if not _is_number(value) or not 0 < value <= MAX_POLL_S:
        raise ValidationError(
            f"invalid poll interval {_shown(value)}: give a number of seconds above 0 and "
            f"up to {MAX_POLL_S:g}"
        )
    return float(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -------------------------------------------------------------------------- polling
class PollingSubscription:
    """An :class:`~claude_orchestrator.protocols_store.EventSubscription` that polls
    :meth:`~claude_orchestrator.protocols_store.StoreQueries.events_since` by cursor.

    ``stop``, when given, is an event another thread may set to end a running
    :meth:`wait` at once (:class:`Subscription` passes its own); :meth:`close` sets it.
    """

    def __init__(
        self,
        queries: StoreQueries,
        after_id: int = 0,
        limit: int = LIMIT,
        *,
        poll_interval: float = POLL_S,
        stop: threading.Event | None = None,
    ) -> None:
        self._queries = queries
        self._cursor = check_after_id(after_id)
        self._limit = v.check_limit(limit)
        self._cap = check_poll_interval(poll_interval)
        self._stop = stop if stop is not None else threading.Event()

    def wait(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + check_timeout(timeout)
        pause = min(FIRST_POLL_S, self._cap)
        while not self._stop.is_set():
            found = self._queries.events_since(self._cursor, self._limit)
            if found:
                self._cursor = found[-1].id
                return found
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.wait(min(pause, left)):
                break
            pause = min(pause * 2, self._cap)
        return []

    def close(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------- subscription
class Subscription:
    """A subscription to committed events (see the module docstring for its promises).

    :attr:`last_id` is the id of the last event returned (the cursor given, at first):
    subscribe again from it to carry on where this one stopped. One thread at a time
    reads a subscription; any thread may close it.
    """

    def __init__(self, feed: EventSubscription, after_id: int, stop: threading.Event) -> None:
        self._feed = feed
        self._stop = stop
        self._lock = threading.Lock()
        self._waiting = False
        self._released = False
        self._last_id = after_id

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float) -> list[Event]:
        """The events committed after :attr:`last_id`, oldest first, at most the
        subscription's ``limit``; when there are none yet, waits up to ``timeout``
        seconds (0 to :data:`MAX_TIMEOUT_S`) for one, then returns ``[]`` (also when
        the subscription is closed meanwhile). ValidationError once it is closed."""
        found = self._read(check_timeout(timeout))
        if found is None:
            raise ValidationError("the subscription is closed: subscribe again to wait")
        return found

    def _read(self, timeout: float) -> list[Event] | None:
        """What :meth:`wait` returns, or None when the subscription was closed before."""
        with self._lock:
            if self.closed:
                return None
            self._waiting = True
        try:
            deadline = time.monotonic() + timeout
            while True:
                found = self._feed.wait(min(timeout, SLICE_S))
                timeout = deadline - time.monotonic()
                if found or timeout <= 0 or self.closed:
                    break
        finally:
            with self._lock:
                self._waiting = False
            if self.closed:
                self._release()
        if found:
            self._last_id = found[-1].id
        return found

    def events(self, idle_timeout: float | None = None) -> Iterator[Event]:
        """Each event as it comes, oldest first; ends when the subscription is closed,
        or after ``idle_timeout`` seconds without a new event (None: never)."""
        idle = MAX_TIMEOUT_S if idle_timeout is None else check_timeout(idle_timeout)
        while (found := self._read(idle)) is not None:
            if not found and idle_timeout is not None:
                return
            yield from found

    def __iter__(self) -> Iterator[Event]:
        return self.events()

    def close(self) -> None:
        """Stop: a ``wait`` running in another thread returns ``[]``; idempotent."""
        with self._lock:
            self._stop.set()
            if self._waiting:
                return  # the waiting thread releases the store's subscription
        self._release()

    def _release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._feed.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def newest_id(queries: StoreQueries) -> int:
    """The id of the newest stored event (0 for none): a cursor for "from now on"."""
    newest = queries.recent_events(1)
    return newest[0].id if newest else 0


def subscribe(
    store: StoreQueries | Store,
    after_id: int | None = 0,
    *,
    limit: int = LIMIT,
    poll_interval: float = POLL_S,
) -> Subscription:
    """Subscribe to the events of every feature with ``id > after_id``.

    :param store: a store's port, or the library's
        :class:`~claude_orchestrator.store_service.Store` over one.
    :param after_id: the id of the last event already seen: 0 for every stored event,
        None for only those committed from now on.
    :param limit: at most this many events per :meth:`Subscription.wait` (1 to 100000).
    :param poll_interval: for a store that does not push (not a
        :class:`~claude_orchestrator.protocols_store.StoreFeed`), the longest pause
        between two polls, in seconds: at most this long from a commit to its event.
    :raises ValidationError: for an argument out of range, before the store is read.
    """
    port = store.port if isinstance(store, Store) else store
    cursor = None if after_id is None else check_after_id(after_id)
    limit = v.check_limit(limit)
    poll_interval = check_poll_interval(poll_interval)
    if cursor is None:
        cursor = newest_id(port)
    stop = threading.Event()
    feed: EventSubscription
    if isinstance(port, StoreFeed):
        feed = port.subscribe(cursor, limit)
    else:
        feed = PollingSubscription(port, cursor, limit, poll_interval=poll_interval, stop=stop)
    return Subscription(feed, cursor, stop)
