"""The guard's decision records and the spool they wait in when the store cannot take them
(see :mod:`~.guard_log`): the record format, appending under a shared lock, the claim
files drainers make of the spool, and the rejected file."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .guard_redact import redact

if TYPE_CHECKING:
    from .guard import Decision
    from .models import NewEvent
SPOOL = "guard-spool.jsonl"
REJECTED = "guard-spool.rejected"
EVENT_TYPE = "guard_decision"
#: Refusals after which a spooled record moves to the rejected file.
MAX_ATTEMPTS = 5

_APPEND_TRIES = 50
_PAGE = 1000


# -------------------------------------------------------------------------- records
def decision_record(
    spec_id: str, role: str, tool: str, detail: str, decision: Decision
) -> dict[str, Any]:
    """The spool line (and, through :func:`_event`, the event) for one decision."""
    record_id = os.urandom(16).hex()
    shown = redact(detail)
    verdict = "allowed" if decision.allowed else "denied"
    return {
        "id": record_id,
        "spec_id": spec_id,
        "role": role,
        "event_type": EVENT_TYPE,
        "message": f"{verdict} {tool}: {shown[:300]}",
        "metadata": {
            "tool": tool,
            "decision": "allow" if decision.allowed else "deny",
            "reason": redact(decision.reason),
            "input": shown[:2000],
            "record_id": record_id,
        },
    }


def _event(record_id: str, record: Mapping[str, Any]) -> NewEvent:
    """The event a spooled record becomes; KeyError/TypeError when it is not a record."""
    from .models import NewEvent

    metadata = record.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, Mapping) else {}
    metadata["record_id"] = record_id
    return NewEvent(
        spec_id=record["spec_id"],
        role=record["role"],
        event_type=record["event_type"],
        message=record["message"],
        task_id=record.get("task_id"),
        commit_hash=record.get("commit_hash"),
        metadata=metadata,
    )


# ---------------------------------------------------------------------------- spool
def spool_record(state_dir: Path, record: Mapping[str, Any]) -> bool:
    """Append a record to the spool; False when there is nowhere to write it."""
    data = (json.dumps(record) + "\n").encode("utf-8")
    spool = state_dir / SPOOL
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(_APPEND_TRIES):
            fd = os.open(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    time.sleep(0.001)  # a drainer is renaming this file: open the new one
                    continue
                except OSError:
                    pass  # no locks on this file system: append as best we can
                if _names(spool, fd):
                    _write_all(fd, data)
                    return True
            finally:
                os.close(fd)
        # Never got the live spool: a claim-named file nobody locks is taken over by the
        # next drainer. Written to a temporary name first, so it is never seen half full.
        from .fsutil import atomic_write_text

        atomic_write_text(_claim_name(state_dir), data.decode("utf-8"), exclusive=True)
        return True
    except OSError:
        return False  # nowhere to write: the decision stands regardless


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        linked = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (linked.st_dev, linked.st_ino) == (opened.st_dev, opened.st_ino)


def _claim_name(state_dir: Path) -> Path:
    return state_dir / f"{SPOOL}.{os.getpid()}.{os.urandom(4).hex()}"


def _claim_paths(state_dir: Path) -> list[Path]:
    """Claimed spool files, oldest first."""
    prefix = SPOOL + "."
    found = []
    try:
        with os.scandir(state_dir) as entries:
            for entry in entries:
                if entry.name.startswith(prefix):
                    with contextlib.suppress(OSError):
                        found.append((entry.stat().st_mtime, entry.name))
    except OSError:
        return []
    return [state_dir / name for _, name in sorted(found)]


def rejected_records(state_dir: Path) -> list[dict[str, Any]]:
    """The records moved to ``guard-spool.rejected``: ``{"id", "errors", "record"}`` each."""
    try:
        data = (state_dir / REJECTED).read_bytes()
    except OSError:
        return []
    found: dict[str, dict[str, Any]] = {}
    for raw in data.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(raw)
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                found.setdefault(entry["id"], entry)
    return list(found.values())
