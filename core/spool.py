"""The local spool: what a hook-path write could not give the store now, kept on this
machine until a later writer stores it (:mod:`~.spool_drain`).

The hook path -- ``events log-event``, ``sync-status`` (the post-commit hook's too) and
the guard's decision log -- must never fail or block an agent because the store is
unreachable (its server is away: :class:`~.errors.StoreUnavailableError`) or busy.
Such a write becomes a *record* appended to a spool file in the repository's state
directory (``<git common dir>/orchestrator``, shared by every worktree); the next
writer that reaches the store drains the spool, oldest first, before its own write.

Records are JSON lines with an ``id`` (also the idempotency key), a ``kind`` and the
time they were spooled (``at``):

- ``guard``: a guard decision (:func:`~.guard_spool.decision_record`);
- ``event``: an event ``events log-event`` could not store, validated already;
- ``sync``: a branch whose ``sync-status`` could not run: re-running a sync converges
  (commits are recognised by patch id), so a drain runs it again, in the worktree
  that spooled it.

Each store has a spool of its own, ``spool-<hash of the store's location>.jsonl``, so
``--db`` and a changed config never send a record to another store; ``guard-spool.jsonl``
holds what the guard spooled when it could not even build the store (and what older
releases spooled): any store drains that one.

Every spooled record reaches the store exactly once, whoever dies when:

- each event a record becomes keeps the record's id as ``metadata.record_id``;
- a drainer *claims* a spool by renaming it to ``<spool>.<pid>.<token>`` while it holds
  an exclusive ``flock`` on it, and keeps the lock until it is done. The kernel drops
  the lock the moment its owner dies (SIGKILL included), so a claim that nobody holds a
  lock on belongs to a dead drainer, and the next drainer takes it over: no guessing
  from the file's age, and a reused pid cannot keep a claim alive;
- before its first store, a drainer notes in the claim the store's newest event id, and
  after each record the store accepts, a ``stored`` mark. A drainer killed between the
  store's commit and that mark leaves records in doubt: whoever takes the claim over
  looks for them among the events stored since the note (event ids increase) before
  storing anything. A store that failed *during* a write (a connection lost at commit
  may have committed) leaves the same doubt: the note stays in the claim for the next
  drainer. A ``sync`` record in doubt is simply run again;
- a record the store refuses (an unknown feature or agent, a branch that is gone) gets
  a ``failed`` mark and is retried by later drains; after :data:`MAX_ATTEMPTS` refusals
  it moves to the spool's ``.rejected`` file, and a line that is no record moves there
  at once. A record of a kind this release does not know (a newer one spooled it: agents
  may run different installs) waits for a drainer that knows it. A record is never
  dropped;
- appenders hold a shared lock while they write and check that the path still names
  the file they opened, so nothing is appended to a file a drainer has claimed.

A drain that stops early (the store is away again, or its time budget is spent)
rewrites the claim with what is left, in one rename, and lets it go.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .digest import sha256_hex

if TYPE_CHECKING:
    from .models import NewEvent

#: the spool of records bound to no store (the guard could not build one; older releases)
UNBOUND = "guard-spool.jsonl"
_BOUND_PREFIX = "spool-"
#: Refusals after which a spooled record moves to the rejected file.
MAX_ATTEMPTS = 5
#: the kinds of record a drain stores as events (the rest are run: ``sync``)
EVENT_KINDS = ("guard", "event")

_APPEND_TRIES = 50
_PAGE = 1000


# ---------------------------------------------------------------------------- files
class Spool(NamedTuple):
    """One spool file (``name`` in ``state_dir``), its claims and its rejected file."""

    state_dir: Path
    name: str

    @property
    def path(self) -> Path:
        return self.state_dir / self.name

    @property
    def rejected_path(self) -> Path:
        return self.state_dir / (self.name.removesuffix(".jsonl") + ".rejected")

    @property
    def lock_path(self) -> Path:
        """The drain lock: one drainer of this spool at a time (never deleted)."""
        return self.state_dir / (self.name.removesuffix(".jsonl") + ".lock")

    def holds_records(self) -> bool:
        """Whether anything is spooled here (the live file or a claim): cheap."""
        return self.path.exists() or bool(self.claims())

    def claim_path(self) -> Path:
        """A new claim name: ``<spool>.<pid>.<token>``."""
        return self.state_dir / f"{self.name}.{os.getpid()}.{os.urandom(4).hex()}"

    def claims(self) -> list[Path]:
        """Claimed files of this spool, oldest first."""
        prefix = self.name + "."
        found = []
        try:
            with os.scandir(self.state_dir) as entries:
                for entry in entries:
                    if entry.name.startswith(prefix):
                        with contextlib.suppress(OSError):
                            found.append((entry.stat().st_mtime, entry.name))
        except OSError:
            return []
        return [self.state_dir / name for _, name in sorted(found)]

    def append(self, record: Mapping[str, Any]) -> bool:
        """Append a record; False when there is nowhere to write it."""
        data = (json.dumps(record) + "\n").encode("utf-8")
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            for _ in range(_APPEND_TRIES):
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                    except BlockingIOError:
                        time.sleep(0.001)  # a drainer is renaming this file: open the new one
                        continue
                    except OSError:
                        pass  # no locks on this file system: append as best we can
                    if names(self.path, fd):
                        write_all(fd, data)
                        return True
                finally:
                    os.close(fd)
            # Never got the live spool: a claim-named file nobody locks is taken over by
            # the next drainer. Written to a temporary name first, never seen half full.
            from .fsutil import atomic_write_text

            atomic_write_text(self.claim_path(), data.decode("utf-8"), exclusive=True)
            return True
        except OSError:
            return False

    def rejected(self) -> list[dict[str, Any]]:
        """The records moved to the rejected file: ``{"id", "errors", "record"}`` each."""
        try:
            data = self.rejected_path.read_bytes()
        except OSError:
            return []
        found: dict[str, dict[str, Any]] = {}
        for raw in data.splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(raw)
                if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                    found.setdefault(entry["id"], entry)
        return list(found.values())


def unbound(state_dir: Path) -> Spool:
    return Spool(state_dir, UNBOUND)


def for_store(state_dir: Path, location: str) -> Spool:
    """The spool of the store at ``location`` (what its ``location`` says: a path, a DSN)."""
    key = sha256_hex(location.encode("utf-8", "surrogatepass"))[:16]
    return Spool(state_dir, f"{_BOUND_PREFIX}{key}.jsonl")


def append_for(state_dir: Path, location: str | None, record: Mapping[str, Any]) -> Spool | None:
    """Append ``record`` to the spool of the store at ``location`` (None: the one bound to
    no store); the spool, or None when there is nowhere to write it."""
    if location is None:
        spool = unbound(state_dir)
        return spool if spool.append(record) else None
    spool = for_store(state_dir, location)
    return spool if spool.append({**record, "store": location}) else None


def drained_by(state_dir: Path, location: str | None) -> list[Spool]:
    """The spools a drain into the store at ``location`` takes, in the order it takes them."""
    found = [unbound(state_dir)]
    if location is not None:
        found.append(for_store(state_dir, location))
    return found


def every_spool(state_dir: Path) -> list[Spool]:
    """Every spool that has a file here (live, claimed or rejected), whatever its store."""
    names: set[str] = set()
    try:
        with os.scandir(state_dir) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(UNBOUND) or name == unbound(state_dir).rejected_path.name:
                    names.add(UNBOUND)
                elif name.startswith(_BOUND_PREFIX) and ".jsonl" in name:
                    names.add(name[: name.index(".jsonl") + len(".jsonl")])
                elif name.startswith(_BOUND_PREFIX) and name.endswith(".rejected"):
                    names.add(name.removesuffix(".rejected") + ".jsonl")
    except OSError:
        return []
    return [Spool(state_dir, name) for name in sorted(names)]


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        linked = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (linked.st_dev, linked.st_ino) == (opened.st_dev, opened.st_ino)


# -------------------------------------------------------------------------- records
def new_record(kind: str, store: str | None, **fields: object) -> dict[str, Any]:
    """A record of ``kind`` with a new id, the time and the store it is meant for."""
    record: dict[str, Any] = {"id": os.urandom(16).hex(), "kind": kind, "at": time.time()}
    if store is not None:
        record["store"] = store
    record.update(fields)
    return record


def event_record(new: NewEvent, store: str | None) -> dict[str, Any]:
    """The record of an event ``events log-event`` could not store (validated already)."""
    return new_record("event", store, spec_id=new.spec_id, role=new.role,
                      event_type=new.event_type, message=new.message, task_id=new.task_id,
                      commit_hash=new.commit_hash, metadata=new.metadata)  # fmt: skip


def sync_record(
    store: str | None,
    root: Path,
    branch: str,
    *,
    hook: str | None = None,
    rewritten: Sequence[tuple[str, str]] = (),
    how: str = "",
) -> dict[str, Any]:
    """The record of a ``sync-status`` of ``branch`` (in the worktree ``root``) to run again."""
    return new_record("sync", store, root=str(root), branch=branch, hook=hook,
                      rewritten=[list(pair) for pair in rewritten], how=how)  # fmt: skip


def kind_of(record: Mapping[str, Any]) -> str:
    """``guard``, ``event``, ``sync``, or ``malformed`` (a line that is no record)."""
    kind = record.get("kind")
    if isinstance(kind, str):
        return kind
    if "raw" in record:
        return "malformed"
    return "guard" if record.get("event_type") == "guard_decision" else "event"


def to_event(record_id: str, record: Mapping[str, Any]) -> NewEvent:
    """The event a spooled record becomes; KeyError/TypeError when it is not a record."""
    from .models import NewEvent

    metadata = record.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, Mapping) else {}
    metadata["record_id"] = record_id
    fields = {k: record[k] for k in ("spec_id", "role", "event_type", "message")}
    wrong = sorted(k for k, v in fields.items() if not isinstance(v, str))
    if wrong:
        raise TypeError(f"not text: {', '.join(wrong)}")
    return NewEvent(**fields, task_id=record.get("task_id"),
                    commit_hash=record.get("commit_hash"), metadata=metadata)  # fmt: skip


class SyncArgs(NamedTuple):
    """What a ``sync`` record asks to run."""

    root: Path
    branch: str
    hook: str | None
    rewritten: list[tuple[str, str]]
    how: str


def sync_args(record: Mapping[str, Any]) -> SyncArgs:
    """The sync a ``sync`` record asks for; KeyError/TypeError when it is malformed."""
    root, branch = record["root"], record["branch"]
    hook, how = record.get("hook"), record.get("how")
    pairs = record.get("rewritten") or []
    if not (isinstance(root, str) and isinstance(branch, str) and isinstance(pairs, list)):
        raise TypeError("root and branch must be text, rewritten a list")
    if not (hook is None or isinstance(hook, str)) or not (how is None or isinstance(how, str)):
        raise TypeError("hook and how must be text")
    rewritten = []
    for pair in pairs:
        texts = isinstance(pair, list) and all(isinstance(c, str) for c in pair)
        if not texts or len(pair) != 2:
            raise TypeError(f"not an (old, new) pair: {pair!r}")
        rewritten.append((pair[0], pair[1]))
    return SyncArgs(Path(root), branch, hook, rewritten, how or "")


# -------------------------------------------------------------------- reading claims
class Lines:
    """What a spool or claim file holds: its records and the marks drains left."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.done: set[str] = set()  # stored or rejected
        self.failures: dict[str, list[str]] = {}
        #: the store's newest event id when a drain of this file first began storing
        self.anchor: int | None = None

    def read(self, data: bytes) -> None:
        for number, raw in enumerate(data.splitlines()):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except ValueError:
                item = None
            if not isinstance(item, dict):
                text = raw.decode("utf-8", "replace")
                self.records.setdefault(_line_id(number, raw), {"raw": text})
                continue
            mark, record_id = item.get("mark"), item.get("id")
            if mark is None:
                if not isinstance(record_id, str) or not record_id:
                    record_id = _line_id(number, raw)  # spooled before records had ids
                self.records.setdefault(record_id, item)
            elif mark == "after" and isinstance(item.get("event_id"), int):
                self.note_anchor(item["event_id"])
            elif mark in ("stored", "rejected"):
                self.done.add(str(record_id))
            elif mark == "failed":
                self.failures.setdefault(str(record_id), []).append(str(item.get("error")))

    def note_anchor(self, event_id: int) -> None:
        self.anchor = event_id if self.anchor is None else min(self.anchor, event_id)

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        return [(i, r) for i, r in self.records.items() if i not in self.done]


def _line_id(number: int, raw: bytes) -> str:
    """A stable id for a line without one (its position is stable: claims only grow)."""
    return f"line-{number}-{sha256_hex(raw)[:24]}"


class SpoolSummary(NamedTuple):
    """What is spooled in a state directory (``doctor``)."""

    #: records waiting to be stored, by kind
    kinds: dict[str, int]
    #: when the oldest waiting record was spooled (seconds since the epoch), or None
    oldest: float | None
    #: records moved to rejected files
    rejected: int
    #: the stores the waiting records are meant for (None: any store)
    stores: list[str | None]
    #: the files that hold them
    files: list[Path]

    @property
    def waiting(self) -> int:
        return sum(self.kinds.values())


def summary(state_dir: Path) -> SpoolSummary:
    """Count what every spool in ``state_dir`` holds, without taking any claim."""
    kinds: dict[str, int] = {}
    oldest: float | None = None
    rejected = 0
    stores: list[str | None] = []
    files: list[Path] = []
    for spool in every_spool(state_dir):
        rejected += len(spool.rejected())
        for path in [*spool.claims(), spool.path]:
            lines = Lines()
            try:
                lines.read(path.read_bytes())
                mtime = path.stat().st_mtime
            except OSError:
                continue  # drained meanwhile
            waiting = lines.pending()
            if not waiting:
                continue
            files.append(path)
            for _, record in waiting:
                kind = kind_of(record)
                kinds[kind] = kinds.get(kind, 0) + 1
                at = record.get("at")
                at = at if isinstance(at, int | float) else mtime  # older records: the file's
                oldest = at if oldest is None else min(oldest, at)
                store = record.get("store")
                store = store if isinstance(store, str) else None
                if store not in stores:
                    stores.append(store)
    return SpoolSummary(kinds, oldest, rejected, stores, files)
