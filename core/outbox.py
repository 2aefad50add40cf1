"""The outbox: committed events delivered to the *outbox* notifiers by cursor.

The events table is the outbox. Each outbox notifier has a cursor in the store (the last
event id it has had delivered). A delivery reads the events after the cursor, oldest
first, tells the notifier, lets it flush, and only then moves the cursor, with a
compare-and-set: a notifier that raises, or a process killed mid-delivery, leaves the
cursor where it was, and the same events are delivered again next time. Delivery is
therefore *at least once*; the event id is the idempotency key a receiver dedupes on.

One process delivers to a notifier at a time (an ``fcntl`` lock per notifier in the state
directory); the compare-and-set keeps the cursor right even if two did. After an
operation stores events, :func:`start_delivery` runs ``claude-orchestrator notify flush
--background`` as a detached process, so no hook waits on a network; guard decisions,
which the guard stores without an operation around it, go out with the next delivery.
``CLAUDE_ORCHESTRATOR_NO_BACKGROUND_DELIVERY=1`` turns the background start off (cron or
``notify flush`` by hand then deliver).
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .location import ENV_DB, Location
from .protocols import Notifier
from .store_service import Store

if TYPE_CHECKING:
    from .wiring import Wiring

ENV_NO_BACKGROUND = "CLAUDE_ORCHESTRATOR_NO_BACKGROUND_DELIVERY"
#: events read and told per batch; the cursor moves after each batch
BATCH = 200
#: at most this many events are counted as pending
PENDING_CAP = 10_000
#: how long ``notify flush`` waits for another process's delivery to finish
WAIT_S = 30.0
LOG_NAME = "notify.log"
LOG_MAX_BYTES = 1 << 20

_started: list[subprocess.Popen[bytes]] = []


class Delivered(NamedTuple):
    """What one delivery to one notifier did."""

    notifier: str
    delivered: int
    cursor: int | None
    pending: int
    error: str | None = None
    busy: bool = False

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


class OutboxState(NamedTuple):
    """Where an outbox notifier stands (``notify status``)."""

    notifier: str
    cursor: int | None
    pending: int
    last_error: str | None

    def to_dict(self) -> dict[str, object]:
        return self._asdict()


def outbox_notifiers(notifiers: list[tuple[str, Notifier]]) -> list[tuple[str, Notifier]]:
    from .protocols import OUTBOX

    return [(n, x) for n, x in notifiers if getattr(x, "delivery", None) == OUTBOX]


def pending(store: Store, cursor: int | None) -> int:
    """How many events wait after ``cursor`` (at most :data:`PENDING_CAP`)."""
    if cursor is None:
        return 0
    return len(store.events_since(cursor, PENDING_CAP))


def newest_event_id(store: Store) -> int:
    newest = store.recent_events(1)
    return newest[0].id if newest else 0


def start_cursor(store: Store, name: str, first_new_id: int) -> None:
    """A notifier seen for the first time starts just before the first event it is owed."""
    if store.delivery_cursor(name) is None:
        store.move_delivery_cursor(name, None, max(first_new_id - 1, 0))


def deliver(store: Store, name: str, notifier: Notifier, *, batch: int = BATCH) -> Delivered:
    """Deliver every event after the notifier's cursor (the caller holds its lock)."""
    cursor = store.delivery_cursor(name)
    if cursor is None:  # configured since the last event: it is owed nothing yet
        cursor = newest_event_id(store)
        if not store.move_delivery_cursor(name, None, cursor):
            cursor = store.delivery_cursor(name)
    delivered = 0
    error = None
    while cursor is not None:
        events = store.events_since(cursor, batch)
        if not events:
            break
        try:
            for event in events:
                notifier.notify(event)
            flush = getattr(notifier, "flush", None)
            if flush is not None:
                flush()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            break
        if not store.move_delivery_cursor(name, cursor, events[-1].id):
            break  # another process delivered them meanwhile
        cursor = events[-1].id
        delivered += len(events)
    return Delivered(name, delivered, cursor, pending(store, cursor), error)


@contextlib.contextmanager
def delivery_lock(state_dir: Path, name: str, *, wait_s: float) -> Iterator[bool]:
    """Hold the notifier's delivery lock; yields False if another process kept it for
    ``wait_s`` seconds."""
    lock_dir = state_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"outbox-{name}.lock", "a+") as handle:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_failure(state_dir: Path, result: Delivered) -> None:
    """Append a failed background delivery to ``notify.log`` (kept under 1 MiB)."""
    path = state_dir / LOG_NAME
    with contextlib.suppress(OSError):
        if path.exists() and path.stat().st_size > LOG_MAX_BYTES:
            path.replace(path.with_suffix(".log.1"))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = f"{stamp} {result.notifier} cursor={result.cursor} {result.error}\n"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line.replace("\r", " "))


def last_failure(state_dir: Path, name: str) -> str | None:
    """The newest logged failure of the notifier, without its time stamp."""
    path = state_dir / LOG_NAME
    try:
        with open(path, "rb") as handle:
            handle.seek(max(path.stat().st_size - 64 * 1024, 0))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == name:
            return parts[2]
    return None


def start_delivery(location: Location, store_path: Path, env: Mapping[str, str]) -> None:
    """Start ``notify flush --background`` detached from this process (never waits)."""
    if env.get(ENV_NO_BACKGROUND):
        return
    for process in list(_started):  # reap the ones that finished
        if process.poll() is not None:
            _started.remove(process)
    child_env = {**env, ENV_DB: str(store_path)}
    command = [sys.executable, "-m", "claude_orchestrator", "notify", "flush", "--background"]
    with contextlib.suppress(OSError):
        _started.append(
            subprocess.Popen(
                command,
                cwd=location.cwd,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        )


def flush(orch: Wiring, *, background: bool = False) -> list[Delivered]:
    """``notify flush``: deliver what every outbox notifier is owed, now.

    In the foreground it waits (up to :data:`WAIT_S`) for another process delivering to
    the same notifier; in the background it leaves that notifier to the other process,
    logs failures to ``notify.log`` and, when events arrived while it delivered, goes
    round again (at most a few times), so an event stored just as a delivery ended is
    not left waiting for the next operation.
    """
    store = orch.store
    state_dir = orch.location.state_dir
    results: list[Delivered] = []
    for name, notifier in outbox_notifiers(orch.notifiers()):
        for _round in range(3 if background else 1):
            with delivery_lock(state_dir, name, wait_s=0.0 if background else WAIT_S) as held:
                if not held:
                    cursor = store.delivery_cursor(name)
                    result = Delivered(name, 0, cursor, pending(store, cursor), busy=True)
                else:
                    result = deliver(store, name, notifier)
            if background and result.error is not None:
                log_failure(state_dir, result)
            if not background or result.busy or result.error or not result.pending:
                break
        results.append(result)
    return results


def status(orch: Wiring) -> list[OutboxState]:
    """``notify status``: each outbox notifier's cursor, what it is owed, its last failure."""
    store = orch.store
    state_dir = orch.location.state_dir
    states = []
    for name, _notifier in outbox_notifiers(orch.notifiers()):
        cursor = store.delivery_cursor(name)
        states.append(
            OutboxState(name, cursor, pending(store, cursor), last_failure(state_dir, name))
        )
    return states
