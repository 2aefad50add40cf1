"""The files ``worktrees.setup`` gives a new worktree: copied or linked from the main
checkout, never over anything already there, a copy written under a temporary name and
moved into place (a killed run leaves no half-written file; the next run removes what it
left).

The worktree is the agent's: everything in it is reached through folder descriptors
opened without following symlinks, so a folder it replaced with a symlink cannot lead
the person's process into another worktree (that file is reported as refused).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import NamedTuple

from .fsutil import owner_tag, sweep_temporaries


class Placed(NamedTuple):
    """What :func:`place_all` did, by file (names as the config gives them)."""

    copied: list[str]
    linked: list[str]
    kept: list[str]
    missing: list[str]
    refused: list[str]


def place_all(source: Path, worktree: Path, copy: list[str], link: list[str]) -> Placed:
    """Copy ``copy`` and link ``link`` from ``source`` (the main checkout) into
    ``worktree`` (see the module docstring)."""
    placed = Placed([], [], [], [], [])
    root = os.open(worktree, _DIR_FLAGS)
    try:
        for names, copying, done in ((copy, True, placed.copied), (link, False, placed.linked)):
            for name in names:
                outcome = _place(source / name, root, Path(name), copy=copying)
                {"done": done, "kept": placed.kept, "missing": placed.missing,
                 "refused": placed.refused}[outcome].append(name)  # fmt: skip
    finally:
        os.close(root)
    return placed


def _place(src: Path, root: int, name: Path, *, copy: bool) -> str:
    """Copy or link ``src`` to ``name`` under the worktree (``root``, a descriptor of its
    folder): ``done``, ``kept`` (something is there), ``missing`` (no ``src``) or
    ``refused`` (a folder on the way is a symlink or no folder).

    Everything in the worktree is reached through descriptors opened without following
    symlinks: the worktree is the agent's, and a folder it replaced with a symlink must
    not lead this process (the person's) into another worktree."""
    if name.name in ("", ".", ".."):
        return "refused"
    if not (src.is_symlink() or src.exists()):
        return "missing"
    try:
        parent = _open_parent(root, name)
    except OSError:
        return "refused"
    try:
        leaf = name.name
        # what a killed run left beside it (its owner is gone), through the descriptor
        sweep_temporaries(Path(leaf), dir_fd=parent)
        try:
            os.stat(leaf, dir_fd=parent, follow_symlinks=False)
            return "kept"
        except FileNotFoundError:
            pass
        if not copy:
            os.symlink(src, leaf, dir_fd=parent)  # fails if something is there now
        elif src.is_dir() and not src.is_symlink():
            _copy_folder(src, parent, leaf)
        else:
            _copy_file(src, parent, leaf)
    except FileExistsError:
        return "kept"
    finally:
        os.close(parent)
    return "done"


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_parent(root: int, name: Path) -> int:
    """A descriptor of ``name``'s folder under ``root``, made if missing; OSError when a
    part of the way is a symlink or not a folder."""
    fd = os.dup(root)
    try:
        for part in name.parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _temporary_name(leaf: str) -> str:
    return f".{leaf}.{owner_tag()}.{os.urandom(4).hex()}.tmp"


def _copy_file(src: Path, parent: int, leaf: str) -> None:
    """``src``'s bytes and mode under a temporary name, then linked into place (never over
    anything: FileExistsError)."""
    temporary = _temporary_name(leaf)
    if src.is_symlink() and not src.exists():
        os.symlink(os.readlink(src), leaf, dir_fd=parent)  # a dangling link, as it is
        return
    fd = os.open(temporary, _NEW_FILE, 0o600, dir_fd=parent)
    try:
        with open(src, "rb") as source, os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(source, target)
            os.fchmod(target.fileno(), os.stat(src).st_mode & 0o777)
            target.flush()
            os.fsync(target.fileno())
        os.link(temporary, leaf, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=parent)


def _copy_folder(src: Path, parent: int, leaf: str) -> None:
    """``src``'s tree under a temporary name, then renamed into place (FileExistsError
    when something is there by then)."""
    temporary = _temporary_name(leaf)
    os.mkdir(temporary, 0o700, dir_fd=parent)
    try:
        fd = os.open(temporary, _DIR_FLAGS, dir_fd=parent)
        try:
            _copy_into(src, fd)
            os.fchmod(fd, os.stat(src).st_mode & 0o777)
        finally:
            os.close(fd)
        try:
            os.stat(leaf, dir_fd=parent, follow_symlinks=False)
            raise FileExistsError(leaf)
        except FileNotFoundError:
            pass
        try:
            os.rename(temporary, leaf, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as exc:  # something appeared there meanwhile
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise FileExistsError(leaf) from None
            raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(temporary, dir_fd=parent)


def _copy_into(src: Path, fd: int) -> None:
    for entry in os.scandir(src):
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), entry.name, dir_fd=fd)
        elif entry.is_dir():
            os.mkdir(entry.name, 0o700, dir_fd=fd)
            child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
            try:
                _copy_into(Path(entry.path), child)
                os.fchmod(child, entry.stat().st_mode & 0o777)
            finally:
                os.close(child)
        else:
            _copy_file(Path(entry.path), fd, entry.name)
