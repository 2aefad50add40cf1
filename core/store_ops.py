"""The store's write operations over one transaction of the persistence port (pure
Python): features, agents, events, conflicts, blockers, test results, pull requests and
merges. Each reads what the rule needs, applies the rule (:mod:`.domain_rules`),
writes the records and appends the events the domain words (:mod:`.domain`).
sync-status and conflict scans: :mod:`.store_sync`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import domain
from . import domain_rules as rules
from .domain_tasks import STATE_EVENTS, TaskEvent
from .models import Agent, Blocker, Conflict, Event, Feature, PullRequest, TestResult

if TYPE_CHECKING:
    from .protocols_store import StoreTransaction


def now() -> str:
    """The time a change is written, as every store writes its times: UTC, to the
    millisecond, ``YYYY-MM-DDTHH:MM:SS.sssZ`` (with :mod:`time`: importing
    :mod:`datetime` costs the hook path ~2 ms)."""
    seconds, rest = divmod(time.time_ns(), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1_000_000:03d}Z"


# -- lookups -------------------------------------------------------------------------------
def feature_of(tx: StoreTransaction, spec_id: str) -> Feature:
    feature = tx.feature(spec_id)
    if feature is None:
        raise domain.feature_not_found(spec_id)
    return feature


def agent_of(tx: StoreTransaction, spec_id: str, role: str) -> Agent:
    agent = next((a for a in tx.agents(spec_id) if a.role == role), None)
    if agent is None:
        feature_of(tx, spec_id)  # the feature's error first, as when it has no agents
        raise domain.agent_not_found(spec_id, role)
    return agent


def task_events(tx: StoreTransaction, agent: Agent, task_id: str | None = None) -> list[TaskEvent]:
    """The agent's state events (of one task, if given), as the state derivation reads them."""
    found = tx.events(agent.spec_id, role=agent.role, task_id=task_id, types=STATE_EVENTS)
    return [rules.task_event(e, agent.id) for e in found if rules.moves_state(e)]


# -- features and agents -------------------------------------------------------------------
def add_feature(
    tx: StoreTransaction,
    spec_id: str,
    name: str,
    overseer_branch: str,
    agents: Sequence[tuple[str, str]],
) -> tuple[Feature, Event]:
    if tx.feature(spec_id) is not None:
        raise domain.feature_exists(spec_id)
    feature = tx.insert_feature(Feature(0, spec_id, name, overseer_branch, "in-progress", ""))
    for role, branch in agents:
        tx.insert_agent(Agent(0, spec_id, role, branch, rules.ACTIVE, ""))
    roles = [role for role, _ in agents]
    return feature, tx.append(domain.feature_created(spec_id, name, overseer_branch, roles))


def set_feature_name(tx: StoreTransaction, spec_id: str, name: str) -> tuple[Feature, Event | None]:
    feature = feature_of(tx, spec_id)
    if feature.name == name:
        return feature, None
    renamed = feature._replace(name=name)
    tx.update_feature(renamed)
    return renamed, tx.append(domain.feature_renamed(spec_id, feature.name, name))


def set_feature_status(tx: StoreTransaction, spec_id: str, status: str) -> tuple[Feature, Event]:
    feature = feature_of(tx, spec_id)
    done = now() if status == "completed" else feature.completed_at
    changed = feature._replace(status=status, completed_at=done)
    tx.update_feature(changed)
    return changed, tx.append(domain.feature_status_set(spec_id, status))


def add_agent(
    tx: StoreTransaction, spec_id: str, role: str, branch_name: str
) -> tuple[Agent, Event]:
    feature_of(tx, spec_id)
    if any(a.role == role for a in tx.agents(spec_id)):
        raise domain.agent_exists(spec_id, role)
    agent = tx.insert_agent(Agent(0, spec_id, role, branch_name, rules.ACTIVE, ""))
    return agent, tx.append(domain.agent_registered(spec_id, role, branch_name))


# -- conflicts -----------------------------------------------------------------------------
def add_conflict(
    tx: StoreTransaction, spec_id: str, role: str, files: Sequence[str], severity: str
) -> tuple[Conflict, Event]:
    agent_of(tx, spec_id, role)
    conflict = tx.insert_conflict(
        Conflict(0, spec_id, role, list(files), severity, False, None, "", None)
    )
    new = domain.conflict_detected(spec_id, role, conflict.id, files, severity)
    return conflict, tx.append(new)


def close_conflict(tx: StoreTransaction, conflict: Conflict, notes: str) -> Conflict:
    closed = conflict._replace(resolved=True, resolution_notes=notes, resolved_at=now())
    tx.update_conflict(closed)
    return closed


def resolve_conflict(tx: StoreTransaction, conflict_id: int, notes: str) -> tuple[Conflict, Event]:
    conflict = tx.conflict(conflict_id)
    if conflict is None:
        raise domain.conflict_not_found(conflict_id)
    if conflict.resolved:
        raise domain.conflict_already_resolved(conflict_id)
    closed = close_conflict(tx, conflict, notes)
    pair = None
    if conflict.branch and conflict.other_branch:
        pair = (conflict.branch, conflict.other_branch)
    new = domain.conflict_resolved(conflict.spec_id, conflict.role, conflict_id, notes, pair)
    return closed, tx.append(new)


# -- blockers ------------------------------------------------------------------------------
def open_blocker(
    tx: StoreTransaction, agent: Agent, what: tuple[str, str, str | None], task_id: str | None
) -> Blocker:
    """Open a blocker (``what``: type, description, blocking role); the agent is blocked."""
    blocker = tx.insert_blocker(
        Blocker(0, agent.spec_id, agent.role, *what, rules.ACTIVE, "", None, None), task_id
    )
    tx.update_agent(agent._replace(status=rules.status_after_block()))
    return blocker


def add_blocker(
    tx: StoreTransaction,
    spec_id: str,
    role: str,
    blocker_type: str,
    description: str,
    blocking_role: str | None = None,
    task_id: str | None = None,
) -> tuple[Blocker, Event]:
    agent = agent_of(tx, spec_id, role)
    if blocking_role:
        agent_of(tx, spec_id, blocking_role)
    blocker = open_blocker(tx, agent, (blocker_type, description, blocking_role or None), task_id)
    return blocker, tx.append(domain.blocker_added(
        spec_id, role, blocker.id, blocker_type, description, blocking_role, task_id
    ))  # fmt: skip


def resolve_blocker(tx: StoreTransaction, blocker_id: int, notes: str) -> tuple[Blocker, Event]:
    row = tx.blocker(blocker_id)
    if row is None:
        raise domain.blocker_not_found(blocker_id)
    blocker = row.blocker
    if blocker.status == "resolved":
        raise domain.blocker_already_resolved(blocker_id)
    done = blocker._replace(status="resolved", resolution_notes=notes, resolved_at=now())
    tx.update_blocker(done)
    agent = agent_of(tx, blocker.spec_id, blocker.role)
    left = len(tx.active_blockers(blocker.spec_id, blocker.role))
    tx.update_agent(agent._replace(status=rules.status_after_resolve(agent.status, left)))
    return done, tx.append(domain.blocker_resolved(
        blocker.spec_id, blocker.role, blocker_id, notes, row.task_id
    ))  # fmt: skip


# -- test results --------------------------------------------------------------------------
def record_test(
    tx: StoreTransaction,
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
    agent_of(tx, spec_id, role)
    result = tx.insert_test_result(TestResult(
        0, spec_id, role, test_type, status, commit_hash, total, passed, failed, skipped,
        duration_ms, logs_url, "",
    ))  # fmt: skip
    return result, tx.append(domain.test_recorded(
        spec_id, role, result.id, test_type, status, commit_hash, (passed, failed, skipped)
    ))  # fmt: skip


# -- pull requests -------------------------------------------------------------------------
def record_pull_request(
    tx: StoreTransaction,
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
    agent_of(tx, spec_id, role)
    pr = tx.insert_pull_request(PullRequest(
        0, spec_id, role, pr_number, title, status, base_branch, head_branch, url, "", None
    ))  # fmt: skip
    return pr, tx.append(domain.pr_opened(
        spec_id, role, pr.id, pr_number, (head_branch, base_branch), title, url
    ))  # fmt: skip


def set_pull_request_status(
    tx: StoreTransaction, pr_id: int, status: str
) -> tuple[PullRequest, Event]:
    pr = tx.pull_request(pr_id)
    if pr is None:
        raise domain.pull_request_not_found(pr_id)
    merged_at = now() if status == "merged" else pr.merged_at
    changed = pr._replace(status=status, merged_at=merged_at)
    tx.update_pull_request(changed)
    new = domain.pr_status_set(pr.spec_id, pr.role, pr_id, pr.pr_number, status)
    return changed, tx.append(new)


def merge_pull_request(tx: StoreTransaction, pr_id: int) -> tuple[PullRequest, list[Event]]:
    """Mark a PR merged, log ``pr_merged``, and ``task_merged`` for every task its
    author had completed (:func:`~claude_orchestrator.domain_rules.merged_tasks`)."""
    pr = tx.pull_request(pr_id)
    if pr is None:
        raise domain.pull_request_not_found(pr_id, merging=True)
    rules.check_mergeable(pr_id, pr.status)
    merged = pr._replace(status="merged", merged_at=now())
    tx.update_pull_request(merged)
    branches = (pr.head_branch, pr.base_branch)
    events = [tx.append(domain.pr_merged(pr.spec_id, pr.role, pr_id, pr.pr_number, branches))]
    author = agent_of(tx, pr.spec_id, pr.role)
    by_task: dict[str, list[TaskEvent]] = {}
    for event in tx.events(pr.spec_id, role=pr.role, types=STATE_EVENTS):
        if rules.moves_state(event):
            by_task.setdefault(str(event.task_id), []).append(rules.task_event(event, author.id))
    for task in rules.merged_tasks(by_task):
        new = domain.task_merged(pr.spec_id, pr.role, pr_id, pr.pr_number, task)
        events.append(tx.append(new))
    return merged, events
