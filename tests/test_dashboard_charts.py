"""The dashboard's server-side SVG charts: well-formed documents whose marks are the
store's figures, every text escaped, unknown names refused (the server's 404)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator.dashboard_charts import (
    CHARTS,
    Bar,
    Point,
    agent_bars,
    done_points,
    events_per_agent_svg,
    render,
    tasks_done_svg,
)
from claude_orchestrator.errors import NotFoundError, ValidationError

from .conftest import clean_env

SPEC = "003-reading-goals"
NS = "{http://www.w3.org/2000/svg}"
#: any text an XML document can hold (no control characters, surrogates or non-characters)
XML_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cn")), max_size=40)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter() if el.tag in (f"{NS}text", f"{NS}title")]


@pytest.fixture
def orch(initialized: Path) -> Orchestrator:
    o = Orchestrator(cwd=initialized, env=clean_env())
    for task in ("T001", "T002"):
        o.log_event(SPEC, "implementor-data", "task_started", f"start {task}", task)
        o.log_event(SPEC, "implementor-data", "task_completed", f"done {task}", task)
    o.log_event(SPEC, "implementor-api", "task_started", "start T003", "T003")
    return o


def test_events_per_agent_has_one_bar_per_agent_with_its_event_count(orch: Orchestrator) -> None:
    root = _parse(render("events-per-agent", orch, SPEC))
    counts = {r.role: r.events for r in orch.status(SPEC) if r.role}
    bars = {t.text.split(": ")[0]: int(t.text.split(": ")[1])
            for r in root.iter(f"{NS}rect") for t in r.iter(f"{NS}title") if t.text}  # fmt: skip
    assert bars == counts
    assert bars["implementor-data"] > bars["implementor-api"] > 0


def test_tasks_done_has_one_point_per_done_task(orch: Orchestrator) -> None:
    root = _parse(render("tasks-done", orch, SPEC))
    dots = [c.find(f"{NS}title") for c in root.iter(f"{NS}circle")]
    assert [d.text.rsplit(": ", 1)[1] for d in dots if d is not None] == ["1 done", "2 done"]
    done = [t for t in orch.store.task_states(SPEC) if t.status == "completed"]
    assert [p.when for p in done_points(orch, SPEC)] == sorted(t.updated_at for t in done)


def test_all_features_counts_every_feature(orch: Orchestrator) -> None:
    orch.add_feature("004-other", "Other")
    orch.log_event("004-other", "implementor-ui", "task_started", "s", "T001")
    orch.log_event("004-other", "implementor-ui", "task_completed", "c", "T001")
    labels = [b.label for b in agent_bars(orch, None)]
    assert "004-other implementor-ui" in labels and f"{SPEC} implementor-data" in labels
    assert len(done_points(orch, None)) == 3
    _parse(render("tasks-done", orch, None))


def test_an_empty_feature_says_so(orch: Orchestrator) -> None:
    orch.add_feature("004-other", "Other")
    assert "no task done yet" in _texts(_parse(render("tasks-done", orch, "004-other")))
    assert "no agents yet" in _texts(_parse(events_per_agent_svg([], "t")))


def test_unknown_chart_or_feature_is_refused(orch: Orchestrator) -> None:
    with pytest.raises(NotFoundError, match="unknown chart 'pie': use one of"):
        render("pie", orch, SPEC)
    with pytest.raises(NotFoundError):
        render("tasks-done", orch, "009-missing")
    with pytest.raises(ValidationError):
        render("tasks-done", orch, "not a spec")
    assert sorted(CHARTS) == ["cost-per-agent", "events-per-agent", "tasks-done"]


@given(labels=st.lists(XML_TEXT, min_size=1, max_size=6),
       values=st.lists(st.integers(0, 10**6), min_size=6, max_size=6), title=XML_TEXT)  # fmt: skip
def test_bar_texts_are_escaped(labels: list[str], values: list[int], title: str) -> None:
    bars = [Bar(label, value) for label, value in zip(labels, values, strict=False)]
    root = _parse(events_per_agent_svg(bars, title))
    texts = _texts(root)
    assert texts[0] == title and texts[1] == title
    assert all(b.label in texts for b in bars)
    assert len(list(root.iter(f"{NS}rect"))) == len(bars) + 1  # the background
    assert not [el for el in root.iter() if el.tag.removeprefix(NS) in ("script", "image")]


@given(stamps=st.lists(st.one_of(XML_TEXT, st.datetimes().map(lambda d: d.isoformat())),
                       min_size=1, max_size=8), title=XML_TEXT)  # fmt: skip
def test_tasks_done_texts_are_escaped_and_any_stamp_renders(stamps: list[str], title: str) -> None:
    points = [Point(when, i) for i, when in enumerate(sorted(stamps), start=1)]
    root = _parse(tasks_done_svg(points, title))
    assert _texts(root)[0] == title
    assert len(list(root.iter(f"{NS}circle"))) == len(points)
