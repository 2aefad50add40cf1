"""The metrics plots (``metrics plot``, ``metrics report``, the dashboard): PNG or SVG
bytes drawn from :mod:`claude_orchestrator.metrics_model` records.

- :func:`cost_over_time`: the cumulative cost of each agent (one line per role);
- :func:`burn_down`: the feature's tasks not done yet over time, its known tasks dashed;
- :func:`cycle_times`: how long completed tasks took (started to completed), with the
  median marked.

**matplotlib**, drawn by its Agg canvas: one library writes both PNG and SVG, and it is
the most widely kept plotting library there is. It costs about 0.7 s to import, so it is
an optional extra (``[plot]``) and is imported only inside the functions that draw —
never when this module is imported, so no other command (and no hook) pays for it.

Drawing is thread-safe (the dashboard serves several requests at once): figures are
built with the object API (``matplotlib.figure.Figure``, never pyplot's global figures),
and the few settings matplotlib reads from its global ``rcParams`` (matplotlib's defaults
instead of a user's ``matplotlibrc``, SVG text as text, a fixed hash salt) are set for
one figure at a time under a lock. The output is the same bytes for the same records:
the SVG's ids come from the fixed salt rather than random ones, and neither format
carries a date or the matplotlib version. Texts (titles, role names) are drawn as they
are: mathtext (``$...$``) is off for every text that comes from an agent.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from .errors import ValidationError
from .fsutil import create_temporary, owner_tag, sweep_temporaries
from .metrics_model import BurnPoint, CostPoint, TaskFlow

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")
#: the charts :func:`write_plots` writes: each file's name without its format's suffix
FILES = ("cost-per-agent", "burn-down", "cycle-times")
MISSING = "plots need matplotlib: pip install 'claude-orchestrator-toolkit[plot]'"
#: what an empty chart says
NO_DATA = "no data yet"
#: the line of replies made outside any feature's agent (a CostPoint without a role)
NO_AGENT = "(no agent)"
#: inches and dots per inch: 800 x 450 pixels
SIZE = (8.0, 4.5)
DPI = 100
#: matplotlib's default ``date.epoch``: its date numbers count days from it
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: what each format's metadata leaves out (the date, the version and its URL)
_METADATA: dict[str, dict[str, str | None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None, "Format": None, "Type": None},
}
#: what no SVG (XML) can hold nor the font engine draw: control characters other than tab
#: and newline, surrogates and the non-characters U+FFFE/U+FFFF
_UNDRAWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_LOCK = threading.Lock()


class Series(NamedTuple):
    """One line of a chart: its label and its points (times in UTC)."""

    label: str
    times: list[datetime]
    values: list[float]


# ------------------------------------------------------------------------------ the data
def parse_time(stamp: str) -> datetime:
    """A record's time (``YYYY-MM-DDTHH:MM:SS.sssZ``; one without a zone is UTC)."""
    try:
        when = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        raise ValidationError(
            f"not a time: {stamp!r} (the metrics' times are YYYY-MM-DDTHH:MM:SS.sssZ)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def drawable(text: str) -> str:
    """``text`` with each character a chart cannot hold replaced by U+FFFD."""
    return _UNDRAWABLE.sub("\ufffd", text)


def cost_series(points: Sequence[CostPoint]) -> list[Series]:
    """Each role's cumulative cost, one series per role in name order: a point per reply
    in time order, and one at the latest reply of any role (every line ends there)."""
    replies: dict[str, list[tuple[datetime, float]]] = {}
    for point in points:
        replies.setdefault(point.role or NO_AGENT, []).append((parse_time(point.at), point.cost))
    if not replies:
        return []
    end = max(when for pairs in replies.values() for when, _ in pairs)
    series = []
    for label in sorted(replies):
        times: list[datetime] = []
        values: list[float] = []
        total = 0.0
        for when, cost in sorted(replies[label], key=lambda pair: pair[0]):
            total += cost
            times.append(when)
            values.append(total)
        if times[-1] < end:
            times.append(end)
            values.append(total)
        series.append(Series(label, times, values))
    return series


def burn_series(points: Sequence[BurnPoint]) -> tuple[Series, Series]:
    """The tasks not done and the tasks known, in time order."""
    ordered = sorted(((parse_time(p.at), p) for p in points), key=lambda pair: pair[0])
    times = [when for when, _ in ordered]
    return (Series("remaining", times, [float(p.remaining) for _, p in ordered]),
            Series("total", list(times), [float(p.total) for _, p in ordered]))  # fmt: skip


def cycle_hours(tasks: Sequence[TaskFlow]) -> list[float]:
    """The completed tasks' cycle times (started to completed) in hours, in input order."""
    return [task.cycle_seconds / 3600 for task in tasks if task.cycle_seconds is not None]


# ---------------------------------------------------------------------------- the figures
def cost_figure(points: Sequence[CostPoint], *, title: str) -> Figure:
    """The figure :func:`cost_over_time` draws (for a caller that embeds it)."""
    series = cost_series(points)
    figure, axes = _figure(title)
    if not series:
        return _empty(figure, axes)
    drawn = []
    for line in series:
        drawn += axes.step(_numbers(line.times), line.values, where="post",
                           label=f"{drawable(line.label)}: ${line.values[-1]:,.2f}")  # fmt: skip
    _time_axis(axes)
    axes.set_ylabel("cumulative cost (USD)")
    axes.set_ylim(bottom=0)
    _legend(axes, drawn, "upper left")  # the lines rise to the right
    return figure


def burn_figure(points: Sequence[BurnPoint], *, title: str) -> Figure:
    """The figure :func:`burn_down` draws."""
    remaining, total = burn_series(points)
    figure, axes = _figure(title)
    if not remaining.times:
        return _empty(figure, axes)
    from matplotlib.ticker import MaxNLocator

    x = _numbers(remaining.times)
    drawn = axes.step(x, remaining.values, where="post", linewidth=2, label="tasks not done")
    drawn += axes.step(x, total.values, where="post", linestyle="--", color="gray",
                       label="tasks known")  # fmt: skip
    _time_axis(axes)
    axes.set_ylabel("tasks")
    axes.set_ylim(bottom=0, top=max(total.values + remaining.values + [1.0]) * 1.05)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(axes, drawn)
    return figure


def cycle_figure(tasks: Sequence[TaskFlow], *, title: str) -> Figure:
    """The figure :func:`cycle_times` draws."""
    hours = cycle_hours(tasks)
    figure, axes = _figure(title)
    if not hours:
        return _empty(figure, axes)
    from matplotlib.ticker import MaxNLocator

    median = statistics.median(hours)
    # Sturges' rule: numpy's "auto" can ask for millions of bins on a long tail
    bins = min(30, math.ceil(math.log2(len(hours))) + 1)
    axes.hist(hours, bins=bins, color="tab:blue", edgecolor="white",
              label=f"{len(hours)} completed tasks")  # fmt: skip
    line = axes.axvline(median, color="black", linestyle="--", label=f"median {median:,.1f} h")
    axes.set_xlabel("cycle time, started to completed (hours)")
    axes.set_ylabel("tasks")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(axes, [axes.patches[0], line])  # the first bar carries the label
    return figure


def _figure(title: str) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(drawable(title), loc="left", parse_math=False)
    axes.grid(True, color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    return figure, axes


def _empty(figure: Figure, axes: Axes) -> Figure:
    axes.text(0.5, 0.5, NO_DATA, transform=axes.transAxes, ha="center", va="center",
              fontsize=14, color="gray")  # fmt: skip
    axes.set_xticks([])
    axes.set_yticks([])
    return figure


def _numbers(times: list[datetime]) -> list[float]:
    """matplotlib's date numbers: days since its default epoch (``date.epoch``)."""
    return [(when - _EPOCH).total_seconds() / 86400 for when in times]


def _time_axis(axes: Axes) -> None:
    axes.xaxis_date(tz=UTC)  # concise dates (the "date.converter" setting)
    axes.set_xlabel("time (UTC)")
    start, end = axes.dataLim.intervalx
    if start == end:  # one moment: an hour either side of it, not matplotlib's two years
        axes.set_xlim(start - 1 / 24, end + 1 / 24)


def _legend(axes: Axes, drawn: Sequence[Artist],
            loc: Literal["best", "upper left"] = "best") -> None:  # fmt: skip
    """A legend of ``drawn`` by their labels: given, not collected (which would leave
    out a role that starts with "_")."""
    labels = [str(artist.get_label()) for artist in drawn]
    legend = axes.legend(drawn, labels, loc=loc, fontsize=9, framealpha=0.9)
    for text in legend.get_texts():
        text.set_parse_math(False)


# ------------------------------------------------------------------------------ the bytes
def cost_over_time(points: Sequence[CostPoint], *, title: str, fmt: str) -> bytes:
    """The cumulative cost of each agent over time, one line per role (a reply without
    a role: :data:`NO_AGENT`), as ``fmt`` (one of :data:`FORMATS`) bytes; no points: an
    empty chart that says :data:`NO_DATA`.

    :raises ValidationError: an unknown format, a time that is not one, or matplotlib
        not installed (:data:`MISSING`).
    """
    return _draw(lambda: cost_figure(points, title=title), fmt, "cost-per-agent")


def burn_down(points: Sequence[BurnPoint], *, title: str, fmt: str) -> bytes:
    """The tasks not done over time (a step line) and the tasks known (dashed)."""
    return _draw(lambda: burn_figure(points, title=title), fmt, "burn-down")


def cycle_times(tasks: Sequence[TaskFlow], *, title: str, fmt: str) -> bytes:
    """A histogram of the completed tasks' cycle times in hours, the median marked."""
    return _draw(lambda: cycle_figure(tasks, title=title), fmt, "cycle-times")


def write_plots(
    out_dir: Path,
    spec_id: str,
    points: Sequence[CostPoint],
    burn: Sequence[BurnPoint],
    tasks: Sequence[TaskFlow],
    *,
    fmt: str,
) -> list[Path]:
    """Write the feature's three charts into ``out_dir`` (created if need be) as
    ``<name>.<fmt>`` for each name of :data:`FILES`, each through a temporary file and
    a rename; returns the files in that order. Every chart is drawn before the first
    file is written, so an error writes nothing.

    :raises ValidationError: as :func:`cost_over_time`, or ``out_dir`` cannot be written.
    """
    charts = [
        cost_over_time(points, title=f"{spec_id}: cost per agent", fmt=fmt),
        burn_down(burn, title=f"{spec_id}: tasks burn-down", fmt=fmt),
        cycle_times(tasks, title=f"{spec_id}: cycle times of completed tasks", fmt=fmt),
    ]
    out_dir = Path(out_dir)
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in zip(FILES, charts, strict=True):
            path = out_dir / f"{name}.{fmt}"
            _write_file(path, data)
            written.append(path)
    except OSError as exc:
        raise ValidationError(
            f"cannot write the plots into {out_dir}: {exc.strerror or exc} "
            "(name a directory you can write, or one to create)"
        ) from None
    return written


def _draw(build: Callable[[], Figure], fmt: str, salt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValidationError(f"unknown plot format {fmt!r}: choose one of {', '.join(FORMATS)}")
    buffer = BytesIO()
    with _settings(salt):
        figure = build()
        figure.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()


@contextmanager
def _settings(salt: str) -> Iterator[None]:
    """matplotlib's defaults and a few settings of ours, for one figure at a time."""
    try:
        import matplotlib
    except ImportError:
        raise ValidationError(MISSING) from None
    with _LOCK, matplotlib.rc_context(), warnings.catch_warnings():
        matplotlib.rcdefaults()  # not the user's matplotlibrc: the same bytes everywhere
        settings = matplotlib.rcParams
        settings["svg.fonttype"] = "none"  # texts as text: small, searchable, no glyph ids
        settings["svg.hashsalt"] = f"claude-orchestrator {salt}"  # ids: the same every time
        settings["date.converter"] = "concise"
        # a text with a character DejaVu Sans lacks shows a box in the PNG, not a warning
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)
        yield


def _write_file(path: Path, data: bytes) -> None:
    sweep_temporaries(path)
    fd, temporary = create_temporary(path.parent, f".{path.name}.{owner_tag()}.", ".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
