"""The built-in ``sqlite`` event store.

One SQLite file in WAL mode, shared by every worktree of a repository. Writes are short
``BEGIN IMMEDIATE`` transactions with a generous busy timeout, so several agents can
log at the same moment. ``task_events`` is append-only, enforced by triggers; two
summary tables (``agent_activity``, ``task_state``), kept current as events are
appended, make ``status`` independent of the number of events.

The store persists and queries; it does not decide. What an event says, and every rule
(a task's state, the blocked agent, which tasks a merge merges, how a scan reconciles,
what a synced commit logs), is the domain's: :mod:`claude_orchestrator.domain`,
:mod:`claude_orchestrator.domain_rules`, :mod:`claude_orchestrator.domain_tasks`.

The class is assembled from one module per concern: the file, its schema and
transactions (:mod:`.sqlite_conn`), the rows and lookups (:mod:`.sqlite_rows`), the
queries (:mod:`.sqlite_queries`), the writes (:mod:`.sqlite_writes`) and sync-status,
scans and merges (:mod:`.sqlite_sync`). The hot paths (append an event, status, recent)
use the standard library's ``sqlite3`` directly.
"""

from __future__ import annotations

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

from .sqlite_conn import BUSY_TIMEOUT_S
from .sqlite_sync import SQLiteSync

__all__ = ["BUSY_TIMEOUT_S", "SQLiteStore", "register_stores"]


class SQLiteStore(SQLiteSync):
    """An :class:`~claude_orchestrator.protocols.EventStore` in one SQLite file."""

    @classmethod
    def from_context(cls, context: PluginContext) -> SQLiteStore:
        timeout = context.options.get("busy_timeout", BUSY_TIMEOUT_S)
        return cls(context.store_path, busy_timeout=float(timeout))


@hookimpl(trylast=True)
def register_stores(register: Register) -> None:
    register("sqlite", SQLiteStore.from_context, description="SQLite file (embedded, no server)")
