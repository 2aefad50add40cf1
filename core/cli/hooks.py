"""``hooks``: the git hooks that run sync-status after commits; ``guard``, the Claude Code
hook (declared in :mod:`..lean`)."""

from __future__ import annotations

from collections.abc import Callable

import typer

from .. import lean
from . import render
from .common import JsonOption, emit, hook_command, orch

# name, then help text: each command calls the function of that name in ..hooks
HOOK_COMMANDS = (
    ("install", """Install post-commit, post-rewrite and post-merge hooks (chaining existing ones).

    \b
    Example:
      claude-orchestrator hooks install
    """),
    ("uninstall", """Remove exactly the hooks `install` added, restoring chained ones.

    \b
    Example:
      claude-orchestrator hooks uninstall
    """),
    ("status", """Show whether the hooks are installed.

    \b
    Example:
      claude-orchestrator hooks status --json
    """),
)  # fmt: skip


def register_guard(app: typer.Typer) -> None:
    hook_command(app, lean.GUARD, lean.guard)


def _command(name: str, help_text: str) -> Callable[..., None]:
    def command(as_json: JsonOption = False) -> None:
        from .. import hooks

        states = getattr(hooks, name)(orch())
        emit(as_json, states, render.hook_states(states))

    command.__doc__ = help_text
    command.__name__ = f"hooks_{name}"
    return command


def register(hooks_app: typer.Typer) -> None:
    for name, help_text in HOOK_COMMANDS:
        hooks_app.command(name)(_command(name, help_text))
