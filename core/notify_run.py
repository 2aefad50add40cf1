"""``notify run`` and ``notify flush``: route the committed events and send what is due.

``notify run`` goes on until stopped (SIGTERM, SIGINT); ``up`` starts one in the
background when channels are configured, and while one runs, commands start no
background delivery of their own. ``notify flush`` (and the background delivery a
command starts when no ``notify run`` is running) goes round until nothing is due within
the next ``settle + window`` seconds, for at most ``wait`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .fsutil import owner_alive, process_tag
from .notify_config import settings
from .notify_route import prune
from .notify_send import Outcome, Sender
from .outbox import RUN, Delivered, deliver, delivery_lock, log_line, outbox_notifiers

if TYPE_CHECKING:
    import subprocess

    from .wiring import Wiring


#: the shortest wait between two passes (a due message another sender holds is not news)
MIN_PAUSE = 0.05
#: the ``notify run`` processes this process started (``up`` through the library)
_children: list[subprocess.Popen[bytes]] = []


def _reap() -> None:
    """Forget the started ``notify run`` processes that have ended (no zombie stays)."""
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)


class RunReport(NamedTuple):
    """What a run did: deliveries to the outbox notifiers, each send's outcome, and the
    channels that cannot send (why: a variable unset, an unknown type)."""

    delivered: list[Delivered]
    outcomes: list[Outcome]
    broken: dict[str, str]
    #: notifications still queued when it ended (due later, held, or unsendable)
    queued: int = 0


def sender(orch: Wiring) -> Sender:
    state_dir = orch.location.state_dir

    def log(channel: str, text: str) -> None:
        log_line(state_dir, channel, text)

    return Sender(orch.store, settings(orch.config), orch.channel, log=log)


def _deliver_all(orch: Wiring, results: dict[str, Delivered]) -> None:
    """Hand each outbox notifier (the router among them) what it is owed, skipping one
    another process is delivering to; a failure is logged once per change."""
    state_dir = orch.location.state_dir
    for name, notifier in outbox_notifiers(orch.notifiers()):
        with delivery_lock(state_dir, name, wait_s=0.0) as held:
            if not held:
                continue
            result = deliver(orch.store, name, notifier)
        before = results.get(name)
        if result.error and (before is None or before.error != result.error):
            log_line(state_dir, name, f"cursor={result.cursor} {result.error}")
        results[name] = result


def run(
    orch: Wiring,
    *,
    forever: bool,
    wait_s: float = 30.0,
    interval: float = 1.0,
    send: Sender | None = None,
    stopped: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> RunReport:
    """Route and send until stopped (``forever``), or until nothing is due within
    ``settle + window`` seconds or ``wait_s`` have passed (at least one pass)."""
    config = settings(orch.config)
    horizon = config.settle + config.digest_window + 1.0
    if send is None:
        send = sender(orch)
        prune(orch.store)
    delivered: dict[str, Delivered] = {}
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + wait_s
    while True:
        _deliver_all(orch, delivered)
        outcomes += send.send_due()
        if stopped():
            break
        now = time.time()
        due = send.next_due()
        if not forever and (due is None or due > now + horizon or time.monotonic() >= deadline):
            break
        sleep(interval if due is None else min(interval, max(due - now, MIN_PAUSE)))
    return RunReport(list(delivered.values()), outcomes, send.broken(), send.queued())


def pause(send: Sender, interval: float, *, stopped: Callable[[], bool], look: bool = True) -> None:
    """Wait until the next notification is due (``look``: ask the store when), at most
    ``interval`` seconds, waking early when ``stopped`` says so."""
    due = send.next_due() if look else None
    until = time.monotonic() + (
        interval if due is None else min(interval, max(due - time.time(), MIN_PAUSE))
    )
    while not stopped() and time.monotonic() < until:
        time.sleep(min(0.05, max(until - time.monotonic(), 0.0)))


def background(orch: Wiring, *, rounds: int = 3, wait_s: float = 60.0) -> None:
    """The delivery a command starts after storing events: a short ``notify run`` (under
    its lock: while any sender runs, this one has nothing to do). After letting the lock
    go it looks once more, and goes round again for events stored meanwhile (their
    commands saw the lock held and started nothing)."""
    from .outbox import flush, pending

    channels = bool(orch.config.data["notifications"]["channels"])
    for _round in range(rounds):
        with run_lock(orch, pid_file=False) as held:
            if not held:
                return
            flush(orch, background=True)
            if channels:
                run(orch, forever=False, wait_s=wait_s)
        store = orch.store
        owed = any(pending(store, store.delivery_cursor(name))
                   for name, _n in outbox_notifiers(orch.notifiers()))  # fmt: skip
        if not owed:
            return


@contextlib.contextmanager
def run_lock(orch: Wiring, *, pid_file: bool = True) -> Iterator[bool]:
    """Hold the sender's lock (False: another sender holds it); ``notify run`` also
    writes its pid next to it, for ``notify stop``."""
    with delivery_lock(orch.location.state_dir, RUN, wait_s=0.0) as held:
        if held and pid_file:
            _write_pid(orch)
        yield held


def _pid_file(orch: Wiring) -> Path:
    return orch.location.state_dir / "notify-run.pid"


def _write_pid(orch: Wiring) -> None:
    tag = process_tag(os.getpid())
    if tag is not None:
        with contextlib.suppress(OSError):
            _pid_file(orch).write_text(tag + "\n")


def running_pid(orch: Wiring) -> int | None:
    """The pid of the running ``notify run``, or None when none runs (a short background
    sender holding the lock is not one; a pid file left by a dead one is not believed)."""
    from .outbox import delivering

    if not delivering(orch.location.state_dir, RUN):
        return None
    try:
        tag = _pid_file(orch).read_text().strip()
    except OSError:
        return None
    if owner_alive(tag) is not True:
        return None
    return int(tag.split("-")[-2])


def acquire(orch: Wiring, stack: contextlib.ExitStack, wait_s: float = 90.0) -> int | None:
    """Take the sender's lock for ``notify run``: None when taken, else the pid of the
    ``notify run`` that holds it. A short background sender that holds it is waited for."""
    deadline = time.monotonic() + wait_s
    while True:
        attempt = contextlib.ExitStack()
        if attempt.enter_context(run_lock(orch)):
            stack.enter_context(attempt)
            return None
        attempt.close()
        pid = running_pid(orch)
        if pid is not None or time.monotonic() >= deadline:
            return pid if pid is not None else -1
        time.sleep(0.2)


def start_background(orch: Wiring) -> int | None:
    """Start ``notify run`` detached (``up`` does), unless one runs or no channel is
    configured; its pid, or None."""
    if not orch.config.data["notifications"]["channels"] or running_pid(orch) is not None:
        return None
    import subprocess

    from .location import ENV_DB

    _reap()

    log = os.open(orch.location.state_dir / "notify.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                  0o644)  # fmt: skip
    try:
        with open(os.devnull, "rb") as stdin:
            child = subprocess.Popen(
                [sys.executable, "-P", "-m", "claude_orchestrator", "notify", "run"],
                cwd=orch.location.cwd, env={**orch.env, ENV_DB: str(orch.store_path)},
                stdin=stdin, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True, close_fds=True,
            )  # fmt: skip
    finally:
        os.close(log)
    _children.append(child)  # kept: reaped by subprocess when it ends, no ResourceWarning
    return child.pid


def stop_background(orch: Wiring, wait_s: float = 10.0) -> int | None:
    """Stop the running ``notify run`` (SIGTERM, then wait); the pid it had, or None."""
    pid = running_pid(orch)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while running_pid(orch) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    import subprocess

    for child in _children:
        if child.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(max(deadline - time.monotonic(), 0.1))
    _reap()
    return pid
