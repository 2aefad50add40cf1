"""A transaction through the store proxy (:meth:`.store_proxy.ProxyPort.transaction`).

``begin`` opens the transaction in the daemon, on the port of this client's connection;
each primitive read and write is one request; ``commit`` or ``rollback`` ends it. The
daemon rolls it back when the connection closes, so a client that dies leaves nothing.

When the daemon dies, stops answering or cannot send a result (too large for a frame)
mid-transaction, its transaction is rolled back (the connection is closed: the daemon,
or its database server, sees it). The transaction then goes on *directly*: a direct
transaction is opened, every call the daemon answered is made again in it, and when
each gives the same result as before -- what the operation read is still true -- the
block continues there, none the wiser. When one differs (another writer came between,
or a write's store-given id or time differs), or a call had raised, nothing was stored
and StoreUnavailableError says so: the operation can run again. A daemon lost while
committing leaves the outcome unknown, as a dropped database connection does: that is
a StoreError (not "unavailable": a retry could store it twice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Concatenate, Never, ParamSpec, TypeVar, cast

from .errors import StoreError, StoreUnavailableError
from .protocols_store import BlockerRow, StoreTransaction
from .store_proxy_wire import ERR, OK, Reply, WireError

if TYPE_CHECKING:
    from .domain_rules import SyncedAction
    from .models import (
        Agent,
        Blocker,
        Conflict,
        Event,
        Feature,
        NewEvent,
        Notification,
        PullRequest,
        TestResult,
        TranscriptCursor,
        Usage,
    )
    from .store_proxy import Channel, ProxyPort

P = ParamSpec("P")
R = TypeVar("R")

REPLAY_FAILED = (
    "the store proxy stopped during a transaction and the store changed since it began "
    "(or a call in it had failed): nothing of it was stored; run the command again"
)
COMMIT_UNKNOWN = (
    "the store proxy stopped while committing a transaction: it may or may not have been "
    "stored (see `claude-orchestrator events recent`); the next command starts the proxy again"
)


class _Diverged(Exception):
    """A call made again directly gave another result."""


class ProxyTransaction(AbstractContextManager[StoreTransaction]):
    """One transaction: the daemon's, or the real port's once the daemon was lost."""

    def __init__(self, port: ProxyPort) -> None:
        self._port = port
        self._channel: Channel | None = None
        self._direct_cm: AbstractContextManager[StoreTransaction] | None = None
        self._direct: StoreTransaction | None = None
        #: the calls the daemon answered, with their results, for a replay
        self._answered: list[tuple[str, tuple[object, ...], dict[str, object], object]] = []
        self._raised = False

    def __enter__(self) -> StoreTransaction:
        port = self._port
        got = port.exchange(("begin",))
        if got is not None:
            reply, channel = got
            if reply.kind == ERR:
                port.give(channel)
                raise reply.error()
            self._channel = channel
            port.proxied_calls += 1
            return _Forwarding(self)
        port.direct_calls += 1
        self._direct_cm = port.direct.transaction()
        self._direct = self._direct_cm.__enter__()
        return self._direct

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        if self._direct_cm is not None:
            return self._direct_cm.__exit__(exc_type, exc, tb)
        channel, self._channel = self._channel, None
        if channel is None:  # lost, and going on directly failed: that error propagates
            return None
        if exc_type is not None:
            self._end(channel, ("rollback",))
            return None
        reply = self._end(channel, ("commit",))
        if reply is None:
            raise StoreError(COMMIT_UNKNOWN)
        if reply.kind == ERR:
            raise reply.error()
        return None

    def _end(self, channel: Channel, message: tuple[str]) -> Reply | None:
        try:
            reply = channel.ask(message)
        except WireError:
            return None
        if reply.kind in (OK, ERR):
            self._port.give(channel)
            return reply
        channel.close()
        return None

    def call(
        self, method: Callable[Concatenate[Never, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """The transaction's ``method`` (named by the protocol), by the daemon or, once
        it was lost, directly."""
        name = method.__name__
        if self._direct is None:
            reply = self._ask(name, args, kwargs)
            if reply is not None:
                if reply.kind == ERR:
                    self._raised = True
                    raise reply.error()
                self._answered.append((name, args, kwargs, reply.value))
                return cast("R", reply.value)
            self._go_direct()
        return cast("R", getattr(self._direct, name)(*args, **kwargs))

    def _ask(self, name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> Reply | None:
        channel = self._channel
        assert channel is not None, "a transaction used after it ended"
        try:
            reply = channel.ask(("tx", name, args, kwargs))
        except WireError:
            reply = None
        if reply is None or reply.kind not in (OK, ERR):
            channel.close()  # the daemon rolls its transaction back
            self._channel = None
            return None
        return reply

    def _go_direct(self) -> None:
        """Open a direct transaction and make the answered calls again in it."""
        if self._raised:
            raise StoreUnavailableError(REPLAY_FAILED)
        cm = self._port.direct.transaction()
        tx = cm.__enter__()
        try:
            for name, args, kwargs, result in self._answered:
                if getattr(tx, name)(*args, **kwargs) != result:
                    raise _Diverged(name)
        except BaseException as exc:
            cm.__exit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, _Diverged):
                raise StoreUnavailableError(REPLAY_FAILED) from None
            raise
        self._port.direct_calls += 1
        self._direct_cm, self._direct = cm, tx


class _Forwarding(StoreTransaction):
    """The :class:`~claude_orchestrator.protocols_store.StoreTransaction` whose calls go
    through a :class:`ProxyTransaction`."""

    def __init__(self, transaction: ProxyTransaction) -> None:
        self._tx = transaction

    # -- reads -----------------------------------------------------------------------
    def feature(self, spec_id: str) -> Feature | None:
        return self._tx.call(StoreTransaction.feature, spec_id)

    def agents(self, spec_id: str) -> list[Agent]:
        return self._tx.call(StoreTransaction.agents, spec_id)

    def conflict(self, conflict_id: int) -> Conflict | None:
        return self._tx.call(StoreTransaction.conflict, conflict_id)

    def open_conflicts(self, spec_id: str) -> list[Conflict]:
        return self._tx.call(StoreTransaction.open_conflicts, spec_id)

    def blocker(self, blocker_id: int) -> BlockerRow | None:
        return self._tx.call(StoreTransaction.blocker, blocker_id)

    def active_blockers(self, spec_id: str, role: str) -> list[Blocker]:
        return self._tx.call(StoreTransaction.active_blockers, spec_id, role)

    def pull_request(self, pr_id: int) -> PullRequest | None:
        return self._tx.call(StoreTransaction.pull_request, pr_id)

    def events(
        self,
        spec_id: str,
        *,
        role: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        return self._tx.call(
            StoreTransaction.events, spec_id, role=role, task_id=task_id, types=types
        )

    def synced_commit(self, spec_id: str, branch: str, patch_id: str) -> str | None:
        return self._tx.call(StoreTransaction.synced_commit, spec_id, branch, patch_id)

    def synced_actions(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] | None = None,
        task_id: str | None = None,
    ) -> list[SyncedAction]:
        return self._tx.call(
            StoreTransaction.synced_actions, spec_id, branch, patch_ids=patch_ids, task_id=task_id
        )

    def delivery_cursor(self, consumer: str) -> int | None:
        return self._tx.call(StoreTransaction.delivery_cursor, consumer)

    def notification(self, notification_id: int) -> Notification | None:
        return self._tx.call(StoreTransaction.notification, notification_id)

    def notifications(
        self,
        *,
        states: Sequence[str],
        channel: str | None = None,
        subject: str | None = None,
        due_before: float | None = None,
        sent_since: float | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        return self._tx.call(
            StoreTransaction.notifications, states=states, channel=channel, subject=subject,
            due_before=due_before, sent_since=sent_since, limit=limit,
        )  # fmt: skip

    def notify_state(self, scope: str, key: str) -> str | None:
        return self._tx.call(StoreTransaction.notify_state, scope, key)

    def usage(self, spec_id: str | None = None, *, since: str | None = None) -> list[Usage]:
        return self._tx.call(StoreTransaction.usage, spec_id, since=since)

    def transcript_cursor(self, path: str) -> TranscriptCursor | None:
        return self._tx.call(StoreTransaction.transcript_cursor, path)

    # -- writes ----------------------------------------------------------------------
    def insert_feature(self, feature: Feature) -> Feature:
        return self._tx.call(StoreTransaction.insert_feature, feature)

    def update_feature(self, feature: Feature) -> None:
        self._tx.call(StoreTransaction.update_feature, feature)

    def insert_agent(self, agent: Agent) -> Agent:
        return self._tx.call(StoreTransaction.insert_agent, agent)

    def update_agent(self, agent: Agent) -> None:
        self._tx.call(StoreTransaction.update_agent, agent)

    def insert_conflict(self, conflict: Conflict) -> Conflict:
        return self._tx.call(StoreTransaction.insert_conflict, conflict)

    def update_conflict(self, conflict: Conflict) -> None:
        self._tx.call(StoreTransaction.update_conflict, conflict)

    def insert_blocker(self, blocker: Blocker, task_id: str | None) -> Blocker:
        return self._tx.call(StoreTransaction.insert_blocker, blocker, task_id)

    def update_blocker(self, blocker: Blocker) -> None:
        self._tx.call(StoreTransaction.update_blocker, blocker)

    def insert_test_result(self, result: TestResult) -> TestResult:
        return self._tx.call(StoreTransaction.insert_test_result, result)

    def insert_pull_request(self, pull_request: PullRequest) -> PullRequest:
        return self._tx.call(StoreTransaction.insert_pull_request, pull_request)

    def update_pull_request(self, pull_request: PullRequest) -> None:
        self._tx.call(StoreTransaction.update_pull_request, pull_request)

    def append(self, event: NewEvent) -> Event:
        return self._tx.call(StoreTransaction.append, event)

    def put_sync_cursor(self, spec_id: str, branch: str, commit: str) -> None:
        self._tx.call(StoreTransaction.put_sync_cursor, spec_id, branch, commit)

    def put_synced_commit(self, spec_id: str, branch: str, patch_id: str, commit: str) -> None:
        self._tx.call(StoreTransaction.put_synced_commit, spec_id, branch, patch_id, commit)

    def put_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self._tx.call(StoreTransaction.put_synced_action, spec_id, branch, action)

    def delete_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self._tx.call(StoreTransaction.delete_synced_action, spec_id, branch, action)

    def put_delivery_cursor(self, consumer: str, event_id: int) -> None:
        self._tx.call(StoreTransaction.put_delivery_cursor, consumer, event_id)

    def insert_notification(self, notification: Notification) -> Notification | None:
        return self._tx.call(StoreTransaction.insert_notification, notification)

    def update_notification(self, notification: Notification) -> None:
        self._tx.call(StoreTransaction.update_notification, notification)

    def delete_notifications(self, *, states: Sequence[str], before: float) -> int:
        return self._tx.call(StoreTransaction.delete_notifications, states=states, before=before)

    def put_notify_state(self, scope: str, key: str, value: str | None) -> None:
        self._tx.call(StoreTransaction.put_notify_state, scope, key, value)

    def insert_usage(self, records: Sequence[Usage]) -> int:
        return self._tx.call(StoreTransaction.insert_usage, list(records))

    def put_transcript_cursor(self, cursor: TranscriptCursor) -> None:
        self._tx.call(StoreTransaction.put_transcript_cursor, cursor)
