"""The sender: queued notifications go to their channels, never twice at once, never lost.

One pass (:meth:`Sender.send_due`) takes the queued notifications that are due, per
channel, and:

- leaves a channel alone while it asked to wait (``429 Retry-After``) or cannot be built
  (its variable unset: logged, its messages stay queued);
- holds what arrives in quiet hours (below the channel's ``allow`` severity) until they end;
- folds a flood into one digest: ``threshold`` messages due at once go as one; while
  ``threshold`` arrive within ``window`` seconds of the oldest due one, the due ones wait
  for the window to close;
- keeps to the channel's rate limit (sent in the last ``per`` seconds);
- *leases* each message before sending it (a compare-and-set in a store transaction that
  counts the attempt), so two senders never send one message at once, and a sender killed
  mid-send leaves only that message to be sent again, with the same idempotency key, once
  its lease expires (at once when the sender that held it is known to be dead);
- records the outcome: sent; retried after an exponential backoff with jitter (timeouts,
  5xx, 429, which also holds the channel for its ``Retry-After``); dead-lettered after
  ``retry.attempts`` or at once on another 4xx (``notify failed``, ``notify retry``).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from .errors import OrchestratorError, ValidationError
from .fsutil import owner_alive, process_tag
from .models import Notification
from .notify_classify import RANK
from .notify_config import ChannelConfig, NotifySettings, QuietHours
from .notify_message import DIGEST, EVENT, DeliveryFailed, Item, Message
from .notify_route import CANCELLED, DEAD, DIGESTED, QUEUED, SENT

if TYPE_CHECKING:
    from .protocols import Channel
    from .store_service import Store

#: the ``notify_state`` scope of channels' own state (``<channel>:retry_after``)
CHANNELS = "channel"
#: a rate limit for channel types that say none
DEFAULT_RATE = (30, 60.0)
#: the longest ``Retry-After`` honoured (seconds)
MAX_RETRY_AFTER = 3600.0
#: at most this many items are listed in a digest (the count is always right)
DIGEST_ITEMS = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


class Outcome(NamedTuple):
    """What one pass did with one notification."""

    id: int
    channel: str
    kind: str
    result: str  # sent, retry, dead, digested, deferred
    status: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """The text without the given secrets and without any URL (one line)."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    text = _CONTROL.sub(" ", _URL.sub("[url]", text))  # NUL: a PostgreSQL text cannot hold it
    return " ".join(text.split())


def backoff(attempts: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """The wait before retry number ``attempts`` (1, 2, ...): half of ``base * 2**(n-1)``
    (capped) plus a random part of the other half, so waits grow and senders spread."""
    ceiling = min(cap, base * 2.0 ** min(attempts - 1, 60))
    return ceiling / 2 + rand() * ceiling / 2


def quiet_end(quiet: QuietHours, now: float) -> float | None:
    """When the quiet hours that ``now`` is in end (Unix time), or None outside them."""
    zone = None
    if quiet.timezone is not None:
        import zoneinfo

        zone = zoneinfo.ZoneInfo(quiet.timezone)
    local = datetime.fromtimestamp(now, zone) if zone else datetime.fromtimestamp(now).astimezone()
    minute = local.hour * 60 + local.minute
    start, end = quiet.start, quiet.end
    inside = start <= minute < end if start <= end else (minute >= start or minute < end)
    if not inside or start == end:
        return None
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ends = midnight + timedelta(minutes=end)
    if ends <= local:
        ends += timedelta(days=1)
    return float(ends.timestamp())


class Sender:
    """Sends what is due; one per process (``notify run``, ``notify flush``)."""

    def __init__(
        self,
        store: Store,
        settings: NotifySettings,
        build: Callable[[str], Channel],
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        log: Callable[[str, str], None] = lambda channel, text: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._build = build
        self._clock = clock
        self._rand = rand
        self._log = log
        self._channels: dict[str, Channel | str] = {}
        #: channels that may not send before a time (Retry-After, rate limit)
        self._holds: dict[str, float] = {}
        self.owner = process_tag(os.getpid()) or f"pid-{os.getpid()}"

    # -- channels --------------------------------------------------------------------
    def channel(self, name: str) -> Channel | str:
        """The built channel, or why it cannot be built (said once in the log)."""
        if name not in self._channels:
            try:
                self._channels[name] = self._build(name)
            except OrchestratorError as exc:
                self._channels[name] = str(exc)
                self._log(name, f"cannot send: {exc}")
        return self._channels[name]

    def _secrets(self, name: str) -> tuple[str, ...]:
        built = self._channels.get(name)
        return tuple(getattr(built, "secrets", ()) or ()) if not isinstance(built, str) else ()

    # -- one pass --------------------------------------------------------------------
    def send_due(self) -> list[Outcome]:
        """Send every notification due now (see the module docstring)."""
        now = self._clock()
        with self.store.transaction() as tx:
            due = tx.notifications(states=(QUEUED,), due_before=now, limit=1000)
        by_channel: dict[str, list[Notification]] = {}
        for row in due:
            by_channel.setdefault(row.channel, []).append(row)
        outcomes: list[Outcome] = []
        for name, rows in by_channel.items():
            outcomes += self._channel_pass(name, rows, now)
        return outcomes

    def _channel_pass(self, name: str, rows: list[Notification], now: float) -> list[Outcome]:
        configured = self.settings.channels.get(name)
        if configured is None:
            return self._drop(rows, "the channel is no longer configured")
        channel = self.channel(name)
        if isinstance(channel, str):
            return []
        with self.store.transaction() as tx:
            held = tx.notify_state(CHANNELS, f"{name}:retry_after")
        self._holds.pop(name, None)
        if held is not None and float(held) > now:
            self._holds[name] = float(held)
            return []
        rows, outcomes = self._quiet(configured, rows, now)
        rows, folded = self._digest(name, rows, now)
        outcomes += folded
        limit, per = configured.rate_limit or getattr(channel, "rate_limit", None) or DEFAULT_RATE
        with self.store.transaction() as tx:
            recent = tx.notifications(states=(SENT,), channel=name, sent_since=now - per + 1e-6,
                                      limit=int(limit))  # fmt: skip
        budget = max(0, int(limit) - len(recent))
        if len(rows) > budget:  # the rest waits for the oldest send to leave the window
            self._holds[name] = min([r.sent_at or now for r in recent] + [now]) + per
        for row in rows[:budget]:
            outcome = self._send_one(channel, row)
            if outcome is not None:
                outcomes.append(outcome)
                if outcome.status == 429:
                    break
        return outcomes

    def _drop(self, rows: Sequence[Notification], why: str) -> list[Outcome]:
        with self.store.transaction() as tx:
            for row in rows:
                tx.update_notification(row._replace(state=CANCELLED, last_error=why))
        return [Outcome(r.id, r.channel, r.kind, "cancelled", None, why) for r in rows]

    def _defer(self, rows: Sequence[Notification], until: float) -> None:
        with self.store.transaction() as tx:
            for row in rows:
                current = tx.notification(row.id)
                if current is not None and current.state == QUEUED:
                    tx.update_notification(current._replace(due_at=until))

    def _quiet(self, configured: ChannelConfig, rows: list[Notification], now: float
               ) -> tuple[list[Notification], list[Outcome]]:  # fmt: skip
        quiet = configured.quiet_hours
        ends = None if quiet is None else quiet_end(quiet, now)
        if quiet is None or ends is None:
            return rows, []
        allow = RANK.get(quiet.allow, 3)
        held = [r for r in rows if RANK.get(r.severity, 0) < allow]
        self._defer(held, ends)
        kept = [r for r in rows if RANK.get(r.severity, 0) >= allow]
        return kept, [Outcome(r.id, r.channel, r.kind, "deferred", None, "quiet hours")
                      for r in held]  # fmt: skip

    def _digest(self, name: str, rows: list[Notification], now: float
                ) -> tuple[list[Notification], list[Outcome]]:  # fmt: skip
        events = [r for r in rows if r.kind == EVENT]
        others = [r for r in rows if r.kind != EVENT]
        threshold, window = self.settings.digest_threshold, self.settings.digest_window
        if len(events) >= threshold:
            digest = self._fold(name, events, now)
            if digest is None:
                return others, []
            folded = [Outcome(r.id, name, r.kind, "digested", None, f"in {digest.id}")
                      for r in events]  # fmt: skip
            return [digest, *others], folded
        with self.store.transaction() as tx:
            waiting = [r for r in tx.notifications(states=(QUEUED,), channel=name, limit=1000)
                       if r.kind == EVENT]  # fmt: skip
        if events and waiting:
            # a flood: the window from the oldest waiting one holds ``threshold``; all of it
            # waits until the window has closed and settled, then goes as one digest
            closes = min(r.created_at for r in waiting) + window
            burst = [r for r in waiting if r.created_at < closes]
            if len(burst) >= threshold:
                self._defer(burst, closes + self.settings.settle)
                return others, [Outcome(r.id, name, r.kind, "deferred", None, "a flood: "
                                        "waiting to send one digest") for r in events]  # fmt: skip
        return rows, []

    def _fold(self, name: str, rows: Sequence[Notification], now: float) -> Notification | None:
        """Replace ``rows`` (still queued and free) by one queued digest, atomically."""
        with self.store.transaction() as tx:
            current = [tx.notification(r.id) for r in rows]
            members = [m for m in current if m is not None and self._free(m, now)]
            if len(members) < 2:
                return None
            digest = digest_of(name, members, now)
            stored = tx.insert_notification(digest)
            if stored is None:
                return None
            note = f"in digest {stored.id}"
            for member in members:
                tx.update_notification(member._replace(state=DIGESTED, last_error=note))
            return stored

    # -- one message ----------------------------------------------------------------
    def _free(self, row: Notification, now: float) -> bool:
        return row.state == QUEUED and not self._leased(row, now)

    def _leased(self, row: Notification, now: float) -> bool:
        """True while another live sender holds the row."""
        if row.lease_owner is None or row.lease_owner == self.owner:
            return False
        if row.lease_until is not None and row.lease_until <= now:
            return False
        return owner_alive(row.lease_owner) is not False

    def lease(self, row_id: int) -> Notification | None:
        """Take the row for sending (counting the attempt), or None if it is not free."""
        now = self._clock()
        with self.store.transaction() as tx:
            row = tx.notification(row_id)
            if row is None or row.state != QUEUED or row.due_at > now or self._leased(row, now):
                return None
            leased = row._replace(lease_owner=self.owner, lease_until=now + self.settings.lease,
                                  attempts=row.attempts + 1)  # fmt: skip
            tx.update_notification(leased)
            return leased

    def _send_one(self, channel: Channel, row: Notification) -> Outcome | None:
        leased = self.lease(row.id)
        if leased is None:
            return None
        secrets = self._secrets(row.channel)
        try:
            message = Message.from_json(leased.payload)
            sent = channel.send(message, key=leased.key, timeout=self.settings.timeout)
        except DeliveryFailed as exc:
            return self._failed(leased, exc, redact(exc.detail, secrets))
        except Exception as exc:  # a channel's bug: retried like a timeout, said in the log
            failure = DeliveryFailed(f"{type(exc).__name__}: {exc}", retryable=True)
            return self._failed(leased, failure, redact(failure.detail, secrets))
        now = self._clock()
        with self.store.transaction() as tx:
            tx.update_notification(leased._replace(
                state=SENT, sent_at=now, lease_owner=None, lease_until=None, last_error=None,
                last_status=sent.status))  # fmt: skip
        return Outcome(leased.id, leased.channel, leased.kind, "sent", sent.status,
                       redact(sent.detail, secrets))  # fmt: skip

    def _failed(self, row: Notification, exc: DeliveryFailed, detail: str) -> Outcome:
        now = self._clock()
        settings = self.settings
        retry = exc.retryable and row.attempts < settings.attempts
        due = now + backoff(row.attempts, settings.retry_base, settings.max_delay, self._rand)
        with self.store.transaction() as tx:
            if exc.retry_after is not None:
                wait = min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER)
                due = now + wait
                tx.put_notify_state(CHANNELS, f"{row.channel}:retry_after", repr(now + wait))
            tx.update_notification(row._replace(
                state=QUEUED if retry else DEAD, due_at=due if retry else row.due_at,
                lease_owner=None, lease_until=None, last_error=detail,
                last_status=exc.status))  # fmt: skip
        result = "retry" if retry else "dead"
        self._log(row.channel, f"notification {row.id} {result} (attempt {row.attempts}): {detail}")
        return Outcome(row.id, row.channel, row.kind, result, exc.status, detail)

    # -- waiting ----------------------------------------------------------------------
    def next_due(self) -> float | None:
        """When the earliest queued notification of a channel that can send is due (None:
        nothing queued there)."""
        broken = set(self.broken())
        with self.store.transaction() as tx:
            queued = tx.notifications(states=(QUEUED,), limit=1000)
        times = [max(r.due_at, self._holds.get(r.channel, 0.0), self._held_by_other(r))
                 for r in queued if r.channel not in broken]  # fmt: skip
        return min(times, default=None)

    def _held_by_other(self, row: Notification) -> float:
        """Until when another live sender holds the row (0: it does not)."""
        if row.lease_until is None or not self._leased(row, self._clock()):
            return 0.0
        return row.lease_until

    def queued(self) -> int:
        """How many notifications are queued (at most 10,000 are counted)."""
        with self.store.transaction() as tx:
            return len(tx.notifications(states=(QUEUED,), limit=10_000))

    def broken(self) -> dict[str, str]:
        """The channels this sender could not build, and why."""
        return {name: why for name, why in self._channels.items() if isinstance(why, str)}


def digest_of(channel: str, rows: Sequence[Notification], now: float) -> Notification:
    """One queued digest message listing ``rows`` (at most :data:`DIGEST_ITEMS` of them)."""
    messages = [Message.from_json(r.payload) for r in rows]
    severity = max((r.severity for r in rows), key=lambda s: RANK.get(s, 0))
    items = tuple(Item(m.severity, m.title, m.spec_id, m.role, m.event_type,
                       (m.event or {}).get("id")) for m in messages[:DIGEST_ITEMS])  # fmt: skip
    counts: dict[str, int] = {}
    for m in messages:
        counts[m.event_type or m.kind] = counts.get(m.event_type or m.kind, 0) + 1
    text = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    features = sorted({m.spec_id for m in messages if m.spec_id})
    message = Message(DIGEST, severity, f"{len(rows)} notifications", text,
                      fields=(("features", ", ".join(features)),) if features else (),
                      items=items, created_at=messages[-1].created_at)  # fmt: skip
    ids = sorted(r.id for r in rows)
    specs = {r.spec_id for r in rows}
    prefix = rows[0].key.rsplit(":", 1)[0]  # <store id>:<channel>
    return Notification(0, channel, f"{prefix}:d{ids[0]}-{ids[-1]}.{len(ids)}", DIGEST,
                        specs.pop() if len(specs) == 1 else None, None, severity,
                        message.to_json(), QUEUED, 0, now, now)  # fmt: skip


# -- dead letters ----------------------------------------------------------------------
def dead_letters(store: Store, limit: int = 1000) -> list[Notification]:
    with store.transaction() as tx:
        rows = tx.notifications(states=(DEAD,), limit=limit)
    return sorted(rows, key=lambda r: r.id)


def retry(store: Store, notification_id: int, now: float | None = None) -> Notification:
    """Queue a dead-lettered notification again, due now, its attempts reset."""
    with store.transaction() as tx:
        row = tx.notification(notification_id)
        if row is None or row.state != DEAD:
            state = "does not exist" if row is None else f"is {row.state}, not dead"
            raise ValidationError(
                f"notification {notification_id} {state}: `claude-orchestrator notify failed` "
                "lists the dead-lettered ones"
            )
        queued = row._replace(state=QUEUED, attempts=0, due_at=time.time() if now is None else now,
                              lease_owner=None, lease_until=None)  # fmt: skip
        tx.update_notification(queued)
    return queued


__all__ = ["CANCELLED", "DEAD", "DIGESTED", "QUEUED", "SENT", "Outcome", "Sender", "backoff",
           "dead_letters", "digest_of", "quiet_end", "redact", "retry"]  # fmt: skip
