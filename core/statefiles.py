"""State files: ``state/overseer.md`` and ``state/impl-<area>.md``, views of the store.

Only a fenced section of each file is generated; whatever an agent writes outside the
fence stays. Several processes may update one file at the same moment, so each
read-modify-write holds an exclusive ``fcntl.flock`` lock (on a file beside the store;
a rename alone would lose one of two concurrent updates), and the write itself goes
through a temporary file and a rename.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from .digest import sha256_hex
from .fsutil import atomic_write_text

BEGIN = (
    "<!-- claude-orchestrator:begin (generated from the event store; "
    "edits inside this section are replaced) -->"
)
END = "<!-- claude-orchestrator:end -->"
STATE_DIR = "state"


def state_file_name(role: str) -> str:
    return "overseer.md" if role == "overseer" else f"impl-{role.split('-', 1)[1]}.md"


def replace_fenced(existing: str, body: str, begin: str = BEGIN, end_marker: str = END) -> str:
    """Put ``body`` between the markers, keeping everything outside them."""
    block = f"{begin}\n{body.rstrip()}\n{end_marker}\n"
    start = existing.find(begin)
    end = existing.find(end_marker, start + 1) if start != -1 else -1
    if start == -1 or end == -1:
        if not existing.strip():
            return block
        separator = "" if existing.endswith("\n") else "\n"
        return existing + separator + "\n" + block
    after = existing[end + len(end_marker) :]
    if after.startswith("\n"):
        after = after[1:]
    return existing[:start] + block + after


@contextlib.contextmanager
def locked(lock_dir: Path, target: Path) -> Iterator[None]:
    """An exclusive lock for ``target``, shared by every process and worktree."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    name = sha256_hex(str(target.resolve()).encode())[:24]
    with open(lock_dir / f"{name}.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_state_file(path: Path, body: str, lock_dir: Path) -> bool:
    """Replace the fenced section of ``path``; True when the file changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(lock_dir, path):
        try:
            existing = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            existing = ""
        updated = replace_fenced(existing, body)
        if updated == existing:
            return False
        atomic_write_text(path, updated)
        return True
