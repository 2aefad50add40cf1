"""``agents``, ``tell`` and ``inbox``: what each agent is doing, and messages to them;
``agent-event``, the observation hook (declared in :mod:`..lean`)."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from .. import dashboard_api, lean
from ..render import to_json
from .common import DbOption, JsonOption, SpecOption, emit, hook_command, orch, out

if TYPE_CHECKING:
    from ..agent_state import AgentView
    from ..messages import Message


def _age(value: float | None) -> str:
    if value is None:
        return "-"
    whole = int(value)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def render_views(views: list[AgentView]) -> str:
    from ..render import table

    if not views:
        return "No agents: create a feature with `claude-orchestrator init-feature SPEC`."
    rows = [(v.spec_id, v.role, v.state, _age(v.seconds_in_state), v.task, v.last_tool,
             v.pending_messages or "", v.worktree, v.attach) for v in views]  # fmt: skip
    return table(("SPEC", "ROLE", "STATE", "FOR", "TASK", "LAST TOOL", "MSGS", "WORKTREE",
                  "ATTACH"), rows)  # fmt: skip


def render_messages(messages: list[Message]) -> str:
    from ..render import table

    if not messages:
        return "No messages."
    rows = [(m.id, m.sent_at, m.sender, m.to, m.status, m.how, m.text) for m in messages]
    return table(("ID", "SENT", "FROM", "TO", "STATUS", "HOW", "MESSAGE"), rows)


def register(app: typer.Typer) -> None:
    """Add ``agents``, ``tell``, ``inbox`` and ``agent-event`` to ``app``."""

    @app.command("agents")
    def agents(
        spec: Annotated[str | None, typer.Argument(help="Spec id (default: every feature).",
                                                   show_default=False)] = None,
        watch: Annotated[bool, typer.Option("--watch", help="Print again every 2 seconds "
                                            "until interrupted (with --json: one JSON "
                                            "document per line).")] = False,
        as_json: JsonOption = False,
        db: DbOption = None,
    ) -> None:  # fmt: skip
        """Show each agent's state (starting, working, waiting, idle, exited, stale), its
        current task, last tool call, time in state, worktree and how to attach.

        \b
        Example:
          claude-orchestrator agents 003-reading-goals --json
        """
        o = orch(db)
        while True:
            views = dashboard_api.agents(o, spec)
            if watch and as_json:  # a stream: one document per line
                out(json.dumps(json.loads(to_json(views)), separators=(",", ":")))
            else:
                emit(as_json, views, render_views(views))
            if not watch:
                return
            sys.stdout.flush()
            time.sleep(2)
            if not as_json:
                out("")

    @app.command("tell")
    def tell(
        role: Annotated[str, typer.Argument(help=lean.ROLE_HELP + " The recipient.")],
        message: Annotated[str, typer.Argument(help="The text.", show_default=False)],
        sender: Annotated[str | None, typer.Option("--from", help="person, overseer or "
                          "implementor-<area> (default: the role of the checked-out feature "
                          "branch, else person).", show_default=False)] = None,
        spec: SpecOption = None,
        as_json: JsonOption = False,
        db: DbOption = None,
    ) -> None:  # fmt: skip
        """Send a message to an agent: it reaches the agent's next turn (pending until then).

        \b
        Example:
          claude-orchestrator tell implementor-api "rebase on the overseer branch: T004 landed"
        """
        sent = dashboard_api.tell(orch(db), role, message, sender, spec)
        how = "delivered" if sent.delivered else "pending: it reaches the agent's next turn"
        if sent.nudged:
            how += " (it was idle: a line typed into its pane starts that turn)"
        emit(as_json, sent, f"message {sent.message.id} to {role}: {how}")

    @app.command("inbox")
    def inbox_command(
        role: Annotated[str | None, typer.Argument(help=lean.ROLE_HELP + " Default: every "
                                                   "agent's.", show_default=False)] = None,
        spec: SpecOption = None,
        as_json: JsonOption = False,
        db: DbOption = None,
    ) -> None:  # fmt: skip
        """Show the messages to an agent (or to every agent), pending or delivered.

        \b
        Example:
          claude-orchestrator inbox overseer --json
        """
        found = dashboard_api.inbox(orch(db), spec, role)
        emit(as_json, found, render_messages(found))

    hook_command(app, lean.AGENT_EVENT, lean.agent_event)
