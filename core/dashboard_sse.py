"""``GET /api/stream``: every committed event as a Server-Sent Event, from the store's
change feed (:meth:`~claude_orchestrator.api.Orchestrator.subscribe`: cursor polling on
SQLite, ``LISTEN``/``NOTIFY`` on PostgreSQL).

Each event is sent as ``id: <event id>``, ``event: event`` and ``data:`` the event as
``events recent --json`` shows one (on one line). A client that reconnects sends the last
id it saw as ``Last-Event-ID`` (browsers do this themselves), or ``?after=ID``: the stream
goes on from the next event, nothing skipped; without either it starts with the events
committed from now on. A comment line every :data:`PING_S` seconds keeps proxies from
closing a quiet stream.

One :class:`Hub` per app reads the feed (one subscription, in one thread, however many
pages are open), encodes each event once, and hands the encoded events to each stream's
bounded queue. A stream that starts behind the hub (a ``Last-Event-ID`` from before)
first reads the events it missed from the store, then joins. A stream whose queue fills
(a client that does not keep up) is ended after what its queue holds: the browser
reconnects with its ``Last-Event-ID`` and catches up from the store, nothing lost.
:meth:`Hub.end` ends every stream (the server's shutdown: no response left unfinished).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

from .errors import OrchestratorError, ValidationError
from .feed import check_after_id, newest_id
from .render import to_json

if TYPE_CHECKING:
    import anyio
    from starlette.requests import Request
    from starlette.responses import Response

    from .api import Orchestrator
    from .feed import Subscription
    from .models import Event

T = TypeVar("T")
#: seconds between two keep-alive comments
PING_S = 15.0
#: the longest one wait for events lasts before the stream checks it is still wanted
WAIT_S = 1.0
#: events per batch read from the feed (and from the store, to catch up)
BATCH = 1000
#: the most encoded events one stream's queue holds; past that the stream is ended
QUEUE = 10_000
#: what a browser is told to wait before reconnecting, in milliseconds
RETRY_MS = 500
#: how long a stream may take to end once the server shuts down, in seconds (below
#: uvicorn's timeout_graceful_shutdown)
GRACE_S = 1.5


class Library(Protocol):
    """The app's library: its calls run one at a time (``dashboard_app.Library``)."""

    def call(self, fn: Callable[[Orchestrator], T]) -> T: ...


class Encoded(NamedTuple):
    """One event, encoded once for every stream."""

    id: int
    chunk: bytes


def event_data(event: Event) -> str:
    """An event as ``events recent --json`` shows one, on one line."""
    return json.dumps(json.loads(to_json(event)), separators=(",", ":"), ensure_ascii=False)


def encode(event: Event) -> Encoded:
    """``event`` as the bytes of one Server-Sent Event."""
    from sse_starlette import ServerSentEvent

    sent = ServerSentEvent(event_data(event), id=str(event.id), event="event")
    return Encoded(event.id, sent.encode())


def cursor(request: Request) -> int | None:
    """Where the stream starts: after ``Last-Event-ID`` or ``?after=``; None: from now on."""
    given = request.headers.get("last-event-id") or request.query_params.get("after")
    if given is None or not given.strip():
        return None
    text = given.strip()
    if not re.fullmatch(r"[0-9]{1,18}", text):  # ASCII digits ("²".isdigit() is True)
        raise ValidationError(
            f"invalid event id {text[:40]!r} to resume after: give the id of the last event "
            "seen (a whole number), as Last-Event-ID or ?after=ID"
        )
    return check_after_id(int(text))


class Queue:
    """One stream's queue of encoded events, filled by the hub on the event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: deque[Encoded] = deque()
        self.ready = asyncio.Event()
        self.ended = False  # full (the client fell behind), or the hub ended

    def put(self, batch: list[Encoded]) -> bool:
        """Add ``batch``; False (and ended) when it does not fit."""
        if len(self.items) + len(batch) > self.size:
            self.end()
            return False
        self.items.extend(batch)
        self.ready.set()
        return True

    def end(self) -> None:
        self.ended = True
        self.ready.set()

    async def take(self, timeout: float) -> list[Encoded]:
        """What the queue holds, waiting up to ``timeout`` seconds for something."""
        if not self.items and not self.ended:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), timeout)
        self.ready.clear()
        taken = list(self.items)
        self.items.clear()
        return taken


class Hub:
    """The app's one reader of the feed (see the module docstring); its state is
    touched only on the event loop, the feed is waited on in a thread of its own."""

    def __init__(self, library: Library) -> None:
        self._call = library.call
        self._queues: set[Queue] = set()
        self._position = 0  # the id of the last event handed to the queues
        self._subscription: Subscription | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting = asyncio.Lock()

    async def open(self, after: int | None) -> int:
        """Start reading the feed (unless it is read); the cursor a stream starts from
        (``after``, or for None the newest event's id: from now on)."""
        from starlette.concurrency import run_in_threadpool

        await self._start()
        if after is None:
            return await run_in_threadpool(self._call, lambda o: newest_id(o.store.port))
        return after

    async def _start(self) -> None:
        """Subscribe (from now on) and start the thread, unless they run."""
        from starlette.concurrency import run_in_threadpool

        async with self._starting:
            if self._subscription is not None:
                return
            subscription: Subscription = await run_in_threadpool(
                self._call, lambda o: o.subscribe(None, limit=BATCH)
            )
            self._loop = asyncio.get_running_loop()
            self._position = subscription.last_id
            self._subscription = subscription
            self._thread = threading.Thread(target=self._pump, args=(subscription, self._loop),
                                            name="dashboard-feed", daemon=True)  # fmt: skip
            self._thread.start()

    def _pump(self, subscription: Subscription, loop: asyncio.AbstractEventLoop) -> None:
        """The thread: each batch of the feed, encoded once, to the loop."""
        try:
            while not subscription.closed:
                found = subscription.wait(WAIT_S)
                if found:
                    loop.call_soon_threadsafe(self._deliver, [encode(e) for e in found])
        except OrchestratorError:
            return  # the store failed: the streams end (below), their clients reconnect
        finally:
            subscription.close()
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._stopped, subscription)

    def _deliver(self, batch: list[Encoded]) -> None:
        self._position = batch[-1].id
        for queue in list(self._queues):
            if not queue.put(batch):
                self._queues.discard(queue)

    def _stopped(self, subscription: Subscription) -> None:
        """The feed's thread ended: its streams end (their clients reconnect)."""
        if self._subscription is subscription:
            self._subscription = None
            self._end_queues()

    def _end_queues(self) -> None:
        for queue in self._queues:
            queue.end()
        self._queues.clear()

    def end(self) -> None:
        """End every open stream; from any thread (a signal handler's included)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._end_queues)

    def close(self) -> None:
        """Stop reading the feed (the app's shutdown)."""
        subscription, thread = self._subscription, self._thread
        self._subscription = None
        self._end_queues()
        if subscription is not None:
            subscription.close()
        if thread is not None:
            thread.join(5)

    async def _read(self, after: int) -> list[Event]:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self._call, lambda o: o.store.events_since(after, BATCH))

    async def events(self, after: int, shutdown: anyio.Event) -> AsyncIterator[bytes]:
        """A stream's bytes: the events after ``after`` (from :meth:`open`), until the
        client leaves, its queue fills, the hub ends or ``shutdown`` is set."""
        from sse_starlette import ServerSentEvent

        yield ServerSentEvent(retry=RETRY_MS).encode()
        sent = after
        while sent < self._position:  # catch up from the store, then join the hub
            found = await self._read(sent)
            if not found:
                break
            for event in found:
                yield encode(event).chunk
                sent = event.id
        queue = Queue(QUEUE)
        self._queues.add(queue)  # no await since the check: every later event is queued
        try:
            while not shutdown.is_set():
                taken = await queue.take(WAIT_S)
                chunk = b"".join(e.chunk for e in taken if e.id > sent)
                if chunk:
                    yield chunk
                    sent = taken[-1].id
                if queue.ended and not queue.items:
                    return
        finally:
            self._queues.discard(queue)


async def stream(hub: Hub, after_id: int | None) -> Response:
    """The event stream from ``after_id`` (None: from now on); the store's errors are
    raised here, before the answer starts."""
    import anyio
    from sse_starlette import EventSourceResponse

    after = await hub.open(after_id)
    shutdown = anyio.Event()  # sse-starlette sets it when the server shuts down
    return EventSourceResponse(hub.events(after, shutdown), ping=PING_S,
                               headers={"Cache-Control": "no-store"}, shutdown_event=shutdown,
                               shutdown_grace_period=GRACE_S)  # fmt: skip
