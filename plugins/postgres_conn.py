"""The PostgreSQL store's connection: connecting, its errors, transactions, and the
schema (created, checked and migrated once per store object).

One connection per store object, in autocommit mode: a read is one statement, a write
transaction is ``BEGIN``, ``pg_advisory_xact_lock`` on the project (so one transaction
of a project runs at a time, in every process and thread: the port's promise), the
writes, ``COMMIT``. The schema's migrations run in one transaction under the schema's
own advisory lock, so two agents initializing or upgrading at once do not collide; the
agents' least-privilege role never needs to change the schema once it is current.

A server that cannot be reached raises
:class:`~claude_orchestrator.errors.StoreUnavailableError` within the connect timeout
(the hook path may spool what it wanted to write); every other failure is a one-line
:class:`~claude_orchestrator.errors.StoreError`.
"""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from claude_orchestrator.errors import NotInitializedError, StoreError, StoreUnavailableError
from claude_orchestrator.models import StoreInfo

from . import postgres_schema as schema
from . import postgres_views as views
from .postgres_dsn import Settings, import_psycopg

if TYPE_CHECKING:
    import psycopg  # type: ignore[import-not-found, unused-ignore]

#: what libpq says when the server, or the connection string, says no: final (a wrong
#: password, no such database, a TLS setting the server does not meet) ...
_REFUSALS = ("FATAL:", "SSL", "GSSAPI", "certificate")
#: ... unless the server is only busy (too many connections, starting up or shutting
#: down): then it is away for now. (A connection failure has no sqlstate: the text it is.)
_BUSY = ("too many clients", "starting up", "shutting down", "in recovery mode",
         "not yet accepting connections", "remaining connection slots")  # fmt: skip
_APPLICATION = "claude-orchestrator"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PostgresConnection:
    """One PostgreSQL database, one project in it: connect, translate errors, run
    transactions, keep the schema."""

    #: version -> the statements that bring the schema to it (a later release adds one)
    migrations: ClassVar[Mapping[int, str]] = schema.MIGRATIONS

    @property
    def schema_version(self) -> int:
        """The version this release writes: its last migration's."""
        return max(self.migrations)

    def __init__(self, settings: Settings, project: str | Callable[[], str]) -> None:
        self.settings = settings
        self.location = settings.location
        self._driver: Any = None
        self._project = project
        self._conn: psycopg.Connection[Any] | None = None
        self._closer: weakref.finalize[Any, Any] | None = None
        self._project_id: int | None = None
        # one connection per store object; the lock makes it safe to share between threads
        self._lock = threading.RLock()

    @property
    def _psycopg(self) -> Any:
        """psycopg, imported on first use (a port is built by every command of a repository
        that chooses this store, ``events path`` and ``--print-grants`` too, which need
        no connection); PluginError naming the extra when it is not installed."""
        if self._driver is None:
            self._driver = import_psycopg()
        return self._driver

    # -- identity ----------------------------------------------------------------------
    @property
    def project(self) -> str:
        """This store's project (resolved on first use: it may run git once)."""
        if callable(self._project):
            self._project = self._project()
        return self._project

    # -- connection and errors -----------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._project_id = None  # a new connection checks the schema again
        pg = self._psycopg
        params = self._parameters()
        try:
            conn: psycopg.Connection[Any] = pg.connect(
                self.settings.conninfo(), autocommit=True, **params
            )
        except pg.Error as exc:
            raise self._connect_error(exc) from None
        try:
            with self._errors(conn):
                conn.execute(
                    "SELECT set_config('statement_timeout', %s, false), "
                    "set_config('lock_timeout', %s, false)",
                    (_ms(self.settings.statement_timeout), _ms(self.settings.lock_timeout)),
                )
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        # A store left open (a CLI command exits without closing it) still says goodbye
        # to the server when it is collected or the process ends.
        self._closer = weakref.finalize(self, conn.close)
        return conn

    def _parameters(self) -> dict[str, Any]:
        """What is added to the connection string: a connect timeout and a name in
        ``pg_stat_activity``, each only where the string (or libpq's variable) has none."""
        conninfo = self._psycopg.conninfo
        try:
            given = conninfo.conninfo_to_dict(self.settings.conninfo())
        except self._psycopg.Error:
            raise StoreError(
                f"{self.settings.source} is not a connection string libpq can read: give "
                "a URL (postgresql://user@host:5432/dbname) or key=value pairs "
                "(host=... dbname=...)"
            ) from None
        params: dict[str, Any] = {}
        if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
            params["connect_timeout"] = self.settings.connect_timeout
        if "application_name" not in given and not os.environ.get("PGAPPNAME"):
            params["application_name"] = _APPLICATION
        return params

    def _connect_error(self, exc: Exception) -> StoreError:
        reason = " ".join(str(exc).split())
        if not _refused(reason):
            return StoreUnavailableError(
                f"cannot reach the PostgreSQL event store {self.location} ({reason}): start "
                f"the server or point {self.settings.source} at one that runs; waited at "
                f"most {max(self.settings.connect_timeout, 2)} s"
            )
        return StoreError(
            f"the PostgreSQL event store {self.location} refused the connection ({reason}): "
            f"fix the user, database, password or TLS settings in {self.settings.source}, "
            "~/.pgpass (PGPASSFILE) or the service file (PGSERVICEFILE)"
        )

    @contextlib.contextmanager
    def _errors(self, conn: psycopg.Connection[Any] | None = None) -> Iterator[None]:
        """Turn psycopg's exceptions into one-line StoreErrors."""
        try:
            yield
        except Exception as exc:
            driver = sys.modules.get("psycopg")  # no error of it before it is imported
            if driver is None or not isinstance(exc, driver.Error):
                raise
            raise self._store_error(exc, conn or self._conn) from None

    def _store_error(self, exc: Exception, conn: psycopg.Connection[Any] | None) -> StoreError:
        errors = self._psycopg.errors
        reason = _first_line(exc)
        if conn is not None and (conn.closed or conn.broken):
            self.close()
            return StoreUnavailableError(
                f"lost the connection to the PostgreSQL event store {self.location} "
                f"({reason}): the server stopped or the network failed; try again once it runs"
            )
        # Unavailable, not broken: the lock is another's, the slowness the server's, for
        # now (SQLite's busy store is the same). The hook path spools the write.
        if isinstance(exc, errors.LockNotAvailable):
            return StoreUnavailableError(
                f"the event store {self.location} stayed locked for "
                f"{self.settings.lock_timeout:g} s ({reason}): another process holds a long "
                "write lock; try again"
            )
        if isinstance(exc, errors.QueryCanceled):
            return StoreUnavailableError(
                f"the event store {self.location} did not answer within "
                f"{self.settings.statement_timeout:g} s ({reason}): the server is overloaded "
                "or a statement waits on a lock; try again, or raise "
                "plugins.options.postgres.statement_timeout"
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return StoreError(
                f"the database user may not do this in the event store {self.location} "
                f"({reason}): run the SQL of `claude-orchestrator events init --print-grants` "
                "as the tables' owner"
            )
        if isinstance(exc, errors.UndefinedTable | errors.UndefinedFunction):
            return StoreError(
                f"the event store {self.location} lacks part of its schema ({reason}): run "
                "`claude-orchestrator events init` as the tables' owner"
            )
        return StoreError(f"event store error in {self.location}: {reason}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """A write transaction of this project (serialised with the project's others)."""
        with self._lock, self._errors():
            conn = self._ready()
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", (schema.LOCK_CLASS, self._project_id)
                )
                yield conn

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock, self._errors():
            rows: list[Any] = self._ready().execute(sql, params).fetchall()
            return rows

    def _project_key(self) -> int:
        """This project's id in the database (after :meth:`_ready`)."""
        assert self._project_id is not None
        return self._project_id

    def close(self) -> None:
        with self._lock:
            if self._closer is not None:
                with contextlib.suppress(Exception):
                    self._closer()
                self._closer = None
            self._conn = None
            self._project_id = None

    # -- schema ----------------------------------------------------------------------------
    def _version(self, conn: psycopg.Connection[Any]) -> tuple[int, str, int | None] | None:
        """(schema version, release that wrote it, this project's id), None when the
        database has no event store."""
        row = conn.execute("SELECT to_regclass('schema_meta') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return None
        row = conn.execute(
            "SELECT (SELECT value FROM schema_meta WHERE key = 'version'), "
            "(SELECT value FROM schema_meta WHERE key = 'written_by'), "
            "(SELECT id FROM projects WHERE name = %s)",
            (self.project,),
        ).fetchone()
        assert row is not None
        version = int(row[0]) if row[0] is not None and str(row[0]).isdigit() else 0
        return version, str(row[1] or "an unknown version"), row[2]

    def _refuse_newer(self, version: int, written_by: str) -> None:
        if version > self.schema_version:
            from claude_orchestrator import __version__

            raise StoreError(
                f"the event store {self.location} has schema version {version}, written by "
                f"claude-orchestrator {written_by}; this claude-orchestrator ({__version__}) "
                f"reads versions up to {self.schema_version}: upgrade it "
                "(pip install -U claude-orchestrator-toolkit)"
            )

    def _ready(self) -> psycopg.Connection[Any]:
        """The connection, with the schema checked (and migrated) once per connection."""
        conn = self._connect()
        if self._project_id is not None:
            return conn
        found = self._version(conn)
        if found is None:
            raise NotInitializedError(
                f"Event store not initialized: {self.location} has no event store. "
                "Run: claude-orchestrator events init"
            )
        version, written_by, project_id = found
        self._refuse_newer(version, written_by)
        if version < self.schema_version:  # an older release's store: bring it forward
            self._migrate(conn, register=False)
            found = self._version(conn)
            project_id = found[2] if found is not None else None
        if project_id is None:
            raise NotInitializedError(
                f"Event store not initialized: {self.location} has no records of this "
                f"repository (project {self.project}). Run: claude-orchestrator events init"
            )
        self._project_id = int(project_id)
        return conn

    def _migrate(
        self,
        conn: psycopg.Connection[Any],
        *,
        register: bool = True,
    ) -> tuple[int | None, bool]:
        """Create or migrate the schema through :attr:`migrations` and register this
        project (``register``), in one transaction under the schema's advisory lock:
        (the version before, None for none; whether the project was added)."""
        from claude_orchestrator import __version__

        steps, target = self.migrations, self.schema_version
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (schema.LOCK_CLASS,))
            found = self._version(conn)  # now that we hold the lock
            old = None if found is None else found[0]
            if found is not None:
                self._refuse_newer(found[0], found[1])
            if old is None or old < target:
                for view in views.VIEW_NAMES:
                    conn.execute(f"DROP VIEW IF EXISTS {view}")
                for step in range((old or 0) + 1, target + 1):
                    conn.execute(steps[step])
                conn.execute(views.VIEWS)
                conn.execute(
                    "INSERT INTO schema_meta (key, value) VALUES ('version', %s), "
                    "('written_by', %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target), __version__),
                )
            if not register:
                return old, False
            row = conn.execute(
                "INSERT INTO projects (name) VALUES (%s) ON CONFLICT (name) DO NOTHING "
                "RETURNING id",
                (self.project,),
            ).fetchone()
        return old, row is not None

    def exists(self) -> bool:
        with self._lock, self._errors():
            if self._project_id is not None and self._conn is not None:
                return True  # checked on this connection already
            found = self._version(self._connect())
            if found is not None and found[0] == self.schema_version and found[2] is not None:
                self._project_id = int(found[2])  # what _ready checks: the next use need not
        return found is not None and found[2] is not None

    @contextlib.contextmanager
    def _schema_errors(self) -> Iterator[None]:
        """What goes wrong creating or upgrading the schema, said in one line."""
        try:
            yield
        except self._psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(
                f"cannot create or upgrade the event store in {self.location} "
                f"({_first_line(exc)}): the agents' role may not change the schema; "
                "run `claude-orchestrator events init` as the owner of its tables"
            ) from None
        except self._psycopg.errors.DuplicateTable as exc:
            raise StoreError(
                f"the database of {self.location} has tables that are not an event "
                f"store's ({_first_line(exc)}): give the store a database of its own"
            ) from None

    def initialize(self) -> StoreInfo:
        with self._lock, self._errors():
            conn = self._connect()
            with self._schema_errors():
                old, added = self._migrate(conn)
            self._project_id = None
            info = self._info()
        created = old is None or added
        migrated = None if created or old == self.schema_version else old
        return info._replace(created=created, migrated_from=migrated)

    def info(self) -> StoreInfo:
        with self._lock, self._errors():
            return self._info()

    def _info(self) -> StoreInfo:
        conn = self._ready()
        counted = [t for t, added in schema.COUNTED.items() if added <= self.schema_version]
        counts = ", ".join(
            f"(SELECT COUNT(*) FROM {table} WHERE project_id = %(p)s)" for table in counted
        )
        row = conn.execute(
            f"SELECT {counts}, (SELECT value FROM schema_meta WHERE key = 'version'), "
            "(SELECT value FROM schema_meta WHERE key = 'written_by')",
            {"p": self._project_id},
        ).fetchone()
        assert row is not None
        tables = dict(zip(counted, (int(n) for n in row[: len(counted)]), strict=True))
        return StoreInfo(self.location, int(row[-2]), written_by=str(row[-1]), counts=tables)


def _refused(reason: str) -> bool:
    """Whether a connection failure is final (see :data:`_REFUSALS`)."""
    return any(word in reason for word in _REFUSALS) and not any(word in reason for word in _BUSY)


def _ms(seconds: float) -> str:
    """A timeout for ``set_config`` (milliseconds; 0 means none)."""
    return str(max(int(seconds * 1000), 0))
