"""Small file-system helpers: writes that never leave a half-written file, and debris
(temporary files and directories) that a killed process leaves is cleaned up by the
next one.

Temporary names carry an *owner tag*, ``<pid namespace>-<pid>-<start time>``: a later
process removes a temporary file or directory only when its owner is certainly dead
(no process has that pid in our pid namespace, or the process that has it started at
another time: the pid was reused). An owner in another pid namespace (a sandbox) cannot
be checked; its debris is removed once it is :data:`STALE_AFTER` seconds old, far longer
than any write takes. A live process's temporary file is never removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import IO, Any

#: debris whose owner cannot be checked is removed after this many seconds
STALE_AFTER = 3600.0
_TAG = re.compile(r"(\d+)-(\d+)-(\d+)")
#: the random part of a temporary name (``tempfile.mkstemp``'s alphabet and length; its
#: names, untagged, are what older releases left)
_RANDOM = re.compile(r"[a-z0-9_]{8}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
_own_tag: tuple[int, str] | None = None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("0" where there is no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return "0"
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 and fields[19].isdigit() else "0"


def _namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def owner_tag() -> str:
    """This process's tag: ``<pid namespace>-<pid>-<start time>``."""
    global _own_tag
    pid = os.getpid()
    if _own_tag is None or _own_tag[0] != pid:  # computed again in a forked child
        _own_tag = (pid, f"{_namespace()}-{pid}-{_start_time(pid)}")
    return _own_tag[1]


def lock_within(file: int | IO[Any], wait_s: float, poll_s: float = 0.05) -> bool:
    """Take an exclusive ``flock`` on ``file`` (a descriptor or an open file), trying for
    ``wait_s`` seconds; False when another process held it all that time. (An ``flock``
    goes with its holder: a killed process holds nothing.)"""
    import fcntl

    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)


def process_tag(pid: int | None) -> str | None:
    """The owner tag of another process (None when it is gone or unknown)."""
    if pid is None:
        return None
    start = _start_time(pid)
    return None if start == "0" else f"{_namespace()}-{pid}-{start}"


def owner_alive(tag: str) -> bool | None:
    """Whether the process that ``tag`` names is running; None when it cannot be told
    (another pid namespace, or not a tag)."""
    match = _TAG.fullmatch(tag)
    if match is None or match[1] != _namespace():
        return None
    pid = int(match[2])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    start = _start_time(pid)
    return not (match[3] != "0" and start != "0" and start != match[3])


def is_debris(tag: str | None, path: Path, *, mtime: float | None = None) -> bool:
    """Whether ``path`` (named with owner ``tag``, or None for an untagged name) was
    left by a process that is gone (``mtime``: its modification time, when known)."""
    alive = owner_alive(tag) if tag is not None else None
    if alive is not None:
        return not alive
    try:
        age = time.time() - (path.lstat().st_mtime if mtime is None else mtime)
    except OSError:
        return False
    return age > STALE_AFTER


def sweep_temporaries(path: Path, *, dir_fd: int | None = None) -> None:
    """Remove the temporary files (or folders) a killed writer of ``path`` left beside
    it; with ``dir_fd``, in that folder (a descriptor: no symlink on the way is followed)
    and ``path`` is only the name."""
    prefix, suffix = f".{path.name}.", ".tmp"
    try:
        entries = [e for e in os.scandir(path.parent if dir_fd is None else dir_fd)
                   if e.name.startswith(prefix) and e.name.endswith(suffix)]  # fmt: skip
    except OSError:
        return
    for entry in entries:
        middle = entry.name[len(prefix) : -len(suffix)]
        tag, _, rest = middle.rpartition(".")
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if _TAG.fullmatch(tag) and _RANDOM.fullmatch(rest):
            stale = is_debris(tag, Path(entry.path), mtime=mtime)
        elif _RANDOM.fullmatch(middle):
            stale = is_debris(None, Path(entry.path), mtime=mtime)
        else:
            continue  # not a name this module makes
        if stale and entry.is_dir(follow_symlinks=False):  # a copied folder's
            import shutil

            shutil.rmtree(entry.name if dir_fd is not None else entry.path,
                          ignore_errors=True, dir_fd=dir_fd)  # fmt: skip
        elif stale:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.name if dir_fd is not None else entry.path, dir_fd=dir_fd)


def atomic_write_text(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    The temporary file, ``.<name>.<owner tag>.<random>.tmp``, is in the same directory
    (a rename is atomic only within one file system); the ones that killed writers of
    the same file left are removed first.

    :param exclusive: fail with FileExistsError if ``path`` exists (checked by a
        hard link, so two writers cannot both win).
    """
    path = Path(path)
    sweep_temporaries(path)
    fd, tmp = create_temporary(path.parent, f".{path.name}.{owner_tag()}.", ".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            mode = path.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        if exclusive:
            os.link(tmp, path)
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_temporary(directory: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """A new file ``<prefix><random>.<suffix>`` in ``directory``, open for writing, mode
    0600, as ``tempfile.mkstemp`` makes one (whose import costs the hook path ~3 ms:
    ``shutil``, ``random`` and the compression modules)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        name = "".join(_ALPHABET[b % len(_ALPHABET)] for b in os.urandom(8))
        candidate = directory / f"{prefix}{name}{suffix}"
        try:
            return os.open(candidate, flags, 0o600), candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


def make_tagged_dir(prefix: str, parent: str | None = None) -> str:
    """A private temporary directory ``<prefix><owner tag>-<random>``, after removing the
    ones that dead owners left under the same prefix in the same place."""
    import tempfile

    base = parent if parent is not None else tempfile.gettempdir()
    sweep_tagged_dirs(prefix, base)
    return tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}-", dir=base)


def sweep_tagged_dirs(prefix: str, parent: str) -> list[str]:
    """Remove ``<prefix><owner tag>-<random>`` directories whose owner is dead; returns
    the names removed. Directories of live owners, and other names, are left alone."""
    import shutil

    removed: list[str] = []
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in entries:
        tag, _, rest = entry.name[len(prefix) :].rpartition("-")
        if not (_TAG.fullmatch(tag) and _RANDOM.fullmatch(rest)):
            continue
        if entry.is_dir(follow_symlinks=False) and is_debris(tag, Path(entry.path)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed
