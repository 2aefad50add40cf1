"""``GET /api/stream``: every committed event as a Server-Sent Event, from the store's
change feed (:meth:`~claude_orchestrator.api.Orchestrator.subscribe`: cursor polling on
SQLite, ``LISTEN``/``NOTIFY`` on PostgreSQL).

Each event is sent as ``id: <event id>``, ``event: event`` and ``data:`` the event as
``events recent --json`` shows one (on one line). A client that reconnects sends the last
id it saw as ``Last-Event-ID`` (browsers do this themselves), or ``?after=ID``: the stream
goes on from the next event, nothing skipped; without either it starts with the events
committed from now on. A comment line every :data:`PING_S` seconds keeps proxies from
closing a quiet stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .errors import ValidationError
from .feed import check_after_id
from .render import to_json

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from .api import Orchestrator
    from .feed import Subscription
    from .models import Event

#: seconds between two keep-alive comments
PING_S = 15.0
#: the longest one wait for events lasts before the stream checks it is still wanted
WAIT_S = 1.0
#: events per batch read from the feed
BATCH = 1000


def event_data(event: Event) -> str:
    """An event as ``events recent --json`` shows one, on one line."""
    return json.dumps(json.loads(to_json(event)), separators=(",", ":"), ensure_ascii=False)


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


async def _events(subscription: Subscription) -> AsyncIterator[dict[str, str]]:
    import anyio.to_thread

    try:
        while True:
            # abandon_on_cancel: a client that leaves cancels the wait; the close below
            # ends the thread's poll at once
            found = await anyio.to_thread.run_sync(subscription.wait, WAIT_S,
                                                   abandon_on_cancel=True)  # fmt: skip
            for event in found:
                yield {"id": str(event.id), "event": "event", "data": event_data(event)}
    finally:
        subscription.close()


def stream(orch: Orchestrator, after_id: int | None) -> Response:
    """The event stream from ``after_id`` (None: from now on)."""
    from sse_starlette import EventSourceResponse

    subscription = orch.subscribe(after_id, limit=BATCH)
    return EventSourceResponse(_events(subscription), ping=PING_S,
                               headers={"Cache-Control": "no-store"})  # fmt: skip
