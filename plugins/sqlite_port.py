"""The ``sqlite`` store's port: :class:`SQLitePort`, assembled from one module per
concern (see :mod:`.sqlite_store`), and :class:`SQLiteStore`, the library's ``Store``
over one file, for code that opens a store by its path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.store_service import Store

from .sqlite_conn import BUSY_TIMEOUT_S
from .sqlite_queries import SQLiteQueries
from .sqlite_tx import SQLiteTransaction

__all__ = ["BUSY_TIMEOUT_S", "SQLitePort", "SQLiteStore"]


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
