"""The metrics plots (core/metrics_plot.py): the drawn lines are the records' figures,
empty inputs draw a chart that says so, the bytes are the same for the same records (in
another process, under another matplotlibrc, from several threads at once), every text
is drawn as given, and matplotlib is imported only by the functions that draw."""

from __future__ import annotations

import hashlib
import math
import os
import statistics
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator.errors import ValidationError
from claude_orchestrator.metrics_model import BurnPoint, CostPoint, TaskFlow
from claude_orchestrator.metrics_plot import (
    FILES,
    FORMATS,
    MISSING,
    NO_AGENT,
    NO_DATA,
    burn_down,
    burn_figure,
    burn_series,
    cost_figure,
    cost_over_time,
    cost_series,
    cycle_figure,
    cycle_hours,
    cycle_times,
    drawable,
    parse_time,
    write_plots,
)

from .conftest import EXAMPLES, clean_env

NS = "{http://www.w3.org/2000/svg}"
PNG = b"\x89PNG\r\n\x1a\n"
START = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)
ROLES = ("overseer", "implementor-api", "implementor-ui")
HOSTILE = ('<script>alert(1)</script>', '"onload="alert(1)', "$\\frac{1}{0}$", "_hidden",
           "a & b </text>", "$x")  # fmt: skip
#: times on the records' millisecond grid, in the range a feature lives in
TIMES = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)).map(
    lambda when: when.replace(microsecond=when.microsecond // 1000 * 1000)
)
ROLE = st.one_of(st.none(), st.sampled_from(ROLES), st.text(min_size=1, max_size=12))
COST = st.floats(min_value=0, max_value=50, allow_nan=False)
POINTS = st.lists(st.builds(lambda at, role, cost: CostPoint(stamp(at), role, cost),
                            TIMES, ROLE, COST), max_size=40)  # fmt: skip


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def task(task_id: str, cycle_seconds: float | None) -> TaskFlow:
    return TaskFlow("003-goals", task_id, "implementor-api", stamp(START), None, None,
                    cycle_seconds, None, 0.0, [], None)  # fmt: skip


def example_points() -> list[CostPoint]:
    """Three agents, a reply every 20 minutes for a working day."""
    return [CostPoint(stamp(START + timedelta(minutes=20 * i)), ROLES[i % 3], 0.01 * (i % 7 + 1))
            for i in range(27)]  # fmt: skip


def example_burn() -> list[BurnPoint]:
    return [BurnPoint(stamp(START + timedelta(hours=i)), 10 - i, 10 + (i > 3)) for i in range(8)]


def example_tasks() -> list[TaskFlow]:
    return [task(f"T{i:03d}", 1800.0 * (i + 1)) for i in range(9)] + [task("T999", None)]


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)
    assert root.tag == f"{NS}svg"
    return [el.text or "" for el in root.iter(f"{NS}text")]


# ---------------------------------------------------------------------------------- data
@given(POINTS)
def test_cost_series_are_each_roles_running_total(points: list[CostPoint]) -> None:
    series = cost_series(points)
    roles = {p.role or NO_AGENT for p in points}
    assert [s.label for s in series] == sorted(roles)
    end = max((parse_time(p.at) for p in points), default=None)
    for line in series:
        mine = [p for p in points if (p.role or NO_AGENT) == line.label]
        assert math.isclose(line.values[-1], math.fsum(p.cost for p in mine), abs_tol=1e-9)
        assert line.times == sorted(line.times) and line.times[-1] == end
        assert all(a <= b for a, b in zip(line.values, line.values[1:], strict=False))
        last = max(parse_time(p.at) for p in mine)
        assert len(line.times) == len(mine) + (last < end)


@given(st.lists(st.builds(lambda at, left, known: BurnPoint(stamp(at), left, left + known),
                          TIMES, st.integers(0, 50), st.integers(0, 50)), max_size=30))  # fmt: skip
def test_burn_series_are_the_points_in_time_order(points: list[BurnPoint]) -> None:
    remaining, total = burn_series(points)
    ordered = sorted(points, key=lambda p: parse_time(p.at))
    assert remaining.times == total.times == [parse_time(p.at) for p in ordered]
    assert remaining.values == [p.remaining for p in ordered]
    assert total.values == [p.total for p in ordered]


def test_cycle_hours_are_the_completed_tasks_only() -> None:
    assert cycle_hours(example_tasks()) == [0.5 * (i + 1) for i in range(9)]
    assert cycle_hours([task("T001", None)]) == []


def test_times_are_utc_and_a_bad_one_is_named() -> None:
    assert parse_time("2025-11-24T10:00:00.000+01:00") == START
    assert parse_time("2025-11-24T09:00:00") == START
    with pytest.raises(ValidationError, match="not a time: 'yesterday'"):
        cost_over_time([CostPoint("yesterday", "overseer", 1.0)], title="t", fmt="svg")


@given(st.text())
def test_drawable_text_is_xml_and_changes_nothing_drawable(text: str) -> None:
    clean = drawable(text)
    assert ET.fromstring(f"<t>{escape(clean)}</t>").text == (clean or None)
    assert len(clean) == len(text)
    for before, after in zip(text, clean, strict=True):
        assert after == before or after == "\ufffd"
    clean.encode("utf-8")  # no surrogate left


# ------------------------------------------------------------------------------- figures
@settings(max_examples=25, deadline=None)
@given(POINTS)
def test_the_cost_figure_draws_each_series(points: list[CostPoint]) -> None:
    from matplotlib.dates import date2num

    axes = cost_figure(points, title="cost").axes[0]
    series = cost_series(points)
    lines = axes.get_lines()
    assert len(lines) == len(series)
    for line, expected in zip(lines, series, strict=True):
        assert line.get_drawstyle() == "steps-post"
        assert list(line.get_ydata()) == expected.values
        assert list(line.get_xdata()) == pytest.approx(
            [float(date2num(t)) for t in expected.times], abs=1e-9)  # fmt: skip
        assert line.get_label() == f"{drawable(expected.label)}: ${expected.values[-1]:,.2f}"
    if series:
        legend = axes.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == [line.get_label() for line in lines]


def test_the_burn_figure_steps_down_with_the_known_tasks_dashed() -> None:
    points = example_burn()
    remaining, known = burn_figure(points[::-1], title="burn").axes[0].get_lines()
    assert list(remaining.get_ydata()) == [10 - i for i in range(8)]
    assert list(known.get_ydata()) == [10 + (i > 3) for i in range(8)]
    assert known.get_linestyle() == "--" and remaining.get_drawstyle() == "steps-post"


def test_the_cycle_figure_counts_each_completed_task_and_marks_the_median() -> None:
    tasks = example_tasks()
    axes = cycle_figure(tasks, title="cycle").axes[0]
    assert sum(bar.get_height() for bar in axes.patches) == 9
    (median,) = axes.get_lines()
    assert list(median.get_xdata()) == [statistics.median(cycle_hours(tasks))] * 2
    labels = [t.get_text() for t in axes.get_legend().get_texts()]
    assert labels == ["9 completed tasks", "median 2.5 h"]


def test_the_time_axis_shows_utc_dates() -> None:
    texts = svg_texts(cost_over_time(example_points(), title="t", fmt="svg"))
    assert "2025-Nov-24" in texts and "time (UTC)" in texts
    assert {"10:00", "12:00", "14:00", "16:00"} <= set(texts)


def test_one_moment_gets_an_hour_either_side() -> None:
    points = [CostPoint(stamp(START), "overseer", 1.0)]
    low, high = cost_figure(points, title="t").axes[0].get_xlim()
    from matplotlib.dates import date2num

    assert (low, high) == pytest.approx((date2num(START) - 1 / 24, date2num(START) + 1 / 24))


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_inputs_draw_charts_that_say_no_data_yet(fmt: str) -> None:
    for data in (cost_over_time([], title="c", fmt=fmt), burn_down([], title="b", fmt=fmt),
                 cycle_times([task("T001", None)], title="t", fmt=fmt)):  # fmt: skip
        if fmt == "png":
            assert data.startswith(PNG)
        else:
            assert NO_DATA in svg_texts(data)


def test_every_text_is_drawn_as_given() -> None:
    points = [CostPoint(stamp(START + timedelta(hours=i)), role, 1.0)
              for i, role in enumerate(HOSTILE)]  # fmt: skip
    data = cost_over_time(points, title=HOSTILE[0], fmt="svg")
    assert b"<script" not in data
    assert {HOSTILE[0]} | {f"{role}: $1.00" for role in HOSTILE} <= set(svg_texts(data))
    for title in HOSTILE[1:]:
        assert title in svg_texts(burn_down([], title=title, fmt="svg"))
    assert cost_over_time(points, title=HOSTILE[2], fmt="png").startswith(PNG)


@settings(max_examples=15, deadline=None)
@given(st.text(max_size=30), st.sampled_from(FORMATS))
def test_any_title_draws_without_error_or_warning(title: str, fmt: str) -> None:
    data = burn_down(example_burn(), title=title, fmt=fmt)
    if fmt == "svg":
        texts = svg_texts(data)
        for line in drawable(title).split("\n"):
            assert not line.strip() or line in texts
    else:
        assert data.startswith(PNG)


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown plot format 'pdf': choose one of png, svg"):
        cycle_times([], title="t", fmt="pdf")


# ----------------------------------------------------------------------- the same bytes
DRAW = """
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from tests.test_metrics_plot import example_burn, example_points, example_tasks
from claude_orchestrator.metrics_plot import burn_down, cost_over_time, cycle_times
for fmt in ("svg", "png"):
    for data in (cost_over_time(example_points(), title="c", fmt=fmt),
                 burn_down(example_burn(), title="b", fmt=fmt),
                 cycle_times(example_tasks(), title="t", fmt=fmt)):
        print(hashlib.sha256(data).hexdigest())
"""


def _digests(formats: tuple[str, ...] = ("svg", "png")) -> list[str]:
    found = []
    for fmt in formats:
        for data in (cost_over_time(example_points(), title="c", fmt=fmt),
                     burn_down(example_burn(), title="b", fmt=fmt),
                     cycle_times(example_tasks(), title="t", fmt=fmt)):  # fmt: skip
            found.append(hashlib.sha256(data).hexdigest())
    return found


def _digests_elsewhere(**env: str) -> list[str]:
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", DRAW, root], env=clean_env(**env),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


def test_the_same_records_make_the_same_bytes_in_another_process(tmp_path: Path) -> None:
    """No random ids, no date, no version; a user's matplotlibrc changes nothing."""
    here = _digests()
    assert here == _digests()
    assert _digests_elsewhere() == here
    (tmp_path / "matplotlibrc").write_text(
        "lines.linewidth: 9\nfont.size: 30\nsvg.fonttype: path\nsvg.hashsalt: mine\n"
        "text.usetex: True\naxes.prop_cycle: cycler('color', ['red'])\ntimezone: Asia/Tokyo\n"
    )
    assert _digests_elsewhere(MPLCONFIGDIR=str(tmp_path)) == here


def test_svg_holds_no_date_version_or_random_id() -> None:
    data = cost_over_time(example_points(), title="t", fmt="svg")
    assert b"<metadata" not in data and b"matplotlib.org" not in data
    assert b"Matplotlib v" not in data


def test_threads_drawing_at_once_get_what_one_thread_gets() -> None:
    expected = _digests(("svg",))
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def draw() -> None:
        try:
            for _ in range(2):
                results.append(_digests(("svg",)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=draw) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert results == [expected] * 6


# ------------------------------------------------------------------------------- files
def _write(out: Path, fmt: str = "svg", points: Sequence[CostPoint] | None = None) -> list[Path]:
    return write_plots(out, "003-goals", example_points() if points is None else points,
                       example_burn(), example_tasks(), fmt=fmt)  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_plots_writes_the_three_charts(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "plots" / "new"
    old = os.umask(0o022)
    try:
        written = _write(out, fmt)
    finally:
        os.umask(old)
    assert written == [out / f"{name}.{fmt}" for name in FILES]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)
    assert {p.stat().st_mode & 0o777 for p in written} == {0o644}
    if fmt == "png":
        assert all(p.read_bytes().startswith(PNG) for p in written)
        return
    titles = [svg_texts(p.read_bytes()) for p in written]
    assert "003-goals: cost per agent" in titles[0]
    assert "003-goals: tasks burn-down" in titles[1]
    assert "003-goals: cycle times of completed tasks" in titles[2]
    assert written[0].read_bytes() == cost_over_time(
        example_points(), title="003-goals: cost per agent", fmt="svg")  # fmt: skip


def test_write_plots_replaces_earlier_charts_and_draws_empty_ones(tmp_path: Path) -> None:
    first = _write(tmp_path)[0].read_bytes()
    written = write_plots(tmp_path, "003-goals", [], [], [], fmt="svg")
    assert all(NO_DATA in svg_texts(p.read_bytes()) for p in written)
    assert written[0].read_bytes() != first
    assert len(list(tmp_path.iterdir())) == 3


@pytest.mark.parametrize("where", ["a file", "under a file", "a name too long"])
def test_a_directory_that_cannot_be_written_is_an_error_and_nothing_is_written(
    tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "plots"
    blocker.write_text("mine")
    out = {"a file": blocker, "under a file": blocker / "sub"}.get(where, tmp_path / ("x" * 300))
    with pytest.raises(ValidationError, match=f"cannot write the plots into {out}: "):
        _write(out)
    assert blocker.read_text() == "mine" and list(tmp_path.iterdir()) == [blocker]


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown plot format"):
        _write(tmp_path / "a", "jpg")
    with pytest.raises(ValidationError, match="not a time"):
        _write(tmp_path / "b", points=[CostPoint("24/11/2025", "overseer", 1.0)])
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the optional extra
MISSING_SCRIPT = """
import sys
sys.modules["matplotlib"] = None  # what an install without the extra imports
from pathlib import Path
from claude_orchestrator.errors import ValidationError
from claude_orchestrator.metrics_plot import write_plots
try:
    write_plots(Path(sys.argv[1]), "003-goals", [], [], [], fmt="png")
except ValidationError as exc:
    print(exc)
"""


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    done = subprocess.run([sys.executable, "-c", MISSING_SCRIPT, str(out)], env=clean_env(),
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == MISSING
    assert MISSING == "plots need matplotlib: pip install 'claude-orchestrator-toolkit[plot]'"
    assert not out.exists()


def test_importing_the_modules_does_not_import_matplotlib() -> None:
    code = (
        "import sys, claude_orchestrator, claude_orchestrator.metrics_plot, "
        "claude_orchestrator.metrics_report; "
        "print(sorted(m for m in ('matplotlib', 'numpy', 'PIL') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------------- the README's one
def test_the_readme_picture_script_writes_a_small_png(tmp_path: Path) -> None:
    output = tmp_path / "metrics.png"
    done = subprocess.run([sys.executable, str(EXAMPLES / "metrics_plot.py"), str(output)],
                          env=clean_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"wrote {output}"
    data = output.read_bytes()
    assert data.startswith(PNG) and len(data) < 150_000
    committed = (EXAMPLES / "metrics.png").read_bytes()
    assert committed.startswith(PNG) and len(committed) < 150_000
