"""``assign``: plans from path scopes, git history and [P] markers, predicted overlaps,
``--apply`` (tags in tasks.md committed on the overseer branch, task_assigned events,
idempotent), bad input; the path extraction and the ``[@area]`` tag, with Hypothesis."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator import cli as cli_module
from claude_orchestrator.assign import Known, plan_tasks, task_paths
from claude_orchestrator.pathmatch import compile_patterns
from claude_orchestrator.tasks import parse_tasks, set_areas

from .conftest import Run, Templates, clean_env, git, make_repo, run_in_process
from .test_tasks_md import Doc, documents

SPEC = "003-reading-goals"
TASKS_FILE = f"specs/{SPEC}/tasks.md"
OVERSEER = f"feature/{SPEC}/overseer"
SCOPES = '{data: ["src/models/**"], api: ["src/api/**"], ui: ["src/ui/**"]}'
TASKS = """# Tasks

## Phase 1
- [ ] T001 [P] [US1] Create User model in src/models/user.py
- [ ] T002 [P] [US1] Create Goal model in `src/models/goal.py`
- [ ] T003 [US1] Users endpoint in src/api/users.py
- [ ] T004 [US1] Goal service in src/services/goals.py
- [ ] T005 Validation in src/services/goals.py and src/services/rules.py
- [ ] T006 [P] Goals page in src/ui/goals.tsx
- [ ] T007 [P] Shared helpers in src/shared/util.py
- [ ] T008 [P] More helpers in src/shared/util.py
- [ ] T009 Write the changelog
- [x] T010 Project setup
"""


# ------------------------------------------------------------------ the command
@functools.cache
def _registered() -> bool:
    return "assign" in typer.main.get_command(cli_module.make_app()).commands  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _assign_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until ``assign`` is registered in ``cli.make_app``, add it to the app the CLI
    builds (the same ``register`` the real registration calls)."""
    if _registered():
        return
    from claude_orchestrator.cli import plan

    original = cli_module.make_app

    def make_app() -> typer.Typer:
        app = original()
        plan.register(app)
        return app

    monkeypatch.setattr(cli_module, "make_app", make_app)


def commit(cwd: Path, path: str, text: str, message: str) -> str:
    target = cwd / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text.encode())
    git(cwd, "add", path)
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def _trees(repo: Path) -> dict[str, Path]:
    return {leaf: repo.parent / "repo-worktrees" / SPEC / leaf
            for leaf in ("overseer", "impl-data", "impl-api", "impl-ui")}  # fmt: skip


def _build(folder: Path) -> None:
    """init with area scopes (committed on main), init-feature --worktrees, tasks.md on
    the overseer branch; impl-api changed src/services/goals.py twice, impl-data once."""
    repo = make_repo(folder / "repo")
    for args in (["init"], ["config", "set", "paths.areas", SCOPES]):
        assert run_in_process(args, repo, clean_env()).code == 0
    git(repo, "add", "orchestrator.yaml")
    git(repo, "commit", "-q", "-m", "config")
    result = run_in_process(["init-feature", SPEC, "--worktrees"], repo, clean_env())
    assert result.code == 0, result
    trees = _trees(repo)
    commit(trees["overseer"], TASKS_FILE, TASKS, "tasks for the feature")
    commit(trees["impl-api"], "src/services/goals.py", "a\n", "T004: service")
    commit(trees["impl-api"], "src/services/goals.py", "b\n", "T004: more")
    commit(trees["impl-data"], "src/services/goals.py", "c\n", "T001: touch")


@pytest.fixture
def feature(repo: Path, templates: Templates) -> dict[str, Path]:
    templates.copy("assign-feature", _build, repo.parent)
    trees = _trees(repo)
    for tree in trees.values():  # the copies' files are new to git's stat cache
        git(tree, "update-index", "-q", "--refresh")
    return trees


def events(repo: Path, event_type: str = "task_assigned") -> list[Any]:
    with Orchestrator(repo) as orch:
        return [e for e in reversed(orch.recent(10_000)) if e.event_type == event_type]


def assign(cli: Run, *args: str, cwd: Path | None = None) -> Any:
    result = cli("assign", SPEC, *args, "--json", cwd=cwd)
    assert result.code == 0, result
    return result.json()


def snapshot(repo: Path, trees: dict[str, Path]) -> tuple[str, bytes, int]:
    """The branches, the overseer's tasks.md and the number of events."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    with Orchestrator(repo) as orch:
        count = len(orch.recent(10_000))
    return refs, (trees["overseer"] / TASKS_FILE).read_bytes(), count


EXPECTED = [
    ("T001", "data", "path scope src/models/** of area data"),
    ("T002", "data", "path scope src/models/** of area data"),
    ("T003", "api", "path scope src/api/** of area api"),
    ("T004", "api", "history: impl-api changed src/services/goals.py 2 times; grouped with T005"),
    ("T005", "api", "same files as T004 (src/services/goals.py), not both [P]"),
    ("T006", "ui", "path scope src/ui/** of area ui"),
    ("T007", "ui", "no signal: least-loaded area"),
    ("T008", "data", "no signal: least-loaded area"),
    ("T009", "ui", "no signal: least-loaded area"),
]


def test_plan_uses_scopes_history_groups_and_load(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """Scopes first; the T004/T005 group (not [P], one file) by impl-api's history; the
    two [P] tasks on one file are not grouped, land apart, and are reported."""
    before = snapshot(repo, feature)
    plan = assign(cli)
    assert [(a["task"], a["area"], a["reason"]) for a in plan["assignments"]] == EXPECTED
    files = {a["task"]: a["files"] for a in plan["assignments"]}
    assert files["T002"] == ["src/models/goal.py"] and files["T009"] == []
    assert files["T005"] == ["src/services/goals.py", "src/services/rules.py"]
    assert plan["overlaps"] == [{
        "file": "src/shared/util.py",
        "tasks": [{"task": "T007", "area": "ui"}, {"task": "T008", "area": "data"}],
        "areas": ["ui", "data"],
    }]  # fmt: skip
    assert plan["skipped"] == [
        {"task": "T010", "area": None, "reason": "ticked in tasks.md", "files": []}
    ]
    assert plan["areas"] == ["data", "api", "ui"] and plan["tasks_file"] == TASKS_FILE
    assert plan["commit"] == git(repo, "rev-parse", OVERSEER)
    text = cli("assign", SPEC)
    assert text.code == 0, text
    assert "  T001 -> data: path scope src/models/** of area data [src/models/user.py]" in text.out
    assert ("T007 and T008 both touch src/shared/util.py, assigned to different areas "
            "(ui, data)") in text.out  # fmt: skip
    assert f"claude-orchestrator assign {SPEC} --apply" in text.out
    assert snapshot(repo, feature) == before  # a plan writes nothing


def test_plan_reads_the_committed_tasks_not_the_worktree(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    path = feature["overseer"] / TASKS_FILE
    path.write_text(TASKS + "- [ ] T011 Not committed in src/api/x.py\n")
    assert "T011" not in {a["task"] for a in assign(cli)["assignments"]}
    assert "T011" not in {a["task"] for a in assign(cli, cwd=feature["impl-ui"])["assignments"]}


def test_apply_tags_commits_records_and_converges(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    head = git(repo, "rev-parse", OVERSEER)
    done = assign(cli, "--apply")
    applied = done["applied"]
    assert applied["tagged"] == [t for t, _, _ in EXPECTED]
    assert applied["worktree"] == str(feature["overseer"])
    tip = git(repo, "rev-parse", OVERSEER)
    assert applied["commit"] == tip and git(repo, "rev-parse", f"{tip}^") == head
    assert git(repo, "log", "-1", "--format=%s", OVERSEER) == "assign: " + ", ".join(
        f"{t}->{a}" for t, a, _ in EXPECTED)  # fmt: skip
    assert git(repo, "diff", "--name-only", head, tip) == TASKS_FILE
    assert git(feature["overseer"], "status", "--porcelain") == ""
    wanted = TASKS
    for old, area in [("T001 [P] [US1]", "data"), ("T002 [P] [US1]", "data"),
                      ("T003 [US1]", "api"), ("T004 [US1]", "api"), ("T005", "api"),
                      ("T006 [P]", "ui"), ("T007 [P]", "ui"), ("T008 [P]", "data"),
                      ("T009", "ui")]:  # fmt: skip
        wanted = wanted.replace(f"] {old} ", f"] {old} [@{area}] ")
    assert (feature["overseer"] / TASKS_FILE).read_text() == wanted
    assert "- [ ] T001 [P] [US1] [@data] Create User model in src/models/user.py\n" in wanted
    assert "- [ ] T005 [@api] Validation in" in wanted and "- [x] T010 Project setup" in wanted
    assert git(repo, "show", f"{OVERSEER}:{TASKS_FILE}") + "\n" == wanted
    recorded = events(repo)
    assert [(e.task_id, e.role, e.commit_hash) for e in recorded] == [
        (t, "overseer", tip) for t, _, _ in EXPECTED]  # fmt: skip
    assert [(e.metadata["area"], e.metadata["reason"]) for e in recorded] == [
        (a, r) for _, a, r in EXPECTED]  # fmt: skip
    assert recorded[0].metadata == {"area": "data", "role": "implementor-data", "files":
                                    ["src/models/user.py"], "reason": EXPECTED[0][2]}  # fmt: skip
    assert recorded[0].message == f"T001 assigned to implementor-data: {EXPECTED[0][2]}"
    # again: everything is assigned, nothing is written
    before = snapshot(repo, feature)
    again = assign(cli, "--apply")
    assert again["assignments"] == [] and again["overlaps"] == plan_overlaps()
    assert again["applied"] == {"tagged": [], "commit": None, "worktree": None, "events": []}
    assert [(s["task"], s["area"], s["reason"]) for s in again["skipped"]][:2] == [
        ("T001", "data", "assigned in tasks.md ([@data])"),
        ("T002", "data", "assigned in tasks.md ([@data])"),
    ]
    assert snapshot(repo, feature) == before
    text = cli("assign", SPEC, "--apply")
    assert "Nothing to assign" in text.out and "Recorded 0 task_assigned" in text.out


def plan_overlaps() -> list[dict[str, Any]]:
    tasks = [{"task": "T007", "area": "ui"}, {"task": "T008", "area": "data"}]
    return [{"file": "src/shared/util.py", "tasks": tasks, "areas": ["ui", "data"]}]


ASSIGNED = """# Tasks
- [ ] T001 [@ui] Create User model in src/models/user.py
- [ ] T002 [P] Index on src/models/user.py
- [ ] T003 [P] Users endpoint in src/api/users.py
- [ ] T004 [P] Users endpoint tests for src/api/users.py
- [ ] T005 [P] [@api] Goals endpoint in src/api/goals.py
- [x] T006 [P] Old model in src/models/user.py
"""


def test_assigned_tasks_are_skipped_anchor_groups_and_count_for_overlaps(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """A tag in tasks.md and a task started in the store are assignments: T002 shares a
    file with T001 (not [P]) and follows it; T003 (started by data) and T004 ([P] both)
    touch one file in different areas; the ticked T006 is done and left out."""
    commit(feature["overseer"], TASKS_FILE, ASSIGNED, "new tasks")
    started = cli("events", "log-event", SPEC, "implementor-data", "task_started", "on it", "T003")
    assert started.code == 0, started
    plan = assign(cli)
    assert [(a["task"], a["area"], a["reason"]) for a in plan["assignments"]] == [
        ("T002", "ui", "same files as T001 (src/models/user.py), not both [P]; T001 is ui's"),
        ("T004", "api", "path scope src/api/** of area api"),
    ]
    assert [(s["task"], s["area"], s["reason"]) for s in plan["skipped"]] == [
        ("T001", "ui", "assigned in tasks.md ([@ui])"),
        ("T003", "data", "in-progress by implementor-data (event store)"),
        ("T005", "api", "assigned in tasks.md ([@api])"),
        ("T006", None, "ticked in tasks.md"),
    ]
    assert [(o["file"], [t["task"] for t in o["tasks"]], o["areas"]) for o in plan["overlaps"]] == [
        ("src/api/users.py", ["T003", "T004"], ["data", "api"])
    ]  # fmt: skip
    # --apply tags T002 and T004 and records the hand-written tags of T001 and T005 too
    done = assign(cli, "--apply")["applied"]
    assert done["tagged"] == ["T002", "T004"]
    assert [(e.task_id, e.metadata["area"], e.metadata["reason"]) for e in events(repo)] == [
        ("T001", "ui", "assigned in tasks.md"),
        ("T002", "ui", "same files as T001 (src/models/user.py), not both [P]; T001 is ui's"),
        ("T004", "api", "path scope src/api/** of area api"),
        ("T005", "api", "assigned in tasks.md"),
    ]
    # a tag changed by hand is recorded once more, with its new area
    text = (
        (feature["overseer"] / TASKS_FILE).read_text().replace("T005 [P] [@api]", "T005 [P] [@ui]")
    )
    commit(feature["overseer"], TASKS_FILE, text, "T005 moves")
    assert [e["task_id"] for e in assign(cli, "--apply")["applied"]["events"]] == ["T005"]
    assert assign(cli, "--apply")["applied"]["events"] == []


def test_apply_keeps_every_byte_crlf_and_no_final_newline(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    text = "\ufeff# Tasks\r\n- [ ] T001 Model in src/models/a.py\r\n\r\n* [ ] T002 [US2] x  "
    commit(feature["overseer"], TASKS_FILE, text, "crlf tasks")
    done = assign(cli, "--apply")["applied"]
    assert done["tagged"] == ["T001", "T002"]
    assert (feature["overseer"] / TASKS_FILE).read_bytes() == (
        "\ufeff# Tasks\r\n- [ ] T001 [@data] Model in src/models/a.py\r\n\r\n"
        "* [ ] T002 [US2] [@api] x  ").encode()  # fmt: skip
    assert git(feature["overseer"], "status", "--porcelain") == ""


def test_apply_commits_only_tasks_md(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    (feature["overseer"] / "notes.txt").write_text("mine\n")
    git(feature["overseer"], "add", "notes.txt")
    assign(cli, "--apply")
    assert git(repo, "diff", "--name-only", f"{OVERSEER}^", OVERSEER) == TASKS_FILE
    assert git(feature["overseer"], "status", "--porcelain") == "A  notes.txt"


def test_apply_after_tasks_md_was_touched(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    path = feature["overseer"] / TASKS_FILE
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))  # an editor saving it unchanged
    assert assign(cli, "--apply")["applied"]["tagged"]


def _one_error(cli: Run, args: tuple[str, ...], cwd: Path | None = None, **env: str) -> str:
    result = cli("assign", *args, cwd=cwd, env=clean_env(**env) if env else None)
    assert result.code == 2 and result.out == "", result
    [line] = result.err.splitlines()
    assert line.startswith("error: "), line
    return line


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("009-none",), "Feature not found in event store: 009-none"),
        (("009-none", "--apply"), "Feature not found in event store: 009-none"),
        (("BAD",), "invalid spec id 'BAD'"),
        (("",), "invalid spec id"),
        ((SPEC, "--nope"), "No such option '--nope'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    cli: Run, repo: Path, feature: dict[str, Path], args: tuple[str, ...], text: str
) -> None:
    before = snapshot(repo, feature)
    assert text in _one_error(cli, args)
    assert snapshot(repo, feature) == before


def test_apply_refuses_what_it_cannot_do_and_writes_nothing(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    before = snapshot(repo, feature)
    head = git(repo, "rev-parse", OVERSEER)
    line = _one_error(cli, (SPEC, "--apply"), CLAUDE_ORCHESTRATOR_ROLE="implementor-data")
    assert "assign --apply is the overseer's" in line
    path = feature["overseer"] / TASKS_FILE
    path.write_text(TASKS.replace("T009 Write", "T009 [@ui] Write"))
    line = _one_error(cli, (SPEC, "--apply"))
    assert f"{path} has uncommitted changes: commit them on {OVERSEER}" in line
    path.write_text(TASKS)
    assert snapshot(repo, feature) == before
    git(repo, "worktree", "remove", "--force", str(feature["overseer"]))
    line = _one_error(cli, (SPEC, "--apply"))
    assert f"the overseer branch {OVERSEER} is not checked out in any worktree" in line
    assert f"git worktree add <dir> {OVERSEER}" in line
    assert git(repo, "rev-parse", OVERSEER) == head
    assert events(repo) == []


def test_a_feature_without_tasks_md_names_the_fix(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    assert cli("init-feature", "004-other").code == 0
    result = cli("assign", "004-other")
    assert result.code == 2, result
    assert result.err == (
        "error: no specs/004-other/tasks.md on feature/004-other/overseer: the overseer "
        "commits the feature's task list there first (spec-kit tasks.md)\n"
    )


def test_help_has_an_example(cli: Run) -> None:
    result = cli("assign", "--help")
    assert result.code == 0 and "Example:" in result.out
    assert "claude-orchestrator assign 003-reading-goals --apply" in result.out


# -------------------------------------------------------------- the pure planner
def _tasks(text: str) -> list[Any]:
    return parse_tasks(text).tasks


def test_history_by_directory_then_ties_then_load() -> None:
    """No scope: the branch that changed the file; else files in its directory; a tie
    is broken by load among the tied areas."""
    tasks = _tasks("- [ ] T001 a in src/x/new.py\n- [ ] T002 b in src/y/new.py\n"
                   "- [ ] T003 c in lib/z.py\n")  # fmt: skip
    history = {"api": {"src/x/old.py": 3, "lib/z.py": 1}, "ui": {"src/y/a.py": 1,
               "src/y/b.py": 1, "lib/z.py": 1}}  # fmt: skip
    assigned, overlaps, skipped = plan_tasks(tasks, ["data", "api", "ui"], {}, history, {})
    assert [(a.task, a.area, a.reason) for a in assigned] == [
        ("T001", "api", "history: impl-api changed files 3 times in src/x/"),
        ("T002", "ui", "history: impl-ui changed files 2 times in src/y/"),
        ("T003", "api", "history ties (api, ui): least-loaded area"),
    ]
    assert overlaps == [] and skipped == []


def test_scope_tie_and_patterns_that_exclude() -> None:
    scopes = {"data": compile_patterns(["src/**", "!src/api/**"]),
              "api": compile_patterns(["src/api/**", "src/shared/"])}  # fmt: skip
    tasks = _tasks("- [ ] T001 [P] x in src/api/a.py\n- [ ] T002 [P] y in src/shared/b.py\n"
                   "- [ ] T003 [P] z in src/models/c.py\n"
                   "- [ ] T004 [P] in src/api/ and src/m.py\n")  # fmt: skip
    assigned, _, _ = plan_tasks(tasks, ["data", "api"], scopes, {}, {})
    assert [(a.task, a.area, a.reason) for a in assigned] == [
        ("T001", "api", "path scope src/api/** of area api"),
        ("T002", "data", "path scopes tie (data, api): least-loaded area"),
        ("T003", "data", "path scope src/** of area data"),
        ("T004", "api", "path scopes tie (data, api): least-loaded area"),
    ]


def test_store_states_and_no_areas() -> None:
    tasks = _tasks("- [ ] T001 a.py\n- [ ] T002 b.py\n- [x] T003 c.py\n- [ ] T004 d.py\n")
    known = {"T001": Known("completed", "api"), "T002": Known("merged", None),
             "T003": Known("merged", "ui")}  # fmt: skip
    assigned, _, skipped = plan_tasks(tasks, ["data"], {}, {}, known)
    assert [(s.task, s.area, s.reason) for s in skipped] == [
        ("T001", "api", "completed by implementor-api (event store)"),
        ("T002", None, "merged by the overseer (event store)"),
        ("T003", "ui", "merged by implementor-ui (event store)"),
    ]
    assert [a.task for a in assigned] == ["T004"]
    from claude_orchestrator.errors import ValidationError

    with pytest.raises(ValidationError, match="no implementor areas"):
        plan_tasks(tasks, [], {}, {}, {})


def test_a_chain_of_shared_files_is_one_group() -> None:
    """Union-find: T001-T002 share a.py, T002-T003 share b.py; T004 [P] with T005 [P]
    share c.py but are not grouped."""
    tasks = _tasks("- [ ] T001 src/a.py\n- [ ] T002 [P] src/a.py src/b.py\n- [ ] T003 src/b.py\n"
                   "- [ ] T004 [P] src/c.py\n- [ ] T005 [P] src/c.py\n")  # fmt: skip
    assigned, overlaps, _ = plan_tasks(tasks, ["data", "api"], {}, {}, {})
    assert [(a.task, a.area) for a in assigned] == [
        ("T001", "data"), ("T002", "data"), ("T003", "data"), ("T004", "api"),
        ("T005", "api")]  # fmt: skip
    assert assigned[0].reason == "no signal: least-loaded area; grouped with T002, T003"
    assert assigned[2].reason == "same files as T002 (src/b.py), not both [P]"
    assert overlaps == []


# ---------------------------------------------------------------- path extraction
@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("Create User model in src/models/user.py", ["src/models/user.py"]),
        ("Contract test POST /api/users in tests/contract/test_users.py",
         ["tests/contract/test_users.py"]),
        ("See `src/x.py:12`, (src/y.py) and \"src/z.py\".", ["src/x.py", "src/y.py", "src/z.py"]),
        ("Edit ./README.md, Makefile and .gitignore", ["README.md", "Makefile", ".gitignore"]),
        ("Put it in src/models/ and .github/workflows/ci.yml",
         ["src/models/", ".github/workflows/ci.yml"]),
        ("read and/or write, I/O, CI/CD, 2024/01", []),
        ("Use Node.js, e.g. v1.2, i.e. 3.11, Ph.D, approx. 1.5x", []),
        ("https://example.com/a.py ~/x.py /etc/passwd ../up.py a//b.py src/../x.py", []),
        ("Twice: src/a.py src/a.py **src/b.py**", ["src/a.py", "src/b.py"]),
        ("docker/Dockerfile and docs/a/b/c", ["docker/Dockerfile", "docs/a/b/c"]),
    ],
)  # fmt: skip
def test_task_paths_examples(text: str, paths: list[str]) -> None:
    assert task_paths(text) == paths


def test_task_paths_is_bounded() -> None:
    many = " ".join(f"src/f{i}.py" for i in range(100))
    assert len(task_paths(many)) == 32
    assert task_paths("x" * 100_000 + " src/a.py") == []  # past MAX_SCAN
    assert task_paths("src/" + "a/" * 300 + "b.py") == []  # longer than MAX_PATH_LENGTH
    assert task_paths("[" * 50_000 + "src/a.py") == []


_NAME = st.text("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_-", min_size=1, max_size=8)
_EXT = st.from_regex(r"[a-z][a-z0-9]{0,4}", fullmatch=True)
_STEM = st.from_regex(r"_{0,2}[A-Za-z][A-Za-z0-9_-]{1,6}", fullmatch=True)
_DIR = st.one_of(_NAME, _NAME.map(lambda n: "." + n)).filter(lambda d: any(c.isalpha() for c in d))
_WORD = st.text("abcdefghijklmnopqrstuvwxyzABC", min_size=1, max_size=10)


@st.composite
def _paths(draw: st.DrawFn) -> str:
    stem, ext = draw(_STEM), draw(_EXT)
    dirs = draw(st.lists(_DIR, max_size=4))
    path = "/".join([*dirs, f"{stem}.{ext}"])
    return path


@st.composite
def _texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    # a slash-less Name.js is a technology (Node.js), not a file: not generated
    paths = draw(st.lists(_paths().filter(lambda p: "/" in p or not p.endswith((".js", ".net"))),
                          max_size=5))  # fmt: skip
    words: list[str] = []
    for path in paths:
        words += draw(st.lists(_WORD, max_size=3))
        wrap = draw(st.sampled_from(["{}", "`{}`", "({})", "{},", "{}.", "\"{}\"", "**{}**",
                                     "./{}", "{}:42", "[{}]"]))  # fmt: skip
        words.append(wrap.format(path))
    words += draw(st.lists(_WORD, max_size=3))
    gap = draw(st.sampled_from([" ", "  ", "\t"]))
    return gap.join(words), list(dict.fromkeys(paths))


@settings(max_examples=300)
@given(_texts())
def test_task_paths_finds_exactly_the_embedded_paths(case: tuple[str, list[str]]) -> None:
    text, paths = case
    assert task_paths(text) == paths
    line = f"- [ ] T001 [P] {text}"
    assert task_paths(parse_tasks(line).tasks[0].description) == paths


# ------------------------------------------------------------------ the [@area] tag
@pytest.mark.parametrize(
    ("line", "area", "description"),
    [
        ("- [ ] T001 [@data] x", "data", "x"),
        ("- [ ] T001 [US1] [@api-v2] [P] x", "api-v2", "x"),
        ("- [ ] T001: [@ui]", "ui", ""),
        ("- [ ] T001 [@ui] [@api] x", "ui", "[@api] x"),
        ("- [ ] T001 [@Data] x", None, "[@Data] x"),
        ("- [ ] T001 [@a--b] x", None, "[@a--b] x"),
        ("- [ ] T001 [@" + "a" * 41 + "] x", None, "[@" + "a" * 41 + "] x"),
        ("- [ ] T001 x [@data]", None, "x [@data]"),
    ],
)
def test_area_tag_is_parsed(line: str, area: str | None, description: str) -> None:
    [task] = parse_tasks(line).tasks
    assert (task.area, task.description) == (area, description)


def test_set_areas_refuses_a_bad_area_name() -> None:
    with pytest.raises(ValueError, match="not an area name"):
        set_areas("- [ ] T001 x\n", {"T001": "Bad"})


@settings(max_examples=200)
@given(documents(), st.sampled_from(["data", "api-v2", "x9"]))
def test_set_areas_tags_every_untagged_task_once(doc: Doc, area: str) -> None:
    before = parse_tasks(doc.text)
    ids = {t.task_id: area for t in before.tasks}
    new, changed = set_areas(doc.text, ids)
    after = parse_tasks(new)
    assert changed == [t.task_id for t in before.tasks if t.area is None]
    assert [t._replace(area=None, line=0) for t in after.tasks] == [
        t._replace(area=None, line=0) for t in before.tasks]  # fmt: skip
    assert all(t.area == (b.area or area) for t, b in zip(after.tasks, before.tasks, strict=True))
    assert after.problems == before.problems
    assert new.replace(f" [@{area}]", "", len(changed)) == doc.text or changed == []
    assert set_areas(new, ids) == (new, [])


def test_json_plan_is_one_document(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    result = cli("assign", SPEC, "--json")
    assert json.loads(result.out)["spec_id"] == SPEC and result.err == ""
