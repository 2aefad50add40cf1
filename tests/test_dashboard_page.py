"""The dashboard's page in a real browser (headless Chromium, tests/browser.py) against
the real app served on 127.0.0.1, on the Quick start's demo repository: what it shows
equals the CLI's ``--json``, events arrive live, agent and commit texts stay text, the
token and read-only modes hold. A screenshot of each main view is written under the
test's tmp dir."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .browser import Served, need_chromium, serve_dashboard
from .conftest import CLI, EXAMPLES, clean_env, git

if TYPE_CHECKING:
    from playwright.sync_api import Page

SPEC = "003-reading-goals"
XSS = "<img src=x onerror=alert(1)>"
VIEWS = ("overview", "agents", "board", "conflicts", "prs-tests", "blockers", "denials",
         "inbox", "charts", "stream")  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent
#: the page, a static file, the API, the stream and a chart: each needs the token
GUARDED = ("/", "/static/app.js", "/api/features", "/api/stream", "/api/charts/tasks-done.svg")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Quick start's repository (examples/quickstart.sh): one feature, four agents, a
    merged PR, a blocker and a real conflict between impl-api and impl-data."""
    work = tmp_path_factory.mktemp("demo")
    done = subprocess.run(["bash", str(EXAMPLES / "quickstart.sh"), str(work)], env=clean_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return work / "repo"


@pytest.fixture(scope="module")
def served(demo: Path) -> Iterator[Served]:
    with serve_dashboard(demo) as running:
        yield running


def cli(repo: Path, *args: str) -> Any:
    assert CLI, "the claude-orchestrator console script is not installed"
    done = subprocess.run([CLI, *args], cwd=repo, env=clean_env(), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout) if {"--json", "json"} & set(args) else done.stdout


def load(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-loaded]")
    page.wait_for_selector("#live.on")


def test_the_page_loads_the_demo_feature(page: Page, served: Served, demo: Path,
                                         tmp_path: Path) -> None:  # fmt: skip
    """Agents, task cards, PRs and blockers equal the CLI's --json; each view's screenshot
    is written (a test artifact)."""
    load(page, served.url + "/")
    assert page.input_value("#feature-select") == SPEC
    agents = cli(demo, "agents", SPEC, "--json")
    shown = page.eval_on_selector_all("#agents-table tbody tr", "rs => rs.map(r => r.dataset.role)")
    assert shown == [a["role"] for a in agents]
    tasks = cli(demo, "events", "tasks", SPEC, "--json")
    cards = page.eval_on_selector_all(".card", "cs => cs.map(c => [c.dataset.task, c.dataset."
                                      "status, c.closest('.column').dataset.column, "
                                      "c.querySelector('.title').textContent])")  # fmt: skip
    column = {"todo": "todo", "reopened": "todo", "in-progress": "in-progress",
              "blocked": "blocked", "completed": "done", "merged": "merged"}  # fmt: skip
    assert sorted(cards) == sorted([t["task_id"], t["status"], column[t["status"]],
                                    t["title"] or ""] for t in tasks)  # fmt: skip
    done = [t for t in tasks if t["status"] in ("completed", "merged")]
    assert page.locator('.column[data-column="merged"] .card').count() >= 1
    assert f"{len(done)} of {len(tasks)} tasks done" in page.inner_text("#progress-text")
    assert page.locator("#prs-table tbody tr").count() == len(cli(demo, "prs", "--json"))
    blockers = cli(demo, "events", "blockers", "--json")
    assert page.locator("#blockers-table tbody tr").count() == len(blockers)
    assert all(b["description"] in page.inner_text("#blockers-table") for b in blockers)
    for name in ("tasks-done", "events-per-agent"):
        img = page.locator(f'img[data-chart="{name}"]')
        assert img.evaluate("i => i.complete && i.naturalWidth > 0")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    page.select_option("#feature-select", "")
    page.wait_for_selector("body.overview #features-table tbody tr")
    page.locator("#overview").screenshot(path=str(tmp_path / "overview.png"))
    load(page, served.url + f"/#spec={SPEC}")
    for view in VIEWS[1:]:
        page.locator(f"#{view}").screenshot(path=str(tmp_path / f"{view}.png"))
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == sorted(["dashboard.png", *(f"{v}.png" for v in VIEWS)])
    assert all((tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in written)


def test_a_logged_event_appears_without_reload_within_a_second(page: Page, served: Served,
                                                               demo: Path) -> None:  # fmt: skip
    load(page, served.url + "/")
    page.evaluate("window.notReloaded = true")
    cli(demo, "events", "log-event", SPEC, "implementor-data", "status_update",
        "live from the CLI", "T001")  # fmt: skip
    row = page.locator("#events-table tbody tr").first
    row.filter(has_text="live from the CLI").wait_for(timeout=1000)
    assert page.evaluate("window.notReloaded") is True
    newest = cli(demo, "events", "recent", "1", "--json")[0]
    assert row.get_attribute("data-id") == str(newest["id"])


def test_a_waiting_agent_is_highlighted(page: Page, served: Served, demo: Path) -> None:
    load(page, served.url + "/")
    assert page.locator("tr.agent.waiting").count() == 0
    question = "May I run rm -rf build?"
    cli(demo, "events", "log-event", SPEC, "implementor-api", "agent_waiting", question)
    waiting = page.locator('tr.agent.waiting[data-role="implementor-api"]')
    waiting.wait_for(timeout=5000)
    assert page.locator("tr.agent.waiting").count() == 1
    assert waiting.locator(".question").inner_text() == question
    colour = "r => getComputedStyle(r).backgroundColor"
    other = page.locator('tr.agent[data-role="overseer"]')
    assert waiting.evaluate(colour) != other.evaluate(colour)


def _matrix(page: Page) -> list[int]:
    return [int(c) for c in page.eval_on_selector_all(
        "#conflict-matrix td.hot", "cs => cs.map(c => c.dataset.count)")]  # fmt: skip


def test_the_conflict_matrix_counts_what_the_cli_does(page: Page, served: Served,
                                                      demo: Path) -> None:  # fmt: skip
    """The open conflicts first, then those of a scan the page's button re-ran (an
    action through the same-origin check) on the demo's real conflict."""
    load(page, served.url + "/")
    assert sum(_matrix(page)) == len(cli(demo, "events", "conflicts", SPEC, "--json")) >= 1
    page.click("#detect-conflicts")
    page.wait_for_selector("#status-line:has-text('detect-conflicts ran')")
    page.wait_for_function("n => document.querySelectorAll('#conflict-matrix td.hot').length == n",
                           arg=2)  # fmt: skip
    scan = cli(demo, "detect-conflicts", "--json")["features"][0]["conflicts"]
    open_now = cli(demo, "events", "conflicts", SPEC, "--json")
    assert sum(_matrix(page)) == len(scan) == len(open_now) == 2
    pairs = {frozenset((c["branch"], c["other_branch"])) for c in scan}
    assert len(pairs) == len(_matrix(page))
    page.locator("#conflict-matrix td.hot").first.click()
    assert "models.py" in page.locator("#conflict-detail-list code.file").all_inner_texts()


#: each side of each opened conflict as the page shows it: (branch, role, its commits'
#: full hash, shown hash, subject, task ids and files)
SIDES = """ls => ls.map(l => [Number(l.dataset.conflict), [...l.querySelectorAll('.side')].map(s =>
  [s.dataset.branch, s.dataset.role, [...s.querySelectorAll('li.commit')].map(k => [
    k.dataset.commit, k.querySelector('.hash').textContent, k.querySelector('.subject').textContent,
    [...k.querySelectorAll('.task')].map(t => t.textContent),
    [...k.querySelectorAll('code.file')].map(f => f.textContent)])])])"""


def test_a_conflict_cell_shows_each_sides_commits_and_tasks(page: Page, served: Served,
                                                            demo: Path) -> None:  # fmt: skip
    """Each cell of the matrix (the demo's real conflicts, after a scan) opens its
    conflicts with both sides' branch, role and commits, each with its tasks and files:
    what `events conflict ID --json` says."""
    cli(demo, "detect-conflicts", "--json")
    load(page, served.url + "/")
    cells, seen, tasks = page.locator("#conflict-matrix td.hot"), set(), set()
    assert cells.count() >= 1
    for i in range(cells.count()):
        cells.nth(i).click()
        page.wait_for_selector("#conflict-detail-list[data-loaded]")
        for ident, sides in page.eval_on_selector_all("#conflict-detail-list li.conflict", SIDES):
            detail = cli(demo, "events", "conflict", str(ident), "--spec", SPEC, "--json")
            assert sides == [[s["branch"], s["role"] or "",
                              [[k["commit"], k["commit"][:7], k["subject"], k["tasks"], k["files"]]
                               for k in s["commits"]]] for s in detail["sides"]]  # fmt: skip
            assert len(sides) == 2 and all(side[2] for side in sides), detail
            tasks |= {t for side in sides for k in side[2] for t in k[3]}
            seen.add(ident)
    assert seen == {c["id"] for c in cli(demo, "events", "conflicts", SPEC, "--json")}
    assert tasks, "the demo's conflicting commits name their tasks"


def test_a_commit_message_with_markup_renders_as_text(page: Page, served: Served,
                                                      demo: Path) -> None:  # fmt: skip
    """A commit whose message is an <img onerror> (synced by the git hook) and the same
    text logged as an agent's event and a blocker: shown as text, no element, no dialog."""
    load(page, served.url + "/")
    ui = demo.parent / "repo-worktrees" / SPEC / "impl-ui"
    git(ui, "commit", "-q", "--allow-empty", "-m", f"T003: {XSS}")
    cli(demo, "events", "log-event", SPEC, "implementor-ui", "agent_waiting", XSS)
    page.locator("#events-table td.message", has_text=f"T003: {XSS}").wait_for(timeout=5000)
    page.locator("tr.agent.waiting .question", has_text=XSS).wait_for(timeout=5000)
    page.wait_for_timeout(300)
    assert page.locator("main img:not([data-chart])").count() == 0
    assert page.locator("#events-table td.message", has_text=XSS).count() >= 2


def test_read_only_hides_the_actions_and_refuses_them(page: Page, demo: Path) -> None:
    with serve_dashboard(demo, read_only=True) as running:
        load(page, running.url + "/")
        assert page.locator("#detect-conflicts").is_hidden()
        assert page.locator("#tell-form").is_hidden()
        assert page.locator("#blockers-table button").first.is_hidden()
        refused = page.evaluate("""async () => (await fetch('/api/actions/detect-conflicts',
            {method: 'POST', body: '{}', referrerPolicy: 'same-origin',
             headers: {'Content-Type': 'application/json'}})).status""")
        assert refused == 403
    assert page.locator("#detect-conflicts").is_visible() is False


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_with_a_token_requests_without_it_get_401(page: Page, demo: Path) -> None:
    token = "t" * 32
    with serve_dashboard(demo, token=token) as running:
        for path in GUARDED:
            assert _status(running.url + path) == 401, path
            assert _status(running.url + path + "?token=wrong" + "x" * 30) == 401, path
        bearer = {"Authorization": f"Bearer {token}"}
        assert _status(running.url + "/api/config", bearer) == 200
        answer = page.goto(running.url + "/")
        assert answer is not None and answer.status == 401
        load(page, running.url + f"/?token={token}")
        assert "token" not in page.url
        assert page.locator("#agents-table tbody tr").count() == 4


def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    """The package data: a wheel built from a copy of the tree (a build writes build/
    next to the sources) holds the page's three files."""
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("core", "plugins", "generators"):
        shutil.copytree(ROOT / folder, source / folder, ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
             "-w", str(tmp_path / "dist"), str(source)]  # fmt: skip
    done = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("index.html", "app.js", "style.css"):
        assert f"claude_orchestrator/dashboard_static/{name}" in names


def test_a_guard_denial_and_a_red_overseer_test_stand_out(page: Page, served: Served,
                                                          demo: Path) -> None:  # fmt: skip
    """A real denial (the guard hook refusing a push to main) and a failed overseer run."""
    load(page, served.url + "/")
    api = demo.parent / "repo-worktrees" / SPEC / "impl-api"
    payload = {
        "session_id": "s",
        "cwd": str(api),
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "git push --force origin main"},
    }
    assert CLI
    denied = subprocess.run(
        [CLI, "guard", "--role", "implementor"],
        cwd=api,
        env=clean_env(),
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert denied.returncode == 2, denied.stderr
    row = page.locator("#denials-table tr.denial", has_text="git push --force origin main")
    row.wait_for(timeout=5000)
    assert denied.stderr.strip() in row.locator(".reason").inner_text()
    cli(demo, "events", "record-test", SPEC, "overseer", "e2e", "failed", "--failed", "2")
    red = page.locator('#tests-table tr.overseer-red[data-role="overseer"]')
    red.wait_for(timeout=5000)
    colour = "r => getComputedStyle(r).backgroundColor"
    green = page.locator("#tests-table tr.green").first
    assert red.evaluate(colour) != green.evaluate(colour)
    assert page.locator("#tests-table tr.overseer-red").count() == 1


def test_the_event_filters(page: Page, served: Served, demo: Path) -> None:
    load(page, served.url + "/")
    every = page.locator("#events-table tbody tr").count()
    page.select_option("#filter-type", "task_started")
    types = page.eval_on_selector_all(
        "#events-table tbody tr", "rs => rs.map(r => r.cells[4].textContent)"
    )
    assert types and set(types) == {"task_started"} and len(types) < every
    page.select_option("#filter-type", "")
    page.select_option("#filter-agent", "implementor-data")
    roles = page.eval_on_selector_all(
        "#events-table tbody tr", "rs => rs.map(r => r.cells[3].textContent)"
    )
    assert roles and set(roles) == {"implementor-data"}
    page.fill("#filter-task", "t001")
    tasks = page.eval_on_selector_all(
        "#events-table tbody tr", "rs => rs.map(r => r.cells[5].textContent)"
    )
    recent = cli(demo, "events", "recent", "200", "--json")
    assert len(tasks) == len([e for e in recent if e["role"] == "implementor-data"
                              and e["task_id"] == "T001"])  # fmt: skip


def test_the_actions_go_through_the_library_and_are_recorded(page: Page, demo: Path) -> None:
    """Tell an agent, resolve a blocker: from the page's forms, on a dashboard of its own."""
    with serve_dashboard(demo) as running:
        load(page, running.url + "/")
        page.select_option("#tell-role", "implementor-ui")
        page.fill("#tell-text", "the goals API is merged: rebase")
        page.click("#tell-form button[type=submit]")
        page.wait_for_selector("#status-line:has-text('message sent to implementor-ui')")
        inbox = cli(demo, "inbox", "implementor-ui", "--json")
        assert [m["text"] for m in inbox][-1] == "the goals API is merged: rebase"
        page.locator("#inbox-table td", has_text="the goals API is merged").wait_for(timeout=5000)
        blocker = cli(demo, "events", "blockers", "--json")[0]
        row = page.locator(f'#blockers-table tr[data-blocker="{blocker["id"]}"]')
        row.locator("input.notes").fill("API merged")
        row.locator("button").click()
        page.wait_for_selector(f"#status-line:has-text('blocker {blocker['id']} resolved')")
        assert blocker["id"] not in [b["id"] for b in cli(demo, "events", "blockers", "--json")]
        row.wait_for(state="detached", timeout=5000)
        actions = [e for e in cli(demo, "events", "recent", "50", "--json")
                   if e["event_type"] == "dashboard_action"]  # fmt: skip
        assert {e["metadata"]["action"] for e in actions} >= {"tell", "unblock"}
        assert {e["metadata"]["actor"] for e in actions} == {"dashboard"}


def test_the_readme_screenshot_script_writes_a_png(tmp_path: Path) -> None:
    """examples/dashboard_screenshot.py: the demo, the dashboard command, one PNG."""
    need_chromium()
    output = tmp_path / "dashboard.png"
    done = subprocess.run([sys.executable, str(EXAMPLES / "dashboard_screenshot.py"), str(output)],
                          env=clean_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"wrote {output}"
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
