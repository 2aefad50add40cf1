"""``events``: features, agents and events in the store (conflicts, blockers and test
results: :mod:`.tracking`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, runtime_checkable

import typer

from .. import dashboard_api, lean
from ..errors import PluginError, StoreUnavailableError, ValidationError
from ..render import render_events, render_status, table
from . import render
from .common import (
    DbOption,
    JsonOption,
    RoleArg,
    SpecArg,
    emit,
    hook_command,
    orch,
    out,
    to_stderr,
)

if TYPE_CHECKING:
    from ..api import Orchestrator


def register(events: typer.Typer) -> None:
    @events.command("path")
    def path_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Print where the event store is (a file for sqlite3 or datasette; for the
        postgres store, its connection string with the password masked).

        \b
        Example:
          sqlite3 "$(claude-orchestrator events path)" 'select * from v_feature_status'
        """
        store = orch(db).store_plugin()
        where = store.location  # a server's connection string comes with its password masked
        try:
            exists: bool | None = store.exists()
        except StoreUnavailableError:
            exists = None  # a server that cannot be reached now
        emit(as_json, {"path": where, "exists": exists}, where)

    @events.command("init")
    def init_cmd(
        db: DbOption = None,
        as_json: JsonOption = False,
        print_grants: Annotated[
            bool,
            typer.Option(
                "--print-grants",
                help="Print the SQL that makes the agents' least-privilege database role "
                "(a server's store: postgres), for a DBA to run; changes nothing.",
            ),
        ] = False,
        role: Annotated[
            str | None,
            typer.Option(
                "--role",
                help="The role --print-grants grants to (default: claude_orchestrator_agent).",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Create the event store, or migrate an older one; safe to run again.

        \b
        Example:
          claude-orchestrator events init
          claude-orchestrator events init --print-grants --role agents | psql "$ADMIN_URL"
        """
        if role is not None and not print_grants:
            raise ValidationError("--role names the role of --print-grants: add --print-grants")
        if print_grants:
            text = store_grants(orch(db), role)
            emit(as_json, {"sql": text}, text.rstrip("\n"))
            return
        info = orch(db).init_store()
        emit(as_json, info, render.store_line(info))

    @events.command("info")
    def info_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Show the store's location, schema version and row counts.

        \b
        Example:
          claude-orchestrator events info --json
        """
        info = orch(db).store_info()
        emit(as_json, info, render.store_info(info))

    @events.command("add-feature")
    def add_feature(
        spec_id: SpecArg,
        name: Annotated[str, typer.Argument(help="A human-readable name.")],
        overseer_branch: Annotated[
            str | None,
            typer.Argument(help="Default: <prefix>/<spec-id>/overseer.", show_default=False),
        ] = None,
        areas: Annotated[
            str | None,
            typer.Option(
                help="Implementor areas, comma-separated (default: from config).",
                show_default=False,
            ),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Register a feature with its overseer and one implementor per area.

        \b
        Example:
          claude-orchestrator events add-feature 003-reading-goals "Reading goals"
        """
        from ..validate import split_list

        library = orch(db)
        done = library.register_feature(
            spec_id,
            name,
            overseer_branch=overseer_branch,
            areas=split_list(areas) if areas is not None else None,
        )
        # two calls until FeatureRegistration carries the agents (an api.py change)
        agents = library.store.list_agents(done.feature.spec_id)
        emit(
            as_json,
            {"feature": done.feature, "agents": agents, "added": done.added,
             "agents_added": done.agents_added},
            render.feature_added(done, agents),
        )  # fmt: skip

    @events.command("add-agent")
    def add_agent(
        spec_id: SpecArg,
        role: RoleArg,
        branch: Annotated[
            str | None, typer.Argument(help="Default: from the naming scheme.", show_default=False)
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Register one more agent for a feature.

        \b
        Example:
          claude-orchestrator events add-agent 003-reading-goals implementor-docs
        """
        agent = orch(db).add_agent(spec_id, role, branch)
        emit(as_json, agent, f"{agent.role} registered for {agent.spec_id} on {agent.branch_name}")

    @events.command("set-feature-status")
    def set_feature_status(
        spec_id: SpecArg,
        status: Annotated[str, typer.Argument(help="in-progress, completed or archived.")],
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Mark a feature in-progress, completed or archived.

        \b
        Example:
          claude-orchestrator events set-feature-status 003-reading-goals completed
        """
        feature = orch(db).set_feature_status(spec_id, status)
        emit(as_json, feature, f"{feature.spec_id} is {feature.status}")

    hook_command(events, lean.LOG_EVENT, lean.log_event)

    @events.command("recent")
    def recent(
        limit: Annotated[int, typer.Argument(help="How many events.")] = 20,
        spec: Annotated[
            str | None, typer.Option("--spec", help="Only this feature.", show_default=False)
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Show the newest events, newest first.

        \b
        Example:
          claude-orchestrator events recent 10 --spec 003-reading-goals
        """
        found = dashboard_api.events(orch(db), limit, spec)
        emit(as_json, found, render_events(found))

    @events.command("status")
    def status(
        spec_id: Annotated[
            str | None, typer.Argument(help="Only this feature.", show_default=False)
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
        watch: Annotated[
            bool, typer.Option("--watch", help="Keep the table current until Ctrl-C.")
        ] = False,
        interval: Annotated[
            float | None,
            typer.Option(
                "--interval",
                help="With --watch: redraw at least every S seconds "
                "(default 2), and whenever events are committed.",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Show each feature's agents with task, PR, conflict and blocker counts.

        \b
        Example:
          claude-orchestrator events status 003-reading-goals
          claude-orchestrator events status --watch --interval 5
        """
        from ..status_watch import check_watch_options, watch_status

        if (every := check_watch_options(watch, interval, as_json)) is not None:
            watch_status(orch(db), spec_id, every)  # until Ctrl-C
            return
        rows = dashboard_api.features(orch(db), spec_id)
        emit(as_json, rows, render_status(rows))

    register_board(events)
    register_migrate(events)


def register_board(events: typer.Typer) -> None:
    @events.command("tasks")
    def tasks_cmd(spec_id: SpecArg, db: DbOption = None, as_json: JsonOption = False) -> None:
        """Show the task board: every task of the feature's tasks.md (on the overseer
        branch) with its title, state (todo: no event yet) and agent, then the tasks only
        the events name.

        \b
        Example:
          claude-orchestrator events tasks 003-reading-goals --json
        """
        board = dashboard_api.tasks(orch(db), spec_id)
        rows = [(t.task_id, t.status, t.role, t.title) for t in board]
        emit(as_json, board, table(["Task", "State", "Agent", "Title"], rows))

    @events.command("conflict")
    def conflict_cmd(
        conflict_id: Annotated[str, typer.Argument(help="The conflict's id (`events conflicts`).")],
        spec: Annotated[
            str | None, typer.Option("--spec", help="Only this feature's.", show_default=False)
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Show a conflict with the commits on each side, ahead of the merge base, that
        touched its files, and the tasks they name.

        \b
        Example:
          claude-orchestrator events conflict 4 --json
        """
        found = dashboard_api.conflict(orch(db), conflict_id, spec)
        emit(as_json, found, found.text())


def register_migrate(events: typer.Typer) -> None:
    @events.command("migrate")
    def migrate_cmd(
        to: Annotated[
            str,
            typer.Option(
                "--to",
                help="The PostgreSQL database to copy into: a libpq connection string "
                "(postgresql://user@host/dbname, host=... dbname=..., service=NAME); the "
                "password from ~/.pgpass or PGPASSFILE, never shown.",
                show_default=False,
            ),
        ],
        project: Annotated[
            str | None,
            typer.Option(
                "--project",
                help="The project its records belong to there (default: the config's "
                "`project`, else the repository's first commit).",
                show_default=False,
            ),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Copy the SQLite event store (or --db FILE) into PostgreSQL with its ids and
        times, in one transaction, verified by row counts and a checksum of the events;
        run it again to copy what was added since (nothing, if nothing was).

        \b
        Example:
          claude-orchestrator events migrate --to postgresql://agent@db.example.com/orchestrator
        """
        library = orch(db)
        if db is None and library.config.store_plugin != "sqlite":
            raise ValidationError(
                f"events migrate copies a SQLite store, and this repository's store is "
                f"{library.config.store_plugin!r}: give the SQLite file with --db FILE "
                f"(the sqlite store's is {library.location.default_store_path()})"
            )
        progress = to_stderr if sys.stderr.isatty() and not as_json else None
        done = store_importer(library).import_sqlite(
            library.store_path, to, project=project, progress=progress
        )
        emit(as_json, done, done.text())


class _Copied(Protocol):
    """What a copy into a server's store did (a NamedTuple: ``--json`` prints its fields)."""

    def text(self) -> str: ...


@runtime_checkable
class _Imports(Protocol):
    """A server's store that copies a SQLite store in (the built-in ``postgres`` store's
    port: ``events migrate``)."""

    def import_sqlite(self, source: Path, to: str, *, project: str | None = None,
                      progress: Callable[[str], None] | None = None) -> _Copied: ...  # fmt: skip


#: the store ``events migrate`` copies into
MIGRATE_TO = "postgres"


def store_importer(library: Orchestrator) -> _Imports:
    """The ``postgres`` store's port for this repository (its project, its config's
    options), built through the plugin registry like the configured store; it connects
    to nothing until it copies."""
    from ..protocols import PluginContext

    impl = library.registry.get("store", MIGRATE_TO)
    context = PluginContext(
        config=library.config,
        root=library.location.root,
        common_dir=library.location.common_dir,
        store_path=library.store_path,
        options=library.config.plugin_options(MIGRATE_TO),
    )
    port = impl.factory(context)
    if not isinstance(port, _Imports):
        raise PluginError(
            f"the {MIGRATE_TO} store (from {impl.plugin}) cannot copy a SQLite store in"
        )
    return port


@runtime_checkable
class _Grants(Protocol):
    """A store whose database has roles (the built-in ``postgres`` store's port)."""

    def grants_sql(self, role: str | None = None) -> str: ...


def store_grants(library: Orchestrator, role: str | None) -> str:
    """The SQL that makes the agents' least-privilege role of the configured store."""
    port = library.store_plugin().port
    port = getattr(port, "direct", port)  # the store's own port behind a store proxy
    if not isinstance(port, _Grants):
        raise ValidationError(
            f"--print-grants: the {library.config.store_plugin} store has no database roles "
            "to grant (it is no database server's); a server's store has them "
            "(plugins.store: postgres)"
        )
    return port.grants_sql(role)


def register_export(events: typer.Typer) -> None:
    @events.command("export")
    def export(
        spec_id: SpecArg,
        output: Annotated[
            Path | None,
            typer.Argument(help="File to write (default: standard output).", show_default=False),
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help="markdown, csv or json.")] = "markdown",
        db: DbOption = None,
    ) -> None:
        """Export a feature's state report as markdown, CSV (its events) or JSON.

        \b
        Example:
          claude-orchestrator events export 003-reading-goals report.md
        """
        text = orch(db).export(spec_id, fmt, output)
        if output is None:
            sys.stdout.write(text)
        else:
            out(f"exported {spec_id} to {output}")
