"""A third-party claude-orchestrator plugin: an event store that keeps everything in memory.

It proves the store port: it holds its records in Python structures (one lock makes it
safe to share between threads) and leaves every decision -- what an event says, a
task's state, the blocked agent, which tasks a merge merges, how a scan reconciles, what
a synced commit logs -- to the domain layer the built-in SQLite store uses too
(:mod:`claude_orchestrator.domain`, :mod:`claude_orchestrator.domain_rules`), so the two
log the same events for the same operations. Choose it in orchestrator.yaml::

    plugins:
      store: memory

Nothing persists: the records live as long as the process. Within a process, every
``Orchestrator`` whose store path is the same (each worktree of one repository) gets
the same store, so use it from the library -- tests, notebooks; each CLI call, a
process of its own, would start empty.
"""

from __future__ import annotations

import threading

from claude_orchestrator import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

from .sync import Sync

__version__ = "1.0.0"
__all__ = ["MemoryStore", "register_stores"]


class MemoryStore(Sync):
    """An :class:`~claude_orchestrator.protocols.EventStore` in this process's memory."""

    @classmethod
    def from_context(cls, context: PluginContext) -> MemoryStore:
        """The process's store for this store path (one per repository)."""
        location = f"memory:{context.store_path}"
        with _SHARED_LOCK:
            return _SHARED.setdefault(location, cls(location))


_SHARED: dict[str, MemoryStore] = {}
_SHARED_LOCK = threading.Lock()


@hookimpl
def register_stores(register: Register) -> None:
    register("memory", MemoryStore.from_context, description="in memory (one process, not kept)")
