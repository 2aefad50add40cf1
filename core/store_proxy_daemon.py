"""The store proxy's daemon (``python -P -m claude_orchestrator.store_proxy --key KEY``,
its :class:`~.store_proxy_spawn.DaemonSpec` on stdin; see :mod:`.store_proxy`).

One per key: it holds ``<key>.lock`` (``flock``) while it runs; another started for
the same key waits briefly for the lock, then leaves. It builds its ports as the
library does -- the store plugin by name from the plugin registry, called with the
client's context -- checks that the first has the key its clients computed, and
listens on ``<key>.sock`` (bound under a temporary name, then renamed over whatever a
killed daemon left). Each connection gets a thread and, for as long as it lasts, a
port of its own (so one client's open transaction does not hold up another's reads);
ports are kept for the next connections.

It exits, removing its socket and lock file, on SIGTERM, after ``idle_s`` seconds
without a request, and when it should no longer serve (:mod:`.store_proxy_checks`):
its store's file removed or replaced, the package upgraded, the store's settings
changed, its socket removed. Open transactions get a few seconds to end; then their
connections are closed, which rolls them back.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from . import __version__
from .errors import OrchestratorError, PluginError, StoreError
from .protocols_store import EventStore, StoreSummaries
from .store_proxy_checks import ConfigWatch, Witness, acquire, file_id, release, sweep
from .store_proxy_checks import version_changed as _version_changed
from .store_proxy_choice import ENV_DISABLE
from .store_proxy_ports import QUERIES, SUMMARIES, TX_CALLS, Ports
from .store_proxy_spawn import LOG_NAME, DaemonSpec, paths, proxy_key
from .store_proxy_wire import (
    BIG,
    ERR,
    GONE,
    OK,
    PROTOCOL,
    REFUSED,
    Address,
    DaemonState,
    FrameTooLarge,
    WireError,
    check_peer,
    dumps,
    receive,
    send,
)

#: how often the daemon looks at what would make it stop, in seconds
CHECK_S = 1.0
#: a transaction whose client sends nothing for this long is rolled back
TX_IDLE_S = 60.0
#: how long open transactions may go on once the daemon stops
GRACE_S = 5.0
LOCK_WAIT_S = 2.0
MAX_CONNECTIONS = 256


class _RolledBack(Exception):
    """The client asked for a rollback."""


class Daemon:
    def __init__(self, spec: DaemonSpec) -> None:
        self.spec = spec
        self.directory = Path(spec.directory)
        self.socket_path, self.lock_path, self.marker = paths(self.directory, spec.key)
        self.stopping = threading.Event()
        self.reason = ""
        self._lock = threading.Lock()
        self._active = 0
        self._last = time.monotonic()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._socket_id: tuple[int, int] | None = None
        self._wake: tuple[int, int] | None = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._calls = QUERIES
        self.location = ""
        self.witness = Witness(None)
        self.config = ConfigWatch(spec)
        self.ports: Ports | None = None

    def log(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        sys.stderr.write(f"{stamp} store-proxy[{os.getpid()}] {self.spec.key[:12]}: {text}\n")
        sys.stderr.flush()

    def stop(self, reason: str) -> None:
        """Stop serving (from any thread, or a signal handler): the loop wakes now."""
        if not self.stopping.is_set():
            self.reason = reason
            self.stopping.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"!")

    # -- start and stop --------------------------------------------------------------
    def run(self) -> int:
        try:
            lock = acquire(self.lock_path, LOCK_WAIT_S)
            if lock is None:
                self.log("another daemon serves this store: leaving")
                return 0
            try:
                return self._run()
            finally:
                release(self.lock_path, lock)
        finally:
            wake, self._wake = self._wake, None
            for fd in wake or ():
                os.close(fd)

    def _run(self) -> int:
        mismatch = _version_changed()
        if mismatch is None and self.spec.version != __version__:
            mismatch = f"its client is version {self.spec.version}, the package {__version__}"
        if mismatch is not None:
            self.log(f"not started: {mismatch}")
            return 0
        try:
            self.ports = Ports(self.spec)
            first = self.ports.build()
        except Exception as exc:
            self.log(f"not started: the store cannot be built: {type(exc).__name__}: {exc}")
            return 1
        self.location = first.location
        if proxy_key(self.spec.name, first, self.spec.context) != self.spec.key:
            self.log("not started: the store it builds is not its clients' (another key)")
            first.close()
            return 1
        if isinstance(first, StoreSummaries):
            self._calls = QUERIES | SUMMARIES
        store_path = Path(self.spec.context.store_path)
        self.witness = Witness(store_path if first.location == str(store_path) else None)
        self.ports.give(first)
        for key in sweep(self.directory, self.spec.key):
            self.log(f"removed what the stopped daemon {key[:12]} left")
        listener = self._listen()
        with contextlib.suppress(OSError):
            self.marker.unlink()
        self.log(f"serving {self.spec.name} store {self.location}")
        try:
            self._serve_forever(listener)
        finally:
            self._shutdown(listener)
        self.log(f"stopped: {self.reason}")
        return 0

    def _listen(self) -> socket.socket:
        temporary = f"{self.spec.key}.{os.getpid()}.tmp"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with Address(self.directory, temporary) as where:
            listener.bind(where.address)
        os.chmod(self.directory / temporary, 0o600)
        listener.listen(128)
        os.replace(self.directory / temporary, self.socket_path)
        self._socket_id = file_id(self.socket_path)
        return listener

    def _serve_forever(self, listener: socket.socket) -> None:
        listener.setblocking(False)
        next_check = time.monotonic() + CHECK_S
        while not self.stopping.is_set():
            wait = max(0.0, next_check - time.monotonic())
            assert self._wake is not None
            ready, _, _ = select.select([listener.fileno(), self._wake[0]], [], [], wait)
            if listener.fileno() in ready:
                with contextlib.suppress(BlockingIOError, InterruptedError):
                    self._start(listener.accept()[0])
            if time.monotonic() >= next_check:
                reason = self._idle() or self._health()
                if reason is not None:
                    self.stop(reason)
                next_check = time.monotonic() + CHECK_S

    def _start(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        with self._lock:
            if len(self._connections) >= MAX_CONNECTIONS:
                conn.close()
                return
            self._connections.add(conn)
            self._last = time.monotonic()
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _shutdown(self, listener: socket.socket) -> None:
        if file_id(self.socket_path) == self._socket_id:
            with contextlib.suppress(OSError):
                self.socket_path.unlink()  # new clients start a new daemon
        listener.close()
        deadline = time.monotonic() + GRACE_S
        while self._active and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # a handler waiting on it sees the end: rolls back
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(GRACE_S)
        if self.ports is not None:
            self.ports.close()

    # -- what stops it ---------------------------------------------------------------
    def _idle(self) -> str | None:
        with self._lock:
            quiet = time.monotonic() - self._last
            if self._active == 0 and quiet >= self.spec.idle_s:
                return f"no request for {quiet:.0f} s"
        return None

    def _gone(self) -> str | None:
        """Why the daemon must not serve this request (checked before each)."""
        if file_id(self.socket_path) != self._socket_id:
            return f"its socket {self.socket_path} was removed or replaced"
        return self.witness.changed()

    def _health(self) -> str | None:
        return self._gone() or _version_changed() or self.config.changed()

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._last = time.monotonic()

    # -- one connection --------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        port: EventStore | None = None
        try:
            check_peer(conn)
            refusal = self._refusal(receive(conn))
            if refusal is not None:
                send(conn, (REFUSED, refusal))
                return
            while True:
                message = receive(conn)
                with self._busy():
                    if port is None and _kind(message) in ("call", "begin"):
                        port = self._port_for(conn)
                    if not self._answer(conn, port, message):
                        return
        except WireError as exc:
            if "closed" not in str(exc):
                self.log(f"closed a connection: {exc}")
        except Exception:
            self.log("a connection failed:\n" + traceback.format_exc().rstrip())
        finally:
            conn.close()
            with self._lock:
                self._connections.discard(conn)
            if port is not None and self.ports is not None:
                self.ports.give(port)

    def _refusal(self, hello: object) -> str | None:
        if not (isinstance(hello, tuple) and len(hello) == 4 and hello[0] == "hello"):
            raise WireError("the first frame is not a hello")
        _, protocol, version, key = hello
        if protocol != PROTOCOL or version != __version__:
            return f"the store proxy runs version {__version__}, the client {version}"
        if key != self.spec.key:
            return "the store proxy serves another store"
        return None

    def _port_for(self, conn: socket.socket) -> EventStore | None:
        assert self.ports is not None
        try:
            return self.ports.take()
        except Exception as exc:
            self.log(f"cannot build a port: {type(exc).__name__}: {exc}")
            return None

    def _answer(self, conn: socket.socket, port: EventStore | None, message: object) -> bool:
        """Answer one request; False when the connection is done."""
        kind = _kind(message)
        if kind == "ping":
            with self._lock:
                count = len(self._connections)
            state = DaemonState(os.getpid(), self.spec.key, __version__, self.spec.name,
                                self.location, count)  # fmt: skip
            send(conn, (OK, state))
            return True
        if kind not in ("call", "begin"):
            raise WireError(f"an unknown request {kind!r}")
        reason = self.reason if self.stopping.is_set() else self._gone()
        if reason is not None:
            self.stop(reason)
        elif port is None:
            reason = "the store cannot be opened in the store proxy (see its log)"
        if reason is not None or port is None:
            send(conn, (GONE, reason))
            return False
        if kind == "call":
            self._reply(conn, self._call(port, self._calls, message))
        else:
            self._transaction(conn, port)
        return True

    def _transaction(self, conn: socket.socket, port: EventStore) -> None:
        try:
            with port.transaction() as tx:
                send(conn, (OK, None))
                conn.settimeout(TX_IDLE_S)
                while True:
                    message = receive(conn)
                    kind = _kind(message)
                    if kind == "commit":
                        break
                    if kind == "rollback":
                        raise _RolledBack
                    if kind != "tx":
                        raise WireError(f"an unknown request {kind!r} in a transaction")
                    self._reply(conn, self._call(tx, TX_CALLS, message))
        except _RolledBack:
            send(conn, (OK, None))
        except WireError:
            raise
        except Exception as exc:  # the transaction could not begin, or commit
            send(conn, (ERR, self._error(exc)))
        else:
            send(conn, (OK, None))
        finally:
            conn.settimeout(None)

    def _call(self, target: object, allowed: frozenset[str], message: object) -> tuple[str, object]:
        if not (isinstance(message, tuple) and len(message) == 4):
            raise WireError("a malformed call")
        _, name, args, kwargs = message
        if name not in allowed or not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise WireError(f"a call of {name!r} that is not the store's")
        try:
            return OK, getattr(target, name)(*args, **kwargs)
        except Exception as exc:
            return ERR, self._error(exc)

    def _reply(self, conn: socket.socket, reply: tuple[str, object]) -> None:
        try:
            send(conn, reply)
        except FrameTooLarge:
            send(conn, (BIG, None))

    def _error(self, exc: Exception) -> Exception:
        """The error as the client raises it: the same exception when it can cross."""
        if not isinstance(exc, OrchestratorError):
            self.log("the store raised:\n" + "".join(traceback.format_exception(exc)).rstrip())
        try:
            dumps(exc)
        except Exception:
            where = self.directory / LOG_NAME
            if isinstance(exc, OrchestratorError):
                return StoreError(str(exc))
            return PluginError(f"store plugin {self.spec.name!r} failed in the store proxy: "
                               f"{type(exc).__name__}: {exc} (see {where})")  # fmt: skip
        return exc


def _kind(message: object) -> object:
    return message[0] if isinstance(message, tuple) and message else None


def main(argv: list[str]) -> int:
    """Read the spec from stdin and serve until told or until idle."""
    os.environ[ENV_DISABLE] = "1"  # what this process builds is never proxied again
    try:
        # written by the client that started us, down a pipe only it holds
        spec = pickle.load(sys.stdin.buffer)  # noqa: S301
    except Exception as exc:
        print(f"store-proxy: cannot read its settings from stdin: {exc}", file=sys.stderr)
        return 2
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if not isinstance(spec, DaemonSpec) or argv != ["--key", spec.key]:
        print("store-proxy: usage: python -P -m claude_orchestrator.store_proxy --key KEY "
              "(its settings on stdin)", file=sys.stderr)  # fmt: skip
        return 2
    daemon = Daemon(spec)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: daemon.stop("SIGINT"))
    return daemon.run()
