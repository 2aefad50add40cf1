"""The event store as the library uses it: every operation, over a persistence port.

:class:`Store` wraps the :class:`~claude_orchestrator.protocols_store.EventStore` a
store plugin built and offers the operations the library and the CLI call (the names
and results every store had before the port): each write is one transaction of the
port in which :mod:`.store_ops` and :mod:`.store_sync` read what the domain's rule needs,
apply it and append the events the domain words. Queries go straight to the port; the
summaries (``status``, task states) come from the store when it keeps them, else they
are derived from its records by the domain (:func:`~.domain_rules.summary`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from . import domain_rules as rules
from . import store_ops as ops
from . import store_sync
from .protocols_store import StoreSummaries

if TYPE_CHECKING:
    from .models import (
        Agent,
        AgentStatus,
        Blocker,
        Conflict,
        Event,
        Feature,
        FoundConflict,
        NewEvent,
        PullRequest,
        StoreInfo,
        SyncCommit,
        TaskState,
        TestResult,
    )
    from .protocols_store import EventStore, StoreTransaction

P = ParamSpec("P")
R = TypeVar("R")
#: events read per query when the summaries are derived from every event of a feature
_PAGE = 5000


class Store:
    """Every store operation over one persistence port (``Store(port)``; wrapping a
    ``Store`` again gives the same port)."""

    def __init__(self, port: EventStore | Store) -> None:
        self.port: EventStore = port.port if isinstance(port, Store) else port
        #: the port itself when it keeps the summaries (a protocol check is not free:
        #: made once, not on every ``status``)
        self._summaries = self.port if isinstance(self.port, StoreSummaries) else None

    def _apply(
        self,
        operation: Callable[Concatenate[StoreTransaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """Run one operation in one transaction: all of it is committed, or none."""
        with self.port.transaction() as tx:
            return operation(tx, *args, **kwargs)

    # -- lifecycle -------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.port.location

    def exists(self) -> bool:
        return self.port.exists()

    def initialize(self) -> StoreInfo:
        return self.port.initialize()

    def info(self) -> StoreInfo:
        return self.port.info()

    def close(self) -> None:
        self.port.close()

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """The port's transaction (a ``Store`` is a port too: it can be wrapped again)."""
        return self.port.transaction()

    # -- features and agents ---------------------------------------------------------
    def add_feature(
        self, spec_id: str, name: str, overseer_branch: str, agents: Sequence[tuple[str, str]]
    ) -> tuple[Feature, Event]:
        """Add a feature and its agents ``(role, branch)``; logs ``feature_created``.
        ValidationError without an overseer, AlreadyExistsError if the feature exists."""
        rules.check_agents(role for role, _ in agents)
        return self._apply(ops.add_feature, spec_id, name, overseer_branch, agents)

    def set_feature_name(self, spec_id: str, name: str) -> tuple[Feature, Event | None]:
        """Rename a feature; logs ``feature_renamed`` (returned) unless the name is the same."""
        return self._apply(ops.set_feature_name, spec_id, name)

    def set_feature_status(self, spec_id: str, status: str) -> tuple[Feature, Event]:
        """Set a feature's status (``completed`` also sets ``completed_at``); logs
        ``status_update``."""
        return self._apply(ops.set_feature_status, spec_id, status)

    def add_agent(self, spec_id: str, role: str, branch_name: str) -> tuple[Agent, Event]:
        """Register one more agent; logs ``agent_registered``; AlreadyExistsError if the
        role exists."""
        return self._apply(ops.add_agent, spec_id, role, branch_name)

    def get_feature(self, spec_id: str) -> Feature | None:
        return self.port.get_feature(spec_id)

    def list_features(self) -> list[Feature]:
        return self.port.list_features()

    def list_agents(self, spec_id: str) -> list[Agent]:
        return self.port.list_agents(spec_id)

    # -- events ----------------------------------------------------------------------
    def append_event(self, event: NewEvent) -> Event:
        """Append one event; the store assigns ``id`` (increasing) and ``created_at``."""
        with self.port.transaction() as tx:
            return tx.append(event)

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        return self.port.recent_events(limit, spec_id)

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        return self.port.events_after(spec_id, after_id, limit)

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """The events of every feature after ``after_id``, oldest first (the outbox)."""
        return self.port.events_since(after_id, limit)

    def delivery_cursor(self, consumer: str) -> int | None:
        return self.port.delivery_cursor(consumer)

    def move_delivery_cursor(self, consumer: str, expected: int | None, new: int) -> bool:
        """Set ``consumer``'s cursor to ``new`` if it is ``expected`` now (None: never
        set), atomically across processes: True when it moved, False (nothing changed)
        when another process moved it first. ValidationError for an empty consumer, a
        negative ``new`` or one below ``expected`` (a cursor never moves back)."""
        rules.check_cursor_move(consumer, expected, new)
        with self.port.transaction() as tx:
            if tx.delivery_cursor(consumer) != expected:
                return False
            tx.put_delivery_cursor(consumer, new)
            return True

    # -- summaries -------------------------------------------------------------------
    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        """One row per agent (or per feature without agents), ordered by spec and role."""
        if self._summaries is not None:
            return self._summaries.feature_status(spec_id)
        if spec_id is None:
            features = self.port.list_features()
        else:
            found = self.port.get_feature(spec_id)
            features = [found] if found is not None else []
        rows: list[AgentStatus] = []
        for feature in features:
            rows += rules.summary(self._records(feature))
        return rows

    def task_states(self, spec_id: str) -> list[TaskState]:
        """The latest state of every task that has task events, ordered by task id."""
        if self._summaries is not None:
            return self._summaries.task_states(spec_id)
        return rules.task_states(spec_id, self._all_events(spec_id))

    def _all_events(self, spec_id: str) -> list[Event]:
        events: list[Event] = []
        while page := self.port.events_after(spec_id, events[-1].id if events else 0, _PAGE):
            events += page
        return events

    def _records(self, feature: Feature) -> rules.FeatureRecords:
        spec_id = feature.spec_id
        return rules.FeatureRecords(
            feature, self.port.list_agents(spec_id), self._all_events(spec_id),
            self.port.list_pull_requests(spec_id), self.port.list_conflicts(spec_id),
            self.port.list_blockers(spec_id),
        )  # fmt: skip

    # -- conflicts -------------------------------------------------------------------
    def add_conflict(
        self, spec_id: str, role: str, files: Sequence[str], severity: str
    ) -> tuple[Conflict, Event]:
        """Record a conflict by hand; logs ``conflict_detected``."""
        return self._apply(ops.add_conflict, spec_id, role, files, severity)

    def resolve_conflict(self, conflict_id: int, notes: str) -> tuple[Conflict, Event]:
        """Mark a conflict resolved; NotFoundError if no such id, ValidationError if resolved."""
        return self._apply(ops.resolve_conflict, conflict_id, notes)

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        return self.port.list_conflicts(spec_id, include_resolved)

    # -- blockers --------------------------------------------------------------------
    def add_blocker(
        self,
        spec_id: str,
        role: str,
        blocker_type: str,
        description: str,
        blocking_role: str | None = None,
        task_id: str | None = None,
    ) -> tuple[Blocker, Event]:
        """Open a blocker; the agent becomes ``blocked``; logs ``task_blocked``."""
        return self._apply(
            ops.add_blocker, spec_id, role, blocker_type, description, blocking_role, task_id
        )

    def resolve_blocker(self, blocker_id: int, notes: str) -> tuple[Blocker, Event]:
        """Resolve a blocker; the agent is active again when none of its blockers is
        open; logs ``blocker_resolved``. NotFoundError, or ValidationError if resolved."""
        return self._apply(ops.resolve_blocker, blocker_id, notes)

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        return self.port.list_blockers(spec_id, include_resolved)

    # -- test results ----------------------------------------------------------------
    def record_test(
        self,
        spec_id: str,
        role: str,
        test_type: str,
        status: str,
        *,
        commit_hash: str | None = None,
        total: int | None = None,
        passed: int | None = None,
        failed: int | None = None,
        skipped: int | None = None,
        duration_ms: int | None = None,
        logs_url: str | None = None,
    ) -> tuple[TestResult, Event]:
        """Record a test run; logs ``test_result``."""
        return self._apply(
            ops.record_test, spec_id, role, test_type, status, commit_hash=commit_hash,
            total=total, passed=passed, failed=failed, skipped=skipped,
            duration_ms=duration_ms, logs_url=logs_url,
        )  # fmt: skip

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        return self.port.list_test_results(spec_id, limit)

    # -- pull requests ---------------------------------------------------------------
    def record_pull_request(
        self,
        spec_id: str,
        role: str,
        title: str,
        base_branch: str,
        head_branch: str,
        *,
        pr_number: int | None = None,
        status: str = "open",
        url: str | None = None,
    ) -> tuple[PullRequest, Event]:
        """Record an opened pull request; logs ``pr_opened``."""
        return self._apply(
            ops.record_pull_request, spec_id, role, title, base_branch, head_branch,
            pr_number=pr_number, status=status, url=url,
        )  # fmt: skip

    def set_pull_request_status(self, pr_id: int, status: str) -> tuple[PullRequest, Event]:
        """Set a PR's status; logs ``pr_merged`` for ``merged``, else ``status_update``."""
        return self._apply(ops.set_pull_request_status, pr_id, status)

    def merge_pull_request(self, pr_id: int) -> tuple[PullRequest, list[Event]]:
        """Mark a PR merged: ``pr_merged``, and ``task_merged`` for each task its author
        completed, in one transaction."""
        return self._apply(ops.merge_pull_request, pr_id)

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        return self.port.list_pull_requests(spec_id)

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        return self.port.get_pull_request(pr_id)

    # -- sync-status -----------------------------------------------------------------
    def sync_cursor(self, branch: str) -> str | None:
        return self.port.sync_cursor(branch)

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        return self.port.known_patch_ids(spec_id, branch, patch_ids)

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        return self.port.synced_changes(spec_id, branch, patch_ids=patch_ids, commits=commits)

    def record_sync(
        self, spec_id: str, role: str, branch: str, head: str, commits: Sequence[SyncCommit]
    ) -> list[Event]:
        """Log the commits' task events, remember their patch ids and move the cursor to
        ``head``, in one transaction (a failure leaves the cursor where it was)."""
        return self._apply(store_sync.record_sync, spec_id, role, branch, head, commits)

    # -- conflict scans --------------------------------------------------------------
    def record_scan(
        self, spec_id: str, scanned: Sequence[tuple[str, str]], found: Sequence[FoundConflict]
    ) -> tuple[list[Conflict], list[Conflict], list[Event]]:
        """Reconcile a scan with the open conflicts: (opened, resolved, events)."""
        return self._apply(store_sync.record_scan, spec_id, scanned, found)
