"""The built-in ``sqlite`` event store.

One SQLite file in WAL mode, shared by every worktree of a repository. Writes are short
``BEGIN IMMEDIATE`` transactions with a generous busy timeout, so several agents can
log at the same moment. ``task_events`` is append-only, enforced by triggers; two
summary tables (``agent_activity``, ``task_state``), kept current by triggers, make
``status`` independent of the number of events.

The hot paths (append an event, status, recent) use the standard library's ``sqlite3``
directly; sqlite-utils, which costs ~100 ms to import, is used where that cost does not
matter: creating and migrating the schema, and counting rows for ``info()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from claude_orchestrator.errors import (
    AlreadyExistsError,
    NotFoundError,
    NotInitializedError,
    StoreError,
    ValidationError,
)
from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.models import (
    Agent,
    AgentStatus,
    Blocker,
    Conflict,
    Event,
    Feature,
    FoundConflict,
    NewEvent,
    PullRequest,
    StoreInfo,
    SyncCommit,
    TaskState,
    TestResult,
)
from claude_orchestrator.protocols import PluginContext, Register
from claude_orchestrator.tasks import (
    STATE_EVENTS,
    TaskEvent,
    changes_state,
    derive_task_state,
    source_state,
)

from . import sqlite_schema as schema

BUSY_TIMEOUT_S = 30.0
#: the first schema version whose task_state is derived in Python (older ones: rebuilt)
_DERIVED_IN_PYTHON = 4
_STATE_MARKS = ", ".join("?" * len(STATE_EVENTS))
_NEXT_ID = 2**62  # sorts after every stored event: "an event appended now"
#: the event a sync-status retraction (a rewritten commit no longer says it) takes back
_RETRACTS = (
    "CASE WHEN event_type = 'task_reopened' AND json_valid(metadata) "
    "AND json_extract(metadata, '$.source') = 'sync-status' "
    "THEN json_extract(metadata, '$.retracts') END"
)


class _Synced(NamedTuple):
    """The branch a sync records for: its feature, its agent, their names."""

    feature_id: int
    agent_id: int
    spec_id: str
    role: str
    branch: str


@hookimpl(trylast=True)
def register_stores(register: Register) -> None:
    register("sqlite", SQLiteStore.from_context, description="SQLite file (embedded, no server)")


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


_FEATURE_COLS = "id, spec_id, name, overseer_branch, status, created_at, completed_at"
_AGENT_SQL = (
    "SELECT a.id, f.spec_id, a.role, a.branch_name, a.status, a.created_at "
    "FROM agents a JOIN features f ON f.id = a.feature_id"
)
_EVENT_SQL = (
    "SELECT te.id, f.spec_id, a.role, te.event_type, te.message, te.task_id, "
    "te.commit_hash, te.metadata, te.created_at "
    "FROM task_events te JOIN features f ON f.id = te.feature_id "
    "JOIN agents a ON a.id = te.agent_id"
)
_CONFLICT_SQL = (
    "SELECT c.id, f.spec_id, a.role, c.conflicting_files, c.severity, c.resolved, "
    "c.resolution_notes, c.detected_at, c.resolved_at, c.branch, c.other_branch, oa.role "
    "FROM conflicts c JOIN features f ON f.id = c.feature_id JOIN agents a ON a.id = c.agent_id "
    "LEFT JOIN agents oa ON oa.id = c.other_agent_id"
)
_BLOCKER_SQL = (
    "SELECT b.id, f.spec_id, a.role, b.blocker_type, b.description, ba.role, b.status, "
    "b.created_at, b.resolved_at, b.resolution_notes "
    "FROM blockers b JOIN features f ON f.id = b.feature_id JOIN agents a ON a.id = b.agent_id "
    "LEFT JOIN agents ba ON ba.id = b.blocking_agent_id"
)
_TEST_SQL = (
    "SELECT t.id, f.spec_id, a.role, t.test_type, t.status, t.commit_hash, t.tests_total, "
    "t.tests_passed, t.tests_failed, t.tests_skipped, t.duration_ms, t.logs_url, t.created_at "
    "FROM test_results t JOIN features f ON f.id = t.feature_id "
    "LEFT JOIN agents a ON a.id = t.agent_id"
)
_PR_SQL = (
    "SELECT p.id, f.spec_id, a.role, p.pr_number, p.title, p.status, p.base_branch, "
    "p.head_branch, p.url, p.created_at, p.merged_at "
    "FROM pull_requests p JOIN features f ON f.id = p.feature_id "
    "JOIN agents a ON a.id = p.agent_id"
)
_ROLE_ORDER = "(a.role <> 'overseer'), a.role"


def _event(row: Sequence[Any]) -> Event:
    metadata = json.loads(row[7]) if row[7] else None
    return Event(
        id=row[0],
        spec_id=row[1],
        role=row[2],
        event_type=row[3],
        message=row[4],
        task_id=row[5] or None,
        commit_hash=row[6] or None,
        metadata=metadata,
        created_at=row[8],
    )


def _conflict(row: Sequence[Any]) -> Conflict:
    try:
        files = json.loads(row[3])
    except ValueError:  # rows written by the original tool may hold plain text
        files = [row[3]]
    if not isinstance(files, list):
        files = [str(files)]
    return Conflict(
        row[0], row[1], row[2], [str(f) for f in files], row[4], bool(row[5]), *row[6:12]
    )


class SQLiteStore:
    """An :class:`~claude_orchestrator.protocols.EventStore` in one SQLite file."""

    def __init__(self, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.location = str(self.path)
        self._conn: sqlite3.Connection | None = None
        self._checked = False
        # One connection per store object; the lock makes the object safe to share
        # between threads (processes each have their own connection).
        self._lock = threading.RLock()

    @classmethod
    def from_context(cls, context: PluginContext) -> SQLiteStore:
        timeout = context.options.get("busy_timeout", BUSY_TIMEOUT_S)
        return cls(context.store_path, busy_timeout=float(timeout))

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
                raise StoreError(
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
                    self._rebuild_task_states(conn)
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
        )
        with self._errors():
            counts = {
                t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables
            }
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        return StoreInfo(str(self.path), version, written_by=self._written_by(conn), counts=counts)

    # -- task state --------------------------------------------------------------------
    def _task_events(
        self, conn: sqlite3.Connection, feature_id: int, task_id: str, agent_id: int | None = None
    ) -> list[TaskEvent]:
        sql = (
            "SELECT id, agent_id, event_type, commit_hash, created_at, "
            f"{_RETRACTS} FROM task_events "
            f"WHERE feature_id = ? AND task_id = ? AND event_type IN ({_STATE_MARKS})"
        )
        params: list[Any] = [feature_id, task_id, *STATE_EVENTS]
        if agent_id is not None:
            sql += " AND agent_id = ?"
            params.append(agent_id)
        rows = conn.execute(sql + " ORDER BY id", params)
        return [TaskEvent(r[0], r[1], r[2], r[3], r[4], r[5] if isinstance(r[5], int) else None)
                for r in rows]  # fmt: skip

    def _refresh_task_state(self, conn: sqlite3.Connection, feature_id: int, task_id: str) -> None:
        """Derive the task's state from all its events (in Python) and store it."""
        state = derive_task_state(self._task_events(conn, feature_id, task_id))
        if state is None:
            conn.execute(
                "DELETE FROM task_state WHERE feature_id = ? AND task_id = ?", (feature_id, task_id)
            )
            return
        decided = state.event
        conn.execute(
            "INSERT INTO task_state (feature_id, task_id, status, agent_id, commit_hash, "
            "last_event_id, updated_at, reopened) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (feature_id, task_id) DO UPDATE SET status = excluded.status, "
            "agent_id = excluded.agent_id, commit_hash = excluded.commit_hash, "
            "last_event_id = excluded.last_event_id, updated_at = excluded.updated_at, "
            "reopened = excluded.reopened",
            (feature_id, task_id, state.status, decided.source, decided.commit_hash or None,
             decided.id, decided.created_at, int(state.reopened)),
        )  # fmt: skip

    def _rebuild_task_states(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM task_state")
        tasks = conn.execute(
            "SELECT DISTINCT feature_id, task_id FROM task_events WHERE task_id IS NOT NULL "
            f"AND task_id <> '' AND event_type IN ({_STATE_MARKS}) ORDER BY feature_id, task_id",
            STATE_EVENTS,
        ).fetchall()
        for feature_id, task_id in tasks:
            self._refresh_task_state(conn, feature_id, task_id)

    # -- lookups ---------------------------------------------------------------------
    def _feature_id(self, conn: sqlite3.Connection, spec_id: str) -> int:
        row = conn.execute("SELECT id FROM features WHERE spec_id = ?", (spec_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"Feature not found in event store: {spec_id}. Add it with: "
                f'claude-orchestrator events add-feature {spec_id} "<name>"'
            )
        return int(row[0])

    def _agent_ids(self, conn: sqlite3.Connection, spec_id: str, role: str) -> tuple[int, int]:
        row = conn.execute(
            "SELECT f.id, a.id FROM features f LEFT JOIN agents a "
            "ON a.feature_id = f.id AND a.role = ? WHERE f.spec_id = ?",
            (role, spec_id),
        ).fetchone()
        if row is None:
            self._feature_id(conn, spec_id)  # raises the feature-not-found error
        if row[1] is None:
            raise NotFoundError(
                f"Agent not found: {role} is not registered for {spec_id}. Register it with: "
                f"claude-orchestrator events add-agent {spec_id} {role}"
            )
        return int(row[0]), int(row[1])

    def _insert_event(
        self,
        conn: sqlite3.Connection,
        feature_id: int,
        agent_id: int,
        event: NewEvent,
    ) -> Event:
        metadata = json.dumps(event.metadata, sort_keys=True) if event.metadata else None
        row = conn.execute(
            "INSERT INTO task_events (feature_id, agent_id, event_type, task_id, commit_hash, "
            "message, metadata) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id, created_at",
            (
                feature_id,
                agent_id,
                event.event_type,
                event.task_id,
                event.commit_hash,
                event.message,
                metadata,
            ),
        ).fetchone()
        if event.task_id and event.event_type in STATE_EVENTS:
            self._refresh_task_state(conn, feature_id, event.task_id)
        return Event(
            id=int(row[0]),
            spec_id=event.spec_id,
            role=event.role,
            event_type=event.event_type,
            message=event.message,
            task_id=event.task_id,
            commit_hash=event.commit_hash,
            metadata=event.metadata,
            created_at=row[1],
        )

    def _log(
        self,
        conn: sqlite3.Connection,
        spec_id: str,
        role: str,
        event_type: str,
        message: str,
        **extra: Any,
    ) -> Event:
        feature_id, agent_id = self._agent_ids(conn, spec_id, role)
        new = NewEvent(spec_id, role, event_type, message, **extra)
        return self._insert_event(conn, feature_id, agent_id, new)

    # -- features and agents ---------------------------------------------------------
    def add_feature(
        self, spec_id: str, name: str, overseer_branch: str, agents: Sequence[tuple[str, str]]
    ) -> tuple[Feature, Event]:
        if "overseer" not in {role for role, _ in agents}:
            raise ValidationError("a feature needs an overseer agent")
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM features WHERE spec_id = ?", (spec_id,)).fetchone():
                raise AlreadyExistsError(
                    f"feature {spec_id} is already in the event store: see "
                    f"`claude-orchestrator events status {spec_id}`"
                )
            feature_id = conn.execute(
                "INSERT INTO features (spec_id, name, overseer_branch) VALUES (?, ?, ?) "
                "RETURNING id",
                (spec_id, name, overseer_branch),
            ).fetchone()[0]
            conn.executemany(
                "INSERT INTO agents (role, feature_id, branch_name) VALUES (?, ?, ?)",
                [(role, feature_id, branch) for role, branch in agents],
            )
            roles = ", ".join(role for role, _ in agents)
            event = self._log(
                conn,
                spec_id,
                "overseer",
                "feature_created",
                f"feature {spec_id} created: {name} (agents: {roles})",
                metadata={"name": name, "overseer_branch": overseer_branch},
            )
        feature = self.get_feature(spec_id)
        assert feature is not None
        return feature, event

    def set_feature_name(self, spec_id: str, name: str) -> tuple[Feature, Event | None]:
        with self._write() as conn:
            self._feature_id(conn, spec_id)
            old = conn.execute("SELECT name FROM features WHERE spec_id = ?", (spec_id,))
            previous = str(old.fetchone()[0])
            event = None
            if previous != name:
                conn.execute("UPDATE features SET name = ? WHERE spec_id = ?", (name, spec_id))
                event = self._log(conn, spec_id, "overseer", "feature_renamed",
                                  f"feature {spec_id} renamed: {previous} -> {name}",
                                  metadata={"name": name, "previous_name": previous})  # fmt: skip
        feature = self.get_feature(spec_id)
        assert feature is not None
        return feature, event

    def get_feature(self, spec_id: str) -> Feature | None:
        rows = self._read(f"SELECT {_FEATURE_COLS} FROM features WHERE spec_id = ?", (spec_id,))
        return Feature(*rows[0]) if rows else None

    def list_features(self) -> list[Feature]:
        return [
            Feature(*r)
            for r in self._read(f"SELECT {_FEATURE_COLS} FROM features ORDER BY spec_id")
        ]

    def set_feature_status(self, spec_id: str, status: str) -> tuple[Feature, Event]:
        with self._write() as conn:
            self._feature_id(conn, spec_id)
            conn.execute(
                "UPDATE features SET status = ?, completed_at = CASE WHEN ? = 'completed' "
                "THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE completed_at END "
                "WHERE spec_id = ?",
                (status, status, spec_id),
            )
            event = self._log(
                conn,
                spec_id,
                "overseer",
                "status_update",
                f"feature status: {status}",
                metadata={"feature_status": status},
            )
        feature = self.get_feature(spec_id)
        assert feature is not None
        return feature, event

    def add_agent(self, spec_id: str, role: str, branch_name: str) -> tuple[Agent, Event]:
        with self._write() as conn:
            feature_id = self._feature_id(conn, spec_id)
            exists = conn.execute(
                "SELECT 1 FROM agents WHERE feature_id = ? AND role = ?", (feature_id, role)
            ).fetchone()
            if exists:
                raise AlreadyExistsError(f"agent {role} is already registered for {spec_id}")
            conn.execute(
                "INSERT INTO agents (role, feature_id, branch_name) VALUES (?, ?, ?)",
                (role, feature_id, branch_name),
            )
            event = self._log(
                conn,
                spec_id,
                role,
                "agent_registered",
                f"{role} registered on {branch_name}",
                metadata={"branch": branch_name},
            )
        agent = next(a for a in self.list_agents(spec_id) if a.role == role)
        return agent, event

    def list_agents(self, spec_id: str) -> list[Agent]:
        rows = self._read(f"{_AGENT_SQL} WHERE f.spec_id = ? ORDER BY {_ROLE_ORDER}", (spec_id,))
        return [Agent(*r) for r in rows]

    # -- events ----------------------------------------------------------------------
    def append_event(self, event: NewEvent) -> Event:
        with self._write() as conn:
            feature_id, agent_id = self._agent_ids(conn, event.spec_id, event.role)
            return self._insert_event(conn, feature_id, agent_id, event)

    def recent_events(self, limit: int, spec_id: str | None = None) -> list[Event]:
        if spec_id is None:
            rows = self._read(f"{_EVENT_SQL} ORDER BY te.id DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                f"{_EVENT_SQL} WHERE te.feature_id = (SELECT id FROM features WHERE spec_id = ?) "
                "ORDER BY te.id DESC LIMIT ?",
                (spec_id, limit),
            )
        return [_event(r) for r in rows]

    def events_after(self, spec_id: str, after_id: int = 0, limit: int = 1000) -> list[Event]:
        rows = self._read(
            f"{_EVENT_SQL} WHERE te.feature_id = (SELECT id FROM features WHERE spec_id = ?) "
            "AND te.id > ? ORDER BY te.id LIMIT ?",
            (spec_id, after_id, limit),
        )
        return [_event(r) for r in rows]

    def feature_status(self, spec_id: str | None = None) -> list[AgentStatus]:
        sql = "SELECT * FROM v_feature_status"
        params: tuple[Any, ...] = ()
        if spec_id is not None:
            sql += " WHERE spec_id = ?"
            params = (spec_id,)
        sql += " ORDER BY spec_id, (role IS NULL), (role <> 'overseer'), role"
        return [AgentStatus(*r) for r in self._read(sql, params)]

    def task_states(self, spec_id: str) -> list[TaskState]:
        rows = self._read(
            "SELECT f.spec_id, ts.task_id, ts.status, a.role, ts.commit_hash, ts.updated_at, "
            "ts.reopened "
            "FROM task_state ts JOIN features f ON f.id = ts.feature_id "
            "JOIN agents a ON a.id = ts.agent_id WHERE f.spec_id = ? ORDER BY ts.task_id",
            (spec_id,),
        )
        return [TaskState(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    # -- conflicts -------------------------------------------------------------------
    def add_conflict(
        self, spec_id: str, role: str, files: Sequence[str], severity: str
    ) -> tuple[Conflict, Event]:
        with self._write() as conn:
            feature_id, agent_id = self._agent_ids(conn, spec_id, role)
            conflict_id = conn.execute(
                "INSERT INTO conflicts (feature_id, agent_id, conflicting_files, severity) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (feature_id, agent_id, json.dumps(list(files)), severity),
            ).fetchone()[0]
            event = self._insert_event(
                conn,
                feature_id,
                agent_id,
                NewEvent(
                    spec_id,
                    role,
                    "conflict_detected",
                    f"{severity} conflict #{conflict_id}: {', '.join(files)}",
                    metadata={
                        "conflict_id": conflict_id,
                        "files": list(files),
                        "severity": severity,
                    },
                ),
            )
        return self._conflict(conflict_id), event

    def _conflict(self, conflict_id: int) -> Conflict:
        rows = self._read(f"{_CONFLICT_SQL} WHERE c.id = ?", (conflict_id,))
        if not rows:
            raise NotFoundError(
                f"no conflict with id {conflict_id}: list them with "
                "`claude-orchestrator events conflicts`"
            )
        return _conflict(rows[0])

    def resolve_conflict(self, conflict_id: int, notes: str) -> tuple[Conflict, Event]:
        with self._write() as conn:
            row = conn.execute(
                "SELECT c.resolved, f.spec_id, a.role, c.feature_id, c.agent_id FROM conflicts c "
                "JOIN features f ON f.id = c.feature_id JOIN agents a ON a.id = c.agent_id "
                "WHERE c.id = ?",
                (conflict_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"no conflict with id {conflict_id}: list them with "
                    "`claude-orchestrator events conflicts`"
                )
            if row[0]:
                raise ValidationError(f"conflict {conflict_id} is already resolved")
            conn.execute(
                "UPDATE conflicts SET resolved = TRUE, resolution_notes = ?, "
                "resolved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                (notes, conflict_id),
            )
            event = self._insert_event(
                conn,
                row[3],
                row[4],
                NewEvent(
                    row[1],
                    row[2],
                    "conflict_resolved",
                    f"conflict #{conflict_id} resolved: {notes}",
                    metadata={"conflict_id": conflict_id},
                ),
            )
        return self._conflict(conflict_id), event

    def list_conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        where, params = [], []
        if spec_id is not None:
            where.append("f.spec_id = ?")
            params.append(spec_id)
        if not include_resolved:
            where.append("NOT c.resolved")
        sql = _CONFLICT_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY c.id"
        return [_conflict(r) for r in self._read(sql, params)]

    # -- blockers --------------------------------------------------------------------
    def add_blocker(
        self,
        spec_id: str,
        role: str,
        blocker_type: str,
        description: str,
        blocking_role: str | None = None,
        task_id: str | None = None,
    ) -> tuple[Blocker, Event]:
        with self._write() as conn:
            feature_id, agent_id = self._agent_ids(conn, spec_id, role)
            blocking_id = (
                self._agent_ids(conn, spec_id, blocking_role)[1] if blocking_role else None
            )
            blocker_id = conn.execute(
                "INSERT INTO blockers (feature_id, agent_id, blocker_type, description, "
                "blocking_agent_id, task_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (feature_id, agent_id, blocker_type, description, blocking_id, task_id),
            ).fetchone()[0]
            conn.execute("UPDATE agents SET status = 'blocked' WHERE id = ?", (agent_id,))
            metadata: dict[str, Any] = {"blocker_id": blocker_id, "blocker_type": blocker_type}
            if blocking_role:
                metadata["blocked_by"] = blocking_role
            event = self._insert_event(
                conn,
                feature_id,
                agent_id,
                NewEvent(
                    spec_id,
                    role,
                    "task_blocked",
                    f"blocked ({blocker_type}): {description}",
                    task_id=task_id,
                    metadata=metadata,
                ),
            )
        return self._blocker(blocker_id), event

    def _blocker(self, blocker_id: int) -> Blocker:
        rows = self._read(f"{_BLOCKER_SQL} WHERE b.id = ?", (blocker_id,))
        if not rows:
            raise NotFoundError(
                f"no blocker with id {blocker_id}: list them with "
                "`claude-orchestrator events blockers`"
            )
        return Blocker(*rows[0])

    def resolve_blocker(self, blocker_id: int, notes: str) -> tuple[Blocker, Event]:
        with self._write() as conn:
            row = conn.execute(
                "SELECT b.status, f.spec_id, a.role, b.feature_id, b.agent_id, b.task_id "
                "FROM blockers b JOIN features f ON f.id = b.feature_id "
                "JOIN agents a ON a.id = b.agent_id WHERE b.id = ?",
                (blocker_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"no blocker with id {blocker_id}: list them with "
                    "`claude-orchestrator events blockers`"
                )
            if row[0] == "resolved":
                raise ValidationError(f"blocker {blocker_id} is already resolved")
            conn.execute(
                "UPDATE blockers SET status = 'resolved', resolution_notes = ?, "
                "resolved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                (notes, blocker_id),
            )
            conn.execute(
                "UPDATE agents SET status = 'active' WHERE id = ? AND status = 'blocked' AND "
                "NOT EXISTS (SELECT 1 FROM blockers WHERE agent_id = ? AND status = 'active')",
                (row[4], row[4]),
            )
            event = self._insert_event(
                conn,
                row[3],
                row[4],
                NewEvent(
                    row[1],
                    row[2],
                    "blocker_resolved",
                    f"blocker #{blocker_id} resolved: {notes}",
                    task_id=row[5] or None,
                    metadata={"blocker_id": blocker_id},
                ),
            )
        return self._blocker(blocker_id), event

    def list_blockers(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Blocker]:
        where, params = [], []
        if spec_id is not None:
            where.append("f.spec_id = ?")
            params.append(spec_id)
        if not include_resolved:
            where.append("b.status = 'active'")
        sql = _BLOCKER_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY b.id"
        return [Blocker(*r) for r in self._read(sql, params)]

    # -- test results ----------------------------------------------------------------
    def record_test(
        self,
        spec_id: str,
        role: str,
        test_type: str,
        status: str,
        *,
        commit_hash: str | None = None,
        total: int | None = None,
        passed: int | None = None,
        failed: int | None = None,
        skipped: int | None = None,
        duration_ms: int | None = None,
        logs_url: str | None = None,
    ) -> tuple[TestResult, Event]:
        with self._write() as conn:
            feature_id, agent_id = self._agent_ids(conn, spec_id, role)
            result_id = conn.execute(
                "INSERT INTO test_results (feature_id, agent_id, test_type, commit_hash, status, "
                "tests_total, tests_passed, tests_failed, tests_skipped, duration_ms, logs_url) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    feature_id,
                    agent_id,
                    test_type,
                    commit_hash,
                    status,
                    total,
                    passed,
                    failed,
                    skipped,
                    duration_ms,
                    logs_url,
                ),
            ).fetchone()[0]
            counts = ", ".join(
                f"{n} {label}"
                for n, label in ((passed, "passed"), (failed, "failed"), (skipped, "skipped"))
                if n is not None
            )
            event = self._insert_event(
                conn,
                feature_id,
                agent_id,
                NewEvent(
                    spec_id,
                    role,
                    "test_result",
                    f"{test_type} tests {status}" + (f" ({counts})" if counts else ""),
                    commit_hash=commit_hash,
                    metadata={
                        "test_result_id": result_id,
                        "test_type": test_type,
                        "status": status,
                    },
                ),
            )
        rows = self._read(f"{_TEST_SQL} WHERE t.id = ?", (result_id,))
        return TestResult(*rows[0]), event

    def list_test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        if spec_id is None:
            rows = self._read(f"{_TEST_SQL} ORDER BY t.id DESC LIMIT ?", (limit,))
        else:
            rows = self._read(
                f"{_TEST_SQL} WHERE f.spec_id = ? ORDER BY t.id DESC LIMIT ?", (spec_id, limit)
            )
        return [TestResult(*r) for r in rows]

    # -- pull requests ---------------------------------------------------------------
    def record_pull_request(
        self,
        spec_id: str,
        role: str,
        title: str,
        base_branch: str,
        head_branch: str,
        *,
        pr_number: int | None = None,
        status: str = "open",
        url: str | None = None,
    ) -> tuple[PullRequest, Event]:
        with self._write() as conn:
            feature_id, agent_id = self._agent_ids(conn, spec_id, role)
            pr_id = conn.execute(
                "INSERT INTO pull_requests (feature_id, agent_id, pr_number, title, status, "
                "base_branch, head_branch, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (feature_id, agent_id, pr_number, title, status, base_branch, head_branch, url),
            ).fetchone()[0]
            label = f"#{pr_number}" if pr_number is not None else f"(local {pr_id})"
            event = self._insert_event(
                conn,
                feature_id,
                agent_id,
                NewEvent(
                    spec_id,
                    role,
                    "pr_opened",
                    f"PR {label} opened: {head_branch} -> {base_branch}: {title}",
                    metadata={"pull_request_id": pr_id, "pr_number": pr_number, "url": url},
                ),
            )
        return self._pull_request(pr_id), event

    def _pull_request(self, pr_id: int) -> PullRequest:
        rows = self._read(f"{_PR_SQL} WHERE p.id = ?", (pr_id,))
        if not rows:
            raise NotFoundError(f"no pull request with id {pr_id}")
        return PullRequest(*rows[0])

    def set_pull_request_status(self, pr_id: int, status: str) -> tuple[PullRequest, Event]:
        with self._write() as conn:
            row = conn.execute(
                "SELECT f.spec_id, a.role, p.feature_id, p.agent_id, p.pr_number "
                "FROM pull_requests p JOIN features f ON f.id = p.feature_id "
                "JOIN agents a ON a.id = p.agent_id WHERE p.id = ?",
                (pr_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no pull request with id {pr_id}")
            conn.execute(
                "UPDATE pull_requests SET status = ?, merged_at = CASE WHEN ? = 'merged' "
                "THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') ELSE merged_at END WHERE id = ?",
                (status, status, pr_id),
            )
            event_type = "pr_merged" if status == "merged" else "status_update"
            event = self._insert_event(
                conn,
                row[2],
                row[3],
                NewEvent(
                    row[0],
                    row[1],
                    event_type,
                    f"PR {row[4] or pr_id} is {status}",
                    metadata={"pull_request_id": pr_id, "status": status},
                ),
            )
        return self._pull_request(pr_id), event

    def list_pull_requests(self, spec_id: str | None = None) -> list[PullRequest]:
        if spec_id is None:
            return [PullRequest(*r) for r in self._read(f"{_PR_SQL} ORDER BY p.id")]
        rows = self._read(f"{_PR_SQL} WHERE f.spec_id = ? ORDER BY p.id", (spec_id,))
        return [PullRequest(*r) for r in rows]

    # -- sync-status -----------------------------------------------------------------
    def sync_cursor(self, branch: str) -> str | None:
        rows = self._read("SELECT commit_hash FROM sync_cursors WHERE branch = ?", (branch,))
        return str(rows[0][0]) if rows else None

    def known_patch_ids(self, spec_id: str, branch: str, patch_ids: Sequence[str]) -> set[str]:
        if not patch_ids:
            return set()
        known: set[str] = set()
        for start in range(0, len(patch_ids), 500):
            chunk = list(patch_ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self._read(
                "SELECT s.patch_id FROM synced_commits s JOIN features f ON f.id = s.feature_id "
                f"WHERE f.spec_id = ? AND s.branch = ? AND s.patch_id IN ({marks})",
                (spec_id, branch, *chunk),
            )
            known.update(str(r[0]) for r in rows)
        return known

    def synced_changes(
        self,
        spec_id: str,
        branch: str,
        *,
        patch_ids: Sequence[str] = (),
        commits: Sequence[str] = (),
    ) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for column, values in (("patch_id", list(patch_ids)), ("commit_hash", list(commits))):
            for start in range(0, len(values), 500):
                chunk = values[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                found += [(str(r[0]), str(r[1])) for r in self._read(
                    "SELECT s.patch_id, s.commit_hash FROM synced_commits s JOIN features f "
                    f"ON f.id = s.feature_id WHERE f.spec_id = ? AND s.branch = ? AND s.{column} "
                    f"IN ({marks}) ORDER BY s.patch_id", (spec_id, branch, *chunk))]  # fmt: skip
        return sorted(set(found))

    def record_sync(
        self, spec_id: str, role: str, branch: str, head: str, commits: Sequence[SyncCommit]
    ) -> list[Event]:
        """Log the commits' task events and move the branch's cursor, in one transaction.

        What a commit says now counts, once: for a change (patch id) seen before -- a
        rebased or amended commit -- only the actions its message has now and did not
        have then are considered; and an action is logged only when it changes the
        state this branch gives the task (a squash that repeats ``T001 done`` logs
        nothing). Every action considered is remembered for the change, logged or not.
        A commit that rewrote synced changes (``SyncCommit.rewrites``) takes over what
        they said and its message still says; the rest is retracted (:meth:`_rewrite`).
        """
        events: list[Event] = []
        with self._write() as conn:
            feature_id, agent_id = self._agent_ids(conn, spec_id, role)
            where = _Synced(feature_id, agent_id, spec_id, role, branch)
            for commit in commits:
                if commit.rewrites:
                    events += self._rewrite(conn, where, commit)
                said = {
                    (str(r[0]), str(r[1]))
                    for r in conn.execute(
                        "SELECT task_id, action FROM synced_actions WHERE feature_id = ? "
                        "AND branch = ? AND patch_id = ?",
                        (feature_id, branch, commit.patch_id),
                    )
                }
                conn.execute(
                    "INSERT OR IGNORE INTO synced_commits (feature_id, branch, patch_id, "
                    "commit_hash) VALUES (?, ?, ?, ?)",
                    (feature_id, branch, commit.patch_id, commit.commit),
                )
                for task_id, action, reason in commit.actions:
                    if (task_id, action) in said:
                        continue
                    said.add((task_id, action))
                    event = self._sync_action(conn, where, commit, (task_id, action, reason))
                    if event is not None:
                        events.append(event)
                    conn.execute(
                        "INSERT INTO synced_actions (feature_id, branch, patch_id, task_id, "
                        "action, event_id) VALUES (?, ?, ?, ?, ?, ?)",
                        (feature_id, branch, commit.patch_id, task_id, action,
                         event.id if event is not None else None),
                    )  # fmt: skip
            conn.execute(
                "INSERT INTO sync_cursors (branch, feature_id, commit_hash) VALUES (?, ?, ?) "
                "ON CONFLICT (branch) DO UPDATE SET commit_hash = excluded.commit_hash, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                (branch, feature_id, head),
            )
        return events

    def _rewrite(
        self,
        conn: sqlite3.Connection,
        where: _Synced,
        commit: SyncCommit,
    ) -> list[Event]:
        """A commit rewrote synced changes of this branch: what they said that its message
        still says becomes this change's (with the event that stands for it); what it no
        longer says (a start counts as said while the message names the task) is
        retracted -- a ``task_reopened`` whose metadata ``retracts`` names
        the event, which the state derivation then leaves out (:func:`.tasks.source_state`).
        Only this branch's events are touched: other branches' completions still count."""
        feature_id, agent_id, spec_id, role, branch = where
        marks = ", ".join("?" * len(commit.rewrites))
        rows = conn.execute(
            "SELECT sa.patch_id, sa.task_id, sa.action, sa.event_id, sc.commit_hash "
            "FROM synced_actions sa LEFT JOIN synced_commits sc ON sc.feature_id = "
            "sa.feature_id AND sc.branch = sa.branch AND sc.patch_id = sa.patch_id "
            f"WHERE sa.feature_id = ? AND sa.branch = ? AND sa.patch_id IN ({marks}) "
            "ORDER BY sa.event_id IS NULL, sa.event_id",
            (feature_id, branch, *commit.rewrites),
        ).fetchall()
        now = {(task_id, action) for task_id, action, _ in commit.actions}
        # a start is still said by any other action the message has for the task
        now |= {(task_id, "started") for task_id, _ in now}
        key = "feature_id = ? AND branch = ? AND patch_id = ? AND task_id = ? AND action = ?"
        events: list[Event] = []
        for patch_id, task_id, action, event_id, old_commit in rows:
            conn.execute(f"DELETE FROM synced_actions WHERE {key}",
                         (feature_id, branch, patch_id, task_id, action))  # fmt: skip
            if (task_id, action) in now:  # still said: this change's now, event and all
                conn.execute(
                    "INSERT INTO synced_actions (feature_id, branch, patch_id, task_id, action, "
                    "event_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                    "event_id = coalesce(synced_actions.event_id, excluded.event_id)",
                    (feature_id, branch, commit.patch_id, task_id, action, event_id),
                )
                continue
            if event_id is None:
                continue
            metadata = {"branch": branch, "source": "sync-status", "retracts": int(event_id),
                        "retracted": f"task_{action}", "rewrite": commit.how or "rewrite",
                        "old_commit": old_commit, "new_commit": commit.commit}  # fmt: skip
            events.append(self._insert_event(conn, feature_id, agent_id, NewEvent(
                spec_id, role, "task_reopened",
                f"{task_id} {action} retracted: {str(old_commit)[:12]} was rewritten as "
                f"{commit.commit[:12]}, whose message no longer says it",
                task_id, commit.commit, metadata,
            )))  # fmt: skip
            events += self._still_said(conn, where, task_id)
        conn.execute(
            "UPDATE synced_commits SET commit_hash = ? WHERE feature_id = ? AND branch = ? "
            "AND patch_id = ?",
            (commit.commit, feature_id, branch, commit.patch_id),
        )
        return events

    def _still_said(
        self,
        conn: sqlite3.Connection,
        where: _Synced,
        task_id: str,
    ) -> list[Event]:
        """After a retraction: log what other synced commits of the branch say about the
        task and was not logged because the retracted event had said it already."""
        feature_id, branch = where.feature_id, where.branch
        rows = conn.execute(
            "SELECT sa.patch_id, sa.action, sc.commit_hash FROM synced_actions sa "
            "JOIN synced_commits sc ON sc.feature_id = sa.feature_id AND sc.branch = sa.branch "
            "AND sc.patch_id = sa.patch_id WHERE sa.feature_id = ? AND sa.branch = ? "
            "AND sa.task_id = ? AND sa.event_id IS NULL ORDER BY sa.rowid",
            (feature_id, branch, task_id),
        ).fetchall()
        events = []
        for patch_id, action, commit_hash in rows:
            subject = f"{task_id} {action}: still said by {str(commit_hash)[:12]} after a rewrite"
            still = SyncCommit(str(commit_hash), str(patch_id), subject, [])
            event = self._sync_action(conn, where, still, (task_id, str(action), None))
            if event is not None:
                events.append(event)
                conn.execute(
                    "UPDATE synced_actions SET event_id = ? WHERE feature_id = ? AND branch = ? "
                    "AND patch_id = ? AND task_id = ? AND action = ?",
                    (event.id, feature_id, branch, patch_id, task_id, action),
                )
        return events

    def _sync_action(
        self,
        conn: sqlite3.Connection,
        where: _Synced,
        commit: SyncCommit,
        action: tuple[str, str, str | None],
    ) -> Event | None:
        """Log one action of a synced commit if it changes the branch's state of the task."""
        feature_id, agent_id, spec_id, role, branch = where
        task_id, kind, reason = action
        event_type = f"task_{kind}"
        mine = self._task_events(conn, feature_id, task_id, agent_id)
        if not changes_state(mine, TaskEvent(_NEXT_ID, agent_id, event_type)):
            return None
        metadata: dict[str, Any] = {"branch": branch, "source": "sync-status"}
        if reason:
            metadata["reason"] = reason
        event = self._insert_event(
            conn, feature_id, agent_id,
            NewEvent(spec_id, role, event_type, commit.subject, task_id, commit.commit, metadata),
        )  # fmt: skip
        if kind == "blocked":
            conn.execute(
                "INSERT INTO blockers (feature_id, agent_id, blocker_type, description, "
                "task_id) VALUES (?, ?, 'dependency', ?, ?)",
                (feature_id, agent_id, reason or commit.subject, task_id),
            )
            conn.execute("UPDATE agents SET status = 'blocked' WHERE id = ?", (agent_id,))
        return event

    # -- conflict scans --------------------------------------------------------------
    def record_scan(
        self,
        spec_id: str,
        scanned: Sequence[tuple[str, str]],
        found: Sequence[FoundConflict],
    ) -> tuple[list[Conflict], list[Conflict], list[Event]]:
        """Reconcile a scan with the open scan conflicts of a feature, in one transaction.

        A conflict is its pair of branches and its set of files: an unchanged one is kept
        as it is; a changed file set resolves the old record and opens a new one; a pair
        that was scanned and is clean now has its open conflict resolved.

        :return: (opened, resolved, events)
        """
        opened_ids: list[int] = []
        resolved_ids: list[int] = []
        events: list[Event] = []
        scanned_keys = {tuple(sorted(pair)) for pair in scanned}
        with self._write() as conn:
            feature_id = self._feature_id(conn, spec_id)
            open_rows = conn.execute(
                "SELECT c.id, c.branch, c.other_branch, c.fingerprint, c.agent_id, a.role "
                "FROM conflicts c JOIN agents a ON a.id = c.agent_id "
                "WHERE c.feature_id = ? AND NOT c.resolved AND c.branch IS NOT NULL",
                (feature_id,),
            ).fetchall()
            existing = {tuple(sorted((r[1], r[2]))): r for r in open_rows}
            now_found = {tuple(sorted((f.branch, f.other_branch))): f for f in found}
            for key, row in existing.items():
                current = now_found.get(key)
                if key not in scanned_keys:
                    continue  # not looked at this time: leave it alone
                if current is not None and _fingerprint(current.files) == row[3]:
                    continue  # unchanged: not logged again
                note = "no longer conflicts" if current is None else "file set changed"
                self._close_conflict(conn, row[0], f"resolved automatically: {note}")
                resolved_ids.append(row[0])
                events.append(self._insert_event(
                    conn, feature_id, row[4],
                    NewEvent(spec_id, row[5], "conflict_resolved",
                             f"conflict #{row[0]} with {row[2]} {note}",
                             metadata={"conflict_id": row[0], "branch": row[1],
                                       "other_branch": row[2], "automatic": True}),
                ))  # fmt: skip
            for key, item in now_found.items():
                row = existing.get(key)
                if row is not None and _fingerprint(item.files) == row[3]:
                    continue
                _, agent_id = self._agent_ids(conn, spec_id, item.role)
                other_id = (self._agent_ids(conn, spec_id, item.other_role)[1]
                            if item.other_role else None)  # fmt: skip
                conflict_id = conn.execute(
                    "INSERT INTO conflicts (feature_id, agent_id, conflicting_files, severity, "
                    "branch, other_branch, other_agent_id, fingerprint) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (feature_id, agent_id, json.dumps(item.files), item.severity, item.branch,
                     item.other_branch, other_id, _fingerprint(item.files)),
                ).fetchone()[0]  # fmt: skip
                opened_ids.append(conflict_id)
                listing = ", ".join(item.files) or "(a directory-rename conflict)"
                events.append(self._insert_event(
                    conn, feature_id, agent_id,
                    NewEvent(spec_id, item.role, "conflict_detected",
                             f"{item.severity} conflict #{conflict_id} with "
                             f"{item.other_branch}: {listing}",
                             metadata={"conflict_id": conflict_id, "files": item.files,
                                       "severity": item.severity, "branch": item.branch,
                                       "other_branch": item.other_branch}),
                ))  # fmt: skip
        opened = [self._conflict(i) for i in opened_ids]
        resolved = [self._conflict(i) for i in resolved_ids]
        return opened, resolved, events

    def _close_conflict(self, conn: sqlite3.Connection, conflict_id: int, notes: str) -> None:
        conn.execute(
            "UPDATE conflicts SET resolved = TRUE, resolution_notes = ?, "
            "resolved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
            (notes, conflict_id),
        )

    def merge_pull_request(self, pr_id: int) -> tuple[PullRequest, list[Event]]:
        """Mark a PR merged, log ``pr_merged``, and ``task_merged`` for every task its
        author had completed, in one transaction."""
        events: list[Event] = []
        with self._write() as conn:
            row = conn.execute(
                "SELECT f.spec_id, a.role, p.feature_id, p.agent_id, p.pr_number, p.status, "
                "p.head_branch, p.base_branch FROM pull_requests p "
                "JOIN features f ON f.id = p.feature_id JOIN agents a ON a.id = p.agent_id "
                "WHERE p.id = ?",
                (pr_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    f"no pull request #{pr_id}: list them with `claude-orchestrator events "
                    "status` or `claude-orchestrator prs`"
                )
            spec_id, role, feature_id, agent_id, number, status, head, base = row
            if status in ("merged", "closed"):
                raise ValidationError(f"pull request #{pr_id} is already {status}")
            conn.execute(
                "UPDATE pull_requests SET status = 'merged', "
                "merged_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                (pr_id,),
            )
            label = number if number is not None else pr_id
            events.append(self._insert_event(
                conn, feature_id, agent_id,
                NewEvent(spec_id, role, "pr_merged", f"PR #{label} merged: {head} -> {base}",
                         metadata={"pull_request_id": pr_id, "pr_number": number}),
            ))  # fmt: skip
            for task_id, commit in self._completed_by(conn, feature_id, agent_id):
                events.append(self._insert_event(
                    conn, feature_id, agent_id,
                    NewEvent(spec_id, role, "task_merged", f"{task_id} merged in PR #{label}",
                             task_id, commit, {"pull_request_id": pr_id}),
                ))  # fmt: skip
        return self._pull_request(pr_id), events

    def _completed_by(
        self, conn: sqlite3.Connection, feature_id: int, agent_id: int
    ) -> list[tuple[str, str | None]]:
        """(task id, commit) of the tasks that this agent's own events leave completed."""
        rows = conn.execute(
            "SELECT DISTINCT task_id FROM task_events WHERE feature_id = ? AND agent_id = ? "
            f"AND task_id IS NOT NULL AND task_id <> '' AND event_type IN ({_STATE_MARKS}) "
            "ORDER BY task_id",
            (feature_id, agent_id, *STATE_EVENTS),
        ).fetchall()
        done = []
        for (task_id,) in rows:
            state = source_state(self._task_events(conn, feature_id, task_id, agent_id))
            if state is not None and state.status == "completed":
                done.append((str(task_id), state.event.commit_hash))
        return done

    def get_pull_request(self, pr_id: int) -> PullRequest | None:
        rows = self._read(f"{_PR_SQL} WHERE p.id = ?", (pr_id,))
        return PullRequest(*rows[0]) if rows else None


def _fingerprint(files: Sequence[str]) -> str:
    return json.dumps(sorted(set(files)))
