"""``notify``: the outbox notifiers and the notification channels (Slack, Discord,
webhooks, desktop, apprise): delivered by cursor and queue, never during a command."""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Annotated

import typer

from .. import outbox
from ..errors import OrchestratorError
from ..render import table
from .common import DbOption, JsonOption, emit, orch, out

HEADERS = ["notifier", "cursor", "pending", "note"]
WaitOption = Annotated[
    float,
    typer.Option("--wait", min=0, max=3600,
                 help="Seconds to keep sending what becomes due (retries, settling messages)."),
]  # fmt: skip


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
        wait: WaitOption = 30.0,
    ) -> None:
        """Deliver the stored events each outbox notifier has not had yet, and send the
        notifications that are due (going on while more become due soon, at most --wait).

        Exits 1 when a notifier failed (its events stay owed and go out next time), another
        process kept delivering to it for 30 s, or a notification was dead-lettered or is
        still waiting for a retry.

        \b
        Example:
          claude-orchestrator notify flush --json
        """
        from .. import notify_run

        handle = orch(db)
        channels = bool(handle.config.data["notifications"]["channels"])
        if background:  # nobody reads its output: what goes wrong goes to notify.log
            try:
                notify_run.background(handle)
            except (OrchestratorError, OSError) as exc:
                outbox.log_line(handle.location.state_dir, "notify", f"error: {exc}")
            return
        results = outbox.flush(handle)
        report = notify_run.run(handle, forever=False, wait_s=wait) if channels else None
        rows = [[r.notifier, "-" if r.cursor is None else str(r.cursor), str(r.pending),
                 _note(r)] for r in results]  # fmt: skip
        text = table(HEADERS, rows) if rows else "no outbox notifiers configured"
        outcomes = report.outcomes if report is not None else []
        broken = report.broken if report is not None else {}
        lines = [_outcome_line(o) for o in outcomes]
        lines += [f"cannot send to {name}: {why}" for name, why in broken.items()]
        if report is not None and report.queued:
            lines.append(f"{report.queued} notification(s) still queued: `notify run` or the "
                         "next flush sends them when due (notify channels)")  # fmt: skip
        text = "\n".join([text, *lines])
        value: object = [r.to_dict() for r in results]
        if channels:
            value = {"outbox": value, "sent": [o.to_dict() for o in outcomes], "broken": broken}
        emit(as_json, value, text)
        last = {o.id: o.result for o in outcomes}  # each notification's latest outcome
        unsent = any(r in ("dead", "retry") for r in last.values()) or broken
        if any(r.error or r.busy for r in results) or unsent:
            raise typer.Exit(1)

    @notify.command("status")
    def status_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Show each outbox notifier's cursor, how many events it is owed, its last failure
        (the channels' queues: `notify channels`).

        \b
        Example:
          claude-orchestrator notify status
        """
        states = outbox.status(orch(db))
        rows = [[s.notifier, "-" if s.cursor is None else str(s.cursor), str(s.pending),
                 s.last_error or ""] for s in states]  # fmt: skip
        text = table(HEADERS, rows) if rows else "no outbox notifiers configured"
        emit(as_json, [s.to_dict() for s in states], text)

    register_channels(notify)


def register_channels(notify: typer.Typer) -> None:
    @notify.command("run")
    def run_cmd(
        db: DbOption = None,
        as_json: JsonOption = False,
        interval: Annotated[
            float, typer.Option("--interval", min=0.05, max=60, help="Seconds between looks.")
        ] = 1.0,
    ) -> None:
        """Send notifications until stopped (SIGTERM or Ctrl-C): route new events, send what
        is due, retry what failed. `up` starts one when channels are configured; while one
        runs, commands start no background delivery. One line per send (--json: one JSON
        document per line).

        \b
        Example:
          claude-orchestrator notify run
        """
        from .. import notify_run

        handle = orch(db)
        stop: list[int] = []

        def on_signal(number: int, _frame: object) -> None:
            stop.append(number)

        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, on_signal)
        with contextlib.ExitStack() as stack:
            holder = notify_run.acquire(handle, stack)
            if holder is not None:
                who = f"pid {holder}" if holder > 0 else "another sender"
                out(f"notify run: another one is sending ({who}); nothing to do")
                raise typer.Exit(1)
            sender = notify_run.sender(handle)
            trouble = None
            while not stop:
                try:
                    report = notify_run.run(handle, forever=False, wait_s=0.0, send=sender,
                                            stopped=lambda: bool(stop))  # fmt: skip
                except (OrchestratorError, OSError) as exc:  # the store away: try again
                    said = f"cannot send now ({exc}); trying again"
                    if said != trouble:
                        outbox.log_line(handle.location.state_dir, "notify", said)
                        print(f"warning: {said}", file=sys.stderr, flush=True)
                    trouble = said
                    notify_run.pause(sender, max(interval, 5.0), stopped=lambda: bool(stop),
                                     look=False)  # fmt: skip
                    continue
                trouble = None
                for outcome in report.outcomes:
                    emit(as_json, outcome.to_dict(), _outcome_line(outcome))
                sys.stdout.flush()
                notify_run.pause(sender, interval, stopped=lambda: bool(stop))

    @notify.command("stop")
    def stop_cmd(db: DbOption = None) -> None:
        """Stop the `notify run` that runs in the background (as `up` started it).

        \b
        Example:
          claude-orchestrator notify stop
        """
        from .. import notify_run

        pid = notify_run.stop_background(orch(db))
        out("no notify run is running" if pid is None else f"stopped notify run (pid {pid})")

    @notify.command("channels")
    def channels_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Show each configured channel: where it sends, what it has queued and
        dead-lettered, its last failure, until when it must wait (429 Retry-After).

        \b
        Example:
          claude-orchestrator notify channels --json
        """
        from .. import notify_admin

        rows = notify_admin.channel_states(orch(db))
        text = table(["channel", "type", "target", "queued", "dead", "note"],
                     [[r.channel, r.type, r.target, str(r.queued), str(r.dead), r.note]
                      for r in rows]) if rows else "no channels configured"  # fmt: skip
        emit(as_json, [r.to_dict() for r in rows], text)

    @notify.command("failed")
    def failed_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """List the dead-lettered notifications: sent `retry.attempts` times without
        success, or refused for good (a 4xx other than 408 and 429).

        \b
        Example:
          claude-orchestrator notify failed --json
        """
        from .. import notify_admin

        rows = notify_admin.failed(orch(db))
        text = table(["id", "channel", "kind", "attempts", "status", "error", "title"],
                     [[str(r.id), r.channel, r.kind, str(r.attempts),
                       "-" if r.status is None else str(r.status), r.error, r.title]
                      for r in rows]) if rows else "no failed notifications"  # fmt: skip
        emit(as_json, [r.to_dict() for r in rows], text)

    @notify.command("retry")
    def retry_cmd(
        ids: Annotated[list[int] | None, typer.Argument(help="Ids from `notify failed`.")] = None,
        every: Annotated[bool, typer.Option("--all", help="Every dead-lettered one.")] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Queue dead-lettered notifications again (due now, attempts reset); `notify run`
        or `notify flush` sends them.

        \b
        Example:
          claude-orchestrator notify retry 12
        """
        from .. import notify_admin

        queued = notify_admin.retry(orch(db), ids or [], every=every)
        lines = [f"queued {n.id} for {n.channel}" for n in queued]
        value = [{"id": n.id, "channel": n.channel, "state": n.state} for n in queued]
        emit(as_json, value, "\n".join(lines) or "nothing to retry")

    @notify.command("test")
    def test_cmd(
        channel: Annotated[str, typer.Argument(help="A channel of notifications.channels.")],
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Send a sample message to CHANNEL now (not queued) and report how it went: exit 0
        when the receiver accepted it, 1 when it did not (the HTTP status and why).

        \b
        Example:
          claude-orchestrator notify test team-slack
        """
        from .. import notify_admin

        result = notify_admin.send_test(orch(db), channel)
        emit(as_json, result.to_dict(), result.line())
        if not result.ok:
            raise typer.Exit(1)


def _outcome_line(outcome: object) -> str:
    o = outcome  # an Outcome
    status = f" (HTTP {o.status})" if getattr(o, "status", None) else ""  # type: ignore[attr-defined]
    detail = f": {o.detail}" if getattr(o, "detail", "") else ""  # type: ignore[attr-defined]
    return f"{o.result} {o.kind} {o.id} to {o.channel}{status}{detail}"  # type: ignore[attr-defined]


def _note(result: outbox.Delivered) -> str:
    if result.error:
        return f"failed: {result.error}"
    if result.busy:
        return "another process is delivering"
    return f"delivered {result.delivered}"
