"""The SQLite store ``events migrate`` copies (:mod:`.postgres_migrate`), read and never
written: opened read-only, in one read transaction, so every table is read from the same
moment however many agents append meanwhile (WAL readers see a snapshot). Its rows come
out as :mod:`.postgres_migrate_tables` says each column reads, so they compare equal
with the PostgreSQL project's.

Only a store at this release's schema version is read: an older one is brought forward by
``events init`` first (the copy never changes the source), a newer one is refused in the
SQLite store's own words.
"""

# SQL here is composed from module constants only (table and column names).
# ruff: noqa: S608
from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Generator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claude_orchestrator.errors import StoreError

from . import postgres_migrate_tables as tables
from .sqlite_schema import ORIGINAL_TABLES, SCHEMA_VERSION

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
#: an event as the checksum reads it: id, spec, role, type, task, commit, message,
#: metadata, created_at
EVENTS_SQL = (
    "SELECT te.id, f.spec_id, a.role, te.event_type, te.task_id, te.commit_hash, te.message, "
    "te.metadata, te.created_at FROM task_events te JOIN features f ON f.id = te.feature_id "
    "JOIN agents a ON a.id = te.agent_id ORDER BY te.id"
)
#: v_feature_status, AgentStatus's columns in its order
STATUS_COLUMNS = (
    "spec_id, name, feature_status, role, branch_name, agent_status, events, "
    "last_event_type, last_event_at, tasks_in_progress, tasks_completed, tasks_blocked, "
    "prs_count, prs_merged, active_conflicts, active_blockers, tasks_merged"
)
STATUS_SQL = f"SELECT {STATUS_COLUMNS} FROM v_feature_status"
TASKS_SQL = (
    "SELECT f.spec_id, ts.task_id, ts.status, a.role, ts.commit_hash, ts.updated_at, "
    "ts.reopened FROM task_state ts JOIN features f ON f.id = ts.feature_id "
    "JOIN agents a ON a.id = ts.agent_id"
)


def timestamp(value: Any, where: str) -> str | None:
    """A timestamp as the port gives it (UTC, milliseconds, ``Z``), None for none. Stores
    written by this tool hold exactly that; the original shell tool's rows may hold
    SQLite's ``YYYY-MM-DD HH:MM:SS`` (UTC), which is read as the same moment."""
    if value is None or value == "":
        return None
    text = str(value)
    if _STAMP.fullmatch(text):
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise StoreError(
            f"{where} is {text[:40]!r}, which is no timestamp: it cannot be copied (fix the "
            "row in the SQLite store, or leave it out of the copy)"
        ) from None
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def metadata(value: Any, where: str) -> str | None:
    """Metadata as stored (JSON text), None for none; StoreError for text that is no JSON
    (PostgreSQL's ``json`` column would refuse it)."""
    if value is None or value == "":
        return None
    text = str(value)
    try:
        json.loads(text)
    except ValueError:
        raise StoreError(f"{where} is not JSON ({text[:40]!r}): it cannot be copied") from None
    return text


def files(value: Any) -> list[str]:
    """A conflict's files, as the SQLite store reads them (its ``sqlite_rows.conflict``)."""
    try:
        found = json.loads(value)
    except (TypeError, ValueError):  # rows written by the original tool may hold plain text
        found = [value]
    if not isinstance(found, list):
        found = [str(found)]
    return [str(f) for f in found]


def normalise(columns: Sequence[tables.Column], row: Sequence[Any], where: str) -> tuple[Any, ...]:
    """A source row as the PostgreSQL side reads the same row (see
    :mod:`.postgres_migrate_tables`)."""
    values: list[Any] = []
    for column, value in zip(columns, row, strict=True):
        what = f"{where}'s {column.name}"
        if column.kind == tables.TS:
            values.append(timestamp(value, what))
        elif column.kind == tables.JSON:
            values.append(metadata(value, what))
        elif column.kind == tables.BOOL:
            values.append(bool(value))
        elif column.kind == tables.FILES:
            values.append(files(value))
        elif isinstance(value, str) and "\x00" in value:
            raise StoreError(f"{what} holds a NUL character, which PostgreSQL cannot store")
        else:
            values.append(value)
    return tuple(values)


class SQLiteSource:
    """A SQLite event store, read-only, in one read transaction (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._conn = self._open()
        try:
            self._check()
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise StoreError(
                f"no SQLite event store to copy: {self.path} does not exist; give the store's "
                "file with --db FILE (`claude-orchestrator events path` prints where it is)"
            )
        if not self.path.is_file():
            raise StoreError(
                f"the SQLite event store to copy, {self.path}, is not a file: give the "
                "store's file with --db FILE"
            )
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            return self._snapshot(uri)
        except sqlite3.OperationalError as exc:
            if self.path.with_name(self.path.name + "-wal").exists():
                raise self._unreadable(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        try:  # a read-only place with no WAL beside the file: the file is all there is
            return self._snapshot(uri + "&immutable=1")
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None

    @staticmethod
    def _snapshot(uri: str) -> sqlite3.Connection:
        """A read-only connection in a read transaction (one snapshot for every read)."""
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _unreadable(self, exc: sqlite3.DatabaseError) -> StoreError:
        return StoreError(
            f"{self.path} is not a SQLite event store this can read ({exc}): give the "
            "store's file with --db FILE"
        )

    def _check(self) -> None:
        """This release's schema, or StoreError saying what to run."""
        try:
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            names = {r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}  # fmt: skip
            written = self._conn.execute(
                "SELECT value FROM schema_meta WHERE key = 'written_by'"
            ).fetchone() if "schema_meta" in names else None  # fmt: skip
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        if version > SCHEMA_VERSION:
            from claude_orchestrator import __version__

            by = written[0] if written else "an unknown version"
            raise StoreError(
                f"the event store {self.path} has schema version {version}, written by "
                f"claude-orchestrator {by}; this claude-orchestrator ({__version__}) reads "
                f"versions up to {SCHEMA_VERSION}: upgrade it "
                "(pip install -U claude-orchestrator-toolkit)"
            )
        if version == 0 and not names >= ORIGINAL_TABLES:
            raise StoreError(
                f"{self.path} is a SQLite database but no event store (it has "
                f"{len(names - {'sqlite_sequence'})} other tables): give the store's file "
                "with --db FILE"
            )
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"the event store {self.path} has schema version {version}, an older "
                "release's, and the copy never changes it: bring it forward first with "
                "`claude-orchestrator events init` (the same --db; it keeps every record), "
                "then migrate"
            )

    # -- reads ---------------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Any]:
        try:
            # not `yield from`: a generator left unfinished (a copy refused halfway) must
            # not close the cursor of a connection that is closed by then
            for row in self._conn.execute(sql, params):  # noqa: UP028
                yield row
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None

    def rows(self, table: tables.Numbered, after: int = 0) -> Generator[tuple[Any, ...]]:
        """The table's records with ``id > after``, in id order, as the target reads them."""
        for row in self._query(table.source_sql(), (after,)):
            yield normalise(table.columns, row, f"{table.noun} {row[0]}")

    def keyed(self, table: tables.Keyed) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """The table's rows by key."""
        found = {}
        for row in self._query(table.source_sql()):
            values = normalise(table.columns, row, f"{table.noun} {row[: table.key]}")
            found[values[: table.key]] = values
        return found

    def actions(self) -> list[tuple[Any, ...]]:
        """What each synced change said about each task, in the order first recorded."""
        return [tuple(r) for r in self._query(tables.ACTIONS_SOURCE_SQL)]

    def count(self, table: str) -> int:
        return int(next(self._query(f"SELECT COUNT(*) FROM {table}"))[0])

    def events(self) -> Iterator[tuple[Any, ...]]:
        """Every event as the checksum reads it (:data:`EVENTS_SQL`), in id order."""
        for row in self._query(EVENTS_SQL):
            where = f"event {row[0]}"
            yield (*row[:7], metadata(row[7], where), timestamp(row[8], where))

    def status(self) -> list[tuple[Any, ...]]:
        """v_feature_status's rows (AgentStatus's columns), the time as the port's."""
        return [(*r[:8], timestamp(r[8], "a status row"), *r[9:])
                for r in self._query(STATUS_SQL)]  # fmt: skip

    def task_states(self) -> list[tuple[Any, ...]]:
        return [(*r[:5], timestamp(r[5], "a task state"), bool(r[6]))
                for r in self._query(TASKS_SQL)]  # fmt: skip

    def close(self) -> None:
        self._conn.close()  # a read transaction: nothing to commit

    def __enter__(self) -> SQLiteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
