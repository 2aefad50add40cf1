"""What makes a store proxy daemon stop serving (see :mod:`.store_proxy_daemon`): its
store's file gone or replaced, the installed package's version changed, the store's
settings in the config changed, its lock or socket files gone. Each check is a
``stat`` or two; the daemon runs them about once a second and before each request."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .store_proxy_spawn import STALE_S, DaemonSpec

if TYPE_CHECKING:
    from .config_model import Config

_VERSION = re.compile(r'^__version__ = "([^"]+)"', re.MULTILINE)


def file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path``, or None when there is nothing there."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


class Witness:
    """A file that must stay the one first seen there (the sqlite store's file: a daemon
    writing to a removed file would lose every write). It may appear later (``events
    init`` through the proxy); once seen, its removal or replacement is a reason."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen = None if path is None else file_id(path)
        self._lock = threading.Lock()

    def changed(self) -> str | None:
        if self.path is None:
            return None
        now = file_id(self.path)
        with self._lock:
            if self._seen is None:
                self._seen = now
                return None
            if now != self._seen:
                return f"the store {self.path} was removed or replaced"
        return None


def installed_version() -> str | None:
    """The version in the installed package's ``__init__.py`` now (an upgrade replaces
    the file), or None when it cannot be read."""
    from . import __file__ as init

    try:
        found = _VERSION.search(Path(init).read_text(encoding="utf-8"))
    except OSError:
        return None
    return found.group(1) if found else None


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


class ConfigWatch:
    """The store's settings in the config file the daemon was started with: the store
    plugin, its options and ``store.path``. Re-read only when the file changed."""

    def __init__(self, spec: DaemonSpec) -> None:
        config = spec.context.config
        self.name = spec.name
        self.path = config.path
        self._stamp = None if self.path is None else _stamp(self.path)
        self._settings = self._of(config)

    def _of(self, config: Config) -> tuple[object, ...]:
        return config.store_plugin, config.plugin_options(self.name), config.store_path

    def changed(self) -> str | None:
        if self.path is None:
            return None
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        from .config import load_config
        from .errors import OrchestratorError

        try:
            settings = self._of(load_config(self.path))
        except OrchestratorError as exc:
            return f"its config {self.path} is no longer valid ({exc})"
        if settings != self._settings:
            return f"the store's settings in {self.path} changed"
        return None


def version_changed() -> str | None:
    installed = installed_version()
    if installed != __version__:
        return f"the installed package is version {installed or '(unreadable)'}, not {__version__}"
    return None


def acquire(path: Path, wait_s: float) -> int | None:
    """An exclusive ``flock`` on ``path``, waiting up to ``wait_s`` seconds: its file
    descriptor, or None while another process holds it. A file removed under the lock
    (by its holder on exit, or a sweep) is opened again."""
    deadline = time.monotonic() + wait_s
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)
            continue
        info = os.fstat(fd)
        if file_id(path) == (info.st_dev, info.st_ino):
            return fd
        os.close(fd)


def release(path: Path, fd: int) -> None:
    """Remove the lock file (while holding it, so that no one holds the old one) and
    release it."""
    info = os.fstat(fd)
    if file_id(path) == (info.st_dev, info.st_ino):
        with contextlib.suppress(OSError):
            path.unlink()
    os.close(fd)


def sweep(directory: Path, keep: str) -> list[str]:
    """Remove what daemons that are gone left behind (a ``kill -9`` leaves its socket
    and lock file; a start killed early its temporary socket): the keys swept."""
    swept: list[str] = []
    for lock in directory.glob("*.lock"):
        key = lock.stem
        if key == keep:
            continue
        fd = acquire(lock, 0)
        if fd is None:  # its daemon is alive
            continue
        with contextlib.suppress(OSError):
            (directory / f"{key}.sock").unlink()
        with contextlib.suppress(OSError):
            marker = directory / f"{key}.spawn"
            if time.time() - marker.stat().st_mtime > STALE_S:  # not a start under way
                marker.unlink()
        release(lock, fd)
        swept.append(key)
    for temporary in directory.glob("*.*.tmp"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(temporary.name.split(".")[1])
            if not _alive(pid):
                temporary.unlink()
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
