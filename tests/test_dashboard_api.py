"""The dashboard's JSON API: each endpoint answers what the CLI's ``--json`` prints for the
same data (a real repository, a real store, PRs through the local forge), its filters, its
404s and 400s, the page's headers, the static files, and the actions (each recorded as an
event naming the dashboard)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.api import Orchestrator

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork for its TestClient; httpx is what is installed
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient
from claude_orchestrator.dashboard_app import create_app
from claude_orchestrator.dashboard_auth import CSP
from claude_orchestrator.manager import PluginRegistry

from .conftest import Run
from .test_workflow_setup import SPEC, TASKS, commit, feature

__all__ = ["feature"]
ORIGIN = "http://testserver"
XSS = "<img src=x onerror=alert(1)>"
#: the client and repository fixtures are shared by the examples (they only read)
FIXTURES = [HealthCheck.function_scoped_fixture]


def make_client(repo: Path, **options: Any) -> TestClient:
    def factory() -> Orchestrator:
        return Orchestrator(repo, registry=PluginRegistry(entrypoints=False), env={})

    settings_ = {"read_only": False, "token": None, "allowed_origin": None, **options}
    return TestClient(create_app(factory, **settings_))


@pytest.fixture
def client(repo: Path) -> Iterator[TestClient]:
    with make_client(repo) as c:
        yield c


@pytest.fixture
def team(cli: Run, repo: Path, feature: dict[str, Path]) -> dict[str, Path]:
    """The feature with tasks done, a test result, a blocker, a conflict, an open PR, a
    message to an agent and an event whose message is markup."""
    tree = feature["impl-data"]
    commit(tree, "src/models.py", "x = 1\n", "T001: model")
    commit(tree, "src/models.py", "x = 2\n", "T001 done")
    commit(feature["impl-api"], "src/api.py", "a\n", "T002: started")
    for where in (tree, feature["impl-api"]):
        assert cli("sync-status", cwd=where).code == 0
    steps = [
        ("events", "record-test", SPEC, "implementor-data", "unit", "passed", "--passed", "7"),
        ("events", "record-test", SPEC, "overseer", "e2e", "failed", "--failed", "1"),
        ("events", "block", SPEC, "implementor-ui", "dependency", "needs the API"),
        ("events", "log-conflict", SPEC, "implementor-api", '["src/models.py"]', "critical"),
        ("tell", "implementor-api", "rebase on the overseer branch", "--spec", SPEC),
        ("tell", "overseer", "T002 needs review", "--spec", SPEC),
        ("events", "log-event", SPEC, "implementor-ui", "status_update", XSS),
    ]
    for args in steps:
        result = cli(*args)
        assert result.code == 0, result
    assert cli("open-pr", "--json", cwd=tree).code == 0
    return feature


def without_clock(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Agent views without the seconds in state (they grow between two reads)."""
    return [{k: v for k, v in view.items() if k != "seconds_in_state"} for view in views]


#: (endpoint, the CLI command whose --json it equals)
PAIRS = [
    ("/api/features", ("events", "status")),
    (f"/api/features?spec={SPEC}", ("events", "status", SPEC)),
    ("/api/events?limit=5", ("events", "recent", "5")),
    (f"/api/events?limit=3&spec={SPEC}", ("events", "recent", "3", "--spec", SPEC)),
    ("/api/events", ("events", "recent", "50")),
    (f"/api/features/{SPEC}/conflicts", ("events", "conflicts", SPEC)),
    (f"/api/features/{SPEC}/conflicts?all=1", ("events", "conflicts", SPEC, "--all")),
    ("/api/blockers", ("events", "blockers")),
    (f"/api/blockers?spec={SPEC}&all=1", ("events", "blockers", SPEC, "--all")),
    ("/api/tests", ("events", "test-results")),
    (f"/api/tests?spec={SPEC}&limit=1", ("events", "test-results", SPEC, "--limit", "1")),
    ("/api/prs", ("prs",)),
    (f"/api/prs?spec={SPEC}", ("prs", SPEC)),
    ("/api/inbox", ("inbox",)),
    ("/api/inbox?role=implementor-api", ("inbox", "implementor-api")),
    (f"/api/inbox?role=overseer&spec={SPEC}", ("inbox", "overseer", "--spec", SPEC)),
]


def test_each_endpoint_equals_the_cli_json(
    cli: Run, client: TestClient, team: dict[str, Path]
) -> None:
    """Every endpoint's answer is the CLI's --json for the same data, and not empty."""
    for url, args in PAIRS:
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text)
        assert answer.headers["content-type"] == "application/json", url
        expected = cli(*args, "--json")
        assert expected.code == 0, expected
        assert answer.json() == expected.json(), url
        assert answer.json(), f"{url}: the fixture should give it something to show"
    agents = client.get(f"/api/features/{SPEC}/agents").json()
    assert without_clock(agents) == without_clock(cli("agents", SPEC, "--json").json())
    tasks = client.get(f"/api/features/{SPEC}/tasks").json()
    assert tasks == cli("events", "tasks", SPEC, "--json").json()
    assert {(t["task_id"], t["status"], t["role"]) for t in tasks} >= {
        ("T001", "completed", "implementor-data"), ("T002", "in-progress", "implementor-api")
    }  # fmt: skip


BOARD = TASKS + "- [ ] T004 Docs for <b>goals</b>\n- [ ] T005 Release notes\n"


def test_the_task_board_lists_every_task_of_tasks_md(
    cli: Run, client: TestClient, team: dict[str, Path]
) -> None:
    """Started, done, blocked and untouched tasks, each with its tasks.md title, in the
    file's order; an untouched one is todo with no agent; a task only an event names comes
    last without a title; the endpoint answers what `events tasks --json` prints."""
    commit(team["overseer"], f"specs/{SPEC}/tasks.md", BOARD, "more tasks")
    steps = [
        ("events", "block", SPEC, "implementor-ui", "dependency", "API first", "--task", "T003"),
        ("events", "log-event", SPEC, "implementor-ui", "task_started", "T009 by hand", "T009"),
    ]
    for args in steps:
        assert cli(*args).code == 0
    board = client.get(f"/api/features/{SPEC}/tasks").json()
    assert board == cli("events", "tasks", SPEC, "--json").json()
    assert [(t["task_id"], t["status"], t["role"]) for t in board] == [
        ("T001", "completed", "implementor-data"), ("T002", "in-progress", "implementor-api"),
        ("T003", "blocked", "implementor-ui"), ("T004", "todo", None), ("T005", "todo", None),
        ("T009", "in-progress", "implementor-ui"),
    ]  # fmt: skip
    titles = {t["task_id"]: t["title"] for t in board}
    assert titles["T004"] == "Docs for <b>goals</b>" and titles["T009"] is None
    assert titles["T002"] == "API" and "Model in src/models.py" in titles["T001"]
    table = cli("events", "tasks", SPEC)
    assert table.code == 0 and "T005" in table.out and "todo" in table.out


def conflicting(cli: Run, feature: dict[str, Path]) -> dict[str, Any]:
    """Two implementors who changed the same lines (T001's, then T002's and an unrelated
    commit), found by detect-conflicts; the scan's conflict between their branches."""
    data, api = feature["impl-data"], feature["impl-api"]
    mine = commit(data, "src/shared.py", "x = 1\n", "T001: shared model")
    commit(data, "src/other.py", "y = 1\n", "T001 other file")
    theirs = commit(api, "src/shared.py", "x = 2\n", "T002 [US1] done")
    assert cli("detect-conflicts", "--json").code == 1
    found = cli("events", "conflicts", SPEC, "--json").json()
    pair = next(c for c in found if c["branch"] and "src/shared.py" in c["files"])
    return {"conflict": pair, "data": mine, "api": theirs}


def test_a_conflict_opens_the_commits_and_tasks_on_each_side(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """A real conflict (git merge-tree): each side lists its commits ahead of the merge
    base that touched the file, with the tasks they name, and not the commit that touched
    another file; the library function's JSON is the CLI's."""
    from claude_orchestrator.dashboard_api import conflict
    from claude_orchestrator.render import to_json

    found = conflicting(cli, feature)
    ident = found["conflict"]["id"]
    shown = cli("events", "conflict", str(ident), "--spec", SPEC, "--json").json()
    orch = Orchestrator(repo, registry=PluginRegistry(entrypoints=False), env={})
    assert json.loads(to_json(conflict(orch, ident, SPEC))) == shown
    assert shown["conflict"] == found["conflict"] and shown["merge_base"]
    sides = {s["branch"]: s["commits"] for s in shown["sides"]}
    assert set(sides) == {found["conflict"]["branch"], found["conflict"]["other_branch"]}
    commits = [(k["commit"], k["tasks"], k["files"]) for side in sides.values() for k in side]
    assert sorted(commits) == sorted([
        (found["data"], ["T001"], ["src/shared.py"]), (found["api"], ["T002"], ["src/shared.py"])
    ])  # fmt: skip
    text = cli("events", "conflict", str(ident))
    assert text.code == 0 and "T001: shared model" in text.out


def test_a_conflict_the_agent_logged_is_against_the_overseer_branch(
    cli: Run, feature: dict[str, Path]
) -> None:
    """A logged conflict's sides are the agent's branch and the overseer's; an unknown id,
    or one of another feature, is one error line, exit 2."""
    commit(feature["impl-api"], "src/models.py", "z\n", "T002 models")
    logged = cli("events", "log-conflict", SPEC, "implementor-api", '["src/models.py"]', "--json")
    ident = str(logged.json()["id"])
    sides = cli("events", "conflict", ident, "--json").json()["sides"]
    assert [(s["branch"], s["role"]) for s in sides] == [
        (f"feature/{SPEC}/impl-api", "implementor-api"), (f"feature/{SPEC}/overseer", "overseer")
    ]  # fmt: skip
    assert [k["tasks"] for k in sides[0]["commits"]] == [["T002"]] and not sides[1]["commits"]
    assert cli("events", "add-feature", "004-other", "Other").code == 0
    for args in (("999",), ("0",), (ident, "--spec", "004-other")):
        wrong = cli("events", "conflict", *args)
        assert wrong.code == 2 and wrong.err.startswith("error: "), wrong
        assert len(wrong.err.strip().splitlines()) == 1 and "Traceback" not in wrong.err


def test_the_conflict_endpoint_answers_the_cli_json(
    cli: Run, client: TestClient, feature: dict[str, Path]
) -> None:
    """/api/features/SPEC/conflicts/ID is `events conflict ID --spec SPEC --json`, a scan's
    conflict and a logged one; an unknown id, one of another feature or of an unknown
    feature is 404, an id that is not a positive whole number 400: one JSON error line."""
    found = conflicting(cli, feature)
    logged = cli("events", "log-conflict", SPEC, "implementor-api", '["src/shared.py"]', "--json")
    for ident in (str(found["conflict"]["id"]), str(logged.json()["id"])):
        answer = client.get(f"/api/features/{SPEC}/conflicts/{ident}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/json"
        expected = cli("events", "conflict", ident, "--spec", SPEC, "--json")
        assert expected.code == 0 and answer.json() == expected.json()
        assert [k for side in answer.json()["sides"] for k in side["commits"]]
    assert cli("events", "add-feature", "004-other", "Other").code == 0
    ident = found["conflict"]["id"]
    cases = [(f"/api/features/{SPEC}/conflicts/999", 404),
             (f"/api/features/004-other/conflicts/{ident}", 404),
             (f"/api/features/{UNKNOWN}/conflicts/{ident}", 404),
             (f"/api/features/{SPEC}/conflicts/0", 400),
             (f"/api/features/{SPEC}/conflicts/abc", 400),
             (f"/api/features/{SPEC}/conflicts/-1", 400)]  # fmt: skip
    for url, status in cases:
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.text)
        error = answer.json()["error"]
        assert error and "\n" not in error and "Traceback" not in error, url


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(ident=st.text(st.characters(codec="utf-8", exclude_characters="/."), min_size=1,
                     max_size=12))  # fmt: skip
def test_any_conflict_id_is_json_never_a_crash(
    client: TestClient, initialized: Path, ident: str
) -> None:
    """Whatever the id (sent URL-encoded), the answer is one JSON error line: 404 (no such
    conflict) or 400."""
    from urllib.parse import quote

    answer = client.get(f"/api/features/{SPEC}/conflicts/{quote(ident, safe='')}")
    assert answer.status_code in (400, 404), (ident, answer.text)
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] and "\n" not in answer.json()["error"]


def test_filters_narrow_to_one_feature(cli: Run, client: TestClient, team: dict[str, Path]) -> None:
    """?spec= keeps one feature's rows; ?limit= caps the events."""
    assert cli("events", "add-feature", "004-other", "Other").code == 0
    assert cli("events", "block", "004-other", "overseer", "external", "waiting").code == 0
    everyone = client.get("/api/blockers").json()
    assert {b["spec_id"] for b in everyone} == {SPEC, "004-other"}
    mine = client.get(f"/api/blockers?spec={SPEC}").json()
    assert mine and {b["spec_id"] for b in mine} == {SPEC}
    assert {e["spec_id"] for e in client.get("/api/events?spec=004-other").json()} == {"004-other"}
    assert len(client.get("/api/events?limit=2").json()) == 2
    assert {r["spec_id"] for r in client.get("/api/features?spec=004-other").json()} == {
        "004-other"
    }


UNKNOWN = "099-missing"
NOT_FOUND = [
    f"/api/features/{UNKNOWN}/agents",
    f"/api/features/{UNKNOWN}/conflicts",
    f"/api/features/{UNKNOWN}/tasks",
    f"/api/features?spec={UNKNOWN}",
    f"/api/events?spec={UNKNOWN}",
    f"/api/blockers?spec={UNKNOWN}",
    f"/api/tests?spec={UNKNOWN}",
    f"/api/prs?spec={UNKNOWN}",
    f"/api/inbox?spec={UNKNOWN}",
    "/api/nothing-here",
    "/static/missing.js",
]
BAD = [
    "/api/events?limit=ten",
    "/api/events?limit=0",
    "/api/events?limit=-3",
    "/api/tests?limit=1.5",
    "/api/features/Not A Spec/agents",
    "/api/inbox?role=boss",
    f"/api/features/{SPEC}/conflicts?all=maybe",
]


def test_unknown_things_are_404_and_bad_input_400(client: TestClient, initialized: Path) -> None:
    """A feature, route or file that does not exist is 404; bad input is 400; both JSON
    with one line saying what is wrong."""
    for url, status in [(u, 404) for u in NOT_FOUND] + [(u, 400) for u in BAD]:
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.text)
        assert answer.headers["content-type"] == "application/json", url
        error = answer.json()["error"]
        assert error and "\n" not in error and "Traceback" not in error, url
    assert "Add it with" in client.get(f"/api/features/{UNKNOWN}/agents").json()["error"]
    assert client.post("/api/features").status_code == 405


def test_config_says_read_only_and_version(repo: Path, initialized: Path) -> None:
    from claude_orchestrator import __version__

    for read_only in (False, True):
        with make_client(repo, read_only=read_only) as c:
            assert c.get("/api/config").json() == {"read_only": read_only, "version": __version__}


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(limit=st.text(max_size=12))
def test_any_limit_is_json_never_a_crash(client: TestClient, initialized: Path, limit: str) -> None:
    """Whatever ?limit= holds, the answer is JSON: events (200) or one error line (400)."""
    answer = client.get("/api/events", params={"limit": limit})
    assert answer.status_code in (200, 400), answer.text
    assert answer.headers["content-type"] == "application/json"
    if answer.status_code == 400:
        assert "limit" in answer.json()["error"]
    else:
        assert isinstance(answer.json(), list)


def test_json_never_html(client: TestClient, team: dict[str, Path]) -> None:
    """Markup from an agent comes back as JSON data (application/json, nosniff), never as
    a page a browser would render."""
    answer = client.get("/api/events?limit=50")
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert XSS in [e["message"] for e in answer.json()]
    assert not answer.text.lstrip().startswith("<")


# --------------------------------------------------------------------- page and static
@pytest.fixture
def static(tmp_path: Path) -> Path:
    folder = tmp_path / "static"
    (folder / "css").mkdir(parents=True)
    (folder / "index.html").write_text("<!DOCTYPE html><title>t</title>\n")
    (folder / "app.js").write_text("console.log(1);\n")
    (folder / "css" / "page.css").write_text("body{}\n")
    (tmp_path / "secret.txt").write_text("not for the web\n")
    return folder


def test_page_is_served_with_its_policy(repo: Path, initialized: Path, static: Path) -> None:
    """``/`` is the static dir's index.html, with the CSP and nosniff; its files are
    served under /static/ with their types."""
    with make_client(repo, static_dir=static) as c:
        page = c.get("/")
        assert page.status_code == 200 and page.text == (static / "index.html").read_text()
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        script = c.get("/static/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert c.get("/static/css/page.css").text == "body{}\n"


@settings(max_examples=80, deadline=None, suppress_health_check=FIXTURES)
@given(
    name=st.lists(st.sampled_from(["..", ".", "css", "%2e%2e", "secret.txt", "app.js", "", "%2f"]),
                  min_size=1, max_size=5).map("/".join)
)  # fmt: skip
def test_static_files_never_leave_their_folder(
    repo: Path, initialized: Path, static: Path, name: str
) -> None:
    """No path under /static/ reaches a file outside the static folder."""
    with make_client(repo, static_dir=static) as c:
        answer = c.get(f"/static/{name}")
    assert "not for the web" not in answer.text
    assert answer.status_code in (200, 404), (name, answer.status_code)
    if answer.status_code == 200:
        # a path that is the folder itself ("..", normalised by the client) is the page
        assert answer.text in {"console.log(1);\n", "body{}\n", "<!DOCTYPE html><title>t</title>\n"}


# ------------------------------------------------------------------------------ actions
def dashboard_actions(cli: Run) -> list[dict[str, Any]]:
    found = cli("events", "recent", "200", "--json").json()
    return [e for e in found if e["event_type"] == "dashboard_action"]


def test_actions_go_through_the_library_and_name_the_dashboard(
    cli: Run, client: TestClient, team: dict[str, Path]
) -> None:
    """unblock, tell and detect-conflicts do what their commands do, and each is recorded
    as an event whose metadata names the dashboard as its actor."""
    headers = {"origin": ORIGIN}
    blocker = cli("events", "blockers", "--json").json()[0]
    done = client.post("/api/actions/unblock", json={"blocker_id": blocker["id"],
                       "notes": "API merged"}, headers=headers)  # fmt: skip
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved"
    assert cli("events", "blockers", "--json").json() == []
    sent = client.post("/api/actions/tell", headers=headers,
                       json={"spec": SPEC, "role": "overseer", "text": "look at T002"})  # fmt: skip
    assert sent.status_code == 200, sent.text
    inbox = cli("inbox", "overseer", "--json").json()
    assert [m["text"] for m in inbox][-1] == "look at T002"
    scan = client.post("/api/actions/detect-conflicts", json={"spec": SPEC}, headers=headers)
    assert scan.status_code == 200, scan.text
    assert [f["spec_id"] for f in scan.json()["features"]] == [SPEC]
    actions = dashboard_actions(cli)
    assert sorted(a["metadata"]["action"] for a in actions) == [
        "detect-conflicts", "tell", "unblock"
    ]  # fmt: skip
    assert {a["metadata"]["actor"] for a in actions} == {"dashboard"}
    by_action = {a["metadata"]["action"]: a for a in actions}
    assert by_action["unblock"]["metadata"]["blocker_id"] == blocker["id"]
    assert by_action["unblock"]["role"] == blocker["role"]
    assert by_action["tell"]["metadata"]["message_id"] == sent.json()["message"]["id"]


def test_action_input_errors_are_400_and_record_nothing(
    cli: Run, client: TestClient, initialized: Path
) -> None:
    headers = {"origin": ORIGIN}
    before = cli("events", "recent", "100", "--json").json()
    cases = [
        ("unblock", b"not json"),
        ("unblock", b"[1, 2]"),
        ("unblock", b"{}"),
        ("unblock", b'{"blocker_id": "x"}'),
        ("unblock", b'{"blocker_id": 999}'),
        ("tell", b'{"role": "overseer"}'),
        ("tell", b'{"role": "boss", "text": "hi"}'),
        ("tell", b'{"role": "overseer", "text": "   "}'),
        ("tell", b'{"role": "overseer", "text": ["a"]}'),
        ("detect-conflicts", b'{"spec": "Bad Spec"}'),
    ]
    for action, body in cases:
        answer = client.post(f"/api/actions/{action}", content=body, headers=headers)
        assert answer.status_code in (400, 404), (action, body, answer.text)
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["error"], (action, body)
    assert cli("events", "recent", "100", "--json").json() == before


def test_other_commands_import_no_web_framework(initialized: Path) -> None:
    """The CLI's other commands (and the library API) load none of the dashboard's
    libraries: only the dashboard command imports them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from claude_orchestrator.cli import run\n"
        "assert run(['events', 'status', '--json']) == 0\n"
        "heavy = {'starlette', 'uvicorn', 'sse_starlette', 'anyio', 'httpx'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=initialized, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
