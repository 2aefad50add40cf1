"""The PostgreSQL store's live feed (:class:`~claude_orchestrator.protocols_store.StoreFeed`):
``LISTEN`` on the project's channel, which the ``task_events`` insert trigger notifies
when a transaction that appended events commits.

A notification is only a wake-up: the subscription reads the events after its cursor,
so an event is returned once whether its notification came, was folded into another
(PostgreSQL delivers one per transaction and channel) or arrived while it was reading.
It listens before it first reads, so nothing committed after :meth:`subscribe` is
missed; a connection lost and made again listens again before reading again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from claude_orchestrator.models import Event

from . import postgres_schema as schema

if TYPE_CHECKING:
    import psycopg  # type: ignore[import-not-found, unused-ignore]

    from .postgres_queries import PostgresQueries


class PostgresSubscription:
    """The events committed after ``after_id``, on a connection of its own (``reader``:
    a store object of the same project that only this subscription uses)."""

    def __init__(self, reader: PostgresQueries, after_id: int = 0, limit: int = 1000) -> None:
        self._reader = reader
        self._cursor = after_id
        self._limit = limit
        self._listening: psycopg.Connection[Any] | None = None
        self._closed = False
        self._listen()

    def _listen(self) -> psycopg.Connection[Any]:
        """The reader's connection, listening on the project's channel."""
        from psycopg import sql  # type: ignore[import-not-found, unused-ignore]

        reader = self._reader
        with reader._lock, reader._errors():
            conn = reader._ready()
            if conn is not self._listening:
                channel = schema.channel(reader._project_key())
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                self._listening = conn
            return conn

    def wait(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + max(timeout, 0.0)
        while not self._closed:
            conn = self._listen()
            events = self._reader.events_since(self._cursor, self._limit)
            if events:
                self._cursor = events[-1].id
                return events
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            with self._reader._errors(conn):
                for _ in conn.notifies(timeout=remaining, stop_after=1):
                    break
        return []

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._reader.close()
