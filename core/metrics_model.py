"""The records cost and flow metrics are made of (:mod:`claude_orchestrator.metrics`).

Pure data: the library computes them, the CLI (tables, ``--json``, ``--csv``), the HTML
report, the plots and the dashboard render the same ones. Times are UTC strings
``YYYY-MM-DDTHH:MM:SS.sssZ`` on the **store's clock** (a transcript's times are moved onto
it by the agent's clock offset, :func:`claude_orchestrator.metrics_flow.clock_offsets`);
durations are seconds; money is US dollars.
"""

from __future__ import annotations

from typing import NamedTuple

from .models import Usage

#: what ``metrics --by`` groups cost by
GROUPINGS = ("agent", "task", "pr", "feature", "day")
#: the task of a reply made while its agent had no task in progress
UNATTRIBUTED = "unattributed"


class Attributed(NamedTuple):
    """One reply's usage with what it is charged to."""

    usage: Usage
    #: ``usage.at`` moved onto the store's clock
    at: str
    #: the task its agent had in progress then (the latest started), else None
    task_id: str | None
    #: US dollars; None when the model's price is unknown
    cost: float | None


class Tokens(NamedTuple):
    """Token totals of some replies."""

    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    @property
    def total(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_write_tokens
                + self.cache_read_tokens)  # fmt: skip


class CostRow(NamedTuple):
    """One group of a cost report (an agent, a task, a PR, a feature or a day)."""

    #: the role, the task id (or ``unattributed``), ``#<number>`` of a PR (``unmerged``:
    #: replies of tasks in no merged PR), the spec id, or the day ``YYYY-MM-DD``
    key: str
    spec_id: str | None
    tokens: Tokens
    #: the priced replies' cost
    cost: float
    #: replies whose model has no price (their tokens are in ``tokens``, not in ``cost``)
    unpriced: int = 0


class UnknownModel(NamedTuple):
    model: str
    messages: int
    tokens: int


class CostReport(NamedTuple):
    by: str
    spec_id: str | None
    since: str | None
    rows: list[CostRow]
    total: CostRow
    unknown_models: list[UnknownModel]
    #: the shipped price table's date (:data:`claude_orchestrator.metrics_prices.PRICES_DATE`)
    prices_date: str


class CostPoint(NamedTuple):
    """A reply's cost on a timeline (the cost-over-time plot)."""

    at: str
    role: str | None
    cost: float


# ---------------------------------------------------------------------------------- flow
class TaskFlow(NamedTuple):
    """Where one task's time went."""

    spec_id: str
    task_id: str
    #: the agent of its last start, else of its first event ("" for a task of tasks.md
    #: that no event names yet)
    role: str
    started_at: str | None
    completed_at: str | None
    merged_at: str | None
    #: started -> completed (None until completed)
    cycle_seconds: float | None
    #: completed -> merged (None until merged)
    merge_wait_seconds: float | None
    #: time spent blocked (until now while still blocked)
    blocked_seconds: float
    #: what blocked it: the blockers' descriptions, in order
    blocked_by: list[str]
    #: the PR that merged it (its store id), if any
    pull_request_id: int | None


class AgentFlow(NamedTuple):
    """What one agent did and where its time went (from the launcher's state events)."""

    spec_id: str
    role: str
    tasks_done: int
    #: tasks completed per day of the agent's active span (first to last event)
    throughput_per_day: float | None
    working_seconds: float
    #: waiting for the person (a permission prompt, a question)
    waiting_seconds: float
    idle_seconds: float


class PullRequestFlow(NamedTuple):
    id: int
    pr_number: int | None
    role: str
    status: str
    opened_at: str
    merged_at: str | None
    seconds_to_merge: float | None
    #: the tasks merged with it
    tasks: list[str]


class ConflictFlow(NamedTuple):
    id: int
    role: str
    other_role: str | None
    files: list[str]
    detected_at: str
    resolved_at: str | None
    #: detected -> resolved (until now while open)
    open_seconds: float


class FeatureFlow(NamedTuple):
    spec_id: str
    #: conflicts found before a rebase (every recorded conflict) and how long each stayed open
    conflicts: list[ConflictFlow]
    guard_denials: int
    #: the overseer's failed test runs at a time when an implementor already had a PR
    #: merged and its latest run of each test type (up to then) was green
    red_on_overseer_green_on_implementor: int
    pull_requests: list[PullRequestFlow]


class FlowReport(NamedTuple):
    spec_id: str
    #: the time "until now" was measured to
    now: str
    tasks: list[TaskFlow]
    agents: list[AgentFlow]
    feature: FeatureFlow


class BurnPoint(NamedTuple):
    """The tasks burn-down: at ``at``, how many of the feature's known tasks were not
    done (completed or merged)."""

    at: str
    remaining: int
    total: int
