"""The dashboard's charts, rendered on the server as SVG documents.

Hand-written SVG (no chart library): two small charts do not need a dependency, the
output is byte-stable for the same data (golden-testable), and every text that came from
an agent (a role name, a spec id) goes through one escaping function, :func:`_text`.
The page shows them as ``<img src="/api/charts/NAME.svg?spec=...">``; an image document
never runs script, so the SVG is inert even before its texts are escaped.

Charts (:data:`CHARTS`):

- ``tasks-done``: how many tasks were done (completed or merged) over time, a step line
  of the cumulative count, each task at the time its done state was recorded;
- ``events-per-agent``: how many events each agent logged, one bar per agent;
- ``cost-per-agent``: what each agent's Claude Code replies cost (US dollars), one bar
  per agent, from :func:`claude_orchestrator.metrics.costs` (the figures of ``metrics
  --by agent``).

Both read summaries the store keeps (task states, the status rows' event counters), not
the events themselves, so they cost the same on a store of a million events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, NamedTuple

from .errors import NotFoundError

if TYPE_CHECKING:
    from .api import Orchestrator

WIDTH = 480
HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 32, 36
_DONE = ("completed", "merged")
_FONT = "font-family='sans-serif' font-size='11'"
_TITLE_FONT = "font-family='sans-serif' font-size='13' font-weight='bold'"


class Point(NamedTuple):
    """One step of the tasks-done line: at ``when``, ``done`` tasks were done."""

    when: str
    done: int


class Bar(NamedTuple):
    """One bar of the events-per-agent chart."""

    label: str
    value: int


def _text(value: object) -> str:
    """Any text put into the SVG (element content or attribute value)."""
    return escape(str(value), quote=True)


def _seconds(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _frame(title: str, body: Sequence[str], height: int = HEIGHT) -> str:
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
        f"viewBox='0 0 {WIDTH} {height}' role='img' aria-label='{_text(title)}'>"
    )
    lines = [
        head,
        f"<title>{_text(title)}</title>",
        f"<rect width='{WIDTH}' height='{height}' fill='#ffffff'/>",
        f"<text x='{_LEFT}' y='20' {_TITLE_FONT}>{_text(title)}</text>",
        *body,
        "</svg>",
    ]
    return "\n".join(lines) + "\n"


def _empty(title: str, what: str) -> str:
    return _frame(title, [f"<text x='{_LEFT}' y='{HEIGHT // 2}' {_FONT}>{_text(what)}</text>"])


def _axes(top_value: int) -> list[str]:
    bottom, right = HEIGHT - _BOTTOM, WIDTH - _RIGHT
    return [
        f"<line x1='{_LEFT}' y1='{_TOP}' x2='{_LEFT}' y2='{bottom}' stroke='#555'/>",
        f"<line x1='{_LEFT}' y1='{bottom}' x2='{right}' y2='{bottom}' stroke='#555'/>",
        f"<text x='{_LEFT - 6}' y='{bottom}' {_FONT} text-anchor='end'>0</text>",
        f"<text x='{_LEFT - 6}' y='{_TOP + 4}' {_FONT} text-anchor='end'>{top_value}</text>",
    ]


# --------------------------------------------------------------------- tasks done
def done_points(orch: Orchestrator, spec: str | None) -> list[Point]:
    """The cumulative count of done tasks (of the feature, or of all features), one
    point per done task, oldest first."""
    specs = [orch.feature(spec).spec_id] if spec is not None else _all_specs(orch)
    stamps = sorted(
        t.updated_at for s in specs for t in orch.store.task_states(s) if t.status in _DONE
    )
    return [Point(when, i) for i, when in enumerate(stamps, start=1)]


def tasks_done_svg(points: Sequence[Point], title: str) -> str:
    """The step line of :func:`done_points`."""
    if not points:
        return _empty(title, "no task done yet")
    times = [_seconds(p.when) for p in points]
    known = [t for t in times if t is not None]
    start, end = (min(known), max(known)) if known else (0.0, 0.0)
    span = end - start
    width, height = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    top = points[-1].done

    def x(i: int) -> float:
        moment = times[i]
        if moment is None or span <= 0:
            return _LEFT + width * (i + 1) / len(points)
        return _LEFT + width * (moment - start) / span

    def y(done: int) -> float:
        return HEIGHT - _BOTTOM - height * done / top

    path = [f"M{_LEFT},{HEIGHT - _BOTTOM}"]
    for i, point in enumerate(points):
        path.append(f"H{x(i):.1f}V{y(point.done):.1f}")
    path.append(f"H{WIDTH - _RIGHT}")
    dots = [
        f"<circle cx='{x(i):.1f}' cy='{y(p.done):.1f}' r='3' fill='#2a7'>"
        f"<title>{_text(p.when)}: {p.done} done</title></circle>"
        for i, p in enumerate(points)
    ]
    labels = [
        f"<text x='{_LEFT}' y='{HEIGHT - 12}' {_FONT}>{_text(points[0].when[:16])}</text>",
        f"<text x='{WIDTH - _RIGHT}' y='{HEIGHT - 12}' {_FONT} text-anchor='end'>"
        f"{_text(points[-1].when[:16])}</text>",
    ]
    line = f"<path d='{''.join(path)}' fill='none' stroke='#2a7' stroke-width='2'/>"
    return _frame(title, [*_axes(top), line, *dots, *labels])


# --------------------------------------------------------------- events per agent
def agent_bars(orch: Orchestrator, spec: str | None) -> list[Bar]:
    """Events per agent: per role of the feature, or (all features) per spec and role;
    most events first, then by name."""
    rows = orch.status(spec)
    bars = [
        Bar(r.role if spec is not None else f"{r.spec_id} {r.role}", r.events)
        for r in rows
        if r.role is not None
    ]
    return sorted(bars, key=lambda b: (-b.value, b.label))


def events_per_agent_svg(bars: Sequence[Bar], title: str) -> str:
    """Horizontal bars of :func:`agent_bars`; the chart grows with the number of agents."""
    return _bars_svg([(b.label, b.value, str(b.value)) for b in bars], title, "no agents yet")


def cost_bars(orch: Orchestrator, spec: str | None) -> list[tuple[str, float, str]]:
    """(agent, cost, the cost as text) per agent, most expensive first, from
    :func:`claude_orchestrator.metrics.costs`."""
    from .metrics import costs

    rows = costs(orch, spec, "agent").rows
    return [(f"{r.key}" if spec is not None or r.spec_id is None else f"{r.spec_id} {r.key}",
             r.cost, f"${r.cost:,.2f}") for r in rows]  # fmt: skip


def _bars_svg(bars: Sequence[tuple[str, float, str]], title: str, none: str) -> str:
    """Horizontal bars (label, value, value as text); grows with the number of bars."""
    if not bars:
        return _empty(title, none)
    top = max(max(value for _, value, _ in bars), 1e-9)
    label_width = 150
    width = WIDTH - label_width - _RIGHT - 40
    body: list[str] = []
    for i, (label, value, shown) in enumerate(bars):
        y = _TOP + i * 22
        length = width * value / top
        body += [
            f"<text x='{label_width - 6}' y='{y + 13}' {_FONT} text-anchor='end'>"
            f"{_text(label)}</text>",
            f"<rect x='{label_width}' y='{y}' width='{length:.1f}' height='16' fill='#47a'>"
            f"<title>{_text(label)}: {_text(shown)}</title></rect>",
            f"<text x='{label_width + length + 4:.1f}' y='{y + 13}' {_FONT}>{_text(shown)}</text>",
        ]
    return _frame(title, body, max(HEIGHT, _TOP + len(bars) * 22 + 12))


# ----------------------------------------------------------------------- registry
def _all_specs(orch: Orchestrator) -> list[str]:
    return [f.spec_id for f in orch.store.list_features()]


def _tasks_done(orch: Orchestrator, spec: str | None) -> str:
    title = f"Tasks done over time: {spec}" if spec else "Tasks done over time: all features"
    return tasks_done_svg(done_points(orch, spec), title)


def _events_per_agent(orch: Orchestrator, spec: str | None) -> str:
    title = f"Events per agent: {spec}" if spec else "Events per agent: all features"
    return events_per_agent_svg(agent_bars(orch, spec), title)


def _cost_per_agent(orch: Orchestrator, spec: str | None) -> str:
    title = f"Cost per agent: {spec}" if spec else "Cost per agent: all features"
    return _bars_svg(cost_bars(orch, spec), title, "no usage ingested yet")


#: chart name (the URL's ``/api/charts/NAME.svg``) -> renderer
CHARTS: dict[str, Callable[[Orchestrator, str | None], str]] = {
    "tasks-done": _tasks_done,
    "events-per-agent": _events_per_agent,
    "cost-per-agent": _cost_per_agent,
}


def render(name: str, orch: Orchestrator, spec: str | None = None) -> str:
    """The SVG document of chart ``name`` for one feature (``spec``) or all of them.

    :raises NotFoundError: for an unknown chart name or feature (the server answers 404).
    :raises ValidationError: for a malformed spec id.
    """
    chart = CHARTS.get(name)
    if chart is None:
        raise NotFoundError(f"unknown chart {name!r}: use one of {', '.join(sorted(CHARTS))}")
    return chart(orch, spec)
