"""The built-in ``postgres`` event store: one PostgreSQL database shared by a team.

``plugins.store: postgres`` chooses it; the connection string comes from the
environment (``CLAUDE_ORCHESTRATOR_DB_URL``, or the variable
``plugins.options.postgres.dsn_env`` names), never from the committed config. Several
repositories share one database: every row belongs to a project, the configured
``project`` name or the repository's root commit. Options (``plugins.options.postgres``):
``dsn_env``, ``connect_timeout`` (seconds, default 2, libpq's minimum),
``statement_timeout`` (default 60) and ``lock_timeout`` (how long a write waits for
another's, default 30). The hook path gives its store ``busy_timeout`` (2 s; the guard's
log 5 ms): a write then waits that long for another's lock, and a statement runs at most
that long (never less than 0.25 s); either timeout is
:class:`~claude_orchestrator.errors.StoreUnavailableError`, as SQLite's busy store is, so
the hook spools the write.

The port is assembled from one module per concern: the connection string
(:mod:`.postgres_dsn`), the project (:mod:`.postgres_identity`), the schema, its
migrations and grants (:mod:`.postgres_schema`), the connection and transactions
(:mod:`.postgres_conn`), the rows (:mod:`.postgres_rows`), the queries and summaries
(:mod:`.postgres_queries`), the transaction's reads and writes (:mod:`.postgres_tx`),
the live feed (:mod:`.postgres_feed`), all put together in :mod:`.postgres_port`.
``events migrate`` copies a SQLite store into a project (:mod:`.postgres_migrate`, with
the tables it copies in :mod:`.postgres_migrate_tables`, the read-only source in
:mod:`.postgres_migrate_source` and what it reports in :mod:`.postgres_migrate_report`).

This module is imported with every built-in plugin, on every command: it registers a
factory and imports nothing else. psycopg (the ``postgres`` extra, ~100 ms to import)
is imported only when the config chooses this store and the port first connects.
"""

from __future__ import annotations

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register


def from_context(context: PluginContext) -> object:
    """The store's port for the context (it connects, and imports psycopg, on first use)."""
    from .postgres_port import PostgresPort

    return PostgresPort.from_context(context)


@hookimpl(trylast=True)
def register_stores(register: Register) -> None:
    register(
        "postgres",
        from_context,
        description="PostgreSQL server, shared by a team (the postgres extra: psycopg)",
    )
