"""``events watch``: the live change feed (:meth:`~claude_orchestrator.api.Orchestrator.subscribe`),
one line per event as it is committed."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from .. import validate as v
from ..feed import check_after_id, check_timeout
from .common import DbOption, orch

if TYPE_CHECKING:
    from ..models import Event

#: events read per batch at most
BATCH = 1000


def register(events: typer.Typer) -> None:
    @events.command("watch")
    def watch_cmd(
        after: Annotated[
            int | None,
            typer.Option(
                "--after",
                help="Start after this event id (0: every stored event first). "
                "Default: only events committed from now on.",
                show_default=False,
            ),
        ] = None,
        limit: Annotated[
            int | None,
            typer.Option(
                "--limit",
                help="Exit after this many events (default: no limit).",
                show_default=False,
            ),
        ] = None,
        timeout: Annotated[
            float | None,
            typer.Option(
                "--timeout",
                help="Exit after this many seconds without a new event (default: run until "
                "interrupted; Ctrl-C exits 0).",
                show_default=False,
            ),
        ] = None,
        db: DbOption = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON object per line, as `recent --json`'s.")
        ] = False,
    ) -> None:
        """Print events as they are committed, one line each, oldest first.

        \b
        Example:
          claude-orchestrator events watch --after 0 --timeout 60 --json
        """
        cursor = None if after is None else check_after_id(after)
        wanted = None if limit is None else v.check_limit(limit)
        idle = None if timeout is None else check_timeout(timeout)
        shown = 0
        try:
            with orch(db).subscribe(cursor, limit=min(wanted or BATCH, BATCH)) as feed:
                for event in feed.events(idle):
                    _print(event_json(event) if as_json else event_line(event))
                    shown += 1
                    if shown == wanted:
                        break
        except KeyboardInterrupt:
            pass  # the way to stop watching: not an error


def event_line(event: Event) -> str:
    """One event on one line: id, time, feature, role, type, task, commit, message."""
    parts = [f"#{event.id}", event.created_at, event.spec_id, event.role, event.event_type]
    parts += [event.task_id] if event.task_id else []
    parts += [event.commit_hash[:7]] if event.commit_hash else []
    return " ".join(parts) + ": " + " ".join(event.message.split())


def event_json(event: Event) -> str:
    """The event as ``events recent --json`` shows it, on one line."""
    return json.dumps(event._asdict(), ensure_ascii=False)


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # a reader on a pipe sees each event as it comes
