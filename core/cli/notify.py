"""``notify``: the outbox notifiers (delivered by cursor, never during a command)."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import outbox
from ..errors import OrchestratorError
from ..render import table
from .common import DbOption, JsonOption, emit, orch

HEADERS = ["notifier", "cursor", "pending", "note"]


def register(notify: typer.Typer) -> None:
    @notify.command("flush")
    def flush_cmd(
        db: DbOption = None,
        as_json: JsonOption = False,
        background: Annotated[
            bool,
            typer.Option(
                "--background",
                help="As started after a command: quiet, skip a notifier another process "
                "is delivering to, log failures to notify.log, exit 0.",
            ),
        ] = False,
    ) -> None:
        """Deliver the stored events each outbox notifier has not had yet.

        Exits 1 when a notifier failed (its events stay owed and go out next time) or
        another process kept delivering to it for 30 s.

        \b
        Example:
          claude-orchestrator notify flush --json
        """
        handle = orch(db)
        if background:  # nobody reads its output: what goes wrong goes to notify.log
            try:
                outbox.flush(handle, background=True)
            except (OrchestratorError, OSError) as exc:
                outbox.log_line(handle.location.state_dir, "notify", f"error: {exc}")
            return
        results = outbox.flush(handle)
        rows = [[r.notifier, "-" if r.cursor is None else str(r.cursor), str(r.pending),
                 _note(r)] for r in results]  # fmt: skip
        text = table(HEADERS, rows) if rows else "no outbox notifiers configured"
        emit(as_json, [r.to_dict() for r in results], text)
        if any(r.error or r.busy for r in results):
            raise typer.Exit(1)

    @notify.command("status")
    def status_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Show each outbox notifier's cursor, how many events it is owed, its last failure.

        \b
        Example:
          claude-orchestrator notify status
        """
        states = outbox.status(orch(db))
        rows = [[s.notifier, "-" if s.cursor is None else str(s.cursor), str(s.pending),
                 s.last_error or ""] for s in states]  # fmt: skip
        text = table(HEADERS, rows) if rows else "no outbox notifiers configured"
        emit(as_json, [s.to_dict() for s in states], text)


def _note(result: outbox.Delivered) -> str:
    if result.error:
        return f"failed: {result.error}"
    if result.busy:
        return "another process is delivering"
    return f"delivered {result.delivered}"
