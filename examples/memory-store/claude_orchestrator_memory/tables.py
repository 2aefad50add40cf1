"""The memory store's records, and a transaction's primitive reads and writes on them.

Every record is a model from :mod:`claude_orchestrator.models` in a dict or a list. A
transaction works on the live records while the store's lock is held; when it raises,
the store puts back the copy it took at the start (see ``MemoryStore.transaction``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from claude_orchestrator import domain
from claude_orchestrator.errors import ValidationError
from claude_orchestrator.domain_rules import SyncedAction
from claude_orchestrator.models import (
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
from claude_orchestrator.protocols_store import BlockerRow
from claude_orchestrator.store_ops import now  # the time format every store writes

#: (spec id, branch, patch id, task id, action): what a synced change said
ActionKey = tuple[str, str, str, str, str]


@dataclass
class Tables:
    """Everything the store holds; ids are assigned per kind, increasing from 1."""

    features: dict[str, Feature] = field(default_factory=dict)
    #: spec id -> role -> agent
    agents: dict[str, dict[str, Agent]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    conflicts: dict[int, Conflict] = field(default_factory=dict)
    blockers: dict[int, BlockerRow] = field(default_factory=dict)
    tests: list[TestResult] = field(default_factory=list)
    pull_requests: dict[int, PullRequest] = field(default_factory=dict)
    #: branch -> where its last sync stopped
    cursors: dict[str, str] = field(default_factory=dict)
    #: (spec id, branch, patch id) -> the change's latest commit
    synced: dict[tuple[str, str, str], str] = field(default_factory=dict)
    #: what each synced change said -> the event that logged it; in the order recorded
    actions: dict[ActionKey, int | None] = field(default_factory=dict)
    delivery: dict[str, int] = field(default_factory=dict)
    #: the notification queue by id, and its keys (each queued once)
    notifications: dict[int, Notification] = field(default_factory=dict)
    notification_keys: set[str] = field(default_factory=set)
    #: (scope, key) -> what the notification pipeline keeps
    notify_state: dict[tuple[str, str], str] = field(default_factory=dict)
    #: token usage in the order written, its keys (each reply kept once), and where
    #: ingest stopped reading each transcript
    usage: list[Usage] = field(default_factory=list)
    usage_keys: set[str] = field(default_factory=set)
    transcript_cursors: dict[str, TranscriptCursor] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        self.ids[kind] = self.ids.get(kind, 0) + 1
        return self.ids[kind]

    def agent(self, spec_id: str, role: str) -> Agent:
        """The agent; the domain's not-found errors."""
        if spec_id not in self.features:
            raise domain.feature_not_found(spec_id)
        agent = self.agents[spec_id].get(role)
        if agent is None:
            raise domain.agent_not_found(spec_id, role)
        return agent


class MemoryTransaction:
    """The port's primitive reads and writes on the live tables."""

    def __init__(self, tables: Tables) -> None:
        self.t = tables

    # -- reads -----------------------------------------------------------------------
    def feature(self, spec_id: str) -> Feature | None:
        return self.t.features.get(spec_id)

    def agents(self, spec_id: str) -> list[Agent]:
        agents = self.t.agents.get(spec_id, {})
        return [agents[r] for r in sorted(agents, key=lambda r: (r != "overseer", r))]

    def conflict(self, conflict_id: int) -> Conflict | None:
        return self.t.conflicts.get(conflict_id)

    def open_conflicts(self, spec_id: str) -> list[Conflict]:
        return [c for _, c in sorted(self.t.conflicts.items())
                if c.spec_id == spec_id and not c.resolved]  # fmt: skip

    def blocker(self, blocker_id: int) -> BlockerRow | None:
        return self.t.blockers.get(blocker_id)

    def active_blockers(self, spec_id: str, role: str) -> list[Blocker]:
        return [b for _, (b, _) in sorted(self.t.blockers.items())
                if (b.spec_id, b.role, b.status) == (spec_id, role, "active")]  # fmt: skip

    def pull_request(self, pr_id: int) -> PullRequest | None:
        return self.t.pull_requests.get(pr_id)

    def events(
        self,
        spec_id: str,
        *,
        role: str | None = None,
        task_id: str | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        return [e for e in self.t.events if e.spec_id == spec_id
                and role in (None, e.role) and task_id in (None, e.task_id)
                and (types is None or e.event_type in types)]  # fmt: skip

    def synced_commit(self, spec_id: str, branch: str, patch_id: str) -> str | None:
        return self.t.synced.get((spec_id, branch, patch_id))

    def synced_actions(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] | None = None,
        task_id: str | None = None,
    ) -> list[SyncedAction]:
        return [
            SyncedAction(patch, task, action, event_id, self.t.synced.get((spec, on, patch)))
            for (spec, on, patch, task, action), event_id in self.t.actions.items()
            if (spec, on) == (spec_id, branch) and task_id in (None, task)
            and (patch_ids is None or patch in patch_ids)
        ]  # fmt: skip

    def delivery_cursor(self, consumer: str) -> int | None:
        return self.t.delivery.get(consumer)

    def notification(self, notification_id: int) -> Notification | None:
        return self.t.notifications.get(notification_id)

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
        chosen = [
            n for n in self.t.notifications.values()
            if n.state in states and channel in (None, n.channel) and subject in (None, n.subject)
            and (due_before is None or n.due_at <= due_before)
            and (sent_since is None or (n.sent_at is not None and n.sent_at >= sent_since))
        ]  # fmt: skip
        return sorted(chosen, key=lambda n: (n.due_at, n.id))[: max(limit, 0)]

    def notify_state(self, scope: str, key: str) -> str | None:
        return self.t.notify_state.get((scope, key))

    def usage(self, spec_id: str | None = None, *, since: str | None = None) -> list[Usage]:
        chosen = [u for u in self.t.usage
                  if spec_id in (None, u.spec_id) and (since is None or u.at >= since)]  # fmt: skip
        return sorted(chosen, key=lambda u: (u.at, u.id))

    def transcript_cursor(self, path: str) -> TranscriptCursor | None:
        return self.t.transcript_cursors.get(path)

    # -- writes ----------------------------------------------------------------------
    def insert_feature(self, feature: Feature) -> Feature:
        new = feature._replace(id=self.t.next_id("feature"), created_at=now())
        self.t.features[feature.spec_id] = new
        self.t.agents[feature.spec_id] = {}
        return new

    def update_feature(self, feature: Feature) -> None:
        old = self.t.features[feature.spec_id]
        self.t.features[feature.spec_id] = old._replace(
            name=feature.name, status=feature.status, completed_at=feature.completed_at
        )

    def insert_agent(self, agent: Agent) -> Agent:
        if agent.spec_id not in self.t.features:
            raise domain.feature_not_found(agent.spec_id)
        new = agent._replace(id=self.t.next_id("agent"), created_at=now())
        self.t.agents[agent.spec_id][agent.role] = new
        return new

    def update_agent(self, agent: Agent) -> None:
        old = self.t.agent(agent.spec_id, agent.role)
        self.t.agents[agent.spec_id][agent.role] = old._replace(status=agent.status)

    def insert_conflict(self, conflict: Conflict) -> Conflict:
        self.t.agent(conflict.spec_id, conflict.role)
        if conflict.other_role:
            self.t.agent(conflict.spec_id, conflict.other_role)
        new = conflict._replace(
            id=self.t.next_id("conflict"), files=list(conflict.files), detected_at=now(),
            other_role=conflict.other_role or None,
        )  # fmt: skip
        self.t.conflicts[new.id] = new
        return new

    def update_conflict(self, conflict: Conflict) -> None:
        old = self.t.conflicts[conflict.id]
        self.t.conflicts[conflict.id] = old._replace(
            resolved=conflict.resolved, resolution_notes=conflict.resolution_notes,
            resolved_at=conflict.resolved_at,
        )  # fmt: skip

    def insert_blocker(self, blocker: Blocker, task_id: str | None) -> Blocker:
        self.t.agent(blocker.spec_id, blocker.role)
        if blocker.blocking_role:
            self.t.agent(blocker.spec_id, blocker.blocking_role)
        new = blocker._replace(id=self.t.next_id("blocker"), created_at=now(),
                               blocking_role=blocker.blocking_role or None)  # fmt: skip
        self.t.blockers[new.id] = BlockerRow(new, task_id)
        return new

    def update_blocker(self, blocker: Blocker) -> None:
        old, task_id = self.t.blockers[blocker.id]
        changed = old._replace(status=blocker.status, resolution_notes=blocker.resolution_notes,
                               resolved_at=blocker.resolved_at)  # fmt: skip
        self.t.blockers[blocker.id] = BlockerRow(changed, task_id)

    def insert_test_result(self, result: TestResult) -> TestResult:
        self.t.agent(result.spec_id, str(result.role))
        new = result._replace(id=self.t.next_id("test"), created_at=now())
        self.t.tests.append(new)
        return new

    def insert_pull_request(self, pull_request: PullRequest) -> PullRequest:
        self.t.agent(pull_request.spec_id, pull_request.role)
        new = pull_request._replace(id=self.t.next_id("pr"), created_at=now())
        self.t.pull_requests[new.id] = new
        return new

    def update_pull_request(self, pull_request: PullRequest) -> None:
        old = self.t.pull_requests[pull_request.id]
        self.t.pull_requests[pull_request.id] = old._replace(
            status=pull_request.status, merged_at=pull_request.merged_at
        )

    def append(self, event: NewEvent) -> Event:
        self.t.agent(event.spec_id, event.role)
        new_id, created = self.t.next_id("event"), now()
        # kept as a database keeps it: empty values are NULL, metadata goes through JSON
        kept = json.loads(json.dumps(event.metadata, sort_keys=True)) if event.metadata else None
        self.t.events.append(Event(new_id, event.spec_id, event.role, event.event_type,
                                   event.message, event.task_id or None,
                                   event.commit_hash or None, kept, created))  # fmt: skip
        return Event(new_id, *event[:4], event.task_id, event.commit_hash, event.metadata, created)

    def put_sync_cursor(self, spec_id: str, branch: str, commit: str) -> None:
        self.t.cursors[branch] = commit

    def put_synced_commit(self, spec_id: str, branch: str, patch_id: str, commit: str) -> None:
        self.t.synced[(spec_id, branch, patch_id)] = commit

    def put_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self.t.actions[(spec_id, branch, *action[:3])] = action.event_id

    def delete_synced_action(self, spec_id: str, branch: str, action: SyncedAction) -> None:
        self.t.actions.pop((spec_id, branch, *action[:3]), None)

    def put_delivery_cursor(self, consumer: str, event_id: int) -> None:
        self.t.delivery[consumer] = event_id

    def insert_notification(self, notification: Notification) -> Notification | None:
        if notification.key in self.t.notification_keys:
            return None
        new = notification._replace(id=self.t.next_id("notification"))
        self.t.notifications[new.id] = new
        self.t.notification_keys.add(new.key)
        return new

    def update_notification(self, notification: Notification) -> None:
        n, old = notification, self.t.notifications.get(notification.id)
        if old is not None:
            self.t.notifications[n.id] = old._replace(
                payload=n.payload, state=n.state, attempts=n.attempts, due_at=n.due_at,
                lease_owner=n.lease_owner, lease_until=n.lease_until, sent_at=n.sent_at,
                last_error=n.last_error, last_status=n.last_status,
            )  # fmt: skip

    def delete_notifications(self, *, states: Sequence[str], before: float) -> int:
        gone = [n for n in self.t.notifications.values()
                if n.state in states and n.created_at < before]  # fmt: skip
        for n in gone:
            del self.t.notifications[n.id]
            self.t.notification_keys.discard(n.key)
        return len(gone)

    def put_notify_state(self, scope: str, key: str, value: str | None) -> None:
        if value is None:
            self.t.notify_state.pop((scope, key), None)
        else:
            self.t.notify_state[(scope, key)] = value

    def insert_usage(self, records: Sequence[Usage]) -> int:
        for record in records:  # every record checked before the first is kept
            _check_usage(self.t, record)
        written = 0
        for record in records:
            if record.key not in self.t.usage_keys:
                self.t.usage.append(record._replace(id=self.t.next_id("usage"), created_at=now()))
                self.t.usage_keys.add(record.key)
                written += 1
        return written

    def put_transcript_cursor(self, cursor: TranscriptCursor) -> None:
        c = cursor
        for name, value, top in (("device", c.device, 2**64), ("inode", c.inode, 2**64),
                                 ("offset", c.offset, 2**63), ("line", c.line, 2**63)):  # fmt: skip
            if not 0 <= value < top:
                raise ValidationError(f"the transcript cursor of {c.path} has {name} {value}: "
                                      f"give a whole number from 0 to {top - 1}")  # fmt: skip
        self.t.transcript_cursors[c.path] = c


def _check_usage(tables: Tables, record: Usage) -> None:
    """The checks every store makes of a usage record (see ``insert_usage``)."""
    if (record.spec_id is None) != (record.role is None):
        raise ValidationError(f"the usage record {record.key[:80]!r} names spec_id="
                              f"{record.spec_id!r} and role={record.role!r}: give both "
                              "(the agent it was made by) or neither")  # fmt: skip
    if record.spec_id is not None and record.role is not None:
        tables.agent(record.spec_id, record.role)  # the domain's not-found errors
    for name in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens",
                 "cache_write_1h_tokens", "line"):  # fmt: skip
        value = getattr(record, name)
        if not 0 <= value < 2**63:
            raise ValidationError(f"the usage record {record.key[:80]!r} has {name} {value}: "
                                  "a count is a whole number from 0 to 2**63 - 1")  # fmt: skip
    if record.cache_write_1h_tokens > record.cache_write_tokens:
        raise ValidationError(f"the usage record {record.key[:80]!r} has more 1-hour cache "
                              "writes than cache writes")  # fmt: skip
