"""Hook specifications: the plugin API of claude-orchestrator.

A plugin is a module (or object) with functions decorated by
:data:`claude_orchestrator.hookimpl` whose names match the specs below. Third-party
plugins are found through the ``claude_orchestrator`` entry-point group::

    [project.entry-points.claude_orchestrator]
    jsonl = "my_package.plugin"

Each plugin kind has one hook that *registers* implementations by name. The registry
holds factories; nothing is built (and no heavy module imported) until the
configuration selects a name. One more hook, :func:`register_commands`, adds commands
to the command line. All hooks are called with keyword arguments only; an
implementation may accept a subset of them.

Built-in plugins mark their hooks ``trylast``; their names (``sqlite``, ...) are
reserved, and a third-party registration under a built-in name is reported, not used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from .protocols import Register

PROJECT_NAME = "claude_orchestrator"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------- store
@hookspec
def register_stores(register: Register) -> None:
    """Offer event-store implementations.

    Call ``register(name, factory, description=...)`` once per implementation. The
    factory receives a :class:`~claude_orchestrator.protocols.PluginContext` and returns
    the persistence port, an object satisfying
    :class:`~claude_orchestrator.protocols_store.EventStore`; the library wraps it in a
    :class:`~claude_orchestrator.store_service.Store`, which runs every operation over it.

    :param register: callback that records a factory under a name.
    :return: nothing; the results of all implementations are ignored.

    .. versionadded:: 0.1
    """


# ------------------------------------------------------------------------------ vcs
@hookspec
def register_vcs(register: Register) -> None:
    """Offer version-control implementations (:class:`~claude_orchestrator.protocols.VCS`).

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.1
    """


# ------------------------------------------------------------------------------- ci
@hookspec
def register_ci(register: Register) -> None:
    """Offer CI implementations (:class:`~claude_orchestrator.protocols.CI`).

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------- forge
@hookspec
def register_forges(register: Register) -> None:
    """Offer forges (:class:`~claude_orchestrator.protocols_vcs.Forge`).

    A forge is where pull requests are opened and merged.
    ``forge.type`` in the config names the one ``open-pr`` and ``merge-pr`` use; the
    built-in ``local`` and ``github`` are plugins like any other.

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.2
    """


# ------------------------------------------------------------------------- notifier
@hookspec
def register_notifiers(register: Register) -> None:
    """Offer notifiers (:class:`~claude_orchestrator.protocols.Notifier`).

    Every notifier named in ``plugins.notifiers`` receives every event after the store
    has committed it.

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.1
    """


# -------------------------------------------------------------------------- channel
@hookspec
def register_channels(register: Register) -> None:
    """Offer notification channel types (:class:`~claude_orchestrator.protocols.Channel`).

    ``notifications.channels.<name>.type`` names one; the factory is called once per
    channel of that type, with the channel's own keys as ``context.options``. The built-in
    ``slack``, ``discord``, ``webhook``, ``desktop`` and ``apprise`` are plugins like any
    other.

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.3
    """


# ------------------------------------------------------------------------- commands
@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands or command groups to ``claude-orchestrator``.

    ``cli`` is a :class:`typer.Typer` app of the plugin's own: each command added with
    ``@cli.command()`` and each group added with ``cli.add_typer(sub, name=...)`` becomes
    a top-level command of ``claude-orchestrator``, listed in its ``--help``::

        @hookimpl
        def register_commands(cli):
            @cli.command("hello", help="Greet NAME.")
            def hello(name: str) -> None:
                print(f"hello {name}")

    The hook is called only when its answer is needed: for the top-level ``--help``
    listing, and when the command line names a command the built-ins do not have. A
    built-in command (and so every git and Claude Code hook) never loads a third-party
    plugin for it. Registering must stay cheap: build what a command needs (an
    :class:`~claude_orchestrator.Orchestrator`, heavy imports) inside the command.

    Built-in commands cannot be replaced: a command named like one (``init``, ``events``,
    ...) is left out with a warning, and so is a name an earlier plugin (by plugin name)
    added. A callback on ``cli`` itself is not used. An implementation that raises is
    reported as a warning and its commands are left out; every other command works.

    A plugin command's errors follow the CLI's rules: raise a
    :class:`~claude_orchestrator.errors.OrchestratorError` (``ValidationError`` for bad
    input), ``typer.BadParameter`` or ``click.ClickException`` and the user sees one line
    ``error: ...`` and exit code 2 (an ``OrchestratorError``: its own code);
    ``raise typer.Exit(1)`` when the check ran and found something. Any other exception
    is the plugin's internal error: exit code 3, the traceback in a log file, and the
    message names the plugin.

    :param cli: the Typer app to add commands and command groups to.
    :return: nothing; the results of all implementations are ignored.

    .. versionadded:: 0.2
    """
