"""The built-in ``sqlite`` event store.

One SQLite file in WAL mode, shared by every worktree of a repository. Each transaction
is a short ``BEGIN IMMEDIATE`` with a generous busy timeout, so several agents can log
at the same moment. ``task_events`` is append-only, enforced by triggers; two summary
tables (``agent_activity``, kept by a trigger, and ``task_state``, kept by the store
with the domain's :func:`~claude_orchestrator.domain_tasks.derive_task_state`) make
``status`` independent of the number of events.

:class:`SQLitePort` is the persistence port
(:class:`~claude_orchestrator.protocols_store.EventStore`): it persists and queries, it
does not decide; every operation is the library's
:class:`~claude_orchestrator.store_service.Store`. :class:`SQLiteStore` is that
``Store`` over a file, for code that opens a store by its path.

The port is assembled from one module per concern: the file, its schema and migrations
(:mod:`.sqlite_conn`, :mod:`.sqlite_schema`), the rows (:mod:`.sqlite_rows`), the
queries and summaries (:mod:`.sqlite_queries`) and the transaction's primitive reads
and writes (:mod:`.sqlite_tx`). It uses the standard library's ``sqlite3``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register
from claude_orchestrator.store_service import Store

from .sqlite_conn import BUSY_TIMEOUT_S
from .sqlite_queries import SQLiteQueries
from .sqlite_tx import SQLiteTransaction

__all__ = ["BUSY_TIMEOUT_S", "SQLitePort", "SQLiteStore", "register_stores"]


class SQLitePort(SQLiteQueries):
    """The :class:`~claude_orchestrator.protocols_store.EventStore` port in one SQLite file."""

    @classmethod
    def from_context(cls, context: PluginContext) -> SQLitePort:
        timeout = context.options.get("busy_timeout", BUSY_TIMEOUT_S)
        return cls(context.store_path, busy_timeout=float(timeout))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SQLiteTransaction]:
        with self._write() as conn:
            yield SQLiteTransaction(conn)


class SQLiteStore(Store):
    """Every store operation on one SQLite file: ``Store(SQLitePort(path))``."""

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        super().__init__(SQLitePort(path, busy_timeout=busy_timeout))


@hookimpl(trylast=True)
def register_stores(register: Register) -> None:
    register("sqlite", SQLitePort.from_context, description="SQLite file (embedded, no server)")
