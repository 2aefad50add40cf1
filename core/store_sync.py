"""sync-status and conflict scans over one transaction of the persistence port (pure
Python). The domain decides which actions a synced commit logs, what a rewrite carries
over or retracts (:mod:`.domain_rules`) and words the events (:mod:`.domain`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from . import domain
from . import domain_rules as rules
from .models import Agent, Conflict, Event, FoundConflict, SyncCommit
from .store_ops import agent_of, close_conflict, feature_of, open_blocker, task_events

if TYPE_CHECKING:
    from .protocols_store import StoreTransaction


class _Branch(NamedTuple):
    """The branch a sync records for, and its agent."""

    agent: Agent
    name: str


def record_sync(
    tx: StoreTransaction,
    spec_id: str,
    role: str,
    branch: str,
    head: str,
    commits: Sequence[SyncCommit],
) -> list[Event]:
    """Log the commits' task events and move the branch's cursor to ``head``.

    What a commit says now counts, once: for a change (patch id) seen before -- a
    rebased or amended commit -- only the actions its message has now and did not have
    then are considered (:func:`~claude_orchestrator.domain_rules.new_actions`); an
    action is logged only when it changes the state this branch gives the task
    (:func:`~claude_orchestrator.domain_rules.logs_action`). Every action considered is
    remembered for the change, logged or not. A commit that rewrote synced changes
    (``SyncCommit.rewrites``) takes over what they said and its message still says;
    the rest is retracted (:func:`_rewrite`).
    """
    where = _Branch(agent_of(tx, spec_id, role), branch)
    events: list[Event] = []
    for commit in commits:
        if commit.rewrites:
            events += _rewrite(tx, where, commit)
        said = tx.synced_actions(spec_id, branch, patch_ids=[commit.patch_id])
        if tx.synced_commit(spec_id, branch, commit.patch_id) is None:
            tx.put_synced_commit(spec_id, branch, commit.patch_id, commit.commit)
        for action in rules.new_actions(commit, ((a.task_id, a.action) for a in said)):
            event = _sync_action(tx, where, commit, action)
            if event is not None:
                events.append(event)
            logged = event.id if event is not None else None
            record = rules.SyncedAction(commit.patch_id, action[0], action[1], logged, None)
            tx.put_synced_action(spec_id, branch, record)
    tx.put_sync_cursor(spec_id, branch, head)
    return events


def _rewrite(tx: StoreTransaction, where: _Branch, commit: SyncCommit) -> list[Event]:
    """A commit rewrote synced changes of this branch: the domain's
    :func:`~claude_orchestrator.domain_rules.plan_rewrite` says what is carried over to
    this change and what is retracted. Only this branch's records are touched."""
    agent, branch = where
    spec_id = agent.spec_id
    # by key (patch id, task id, action): plan_rewrite orders the logged ones by event, and
    # every store then carries the unlogged ones in one order, the one SQLite always used
    rows = sorted(tx.synced_actions(spec_id, branch, patch_ids=list(commit.rewrites)),
                  key=lambda a: (a.patch_id, a.task_id, a.action))  # fmt: skip
    events: list[Event] = []
    for row, step in rules.plan_rewrite(commit, rows):
        tx.delete_synced_action(spec_id, branch, row)
        if step == rules.CARRY:
            key = (row.task_id, row.action)
            mine = tx.synced_actions(spec_id, branch, patch_ids=[commit.patch_id])
            there = next((a.event_id for a in mine if (a.task_id, a.action) == key), None)
            kept = there if there is not None else row.event_id
            carried = row._replace(patch_id=commit.patch_id, event_id=kept)
            tx.put_synced_action(spec_id, branch, carried)
        elif step == rules.RETRACT:
            assert row.event_id is not None
            retracted = (row.task_id, row.action, row.event_id, row.commit)
            new = domain.sync_retraction(spec_id, agent.role, branch, retracted, commit)
            events.append(tx.append(new))
            events += _still_said(tx, where, row.task_id)
    if tx.synced_commit(spec_id, branch, commit.patch_id) is not None:
        tx.put_synced_commit(spec_id, branch, commit.patch_id, commit.commit)
    return events


def _still_said(tx: StoreTransaction, where: _Branch, task_id: str) -> list[Event]:
    """After a retraction: log what other synced commits of the branch say about the
    task and was not logged because the retracted event had said it already."""
    agent, branch = where
    waiting = [
        a for a in tx.synced_actions(agent.spec_id, branch, task_id=task_id)
        if a.event_id is None and a.commit is not None
    ]  # fmt: skip
    events = []
    for row in waiting:
        assert row.commit is not None
        still = domain.still_said(task_id, row.action, row.commit, row.patch_id)
        event = _sync_action(tx, where, still, (task_id, row.action, None))
        if event is not None:
            events.append(event)
            tx.put_synced_action(agent.spec_id, branch, row._replace(event_id=event.id))
    return events


def _sync_action(
    tx: StoreTransaction,
    where: _Branch,
    commit: SyncCommit,
    action: tuple[str, str, str | None],
) -> Event | None:
    """Log one action of a synced commit if the domain says it is logged."""
    agent, branch = where
    task_id, kind, reason = action
    if not rules.logs_action(task_events(tx, agent, task_id), kind, agent.id):
        return None
    event = tx.append(domain.sync_action(agent.spec_id, agent.role, branch, commit, action))
    if kind == "blocked":
        description = domain.sync_blocker_description(commit, reason)
        open_blocker(tx, agent, ("dependency", description, None), task_id)
    return event


# -- conflict scans ------------------------------------------------------------------------
def record_scan(
    tx: StoreTransaction,
    spec_id: str,
    scanned: Sequence[tuple[str, str]],
    found: Sequence[FoundConflict],
) -> tuple[list[Conflict], list[Conflict], list[Event]]:
    """Reconcile a scan with the open scan conflicts of a feature (the domain's
    :func:`~claude_orchestrator.domain_rules.reconcile_scan` decides).

    :return: (opened, resolved, events)
    """
    feature_of(tx, spec_id)
    open_ = {c.id: c for c in tx.open_conflicts(spec_id)}
    recorded = [
        rules.RecordedConflict(c.id, c.role, c.branch, c.other_branch, rules.fingerprint(c.files))
        for c in open_.values() if c.branch is not None and c.other_branch is not None
    ]  # fmt: skip
    plan = rules.reconcile_scan(scanned, found, recorded)
    opened: list[Conflict] = []
    resolved: list[Conflict] = []
    events: list[Event] = []
    for row, note in plan.resolve:
        resolved.append(close_conflict(tx, open_[row.id], domain.scan_resolution_notes(note)))
        events.append(tx.append(domain.scan_conflict_resolved(
            spec_id, row.role, row.id, row.branch, row.other_branch, note
        )))  # fmt: skip
    for item in plan.open:
        agent_of(tx, spec_id, item.role)
        if item.other_role:
            agent_of(tx, spec_id, item.other_role)
        conflict = tx.insert_conflict(Conflict(
            0, spec_id, item.role, list(item.files), item.severity, False, None, "", None,
            item.branch, item.other_branch, item.other_role or None,
        ))  # fmt: skip
        opened.append(conflict)
        events.append(tx.append(domain.scan_conflict_detected(spec_id, item, conflict.id)))
    return opened, resolved, events
