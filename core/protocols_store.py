"""The event store's persistence port: what a store plugin implements.

A store persists and queries; it does not decide. Every operation that changes state --
add a feature, open a blocker, record a sync, reconcile a scan, merge a pull request --
is :class:`claude_orchestrator.store_service.Store`'s: plain Python over this port that
applies the rules of :mod:`claude_orchestrator.domain_rules` and words every event with
:mod:`claude_orchestrator.domain`, so every store behaves the same. A store offers:

- the **lifecycle**: ``location``, :meth:`~EventStore.exists`,
  :meth:`~EventStore.initialize`, :meth:`~EventStore.info`, :meth:`~EventStore.close`;
- **transactions**: :meth:`~EventStore.transaction` gives a :class:`StoreTransaction`
  whose primitive reads and writes are committed together or not at all, one
  transaction at a time across every process and thread using the store;
- the **queries** (:class:`StoreQueries`), which read committed records;
- optionally the **summaries** (:class:`StoreSummaries`): a store that keeps them
  (the built-in ``sqlite`` store's ``task_state`` table and ``v_feature_status`` view)
  answers ``status`` without reading every event; for one that does not, the
  :class:`~claude_orchestrator.store_service.Store` derives them from the queries.

Records are the models of :mod:`claude_orchestrator.models`, named by spec id and role;
how a store keys them (the built-in store's integer ``feature_id``) is its own
business. Ids are assigned by the store, increasing from 1 per kind of record, and
never reused (the notification queue's too, whose records are deleted). Timestamps are
UTC strings ``YYYY-MM-DDTHH:MM:SS.sssZ``, except the notification queue's: Unix seconds
(floats) that the caller gives, read back as written.

Errors: a store raises :class:`~claude_orchestrator.errors.NotInitializedError` for any
use before :meth:`~EventStore.initialize` created it, and
:class:`~claude_orchestrator.errors.StoreError` (one line that names the fix) when it
cannot be read or written (busy, read-only, corrupt, a newer schema). A write that names
a feature or an agent the store does not have raises the domain's
:func:`~claude_orchestrator.domain.feature_not_found` or
:func:`~claude_orchestrator.domain.agent_not_found`.

Run :class:`claude_orchestrator.testing.StoreContract` against an implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .domain_rules import SyncedAction
    from .models import (
        Agent,
        AgentStatus,
        Blocker,
        Conflict,
        Event,
        Feature,
        NewEvent,
        Notification,
        PullRequest,
        StoreInfo,
        TaskState,
        TestResult,
        TranscriptCursor,
        Usage,
    )


class BlockerRow(NamedTuple):
    """A blocker as a transaction reads it: with the task it blocks (not in the model)."""

    blocker: Blocker
    task_id: str | None


# ------------------------------------------------------------------------ transaction
class StoreTransaction(Protocol):
    """The primitive reads and writes of one transaction.

    Reads see the transaction's own writes. Nothing is visible to others until the
    transaction commits, and if it does not (the block raised) nothing of it remains.
    ``insert_*`` methods ignore the record's ``id`` and creation time (``created_at``,
    ``detected_at``; a notification keeps its ``created_at``) and return the record with
    the ones the store assigned (``insert_usage``: how many it wrote);
    ``update_*`` methods write every field of the record with that ``id`` except its
    names (spec id, role) and its creation time.
    """

    # -- reads -----------------------------------------------------------------------
    def feature(self, spec_id: str) -> Feature | None:
        """The feature, or None."""

    def agents(self, spec_id: str) -> list[Agent]:
        """The feature's agents, overseer first, then by role (none for no feature)."""

    def conflict(self, conflict_id: int) -> Conflict | None:
        """The conflict, resolved or not, or None."""

    def open_conflicts(self, spec_id: str) -> list[Conflict]:
        """The feature's unresolved conflicts, oldest first."""

    def blocker(self, blocker_id: int) -> BlockerRow | None:
        """The blocker and the task it blocks, or None."""

    def active_blockers(self, spec_id: str, role: str) -> list[Blocker]:
        """The agent's active (unresolved) blockers, oldest first."""

    def pull_request(self, pr_id: int) -> PullRequest | None:
        """The pull request, or None."""

    def events(
        self,
        spec_id: str,
        *,
        role: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        """The feature's events, oldest first; only the agent's (``role``), the task's
        (``task_id``) and those of these event ``types``, for each that is given."""

    def synced_commit(self, spec_id: str, branch: str, patch_id: str) -> str | None:
        """The latest commit of a change (patch id) synced on the branch, or None."""

    def synced_actions(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] | None = None,
        task_id: str | None = None,
    ) -> list[SyncedAction]:
        """What the branch's synced changes said (only these changes', this task's,
        for each that is given), in the order first recorded; ``commit`` is the
        change's latest commit, None when the change itself is not recorded."""

    def delivery_cursor(self, consumer: str) -> int | None:
        """The consumer's delivery cursor, or None."""

    # -- writes ----------------------------------------------------------------------
    def insert_feature(self, feature: Feature) -> Feature:
        """Add a feature (its spec id is not in the store: the caller checked)."""

    def update_feature(self, feature: Feature) -> None:
        """Write the feature's name, status and ``completed_at``."""

    def insert_agent(self, agent: Agent) -> Agent:
        """Add an agent to its feature (its role is not there yet: the caller checked)."""

    def update_agent(self, agent: Agent) -> None:
        """Write the agent's status."""

    def insert_conflict(self, conflict: Conflict) -> Conflict:
        """Record a conflict (``other_role`` None: no other agent)."""

    def update_conflict(self, conflict: Conflict) -> None:
        """Write ``resolved``, ``resolution_notes`` and ``resolved_at``."""

    def insert_blocker(self, blocker: Blocker, task_id: str | None) -> Blocker:
        """Open a blocker of the task (``blocking_role`` None: no agent blocks it)."""

    def update_blocker(self, blocker: Blocker) -> None:
        """Write ``status``, ``resolution_notes`` and ``resolved_at``."""

    def insert_test_result(self, result: TestResult) -> TestResult:
        """Record a test run."""

    def insert_pull_request(self, pull_request: PullRequest) -> PullRequest:
        """Record a pull request."""

    def update_pull_request(self, pull_request: PullRequest) -> None:
        """Write ``status`` and ``merged_at``."""

    def append(self, event: NewEvent) -> Event:
        """Append an event for the agent it names and return it with the ``id`` (larger
        than every id before it) and ``created_at`` the store gave it. Events are never
        changed or removed: a store refuses to update or delete them, even by hand
        where it can (the built-in store's triggers)."""

    def put_sync_cursor(self, spec_id: str, branch: str, commit: str) -> None:
        """Set where sync-status stopped on the branch."""

    def put_synced_commit(self, spec_id: str, branch: str, patch_id: str, commit: str) -> None:
        """Record a change synced on the branch, or set its latest commit."""

    def put_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        """Record what a synced change said about a task (key: branch, patch id, task
        id, action), or set the ``event_id`` of that record, which keeps its place in
        the order; ``action.commit`` is not stored here."""

    def delete_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        """Forget what a synced change said (by its key; nothing if not recorded)."""

    def put_delivery_cursor(self, consumer: str, event_id: int) -> None:
        """Set the consumer's delivery cursor."""

    # -- the notification queue (:mod:`claude_orchestrator.notify_queue`) -------------
    def notification(self, notification_id: int) -> Notification | None:
        """The queued (or sent, dead, ...) notification, or None."""

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
        """Notifications in one of ``states``, ordered by ``due_at`` then id; only the
        channel's, the subject's, those due at or before ``due_before`` and those sent at
        or after ``sent_since``, for each that is given; at most ``limit``."""

    def insert_notification(self, notification: Notification) -> Notification | None:
        """Queue a notification (its ``id`` is ignored): the stored record, or None when
        a notification with its ``key`` exists already (nothing is written)."""

    def update_notification(self, notification: Notification) -> None:
        """Write the notification's mutable fields by id: ``payload``, ``state``,
        ``attempts``, ``due_at``, ``lease_owner``, ``lease_until``, ``sent_at``,
        ``last_error``, ``last_status`` (its channel, key, kind, spec, subject, severity
        and creation time never change)."""

    def delete_notifications(self, *, states: Sequence[str], before: float) -> int:
        """Delete the notifications in one of ``states`` created before ``before``;
        how many were deleted (the queue's retention)."""

    def notify_state(self, scope: str, key: str) -> str | None:
        """A value the notification pipeline keeps (what a subject last notified, a
        channel's ``Retry-After``), or None."""

    def put_notify_state(self, scope: str, key: str, value: str | None) -> None:
        """Set (``None``: delete) a value of the notification pipeline."""

    # -- token usage (:mod:`claude_orchestrator.metrics`) -------------------------------
    def insert_usage(self, records: Sequence[Usage]) -> int:
        """Keep these replies' usage (their ``id`` and ``created_at`` are ignored); a
        record whose ``key`` the store has already, or that an earlier record of the same
        call has, is left out (and uses up no id). How many were written. A record naming
        a feature or an agent the store does not have raises the domain's not-found error
        (``spec_id`` and ``role`` are both None, or both name an agent), a token count or
        line outside 0 to 2**63 - 1 a ValidationError; nothing of the call is written
        (the transaction rolls back). Usage is history: it is never changed or removed."""

    def usage(self, spec_id: str | None = None, *, since: str | None = None) -> list[Usage]:
        """The usage records (of the feature, if given; ``spec_id`` None: every record,
        with or without a feature), those whose ``at`` is at or after ``since`` if given,
        ordered by ``at`` then id (``at`` compared as text, as the transcript wrote it)."""

    def transcript_cursor(self, path: str) -> TranscriptCursor | None:
        """Where ingest stopped reading the transcript at ``path``, or None."""

    def put_transcript_cursor(self, cursor: TranscriptCursor) -> None:
        """Set where ingest stopped reading ``cursor.path`` (device and inode: any of
        0 to 2**64 - 1, as ``os.stat`` gives them)."""


# ---------------------------------------------------------------------------- queries
@runtime_checkable
class StoreQueries(Protocol):
    """Reads of committed records (each raises NotInitializedError before
    ``initialize``)."""

    def get_feature(self, spec_id: str) -> Feature | None:
        """The feature, or None."""

    def list_features(self) -> list[Feature]:
        """Every feature, ordered by spec id."""

    def list_agents(self, spec_id: str) -> list[Agent]:
        """A feature's agents, overseer first, then by role (none for an unknown feature)."""

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        """The newest ``limit`` events (of the feature, if given), newest first."""

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """At most ``limit`` events of a feature with ``id > after_id``, oldest first."""

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """The events of every feature with ``id > after_id``, oldest first (ids only
        increase, so this is commit order), at most ``limit`` of them (none for a
        ``limit`` below 1). Guard decisions and custom events are included: this is
        the outbox that notifiers delivering elsewhere read."""

    def delivery_cursor(self, consumer: str) -> int | None:
        """The id of the last event delivered to ``consumer``, or None if its cursor
        never moved."""

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        """Open conflicts (all, with ``include_resolved``), oldest first."""

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        """Active blockers (all, with ``include_resolved``), oldest first."""

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        """The newest ``limit`` test results, newest first."""

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        """Pull requests, oldest first."""

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        """The pull request, or None."""

    def sync_cursor(self, branch: str) -> str | None:
        """The commit the branch's last successful sync stopped at, or None."""

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        """Which of these patch ids were synced on the branch already."""

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        """(patch id, latest commit) of the changes synced on the branch whose patch id
        or latest commit is one of these, ordered by patch id."""


@runtime_checkable
class StoreSummaries(Protocol):
    """Summaries a store keeps current itself (optional). They must equal what
    :func:`~claude_orchestrator.domain_rules.task_states` and
    :func:`~claude_orchestrator.domain_rules.summary` derive from the store's records
    (the contract suite checks it on generated operations)."""

    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        """One row per agent (one without an agent for a feature that has none), by
        spec id, then overseer first, then role."""

    def task_states(self, spec_id: str) -> list[TaskState]:
        """The state of every task that has state events, ordered by task id."""


# ------------------------------------------------------------------------------- feed
class EventSubscription(Protocol):
    """A live feed of committed events, from a cursor on (:meth:`StoreFeed.subscribe`)."""

    def wait(self, timeout: float) -> list[Event]:
        """The events committed after the last one this subscription returned (after
        ``after_id`` at first), oldest first, at most ``limit`` of them; when there are
        none yet, waits up to ``timeout`` seconds for one, then returns ``[]``."""

    def close(self) -> None:
        """Stop listening and release what the subscription holds; idempotent."""


@runtime_checkable
class StoreFeed(Protocol):
    """A store that pushes commits to subscribers (optional; the built-in ``postgres``
    store: ``LISTEN``/``NOTIFY``). For one that does not,
    :func:`claude_orchestrator.feed.subscribe` polls :meth:`StoreQueries.events_since`
    by cursor behind the same :class:`EventSubscription` interface."""

    def subscribe(self, after_id: int = 0, limit: int = 1000) -> EventSubscription:
        """A subscription to the events with ``id > after_id`` (of every feature)."""


# ------------------------------------------------------------------------------ port
@runtime_checkable
class EventStore(StoreQueries, Protocol):
    """The persistence port a store plugin implements (see the module docstring).

    The registered factory returns one; the library wraps it in a
    :class:`~claude_orchestrator.store_service.Store`, which callers use.
    """

    @property
    def location(self) -> str:
        """Where the store is, for messages (a path, ``memory:...``)."""

    def exists(self) -> bool:
        """True when the store has been created (``events init``)."""

    def initialize(self) -> StoreInfo:
        """Create the store, or migrate an older one forward; idempotent. ``created``
        is True when this call created it, ``migrated_from`` the version it migrated
        from. A store written by a newer release is refused (StoreError naming the
        release that wrote it), and left unchanged."""

    def info(self) -> StoreInfo:
        """Schema version, who wrote it, row counts per table (``features``, ``agents``,
        ``task_events``, ``pull_requests``, ``conflicts``, ``test_results``,
        ``blockers``, ``usage``)."""

    def close(self) -> None:
        """Release connections; the object may not be used afterwards."""

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """A transaction: committed when the block ends, rolled back when it raises.
        Transactions are serialised: while one is open no other (in any process or
        thread) writes, so what it read stays true until it commits (the built-in store:
        ``BEGIN IMMEDIATE``, waiting up to the busy timeout, then StoreError). Not
        reentrant."""
