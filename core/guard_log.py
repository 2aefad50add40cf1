"""The guard's decision log: redaction, the store, the spool and its drain.

Every decision the guard takes is recorded as a ``guard_decision`` event through the
*configured* store plugin, chosen by name through the plugin registry like every other
command. Logging never delays or changes a decision: the store gets a busy timeout of a
few milliseconds, and a record it cannot take now is appended to a spool beside it
(``guard-spool.jsonl``); the next guard that reaches the store drains the spool.

Every spooled record reaches the store exactly once, whoever dies when:

- each record carries a unique id, which its event keeps as ``metadata.record_id``;
- a drainer *claims* the spool by renaming it to ``guard-spool.jsonl.<pid>.<token>``
  while it holds an exclusive ``flock`` on it, and keeps the lock until it is done. The
  kernel drops the lock the moment its owner dies (SIGKILL included), so a claim that
  nobody holds a lock on belongs to a dead drainer, and the next drainer takes it over:
  no guessing from the file's age, and a reused pid cannot keep a claim alive;
- before its first store, a drainer notes in the claim the store's newest event id, and
  after each record the store accepts, a ``stored`` mark. A drainer killed between the
  store's commit and that mark leaves records in doubt: whoever takes the claim over
  looks for them among the events stored since the note (event ids increase) before
  storing anything;
- a record the store refuses (an unknown feature or agent, an invalid value, a malformed
  line) gets a ``failed`` mark and is retried by later drains; after
  :data:`MAX_ATTEMPTS` refusals it moves to ``guard-spool.rejected`` and a
  ``guard_log_rejected`` event says so. A record is never dropped;
- appenders hold a shared lock while they write and check that the path still names
  the file they opened, so nothing is appended to a file a drainer has claimed.

A drain that stops early (the store is busy, or its time budget is spent) rewrites the
claim with what is left, in one rename, and lets it go: the records stay spooled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StoreError

if TYPE_CHECKING:
    from .config import Config
    from .guard import Decision
    from .location import Location
    from .manager import PluginRegistry
    from .models import NewEvent
    from .protocols import EventStore

SPOOL = "guard-spool.jsonl"
REJECTED = "guard-spool.rejected"
EVENT_TYPE = "guard_decision"
REJECTED_EVENT_TYPE = "guard_log_rejected"
#: How long the guard waits for a store another process is writing to.
LOG_BUSY_TIMEOUT_S = 0.005
#: How long one guard call spends draining the spool; the next call drains the rest.
DRAIN_BUDGET_S = 0.02
#: Refusals after which a spooled record moves to the rejected file.
MAX_ATTEMPTS = 5

_APPEND_TRIES = 50
_PAGE = 1000


# ------------------------------------------------------------------------ redaction
# Each rule is a linear scan. Python's regular expressions backtrack: written plainly,
# these rules took quadratic time on a long word (64 kB of `echo aaa...` timed the guard
# out). Possessive quantifiers (`*+`, `++`) never give back what they matched, and the
# lookbehinds let a scan start only where a word or a scheme starts, so each character is
# looked at a bounded number of times. The character classes are the original rules',
# IGNORECASE included, so what is redacted has not changed.
_ASSIGNMENT = re.compile(r"(?<!\w)[A-Za-z_][A-Za-z0-9_]*+=", re.IGNORECASE)
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|AUTH", re.IGNORECASE)
_VALUE = re.compile(r"\"[^\"]*+\"|'[^']*+'|\S++")
_AUTHORIZATION = re.compile(r"Authorization:\s*+", re.IGNORECASE)
_NON_SPACE = re.compile(r"\S*+")
_SPACE = re.compile(r"\s*+")
_CREDENTIAL = re.compile(r"[^\s'\"]*+")
_URL_USERINFO = re.compile(
    r"(?<![a-z0-9+.-])([0-9+.-]*+[a-z][a-z0-9+.-]*+://)[^/\s:@]++(?::[^/\s@]*+)?@",
    re.IGNORECASE,
)
_GITHUB_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+)\b")


def redact(text: str) -> str:
    """Remove secrets: ``VAR=...`` tokens, Authorization headers, URL credentials,
    GitHub tokens. Linear in the length of ``text``."""
    text = _redact_assignments(text)
    text = _redact_authorization(text)
    text = _URL_USERINFO.sub(r"\1***@", text)
    return _GITHUB_TOKEN.sub("***", text)


def _redact_assignments(text: str) -> str:
    """``NAME=value`` where NAME holds a secret word (``PASSWORD=``, ``GH_TOKEN=``)."""
    parts: list[str] = []
    done = pos = 0
    while (name := _ASSIGNMENT.search(text, pos)) is not None:
        pos = name.end()
        if _SECRET_NAME.search(text, name.start(), pos - 1) is None:
            continue
        value = _VALUE.match(text, pos)
        if value is None:
            continue
        parts += [text[done:pos], "***"]
        done = pos = value.end()
    parts.append(text[done:])
    return "".join(parts)


def _redact_authorization(text: str) -> str:
    """``Authorization: [scheme ]credentials``: the same matches as the rule
    ``(Authorization:\\s*)(\\S+\\s+)?[^\\s'"]+``, without its rescans.

    The rule tries the scheme form first (a word, blanks, then a credential that does
    not start with a quote), then a bare credential. Both scans from one start can run
    to the end of a long word; several headers inside that word share the scan, through
    the remembered end of the word and of the blanks after it.
    """
    parts: list[str] = []
    done = pos = 0
    word_from = word_end = blanks_from = blanks_end = -1
    size = len(text)
    while (header := _AUTHORIZATION.search(text, pos)) is not None:
        start = header.end()
        if not word_from <= start <= word_end:
            word_from, word_end = start, _scan(_NON_SPACE, text, start)
        end = -1
        if start < word_end < size:
            if blanks_from != word_end:
                blanks_from = word_end
                blanks_end = _scan(_SPACE, text, word_end)
            if blanks_end < size and text[blanks_end] not in "'\"":
                end = _scan(_CREDENTIAL, text, blanks_end)
        if end < 0:
            bare = _scan(_CREDENTIAL, text, start)
            if bare > start:
                end = bare
        if end < 0:
            pos = header.start() + 1
            continue
        parts += [text[done:start], "***"]
        done = pos = end
    parts.append(text[done:])
    return "".join(parts)


def _scan(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern``, which may match nothing, stops when matched at ``pos``."""
    match = pattern.match(text, pos)
    return pos if match is None else match.end()


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


# ---------------------------------------------------------------------------- store
def store_path(location: Location, config: Config, env: Mapping[str, str]) -> Path:
    """Where the store is: ``CLAUDE_ORCHESTRATOR_DB``, the config's ``store.path``, or the
    default beside git's common directory (the rule of ``Orchestrator.store_path``)."""
    from .location import ENV_DB

    override = env.get(ENV_DB)
    if override:
        return (location.cwd / override).resolve()
    configured = config.store_path
    if configured:
        return (location.root / configured).resolve()
    return location.default_store_path()


def open_store(
    location: Location,
    config: Config,
    *,
    env: Mapping[str, str] | None = None,
    registry: PluginRegistry | None = None,
) -> EventStore:
    """The configured store plugin, built through the registry with the guard's short
    busy timeout (plugin option ``busy_timeout``, in seconds).

    :param config: the configuration the guard decided with (the overseer branch's).
    :param registry: a prepared registry (tests); a fresh one otherwise. Only built-in
        plugins are imported unless the config names another store.
    """
    from .protocols import PluginContext

    env = os.environ if env is None else env
    if registry is None:
        from .manager import PluginRegistry

        registry = PluginRegistry(env=env)
    name = config.store_plugin
    impl = registry.get("store", name)
    options = {**config.plugin_options(name), "busy_timeout": LOG_BUSY_TIMEOUT_S}
    context = PluginContext(
        config=config,
        root=location.root,
        common_dir=location.common_dir,
        store_path=store_path(location, config, env),
        options=options,
    )
    store: EventStore = impl.factory(context)
    return store


def log_decision(
    location: Location,
    config: Config,
    spec_id: str,
    role: str,
    tool: str,
    detail: str,
    decision: Decision,
    *,
    env: Mapping[str, str] | None = None,
    registry: PluginRegistry | None = None,
) -> None:
    """Record the decision (after what the spool holds); on any trouble, spool it.

    Never raises: the decision stands whatever happens to its record.
    """
    record = decision_record(spec_id, role, tool, detail, decision)
    state_dir = location.state_dir
    try:
        store = open_store(location, config, env=env, registry=registry)
    except Exception:
        spool_record(state_dir, record)
        return
    try:
        if not _exists(store):
            spool_record(state_dir, record)
            return
        report = drain(store, state_dir, new=record, budget_s=DRAIN_BUDGET_S)
        if report.rejected and report.new_stored:
            with contextlib.suppress(Exception):
                store.append_event(_rejected_event(spec_id, role, state_dir, report.rejected))
    finally:
        with contextlib.suppress(Exception):
            store.close()


def _exists(store: EventStore) -> bool:
    try:
        return store.exists()
    except Exception:
        return False


def _rejected_event(spec_id: str, role: str, state_dir: Path, ids: list[str]) -> NewEvent:
    from .models import NewEvent

    path = state_dir / REJECTED
    total = len(rejected_records(state_dir))
    return NewEvent(
        spec_id=spec_id,
        role=role,
        event_type=REJECTED_EVENT_TYPE,
        message=(
            f"{len(ids)} spooled guard decision record(s) the store refused {MAX_ATTEMPTS} "
            f"times moved to {path} ({total} there in all); they are kept there, not stored"
        ),
        metadata={"record_ids": ids, "file": str(path), "total": total},
    )


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

    def mark(self, mark: str, record_id: str | None = None, **fields: Any) -> None:
        """Write one mark (one ``write``, so it is there whole or not at all)."""
        line: dict[str, Any] = {"mark": mark}
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
    store: EventStore,
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
    def __init__(self, store: EventStore, state_dir: Path, budget_s: float | None) -> None:
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
        wanted: dict[str, tuple[Any, ...]] = {}
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
