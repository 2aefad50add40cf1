"""Commands that plugins add through the ``register_commands`` hook.

Each plugin's implementation is called on its own (``pm.subset_hook_caller``, so
pluggy's wrappers, tracing and hook-call monitoring see the call) with a Typer app of
its own; what it adds there becomes a top-level command. One plugin whose hook raises
loses its commands and nothing else. A command named like a built-in one is refused:
plugins add commands, they never replace ours. Two plugins that add the same name: the
first by plugin name keeps it (never the accident of load order).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, NamedTuple

import click
import typer

if TYPE_CHECKING:
    from ..manager import PluginRegistry

HOOK = "register_commands"
HELP_OPTIONS = ("-h", "--help")


class PluginCommands(NamedTuple):
    """What the plugins added: command name -> plugin, and what went wrong, one line each."""

    owners: dict[str, str]
    problems: list[str]


def wanted(args: Sequence[str], builtins: Collection[str]) -> bool:
    """Whether the command line needs the plugins' commands: the top-level help listing
    (``--help``, or no arguments at all), or a command the built-ins do not have. A
    built-in command never loads a third-party plugin for this."""
    if not args or args[0] in HELP_OPTIONS:
        return True
    return not args[0].startswith("-") and args[0] not in builtins


def _implementations(registry: PluginRegistry) -> list[tuple[str, object]]:
    """(plugin name, plugin) of each plugin with a plain (not wrapper) implementation,
    by name."""
    pm = registry.pm
    found = {}
    for impl in getattr(pm.hook, HOOK).get_hookimpls():
        if not (impl.hookwrapper or impl.wrapper):
            found[pm.get_name(impl.plugin) or repr(impl.plugin)] = impl.plugin
    return sorted(found.items())


def _commands_of(registry: PluginRegistry, plugin: object, others: list[object]) -> click.Group:
    """The commands ``plugin`` adds, from a call of its implementation alone (the
    other plugins' wrappers still wrap it)."""
    app = typer.Typer(rich_markup_mode=None, add_completion=False, pretty_exceptions_enable=False)
    caller = registry.pm.subset_hook_caller(HOOK, remove_plugins=others)
    caller(cli=app)
    return typer.main.get_group(app)


def add_plugin_commands(group: click.Group, registry: PluginRegistry) -> PluginCommands:
    """Load third-party plugins and add their commands to ``group`` (the CLI's root);
    returns who added what, and the problems to warn about."""
    registry.load_entrypoints()
    builtins = set(group.commands)
    owners: dict[str, str] = {}
    problems = [f"plugin {name!r} failed: {error} (see `claude-orchestrator plugins`)"
                for name, error in sorted(registry.failures.items())]  # fmt: skip
    plugins = _implementations(registry)
    for name, plugin in plugins:
        others = [p for n, p in plugins if n != name]
        try:
            commands = _commands_of(registry, plugin, others).commands
        except Exception as exc:  # a broken plugin must not break the other commands
            problems.append(f"plugin {name!r} could not add its commands ({HOOK} failed: "
                            f"{type(exc).__name__}: {exc}): they are left out")  # fmt: skip
            continue
        for command_name, command in commands.items():
            if command_name in builtins:
                problems.append(f"plugin {name!r} may not replace the built-in command "
                                f"{command_name!r}: its command is left out (a plugin "
                                "command needs a name of its own)")  # fmt: skip
            elif command_name in owners:
                first = owners[command_name]
                problems.append(f"plugin {name!r} adds the command {command_name!r} that "
                                f"plugin {first!r} added first: left out")  # fmt: skip
            else:
                owners[command_name] = name
                group.add_command(command, command_name)
    return PluginCommands(owners, problems)
