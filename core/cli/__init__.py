"""The command line: a thin Typer layer over :class:`~claude_orchestrator.api.Orchestrator`.

Each command parses its arguments, calls one library method and prints the result
(the text comes from :mod:`.render`). Commands live in one module per group:
:mod:`.project` (init, plugins, generate, agent-settings, doctor), :mod:`.config`,
:mod:`.events` and :mod:`.tracking` (the ``events`` group), :mod:`.workflow`,
:mod:`.prs` and :mod:`.hooks`. The hook-path commands (``events log-event``,
``sync-status``, ``guard``) are declared once in :mod:`..lean`, which runs them without
importing Typer. Plugins add top-level commands through the ``register_commands`` hook
(:mod:`.plugin_commands`); they are looked up only for the top-level help and for a
command the built-ins do not have. Errors are turned into exit codes in one place,
:func:`run`, for built-in and plugin commands alike:

* 0 success; 1 the check ran and found something; 2 bad input, usage, or missing set-up;
* 3 an internal error (a bug): the traceback goes to a log file whose path is printed,
  and the message names the plugin when a plugin's command raised it;
* 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import click
import typer

from .. import __version__
from ..boundary import PluginCrash, guarded
from ..errors import OrchestratorError
from . import (
    agents,
    config,
    dashboard,
    events,
    feed,
    hooks,
    metrics,
    notify,
    plan,
    project,
    prs,
    team,
    tracking,
    workflow,
)
from .common import close_opened, out
from .plugin_commands import add_plugin_commands, wanted

if TYPE_CHECKING:
    from ..manager import PluginRegistry


def _group(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode=None)


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
    events_app = _group(
        "The event store: features, agents, events, conflicts, blockers, test results."
    )
    config_app = _group("Read, check and change orchestrator.yaml.")
    hooks_app = _group("Git hooks that run sync-status after commits.")
    notify_app = _group("Notifications: Slack, Discord, webhooks, desktop; the outbox notifiers.")
    app.add_typer(events_app, name="events")
    app.add_typer(config_app, name="config")
    app.add_typer(hooks_app, name="hooks")
    app.add_typer(notify_app, name="notify")
    metrics_app = metrics.make_group()
    app.add_typer(metrics_app, name="metrics")

    @app.callback(invoke_without_command=True)
    def _root(
        version: Annotated[
            bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
        ] = False,
    ) -> None:
        if version:
            out(f"claude-orchestrator {__version__}")
            raise typer.Exit(0)

    # the order here is the order of `--help`
    project.register_setup(app)
    config.register(config_app)
    events.register(events_app)
    feed.register(events_app)
    tracking.register(events_app)
    events.register_export(events_app)
    workflow.register(app)
    plan.register(app)
    project.register_generate(app)
    workflow.register_tests(app)
    prs.register(app)
    hooks.register_guard(app)
    project.register_agent(app)
    team.register(app)
    agents.register(app)
    dashboard.register(app)
    hooks.register(hooks_app)
    notify.register(notify_app)
    metrics.register(metrics_app)
    return app


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


def _add_plugin_commands(
    group: click.Group, args: Sequence[str], registry: PluginRegistry | None
) -> str | None:
    """Add the plugins' commands to ``group``; the plugin whose command ``args`` names, if
    any. Without one (the help listing, a name nobody has) the problems are warned about."""
    if registry is None:
        from ..manager import PluginRegistry

        registry = PluginRegistry()
    added = add_plugin_commands(group, registry)
    owner = added.owners.get(args[0]) if args else None
    if owner is None:
        for line in added.problems:
            print(f"warning: {line}", file=sys.stderr)
    return owner


def run(args: Sequence[str], *, registry: PluginRegistry | None = None) -> int:
    """Run the CLI with ``args``; errors become exit codes in :mod:`..boundary`.

    :param registry: where plugin commands come from (``register_commands``); by default
        the installed plugins, loaded only for the top-level help and for a command the
        built-ins do not have.
    """
    args = list(args)
    running: list[str] = []  # the plugin whose command runs, if it is one

    def call() -> int:
        command = typer.main.get_command(make_app())
        assert isinstance(command, click.Group)
        if wanted(args, command.commands):
            owner = _add_plugin_commands(command, args, registry)
            running.extend([owner] if owner else [])
        try:
            try:
                result = command.main(args=args, prog_name="claude-orchestrator",
                                      standalone_mode=False)  # fmt: skip
            finally:
                close_opened()
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help text is the answer to a bare group name
            return exc.exit_code
        except click.UsageError as exc:
            print(f"error: {_usage_message(exc)}", file=sys.stderr)
            return 2
        except click.ClickException as exc:  # a plugin's own "bad input" (click's idiom)
            print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
            return 2
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.Abort:
            raise KeyboardInterrupt from None
        except (OrchestratorError, BrokenPipeError):
            raise
        except Exception as exc:
            if running:
                raise PluginCrash(running[0]) from exc
            raise
        return result if isinstance(result, int) else 0

    return guarded(call)
