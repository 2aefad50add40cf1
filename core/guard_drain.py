"""Draining the guard's spool into the store, exactly once whoever dies when (the protocol
is described in :mod:`~.guard_log`): :class:`_Claim` holds one claimed spool file,
:func:`drain` stores what it holds."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StoreError
from .guard_spool import (
    _PAGE,
    MAX_ATTEMPTS,
    REJECTED,
    SPOOL,
    _claim_name,
    _claim_paths,
    _event,
    _names,
    _write_all,
    rejected_records,
    spool_record,
)

if TYPE_CHECKING:
    from .store_service import Store


def _checkpoint(point: str) -> None:
    """Called at each step of a drain; the crash tests replace it to stop a drain there."""


class _Claim:
    """One claimed spool file, locked by this process until :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.records: dict[str, dict[str, Any]] = {}
        self.done: set[str] = set()  # stored or rejected
        self.failures: dict[str, list[str]] = {}
        #: the store's newest event id when a drain of this file first began storing
        self.anchor: int | None = None
        self.noted = False  # this drain wrote its own note of the newest event id
        self.changed = False  # this drain appended marks
        self.intact = True  # every outcome is written down (else leave the file as it is)

    @classmethod
    def take_over(cls, path: Path) -> _Claim | None:
        """A claim whose drainer died or gave it up; None while a live drainer has it."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except OSError:
            return None
        return cls._locked(path, fd, path)

    @classmethod
    def claim_spool(cls, state_dir: Path) -> _Claim | None:
        """The live spool, renamed to a claim name under an exclusive lock."""
        spool = state_dir / SPOOL
        try:
            fd = os.open(spool, os.O_RDWR | os.O_APPEND)
        except OSError:
            return None
        return cls._locked(spool, fd, _claim_name(state_dir))

    @classmethod
    def _locked(cls, path: Path, fd: int, claim_path: Path) -> _Claim | None:
        try:
            # Non-blocking: a writer holds its shared lock for one write, and a live
            # drainer's claim is not ours to wait for.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _names(path, fd):
                raise FileNotFoundError(path)  # renamed or replaced since we opened it
            if claim_path != path:
                os.rename(path, claim_path)
            claim = cls(claim_path, fd)
            claim.load()
        except OSError:
            os.close(fd)
            return None
        return claim

    def load(self) -> None:
        for number, raw in enumerate(self.path.read_bytes().splitlines()):
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
                noted = item["event_id"]
                self.anchor = noted if self.anchor is None else min(self.anchor, noted)
            elif mark in ("stored", "rejected"):
                self.done.add(str(record_id))
            elif mark == "failed":
                self.failures.setdefault(str(record_id), []).append(str(item.get("error")))

    def pending(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for record_id, record in list(self.records.items()):
            if record_id not in self.done:
                yield record_id, record

    def mark(self, mark: str, record_id: str | None = None, **fields: object) -> None:
        """Write one mark (one ``write``, so it is there whole or not at all)."""
        line: dict[str, object] = {"mark": mark}
        if record_id is not None:
            line["id"] = record_id
        line.update(fields)
        try:
            _write_all(self.fd, (json.dumps(line) + "\n").encode("utf-8"))
        except OSError:
            self.intact = False
            raise
        self.changed = True
        if mark in ("stored", "rejected") and record_id is not None:
            self.done.add(record_id)
        elif mark == "failed" and record_id is not None:
            self.failures.setdefault(record_id, []).append(str(fields.get("error")))

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


def _line_id(number: int, raw: bytes) -> str:
    """A stable id for a line without one (its position is stable: claims only grow)."""
    import hashlib

    return f"line-{number}-{hashlib.sha256(raw).hexdigest()[:24]}"


class DrainReport:
    """What one :func:`drain` did."""

    def __init__(self) -> None:
        #: spooled records this drain put into the store
        self.stored = 0
        #: records still spooled when it ended (for a later drain)
        self.left = 0
        #: ids of the records it moved to the rejected file
        self.rejected: list[str] = []
        #: whether the ``new`` record went into the store (else it was spooled)
        self.new_stored = False
        #: why it stopped before the end: "unavailable", "budget", or None
        self.stopped: str | None = None

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
) -> DrainReport:
    """Move spooled records into ``store``, oldest first, then store ``new``.

    A record the store refuses counts one attempt; at :data:`MAX_ATTEMPTS` it moves to
    the rejected file. A :class:`~claude_orchestrator.errors.StoreError` means the store
    cannot be used now: the drain stops, and it counts against that record only if
    ``new`` then goes in (so a record that breaks the store cannot block the spool).
    ``new``, when the store does not take it, is spooled. Never raises ``Exception``.

    :param budget_s: stop draining after this long (``new`` is still tried); None: no limit.
    """
    run = _Drain(store, state_dir, budget_s)
    try:
        for path in _claim_paths(state_dir):
            if run.report.stopped:
                break
            claim = _Claim.take_over(path)
            if claim is not None:
                run.process(claim)
        if not run.report.stopped:
            claim = _Claim.claim_spool(state_dir)
            if claim is not None:
                run.process(claim)
    except Exception:
        run.report.stopped = run.report.stopped or "unavailable"
    finally:
        try:
            if new is not None:
                run.store_new(new)
        finally:
            run.release()
    return run.report


class _Drain:
    def __init__(self, store: Store, state_dir: Path, budget_s: float | None) -> None:
        self.store = store
        self.state_dir = state_dir
        self.deadline = None if budget_s is None else time.monotonic() + budget_s
        self.report = DrainReport()
        self.claims: list[_Claim] = []
        self.newest: int | None = None
        self.attempted = False
        #: the record whose StoreError stopped the drain, with the error
        self.suspect: tuple[_Claim, str, dict[str, Any], str] | None = None

    def process(self, claim: _Claim) -> None:
        self.claims.append(claim)
        _checkpoint("claimed")
        if claim.anchor is not None:
            try:
                self.resolve(claim)
            except Exception:  # cannot tell what is stored: store nothing from this file
                self.report.stopped = "unavailable"
                return
        for record_id, record in claim.pending():
            if self.attempted and self.deadline is not None and time.monotonic() > self.deadline:
                self.report.stopped = "budget"  # (after one record at least: progress)
                return
            if len(claim.failures.get(record_id, ())) >= MAX_ATTEMPTS:
                self.reject(claim, record_id, record, None)
                continue
            try:
                event = _event(record_id, record)
            except (KeyError, TypeError) as exc:
                self.reject(claim, record_id, record, f"not a guard record: {exc!r}")
                continue
            if not self.note_newest(claim):
                return
            _checkpoint("store")
            self.attempted = True
            try:
                stored = self.store.append_event(event)
            except StoreError as exc:
                self.suspect = (claim, record_id, record, f"{type(exc).__name__}: {exc}")
                self.report.stopped = "unavailable"
                return
            except Exception as exc:
                self.refused(claim, record_id, record, f"{type(exc).__name__}: {exc}")
                continue
            _checkpoint("stored")
            claim.mark("stored", record_id, event_id=stored.id)
            self.report.stored += 1
            _checkpoint("marked")

    def note_newest(self, claim: _Claim) -> bool:
        """Note the store's newest event id in the claim before storing from it: whatever
        this drain stores has a larger id, which is where a successor looks."""
        if claim.noted:
            return True
        if self.newest is None:
            try:
                latest = self.store.recent_events(1)
            except Exception:
                self.report.stopped = "unavailable"
                return False
            self.newest = latest[0].id if latest else 0
        claim.mark("after", event_id=self.newest)
        claim.noted = True
        return True

    def resolve(self, claim: _Claim) -> None:
        """Mark stored the pending records a dead drainer stored without saying so."""
        wanted: dict[str, tuple[object, ...]] = {}  # from JSON: checked before use
        for record_id, record in claim.pending():
            with contextlib.suppress(KeyError, TypeError):
                new = _event(record_id, record)
                wanted[record_id] = (new.spec_id, new.role, new.event_type, new.message,
                                     new.metadata)  # fmt: skip
        assert claim.anchor is not None
        for spec_id in {key[0] for key in wanted.values() if isinstance(key[0], str)}:
            after = claim.anchor
            while True:
                events = self.store.events_after(spec_id, after, limit=_PAGE)
                for event in events:
                    found_id = (event.metadata or {}).get("record_id")
                    found = (event.spec_id, event.role, event.event_type, event.message,
                             event.metadata)  # fmt: skip
                    if (isinstance(found_id, str) and wanted.get(found_id) == found
                            and found_id not in claim.done):  # fmt: skip
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
        path = self.state_dir / REJECTED
        try:
            if record_id not in {e["id"] for e in rejected_records(self.state_dir)}:
                line = json.dumps({"id": record_id, "errors": errors, "record": record})
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    _write_all(fd, (line + "\n").encode("utf-8"))
                finally:
                    os.close(fd)
            claim.mark("rejected", record_id)
        except OSError:
            return  # stays spooled, and is rejected by a later drain
        self.report.rejected.append(record_id)

    def store_new(self, record: Mapping[str, Any]) -> None:
        try:
            self.store.append_event(_event(str(record["id"]), record))
        except Exception:
            spool_record(self.state_dir, record)
            return
        self.report.new_stored = True
        if self.suspect is not None:  # the store works: the suspect broke it itself
            claim, record_id, suspect, error = self.suspect
            with contextlib.suppress(OSError):
                self.refused(claim, record_id, suspect, error)

    def release(self) -> None:
        for claim in self.claims:
            self.report.left += claim.release()
