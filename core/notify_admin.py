"""What ``notify channels``, ``notify failed``, ``notify retry`` and ``notify test`` show
and do."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from .errors import OrchestratorError, ValidationError
from .models import Notification
from .notify_config import settings
from .notify_message import TEST, DeliveryFailed, Message
from .notify_route import DEAD, QUEUED
from .notify_send import CHANNELS, dead_letters, redact
from .notify_send import retry as requeue
from .validate import check_positive_id

if TYPE_CHECKING:
    from .wiring import Wiring


class ChannelState(NamedTuple):
    channel: str
    type: str
    target: str
    queued: int
    dead: int
    last_error: str | None
    held_until: float | None
    note: str

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


class Failed(NamedTuple):
    id: int
    channel: str
    kind: str
    attempts: int
    #: the receiver's last HTTP status; None when none answered (a timeout, a program)
    status: int | None
    error: str
    title: str
    key: str

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


class TestResult(NamedTuple):
    channel: str
    target: str
    ok: bool
    status: int | None
    detail: str
    key: str

    def to_dict(self) -> dict[str, object]:
        return self._asdict()

    def line(self) -> str:
        said = f"HTTP {self.status}" if self.status is not None else "no HTTP status"
        if self.ok:
            return f"sent a test message to {self.channel} ({self.target}): {said}"
        return f"failed to send to {self.channel} ({self.target}): {said}: {self.detail}"


def channel_states(orch: Wiring) -> list[ChannelState]:
    configured = settings(orch.config).channels
    store = orch.store
    states = []
    for name, channel in configured.items():
        try:
            target = orch.channel(name).describe()
            problem = ""
        except OrchestratorError as exc:
            target, problem = "-", f"cannot send: {exc}"
        with store.transaction() as tx:
            queued = tx.notifications(states=(QUEUED,), channel=name, limit=100_000)
            dead = tx.notifications(states=(DEAD,), channel=name, limit=100_000)
            held = tx.notify_state(CHANNELS, f"{name}:retry_after")
        errors = [r for r in queued if r.last_error]
        last = errors[-1].last_error if errors else (dead[-1].last_error if dead else None)
        until = float(held) if held is not None and float(held) > time.time() else None
        note = problem or (f"waiting (Retry-After) until {_clock(until)}" if until else "")
        note = note or (f"last failure: {last}" if last else "")
        states.append(ChannelState(name, channel.type, target, len(queued), len(dead), last,
                                   until, note))  # fmt: skip
    return states


def _clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


def failed(orch: Wiring) -> list[Failed]:
    rows = []
    for row in dead_letters(orch.store):
        title = Message.from_json(row.payload).title
        rows.append(Failed(row.id, row.channel, row.kind, row.attempts, row.last_status,
                           row.last_error or "", title, row.key))  # fmt: skip
    return rows


def retry(orch: Wiring, ids: Sequence[int], *, every: bool) -> list[Notification]:
    if every == bool(ids):
        which = "ids or --all, not both" if every else "the ids (from `notify failed`) or --all"
        raise ValidationError(f"name the notifications to retry: {which}")
    checked = [check_positive_id(i, "notification") for i in ids]
    store = orch.store
    chosen = [r.id for r in dead_letters(store)] if every else list(dict.fromkeys(checked))
    for notification_id in chosen:  # every id is checked before any is queued
        with store.transaction() as tx:
            row = tx.notification(notification_id)
        if row is None or row.state != DEAD:
            requeue(store, notification_id)  # raises the error that says why
    return [requeue(store, notification_id) for notification_id in chosen]


def send_test(orch: Wiring, name: str) -> TestResult:
    """Send a sample message to the channel now, not through the queue."""
    channel = orch.channel(name)
    timeout = settings(orch.config).timeout
    key = f"{name}:test-{time.time_ns()}"
    message = Message(
        TEST, "info", "claude-orchestrator test message",
        f"If you can read this, notifications reach {name}.",
        fields=(("channel", name),), action="claude-orchestrator notify channels",
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )  # fmt: skip
    secrets = tuple(getattr(channel, "secrets", ()) or ())
    target = redact(channel.describe(), secrets)
    try:
        sent = channel.send(message, key=key, timeout=timeout)
    except DeliveryFailed as exc:
        return TestResult(name, target, False, exc.status, redact(exc.detail, secrets), key)
    return TestResult(name, target, True, sent.status, redact(sent.detail, secrets), key)
