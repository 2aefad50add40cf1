"""A lean entry for the commands git hooks run on every commit.

Typer and its dependencies cost ~60 ms to import; a post-commit hook that logs an
event should cost little more than Python's own start-up. This module parses the
arguments of those commands with a few lines of code and calls the *same* library
methods as the Typer commands. Anything it does not recognise — ``--help``, an unknown
option, a wrong number of arguments — is handed to the Typer CLI, so usage errors and
help text have one source.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .boundary import guarded


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


def _log_event(args: Sequence[str]) -> int | None:
    parsed = parse(args, minimum=4, maximum=6, options={"--metadata", "--db"}, flags={"--json"})
    if parsed is None:
        return None

    def call() -> int:
        from .api import Orchestrator

        spec_id, role, event_type, message, *rest = parsed.positional
        task_id = rest[0] if rest else None
        commit = rest[1] if len(rest) > 1 else None
        with Orchestrator(db=parsed.options.get("--db")) as orch:
            event = orch.log_event(
                spec_id,
                role,
                event_type,
                message,
                task_id,
                commit,
                parsed.options.get("--metadata"),
            )
        if "--json" in parsed.flags:
            from .render import to_json

            sys.stdout.write(to_json(event) + "\n")
        return 0

    return guarded(call)


def _sync_status(args: Sequence[str]) -> int | None:
    parsed = parse(args, minimum=0, maximum=0, options={"--branch", "--from-hook", "--db"},
                   flags={"--json"})  # fmt: skip
    if parsed is None:
        return None

    def call() -> int:
        from .api import Orchestrator

        with Orchestrator(db=parsed.options.get("--db")) as orch:
            hook = parsed.options.get("--from-hook")
            if hook is not None:
                from .hooks import sync_from_hook

                sync_from_hook(orch, hook)
                return 0
            from .render import render_sync
            from .workflow import sync_status

            result = sync_status(orch, branch=parsed.options.get("--branch"))
            sys.stdout.write(render_sync(result, "--json" in parsed.flags) + "\n")
        return 0

    return guarded(call)


def _guard(args: Sequence[str]) -> int | None:
    if any(a in ("-h", "--help") for a in args):
        return None
    from .guard_hook import main

    return main(list(args))


COMMANDS: dict[tuple[str, ...], Callable[[Sequence[str]], int | None]] = {
    ("guard",): _guard,
    ("events", "log-event"): _log_event,
    ("sync-status",): _sync_status,
}


def try_run(args: Sequence[str]) -> int | None:
    """Run ``args`` on the lean path if it handles them; None otherwise."""
    for prefix, handler in COMMANDS.items():
        if tuple(args[: len(prefix)]) == prefix:
            return handler(args[len(prefix) :])
    return None
