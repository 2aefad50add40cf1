"""The SQLite store's file: the connection, its errors, its transactions, and the schema
(created, checked and migrated once per store object).

One SQLite file in WAL mode, shared by every worktree of a repository. Writes are short
``BEGIN IMMEDIATE`` transactions with a generous busy timeout, so several agents can
log at the same moment; a store still locked when the timeout ends is
:class:`~claude_orchestrator.errors.StoreUnavailableError` (the hook path waits at most
2 s, then spools its write). sqlite-utils, which costs ~100 ms to import, is used only
where that cost does not matter: migrating the original tool's schema.
"""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from claude_orchestrator.errors import NotInitializedError, StoreError, StoreUnavailableError
from claude_orchestrator.models import StoreInfo

from . import sqlite_rows
from . import sqlite_schema as schema

BUSY_TIMEOUT_S = 30.0
#: the first schema version whose task_state is derived in Python (older ones: rebuilt)
_DERIVED_IN_PYTHON = 4


def _statements(script: str) -> Iterator[str]:
    """Split a script into statements (``executescript`` would commit our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            buffer = ""
            if statement:
                yield statement
    if buffer.strip():
        yield buffer.strip()


class SQLiteConnection:
    """One SQLite file: connect, translate errors, run transactions, keep the schema."""

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.location = str(self.path)
        self._conn: sqlite3.Connection | None = None
        self._checked = False
        # One connection per store object; the lock makes the object safe to share
        # between threads (processes each have their own connection).
        self._lock = threading.RLock()

    # -- connection, errors, transactions -------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if self.path.is_dir():
            raise StoreError(
                f"the event store path {self.path} is a directory: point --db or "
                f"CLAUDE_ORCHESTRATOR_DB at a file, e.g. {self.path}/events.db"
            )
        if not create and not self.exists():
            raise NotInitializedError(
                f"Event store not initialized: {self.path} does not exist. "
                "Run: claude-orchestrator events init"
            )
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create {self.path.parent}: {exc.strerror}; "
                    "choose another place with --db or CLAUDE_ORCHESTRATOR_DB"
                ) from None
        with self._errors():
            if create or self._writable():
                conn = self._open(str(self.path))
            else:
                conn = self._open_read_only()
            # WAL with synchronous=NORMAL: a commit survives a crash of any process; a power
            # loss may roll back the newest transactions, never corrupt or half-apply one.
            conn.execute("PRAGMA synchronous=NORMAL")
        self._conn = conn
        return conn

    def _open(self, target: str, uri: bool = False) -> sqlite3.Connection:
        return sqlite3.connect(
            target, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False,
            uri=uri,
        )  # fmt: skip

    def _writable(self) -> bool:
        return os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)

    def _open_read_only(self) -> sqlite3.Connection:
        """A reader who may not write the store (another user, a read-only mount): open it
        read-only, so reads work and a write fails with the read-only error. Where SQLite
        cannot create the WAL's index beside the file and no WAL is there, the file is
        all there is: open it as immutable."""
        uri = self.path.resolve().as_uri() + "?mode=ro"
        conn = self._open(uri, uri=True)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            if self.path.with_name(self.path.name + "-wal").exists():
                raise
            conn = self._open(uri + "&immutable=1", uri=True)
        return conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite3's exceptions into one-line StoreErrors."""
        try:
            yield
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if "readonly" in text or "read-only" in text or "unable to open" in text:
                raise StoreError(
                    f"the event store {self.path} is read-only ({text}): an agent under the "
                    "Claude Code sandbox cannot write .git/ from the main checkout -- give each "
                    "agent its own worktree (`claude-orchestrator init-feature <spec-id> "
                    "--worktrees`); otherwise make the file and its directory writable (SQLite "
                    f"writes {self.path.name}-wal beside it), or point --db at a writable file"
                ) from None
            if "locked" in text or "busy" in text:
                # Unavailable, not broken: the lock is another process's, for now. The hook
                # path spools the write (the next writer stores it); other commands fail.
                raise StoreUnavailableError(
                    f"the event store {self.path} stayed locked for {self.busy_timeout:g} s "
                    f"({text}): another process holds a long write lock; try again"
                ) from None
            if "not a database" in text or "malformed" in text or "corrupt" in text:
                raise StoreError(
                    f"{self.path} is not a usable SQLite event store ({text}): move it aside "
                    "and run `claude-orchestrator events init`, or point --db at the right file"
                ) from None
            raise StoreError(f"event store error in {self.path}: {text}") from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            conn = self._ready()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            conn = self._ready()
            with self._errors():
                return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- schema ----------------------------------------------------------------------
    def _version(self, conn: sqlite3.Connection) -> int:
        with self._errors():
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version == 0:
                tables = {
                    r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if tables >= schema.ORIGINAL_TABLES:
                    return 0
                if tables - {"sqlite_sequence"}:
                    raise StoreError(
                        f"{self.path} is a SQLite database but not an event store (it has "
                        f"tables {', '.join(sorted(tables)[:5])}): point --db at another file"
                    )
                return -1  # empty: not created yet
            return version

    def _written_by(self, conn: sqlite3.Connection) -> str:
        with contextlib.suppress(sqlite3.DatabaseError):
            row = conn.execute("SELECT value FROM schema_meta WHERE key = 'written_by'").fetchone()
            if row:
                return str(row[0])
        return "an unknown version"

    def _ready(self) -> sqlite3.Connection:
        """The connection, with the schema checked (and migrated) once per object."""
        conn = self._connect()
        if self._checked:
            return conn
        version = self._version(conn)
        if version == -1:
            raise NotInitializedError(
                f"Event store not initialized: {self.path} is empty. "
                "Run: claude-orchestrator events init"
            )
        self._refuse_newer(conn, version)
        if version < schema.SCHEMA_VERSION:
            self._migrate()
        self._checked = True
        return conn

    def _refuse_newer(self, conn: sqlite3.Connection, version: int) -> None:
        if version > schema.SCHEMA_VERSION:
            from claude_orchestrator import __version__

            raise StoreError(
                f"the event store {self.path} has schema version {version}, written by "
                f"claude-orchestrator {self._written_by(conn)}; this claude-orchestrator "
                f"({__version__}) reads versions up to {schema.SCHEMA_VERSION}: upgrade it "
                "(pip install -U claude-orchestrator-toolkit)"
            )

    def _migrate(self) -> int | None:
        """Create or migrate the schema in one transaction; returns the old version."""
        from claude_orchestrator import __version__

        conn = self._connect(create=True)
        with self._errors():
            self._refuse_newer(conn, self._version(conn))  # before changing anything
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = self._version(conn)  # again, now that we hold the write lock
                self._refuse_newer(conn, version)
                if version == schema.SCHEMA_VERSION:
                    conn.execute("COMMIT")
                    return schema.SCHEMA_VERSION
                if version == 0:
                    try:
                        self._migrate_from_original(conn)
                    except sqlite3.IntegrityError as exc:
                        raise StoreError(
                            f"cannot migrate {self.path} from the original tool's schema ({exc}); "
                            "it was left unchanged: fix the duplicate rows, then run "
                            "`claude-orchestrator events init`"
                        ) from None
                if version <= 0:  # new, or the original's: create the version-1 tables
                    for statement in _statements(schema.TABLES + schema.INDEXES):
                        conn.execute(statement)
                for view in schema.VIEW_NAMES:
                    conn.execute(f"DROP VIEW IF EXISTS {view}")
                for step in range(max(version, 1) + 1, schema.SCHEMA_VERSION + 1):
                    for statement in _statements(schema.MIGRATIONS[step]):
                        conn.execute(statement)
                for statement in _statements(schema.TRIGGERS + schema.VIEWS):
                    conn.execute(statement)
                if 0 <= version < _DERIVED_IN_PYTHON:
                    sqlite_rows.rebuild_task_states(conn)
                conn.execute(
                    "INSERT INTO schema_meta (key, value) VALUES ('written_by', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (__version__,),
                )
                conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION:d}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return None if version == -1 else version

    def _migrate_from_original(self, conn: sqlite3.Connection) -> None:
        """Version 0 (the shell tool's schema) -> the current tables, keeping every row."""
        import sqlite_utils

        db = sqlite_utils.Database(conn)
        for view in schema.VIEW_NAMES:
            db.execute(f"DROP VIEW IF EXISTS {view}")
        added: dict[str, dict[str, type]] = {
            "pull_requests": {"url": str},
            "test_results": {"tests_skipped": int},
            "blockers": {"task_id": str},
        }
        for table, columns in added.items():
            for column, column_type in columns.items():
                if column not in db.table(table).columns_dict:
                    db.table(table).add_column(column, column_type)
        # The original required a commit for every test result.
        db.table("test_results").transform(not_null={"commit_hash": False})
        for statement in _statements(schema.TABLES + schema.INDEXES):
            conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO agent_activity "
            "(agent_id, events, last_event_id, last_event_type, last_event_at) "
            "SELECT te.agent_id, s.n, te.id, te.event_type, te.created_at FROM "
            "(SELECT agent_id, COUNT(*) AS n, MAX(id) AS last FROM task_events "
            "GROUP BY agent_id) s JOIN task_events te ON te.id = s.last"
        )

    def initialize(self) -> StoreInfo:
        with self._lock:
            existed = self.exists()
            old = self._migrate()
            self._checked = True
            info = self.info()
        created = not existed or old is None
        migrated = None if created or old == schema.SCHEMA_VERSION else old
        return StoreInfo(
            info.location, info.schema_version, created, migrated, info.written_by, info.counts
        )

    def info(self) -> StoreInfo:
        with self._lock:
            return self._info()

    def _info(self) -> StoreInfo:
        conn = self._ready()
        tables = (
            "features",
            "agents",
            "task_events",
            "pull_requests",
            "conflicts",
            "test_results",
            "blockers",
            "usage",
        )
        with self._errors():
            counts = {
                t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables
            }
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        return StoreInfo(str(self.path), version, written_by=self._written_by(conn), counts=counts)
