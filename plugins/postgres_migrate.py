"""``events migrate --to DSN``: copy a SQLite event store into a PostgreSQL store's project,
so a user who started alone keeps their history when the team grows.

Everything is copied with its ids and timestamps (:mod:`.postgres_migrate_tables` lists
it): the records, the sync tables, the delivery cursors, the notification queue (its
messages, queued, sent or dead, and the pipeline's values) and token usage (the replies'
records and the transcript cursors); the summaries are derived
again by the store's own rules (``agent_activity`` by the events' insert trigger,
``task_state`` with the domain's rule). The source is read-only
(:mod:`.postgres_migrate_source`).

**One transaction.** The whole copy -- the schema created or migrated if needed, the
project registered, the rows, the checks -- is one PostgreSQL transaction that holds the
project's write lock: a copy that fails, is interrupted or killed (``kill -9``: the
server rolls back what a lost connection left open) leaves nothing, and running it again
starts over from what the last committed copy left. The append-only trigger stays on
(a copy only inserts events); ids are kept by the id trigger's rule for a given id
above the project's largest (schema version 2).

**Idempotent, resumable, refusing another history.** The project's rows are compared
with the source's: rows that are there already and equal are left (their mutable
columns, such as a conflict's resolution, brought up to date), rows after them are
copied. A project whose rows are not the source's -- another repository's, or written to
after an earlier copy -- is refused, naming the first difference, and nothing is written.

**Verified** before it commits: row counts per table, the summaries, and a checksum of
the events on both sides must match, or the transaction is rolled back. The checksum
(:mod:`.postgres_migrate_report`) is the sha256 of one line per event, in id order: the
JSON array
``[id, spec_id, role, event_type, task_id, commit_hash, message, metadata, created_at]``
(metadata parsed, keys sorted, no spaces, UTF-8).
"""

# SQL here is composed from module constants only; every value is a bound parameter.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_orchestrator.domain_tasks import STATE_EVENTS
from claude_orchestrator.errors import StoreError, ValidationError

from . import postgres_dsn as dsn
from . import postgres_migrate_tables as tables
from . import postgres_rows as pr
from . import postgres_schema as schema
from .postgres_identity import Repository
from .postgres_migrate_report import Migrated, checksum, next_step
from .postgres_migrate_source import STATUS_COLUMNS, SQLiteSource

if TYPE_CHECKING:
    import psycopg  # type: ignore[import-not-found, unused-ignore]

    from .postgres_port import PostgresPort

#: rows per COPY statement (each is one statement, well within the statement timeout)
BATCH = 5000
_CURSOR_ROWS = 2000
_TARGET_EVENTS_SQL = (
    "SELECT te.id, f.spec_id, a.role, te.event_type, te.task_id, te.commit_hash, te.message, "
    "te.metadata::text, co_ts(te.created_at) FROM task_events te "
    "JOIN features f ON f.project_id = te.project_id AND f.id = te.feature_id "
    "JOIN agents a ON a.project_id = te.project_id AND a.id = te.agent_id "
    "WHERE te.project_id = %s ORDER BY te.id"
)
_TARGET_STATUS_SQL = f"SELECT {STATUS_COLUMNS} FROM v_feature_status WHERE project_id = %s"
_TARGET_TASKS_SQL = (
    "SELECT f.spec_id, ts.task_id, ts.status, a.role, ts.commit_hash, co_ts(ts.updated_at), "
    "ts.reopened FROM task_state ts "
    "JOIN features f ON f.project_id = ts.project_id AND f.id = ts.feature_id "
    "JOIN agents a ON a.project_id = ts.project_id AND a.id = ts.agent_id "
    "WHERE ts.project_id = %s"
)


# ------------------------------------------------------------------------- arguments
def check_target(to: str) -> str:
    """``--to``: a libpq connection string (ValidationError for another, never echoing a
    password)."""
    if not to.strip():
        raise ValidationError(
            "--to is empty: give the PostgreSQL database to copy into, e.g. "
            "--to postgresql://agent@db.example.com/orchestrator or --to service=NAME"
        )
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", to.strip())
    if scheme is not None and scheme.group(1).lower() not in ("postgres", "postgresql"):
        raise ValidationError(
            f"--to is a {scheme.group(1)}:// URL, not a PostgreSQL connection string: give "
            "postgresql://user@host/dbname or key=value pairs (host=... dbname=...)"
        )
    conninfo = dsn.import_psycopg().conninfo
    try:
        conninfo.conninfo_to_dict(to)
    except Exception:  # psycopg.ProgrammingError: what libpq cannot parse
        raise ValidationError(
            "--to is not a PostgreSQL connection string libpq can read: give "
            "postgresql://user@host/dbname or key=value pairs (host=... dbname=...); "
            "the password belongs in ~/.pgpass or PGPASSFILE"
        ) from None
    return to


def check_project(name: str) -> str:
    """``--project``: a name as the config's ``project`` takes it."""
    from claude_orchestrator.config_schema import SCHEMA

    rule = SCHEMA["properties"]["project"]
    if len(name) > rule["maxLength"] or not re.match(rule["pattern"], name):
        raise ValidationError(
            f"--project {name[:60]!r} is not a project name: {rule['description']}"
        )
    return name


# ---------------------------------------------------------------------------- the copy
def migrate(
    source: Path,
    to: str,
    repository: Repository | None = None,
    *,
    project: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Migrated:
    """Copy the SQLite store ``source`` into the PostgreSQL database ``to`` (see the
    module docstring), as the project ``project`` (default: the repository's, as the
    ``postgres`` store names it: the configured name, else its first commit)."""
    from .postgres_identity import identity
    from .postgres_port import PostgresPort

    repository = repository or Repository()
    check_target(to)
    named = None if project is None else check_project(project)
    with SQLiteSource(source) as src:
        resolved = named or identity(repository.project, repository.common_dir, cache=False)
        options = repository.options
        timeouts = {k: float(options[k]) for k in ("statement_timeout", "lock_timeout")
                    if k in options}  # fmt: skip
        settings = dsn.Settings(to, "--to", int(options.get("connect_timeout", 2)), **timeouts)
        port = PostgresPort(settings, resolved)
        try:
            with _transaction(port) as (conn, project_id):
                copy = _Copy(conn, project_id, src, port.location, resolved, progress)
                done = copy.run()
        finally:
            port.close()
    return done._replace(next=next_step(repository, port.location, named))


@contextlib.contextmanager
def _transaction(port: PostgresPort) -> Iterator[tuple[psycopg.Connection[Any], int]]:
    """One transaction on ``port``'s database: the schema created or migrated (as
    ``initialize`` does), the project registered, its write lock held."""
    with port._lock, port._errors():
        conn = port._connect()
        found = port._version(conn)
        if found is not None:
            port._refuse_newer(found[0], found[1])
        with conn.transaction():
            if found is None or found[0] < port.schema_version:
                with port._schema_errors():
                    port._migrate(conn, register=False)
            conn.execute(
                "INSERT INTO projects (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                (port.project,),
            )
            rows = conn.execute("SELECT id FROM projects WHERE name = %s", (port.project,))
            project_id = int(rows.fetchall()[0][0])
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (schema.LOCK_CLASS, project_id))
            yield conn, project_id


def _batches(rows: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Copy:
    """One run of the copy inside :func:`_transaction`."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        project_id: int,
        src: SQLiteSource,
        target: str,
        project: str,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.conn, self.project_id, self.src = conn, project_id, src
        self.target, self.project = target, project
        self._progress = progress
        self.copied: dict[str, int] = {}
        self.present: dict[str, int] = {}
        self.updated: dict[str, int] = {}
        self._tasks: set[tuple[int, str]] = set()

    def _say(self, text: str) -> None:
        if self._progress is not None:
            self._progress(text)

    def _diverged(self, what: str) -> StoreError:
        return StoreError(
            f"the project {self.project} of {self.target} holds another history than "
            f"{self.src.location}: {what}; nothing was copied. It is another repository's, "
            "or it was written to after an earlier copy: copy into another project "
            "(--project NAME) or another database"
        )

    def _target_rows(self, sql: str) -> Generator[tuple[Any, ...]]:
        """The project's rows of a query (its only parameter: the project), streamed."""
        with self.conn.cursor(name="co_migrate") as cursor:
            cursor.itersize = _CURSOR_ROWS
            cursor.execute(sql, (self.project_id,))
            yield from cursor

    def run(self) -> Migrated:
        for table in tables.NUMBERED:
            self._numbered(table)
        for keyed in tables.KEYED:
            self._keyed(keyed)
        self._actions()
        for feature, task in sorted(self._tasks):
            pr.refresh_task_state(self.conn, self.project_id, feature, task)
        counts, digest, events = self._verify()
        return Migrated(
            self.src.location, self.target, self.project, counts, self.copied, self.present,
            self.updated, events, digest, True,
            not any(self.copied.values()) and not any(self.updated.values()), "",
        )  # fmt: skip

    # -- the numbered tables ---------------------------------------------------------------
    def _numbered(self, table: tables.Numbered) -> None:
        with contextlib.closing(self.src.rows(table)) as source:
            self._numbered_from(table, source)

    def _numbered_from(self, table: tables.Numbered, source: Iterator[tuple[Any, ...]]) -> None:
        updates: list[tuple[Any, ...]] = []
        present = 0
        with contextlib.closing(self._target_rows(table.target_sql())) as rows:
            for there in rows:
                self._same_record(table, next(source, None), there, updates)
                present += 1
        if updates:
            with self.conn.cursor() as cursor:
                cursor.executemany(table.update_sql(), updates)
        self.present[table.table], self.updated[table.table] = present, len(updates)
        self.copied[table.table] = self._copy(table, source)

    def _same_record(
        self,
        table: tables.Numbered,
        here: tuple[Any, ...] | None,
        there: tuple[Any, ...],
        updates: list[tuple[Any, ...]],
    ) -> None:
        """Check that the project's record ``there`` is the source's ``here`` (the next in
        id order), noting its mutable columns in ``updates`` when they changed."""
        if here is None or here[0] > there[0]:
            raise self._diverged(f"it has {table.noun} {there[0]}, which the source lacks")
        if here[0] < there[0]:
            raise self._diverged(f"it lacks {table.noun} {here[0]}, which the source has")
        for column, mine, theirs in zip(table.columns, here, there, strict=True):
            if mine != theirs and not column.mutable:
                raise self._diverged(
                    f"{table.noun} {here[0]} differs: its {column.name} is "
                    f"{_shown(theirs)} there, {_shown(mine)} here"
                )
        mutable = table.mutable()
        if any(here[i] != there[i] for i in mutable):
            updates.append((*(here[i] for i in mutable), self.project_id, here[0]))

    def _copy(self, table: tables.Numbered, rows: Iterator[tuple[Any, ...]]) -> int:
        copied = 0
        for batch in _batches(rows, BATCH):
            with self.conn.cursor() as cursor, cursor.copy(table.copy_sql()) as copy:
                for row in batch:
                    copy.write_row((self.project_id, *row))
            if table is tables.EVENTS:  # the tasks whose state the new events decide
                self._tasks.update((r[1], r[4]) for r in batch if r[4] and r[3] in STATE_EVENTS)
            copied += len(batch)
            self._say(f"{table.table}: {copied} copied")
        return copied

    # -- the keyed tables and the synced actions --------------------------------------------
    def _keyed(self, table: tables.Keyed) -> None:
        source = self.src.keyed(table)
        there = {row[: table.key]: row for row in self._target_rows(table.target_sql())}
        extra = sorted(there.keys() - source.keys(), key=repr)
        if extra:
            key = _shown(extra[0])
            raise self._diverged(f"it has a {table.noun} {key}, which the source lacks")
        new = [row for key, row in source.items() if key not in there]
        changed = [row for key, row in source.items() if key in there and there[key] != row]
        if new or changed:
            with self.conn.cursor() as cursor:
                cursor.executemany(
                    table.upsert_sql(), [(self.project_id, *row) for row in new + changed]
                )
        self.copied[table.table], self.updated[table.table] = len(new), len(changed)
        self.present[table.table] = len(there)

    def _actions(self) -> None:
        """The synced actions in the source's order: what the project has of it in the
        same order stays; from the first difference on, the project's are replaced."""
        source = self.src.actions()
        there = list(self._target_rows(tables.ACTIONS_TARGET_SQL))
        same = 0
        while same < min(len(source), len(there)) and source[same] == there[same]:
            same += 1
        with self.conn.cursor() as cursor:
            if there[same:]:
                cursor.executemany(
                    tables.ACTIONS_DELETE_SQL, [(self.project_id, *r[:5]) for r in there[same:]]
                )
            if source[same:]:
                cursor.executemany(
                    tables.ACTIONS_INSERT_SQL, [(self.project_id, *r) for r in source[same:]]
                )
        self.present["synced_actions"], self.updated["synced_actions"] = same, len(there) - same
        self.copied["synced_actions"] = len(source) - same

    # -- verification -----------------------------------------------------------------------
    def _verify(self) -> tuple[dict[str, int], str, int]:
        """(row counts, events' checksum, how many events), the same on both sides, or
        StoreError (the transaction is rolled back)."""
        counts = {}
        for table in tables.COUNTED:
            mine = self.src.count(table)
            theirs = int(self.conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE project_id = %s", (self.project_id,)
            ).fetchall()[0][0])  # fmt: skip
            if mine != theirs:
                raise self._unverified(f"{table} has {mine} rows here and {theirs} there")
            counts[table] = mine
        digest, events = checksum(self.src.events())
        copied, _ = checksum(self._target_rows(_TARGET_EVENTS_SQL))
        if copied != digest:
            raise self._unverified(f"the events' checksum is {digest} here and {copied} there")
        for what, mine_rows, sql in (
            ("status", self.src.status(), _TARGET_STATUS_SQL),
            ("task states", self.src.task_states(), _TARGET_TASKS_SQL),
        ):
            theirs_rows = [tuple(r) for r in self.conn.execute(sql, (self.project_id,))]
            if sorted(mine_rows, key=repr) != sorted(theirs_rows, key=repr):
                raise self._unverified(f"the {what} it derives differ from the source's")
        return counts, digest, events

    def _unverified(self, what: str) -> StoreError:
        return StoreError(
            f"the copy of {self.src.location} into {self.target} (project {self.project}) "
            f"did not verify: {what}; it was rolled back, nothing was written"
        )
