"""Plain records passed between the library, plugins and renderers.

They are named tuples: immutable, so plugins cannot change what others receive, and
~6x cheaper to define than dataclasses, which matters on the hook paths. ``_asdict()``
gives the JSON shape that every ``--json`` output uses (see ``render.to_json``).
"""

from typing import Any, NamedTuple


class Feature(NamedTuple):
    id: int
    spec_id: str
    name: str
    overseer_branch: str
    status: str
    created_at: str
    completed_at: str | None = None


class FeatureRegistration(NamedTuple):
    """What ``add-feature`` did: registered the feature, or set the name of one that was."""

    feature: Feature
    #: False: the feature was registered already (``init-feature``)
    added: bool
    #: the name before, when it was registered already with another name
    previous_name: str | None
    #: agents added to a feature that was registered already (only with ``--areas``)
    agents_added: "list[Agent]"


class Agent(NamedTuple):
    id: int
    spec_id: str
    role: str
    branch_name: str
    status: str
    created_at: str


class NewEvent(NamedTuple):
    """An event to append; the store gives it an id and a timestamp."""

    spec_id: str
    role: str
    event_type: str
    message: str
    task_id: str | None = None
    commit_hash: str | None = None
    metadata: dict[str, Any] | None = None


class Event(NamedTuple):
    id: int
    spec_id: str
    role: str
    event_type: str
    message: str
    task_id: str | None
    commit_hash: str | None
    metadata: dict[str, Any] | None
    created_at: str


class Conflict(NamedTuple):
    id: int
    spec_id: str
    role: str
    files: list[str]
    severity: str
    resolved: bool
    resolution_notes: str | None
    detected_at: str
    resolved_at: str | None
    #: for conflicts found by a scan: the two branches, and the other agent if any
    branch: str | None = None
    other_branch: str | None = None
    other_role: str | None = None


class FoundConflict(NamedTuple):
    """A conflict a scan found: ``branch`` (of ``role``) against ``other_branch``."""

    role: str
    branch: str
    other_role: str | None
    other_branch: str
    files: list[str]
    severity: str


class SyncCommit(NamedTuple):
    """A commit that ``sync-status`` read, with the task actions its message names."""

    commit: str
    patch_id: str
    subject: str
    #: (task id, "started" | "completed" | "blocked", reason)
    actions: list[tuple[str, str, str | None]]
    #: patch ids of the changes synced on the branch that this commit rewrote (its own
    #: for a message-only amend; others from git's post-rewrite mapping): what they said
    #: and this message no longer says is retracted
    rewrites: tuple[str, ...] = ()
    #: how it was rewritten, for the retraction's metadata ("amend", "rebase", "message")
    how: str = ""


class Blocker(NamedTuple):
    id: int
    spec_id: str
    role: str
    blocker_type: str
    description: str
    blocking_role: str | None
    status: str
    created_at: str
    resolved_at: str | None
    resolution_notes: str | None


class TestResult(NamedTuple):
    id: int
    spec_id: str
    role: str | None
    test_type: str
    status: str
    commit_hash: str | None
    tests_total: int | None
    tests_passed: int | None
    tests_failed: int | None
    tests_skipped: int | None
    duration_ms: int | None
    logs_url: str | None
    created_at: str


class PullRequest(NamedTuple):
    id: int
    spec_id: str
    role: str
    pr_number: int | None
    title: str
    status: str
    base_branch: str
    head_branch: str
    url: str | None
    created_at: str
    merged_at: str | None


class TaskState(NamedTuple):
    """The latest known state of one task, derived from its events."""

    spec_id: str
    task_id: str
    status: str
    role: str
    commit_hash: str | None
    updated_at: str
    #: explicitly reopened and completed nowhere since: the overseer's box is cleared
    reopened: bool = False


class AgentStatus(NamedTuple):
    """One row of the status overview: an agent of a feature and its counters."""

    spec_id: str
    name: str
    feature_status: str
    role: str | None
    branch_name: str | None
    agent_status: str | None
    events: int = 0
    last_event_type: str | None = None
    last_event_at: str | None = None
    tasks_in_progress: int = 0
    tasks_completed: int = 0
    tasks_blocked: int = 0
    prs_count: int = 0
    prs_merged: int = 0
    active_conflicts: int = 0
    active_blockers: int = 0
    #: of tasks_completed, how many are merged into the overseer branch
    tasks_merged: int = 0


class StoreInfo(NamedTuple):
    """What ``events init`` and ``doctor`` report about a store."""

    location: str
    schema_version: int
    created: bool = False
    migrated_from: int | None = None
    written_by: str | None = None
    counts: dict[str, int] | None = None


class FeatureReport(NamedTuple):
    """Everything the state report of one feature shows."""

    feature: Feature
    agents: list[Agent]
    status: list[AgentStatus]
    tasks: list[TaskState]
    events: list[Event]
    conflicts: list[Conflict]
    blockers: list[Blocker]
    tests: list[TestResult]
    pull_requests: list[PullRequest]


class Notification(NamedTuple):
    """One message owed to one notification channel: a row of the queue ``notify run``
    sends from (:mod:`claude_orchestrator.notify_queue`). Times are Unix seconds."""

    id: int
    #: the configured channel's name (``notifications.channels.<name>``)
    channel: str
    #: the idempotency key, unique in the store; sent with the message, receivers dedupe on it
    key: str
    #: ``event``, ``digest``, ``escalation`` or ``test``
    kind: str
    spec_id: str | None
    #: what it is about (``agent:<spec>:<role>``, ...): answered subjects cancel escalations
    subject: str | None
    #: ``info``, ``warning``, ``error`` or ``critical``
    severity: str
    #: the message as JSON (:class:`claude_orchestrator.notify_message.Message`)
    payload: str
    #: ``queued``, ``sent``, ``dead``, ``cancelled`` or ``digested`` (folded into a digest)
    state: str
    attempts: int
    created_at: float
    #: not sent before this
    due_at: float
    #: the sender holding it (``host:pid:start``) and until when; expired leases are free
    lease_owner: str | None = None
    lease_until: float | None = None
    sent_at: float | None = None
    last_error: str | None = None
    #: the last HTTP status the channel answered (None: no answer)
    last_status: int | None = None


class Usage(NamedTuple):
    """The tokens of one model reply, read from a Claude Code transcript
    (:mod:`claude_orchestrator.metrics_transcript`) and kept by the store.

    ``key`` identifies the reply across transcripts (a resumed session copies earlier
    replies into its new file): ``<message id>:<request id>`` as the transcript gives
    them; the store keeps one record per key. ``at`` is the transcript's own timestamp
    (the agent's clock, UTC ``YYYY-MM-DDTHH:MM:SS.sssZ``); ``spec_id``/``role`` are the
    agent whose worktree the reply was made in, None for a session outside any
    feature's agent."""

    id: int
    key: str
    spec_id: str | None
    role: str | None
    session_id: str
    model: str
    at: str
    input_tokens: int
    output_tokens: int
    #: cache-creation (write) and cache-read input tokens
    cache_write_tokens: int
    cache_read_tokens: int
    #: where it was read: the transcript's path and 1-based line number
    transcript: str
    line: int
    #: when the store recorded it (ignored on insert, like every ``created_at``)
    created_at: str = ""
    #: the part of ``cache_write_tokens`` that were 1-hour cache writes (dearer than
    #: 5-minute ones), never more than it
    cache_write_1h_tokens: int = 0


class TranscriptCursor(NamedTuple):
    """How far ingest read one transcript: the next byte to read and its line number,
    and the file's identity then (device, inode), so that a re-read costs only the new
    lines and a replaced or truncated file is read again from the start."""

    path: str
    device: int
    inode: int
    offset: int
    #: lines before ``offset`` (the next line read is number ``line + 1``)
    line: int
    #: the session the transcript belongs to (its file name), for messages
    session_id: str = ""
