"""A third-party claude-orchestrator plugin: an event store that keeps everything in memory.

It is only the persistence port (:class:`claude_orchestrator.protocols_store.EventStore`):
it holds records in Python structures, gives transactions (one lock; a transaction that
raises leaves nothing behind) and answers the queries. Every operation -- what an event
says, a task's state, the blocked agent, which tasks a merge merges, how a scan
reconciles, what a synced commit logs, the status summary -- is the library's
(:class:`claude_orchestrator.store_service.Store`), the same as for the built-in SQLite
store, so both log the same events. Choose it in orchestrator.yaml::

    plugins:
      store: memory

Nothing persists: the records live as long as the process. Within a process, every
``Orchestrator`` whose store path is the same (each worktree of one repository) gets
the same store, so use it from the library -- tests, notebooks; each CLI call, a
process of its own, would start empty.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator, Sequence

from claude_orchestrator import hookimpl
from claude_orchestrator.errors import NotInitializedError
from claude_orchestrator.models import (
    Agent,
    Blocker,
    Conflict,
    Event,
    Feature,
    PullRequest,
    StoreInfo,
    TestResult,
)
from claude_orchestrator.protocols import PluginContext, Register

from .tables import MemoryTransaction, Tables

__version__ = "1.0.0"
__all__ = ["MemoryStore", "register_stores"]
SCHEMA_VERSION = 1


class MemoryStore:
    """The :class:`~claude_orchestrator.protocols_store.EventStore` port in this
    process's memory."""

    def __init__(self, location: str = "memory") -> None:
        self.location = location
        self._tables: Tables | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_context(cls, context: PluginContext) -> MemoryStore:
        """The process's store for this store path (one per repository); the library
        wraps the port in its :class:`~claude_orchestrator.store_service.Store`."""
        location = f"memory:{context.store_path}"
        with _SHARED_LOCK:
            return _SHARED.setdefault(location, cls(location))

    # -- lifecycle -------------------------------------------------------------------
    def exists(self) -> bool:
        return self._tables is not None

    def initialize(self) -> StoreInfo:
        with self._lock:
            created = self._tables is None
            if created:
                self._tables = Tables()
            return self.info()._replace(created=created)

    def info(self) -> StoreInfo:
        with self._read() as t:
            counts = {
                "features": len(t.features),
                "agents": sum(len(a) for a in t.agents.values()),
                "task_events": len(t.events),
                "pull_requests": len(t.pull_requests),
                "conflicts": len(t.conflicts),
                "test_results": len(t.tests),
                "blockers": len(t.blockers),
                "usage": len(t.usage),
            }
        return StoreInfo(self.location, SCHEMA_VERSION, written_by=__name__, counts=counts)

    def close(self) -> None:
        """Nothing to release: the records stay until the object is gone."""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[MemoryTransaction]:
        with self._read() as tables:
            snapshot = copy.deepcopy(tables)
            try:
                yield MemoryTransaction(tables)
            except BaseException:
                self._tables = snapshot
                raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[Tables]:
        with self._lock:
            if self._tables is None:
                raise NotInitializedError(
                    f"Event store not initialized: {self.location} does not exist. "
                    "Run: claude-orchestrator events init"
                )
            yield self._tables

    # -- queries ---------------------------------------------------------------------
    def get_feature(self, spec_id: str) -> Feature | None:
        with self._read() as t:
            return MemoryTransaction(t).feature(spec_id)

    def list_features(self) -> list[Feature]:
        with self._read() as t:
            return [t.features[s] for s in sorted(t.features)]

    def list_agents(self, spec_id: str) -> list[Agent]:
        with self._read() as t:
            return MemoryTransaction(t).agents(spec_id)

    def _events(self, spec_id: str | None, after_id: int, limit: int, newest: bool) -> list[Event]:
        with self._read() as t:
            mine = [e for e in t.events if spec_id in (None, e.spec_id) and e.id > after_id]
            return (mine[::-1] if newest else mine)[: max(limit, 0)]

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        return self._events(spec_id, 0, limit, newest=True)

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        return self._events(spec_id, after_id, limit, newest=False)

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        return self._events(None, after_id, limit, newest=False)

    def delivery_cursor(self, consumer: str) -> int | None:
        with self._read() as t:
            return t.delivery.get(consumer)

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        with self._read() as t:
            return [c for _, c in sorted(t.conflicts.items()) if spec_id in (None, c.spec_id)
                    and (include_resolved or not c.resolved)]  # fmt: skip

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        with self._read() as t:
            return [b for _, (b, _) in sorted(t.blockers.items()) if spec_id in (None, b.spec_id)
                    and (include_resolved or b.status == "active")]  # fmt: skip

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        with self._read() as t:
            mine = [r for r in t.tests if spec_id in (None, r.spec_id)]
            return mine[::-1][: max(limit, 0)]

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        with self._read() as t:
            return [p for _, p in sorted(t.pull_requests.items()) if spec_id in (None, p.spec_id)]

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        with self._read() as t:
            return t.pull_requests.get(pr_id)

    def sync_cursor(self, branch: str) -> str | None:
        with self._read() as t:
            return t.cursors.get(branch)

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        with self._read() as t:
            return {p for p in patch_ids if (spec_id, branch, p) in t.synced}

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        wanted, by_commit = set(patch_ids), set(commits)
        with self._read() as t:
            return sorted(
                (patch, commit) for (spec, on, patch), commit in t.synced.items()
                if (spec, on) == (spec_id, branch) and (patch in wanted or commit in by_commit)
            )  # fmt: skip


_SHARED: dict[str, MemoryStore] = {}
_SHARED_LOCK = threading.Lock()


@hookimpl
def register_stores(register: Register) -> None:
    register("memory", MemoryStore.from_context, description="in memory (one process, not kept)")
