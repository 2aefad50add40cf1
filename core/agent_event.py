"""``agent-event``: Claude Code's observation hook. It records what the agent is doing and
hands it the messages waiting for it.

The generated role files register it for SessionStart, UserPromptSubmit, PostToolUse,
PostToolUseFailure, PermissionRequest, Notification, Stop and SessionEnd. Each call reads
the hook JSON on stdin (at most :data:`MAX_INPUT` bytes), finds the agent from the
worktree's checked-out feature branch (``<prefix>/<spec>/overseer`` or
``.../impl-<area>``), and records the state the hook reports (:mod:`.agent_state`) when it
differs from the agent's current one; SessionStart is always recorded (it carries the
transcript's path). The record goes through ``events log-event``'s path
(:func:`.spool_writes.log_event`): when the store is busy or away it is spooled and stored
by the next command that reaches it.

Unlike the guard, this hook fails open and stays quiet: it always exits 0 and prints
nothing, except to deliver messages (:mod:`.messages`), which it does on

* UserPromptSubmit, PostToolUse and PostToolUseFailure, as
  ``hookSpecificOutput.additionalContext`` (the model reads it within the turn);
* Stop, as ``{"decision": "block", "reason": ...}``: the agent goes on with the message
  instead of ending its turn. Only while a message is pending (so it cannot loop), and
  then the agent is recorded as ``working``, not ``idle``: it is not idle, and nothing
  may type into its pane.

PermissionRequest and Notification never print (output there could answer a dialog).
Exit 2 would drop a prompt or keep a turn going, so no path here returns anything but 0.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from .spool_writes import HookOrchestrator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from .api import Orchestrator
    from .config_model import Config
    from .messages import Message
    from .models import Event

#: the largest hook input read (a tool's whole output comes with PostToolUse)
MAX_INPUT = 8 << 20
DETAIL = 200
#: the hooks the role files register, in the order they are written
HOOKS = ("SessionStart", "UserPromptSubmit", "PostToolUse", "PostToolUseFailure",
         "PermissionRequest", "Notification", "Stop", "SessionEnd")  # fmt: skip
#: the hooks that hand the agent its messages
DELIVERING = ("UserPromptSubmit", "PostToolUse", "PostToolUseFailure", "Stop")
WAITING_NOTIFICATIONS = ("permission_prompt", "elicitation_dialog")
#: the hooks after which the session's transcript is ingested (``metrics``)
INGESTING = ("Stop", "SessionEnd")


class Observation(NamedTuple):
    """What one hook call says (from :func:`parse`)."""

    hook: str
    #: the state it reports (None: none, e.g. SessionEnd after /clear)
    state: str | None
    session_id: str | None
    transcript_path: str | None
    cwd: str | None
    tool: str | None
    #: a short redacted text: the permission asked for, the tool call, the prompt
    detail: str
    stop_hook_active: bool = False


# --------------------------------------------------------------------------- parsing
def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) else None


def _short(text: str) -> str:
    from .guard_redact import redact

    one_line = " ".join(text.split())
    shown = redact(one_line[: DETAIL * 4])
    return shown if len(shown) <= DETAIL else shown[: DETAIL - 1] + "…"


def _tool_detail(tool: str | None, tool_input: object) -> str:
    if not isinstance(tool_input, dict):
        return tool or ""
    if tool == "AskUserQuestion":
        questions = tool_input.get("questions")
        first = questions[0] if isinstance(questions, list) and questions else None
        asked = first.get("question") if isinstance(first, dict) else None
        return f"a question: {asked}" if isinstance(asked, str) else "a question"
    for key in ("command", "file_path", "notebook_path", "url", "pattern", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return f"{tool}: {value}"
    return tool or ""


def _state(hook: str, payload: Mapping[str, Any]) -> tuple[str | None, str]:
    """(the state ``hook`` reports, the detail of it)."""
    tool = _text(payload, "tool_name")
    if hook == "SessionStart":
        return "starting", f"session {_text(payload, 'source') or 'started'}"
    if hook == "UserPromptSubmit":
        return "working", f"prompt: {_text(payload, 'prompt') or ''}"
    if hook in ("PostToolUse", "PostToolUseFailure"):
        failed = " (failed)" if hook == "PostToolUseFailure" else ""
        return "working", _tool_detail(tool, payload.get("tool_input")) + failed
    if hook == "PermissionRequest":
        detail = _tool_detail(tool, payload.get("tool_input"))
        return "waiting", detail if tool == "AskUserQuestion" else f"permission to use {detail}"
    if hook == "Notification":
        kind = _text(payload, "notification_type")
        message = _text(payload, "message") or ""
        if kind in WAITING_NOTIFICATIONS:
            return "waiting", message
        return ("idle", message) if kind == "idle_prompt" else (None, message)
    if hook == "Stop":
        return "idle", "turn finished"
    reason = _text(payload, "reason") or "other"  # SessionEnd
    return (None if reason == "clear" else "exited"), f"session ended ({reason})"


def parse(text: str) -> Observation | None:
    """The observation in a hook's stdin; None for anything that is not one of
    :data:`HOOKS`' payloads (never raises)."""
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    hook = payload.get("hook_event_name")
    if hook not in HOOKS:
        return None
    texts = ("session_id", "transcript_path", "cwd", "tool_name")
    if any(payload.get(k) is not None and not isinstance(payload[k], str) for k in texts):
        return None
    state, detail = _state(hook, payload)
    return Observation(hook, state, _text(payload, "session_id"),
                       _text(payload, "transcript_path"), _text(payload, "cwd"),
                       _text(payload, "tool_name"), _short(detail),
                       payload.get("stop_hook_active") is True)  # fmt: skip


# ---------------------------------------------------------------------------- agent
class ObserverOrchestrator(HookOrchestrator):
    """The hook's :class:`~.spool_writes.HookOrchestrator`: its events go to the outbox
    notifiers (webhooks, the feed), not to the inline ones. The ``markdown`` notifier
    rewrites every state file of the feature, finding the worktrees through the VCS, on
    each event: on every step of every agent that would cost the agent more than the
    rest of the hook, and rewrite files under agents working in them. The state files
    take the new events with the next command that rewrites them."""

    @cached_property
    def config(self) -> Config:
        """The worktree's config, unless it is one the agent may have bent: when it does
        not load, or names another branch prefix or store than the defaults, the config
        committed on the overseer branch, found as the guard finds it (an agent must not
        hide from its own hook, which halts it on a budget, by editing its copy)."""
        from .config import default_config
        from .errors import OrchestratorError

        default = default_config()
        try:
            copy = super().config
        except OrchestratorError:
            copy = None
        keys = ("branches", "store")
        if copy is not None and all(copy.data.get(k) == default.data.get(k) for k in keys) \
                and copy.store_plugin == default.store_plugin:  # fmt: skip
            return copy
        from .guard_context import open_vcs
        from .guard_hook import _head_branch, _rules

        try:
            vcs = open_vcs(self.location, default, registry=self.registry)
            branch = _head_branch(self.location.git_dir) or "(detached HEAD)"
            return _rules("implementor", vcs, self.location, branch)[0]
        except OrchestratorError:
            return copy if copy is not None else default

    def notify(self, *events: Event, changed: Sequence[str] = ()) -> list[Path]:
        from .protocols import OUTBOX

        outbox = [name for name, notifier in self.notifiers()
                  if getattr(notifier, "delivery", None) == OUTBOX]  # fmt: skip
        if outbox and events:
            from .outbox import start_delivery

            start_delivery(self.location, self.store_path, self._env, outbox)
        return []


class Agent(NamedTuple):
    spec_id: str
    role: str
    worktree: str


def find_agent(orch: Orchestrator) -> Agent | None:
    """The agent whose feature branch is checked out where ``orch`` runs; None outside
    one."""
    from .guard_hook import _head_branch
    from .workflow import parse_branch

    location = orch.location
    branch = _head_branch(location.git_dir)
    if branch is None:
        return None
    parsed = parse_branch(orch.config.branch_prefix, branch)
    if parsed is None:
        return None
    return Agent(parsed.spec_id, parsed.role, str(location.root))


# ------------------------------------------------------------------------- recording
def _event(agent: Agent, seen: Observation, state: str) -> list[str | None]:
    from .agent_state import EVENT_OF_STATE
    from .store_ops import now

    # ``clock``: this machine's time now; the store's time of the record minus it is the
    # agent's clock offset, which moves its transcript's times onto the store's clock
    metadata: dict[str, Any] = {"hook": seen.hook, "session_id": seen.session_id,
                                "transcript_path": seen.transcript_path, "tool": seen.tool,
                                "detail": seen.detail, "clock": now()}  # fmt: skip
    if seen.hook == "SessionStart":
        metadata["worktree"] = agent.worktree
    message = seen.detail or state
    return [agent.spec_id, agent.role, EVENT_OF_STATE[state], message, None, None,
            json.dumps(metadata)]  # fmt: skip


class Current(NamedTuple):
    #: the agent's state; None when the store cannot say (the record is written, or spooled)
    state: str | None
    #: the messages this call delivers
    delivered: list[Message]
    #: why the agent must stop (an exceeded budget, ``on_exceed: stop``), or None
    halt: str | None = None


def _current(orch: Orchestrator, agent: Agent, how: str | None) -> Current:
    """The agent's state, the messages this call delivers and whether a budget halts
    it, in one transaction."""
    from .agent_state import STATE_TYPES, latest_state
    from .messages import TYPES, delivered_event, pending_of, route

    if how is not None:
        route(orch)
    written: list[Event] = []
    halt = None
    with orch.store.transaction() as tx:
        events = tx.events(agent.spec_id, role=agent.role, types=(*STATE_TYPES, *TYPES))
        state = latest_state(events)[0]
        # a budget halts only once one was exceeded; whether it does is the committed
        # config's word (the worktree's copy is the agent's to edit)
        exceeded = tx.events(agent.spec_id, types=("budget_exceeded",)) if how else []
        if exceeded:
            from .metrics_budget import halt_reason, trusted_config

            caps = trusted_config(orch, agent.spec_id).data.get("budgets") or {}
            halt = halt_reason(exceeded, caps, agent.role)
        waiting = pending_of(events) if how is not None and halt is None else []
        written = [tx.append(delivered_event(m, how)) for m in waiting if how is not None]
    if written:
        orch.notify(*written)
    return Current(state, waiting, halt)


def observe(orch: Orchestrator, seen: Observation) -> str:
    """Record ``seen`` for the agent of ``orch``'s worktree and deliver its messages:
    what the hook prints ("" for nothing)."""
    from .errors import OrchestratorError
    from .spool_writes import log_event, new_event

    agent = find_agent(orch)
    if agent is None:
        return ""
    how = seen.hook if seen.hook in DELIVERING else None
    try:
        current = _current(orch, agent, how)
    except OrchestratorError:
        current = Current(None, [])
    state, delivered = current.state, current.delivered
    new_state = seen.state
    if seen.hook == "Stop" and delivered:
        new_state = "working"  # it goes on with the message
    if new_state is not None and (new_state != state or seen.hook == "SessionStart"):
        log_event(orch, new_event(_event(agent, seen, new_state)))
    if seen.hook in INGESTING and seen.transcript_path:
        start_ingest(orch, agent, seen)
    if current.halt is not None:
        return halt_output(seen.hook, current.halt)
    return output(seen.hook, delivered)


def start_ingest(orch: Orchestrator, agent: Agent, seen: Observation) -> None:
    """Ingest the session's transcript in the background (``metrics ingest --hook``):
    only a transcript where Claude Code keeps them, so a payload typed by hand cannot
    make the agent's usage out of a file it wrote."""
    from .metrics import claude_dirs
    from .outbox import spawn_detached

    path = os.path.realpath(str(seen.transcript_path))
    roots = [os.path.realpath(root) for root in claude_dirs(orch._env)]
    if not path.endswith(".jsonl") or not any(path.startswith(r + os.sep) for r in roots):
        return
    argv = ["metrics", "ingest", "--hook", "--agent", f"{agent.spec_id}:{agent.role}", path]
    spawn_detached(orch.location, orch.store_path, orch._env,
                   [*argv, "--final"] if seen.hook == "SessionEnd" else argv)  # fmt: skip


def halt_output(hook: str, reason: str) -> str:
    """What the hook prints to stop the agent: a prompt is refused; after a tool call
    the turn ends (Claude Code's ``continue: false``)."""
    if hook == "UserPromptSubmit":
        return json.dumps({"decision": "block", "reason": reason})
    if hook == "Stop":
        return ""  # it is stopping
    return json.dumps({"continue": False, "stopReason": reason})


def output(hook: str, delivered: list[Message]) -> str:
    """What the hook prints to hand ``delivered`` to the agent ("" for nothing)."""
    if not delivered:
        return ""
    text = "\n\n".join(
        f"Message from {m.sender} (claude-orchestrator tell, message {m.id}):\n{m.text}"
        for m in delivered
    )
    if hook == "Stop":
        return json.dumps({"decision": "block", "reason": text})
    return json.dumps({"hookSpecificOutput": {"hookEventName": hook, "additionalContext": text}})


def run(stdin_text: str, env: Mapping[str, str]) -> str:
    """The hook's output for one call (raises only what :func:`main` swallows)."""
    seen = parse(stdin_text)
    if seen is None:
        return ""
    from .location import discover

    location = discover(None, env)  # where Claude Code runs the hook: the agent's worktree
    if location.common_dir is None:
        return ""
    if seen.cwd and os.path.isdir(seen.cwd) and discover(seen.cwd, env).root != location.root:
        # a payload naming another worktree: typed by hand (`claude-orchestrator
        # agent-event` from an agent's shell), not sent by Claude Code; it must not record
        # another agent's state or take the messages waiting for it
        return ""
    with ObserverOrchestrator(location.root, env=env, on_warning=_quiet) as orch:
        return observe(orch, seen)


def _quiet(text: str) -> None:
    """Warnings stay unsaid: the hook prints nothing but messages."""


def main() -> int:
    """``agent-event``: always 0; prints only a delivery."""
    try:
        text = sys.stdin.read(MAX_INPUT + 1)
        printed = "" if len(text) > MAX_INPUT else run(text, os.environ)
    except BaseException:  # fail open, whatever happened
        return 0
    if printed:
        try:
            sys.stdout.write(printed + "\n")
            sys.stdout.flush()
        except BaseException:
            return 0
    return 0
