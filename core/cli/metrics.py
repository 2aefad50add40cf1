"""``metrics``: what each agent, task, PR, feature and day cost (from Claude Code's
transcripts), where the time went, the HTML report and the plots."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from typer.core import TyperGroup

from ..errors import OrchestratorError, ValidationError
from ..metrics_model import GROUPINGS
from ..render import table, to_json
from .common import DbOption, JsonOption, emit, orch, out, warn

if TYPE_CHECKING:
    from ..metrics import Ingested
    from ..metrics_model import CostReport, CostRow, FlowReport

HEADERS = ["messages", "input", "output", "cache write", "cache read", "cost"]
#: what one hook-started ingest reads of a transcript at most (the rest at the next Stop)
HOOK_BYTES = 32 << 20
OutFile = Annotated[Path, typer.Option("--out", help="The file to write.", show_default=False)]


class DefaultShow(TyperGroup):
    """``metrics [SPEC] [OPTIONS]`` is ``metrics show [SPEC] [OPTIONS]``: a first
    argument that is not one of the group's commands goes to ``show``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first not in self.commands and first not in ("-h", "--help"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


def make_group() -> typer.Typer:
    return typer.Typer(
        cls=DefaultShow,
        help="Cost and flow metrics: tokens and US dollars per agent, task, PR, feature and "
        "day, from Claude Code's transcripts; cycle times, waiting and blocked time.\n\n"
        "`metrics [SPEC]` is `metrics show [SPEC]`.\n\n"
        "\b\nExample:\n  claude-orchestrator metrics ingest\n"
        "  claude-orchestrator metrics 003-reading-goals --by task",
        rich_markup_mode=None,
    )


def _row(row: CostRow) -> list[object]:
    from ..metrics_report import money

    t = row.tokens
    cost = money(row.cost) + (f" (+{row.unpriced} unpriced)" if row.unpriced else "")
    return [row.key, f"{t.messages:,}", f"{t.input_tokens:,}", f"{t.output_tokens:,}",
            f"{t.cache_write_tokens:,}", f"{t.cache_read_tokens:,}", cost]  # fmt: skip


def cost_text(report: CostReport) -> str:
    rows = [_row(r) for r in report.rows]
    lines = [table([report.by, *HEADERS], [*rows, _row(report.total)])]
    for unknown in report.unknown_models:
        lines.append(
            f"warning: model {unknown.model} has no price ({unknown.messages} replies, "
            f"{unknown.tokens:,} tokens not in the cost): add it under prices: in "
            "orchestrator.yaml"
        )
    lines.append(f"priced by the table shipped on {report.prices_date} and the config's prices:")
    return "\n".join(lines)


def cost_csv(report: CostReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([report.by, "spec_id", "messages", "input_tokens", "output_tokens",
                     "cache_write_tokens", "cache_read_tokens", "cost_usd",
                     "unpriced"])  # fmt: skip
    for row in [*report.rows, report.total]:
        t = row.tokens
        writer.writerow([row.key, row.spec_id or "", t.messages, t.input_tokens,
                         t.output_tokens, t.cache_write_tokens, t.cache_read_tokens,
                         f"{row.cost:.6f}", row.unpriced])  # fmt: skip
    return buffer.getvalue()


def ingest_json(done: Ingested) -> dict[str, object]:
    return {"files": [f._asdict() for f in done.files], "stored": done.stored,
            "problems": done.problems,
            "budget_events": [e._asdict() for e in done.budget_events]}  # fmt: skip


def ingest_text(done: Ingested) -> str:
    read = sum(f.read for f in done.files)
    duplicates = sum(f.duplicates for f in done.files)
    lines = [f"{len(done.files)} transcript(s): {read:,} replies read, {done.stored:,} new, "
             f"{duplicates:,} already counted"]  # fmt: skip
    lines += [f"recorded {e.event_type}: {e.message}" for e in done.budget_events]
    return "\n".join(lines)


def flow_text(report: FlowReport) -> str:
    def hours(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds / 3600:.1f} h"

    tasks = [[t.task_id, t.role, hours(t.cycle_seconds), hours(t.merge_wait_seconds),
              hours(t.blocked_seconds), "; ".join(t.blocked_by)] for t in report.tasks]  # fmt: skip
    agents = [[a.role, a.tasks_done,
               "-" if a.throughput_per_day is None else f"{a.throughput_per_day:.1f}",
               hours(a.working_seconds), hours(a.waiting_seconds), hours(a.idle_seconds)]
              for a in report.agents]  # fmt: skip
    feature = report.feature
    prs = [[f"#{p.pr_number or p.id}", p.role, p.status, hours(p.seconds_to_merge),
            ", ".join(p.tasks)] for p in feature.pull_requests]  # fmt: skip
    conflicts = [[c.id, c.role, c.other_role, hours(c.open_seconds),
                  "open" if c.resolved_at is None else "resolved"]
                 for c in feature.conflicts]  # fmt: skip
    return "\n\n".join([
        table(["task", "agent", "cycle", "waiting for merge", "blocked", "blocked by"], tasks),
        table(["agent", "tasks done", "per day", "working", "waiting", "idle"], agents),
        table(["PR", "agent", "status", "time to merge", "tasks"], prs),
        table(["conflict", "agent", "with", "open for", "state"], conflicts),
        f"guard denials: {feature.guard_denials}; tests red on the overseer branch while "
        f"green on the implementor's: {feature.red_on_overseer_green_on_implementor}",
    ])  # fmt: skip


def _format(value: str) -> str:
    from ..metrics_plot import FORMATS

    if value not in FORMATS:
        raise ValidationError(f"--format {value!r}: give one of {', '.join(FORMATS)}")
    return value


def register(metrics: typer.Typer) -> None:
    @metrics.command("show")
    def show(
        spec_id: Annotated[str | None, typer.Argument(help="Spec id (default: every "
                           "feature).", show_default=False)] = None,
        by: Annotated[str, typer.Option("--by",
                      help=f"Group by {', '.join(GROUPINGS)}.")] = "agent",
        since: Annotated[str | None, typer.Option("--since", help="Only replies from this "
                         "UTC date or time on (2026-12-01, 2026-12-01T09:30).",
                         show_default=False)] = None,
        as_csv: Annotated[bool, typer.Option("--csv",
                          help="Print CSV (for spreadsheets).")] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """What the agents' Claude Code replies cost, in tokens and US dollars, grouped by
        agent, task (the task the agent had in progress), PR (the tasks it merged),
        feature or day, with totals. Models without a price are listed, not priced as 0.

        \b
        Example:
          claude-orchestrator metrics 003-reading-goals --by task
          claude-orchestrator metrics --by day --since 2026-12-01 --csv > cost.csv
        """
        from ..metrics import costs

        if as_json and as_csv:
            raise ValidationError("--json and --csv: choose one")
        report = costs(orch(db), spec_id, by, since)
        if as_csv:
            sys.stdout.write(cost_csv(report))
            return
        emit(as_json, report, cost_text(report))

    @metrics.command("ingest")
    def ingest_cmd(
        paths: Annotated[list[str] | None, typer.Argument(help="Transcripts (.jsonl) or "
                         "folders of them (default: ~/.claude/projects).",
                         show_default=False)] = None,
        final: Annotated[bool, typer.Option("--final", help="The sessions have ended: read "
                         "a last line that has no newline too.")] = False,
        agent: Annotated[str | None, typer.Option("--agent", help="SPEC:ROLE to charge for "
                         "replies whose branch names no agent.", show_default=False)] = None,
        hook: Annotated[bool, typer.Option("--hook", help="As started by the agent-event "
                        "hook: quiet, problems to notify.log, exit 0.")] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Read Claude Code session transcripts and keep each reply's token usage (once:
        a re-read reads only new lines, a reply repeated in another transcript counts
        once), then check the budgets. The launcher's agents are ingested by their own
        Stop and SessionEnd hooks; this is for sessions started by hand.

        \b
        Example:
          claude-orchestrator metrics ingest ~/.claude/projects/-home-me-repo
        """
        from ..metrics import ingest

        handle = orch(db)
        charged = _agent(agent)
        if hook:
            from .. import outbox

            try:
                # a hook's first read of a long session goes on at its next Stop
                done = ingest(handle, paths or [], agent=charged, final=final,
                              max_bytes=HOOK_BYTES)  # fmt: skip
                for problem in done.problems[:20]:
                    outbox.log_line(handle.location.state_dir, "metrics", problem)
            except (OrchestratorError, OSError) as exc:
                outbox.log_line(handle.location.state_dir, "metrics", f"error: {exc}")
            return
        from ..errors import refuse_implementor

        if paths:  # an implementor's usage comes from its own hook's transcript only
            refuse_implementor("metrics ingest PATH")
        done = ingest(handle, paths or [], agent=charged, final=final)
        for problem in done.problems:
            warn(problem)
        emit(as_json, ingest_json(done), ingest_text(done))

    @metrics.command("flow")
    def flow_cmd(
        spec_id: Annotated[str, typer.Argument(help="Spec id.", show_default=False)],
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Where the feature's time went: per task cycle time (started -> completed),
        time waiting for merge and blocked (and by what); per agent tasks done,
        throughput and time working / waiting for the person / idle; conflicts and how
        long they stayed open, guard denials, PRs and their time to merge.

        \b
        Example:
          claude-orchestrator metrics flow 003-reading-goals --json
        """
        from ..metrics import flow

        report = flow(orch(db), spec_id)
        emit(as_json, report, flow_text(report))

    @metrics.command("report")
    def report_cmd(
        spec_id: Annotated[str, typer.Argument(help="Spec id.", show_default=False)],
        out_file: OutFile,
        db: DbOption = None,
    ) -> None:  # fmt: skip
        """Write one self-contained HTML page (works offline) with the feature's cost by
        agent, task, PR and day, its flow metrics and the plots. Needs the plot extra.

        \b
        Example:
          claude-orchestrator metrics report 003-reading-goals --out report.html
        """
        from ..metrics_files import write_report

        path = write_report(orch(db), spec_id, out_file)
        out(f"wrote {_shown(path)}")

    @metrics.command("plot")
    def plot_cmd(
        spec_id: Annotated[str, typer.Argument(help="Spec id.", show_default=False)],
        out_dir: Annotated[Path, typer.Option("--out", help="The folder to write the plots "
                           "into.", show_default=False)],
        fmt: Annotated[str, typer.Option("--format", help="png or svg.")] = "png",
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Draw the feature's cost per agent over time, its tasks burn-down and its
        cycle-time distribution (PNG or SVG). Needs the plot extra.

        \b
        Example:
          claude-orchestrator metrics plot 003-reading-goals --out plots --format svg
        """
        from ..metrics_files import write_plots

        written = [_shown(p) for p in write_plots(orch(db), spec_id, out_dir, _format(fmt))]
        emit(as_json, written, "\n".join(f"wrote {p}" for p in written))

    @metrics.command("prices")
    def prices_cmd(db: DbOption = None, as_json: JsonOption = False) -> None:
        """The price table in use: the shipped one (dated) with the config's prices:
        over it, in US dollars per million tokens.

        \b
        Example:
          claude-orchestrator metrics prices
        """
        from ..metrics import price_table
        from ..metrics_prices import PRICES_DATE, SHIPPED

        prices = price_table(orch(db))
        rows = {**{n: (p, f"shipped {PRICES_DATE}") for n, p in SHIPPED.items()},
                **{n: (p, "config") for n, p in prices.overrides.items()}}  # fmt: skip
        shown = [[name, p.input, p.output, p.cache_write, p.write_1h, p.cache_read, source]
                 for name, (p, source) in sorted(rows.items())]  # fmt: skip
        value = [{"model": r[0], "input": r[1], "output": r[2], "cache_write": r[3],
                  "cache_write_1h": r[4], "cache_read": r[5], "source": r[6]}
                 for r in shown]  # fmt: skip
        headers = ["model", "input", "output", "cache write", "cache write 1h", "cache read",
                   "source"]  # fmt: skip
        emit(as_json, value, table(headers, shown))


def _shown(path: Path) -> str:
    """A path as text that can be printed (a name that is not UTF-8 keeps its bytes as
    ``\\x..`` escapes)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _agent(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    spec_id, sep, role = text.partition(":")
    if not sep or not spec_id or not role:
        raise ValidationError(f"--agent {text!r}: give SPEC:ROLE, e.g. 003-reading-goals:"
                              "implementor-data")  # fmt: skip
    from .. import validate as v

    return v.check_spec_id(spec_id), role


__all__ = ["make_group", "register", "to_json"]
