"""What a store proxy daemon runs: the store plugin's ports, built by name through the
plugin registry with the client's context (as :class:`~claude_orchestrator.wiring.Wiring`
builds them), and which of their methods a client may call."""

from __future__ import annotations

import os
import threading

from .errors import PluginError
from .protocols_store import EventStore, StoreQueries, StoreSummaries, StoreTransaction
from .store_proxy_spawn import DaemonSpec

#: idle ports kept for the next connections (the others are closed)
MAX_IDLE_PORTS = 4


def _public(protocol: type) -> frozenset[str]:
    return frozenset(name for name in vars(protocol) if not name.startswith("_"))


#: what a client may call: outside a transaction, with summaries, in one
QUERIES = _public(StoreQueries) | {"exists", "initialize", "info"}
SUMMARIES = _public(StoreSummaries)
TX_CALLS = _public(StoreTransaction)


class Ports:
    """The store plugin's ports, built by name through the plugin registry."""

    def __init__(self, spec: DaemonSpec) -> None:
        from .manager import PluginRegistry

        self._impl = PluginRegistry(env=os.environ).get("store", spec.name)
        self._context = spec.context
        self._idle: list[EventStore] = []
        self._lock = threading.Lock()

    def build(self) -> EventStore:
        built = self._impl.factory(self._context)
        if not isinstance(built, EventStore):
            raise PluginError(f"store plugin {self._impl.name!r} built no event store")
        return built

    def take(self) -> EventStore:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self.build()

    def give(self, port: EventStore) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE_PORTS:
                self._idle.append(port)
                return
        port.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for port in idle:
            port.close()
