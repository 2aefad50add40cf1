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
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import StoreError
from .fsutil import lock_within
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
#: the lock a running ``notify run`` holds (:mod:`claude_orchestrator.notify_run`)
RUN = "notify-run"
LOG_MAX_BYTES = 1 << 20

#: the background deliveries this process started (reaped as they end)
_started: list[int] = []
#: the background delivery's program: go to the command's directory, run the CLI
_CHILD = (
    "import os, sys; os.chdir(sys.argv.pop(1)); "
    "from claude_orchestrator.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


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


def start_cursors(store: Store, names: list[str]) -> None:
    """Before an operation writes: a notifier seen for the first time is owed what comes
    after the newest event (so no event an operation stores from now on is skipped)."""
    for name in names:
        if store.delivery_cursor(name) is None:
            store.move_delivery_cursor(name, None, newest_event_id(store))


def deliver(store: Store, name: str, notifier: Notifier, *, batch: int = BATCH) -> Delivered:
    """Deliver every event after the notifier's cursor (the caller holds its lock).

    When ``notify`` raises on an event, the events before it are flushed and the cursor
    moves past them; the failing one is delivered again next time.
    """
    cursor = store.delivery_cursor(name)
    if cursor is None:  # configured since the last event: it is owed nothing yet
        cursor = newest_event_id(store)
        if not store.move_delivery_cursor(name, None, cursor):
            cursor = store.delivery_cursor(name)
    delivered = 0
    error = None
    while cursor is not None and error is None:
        events = store.events_since(cursor, batch)
        if not events:
            break
        told = 0
        try:
            for event in events:
                notifier.notify(event)
                told += 1
        except Exception as exc:
            error = _describe(exc)
        try:
            flush = getattr(notifier, "flush", None)
            if flush is not None and told:
                flush()
        except Exception as exc:
            error, told = error or _describe(exc), 0
        if not told:
            break
        if not store.move_delivery_cursor(name, cursor, events[told - 1].id):
            cursor = store.delivery_cursor(name)
            break  # another process delivered them meanwhile
        cursor = events[told - 1].id
        delivered += told
    return Delivered(name, delivered, cursor, pending(store, cursor), error)


def _describe(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever it said


def _lock_path(state_dir: Path, name: str) -> Path:
    lock_dir = state_dir / "locks"
    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot use the lock directory {lock_dir} ({exc.strerror or exc}): make it a "
            "writable directory"
        ) from None
    return lock_dir / f"outbox-{name}.lock"


@contextlib.contextmanager
def delivery_lock(state_dir: Path, name: str, *, wait_s: float) -> Iterator[bool]:
    """Hold the notifier's delivery lock; yields False if another process kept it for
    ``wait_s`` seconds."""
    path = _lock_path(state_dir, name)
    try:
        handle = open(path, "a+")  # noqa: SIM115 - held across the yield
    except OSError as exc:
        raise StoreError(f"cannot open the lock {path} ({exc.strerror or exc})") from None
    with handle:
        if not lock_within(handle, wait_s):
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def delivering(state_dir: Path, name: str) -> bool:
    """True while another process holds the notifier's delivery lock."""
    try:
        with delivery_lock(state_dir, name, wait_s=0.0) as held:
            return not held
    except StoreError:
        return False


def log_line(state_dir: Path, name: str, text: str) -> None:
    """Append one line to ``notify.log`` (kept under 1 MiB): ``<time> <notifier> <text>``;
    ``ok`` records a delivery that succeeded, so an old failure is not shown as current."""
    path = state_dir / LOG_NAME
    with contextlib.suppress(OSError):
        if path.exists() and path.stat().st_size > LOG_MAX_BYTES:
            path.replace(path.with_suffix(".log.1"))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {name} {' '.join(text.split())}\n")


def last_failure(state_dir: Path, name: str) -> str | None:
    """The notifier's newest logged failure, without its time stamp (None when its newest
    line says its last delivery succeeded)."""
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
            return None if parts[2] == "ok" else parts[2]
    return None


def start_delivery(
    location: Location, store_path: Path, env: Mapping[str, str], names: list[str]
) -> None:
    """Start ``notify flush --background`` detached from this process (never waits),
    unless every outbox notifier is being delivered to already (that process goes round
    again for what arrived meanwhile)."""
    if env.get(ENV_NO_BACKGROUND) or delivering(location.state_dir, RUN):
        return  # turned off, or ``notify run`` delivers everything
    if all(delivering(location.state_dir, n) for n in names):
        return
    spawn_detached(location, store_path, env, ["notify", "flush", "--background"])


def spawn_detached(
    location: Location, store_path: Path, env: Mapping[str, str], argv: list[str]
) -> None:
    """Start ``claude-orchestrator ARGV`` in ``location``'s directory, detached from this
    process (never waits; its standard error goes to ``notify.log``)."""
    for pid in list(_started):  # reap the ones that finished
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                continue
        _started.remove(pid)
    child_env = {**env, ENV_DB: str(store_path)}
    # -P: the working directory (a repository an agent writes) is not put on sys.path;
    # the child goes there itself (posix_spawn has no working-directory action here)
    command = [sys.executable, "-P", "-c", _CHILD, str(location.cwd), *argv]
    # posix_spawn, not subprocess: the hook path does not import subprocess (~4 ms), and
    # the child is in a session of its own; descriptors Python opened are not inherited
    log = _child_log(location.state_dir)
    actions: list[tuple[object, ...]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, log, 2) if log is not None
        else (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
    ]  # fmt: skip
    try:
        _started.append(os.posix_spawn(sys.executable, command, child_env,
                                       file_actions=actions, setsid=True))  # fmt: skip
    except OSError:
        pass
    finally:
        if log is not None:
            os.close(log)


def _child_log(state_dir: Path) -> int | None:
    """The background process's standard error: ``notify.log`` (what it cannot deliver
    because it cannot even start is said there too); None when it cannot be opened."""
    try:
        return os.open(state_dir / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return None


def flush(orch: Wiring, *, background: bool = False) -> list[Delivered]:
    """``notify flush``: deliver what every outbox notifier is owed, now.

    In the foreground it waits (up to :data:`WAIT_S`) for another process delivering to
    the same notifier. In the background it leaves that notifier to the other process,
    logs each outcome to ``notify.log``, and after releasing the lock looks once more:
    events stored while it delivered (whose command saw the lock held and started no
    delivery of its own) are delivered in another round.
    """
    store = orch.store
    state_dir = orch.location.state_dir
    results: list[Delivered] = []
    for name, notifier in outbox_notifiers(orch.notifiers()):
        for _round in range(5 if background else 1):
            with delivery_lock(state_dir, name, wait_s=0.0 if background else WAIT_S) as held:
                if not held:
                    cursor = store.delivery_cursor(name)
                    result = Delivered(name, 0, cursor, pending(store, cursor), busy=True)
                else:
                    result = deliver(store, name, notifier)
            if background and not result.busy:
                text = f"cursor={result.cursor} {result.error}" if result.error else "ok"
                log_line(state_dir, name, text)
            if not background or result.busy or result.error:
                break
            if not pending(store, result.cursor):
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
