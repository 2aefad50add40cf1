"""The built-in ``sqlite`` event store.

One SQLite file in WAL mode, shared by every worktree of a repository. Each transaction
is a short ``BEGIN IMMEDIATE`` with a generous busy timeout, so several agents can log
at the same moment. ``task_events`` is append-only, enforced by triggers; two summary
tables (``agent_activity``, kept by a trigger, and ``task_state``, kept by the store
with the domain's :func:`~claude_orchestrator.domain_tasks.derive_task_state`) make
``status`` independent of the number of events.

:class:`~.sqlite_port.SQLitePort` is the persistence port
(:class:`~claude_orchestrator.protocols_store.EventStore`): it persists and queries, it
does not decide; every operation is the library's
:class:`~claude_orchestrator.store_service.Store`. :class:`~.sqlite_port.SQLiteStore` is that
``Store`` over a file, for code that opens a store by its path.

The port is assembled from one module per concern: the file, its schema and migrations
(:mod:`.sqlite_conn`, :mod:`.sqlite_schema`), the rows (:mod:`.sqlite_rows`), the
queries and summaries (:mod:`.sqlite_queries`) and the transaction's primitive reads
and writes (:mod:`.sqlite_tx`), put together in :mod:`.sqlite_port`. It uses the
standard library's ``sqlite3``.

This module is imported with every built-in plugin, on every command: it registers a
factory and imports nothing else (a command on another store never imports ``sqlite3``).
"""

from __future__ import annotations

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register


def from_context(context: PluginContext) -> object:
    """The store's port for the context (it opens its file on first use)."""
    from .sqlite_port import SQLitePort

    return SQLitePort.from_context(context)


@hookimpl(trylast=True)
def register_stores(register: Register) -> None:
    register("sqlite", from_context, description="SQLite file (embedded, no server)")
