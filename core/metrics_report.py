"""The metrics report (``metrics report SPEC --out report.html``): one HTML page with a
feature's cost and flow figures, the tables of :mod:`claude_orchestrator.metrics` and the
plots of :mod:`claude_orchestrator.metrics_plot`.

The page is self-contained and works offline: its styles are in it, its plots are inline
SVG, it has no script and names no URL of any kind (no CDN, font, image or stylesheet),
and its Content-Security-Policy (``default-src 'none'``) has the browser refuse to fetch
anything should a text ever smuggle a reference in. Every text in it is HTML-escaped:
roles, task ids, model names, file names and blockers' descriptions come from agents.
Each number is shown formatted (money as the ``metrics`` command shows it, durations in
hours) with its exact value in the cell's ``data-value``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape

from .metrics_model import (
    GROUPINGS,
    BurnPoint,
    ConflictFlow,
    CostPoint,
    CostReport,
    CostRow,
    FlowReport,
    PullRequestFlow,
    TaskFlow,
    UnknownModel,
)
from .metrics_plot import drawable

#: nothing may be fetched; the page's own styles (and the SVGs' style attributes) apply
CSP = "default-src 'none'; style-src 'unsafe-inline'"
#: each cost grouping's column heading
KEY_HEADINGS = {"agent": "agent", "task": "task", "pr": "PR", "feature": "feature", "day": "day"}
COST_HEADINGS = ("replies", "input", "output", "cache write", "cache read", "tokens",
                 "cost (USD)", "unpriced replies")  # fmt: skip
NONE = "\u2014"
_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 76em;
       padding: 0 1em; color: #1f2328; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; }
p.meta { color: #59636e; margin-top: 0; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(13em, 1fr));
             gap: .6em; }
dl.summary div { border: 1px solid #d1d9e0; border-radius: 6px; padding: .5em .8em; }
dt { color: #59636e; font-size: .9em; } dd { margin: 0; font-size: 1.3em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border-bottom: 1px solid #d1d9e0; padding: .25em .7em; text-align: left;
         vertical-align: top; }
thead th { border-bottom: 2px solid #818b98; } tfoot th, tfoot td { font-weight: bold;
         border-top: 2px solid #818b98; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.none { color: #818b98; } code { font-size: .92em; }
p.warning { color: #9a6700; }
"""
_NUMERIC = ' class="n"'
_MISSING = f'<td class="none">{NONE}</td>'
_MISSING_NUMBER = f'<td class="n none">{NONE}</td>'
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z?")
_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_ID = re.compile(r'\sid="([^"]*)"')
_REFERENCE = re.compile(r'(?:url\(#|href="#)([^)"]+)')
_NAMESPACES = re.compile(r'\sxmlns(?::xlink)?="[^"]*"')


def render(
    spec_id: str,
    costs: Mapping[str, CostReport],
    flow: FlowReport,
    points: Sequence[CostPoint],
    burn: Sequence[BurnPoint],
    *,
    generated_at: str,
) -> str:
    """The feature's report page: a summary, the three plots, a cost table per grouping
    of ``costs`` (in :data:`GROUPINGS` order, each with its total row) and the models
    without a price, then the flow tables (tasks, agents, PRs, conflicts).

    :param costs: a grouping (``agent``, ``task``, ``pr``, ``day``...) to its report
    :param points: the replies' costs on the timeline (the cost-per-agent plot)
    :param burn: the tasks burn-down
    :param generated_at: when the figures were taken (shown as given)
    :raises ValidationError: matplotlib is not installed (the plots need it)
    """
    reports = [costs[by] for by in _ordered(costs)]
    sections = [
        f"<header><h1>{_text(spec_id)}: cost and flow</h1>",
        f'<p class="meta">generated {_text(generated_at)}; durations until '
        f"{_text(flow.now)}; times UTC{_prices_note(reports)}</p></header>",
        _summary(reports, flow, burn),
        _plots(spec_id, flow, points, burn),
        '<section id="costs"><h2>Cost</h2>',
        *(_cost_table(by, costs[by]) for by in _ordered(costs)),
        _unknown_models(reports),
        "</section>",
        '<section id="flow"><h2>Flow</h2>',
        _task_table(flow.tasks, flow.feature.pull_requests),
        _agent_table(flow),
        _pull_request_table(flow.feature.pull_requests),
        _conflict_table(flow.feature.conflicts),
        "</section>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(spec_id)}: cost and flow</title>\n"
        f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def _ordered(costs: Mapping[str, CostReport]) -> list[str]:
    return [by for by in GROUPINGS if by in costs] + [by for by in costs if by not in GROUPINGS]


def _prices_note(reports: list[CostReport]) -> str:
    if not reports:
        return ""
    since = f"; cost since {_text(reports[0].since)}" if reports[0].since else ""
    dated = _text(reports[0].prices_date)
    return f"{since}; prices: the shipped table of {dated} under the config's <code>prices:</code>"


# ---------------------------------------------------------------------------- the cells
def _text(value: object) -> str:
    """Escaped, with what no page can hold (a lone surrogate would not even encode)
    replaced as the plots replace it."""
    return escape(drawable(str(value)), quote=True)


def _cell(text: str, value: object = None, *, numeric: bool = False) -> str:
    """A ``<td>`` of escaped ``text``; ``value`` (the exact figure) in its data-value."""
    attributes = _NUMERIC if numeric else ""
    if value is not None:
        attributes += f' data-value="{_text(value)}"'
    return f"<td{attributes}>{_text(text)}</td>"


def _count(value: int) -> str:
    return _cell(f"{value:,}", value, numeric=True)


def money(value: float) -> str:
    """US dollars as the ``metrics`` command shows them: cents, or four decimals below one."""
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def hours(seconds: float) -> str:
    """A duration in hours, one decimal."""
    return f"{seconds / 3600:,.1f} h"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return _MISSING_NUMBER
    return _cell(hours(seconds), repr(float(seconds)), numeric=True)


def _time(stamp: str | None) -> str:
    if stamp is None:
        return _MISSING
    shown = stamp[:19].replace("T", " ") if _STAMP.fullmatch(stamp) else stamp
    return f'<td><time datetime="{_text(stamp)}">{_text(shown)}</time></td>'


def _table(table_id: str, headings: Sequence[str], rows: list[list[str]],
           foot: list[str] | None = None, *, numeric_from: int = 99) -> str:  # fmt: skip
    """A table of ``rows`` (each a list of ``<td>``); the headings from ``numeric_from``
    on are numbers' (right-aligned)."""
    heads = "".join(f'<th{_NUMERIC if i >= numeric_from else ""} scope="col">{_text(h)}</th>'
                    for i, h in enumerate(headings))  # fmt: skip
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    tail = f"<tfoot><tr>{''.join(foot)}</tr></tfoot>" if foot else ""
    return (f'<table id="{table_id}"><thead><tr>{heads}</tr></thead>'
            f"<tbody>{body}</tbody>{tail}</table>")  # fmt: skip


def _none_yet(what: str) -> str:
    return f'<p class="none">No {_text(what)} yet.</p>'


# -------------------------------------------------------------------------- the sections
def _summary(reports: list[CostReport], flow: FlowReport, burn: Sequence[BurnPoint]) -> str:
    items: list[tuple[str, str, object]] = []
    if reports:
        total = reports[0].total
        items += [("cost", money(total.cost), repr(float(total.cost))),
                  ("replies", f"{total.tokens.messages:,}", total.tokens.messages),
                  ("tokens", f"{total.tokens.total:,}", total.tokens.total),
                  ("unpriced replies", f"{total.unpriced:,}", total.unpriced)]  # fmt: skip
    done = sum(1 for task in flow.tasks if task.completed_at or task.merged_at)
    items.append(("tasks completed", f"{done:,}", done))
    if burn:
        last = max(burn, key=lambda point: point.at)
        items.append(("tasks not done", f"{last.remaining:,} of {last.total:,}", last.remaining))
    feature = flow.feature
    merged = sum(1 for pr in feature.pull_requests if pr.merged_at is not None)
    still_open = sum(1 for c in feature.conflicts if c.resolved_at is None)
    items += [("PRs merged", f"{merged:,} of {len(feature.pull_requests):,}", merged),
              ("conflicts open", f"{still_open:,} of {len(feature.conflicts):,}", still_open),
              ("guard denials", f"{feature.guard_denials:,}", feature.guard_denials),
              ("tests red on the overseer, green on the implementor",
               f"{feature.red_on_overseer_green_on_implementor:,}",
               feature.red_on_overseer_green_on_implementor)]  # fmt: skip
    cards = "".join(f'<div><dt>{_text(name)}</dt><dd data-value="{_text(value)}">'
                    f"{_text(shown)}</dd></div>" for name, shown, value in items)  # fmt: skip
    return f'<section id="summary"><dl class="summary">{cards}</dl></section>'


def _plots(spec_id: str, flow: FlowReport, points: Sequence[CostPoint],
           burn: Sequence[BurnPoint]) -> str:  # fmt: skip
    from .metrics_plot import burn_down, cost_over_time, cycle_times

    charts = [
        ("cost per agent",
         cost_over_time(points, title=f"{spec_id}: cost per agent", fmt="svg")),
        ("tasks burn-down", burn_down(burn, title=f"{spec_id}: tasks burn-down", fmt="svg")),
        ("cycle times of completed tasks",
         cycle_times(flow.tasks, title=f"{spec_id}: cycle times of completed tasks", fmt="svg")),
    ]  # fmt: skip
    # no caption: each plot's title is in it, its label for screen readers
    figures = "".join(f"<figure>{inline_svg(data, label)}</figure>" for label, data in charts)
    return f'<section id="plots"><h2>Plots</h2>{figures}</section>'


def inline_svg(data: bytes, label: str) -> str:
    """A standalone SVG document as an element of an HTML page: no XML prolog or
    doctype, no namespace declarations (the HTML parser puts ``<svg>`` in its namespace,
    and these name URLs), no ids that nothing in it refers to (several plots in one page
    would repeat matplotlib's ``figure_1``...), labelled for screen readers."""
    text = data.decode("utf-8")
    text = text[text.index("<svg") :]
    referenced = set(_REFERENCE.findall(text))

    def tag(found: re.Match[str]) -> str:
        return _ID.sub(lambda i: i.group(0) if i.group(1) in referenced else "", found.group(0))

    text = _TAG.sub(tag, text)
    opening = text.index(">")
    head = _NAMESPACES.sub("", text[:opening])
    return f'{head} role="img" aria-label="{_text(label)}"{text[opening:]}'


def _cost_row(row: CostRow, key: str, *, head: bool = False) -> list[str]:
    t = row.tokens
    first = f'<th scope="row">{_text(key)}</th>' if head else _cell(key)
    return [first, _count(t.messages), _count(t.input_tokens), _count(t.output_tokens),
            _count(t.cache_write_tokens), _count(t.cache_read_tokens), _count(t.total),
            _cell(money(row.cost), repr(float(row.cost)), numeric=True),
            _count(row.unpriced)]  # fmt: skip


def _cost_table(by: str, report: CostReport) -> str:
    heading = KEY_HEADINGS.get(by, by)
    title = f"<h3>Cost by {_text(heading)}</h3>"
    if not report.rows:
        return title + _none_yet("replies")
    rows = [_cost_row(row, row.key) for row in report.rows]
    return title + _table(f"cost-{_text(by)}", [heading, *COST_HEADINGS], rows,
                          _cost_row(report.total, "total", head=True), numeric_from=1)  # fmt: skip


def _unknown_models(reports: list[CostReport]) -> str:
    unknown: dict[str, UnknownModel] = {}
    for report in reports:
        for model in report.unknown_models:
            unknown.setdefault(model.model, model)
    if not unknown:
        return ""
    rows = [[_cell(m.model), _count(m.messages), _count(m.tokens)] for m in unknown.values()]
    table = _table("unknown-models", ["model", "replies", "tokens"], rows, numeric_from=1)
    return ('<h3>Models without a price</h3><p class="warning">Their replies\' tokens are '
            "counted above but not their cost: add them under <code>prices:</code> in "
            f"<code>orchestrator.yaml</code>.</p>{table}")  # fmt: skip


def _pr_name(pr: PullRequestFlow) -> str:
    return f"#{pr.pr_number or pr.id}"


def _task_table(tasks: list[TaskFlow], prs: list[PullRequestFlow]) -> str:
    title = "<h3>Tasks</h3>"
    if not tasks:
        return title + _none_yet("tasks")
    names = {pr.id: _pr_name(pr) for pr in prs}
    rows = [[_cell(t.task_id), _cell(t.role), _time(t.started_at), _time(t.completed_at),
             _time(t.merged_at), _duration(t.cycle_seconds), _duration(t.merge_wait_seconds),
             _duration(t.blocked_seconds), _cell("; ".join(t.blocked_by)),
             _cell(names.get(t.pull_request_id, f"#{t.pull_request_id}"))
             if t.pull_request_id is not None else _MISSING]
            for t in tasks]  # fmt: skip
    headings = ["task", "agent", "started", "completed", "merged", "cycle time",
                "waiting for merge", "blocked", "blocked by", "PR"]  # fmt: skip
    return title + _table("tasks", headings, rows)


def _agent_table(flow: FlowReport) -> str:
    title = "<h3>Agents</h3>"
    if not flow.agents:
        return title + _none_yet("agents")
    rows = [[_cell(a.role), _count(a.tasks_done),
             _MISSING_NUMBER if a.throughput_per_day is None
             else _cell(f"{a.throughput_per_day:,.1f}", repr(a.throughput_per_day), numeric=True),
             _duration(a.working_seconds), _duration(a.waiting_seconds),
             _duration(a.idle_seconds)] for a in flow.agents]  # fmt: skip
    headings = ["agent", "tasks done", "tasks per day", "working", "waiting for you", "idle"]
    return title + _table("agents", headings, rows, numeric_from=1)


def _pull_request_table(prs: list[PullRequestFlow]) -> str:
    title = "<h3>Pull requests</h3>"
    if not prs:
        return title + _none_yet("pull requests")
    rows = [[_cell(_pr_name(p)), _cell(p.role), _cell(p.status), _time(p.opened_at),
             _time(p.merged_at), _duration(p.seconds_to_merge), _cell(", ".join(p.tasks))]
            for p in prs]  # fmt: skip
    headings = ["PR", "agent", "status", "opened", "merged", "time to merge", "tasks"]
    return title + _table("pull-requests", headings, rows)


def _conflict_table(conflicts: list[ConflictFlow]) -> str:
    title = "<h3>Conflicts</h3>"
    if not conflicts:
        return title + _none_yet("conflicts")
    rows = [[_cell(str(c.id), c.id, numeric=True), _cell(c.role),
             _cell(c.other_role or NONE),
             "<td>" + ", ".join(f"<code>{_text(f)}</code>" for f in c.files) + "</td>",
             _time(c.detected_at), _time(c.resolved_at), _duration(c.open_seconds)]
            for c in conflicts]  # fmt: skip
    headings = ["conflict", "agent", "with", "files", "found", "resolved", "open for"]
    return title + _table("conflicts", headings, rows)
