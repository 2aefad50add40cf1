"""The command line: a thin Typer layer over :class:`~claude_orchestrator.api.Orchestrator`.

Each command parses its arguments, calls one library method and prints the result.
Errors are turned into exit codes in one place, :func:`run`:

* 0 success; 1 the check ran and found something; 2 bad input, usage, or missing set-up;
* 3 an internal error (a bug): the traceback goes to a log file whose path is printed;
* 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from . import __version__
from .api import Orchestrator
from .boundary import guarded
from .render import render_events, render_status, render_sync, table, to_json

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Event store file (default: <git common dir>/orchestrator/events.db; "
        "env CLAUDE_ORCHESTRATOR_DB).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
BranchOption = Annotated[
    str | None,
    typer.Option(
        "--branch", help="Feature branch (default: the checked-out one).", show_default=False
    ),
]
SpecArg = Annotated[
    str, typer.Argument(help="Spec id, e.g. 003-reading-goals.", show_default=False)
]
RoleArg = Annotated[
    str, typer.Argument(help="overseer or implementor-<area>, e.g. implementor-data.")
]


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _emit(as_json: bool, value: Any, text: str) -> None:
    _out(to_json(value) if as_json else text)


def _orch(db: Path | None = None) -> Orchestrator:
    return Orchestrator(db=db)


# ---------------------------------------------------------------------------- app
def make_app() -> typer.Typer:
    """Build the CLI (a factory: nothing is registered at import time)."""
    app = typer.Typer(
        name="claude-orchestrator",
        help="Coordinate an overseer and several implementor agents on one feature.\n\n"
        "Run `claude-orchestrator COMMAND --help` for a command's options and an example.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    events = typer.Typer(
        help="The event store: features, agents, events, conflicts, blockers, test results.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    config = typer.Typer(
        help="Read, check and change orchestrator.yaml.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(events, name="events")
    app.add_typer(config, name="config")

    @app.callback(invoke_without_command=True)
    def _root(
        version: Annotated[
            bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
        ] = False,
    ) -> None:
        if version:
            _out(f"claude-orchestrator {__version__}")
            raise typer.Exit(0)

    # -- set-up --------------------------------------------------------------------
    @app.command("init")
    def init_cmd(
        areas: Annotated[
            str | None,
            typer.Option(help="Default implementor areas, comma-separated.", show_default=False),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Write a commented orchestrator.yaml (if missing) and create the event store.

        \b
        Example:
          claude-orchestrator init --areas data,api,ui
        """
        from .validate import split_list

        orch = _orch(db)
        written, info = orch.init(split_list(areas) if areas is not None else None)
        payload = {"config": str(orch.config_path), "config_written": written, "store": info}
        verb = "wrote" if written else "kept existing"
        _emit(as_json, payload, f"{verb} {orch.config_path}\n{_store_line(info)}")

    @app.command("plugins")
    def plugins_cmd(as_json: JsonOption = False) -> None:
        """List loaded plugins: name, version, kinds, hooks, and load failures.

        \b
        Example:
          claude-orchestrator plugins --json
        """
        from .manager import PluginRegistry

        infos = PluginRegistry().plugins()
        if as_json:
            _out(to_json([i.to_dict() for i in infos]))
            return
        rows = [
            [
                i.name,
                i.version,
                "built-in" if i.builtin else "entry point",
                ", ".join(i.implementations) or "-",
                ", ".join(i.hooks) or "-",
                f"FAILED: {i.error}" if i.error else "ok",
            ]
            for i in infos
        ]
        _out(table(("name", "version", "source", "implements", "hooks", "status"), rows))

    # -- config --------------------------------------------------------------------
    @config.command("schema")
    def config_schema() -> None:
        """Print the JSON Schema of orchestrator.yaml (for editors and CI).

        \b
        Example:
          claude-orchestrator config schema > orchestrator.schema.json
        """
        import json

        from .config_schema import SCHEMA

        _out(json.dumps(SCHEMA, indent=2))

    @config.command("check")
    def config_check(as_json: JsonOption = False) -> None:
        """Validate orchestrator.yaml, including plugin names; exit 2 with the first problem.

        \b
        Example:
          claude-orchestrator config check
        """
        from .config import load_config

        orch = _orch()
        orch.__dict__["config"] = load_config(orch.config_path, required=True)
        orch.check_plugins()
        _emit(as_json, {"path": str(orch.config_path), "valid": True}, f"{orch.config_path}: valid")

    @config.command("show")
    def config_show(as_json: JsonOption = False) -> None:
        """Print the effective configuration (file merged with defaults).

        \b
        Example:
          claude-orchestrator config show --json
        """
        orch = _orch()
        data = orch.config.to_dict()
        if as_json:
            _out(to_json(data))
        else:
            import io

            from ruamel.yaml import YAML

            buffer = io.StringIO()
            YAML().dump(data, buffer)
            _out(buffer.getvalue())

    @config.command("set")
    def config_set(
        key: Annotated[str, typer.Argument(help="Dotted key, e.g. implementors.areas.")],
        value: Annotated[str, typer.Argument(help="A YAML value, e.g. '[data, api]'.")],
    ) -> None:
        """Change one setting, keeping the file's comments; nothing is written if invalid.

        \b
        Example:
          claude-orchestrator config set implementors.areas '[data, api, ui, docs]'
        """
        from .config import set_value

        orch = _orch()
        set_value(orch.config_path, key, value)
        _out(f"{orch.config_path}: {key} set")

    _events_commands(events)
    _workflow_commands(app)
    return app


def _store_line(info: Any) -> str:
    if info.created:
        return f"created event store {info.location} (schema v{info.schema_version})"
    if info.migrated_from is not None:
        return (
            f"migrated event store {info.location} from schema v{info.migrated_from} "
            f"to v{info.schema_version}"
        )
    return f"event store {info.location} is ready (schema v{info.schema_version})"


def _events_commands(events: typer.Typer) -> None:
    @events.command("path")
    def path_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Print where the event store is (for sqlite3 or datasette).

        \b
        Example:
          sqlite3 "$(claude-orchestrator events path)" 'select * from v_feature_status'
        """
        orch = _orch(db)
        _emit(
            as_json,
            {"path": str(orch.store_path), "exists": orch.store_path.is_file()},
            str(orch.store_path),
        )

    @events.command("init")
    def init_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Create the event store, or migrate an older one; safe to run again.

        \b
        Example:
          claude-orchestrator events init
        """
        info = _orch(db).init_store()
        _emit(as_json, info, _store_line(info))

    @events.command("info")
    def info_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Show the store's location, schema version and row counts.

        \b
        Example:
          claude-orchestrator events info --json
        """
        info = _orch(db).store_info()
        counts = ", ".join(f"{k} {n}" for k, n in (info.counts or {}).items())
        _emit(
            as_json,
            info,
            f"{info.location}\nschema v{info.schema_version} "
            f"(written by {info.written_by})\n{counts}",
        )

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
        from .validate import split_list

        orch = _orch(db)
        done = orch.register_feature(
            spec_id,
            name,
            overseer_branch=overseer_branch,
            areas=split_list(areas) if areas is not None else None,
        )
        feature = done.feature
        agents = orch.store.list_agents(feature.spec_id)
        if done.added:
            text = f"feature {feature.spec_id} added with {len(agents)} agents: " + ", ".join(
                a.role for a in agents
            )
        else:
            verb = "set to" if done.previous_name is not None else "already"
            text = f"feature {feature.spec_id} already registered: name {verb} {feature.name!r}"
            if done.agents_added:
                text += "; agents added: " + ", ".join(a.role for a in done.agents_added)
        _emit(
            as_json,
            {"feature": feature, "agents": agents, "added": done.added,
             "agents_added": done.agents_added},
            text,
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
        agent = _orch(db).add_agent(spec_id, role, branch)
        _emit(as_json, agent, f"{agent.role} registered for {agent.spec_id} on {agent.branch_name}")

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
        feature = _orch(db).set_feature_status(spec_id, status)
        _emit(as_json, feature, f"{feature.spec_id} is {feature.status}")

    @events.command("log-event")
    def log_event(
        spec_id: SpecArg,
        role: RoleArg,
        event_type: Annotated[
            str, typer.Argument(help="task_started, task_completed, ... or a custom type.")
        ],
        message: Annotated[str, typer.Argument(help="What happened.")],
        task_id: Annotated[
            str | None, typer.Argument(help="Task id, e.g. T001.", show_default=False)
        ] = None,
        commit: Annotated[str | None, typer.Argument(help="Commit id.", show_default=False)] = None,
        metadata: Annotated[
            str | None,
            typer.Option("--metadata", help="Extra data as a JSON object.", show_default=False),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Append an event; prints nothing on success (it runs from git hooks).

        \b
        Example:
          claude-orchestrator events log-event 003-reading-goals implementor-data \\
            task_completed "Migrations done" T001 abc1234
        """
        event = _orch(db).log_event(spec_id, role, event_type, message, task_id, commit, metadata)
        if as_json:
            _out(to_json(event))

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
        found = _orch(db).recent(limit, spec)
        _emit(as_json, found, render_events(found))

    @events.command("status")
    def status(
        spec_id: Annotated[
            str | None, typer.Argument(help="Only this feature.", show_default=False)
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Show each feature's agents with task, PR, conflict and blocker counts.

        \b
        Example:
          claude-orchestrator events status 003-reading-goals
        """
        rows = _orch(db).status(spec_id)
        _emit(as_json, rows, render_status(rows))

    @events.command("log-conflict")
    def log_conflict(
        spec_id: SpecArg,
        role: RoleArg,
        files: Annotated[
            str, typer.Argument(help="JSON array ('[\"a.py\"]') or comma-separated paths.")
        ],
        severity: Annotated[str, typer.Argument(help="warning or critical.")] = "warning",
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Record a conflict that an agent's branch has with another branch.

        \b
        Example:
          claude-orchestrator events log-conflict 003-reading-goals implementor-api \\
            '["src/models.py"]' critical
        """
        conflict = _orch(db).log_conflict(spec_id, role, files, severity)
        _emit(
            as_json,
            conflict,
            f"conflict {conflict.id} logged for {conflict.role}: " + ", ".join(conflict.files),
        )

    @events.command("resolve-conflict")
    def resolve_conflict(
        conflict_id: Annotated[str, typer.Argument(help="The id `log-conflict` printed.")],
        notes: Annotated[str | None, typer.Argument(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Mark a conflict resolved, with notes.

        \b
        Example:
          claude-orchestrator events resolve-conflict 4 "rebased onto overseer"
        """
        conflict = _orch(db).resolve_conflict(conflict_id, notes)
        _emit(as_json, conflict, f"conflict {conflict.id} resolved")

    @events.command("conflicts")
    def conflicts(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        include_all: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List open conflicts (with --all, resolved ones too).

        \b
        Example:
          claude-orchestrator events conflicts 003-reading-goals --json
        """
        found = _orch(db).conflicts(spec_id, include_all)
        rows = [
            [
                c.id,
                c.spec_id,
                c.role,
                c.severity,
                "resolved" if c.resolved else "open",
                ", ".join(c.files),
            ]
            for c in found
        ]
        _emit(
            as_json,
            found,
            table(("id", "spec", "role", "severity", "state", "files"), rows)
            if found
            else "No open conflicts.",
        )

    @events.command("block")
    def block(
        spec_id: SpecArg,
        role: RoleArg,
        blocker_type: Annotated[
            str, typer.Argument(help="dependency, conflict, external or technical.")
        ],
        description: Annotated[str, typer.Argument(help="What blocks the agent.")],
        task: Annotated[
            str | None, typer.Option(help="The blocked task, e.g. T005.", show_default=False)
        ] = None,
        blocked_by: Annotated[
            str | None,
            typer.Option(help="The agent whose work is awaited.", show_default=False),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Record a blocker; the agent shows as blocked until it is resolved.

        \b
        Example:
          claude-orchestrator events block 003-reading-goals implementor-ui dependency \\
            "needs the goals API" --task T005 --blocked-by implementor-api
        """
        blocker = _orch(db).block(
            spec_id, role, blocker_type, description, blocked_by=blocked_by, task_id=task
        )
        _emit(as_json, blocker, f"blocker {blocker.id} recorded for {blocker.role}")

    @events.command("unblock")
    def unblock(
        blocker_id: Annotated[str, typer.Argument(help="The id `block` printed.")],
        notes: Annotated[str | None, typer.Argument(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Resolve a blocker.

        \b
        Example:
          claude-orchestrator events unblock 2 "API merged"
        """
        blocker = _orch(db).unblock(blocker_id, notes)
        _emit(as_json, blocker, f"blocker {blocker.id} resolved")

    @events.command("blockers")
    def blockers(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        include_all: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List active blockers (with --all, resolved ones too).

        \b
        Example:
          claude-orchestrator events blockers --json
        """
        found = _orch(db).blockers(spec_id, include_all)
        rows = [
            [b.id, b.spec_id, b.role, b.blocker_type, b.status, b.blocking_role, b.description]
            for b in found
        ]
        _emit(
            as_json,
            found,
            table(("id", "spec", "role", "type", "status", "blocked by", "description"), rows)
            if found
            else "No active blockers.",
        )

    @events.command("record-test")
    def record_test(
        spec_id: SpecArg,
        role: RoleArg,
        test_type: Annotated[str, typer.Argument(help="unit, integration, e2e or lint.")],
        status: Annotated[str, typer.Argument(help="passed, failed or skipped.")],
        passed: Annotated[int | None, typer.Option(show_default=False)] = None,
        failed: Annotated[int | None, typer.Option(show_default=False)] = None,
        skipped: Annotated[int | None, typer.Option(show_default=False)] = None,
        total: Annotated[int | None, typer.Option(show_default=False)] = None,
        duration_ms: Annotated[int | None, typer.Option(show_default=False)] = None,
        commit: Annotated[str | None, typer.Option(show_default=False)] = None,
        logs_url: Annotated[str | None, typer.Option(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Record a test run's result.

        \b
        Example:
          claude-orchestrator events record-test 003-reading-goals implementor-data unit \\
            passed --passed 42 --commit abc1234
        """
        result = _orch(db).record_test(
            spec_id,
            role,
            test_type,
            status,
            commit=commit,
            total=total,
            passed=passed,
            failed=failed,
            skipped=skipped,
            duration_ms=duration_ms,
            logs_url=logs_url,
        )
        _emit(as_json, result, f"{result.test_type} result recorded ({result.status})")

    @events.command("test-results")
    def test_results(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        limit: Annotated[int, typer.Option(help="How many results.")] = 20,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List the latest test results, newest first.

        \b
        Example:
          claude-orchestrator events test-results 003-reading-goals
        """
        found = _orch(db).test_results(spec_id, limit)
        rows = [
            [
                t.id,
                t.spec_id,
                t.role,
                t.test_type,
                t.status,
                t.tests_passed,
                t.tests_failed,
                t.tests_skipped,
                (t.commit_hash or "")[:7],
                t.created_at,
            ]
            for t in found
        ]
        _emit(
            as_json,
            found,
            table(
                (
                    "id",
                    "spec",
                    "role",
                    "type",
                    "status",
                    "passed",
                    "failed",
                    "skipped",
                    "commit",
                    "when",
                ),
                rows,
            )
            if found
            else "No test results yet.",
        )

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
        text = _orch(db).export(spec_id, fmt, output)
        if output is None:
            sys.stdout.write(text)
        else:
            _out(f"exported {spec_id} to {output}")


def _workflow_commands(app: typer.Typer) -> None:
    from . import conflict_scan, feature_setup, workflow

    @app.command("init-feature")
    def init_feature(
        spec_id: SpecArg,
        implementors: Annotated[
            str | None,
            typer.Option(help="Implementor areas, comma-separated (default: from config).",
                         show_default=False),
        ] = None,
        base: Annotated[
            str | None,
            typer.Option(help="Branch or commit to start from (default: branches.main).",
                         show_default=False),
        ] = None,
        worktrees: Annotated[
            bool, typer.Option("--worktrees", help="Create one git worktree per agent.")
        ] = False,
        name: Annotated[
            str | None, typer.Option(help="Human-readable feature name.", show_default=False)
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Create a feature's overseer and implementor branches (and worktrees), register it.

        Safe to re-run: it reports what exists and creates only what is missing.

        \b
        Example:
          claude-orchestrator init-feature 003-reading-goals --implementors data,api,ui --worktrees
        """
        from .validate import split_list

        orch = _orch(db)
        result = feature_setup.init_feature(
            orch, spec_id, areas=split_list(implementors) if implementors is not None else None,
            base=base, worktrees=worktrees, name=name,
        )  # fmt: skip
        if as_json:
            _out(to_json(result))
            return
        lines = [
            f"feature {result.spec_id}"
            + (" registered" if result.feature_created else " (already registered)")
        ]
        for branch, state in result.branches.items():
            tree = result.worktrees.get(branch)
            where = ""
            if tree is not None:
                made = " (created)" if tree[1] else ""
                where = f", worktree {tree[0]}" + (" (repaired)" if branch in result.repaired
                                                   else made)  # fmt: skip
            lines.append(f"  {branch}: {state}{where}")
        if result.agents_added:
            lines.append(f"  agents added: {', '.join(result.agents_added)}")
        _out("\n".join(lines))

    @app.command("sync-status")
    def sync_status(
        branch: BranchOption = None,
        from_hook: Annotated[
            str | None,
            typer.Option("--from-hook", help="Run as the named git hook: quiet, never fails.",
                         show_default=False),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Turn the branch's new commits into task events (and, on the overseer, tasks.md).

        \b
        Example:
          claude-orchestrator sync-status --json
        """
        from . import hooks

        orch = _orch(db)
        if from_hook is not None:
            hooks.sync_from_hook(orch, from_hook)
            return
        result = workflow.sync_status(orch, branch=branch)
        _out(render_sync(result, as_json))

    @app.command("check-conflicts")
    def check_conflicts(branch: BranchOption = None, as_json: JsonOption = False) -> None:
        """Merge the branch in memory with its overseer and each sibling; exit 1 on conflict.

        Touches no working tree, index or branch. Run it before a rebase. (It predicts a
        merge; a rebase replays commits one by one and can stop earlier.)

        \b
        Example:
          claude-orchestrator check-conflicts
        """
        results = conflict_scan.check_conflicts(_orch(), branch=branch)
        conflicted = [r for r in results if r.conflicted]
        if as_json:
            _out(to_json({"conflicts": bool(conflicted), "pairs": results}))
        else:
            lines = []
            for r in results:
                if r.error:
                    lines.append(f"{r.branch} vs {r.other_branch}: NOT COMPARABLE ({r.error})")
                    continue
                if not r.conflicted:
                    lines.append(f"{r.branch} vs {r.other_branch}: clean")
                    continue
                lines.append(f"{r.branch} vs {r.other_branch}: CONFLICT")
                if not r.files:
                    lines.append("  (a directory-rename conflict that names no file)")
                for touch in r.touches:
                    lines.append(f"  {touch.path}")
                    for label, commits in (("ours", touch.ours), ("theirs", touch.theirs)):
                        for commit, subject in commits[:3]:
                            lines.append(f"    {label:<6} {commit[:7]} {subject}")
            _out("\n".join(lines) if lines else "no sibling branches to check")
        if conflicted:
            raise typer.Exit(1)
        if any(r.error for r in results):
            raise typer.Exit(2)  # nothing conflicts, but not every pair could be checked

    @app.command("detect-conflicts")
    def detect_conflicts(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Scan every active feature for conflicting branch pairs (for cron); exit 1 if any.

        Quiet when nothing is found. Records each conflict once, resolves it when it goes
        away, and warns in the affected agents' state files.

        \b
        Example:
          */30 * * * * cd /repo && claude-orchestrator detect-conflicts
        """
        scans = conflict_scan.detect_conflicts(_orch(db))
        found = [c for s in scans for c in s.conflicts]
        if as_json:
            _out(to_json({"conflicts": bool(found), "features": scans}))
        else:
            lines = []
            for scan in scans:
                for c in scan.conflicts:
                    files = ", ".join(c.files) or "(directory-rename conflict)"
                    lines.append(f"{scan.spec_id}: {c.severity}: {c.branch} vs "
                                 f"{c.other_branch}: {files}")  # fmt: skip
                lines += [f"{scan.spec_id}: note: {note}" for note in scan.notes]
            if lines:
                _out("\n".join(lines))
        if found:
            raise typer.Exit(1)

    hooks_app = typer.Typer(help="Git hooks that run sync-status after commits.",
                            no_args_is_help=True, rich_markup_mode=None)  # fmt: skip
    app.add_typer(hooks_app, name="hooks")

    def _hook_lines(states: list[Any]) -> str:
        return "\n".join(
            f"{s.hook}: {'installed' if s.installed else 'not installed'}"
            + (" (chains the previous hook)" if s.chained else "")
            + f"  {s.path}"
            for s in states
        )

    @hooks_app.command("install")
    def hooks_install(as_json: JsonOption = False) -> None:
        """Install post-commit, post-rewrite and post-merge hooks (chaining existing ones).

        \b
        Example:
          claude-orchestrator hooks install
        """
        from . import hooks

        states = hooks.install(_orch())
        _emit(as_json, states, _hook_lines(states))

    @hooks_app.command("uninstall")
    def hooks_uninstall(as_json: JsonOption = False) -> None:
        """Remove exactly the hooks `install` added, restoring chained ones.

        \b
        Example:
          claude-orchestrator hooks uninstall
        """
        from . import hooks

        states = hooks.uninstall(_orch())
        _emit(as_json, states, _hook_lines(states))

    @hooks_app.command("status")
    def hooks_status(as_json: JsonOption = False) -> None:
        """Show whether the hooks are installed.

        \b
        Example:
          claude-orchestrator hooks status --json
        """
        from . import hooks

        states = hooks.status(_orch())
        _emit(as_json, states, _hook_lines(states))

    @app.command("generate")
    def generate(
        check: Annotated[
            bool, typer.Option("--check", help="Write nothing; exit 1 if any file differs.")
        ] = False,
        diff: Annotated[bool, typer.Option("--diff", help="Show the differences.")] = False,
        force: Annotated[
            bool, typer.Option("--force", help="Overwrite generated files edited by hand.")
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Write CI workflows, Claude Code permission files and runbooks from orchestrator.yaml.

        Deterministic; a hand-edited generated file is reported, not overwritten (--force).
        `--check` is for CI and pre-commit: exit 1 when a file is not what the config makes.

        \b
        Example:
          claude-orchestrator generate --check --diff
        """
        from .generate import generate as run_generate

        result = run_generate(_orch(), check=check, show_diff=diff, force=force)
        stale = [f for f in result.files if f["state"] != "ok"]
        if as_json:
            _out(to_json(result))
        else:
            if result.diff:
                sys.stdout.write(result.diff)
            if check:
                for f in stale:
                    _out(f"{f['state']}: {f['path']}")
                if not stale:
                    _out(f"{len(result.files)} generated files are up to date")
            else:
                for path in result.changed:
                    _out(f"wrote {path}")
                if not result.changed:
                    _out(f"{len(result.files)} generated files are up to date")
        if check and stale:
            raise typer.Exit(1)

    @app.command("run-tests")
    def run_tests(
        role: Annotated[
            str | None,
            typer.Option(help="implementor or overseer (default: from the branch).",
                         show_default=False),
        ] = None,
        test_type: Annotated[
            str | None,
            typer.Option("--type", help="unit, integration, e2e or lint (default: the role's).",
                         show_default=False),
        ] = None,
        branch: BranchOption = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Run the role's tests with the commands from the config and record the results.

        Implementors: unit and lint; overseer: integration and e2e. Exit 0 when all pass,
        1 when any fails, 2 when any could not be run (the others still run and are recorded).

        \b
        Example:
          claude-orchestrator run-tests --type unit
        """
        from .testrun import run_tests as run

        spec_id, role_name, runs = run(_orch(db), role=role, test_type=test_type, branch=branch,
                                       output_to_stderr=as_json)  # fmt: skip
        if as_json:
            _out(to_json({"spec_id": spec_id, "role": role_name, "runs": runs}))
        else:
            for r in runs:
                if r.error is not None:
                    continue
                counts = (f" ({r.passed} passed, {r.failed or 0} failed, {r.skipped or 0} "
                          "skipped)" if r.total is not None else "")  # fmt: skip
                print(f"{r.test_type}: {r.status}{counts} in {r.duration_ms} ms",
                      file=sys.stderr)  # fmt: skip
        for r in runs:
            if r.error is not None:
                print(f"error: {r.error}", file=sys.stderr)
        if any(r.error is not None for r in runs):
            raise typer.Exit(2)
        if any(r.status == "failed" for r in runs):
            raise typer.Exit(1)

    @app.command("open-pr")
    def open_pr(
        title: Annotated[str | None, typer.Option(show_default=False)] = None,
        body: Annotated[
            str | None,
            typer.Option(help="Default: the tasks completed and the last test results.",
                         show_default=False),
        ] = None,
        draft: Annotated[bool, typer.Option("--draft", help="Open it as a draft.")] = False,
        branch: BranchOption = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Open a PR from this implementor branch to its overseer branch.

        \b
        Example:
          claude-orchestrator open-pr --title "Data layer for reading goals"
        """
        from .prs import open_pr as run

        pr = run(_orch(db), title=title, body=body, draft=draft, branch=branch)
        number = pr.pr_number if pr.pr_number is not None else pr.id
        _emit(as_json, pr, f"PR #{number} opened: {pr.head_branch} -> {pr.base_branch}"
              + (f" {pr.url}" if pr.url else ""))  # fmt: skip

    @app.command("merge-pr")
    def merge_pr(
        number: Annotated[str, typer.Argument(help="The PR number open-pr printed.")],
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Merge a PR into the overseer branch (overseer only, where it is checked out).

        With the local forge this is a real git merge, refused when it would conflict.

        \b
        Example:
          claude-orchestrator merge-pr 3
        """
        from .prs import merge_pr as run

        pr = run(_orch(db), number)
        _emit(as_json, pr, f"PR #{number} merged: {pr.head_branch} -> {pr.base_branch}")

    @app.command("prs")
    def prs(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List pull requests.

        \b
        Example:
          claude-orchestrator prs 003-reading-goals --json
        """
        from .prs import list_prs

        found = list_prs(_orch(db), spec_id)
        rows = [[p.pr_number if p.pr_number is not None else p.id, p.spec_id, p.role, p.status,
                 p.head_branch, p.title] for p in found]  # fmt: skip
        _emit(as_json, found, table(("#", "spec", "role", "status", "head", "title"), rows)
              if found else "No pull requests.")  # fmt: skip

    @app.command("guard")
    def guard(
        role: Annotated[str, typer.Option(help="implementor or overseer.")],
    ) -> None:
        """Claude Code PreToolUse hook: read the tool call (JSON) on stdin, block what the
        role may not do (exit 2 with the reason), allow the rest (exit 0, silent).

        The generated permission files register it; it fails closed.

        \b
        Example:
          echo '{"tool_name": "Bash", "tool_input": {"command": "git merge main"}}' \\
            | claude-orchestrator guard --role implementor
        """
        from .guard_hook import main

        raise typer.Exit(main(["--role", role]))

    @app.command("agent-settings")
    def agent_settings(
        print_document: Annotated[
            bool, typer.Option("--print", help="Print the settings instead of the path.")
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Write this worktree's agent settings with the machine's paths; print the path.

        The role's generated permission file, its sandbox paths made absolute, and for an
        implementor the git directory's refs of other branches, packed-refs, tags, hooks
        and config made read-only to everything the agent runs. Start the agent with
        claude --setting-sources "" --settings <path> from the worktree's root.

        \b
        Example:
          claude --setting-sources "" --settings "$(claude-orchestrator agent-settings)"
        """
        from .agent_settings import build

        result = build(_orch())
        if print_document:
            _out(json.dumps(result.document, indent=2))
        elif as_json:
            _out(to_json({"path": str(result.path), "role": result.role,
                          "branch": result.branch, "worktree": str(result.worktree),
                          "protected_refs": result.protected_refs}))  # fmt: skip
        else:
            _out(str(result.path))

    @app.command("doctor")
    def doctor(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Check the set-up: config, git version, store, hooks, recent hook failures.

        Exit 1 when something needs attention.

        \b
        Example:
          claude-orchestrator doctor
        """
        from .doctor import run_checks

        checks = run_checks(_orch(db))
        if as_json:
            _out(to_json(checks))
        else:
            _out("\n".join(f"{'ok ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks))
        if not all(c.ok for c in checks):
            raise typer.Exit(1)


# ---------------------------------------------------------------------- boundary
def _usage_message(exc: click.UsageError) -> str:
    """A usage error as one line, like every other bad input (not Click's usage block)."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    if isinstance(exc, click.NoSuchOption) and exc.option_name[1:2].isdigit():
        message += " (a negative number is read as an option: put `--` before it)"
    elif isinstance(exc, click.NoSuchOption):
        message += " (put `--` before a value that starts with '-')"
    command = exc.ctx.command_path if exc.ctx is not None else "claude-orchestrator"
    return f"{message}: see `{command} --help`"


def run(args: Sequence[str]) -> int:
    """Run the CLI with ``args``; errors become exit codes in :mod:`.boundary`."""

    def call() -> int:
        command = typer.main.get_command(make_app())
        try:
            result = command.main(
                args=list(args), prog_name="claude-orchestrator", standalone_mode=False
            )
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help text is the answer to a bare group name
            return exc.exit_code
        except click.UsageError as exc:
            print(f"error: {_usage_message(exc)}", file=sys.stderr)
            return 2
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.Abort:
            raise KeyboardInterrupt from None
        return result if isinstance(result, int) else 0

    return guarded(call)
