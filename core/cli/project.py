"""Set-up and the files made from the config: init, plugins, generate, agent-settings,
doctor."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..render import to_json
from . import render
from .common import DbOption, JsonOption, emit, orch, out


def register_setup(app: typer.Typer) -> None:
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
        from ..validate import split_list

        library = orch(db)
        written, info = library.init(split_list(areas) if areas is not None else None)
        path = library.config_path
        payload = {"config": str(path), "config_written": written, "store": info}
        verb = "wrote" if written else "kept existing"
        emit(as_json, payload, f"{verb} {path}\n{render.store_line(info)}")

    @app.command("plugins")
    def plugins_cmd(as_json: JsonOption = False) -> None:
        """List loaded plugins: name, version, kinds, hooks, and load failures.

        \b
        Example:
          claude-orchestrator plugins --json
        """
        from ..manager import PluginRegistry

        infos = PluginRegistry().plugins()
        out(to_json([i.to_dict() for i in infos]) if as_json else render.plugins(infos))


def register_generate(app: typer.Typer) -> None:
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
        from ..generate import generate as run_generate

        result = run_generate(orch(), check=check, show_diff=diff, force=force)
        if as_json:
            out(to_json(result))
        else:
            if result.diff:
                sys.stdout.write(result.diff)
            out("\n".join(render.generated(result, check)))
        if check and any(f["state"] != "ok" for f in result.files):
            raise typer.Exit(1)


def register_agent(app: typer.Typer) -> None:
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
        from ..agent_settings import build

        result = build(orch())
        if print_document:
            out(json.dumps(result.document, indent=2))
        elif as_json:
            out(to_json({"path": str(result.path), "role": result.role,
                         "branch": result.branch, "worktree": str(result.worktree),
                         "protected_refs": result.protected_refs}))  # fmt: skip
        else:
            out(str(result.path))

    @app.command("doctor")
    def doctor(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Check the set-up: config, git version, store, hooks, recent hook failures.

        Exit 1 when something needs attention.

        \b
        Example:
          claude-orchestrator doctor
        """
        from ..doctor import run_checks

        checks = run_checks(orch(db))
        out(to_json(checks) if as_json else render.doctor(checks))
        if not all(c.ok for c in checks):
            raise typer.Exit(1)
