"""Draining the spool into the store, exactly once whoever dies when (the protocol is
described in :mod:`~.spool`): :class:`_Claim` holds one claimed spool file, :func:`drain`
stores what the store's spools hold."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import StoreError, StoreUnavailableError
from .spool import (
    _PAGE,
    EVENT_KINDS,
    MAX_ATTEMPTS,
    Lines,
    Spool,
    append_for,
    drained_by,
    kind_of,
    names,
    sync_args,
    to_event,
    write_all,
)

if TYPE_CHECKING:
    from .models import Event, NewEvent
    from .store_service import Store

T = TypeVar("T")
#: runs a ``sync`` record (raises as the sync would); a drain without one leaves them
Runner = Callable[[Mapping[str, Any]], object]


def _checkpoint(point: str) -> None:
    """Called at each step of a drain; the crash tests replace it to stop a drain there."""


class _Claim:
    """One claimed spool file, locked by this process until :meth:`release`."""

    def __init__(self, spool: Spool, path: Path, fd: int) -> None:
        self.spool = spool
        self.path = path
        self.fd = fd
        self.lines = Lines()
        self.noted = False  # this drain wrote its own note of the newest event id
        self.changed = False  # this drain appended marks
        self.intact = True  # every outcome is written down (else leave the file as it is)
        self.in_doubt = False  # a store failed during a write: it may have committed
        #: sync records run by this drain: what they asked for -> the record that ran
        self.synced: dict[tuple[object, ...], str] = {}

    @property
    def failures(self) -> dict[str, list[str]]:
        return self.lines.failures

    @classmethod
    def take_over(cls, spool: Spool, path: Path) -> _Claim | None:
        """A claim whose drainer died or gave it up; None while a live drainer has it."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except OSError:
            return None
        return cls._locked(spool, path, fd, path)

    @classmethod
    def claim_spool(cls, spool: Spool) -> _Claim | None:
        """The live spool, renamed to a claim name under an exclusive lock."""
        try:
            fd = os.open(spool.path, os.O_RDWR | os.O_APPEND)
        except OSError:
            return None
        return cls._locked(spool, spool.path, fd, spool.claim_path())

    @classmethod
    def _locked(cls, spool: Spool, path: Path, fd: int, claim_path: Path) -> _Claim | None:
        try:
            # Non-blocking: a writer holds its shared lock for one write, and a live
            # drainer's claim is not ours to wait for.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not names(path, fd):
                raise FileNotFoundError(path)  # renamed or replaced since we opened it
            if claim_path != path:
                os.rename(path, claim_path)
            claim = cls(spool, claim_path, fd)
            claim.lines.read(claim_path.read_bytes())
        except OSError:
            os.close(fd)
            return None
        return claim

    def pending(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for record_id, record in list(self.lines.records.items()):
            if record_id not in self.lines.done:
                yield record_id, record

    def mark(self, mark: str, record_id: str | None = None, **fields: object) -> None:
        """Write one mark (one ``write``, so it is there whole or not at all)."""
        line: dict[str, object] = {"mark": mark}
        if record_id is not None:
            line["id"] = record_id
        line.update(fields)
        try:
            write_all(self.fd, (json.dumps(line) + "\n").encode("utf-8"))
        except OSError:
            self.intact = False
            raise
        self.changed = True
        if mark in ("stored", "rejected") and record_id is not None:
            self.lines.done.add(record_id)
        elif mark == "failed" and record_id is not None:
            self.failures.setdefault(record_id, []).append(str(fields.get("error")))
        elif mark == "after":
            event_id = fields.get("event_id")
            if isinstance(event_id, int):
                self.lines.note_anchor(event_id)

    def release(self) -> int:
        """Delete the file when nothing is left, else rewrite it with what is left (one
        rename); unlock. Returns how many records are left."""
        left = list(self.pending())
        try:
            if not self.intact:
                pass  # an outcome is not written down: the next drainer resolves it
            elif not left:
                _checkpoint("delete")
                self.path.unlink(missing_ok=True)
            elif self.changed:
                _checkpoint("rewrite")
                from .fsutil import atomic_write_text

                lines = []
                if self.in_doubt and self.lines.anchor is not None:
                    lines.append(json.dumps({"mark": "after", "event_id": self.lines.anchor}))
                for record_id, record in left:
                    lines.append(json.dumps({**record, "id": record_id}))
                    lines += [
                        json.dumps({"mark": "failed", "id": record_id, "error": error})
                        for error in self.failures.get(record_id, [])
                    ]
                atomic_write_text(self.path, "\n".join(lines) + "\n")
        except OSError:
            pass  # the file stays as it is, marks and all: nothing is lost
        finally:
            os.close(self.fd)
        return len(left)


class DrainReport:
    """What one :func:`drain` did."""

    def __init__(self) -> None:
        #: spooled records this drain put into the store (events stored, syncs run)
        self.stored = 0
        #: records still spooled when it ended (for a later drain)
        self.left = 0
        #: ids of the records it moved to a rejected file, and the spools of those files
        self.rejected: list[str] = []
        self.rejected_in: list[Spool] = []
        #: whether the ``new`` record went into the store (else it was spooled)
        self.new_stored = False
        #: why it stopped before the end: "unavailable", "budget", "busy" (another drain
        #: is under way), or None
        self.stopped: str | None = None
        #: the events it stored from event records (for the caller's notifiers)
        self.events: list[Event] = []
        #: what stopped it, when the store did
        self.error: str | None = None

    def __repr__(self) -> str:
        return (
            f"DrainReport(stored={self.stored}, left={self.left}, rejected={self.rejected}, "
            f"new_stored={self.new_stored}, stopped={self.stopped!r})"
        )


def drain(
    store: Store,
    state_dir: Path,
    *,
    new: Mapping[str, Any] | None = None,
    budget_s: float | None = None,
    runner: Runner | None = None,
) -> DrainReport:
    """Move the records spooled for ``store`` into it, oldest first, then store ``new``.

    A record the store refuses counts one attempt; at :data:`MAX_ATTEMPTS` it moves to
    the rejected file. :class:`~claude_orchestrator.errors.StoreUnavailableError` means
    the store is away: the drain stops (and ``new`` is spooled without another try).
    Another :class:`~claude_orchestrator.errors.StoreError` means the store cannot be
    used now: the drain stops, and it counts against that record only if ``new`` then
    goes in (so a record that breaks the store cannot block the spool). ``new``, when
    the store does not take it, is spooled. Never raises ``Exception``.

    :param budget_s: stop draining after this long (``new`` is still tried); None: no limit.
    :param runner: runs ``sync`` records; without one they stay spooled for a drainer
        that has one (the guard has none: it runs no git).
    """
    run = _Drain(store, state_dir, budget_s, runner)
    with run:
        run.all()
        if new is not None:
            run.store_new(new)
    return run.report


def drain_then(
    store: Store,
    state_dir: Path,
    write: Callable[[DrainReport], T],
    *,
    budget_s: float | None = None,
    runner: Runner | None = None,
) -> tuple[DrainReport, T | None]:
    """Drain as :func:`drain` does, then make the caller's own ``write`` (given the
    drain's report) -- unless that would put it out of order or wait for the store
    twice: when records are left ahead of it (the drain ran out of time, or another
    drain is under way), or the store is away.
    Returns (the report, what ``write`` returned, or None when it was not made: spool
    it). ``write``'s exceptions propagate; when it succeeds, a record whose StoreError
    stopped the drain counts one refusal.
    """
    run = _Drain(store, state_dir, budget_s, runner)
    with run:
        run.all()
        if run.away or run.report.stopped in ("budget", "busy"):
            return run.report, None
        result = write(run.report)
        run.blame_suspect()
    return run.report, result


def rejected_event(spec_id: str, role: str, event_type: str, what: str,
                   report: DrainReport) -> NewEvent:  # fmt: skip
    """The event that says a drain moved records to rejected files (``what`` they were)."""
    from .models import NewEvent

    files = ", ".join(str(spool.rejected_path) for spool in report.rejected_in)
    total = sum(len(spool.rejected()) for spool in report.rejected_in)
    ids = report.rejected
    return NewEvent(
        spec_id=spec_id,
        role=role,
        event_type=event_type,
        message=(
            f"{len(ids)} spooled {what} record(s) the store refused {MAX_ATTEMPTS} times "
            f"moved to {files} ({total} there in all); they are kept there, not stored"
        ),
        metadata={"record_ids": ids, "file": files, "total": total},
    )


def store_location(store: Store) -> str | None:
    try:
        return store.location
    except Exception:
        return None


class _Drain:
    def __init__(
        self, store: Store, state_dir: Path, budget_s: float | None, runner: Runner | None
    ) -> None:
        self.store = store
        self.state_dir = state_dir
        self.deadline = None if budget_s is None else time.monotonic() + budget_s
        self.runner = runner
        self.location = store_location(store)
        self.report = DrainReport()
        self.claims: list[_Claim] = []
        self.locks: list[int] = []  # the drain locks this drain holds
        self.newest: int | None = None
        self.attempted = False
        self.away = False  # the store said it is unreachable
        #: the record whose StoreError stopped the drain, with the error
        self.suspect: tuple[_Claim, str, dict[str, Any], str] | None = None

    def __enter__(self) -> _Drain:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def all(self) -> None:
        """Drain the store's spools (never raises ``Exception``)."""
        try:
            for spool in drained_by(self.state_dir, self.location):
                if not spool.holds_records():
                    continue
                if not self.lock(spool):
                    self.report.stopped = "busy"  # another drain is under way: it has them
                    return
                for path in spool.claims():
                    if self.report.stopped:
                        return
                    claim = _Claim.take_over(spool, path)
                    if claim is not None:
                        self.process(claim)
                if not self.report.stopped:
                    claim = _Claim.claim_spool(spool)
                    if claim is not None:
                        self.process(claim)
        except Exception as exc:
            self.stop(exc)

    def lock(self, spool: Spool) -> bool:
        """Take the spool's drain lock (one drainer at a time keeps the order); False
        when another process holds it. Never waits."""
        try:
            fd = os.open(spool.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return True  # nowhere to lock: drain as best we can (claims still exclude)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            pass  # no locks on this file system
        self.locks.append(fd)
        return True

    def stop(self, exc: Exception) -> None:
        """Stop: the store cannot be used now (``away``: it said it is unreachable)."""
        self.report.stopped = self.report.stopped or "unavailable"
        self.report.error = self.report.error or f"{exc}"
        self.away = self.away or isinstance(exc, StoreUnavailableError)

    def process(self, claim: _Claim) -> None:
        self.claims.append(claim)
        _checkpoint("claimed")
        if claim.lines.anchor is not None:
            try:
                self.resolve(claim)
            except Exception as exc:  # cannot tell what is stored: store nothing from this file
                self.stop(exc)
                return
        for record_id, record in claim.pending():
            if self.attempted and self.deadline is not None and time.monotonic() > self.deadline:
                self.report.stopped = "budget"  # (after one record at least: progress)
                return
            if len(claim.failures.get(record_id, ())) >= MAX_ATTEMPTS:
                self.reject(claim, record_id, record, None)
                continue
            kind = kind_of(record)
            if kind in EVENT_KINDS:
                if not self.store_event(claim, record_id, record):
                    return
            elif kind == "sync":
                if self.runner is not None and not self.run_sync(claim, record_id, record):
                    return
            elif kind == "malformed":
                self.reject(claim, record_id, record, "not a spool record (not JSON)")
            # another kind: a newer release spooled it (agents may run different
            # installs); it waits for a drainer that knows it

    def store_event(self, claim: _Claim, record_id: str, record: dict[str, Any]) -> bool:
        """Store one event record; False when the drain must stop."""
        try:
            event = to_event(record_id, record)
        except (KeyError, TypeError) as exc:
            self.reject(claim, record_id, record, f"not an event record: {exc!r}")
            return True
        if not self.note_newest(claim):
            return False
        stored: list[Event] = []
        outcome = self.attempt(claim, record_id, record,
                               lambda: stored.append(self.store.append_event(event)))  # fmt: skip
        if outcome is not True:
            return outcome is None
        claim.mark("stored", record_id, event_id=stored[0].id)
        self.report.stored += 1
        self.report.events += stored
        _checkpoint("marked")
        return True

    def run_sync(self, claim: _Claim, record_id: str, record: dict[str, Any]) -> bool:
        """Run one sync record (once per branch and rewrite in a claim: a sync reads the
        whole branch, so it covers the records loaded with it); False: stop."""
        assert self.runner is not None
        try:
            args = sync_args(record)
        except (KeyError, TypeError) as exc:
            self.reject(claim, record_id, record, f"not a sync record: {exc!r}")
            return True
        key = (str(args.root), args.branch, tuple(args.rewritten), args.how)
        if key in claim.synced:
            claim.mark("stored", record_id, covered_by=claim.synced[key])
            self.report.stored += 1
            return True
        runner = self.runner
        outcome = self.attempt(claim, record_id, record, lambda: runner(record))
        if outcome is not True:
            return outcome is None
        claim.mark("stored", record_id)
        claim.synced[key] = record_id
        self.report.stored += 1
        _checkpoint("marked")
        return True

    def attempt(
        self, claim: _Claim, record_id: str, record: dict[str, Any], write: Callable[[], object]
    ) -> bool | None:
        """Make one record's write: True, it went in; None, the store refused it (go on);
        False, the store failed (stop)."""
        _checkpoint("store")
        self.attempted = True
        try:
            write()
        except StoreError as exc:
            return self.failed(claim, record_id, record, exc)
        except Exception as exc:
            self.refused(claim, record_id, record, f"{type(exc).__name__}: {exc}")
            return None
        _checkpoint("stored")
        return True

    def failed(self, claim: _Claim, record_id: str, record: dict[str, Any], exc: Exception) -> bool:
        """The store failed during a write: stop; blame the record only if the store
        then works (:meth:`store_new`). Returns False (stop)."""
        claim.in_doubt = True
        self.stop(exc)
        if not self.away:
            self.suspect = (claim, record_id, record, f"{type(exc).__name__}: {exc}")
        return False

    def note_newest(self, claim: _Claim) -> bool:
        """Note the store's newest event id in the claim before storing from it: whatever
        this drain stores has a larger id, which is where a successor looks."""
        if claim.noted:
            return True
        if self.newest is None:
            try:
                latest = self.store.recent_events(1)
            except Exception as exc:
                self.stop(exc)
                return False
            self.newest = latest[0].id if latest else 0
        claim.mark("after", event_id=self.newest)
        claim.noted = True
        return True

    def resolve(self, claim: _Claim) -> None:
        """Mark stored the pending records a dead drainer stored without saying so."""
        wanted: dict[str, tuple[object, ...]] = {}  # from JSON: checked before use
        for record_id, record in claim.pending():
            if kind_of(record) not in EVENT_KINDS:
                continue  # a sync in doubt runs again: it converges
            with contextlib.suppress(KeyError, TypeError):
                new = to_event(record_id, record)
                wanted[record_id] = (new.spec_id, new.role, new.event_type, new.message,
                                     new.metadata)  # fmt: skip
        anchor = claim.lines.anchor
        assert anchor is not None
        for spec_id in {key[0] for key in wanted.values() if isinstance(key[0], str)}:
            after = anchor
            while True:
                events = self.store.events_after(spec_id, after, limit=_PAGE)
                for event in events:
                    found_id = (event.metadata or {}).get("record_id")
                    found = (event.spec_id, event.role, event.event_type, event.message,
                             event.metadata)  # fmt: skip
                    if (isinstance(found_id, str) and wanted.get(found_id) == found
                            and found_id not in claim.lines.done):  # fmt: skip
                        claim.mark("stored", found_id, event_id=event.id)
                if len(events) < _PAGE:
                    break
                after = events[-1].id

    def refused(self, claim: _Claim, record_id: str, record: dict[str, Any], error: str) -> None:
        claim.mark("failed", record_id, error=error[:500])
        if len(claim.failures.get(record_id, ())) >= MAX_ATTEMPTS:
            self.reject(claim, record_id, record, None)

    def reject(
        self, claim: _Claim, record_id: str, record: dict[str, Any], error: str | None
    ) -> None:
        """Move a record to the rejected file (once, even if a drainer died half-way)."""
        errors = claim.failures.get(record_id, []) + ([error] if error else [])
        path = claim.spool.rejected_path
        try:
            if record_id not in {e["id"] for e in claim.spool.rejected()}:
                line = json.dumps({"id": record_id, "errors": errors, "record": record})
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    write_all(fd, (line + "\n").encode("utf-8"))
                finally:
                    os.close(fd)
            claim.mark("rejected", record_id)
        except OSError:
            return  # stays spooled, and is rejected by a later drain
        self.report.rejected.append(record_id)
        if claim.spool not in self.report.rejected_in:
            self.report.rejected_in.append(claim.spool)

    def store_new(self, record: Mapping[str, Any]) -> None:
        if self.away:  # the store is away: do not wait for it twice
            append_for(self.state_dir, self.location, record)
            return
        try:
            stored = self.store.append_event(to_event(str(record["id"]), record))
        except Exception:
            append_for(self.state_dir, self.location, record)
            return
        self.report.new_stored = True
        self.report.events.append(stored)
        self.blame_suspect()

    def blame_suspect(self) -> None:
        """The store works after all: the record whose StoreError stopped the drain
        broke it itself, and counts one refusal."""
        if self.suspect is not None:
            claim, record_id, suspect, error = self.suspect
            self.suspect = None
            with contextlib.suppress(OSError):
                self.refused(claim, record_id, suspect, error)

    def release(self) -> None:
        try:
            for claim in self.claims:
                self.report.left += claim.release()
        finally:
            for fd in self.locks:
                os.close(fd)
