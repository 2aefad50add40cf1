"""The hook-path commands, declared once, and a lean entry that runs them.

Git hooks run ``events log-event`` and ``sync-status`` on every commit, and Claude Code
runs ``guard`` before every tool call and ``agent-event`` at each step of an agent's
session. Typer and its dependencies cost ~60 ms to import; those calls should cost little
more than Python's own start-up. So each of these commands is declared here once, as
plain data (:data:`LOG_EVENT`, :data:`SYNC_STATUS`, :data:`GUARD`, :data:`AGENT_EVENT`):
its arguments, options and help text. The Typer CLI builds its commands from the same
declarations (:func:`claude_orchestrator.cli.common.hook_command`), and
both entries run the same function (:func:`log_event`, :func:`sync_status`), so the two
cannot drift. This module parses simple argument lists itself; anything it does not
recognise — ``--help``, an unknown option, a wrong number of arguments — is handed to
the Typer CLI, so usage errors and help text have one source.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from .boundary import guarded

if TYPE_CHECKING:
    from pathlib import Path

    #: a parameter's value: text, a path (Typer makes ``--db`` one), or a flag
    Value = str | Path | bool | None
    Values = Mapping[str, Value]

DB_HELP = (
    "Event store file (default: <git common dir>/orchestrator/events.db; "
    "env CLAUDE_ORCHESTRATOR_DB)."
)
JSON_HELP = "Print one JSON document."
BRANCH_HELP = "Feature branch (default: the checked-out one)."
SPEC_HELP = "Spec id, e.g. 003-reading-goals."
ROLE_HELP = "overseer or implementor-<area>, e.g. implementor-data."


class Param(NamedTuple):
    """One argument (``flag`` None) or option of a hook-path command."""

    name: str  # the Python name, e.g. ``task_id`` (Typer's metavar TASK_ID)
    help: str | None = None
    flag: str | None = None
    required: bool = False
    kind: str = "str"  # "str", "path" (a file) or "bool" (a flag without a value)


class HookCommand(NamedTuple):
    """A command on the hook path: where it sits, its help text and its parameters."""

    path: tuple[str, ...]
    help: str
    params: tuple[Param, ...]

    def arguments(self) -> list[Param]:
        return [p for p in self.params if p.flag is None]

    def options(self) -> list[Param]:
        return [p for p in self.params if p.flag is not None]


DB = Param("db", DB_HELP, "--db", kind="path")
JSON = Param("as_json", JSON_HELP, "--json", kind="bool")

LOG_EVENT = HookCommand(
    ("events", "log-event"),
    """Append an event; prints nothing on success (it runs from git hooks).

    \b
    Example:
      claude-orchestrator events log-event 003-reading-goals implementor-data \\
        task_completed "Migrations done" T001 abc1234
    """,
    (
        Param("spec_id", SPEC_HELP, required=True),
        Param("role", ROLE_HELP, required=True),
        Param("event_type", "task_started, task_completed, ... or a custom type.", required=True),
        Param("message", "What happened.", required=True),
        Param("task_id", "Task id, e.g. T001."),
        Param("commit", "Commit id."),
        Param("metadata", "Extra data as a JSON object.", "--metadata"),
        DB,
        JSON,
    ),
)
SYNC_STATUS = HookCommand(
    ("sync-status",),
    """Turn the branch's new commits into task events (and, on the overseer, tasks.md).

    \b
    Example:
      claude-orchestrator sync-status --json
    """,
    (
        Param("branch", BRANCH_HELP, "--branch"),
        Param("from_hook", "Run as the named git hook: quiet, never fails.", "--from-hook"),
        DB,
        JSON,
    ),
)
GUARD = HookCommand(
    ("guard",),
    """Claude Code PreToolUse hook: read the tool call (JSON) on stdin, block what the
    role may not do (exit 2 with the reason), allow the rest (exit 0, silent).

    The generated permission files register it; it fails closed.

    \b
    Example:
      echo '{"tool_name": "Bash", "tool_input": {"command": "git merge main"}}' \\
        | claude-orchestrator guard --role implementor
    """,
    (Param("role", "implementor or overseer.", "--role", required=True),),
)
AGENT_EVENT = HookCommand(
    ("agent-event",),
    """Claude Code observation hook: read the hook JSON on stdin, record the agent's
    state (starting, working, waiting, idle, exited) and hand it pending messages.

    The generated permission files register it for SessionStart, UserPromptSubmit,
    PostToolUse, PostToolUseFailure, PermissionRequest, Notification, Stop and
    SessionEnd. It fails open: always exit 0, and it prints nothing unless it delivers
    a message (`claude-orchestrator tell`). A busy store spools the record.

    \b
    Example:
      echo '{"hook_event_name": "Stop", "session_id": "s", "cwd": "."}' \\
        | claude-orchestrator agent-event
    """,
    (),
)


class Parsed:
    def __init__(self) -> None:
        self.positional: list[str] = []
        self.options: dict[str, str] = {}
        self.flags: set[str] = set()


def parse(
    args: Sequence[str], *, minimum: int, maximum: int, options: set[str], flags: set[str]
) -> Parsed | None:
    """Parse ``args``; None means "not simple enough: let Typer handle it"."""
    result = Parsed()
    items = list(args)
    index = 0
    only_positional = False
    while index < len(items):
        item = items[index]
        index += 1
        if only_positional or not item.startswith("-") or item == "-":
            result.positional.append(item)
            continue
        if item == "--":
            only_positional = True
            continue
        name, sep, value = item.partition("=")
        if name in flags and not sep:
            result.flags.add(name)
        elif name in options:
            if not sep:
                if index >= len(items):
                    return None
                value = items[index]
                index += 1
            result.options[name] = value
        else:
            return None
    if not minimum <= len(result.positional) <= maximum:
        return None
    return result


def read_args(command: HookCommand, args: Sequence[str]) -> dict[str, Value] | None:
    """``args`` parsed for ``command``, as its parameters' values (the names Typer passes);
    None means "not simple enough: let Typer handle it"."""
    arguments, options = command.arguments(), command.options()
    parsed = parse(
        args,
        minimum=sum(p.required for p in arguments),
        maximum=len(arguments),
        options={p.flag for p in options if p.flag is not None and p.kind != "bool"},
        flags={p.flag for p in options if p.flag is not None and p.kind == "bool"},
    )
    if parsed is None or any(p.required and p.flag not in parsed.options for p in options):
        return None
    values: dict[str, Value] = {p.name: None for p in arguments}
    values.update(zip((p.name for p in arguments), parsed.positional, strict=False))
    for p in options:
        values[p.name] = (
            p.flag in parsed.flags if p.kind == "bool" else parsed.options.get(p.flag or "")
        )
    return values


def _text(values: Values, name: str) -> str | None:
    value = values[name]
    return None if value is None else str(value)


def _required(values: Values, name: str) -> str:
    value = _text(values, name)
    assert value is not None, f"{name} is required"  # both parsers see to it
    return value


def _path(values: Values, name: str) -> str | Path | None:
    value = values[name]
    return None if isinstance(value, bool) else value


def log_event(values: Values) -> int:
    """``events log-event``: append the event; print it only with --json. When the store
    cannot be reached, the event is spooled (one line on stderr; with --json, the
    record) and stored by the next command that reaches it: exit 0."""
    from .spool_writes import HookOrchestrator, Spooled, new_event
    from .spool_writes import log_event as write

    with HookOrchestrator(db=_path(values, "db"), on_warning=_warn) as orch:
        fields = ("spec_id", "role", "event_type", "message", "task_id", "commit", "metadata")
        new = new_event([_text(values, name) for name in fields])
        outcome = write(orch, new)
    if isinstance(outcome, Spooled):
        _warn(outcome.line())
    if values["as_json"]:
        from .render import to_json

        sys.stdout.write(to_json(outcome) + "\n")
    return 0


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def sync_status(values: Values) -> int:
    """``sync-status``: read new commits into events; as a git hook, quiet and never
    failing. When the store cannot be reached, the branch is spooled as needing a sync
    (one line on stderr; with --json, the record): exit 0."""
    from .spool_writes import HookOrchestrator, Spooled, sync

    with HookOrchestrator(db=_path(values, "db"), on_warning=_warn) as orch:
        hook = _text(values, "from_hook")
        if hook is not None:
            from .hooks import sync_from_hook

            sync_from_hook(orch, hook)
            return 0
        from .render import render_sync, sync_warnings, to_json

        result = sync(orch, branch=_text(values, "branch"))
        if isinstance(result, Spooled):
            _warn(result.line())
            if values["as_json"]:
                sys.stdout.write(to_json(result) + "\n")
            return 0
        for warning in sync_warnings(result):
            print(warning, file=sys.stderr)
        sys.stdout.write(render_sync(result, values["as_json"] is True) + "\n")
    return 0


def guard(values: Values) -> int:
    """``guard --role ROLE``: the PreToolUse hook answers on its own protocol."""
    from .guard_hook import main

    return main(["--role", _required(values, "role")])


def agent_event(values: Values) -> int:
    """``agent-event``: the observation hook; always 0."""
    from .agent_event import main

    return main()


RUNS: dict[HookCommand, Callable[[Values], int]] = {
    LOG_EVENT: log_event,
    SYNC_STATUS: sync_status,
    GUARD: guard,
    AGENT_EVENT: agent_event,
}


def _run_guard(args: Sequence[str]) -> int | None:
    # the hook protocol parses its own arguments and fails closed on bad ones
    if any(a in ("-h", "--help") for a in args):
        return None
    from .guard_hook import main

    return main(list(args))


def _guarded_run(run: Callable[[Values], int], values: Values) -> int:
    return guarded(lambda: run(values))


def try_run(args: Sequence[str]) -> int | None:
    """Run ``args`` on the lean path if it handles them; None otherwise."""
    for command, run in RUNS.items():
        prefix = command.path
        if tuple(args[: len(prefix)]) != prefix:
            continue
        if command is GUARD:
            return _run_guard(args[len(prefix) :])
        if command is AGENT_EVENT:
            # a hook that must never fail: no argument makes it a usage error (exit 2
            # from UserPromptSubmit would drop the prompt); only --help goes to Typer
            if any(a in ("-h", "--help") for a in args[len(prefix) :]):
                return None
            return agent_event({})
        values = read_args(command, args[len(prefix) :])
        if values is None:
            return None
        return _guarded_run(run, values)
    return None
