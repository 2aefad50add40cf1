"""The four plugin kinds as ``typing.Protocol`` classes.

A plugin offers an implementation of a kind by registering a *factory* under a name
(see :mod:`claude_orchestrator.hookspecs`); the factory receives a
:class:`PluginContext` and returns an object that satisfies the kind's protocol.
``orchestrator.yaml`` chooses implementations by name (``plugins.store: sqlite``).

The contract tests in :mod:`claude_orchestrator.testing` check behaviour, not just
method names: run them against your implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from .protocols_vcs import VCS, Forge  # noqa: F401 - re-exported: the protocols in one place

if TYPE_CHECKING:
    from .config import Config
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


class Services(Protocol):
    """What a plugin may use of the process that builds it: the configured store and
    VCS, each built on first use (a notifier that renders state reads the store; the
    ``local`` forge merges with the VCS). Plugins get ports, never the library: a
    notifier does not call back into an operation."""

    @property
    def in_repository(self) -> bool:
        """True inside a repository whose config names a VCS plugin."""

    @property
    def state_dir(self) -> Path:
        """The directory shared by every worktree for locks and caches."""

    def store(self) -> EventStore:
        """The configured store (NotInitializedError if it was never created)."""

    def vcs(self) -> VCS:
        """The configured VCS (ConfigError when ``plugins.vcs`` names none)."""


class PluginContext(NamedTuple):
    """What a factory gets to build an implementation.

    :param config: the validated configuration.
    :param root: the working tree's top directory (or the current directory outside git).
    :param common_dir: git's common directory, shared by all worktrees (None outside git).
    :param store_path: where the event store lives (``events path``).
    :param options: this implementation's section of ``plugins.options`` in the config.
    :param services: the process's store and VCS (:class:`Services`), for plugins that
        need them; None where a plugin is built outside an operation (the guard's log).
    """

    config: Config
    root: Path
    common_dir: Path | None
    store_path: Path
    options: Mapping[str, Any] = {}
    services: Services | None = None


# ---------------------------------------------------------------------------- store
@runtime_checkable
class EventStore(Protocol):
    """The append-only record of features, agents, events, PRs, conflicts, tests, blockers.

    A store persists and queries; it does not decide. What every event says (type,
    message, metadata) comes from :mod:`claude_orchestrator.domain`, and every rule --
    a task's state, the blocked agent, which tasks a merge merges, how a scan
    reconciles, what a synced commit logs or a rewrite retracts, the status summary --
    from :mod:`claude_orchestrator.domain_rules` and
    :mod:`claude_orchestrator.domain_tasks`, so two stores behave the same (the
    examples/memory-store plugin is a second implementation).

    Implementations must make every write a transaction, must let several processes
    (or, for an in-process store, threads) write at once, and must refuse to update or
    delete appended events. Methods that append an event as part of a change
    (``add_conflict`` logs ``conflict_detected``) do both in one transaction and return
    the event, so notifiers can be told. Unknown features or agents raise
    :class:`~claude_orchestrator.errors.NotFoundError` (worded by the domain).
    """

    location: str

    def exists(self) -> bool:
        """True when the store has been created (``events init``)."""

    def initialize(self) -> StoreInfo:
        """Create the store, or migrate an older one forward; idempotent."""

    def info(self) -> StoreInfo:
        """Schema version, who wrote it, row counts."""

    def close(self) -> None:
        """Release connections; the object may not be used afterwards."""

    # features and agents
    def add_feature(
        self, spec_id: str, name: str, overseer_branch: str, agents: Sequence[tuple[str, str]]
    ) -> tuple[Feature, Event]:
        """Add a feature and its agents ``(role, branch)``; raises AlreadyExistsError."""

    def set_feature_name(self, spec_id: str, name: str) -> tuple[Feature, Event | None]:
        """Rename a feature; logs ``feature_renamed`` (returned) unless the name is the same."""

    def get_feature(self, spec_id: str) -> Feature | None:
        """The feature, or None."""

    def list_features(self) -> list[Feature]:
        """Every feature, ordered by spec id."""

    def set_feature_status(self, spec_id: str, status: str) -> tuple[Feature, Event]:
        """Set a feature's status (``completed`` also sets ``completed_at``); logs
        ``status_update``."""

    def add_agent(self, spec_id: str, role: str, branch_name: str) -> tuple[Agent, Event]:
        """Register one more agent; raises AlreadyExistsError if the role exists."""

    def list_agents(self, spec_id: str) -> list[Agent]:
        """A feature's agents, overseer first, then by role (none for an unknown feature)."""

    # events
    def append_event(self, event: NewEvent) -> Event:
        """Append one event; the store assigns ``id`` (increasing) and ``created_at``."""

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        """The newest ``limit`` events, newest first."""

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Events of a feature with ``id > after_id``, oldest first."""

    def events_since(self, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Events of every feature with ``id > after_id``, oldest first (the outbox)."""

    def delivery_cursor(self, consumer: str) -> int | None:
        """The last event id delivered to ``consumer``, or None if it never moved."""

    def move_delivery_cursor(self, consumer: str, expected: int | None, new: int) -> bool:
        """Compare-and-set ``consumer``'s cursor from ``expected`` to ``new``."""

    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        """One row per agent (or per feature without agents), ordered by spec and role."""

    def task_states(self, spec_id: str) -> list[TaskState]:
        """The latest state of every task that has task events, ordered by task id."""

    # conflicts
    def add_conflict(
        self, spec_id: str, role: str, files: Sequence[str], severity: str
    ) -> tuple[Conflict, Event]:
        """Record a conflict by hand; logs ``conflict_detected``."""

    def resolve_conflict(self, conflict_id: int, notes: str) -> tuple[Conflict, Event]:
        """Mark a conflict resolved; NotFoundError if no such id, ValidationError if resolved."""

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        """Open conflicts (all, with ``include_resolved``), oldest first."""

    # blockers
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

    def resolve_blocker(self, blocker_id: int, notes: str) -> tuple[Blocker, Event]:
        """Resolve a blocker; the agent is active again when none of its blockers is
        open; logs ``blocker_resolved``. NotFoundError, or ValidationError if resolved."""

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        """Active blockers (all, with ``include_resolved``), oldest first."""

    # test results
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

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        """The newest ``limit`` test results, newest first."""

    # pull requests
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

    def set_pull_request_status(self, pr_id: int, status: str) -> tuple[PullRequest, Event]:
        """Set a PR's status; logs ``pr_merged`` for ``merged``, else ``status_update``."""

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        """Pull requests, oldest first."""

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        """The pull request, or None."""

    def merge_pull_request(self, pr_id: int) -> tuple[PullRequest, list[Event]]:
        """Mark a PR merged: ``pr_merged``, and ``task_merged`` for each task its author
        completed, in one transaction."""

    # sync-status
    def sync_cursor(self, branch: str) -> str | None:
        """The commit the branch's last successful sync stopped at."""

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        """Which of these patch ids were logged for the branch already."""

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        """(patch id, latest commit) of the changes synced on the branch whose patch id or
        commit is one of these."""

    def record_sync(
        self, spec_id: str, role: str, branch: str, head: str, commits: Sequence[SyncCommit]
    ) -> list[Event]:
        """Log the commits' task events, remember their patch ids and move the cursor to
        ``head``, in one transaction (a failure leaves the cursor where it was)."""

    # conflict scans
    def record_scan(
        self, spec_id: str, scanned: Sequence[tuple[str, str]], found: Sequence[FoundConflict]
    ) -> tuple[list[Conflict], list[Conflict], list[Event]]:
        """Reconcile a scan with the open conflicts: (opened, resolved, events)."""


@runtime_checkable
class CI(Protocol):
    """A CI system: generates its workflow files from the config."""

    def generate(self) -> dict[str, Any]:
        """Repository-relative path -> document, for ``generate``: a ``dict`` (written as
        YAML, or JSON for ``.json`` paths) or a ``str`` (written as it is). Pure: the same
        config gives the same documents."""


# ------------------------------------------------------------------------- notifier
#: ``Notifier.delivery`` values: told in the operation, or later from the outbox.
INLINE = "inline"
OUTBOX = "outbox"


@runtime_checkable
class Notifier(Protocol):
    """Receives every event after the store has committed it.

    A notifier must not raise for an event it does not care about. It says how it wants
    its events with an optional ``delivery`` attribute:

    - ``"inline"`` (the default): told during the operation that stored the events, once
      the transaction has committed. For local, fast work (the ``markdown`` state files).
      An exception becomes a warning and never undoes the stored events; they are not
      offered again.
    - ``"outbox"``: never told during an operation, so a hook never waits on a network.
      ``claude-orchestrator notify flush`` (started in the background after an operation
      that stored events, or run by hand or by cron) reads the committed events after the
      notifier's cursor in the store, tells the notifier, and moves the cursor only when
      ``notify`` and ``flush`` returned: a failure, or a process killed mid-delivery,
      leaves the events to be delivered again (at least once; the event id is the
      idempotency key).

    Optional methods: ``flush()`` is called once after each batch of events, so a notifier
    can do its work once per operation; it may return the local files it wrote (reported
    by commands such as ``init-feature --json``). ``changed(spec_id)`` tells an inline
    notifier that a feature changed outside the store (``init-feature`` made worktrees),
    so views of it must be refreshed even without a new event.
    """

    def notify(self, event: Event) -> None: ...


#: A factory turns a context into an implementation of one kind; the library checks the
#: result against the kind's protocol.
Factory = Callable[[PluginContext], object]


class Register(Protocol):
    """The callback a ``register_*`` hook receives."""

    def __call__(self, name: str, factory: Factory, *, description: str = "") -> None: ...
