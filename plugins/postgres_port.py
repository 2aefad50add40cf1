"""The ``postgres`` store's port: :class:`PostgresPort`, assembled from one module per
concern (see :mod:`.postgres_store`). psycopg is imported when the port first connects
(or prints its grants), not before."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.store_service import Store

from . import postgres_dsn as dsn
from .postgres_identity import Repository, identity
from .postgres_queries import PostgresQueries

if TYPE_CHECKING:
    from pathlib import Path

    from .postgres_feed import PostgresSubscription
    from .postgres_migrate_report import Migrated
    from .postgres_tx import PostgresTransaction

#: the shortest the hook path lets a statement run (seconds; see :func:`hook_timeouts`)
HOOK_STATEMENT_FLOOR_S = 0.25


class PostgresPort(PostgresQueries):
    """The :class:`~claude_orchestrator.protocols_store.EventStore` port on a PostgreSQL
    database, for one project (repository) in it; also
    :class:`~claude_orchestrator.protocols_store.StoreSummaries` and
    :class:`~claude_orchestrator.protocols_store.StoreFeed`."""

    #: hook processes reach it through the store proxy (psycopg's import and a handshake
    #: per process cost more than the whole call); ``plugins.options.postgres.proxy:
    #: false`` opens it directly
    proxied = True
    #: the repository a port built from its context is for (``import_sqlite``)
    repository: Repository = Repository()

    def proxy_identity(self) -> str:
        """What makes this store this store, for the store proxy's key (hashed, never
        shown): the connection string with its password, the timeouts, and the ``PG*``
        variables libpq reads from the process's environment (a ``service=`` or empty
        connection string takes its server and password from them)."""
        libpq = sorted((k, v) for k, v in os.environ.items() if k.startswith("PG"))
        return repr((self.settings, libpq))

    @classmethod
    def from_context(cls, context: PluginContext) -> PostgresPort:
        options = dict(context.options)
        if "busy_timeout" in options:  # the hook path's and the guard's short wait
            options.update(hook_timeouts(options.pop("busy_timeout"), options))
        env = os.environ if context.env is None else context.env
        settings = dsn.settings(options, env)
        configured = context.config.project
        common_dir = context.common_dir
        port = cls(settings, lambda: identity(configured, common_dir))
        port.repository = Repository(configured, common_dir, context.config.plugin_options(
            "postgres"))  # fmt: skip
        return port

    @classmethod
    def for_dsn(
        cls, conninfo: str, project: str | Callable[[], str], **timeouts: Any
    ) -> PostgresPort:
        """A port on ``conninfo`` (a libpq connection string) for ``project``."""
        return cls(dsn.Settings(conninfo, "the connection string", **timeouts), project)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresTransaction]:
        from .postgres_tx import PostgresTransaction  # here: hook processes use the proxy

        with self._write() as conn:
            yield PostgresTransaction(conn, self._project_key())

    def subscribe(self, after_id: int = 0, limit: int = 1000) -> PostgresSubscription:
        from .postgres_feed import PostgresSubscription

        reader = PostgresQueries(self.settings, self.project)
        try:
            return PostgresSubscription(reader, after_id, limit)
        except BaseException:
            reader.close()
            raise

    def import_sqlite(
        self,
        source: Path,
        to: str,
        *,
        project: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Migrated:
        """Copy the SQLite store ``source`` into the PostgreSQL database ``to`` as this
        repository's project (or ``project``), verified (``events migrate``: see
        :mod:`.postgres_migrate`). ``to`` need not be this store's own database."""
        from .postgres_migrate import migrate

        return migrate(source, to, self.repository, project=project, progress=progress)

    @staticmethod
    def grants_sql(role: str | None = None) -> str:
        """The SQL that makes ``role`` (by default ``claude_orchestrator_agent``) the
        agents' least-privilege role, for a DBA."""
        from .postgres_grants import DEFAULT_ROLE, grants_script

        return grants_script(DEFAULT_ROLE if role is None else role)


def hook_timeouts(busy_timeout: Any, options: dict[str, Any]) -> dict[str, float]:
    """What the hook path's ``busy_timeout`` (seconds it may wait for the store, see
    :class:`~claude_orchestrator.spool_writes.HookOrchestrator`; the guard's log gives a
    few milliseconds) means here: how long a write waits for another's lock, and at most
    how long any statement may run, so a slow server is away for a hook (which spools)
    instead of holding it for the minute of ``statement_timeout``. The statements' cap is
    never below :data:`HOOK_STATEMENT_FLOOR_S`: a few milliseconds is shorter than a
    loaded server's ordinary insert, and the guard would spool half its decisions."""
    wait = max(float(busy_timeout), 0.001)  # 0 is "no limit" to PostgreSQL, not "no wait"
    cap = max(wait, HOOK_STATEMENT_FLOOR_S)
    configured = float(options.get("statement_timeout", dsn.STATEMENT_TIMEOUT_S))
    statement = cap if configured <= 0 else min(configured, cap)  # 0: no timeout at all
    return {"lock_timeout": wait, "statement_timeout": statement}


class PostgresStore(Store):
    """Every store operation on a PostgreSQL database: ``Store(PostgresPort(...))``."""

    def __init__(self, conninfo: str, project: str, **timeouts: Any) -> None:
        super().__init__(PostgresPort.for_dsn(conninfo, project, **timeouts))
