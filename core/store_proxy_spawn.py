"""Which daemon proxies a store, and how a client starts one (see :mod:`.store_proxy`).

A daemon is named by a key, a digest of what makes two clients' stores the same store
served the same way: the wire protocol, this package's version and interpreter, the
repository (git's common directory: the sockets of every repository share one
directory), the store plugin's name, the port's identity (``proxy_identity()`` when the
port has one -- the postgres store's DSN *with* its password, and its project -- else
its ``location``), the config's ``project`` and the plugin's options. Only the digest is
in file names; what it digests is never written anywhere.

Starting one is cheap for the client and happens once however many race: the client
that creates ``<key>.spawn`` (``O_EXCL``) starts the daemon detached, with
``posix_spawn`` (no ``subprocess`` import, no waiting), in a new session, its stderr
appended to ``daemon.log`` beside the sockets and its settings (:class:`DaemonSpec`)
written down a pipe; the others find the marker and do their call directly. The daemon
removes the marker once it listens (so a client that made the marker looks once more
before it starts one); one left by a start that failed keeps others from starting
another for :data:`STALE_S` seconds.
"""

import contextlib
import fcntl
import json
import os
import pickle
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from . import __version__
from .digest import sha256_hex
from .protocols import PluginContext
from .store_proxy_wire import PROTOCOL, WireError, connect

#: a start marker older than this is a start that failed: the next client starts again
STALE_S = 10.0
LOG_NAME = "daemon.log"
LOG_MAX_BYTES = 1 << 20
MODULE = "claude_orchestrator.store_proxy"
_F_SETPIPE_SZ = 1031
_PIPE_MAX = 1 << 20

#: daemons this process started, reaped when it starts another or closes a proxy
_children: list[int] = []


class DaemonSpec(NamedTuple):
    """What a daemon needs to build the port its clients build (sent down its stdin)."""

    key: str
    #: the store plugin's name (``plugins.store``)
    name: str
    #: the package version of the client that started it
    version: str
    #: ``<user cache dir>/store-proxy``
    directory: str
    #: the client's plugin context, without ``services`` (a daemon runs no operation)
    #: and ``env`` (the daemon's environment is the client's)
    context: PluginContext
    #: seconds without a request after which the daemon exits
    idle_s: float


def proxy_key(name: str, port: object, context: PluginContext) -> str:
    """The daemon's key for the store ``port`` (see the module docstring)."""
    identity = getattr(port, "proxy_identity", None)
    where = identity() if callable(identity) else getattr(port, "location", "")
    material = [PROTOCOL, __version__, sys.executable, str(context.common_dir), name, str(where),
                context.config.data.get("project"), dict(context.options)]  # fmt: skip
    text = json.dumps(material, sort_keys=True, default=repr)
    return sha256_hex(text.encode("utf-8"))[:32]


def paths(directory: Path, key: str) -> tuple[Path, Path, Path]:
    """The daemon's socket, lock file and start marker."""
    return directory / f"{key}.sock", directory / f"{key}.lock", directory / f"{key}.spawn"


def claim(marker: Path) -> bool:
    """True when this process may start the daemon: it made the marker, or replaced one
    left by a start that failed."""
    for _ in range(2):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            return True
        except FileExistsError:
            try:
                if time.time() - marker.stat().st_mtime < STALE_S:
                    return False
                marker.unlink()
            except FileNotFoundError:
                continue
        except OSError:
            return False
    return False


def open_log(directory: Path) -> int:
    """``daemon.log`` for appending (the previous one kept as ``daemon.log.1`` once it
    outgrew :data:`LOG_MAX_BYTES`)."""
    path = directory / LOG_NAME
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_MAX_BYTES:
            os.replace(path, directory / f"{LOG_NAME}.1")
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def spawn(spec: DaemonSpec, env: Mapping[str, str]) -> int | None:
    """Start the daemon for ``spec`` unless another process is starting it: its pid, or
    None. Never waits for it."""
    reap()
    directory = Path(spec.directory)
    socket_path, _, marker = paths(directory, spec.key)
    if not claim(marker):
        return None
    if _answers(directory, socket_path.name):  # it started since this client looked
        with contextlib.suppress(OSError):
            marker.unlink()
        return None
    fds: list[int] = []
    pid = None
    try:
        payload = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
        fds.append(open_log(directory))
        read, write = os.pipe()
        fds += [read, write]
        if len(payload) >= 1 << 16:  # a pipe holds 64 KiB: make room, or do not start
            if len(payload) > _PIPE_MAX:
                raise OSError("the daemon's settings do not fit in a pipe")
            fcntl.fcntl(write, _F_SETPIPE_SZ, _PIPE_MAX)
        argv = [sys.executable, "-P", "-m", MODULE, "--key", spec.key]
        actions = [(os.POSIX_SPAWN_DUP2, read, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_DUP2, fds[0], 2)]  # fmt: skip
        pid = os.posix_spawn(sys.executable, argv, dict(env), file_actions=actions, setsid=True)
        _children.append(pid)
        view = memoryview(payload)
        while view:
            view = view[os.write(write, view) :]
    except Exception:  # no daemon then (a settings pickle cannot hold, no pipe, no exec)
        with contextlib.suppress(OSError):
            marker.unlink()
        return None
    finally:
        for fd in fds:
            os.close(fd)
    return pid


def _answers(directory: Path, name: str) -> bool:
    try:
        sock, _ = connect(directory, name, 1.0)
    except WireError:  # another user's: never start one beside it
        return True
    except OSError:
        return False
    sock.close()
    return True


def reap() -> None:
    """Collect the daemons this process started that have exited (no zombies)."""
    for pid in list(_children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _children.remove(pid)
