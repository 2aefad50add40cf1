"""``up``, ``down``, ``attach`` and ``logs``: the feature's agents in tmux
(:mod:`..launcher`)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .common import DbOption, JsonOption, RoleArg, SpecArg, SpecOption, emit, orch, out, warn

if TYPE_CHECKING:
    from ..launcher import Stopped, UpResult


def _up_text(result: UpResult) -> str:
    lines = []
    for agent in result.agents:
        pid = f"pid {agent.pid}" if agent.pid else "no process"
        status = f", exit status {agent.status}" if agent.status is not None else ""
        hint = " (start it again with --restart)" if agent.state == "exited" else ""
        lines.append(f"{agent.window}: {agent.state} in {agent.target} ({pid}{status}){hint}")
    if result.sender_pid is not None:
        lines.append(f"notifications: notify run started (pid {result.sender_pid}; "
                     "stop it with `claude-orchestrator notify stop`)")  # fmt: skip
    lines.append(f"attach with: claude-orchestrator attach ROLE --spec {result.spec_id}")
    return "\n".join(lines)


def _down_text(stopped: list[Stopped]) -> str:
    if not stopped:
        return "no agent of this feature is in tmux"
    return "\n".join(f"{s.window}: stopped ({s.how}, pid {s.pid})" for s in stopped)


def register(app: typer.Typer) -> None:
    """Add ``up``, ``down``, ``attach`` and ``logs`` to ``app``."""
    from .. import launcher

    @app.command("up")
    def up(
        spec_id: SpecArg,
        roles: Annotated[
            str | None,
            typer.Option("--roles", help="Only these agents, comma-separated: overseer, "
                         "impl-<area> (default: all of the feature's).", show_default=False),
        ] = None,
        agent_cmd: Annotated[
            str | None,
            typer.Option("--agent-cmd", help="The program to start (default: agents.command, "
                         "claude).", show_default=False),
        ] = None,
        restart: Annotated[
            bool, typer.Option("--restart", help="Start exited agents again.")
        ] = False,
        permission_mode: Annotated[
            str, typer.Option("--permission-mode", help="Claude Code's permission mode: "
                              "default (a call the rules do not allow waits for an answer) "
                              "or dontAsk (it is denied).")
        ] = "default",
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Start the feature's agents in tmux, each in its worktree with its role's settings.

        One tmux session per feature, a window per agent, on the repository's own tmux
        server. Safe to re-run: running agents are left alone, exited ones are started
        again only with --restart.

        \b
        Example:
          claude-orchestrator up 003-reading-goals --roles overseer,impl-data
        """
        from ..validate import split_list

        result = launcher.up(orch(db), spec_id,
                             roles=split_list(roles) if roles is not None else None,
                             agent_cmd=agent_cmd, restart=restart,
                             permission_mode=permission_mode)  # fmt: skip
        for line in result.warnings:
            warn(f"warning: {line}")
        emit(as_json, result, _up_text(result))

    @app.command("down")
    def down(
        spec_id: SpecArg,
        role: Annotated[
            str | None,
            typer.Argument(help="Only this agent: overseer or impl-<area>.", show_default=False),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Stop the feature's agents (or one): ask each to exit, then signal its process.

        Escape and /exit first; after 10 s SIGTERM, then SIGKILL, to the process `up`
        recorded only (never by name). Closes the windows; records agent_stopped.

        \b
        Example:
          claude-orchestrator down 003-reading-goals impl-data
        """
        stopped = launcher.down(orch(db), spec_id, role)
        emit(as_json, stopped, _down_text(stopped))

    @app.command("attach")
    def attach(role: RoleArg, spec: SpecOption = None, db: DbOption = None) -> None:
        """Show an agent's tmux window (switch to it from inside tmux).

        On a terminal this replaces the command with tmux; otherwise it prints the tmux
        command to run.

        \b
        Example:
          claude-orchestrator attach impl-data
        """
        inside = bool(os.environ.get("TMUX"))
        argv = launcher.attach_argv(orch(db), role, spec, inside=inside)
        if not (sys.stdout.isatty() and sys.stdin.isatty()):
            import shlex

            out(("env -u TMUX " if inside else "") + shlex.join(argv))
            return
        env = dict(os.environ)
        env.pop("TMUX", None)  # a client of another tmux server may attach nested
        os.execve(argv[0], argv, env)  # noqa: S606 - tmux's argv, no shell

    @app.command("logs")
    def logs(
        role: RoleArg,
        spec: SpecOption = None,
        lines: Annotated[
            int | None,
            typer.Option("--lines", "-n", min=0, help="Only the last N lines.",
                         show_default=False),
        ] = None,
        db: DbOption = None,
    ) -> None:  # fmt: skip
        """Print an agent's tmux window: its screen and scrollback (an exited one's too).

        \b
        Example:
          claude-orchestrator logs impl-data --lines 40
        """
        text = launcher.logs(orch(db), role, spec, lines)
        sys.stdout.write(text)
