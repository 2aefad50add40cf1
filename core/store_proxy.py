"""A per-machine store proxy: hook processes use a warm store port over a unix socket.

A server store costs every process that opens it: psycopg's import (~120-150 ms here)
and a TCP + SCRAM (+ TLS) handshake. Git hooks and the guard start a process per commit
and per tool call, so for a store that says so the library does not open the store in
the process: :func:`maybe_proxy` returns a :class:`ProxyPort`, an
:class:`~claude_orchestrator.protocols_store.EventStore` that sends each call to a daemon
(:mod:`.store_proxy_daemon`), one per machine and store, which holds the real port --
built through the plugin registry by name, as :class:`~claude_orchestrator.wiring.Wiring`
builds it -- and its connections warm. :class:`~claude_orchestrator.store_service.Store`
runs in the client over the proxy unchanged. The client imports ``socket``, ``struct``
and ``pickle`` (the wire: :mod:`.store_proxy_wire`), never the store's driver.

- **Where**: ``<base>/store-proxy/<key>.sock``, the base being the user's own
  directory (:func:`~claude_orchestrator.location.user_cache_dir`), never the git
  directory: code an implementor runs can write that one, and a socket planted there
  would answer the overseer's queries, or hold the guard past its hook timeout. The key
  digests the repository and the store's identity
  (:func:`~.store_proxy_spawn.proxy_key`), so a new version, store or setting means a
  new daemon.
- **Start**: when nothing answers, the client starts the daemon detached and does *this*
  call directly through the real port, which it built anyway (the first call costs the
  spawn, no wait); one daemon per key (an ``flock``), started once when many race.
- **Transactions**: ``transaction()`` is one transaction in the daemon, on a port of
  its own for this connection; the daemon rolls it back when the client raises, closes
  the socket or dies. Errors of the port or of the store's rules (every
  :class:`~claude_orchestrator.errors.OrchestratorError`) are raised here with their
  type and message.
- **Faults**: a daemon that is killed, stops or refuses: a call does it directly, a
  transaction goes on directly after replaying what it read (:mod:`.store_proxy_tx`);
  the next call starts a new daemon.
- **Which stores** (:mod:`.store_proxy_choice`, which decides without importing this
  module): a port with ``proxied = True`` (the postgres store), unless
  ``plugins.options.<store>.proxy: false``; ``proxy: true`` proxies any store (the
  sqlite store is not by default: nothing to keep warm).
  ``CLAUDE_ORCHESTRATOR_NO_STORE_PROXY=1`` turns the proxy off. Linux only (the peer
  check is ``SO_PEERCRED``). Options: ``proxy_idle`` (seconds without a request before
  the daemon exits, default 300) and ``proxy_timeout`` (seconds a call may take, 120).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, Never, ParamSpec, TypeVar, cast

from . import __version__
from .protocols_store import EventStore, StoreFeed, StoreSummaries
from .store_proxy_choice import ENV_DISABLE, ProxyOptions, maybe_proxy
from .store_proxy_spawn import DaemonSpec, paths, proxy_key, reap, spawn
from .store_proxy_tx import ProxyTransaction
from .store_proxy_wire import (
    ERR,
    OK,
    Channel,
    DaemonState,
    FrameTooLarge,
    Reply,
    WireError,
    connect,
    proxy_dir,
)

if TYPE_CHECKING:
    from .models import (
        Agent,
        AgentStatus,
        Blocker,
        Conflict,
        Event,
        Feature,
        PullRequest,
        StoreInfo,
        TaskState,
        TestResult,
    )
    from .protocols import PluginContext
    from .protocols_store import EventSubscription, StoreTransaction

__all__ = ["ENV_DISABLE", "Channel", "DaemonState", "ProxyPort", "maybe_proxy"]

P = ParamSpec("P")
R = TypeVar("R")
CONNECT_TIMEOUT_S = 1.0


def over(
    port: EventStore,
    name: str,
    context: PluginContext,
    base: Path,
    env: Mapping[str, str],
    settings: ProxyOptions,
) -> EventStore:
    """A :class:`ProxyPort` over ``port`` (:func:`~.store_proxy_choice.maybe_proxy`
    decided it is proxied), or ``port`` itself when ``<base>/store-proxy`` cannot be
    the user's own 0700 directory."""
    directory = proxy_dir(base)
    if directory is None:
        return port
    key = proxy_key(name, port, context)
    # the daemon's environment is ``env`` (what a factory reads of ``context.env``)
    daemon_context = context._replace(services=None, env=None)
    spec = DaemonSpec(key, name, __version__, str(directory), daemon_context, settings.idle_s)
    return proxy_class(port)(port, spec, env, settings.timeout_s)


class ProxyPort:
    """An :class:`~claude_orchestrator.protocols_store.EventStore` whose calls the
    store's daemon runs; each one is done directly through ``direct`` (the real port)
    when no daemon can."""

    def __init__(
        self, direct: EventStore, spec: DaemonSpec, env: Mapping[str, str], timeout_s: float
    ) -> None:
        self.direct = direct
        self.spec = spec
        self.timeout_s = timeout_s
        self._env = env
        self._directory = Path(spec.directory)
        self._socket_name = paths(self._directory, spec.key)[0].name
        self._idle: list[Channel] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        #: calls the daemon ran, and calls done directly (no daemon, or it failed)
        self.proxied_calls = 0
        self.direct_calls = 0

    # -- channels --------------------------------------------------------------------
    def take(self) -> tuple[Channel | None, bool]:
        """A channel (an idle one first) and whether it was idle; (None, False) when no
        daemon answers: then one is started."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop(), True
        try:
            sock, pid = connect(self._directory, self._socket_name, CONNECT_TIMEOUT_S)
        except WireError:  # another user's socket: never start one beside it
            return None, False
        except OSError:
            spawn(self.spec, self._env)
            return None, False
        sock.settimeout(self.timeout_s)
        return Channel(sock, pid, self.spec.key), False

    def give(self, channel: Channel) -> None:
        with self._lock:
            self._idle.append(channel)

    def exchange(self, message: tuple[object, ...]) -> tuple[Reply, Channel] | None:
        """The daemon's ``ok`` or ``err`` reply and the channel it came on (the caller
        gives it back), or None: do it directly."""
        while True:
            channel, was_idle = self.take()
            if channel is None:
                return None
            try:
                reply = channel.ask(message)
            except FrameTooLarge:
                self.give(channel)
                return None
            except WireError:
                if was_idle:  # the daemon may have closed it (idle exit): once more
                    continue
                return None
            if reply.kind in (OK, ERR):
                return reply, channel
            channel.close()
            return None

    def request(self, message: tuple[object, ...]) -> Reply | None:
        """The daemon's ``ok`` or ``err`` reply, or None: do it directly."""
        got = self.exchange(message)
        if got is None:
            return None
        self.give(got[1])
        return got[0]

    def call(
        self, method: Callable[Concatenate[Never, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """``method`` (a port method, named by the protocol) run by the daemon, or by
        the real port when it cannot."""
        name = method.__name__
        reply = self.request(("call", name, args, kwargs))
        if reply is None:
            self.direct_calls += 1
            return cast("R", getattr(self.direct, name)(*args, **kwargs))
        self.proxied_calls += 1
        if reply.kind == ERR:
            raise reply.error()
        return cast("R", reply.value)

    def daemon(self) -> DaemonState | None:
        """The daemon serving this store, or None (one is then started)."""
        reply = self.request(("ping",))
        state = None if reply is None else reply.value
        return state if isinstance(state, DaemonState) else None

    # -- lifecycle -------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.direct.location

    def exists(self) -> bool:
        return self.call(EventStore.exists)

    def initialize(self) -> StoreInfo:
        return self.call(EventStore.initialize)

    def info(self) -> StoreInfo:
        return self.call(EventStore.info)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for channel in idle:
            channel.close()
        self.direct.close()
        reap()

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        return ProxyTransaction(self)

    # -- queries ---------------------------------------------------------------------
    def get_feature(self, spec_id: str) -> Feature | None:
        return self.call(EventStore.get_feature, spec_id)

    def list_features(self) -> list[Feature]:
        return self.call(EventStore.list_features)

    def list_agents(self, spec_id: str) -> list[Agent]:
        return self.call(EventStore.list_agents, spec_id)

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        return self.call(EventStore.recent_events, limit, spec_id)

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        return self.call(EventStore.events_after, spec_id, after_id, limit)

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        return self.call(EventStore.events_since, after_id, limit)

    def delivery_cursor(self, consumer: str) -> int | None:
        return self.call(EventStore.delivery_cursor, consumer)

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        return self.call(EventStore.list_conflicts, spec_id, include_resolved)

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        return self.call(EventStore.list_blockers, spec_id, include_resolved)

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        return self.call(EventStore.list_test_results, spec_id, limit)

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        return self.call(EventStore.list_pull_requests, spec_id)

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        return self.call(EventStore.get_pull_request, pr_id)

    def sync_cursor(self, branch: str) -> str | None:
        return self.call(EventStore.sync_cursor, branch)

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        return self.call(EventStore.known_patch_ids, spec_id, branch, patch_ids)

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        return self.call(
            EventStore.synced_changes, spec_id, branch, patch_ids=patch_ids, commits=commits
        )


class _Summaries(ProxyPort):
    """The proxy of a port that keeps the summaries (:class:`StoreSummaries`)."""

    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        return self.call(StoreSummaries.feature_status, spec_id)

    def task_states(self, spec_id: str) -> list[TaskState]:
        return self.call(StoreSummaries.task_states, spec_id)


class _Feed(ProxyPort):
    """A port with a live feed: a subscription is long-lived and off the hook path, so
    it is the real port's own."""

    def subscribe(self, after_id: int = 0, limit: int = 1000) -> EventSubscription:
        return cast("StoreFeed", self.direct).subscribe(after_id, limit)


class _SummariesFeed(_Summaries, _Feed):
    pass


def proxy_class(port: EventStore) -> type[ProxyPort]:
    """The proxy class with the optional parts ``port`` has (the library checks them
    with ``isinstance``)."""
    summaries, feed = isinstance(port, StoreSummaries), isinstance(port, StoreFeed)
    return {(False, False): ProxyPort, (True, False): _Summaries,
            (False, True): _Feed, (True, True): _SummariesFeed}[summaries, feed]  # fmt: skip


if __name__ == "__main__":  # python -P -m claude_orchestrator.store_proxy: the daemon
    from claude_orchestrator.store_proxy_daemon import main

    raise SystemExit(main(sys.argv[1:]))
