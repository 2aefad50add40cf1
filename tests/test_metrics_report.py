"""The metrics HTML report (core/metrics_report.py): one page that parses, shows the
records' numbers, escapes every text that came from an agent, names no URL, inlines the
plots, and in real Chromium renders without a console error or a single request."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator.metrics_model import (
    AgentFlow,
    BurnPoint,
    ConflictFlow,
    CostPoint,
    CostReport,
    CostRow,
    FeatureFlow,
    FlowReport,
    PullRequestFlow,
    TaskFlow,
    Tokens,
    UnknownModel,
)
from claude_orchestrator.metrics_plot import MISSING, NO_DATA, drawable
from claude_orchestrator.metrics_report import hours, inline_svg, money, render

from .conftest import clean_env

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

SPEC = "003-reading-goals"
START = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)
GENERATED = "2025-11-25T18:00:00.000Z"
HOSTILE = ["<script>alert(1)</script>", '"onload="alert(2)', "<img src=x onerror=alert(3)>",
           "</table></td><b>x", "http://203.0.113.9/x.css", "&amp; &lt;"]  # fmt: skip


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def at(hours_in: float) -> str:
    return stamp(START + timedelta(hours=hours_in))


# ------------------------------------------------------------------------------ records
def tokens(n: int) -> Tokens:
    return Tokens(n, 120 * n, 900 * n + 7, 3_000 * n, 41_000 * n + 1)


def report(by: str, keys: list[str], unknown: list[UnknownModel]) -> CostReport:
    rows = [CostRow(key, SPEC, tokens(i + 1), 1.2345 * (i + 1) + 0.004, unpriced=i % 2)
            for i, key in enumerate(keys)]  # fmt: skip
    total = CostRow("total", SPEC, Tokens(*(sum(r.tokens[i] for r in rows) for i in range(5))),
                    sum(r.cost for r in rows), sum(r.unpriced for r in rows))  # fmt: skip
    return CostReport(by, SPEC, None, rows, total, unknown, "2025-11-24")


class Sample(NamedTuple):
    costs: dict[str, CostReport]
    flow: FlowReport
    points: list[CostPoint]
    burn: list[BurnPoint]


def sample(names: list[str] | None = None) -> Sample:
    """A feature of three agents; ``names`` replace every text an agent could choose."""
    n = names or ["T001", "T002", "implementor-api", "claude-mystery-9", "src/api.py",
                  "waiting for the schema"]  # fmt: skip
    task_a, task_b, role, model, path, blocker = (n * 6)[:6]
    unknown = [UnknownModel(model, 3, 12_345)]
    costs = {
        "agent": report("agent", ["overseer", role, "implementor-ui"], unknown),
        "task": report("task", [task_a, task_b, "unattributed"], unknown),
        "pr": report("pr", ["#7", "unmerged"], unknown),
        "day": report("day", ["2025-11-24", "2025-11-25"], unknown),
    }
    ui = "implementor-ui"
    tasks = [
        TaskFlow(SPEC, task_a, role, at(0), at(2.5), at(4), 9000.0, 5400.0, 600.0, [blocker], 1),
        TaskFlow(SPEC, task_b, ui, at(1), at(1.25), None, 900.0, None, 0.0, [], None),
        TaskFlow(SPEC, "T003", role, at(3), None, None, None, None, 3600.0, [blocker, "x"], None),
    ]
    agents = [AgentFlow(SPEC, role, 1, 2.5, 20_000.0, 1_800.0, 7_200.0),
              AgentFlow(SPEC, ui, 1, None, 3_600.0, 0.0, 0.0)]  # fmt: skip
    prs = [PullRequestFlow(1, 7, role, "merged", at(3), at(4), 3600.0, [task_a]),
           PullRequestFlow(2, None, ui, "open", at(5), None, None, [task_b])]  # fmt: skip
    conflicts = [ConflictFlow(1, role, ui, [path, "README.md"], at(2), at(2.75), 2700.0),
                 ConflictFlow(2, ui, None, [path], at(6), None, 36_000.0)]  # fmt: skip
    flow = FlowReport(SPEC, at(16), tasks, agents, FeatureFlow(SPEC, conflicts, 4, 1, prs))
    points = [CostPoint(at(i / 4), ("overseer", role, ui)[i % 3], 0.05 + i / 100)
              for i in range(30)]  # fmt: skip
    burn = [BurnPoint(at(0), 3, 3), BurnPoint(at(1.25), 2, 3), BurnPoint(at(2.5), 1, 3)]
    return Sample(costs, flow, points, burn)


def page_of(s: Sample) -> str:
    return render(SPEC, s.costs, s.flow, s.points, s.burn, generated_at=GENERATED)


# ------------------------------------------------------------------------------ parsing
class Cell(NamedTuple):
    text: str
    value: str | None


class Parsed(HTMLParser):
    """Every element with its attributes, the tables' cells by table id, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.tables: dict[str, list[list[Cell]]] = {}
        self.styles: list[str] = []
        self.svg_texts: list[str] = []
        self.cards: dict[str, Cell] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._value: str | None = None
        self._in: list[str] = []
        self._term = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))
        self._in.append(tag)
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th", "dd", "dt"):
            self._cell, self._value = [], found.get("data-value")

    def handle_endtag(self, tag: str) -> None:
        while self._in and self._in.pop() != tag:
            pass
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(Cell("".join(self._cell), self._value))
            self._cell = None
        elif tag == "dt" and self._cell is not None:
            self._term, self._cell = "".join(self._cell), None
        elif tag == "dd" and self._cell is not None:
            self.cards[self._term] = Cell("".join(self._cell), self._value)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in and self._in[-1] == "style":
            self.styles.append(data)
        if "svg" in self._in and self._in[-1] == "text":
            self.svg_texts.append(data)


def parse(page: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(page)
    parsed.close()
    return parsed


def body(parsed: Parsed, table: str) -> list[list[Cell]]:
    """The table's rows below its heading row."""
    return parsed.tables[table][1:]


def number(text: str) -> float:
    return float(text.replace(",", "").removeprefix("$").removesuffix(" h"))


# -------------------------------------------------------------------------------- tests
def test_the_cost_tables_show_the_reports_numbers() -> None:
    s = sample()
    parsed = parse(page_of(s))
    for by, cost in s.costs.items():
        rows = body(parsed, f"cost-{by}")
        assert len(rows) == len(cost.rows) + 1
        for cells, row in zip(rows, [*cost.rows, cost.total], strict=True):
            assert cells[0].text == (row.key if row is not cost.total else "total")
            t = row.tokens
            expected = [t.messages, t.input_tokens, t.output_tokens, t.cache_write_tokens,
                        t.cache_read_tokens, t.total]  # fmt: skip
            assert [int(c.value or "") for c in cells[1:7]] == expected
            assert [int(number(c.text)) for c in cells[1:7]] == expected
            assert float(cells[7].value or "") == row.cost
            assert cells[7].text == money(row.cost)
            assert abs(number(cells[7].text) - row.cost) <= 0.005
            assert int(cells[8].value or "") == row.unpriced
    unknown = body(parsed, "unknown-models")
    assert [[c.text for c in r] for r in unknown] == [["claude-mystery-9", "3", "12,345"]]


def test_the_flow_tables_show_the_flow_reports_numbers() -> None:
    s = sample()
    parsed = parse(page_of(s))
    tasks = body(parsed, "tasks")
    assert [r[0].text for r in tasks] == [t.task_id for t in s.flow.tasks]
    for cells, task in zip(tasks, s.flow.tasks, strict=True):
        for cell, seconds in zip(cells[5:8], [task.cycle_seconds, task.merge_wait_seconds,
                                              task.blocked_seconds], strict=True):  # fmt: skip
            assert_duration(cell, seconds)
        assert cells[8].text == "; ".join(task.blocked_by)
    assert [r[9].text for r in tasks] == ["#7", "\u2014", "\u2014"]
    assert [r[2].text for r in tasks] == [
        "2025-11-24 09:00:00", "2025-11-24 10:00:00", "2025-11-24 12:00:00"]  # fmt: skip
    agents = body(parsed, "agents")
    for cells, agent in zip(agents, s.flow.agents, strict=True):
        assert [cells[0].text, int(cells[1].text)] == [agent.role, agent.tasks_done]
        for cell, seconds in zip(cells[3:6], [agent.working_seconds, agent.waiting_seconds,
                                              agent.idle_seconds], strict=True):  # fmt: skip
            assert_duration(cell, seconds)
    assert [agents[0][2].text, agents[1][2].text] == ["2.5", "\u2014"]
    prs = body(parsed, "pull-requests")
    assert [[c.text for c in r[:3]] for r in prs] == [["#7", "implementor-api", "merged"],
                                                      ["#2", "implementor-ui", "open"]]  # fmt: skip
    assert_duration(prs[0][5], 3600.0)
    conflicts = body(parsed, "conflicts")
    assert [r[3].text for r in conflicts] == ["src/api.py, README.md", "src/api.py"]
    assert [r[2].text for r in conflicts] == ["implementor-ui", "\u2014"]
    for cells, conflict in zip(conflicts, s.flow.feature.conflicts, strict=True):
        assert_duration(cells[6], conflict.open_seconds)


def assert_duration(cell: Cell, seconds: float | None) -> None:
    if seconds is None:
        assert (cell.text, cell.value) == ("\u2014", None)
        return
    assert float(cell.value or "") == seconds
    assert cell.text == hours(seconds)
    assert abs(number(cell.text) - seconds / 3600) <= 0.05 + 1e-9


def test_the_summary_shows_the_totals() -> None:
    s = sample()
    page = page_of(s)
    assert ("generated 2025-11-25T18:00:00.000Z; durations until 2025-11-25T01:00:00.000Z; "
            "times UTC; prices: the shipped table of 2025-11-24 under") in page  # fmt: skip
    since = {by: r._replace(since="2025-11-20") for by, r in s.costs.items()}
    assert "; cost since 2025-11-20; " in render(SPEC, since, s.flow, [], [], generated_at="g")
    cards = parse(page).cards
    total = s.costs["agent"].total
    assert float(cards["cost"].value or "") == total.cost
    assert cards["cost"].text == money(total.cost)
    assert int(cards["tokens"].value or "") == total.tokens.total
    assert cards["tasks completed"].text == "2"
    assert cards["tasks not done"].text == "1 of 3"
    assert cards["PRs merged"].text == "1 of 2"
    assert cards["conflicts open"].text == "1 of 2"
    assert cards["guard denials"].text == "4"
    assert cards["tests red on the overseer, green on the implementor"].text == "1"


def test_every_text_from_an_agent_is_escaped() -> None:
    for hostile in HOSTILE:
        s = sample([hostile] * 6)
        s.flow.tasks[2] = s.flow.tasks[2]._replace(started_at=hostile)  # a text in an attribute
        parsed = parse(page_of(s))
        assert ("time", [("datetime", hostile)]) in parsed.elements
        tags = {tag for tag, _ in parsed.elements}
        assert not tags & {"script", "img", "iframe", "object", "embed", "link", "b", "a"}
        attributes = {name for _, attrs in parsed.elements for name, _ in attrs}
        assert not {a for a in attributes if a.startswith("on")}
        texts = [c.text for rows in parsed.tables.values() for r in rows for c in r]
        assert hostile in texts
        assert f"{hostile}: $" in " ".join(parsed.svg_texts)  # the cost plot's legend


@settings(max_examples=10, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=6, max_size=6))
def test_any_names_are_shown_as_they_are(names: list[str]) -> None:
    parsed = parse(page_of(sample(names)))
    assert [r[0].text for r in body(parsed, "cost-task")[:2]] == [drawable(names[0]),
                                                                 drawable(names[1])]  # fmt: skip
    assert body(parsed, "unknown-models")[0][0].text == drawable(names[3])
    assert body(parsed, "tasks")[0][8].text == drawable(names[5])


def test_the_page_names_no_url_and_loads_nothing() -> None:
    page = page_of(sample())
    parsed = parse(page)
    assert not re.search(r"(?i)https?:|//", page)
    for _, attrs in parsed.elements:
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
                assert (value or "").startswith("#"), (name, value)
            if name == "style":
                assert all(m.startswith("#") for m in re.findall(r"url\(([^)]*)", value or ""))
    css = "".join(parsed.styles)
    assert "@import" not in css and "url(" not in css
    policy = [("http-equiv", "Content-Security-Policy"),
              ("content", "default-src 'none'; style-src 'unsafe-inline'")]  # fmt: skip
    assert ("meta", policy) in parsed.elements


def test_a_hostile_url_stays_text() -> None:
    parsed = parse(page_of(sample(["http://203.0.113.9/x.css"] * 6)))
    for _, attrs in parsed.elements:
        assert all("203.0.113.9" not in (value or "") for _, value in attrs)


def test_the_plots_are_inline_svg_with_unique_ids() -> None:
    page = page_of(sample())
    parsed = parse(page)
    svgs = [dict(attrs) for tag, attrs in parsed.elements if tag == "svg"]
    assert [s["aria-label"] for s in svgs] == ["cost per agent", "tasks burn-down",
                                               "cycle times of completed tasks"]  # fmt: skip
    assert all(s["role"] == "img" and "xmlns" not in s for s in svgs)
    assert f"{SPEC}: cost per agent" in parsed.svg_texts
    assert "2 completed tasks" in parsed.svg_texts
    ids = [v for _, attrs in parsed.elements for n, v in attrs if n == "id"]
    assert len(ids) == len(set(ids))
    referenced = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', page))
    assert referenced and referenced <= set(ids)
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


def test_inline_svg_keeps_referenced_ids_and_drops_the_others() -> None:
    svg = (b'<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg xmlns="http://www.w3.org/2000/svg" '
           b'xmlns:xlink="http://www.w3.org/1999/xlink" width="1pt"><g id="figure_1">'
           b'<path id="m1" d="M 0 0"/><use xlink:href="#m1"/><text>a id="x" b</text>'
           b"</g></svg>")  # fmt: skip
    assert inline_svg(svg, "<l>") == (
        '<svg width="1pt" role="img" aria-label="&lt;l&gt;"><g><path id="m1" d="M 0 0"/>'
        '<use xlink:href="#m1"/><text>a id="x" b</text></g></svg>'
    )


def test_an_empty_feature_renders_with_empty_charts() -> None:
    flow = FlowReport(SPEC, GENERATED, [], [], FeatureFlow(SPEC, [], 0, 0, []))
    page = render(SPEC, {}, flow, [], [], generated_at=GENERATED)
    parsed = parse(page)
    assert parsed.svg_texts.count(NO_DATA) == 3
    for what in ("tasks", "agents", "pull requests", "conflicts"):
        assert f"No {what} yet." in page
    assert set(parsed.tables) == set()
    empty = {by: CostReport(by, SPEC, None, [], CostRow("total", SPEC, Tokens(), 0.0), [], "d")
             for by in ("agent", "day")}  # fmt: skip
    page = render(SPEC, empty, flow, [], [], generated_at=GENERATED)
    assert page.count("No replies yet.") == 2 and parse(page).cards["cost"].text == "$0.00"


MISSING_SCRIPT = """
import sys
sys.modules["matplotlib"] = None  # what an install without the extra imports
from claude_orchestrator.errors import ValidationError
from claude_orchestrator.metrics_model import FeatureFlow, FlowReport
from claude_orchestrator.metrics_report import render
try:
    render("s", {}, FlowReport("s", "n", [], [], FeatureFlow("s", [], 0, 0, [])), [], [],
           generated_at="n")
except ValidationError as exc:
    print(exc)
"""


def test_without_matplotlib_the_report_says_how_to_install_it() -> None:
    done = subprocess.run([sys.executable, "-c", MISSING_SCRIPT], env=clean_env(),
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == MISSING


# ------------------------------------------------------------------------------ Chromium
class Opened(NamedTuple):
    """What loading the report did: the URLs it requested, those that reached the
    network (routed), those refused with why, and the console's errors."""

    requested: list[str]
    routed: list[str]
    failed: list[tuple[str, str | None]]
    errors: list[str]


def _open(page: Page, path: Path) -> Opened:
    opened = Opened([], [], [], [])
    page.on("request", lambda request: opened.requested.append(request.url))
    page.on("requestfailed", lambda r: opened.failed.append((r.url, r.failure)))
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: opened.errors.append(str(exc)))

    def route(route: Route) -> None:
        opened.routed.append(route.request.url)
        route.continue_() if route.request.url.startswith("file:") else route.abort()

    page.route("**", route)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return opened


def test_chromium_renders_the_report_offline(page: Page, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(page_of(sample()), encoding="utf-8")
    opened = _open(page, path)
    assert opened.requested == [path.as_uri()]
    assert opened.errors == [] and opened.failed == []
    assert all(url.startswith("file:") for url in opened.routed)
    width = "s => s.map(e => e.getBoundingClientRect().width)"
    widths = page.eval_on_selector_all("svg[role=img]", width)
    assert len(widths) == 3 and min(widths) > 300
    # every reference inside the plots resolves (their tick marks)
    dangling = page.evaluate("""() => [...document.querySelectorAll('svg use')]
        .map(u => u.getAttribute('xlink:href') || u.getAttribute('href'))
        .filter(h => !document.getElementById(h.slice(1)))""")
    assert dangling == []
    assert page.evaluate("() => document.querySelector('svg use').getBBox().height") > 0
    assert page.inner_text("#cost-agent tfoot th") == "total"
    assert page.title() == f"{SPEC}: cost and flow"


def test_chromium_runs_nothing_and_fetches_nothing_from_hostile_names(
    page: Page, tmp_path: Path
) -> None:
    """The page fixture fails on any dialog; the CSP refuses a fetch even if one got in."""
    path = tmp_path / "report.html"
    path.write_text(page_of(sample(HOSTILE[:3] * 2)), encoding="utf-8")
    opened = _open(page, path)
    assert opened.requested == [path.as_uri()] and opened.errors == []
    assert page.locator("script, img, iframe").count() == 0
    smuggled = "http://127.0.0.1:9/x.png"
    page.evaluate(f"() => {{ const i = document.createElement('img'); i.src = '{smuggled}'; "
                  "document.body.append(i); }")  # fmt: skip
    page.wait_for_function("() => document.querySelector('img').complete")
    assert opened.failed == [(smuggled, "csp")] and smuggled not in opened.routed
    assert any("Content Security Policy" in e for e in opened.errors)
