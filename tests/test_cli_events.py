"""The ``events`` commands through the installed CLI: happy paths and error paths."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from .conftest import Run, clean_env, digest, git, read_only

SPEC = "003-reading-goals"


def test_events_path_points_into_git_common_dir(cli: Run, repo: Path) -> None:
    result = cli("events", "path")
    assert result.code == 0
    assert result.out.strip() == str(repo / ".git" / "orchestrator" / "events.db")
    assert cli("events", "path", "--json").json()["exists"] is False


def test_events_path_is_shared_by_worktrees(cli: Run, repo: Path, tmp_path: Path) -> None:
    git(repo, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    assert cli("events", "path", cwd=tmp_path / "wt").out == cli("events", "path").out


def test_events_path_outside_git_and_overrides(cli: Run, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert cli("events", "path", cwd=plain).out.strip() == str(plain / ".orchestrator/events.db")
    assert cli("events", "path", "--db", "x.db", cwd=plain).out.strip() == str(plain / "x.db")
    env = clean_env(CLAUDE_ORCHESTRATOR_DB=str(tmp_path / "env.db"))
    assert cli("events", "path", cwd=plain, env=env).out.strip() == str(tmp_path / "env.db")


def test_init_then_full_round_trip(cli: Run, initialized: Path, store_db: Path) -> None:
    assert store_db.is_file()
    result = cli(
        "events", "log-event", SPEC, "implementor-data", "task_started", "models", "T001", "abc1234"
    )
    assert (result.code, result.out, result.err) == (0, "", "")
    assert (
        cli("events", "log-event", SPEC, "implementor-data", "task_completed", "done", "T001").code
        == 0
    )
    assert cli("events", "log-event", SPEC, "overseer", "my_custom_event", "custom").code == 0

    recent = cli("events", "recent", "2", "--json").json()
    assert [e["event_type"] for e in recent] == ["my_custom_event", "task_completed"]
    status = {r["role"]: r for r in cli("events", "status", SPEC, "--json").json()}
    assert status["implementor-data"]["tasks_completed"] == 1
    assert status["implementor-data"]["events"] == 2
    text = cli("events", "status").out
    assert "implementor-data" in text and "Reading goals" in text


def test_log_event_json_and_metadata(cli: Run, initialized: Path) -> None:
    result = cli(
        "events",
        "log-event",
        SPEC,
        "overseer",
        "status_update",
        "note",
        "--metadata",
        '{"pr": 12}',
        "--json",
    )
    assert result.code == 0, result
    event = result.json()
    assert event["metadata"] == {"pr": 12} and event["id"] > 0


def test_conflict_commands(cli: Run, initialized: Path) -> None:
    result = cli(
        "events",
        "log-conflict",
        SPEC,
        "implementor-api",
        '["src/b.py", "src/a.py"]',
        "critical",
        "--json",
    )
    assert result.code == 0, result
    conflict = result.json()
    assert conflict["files"] == ["src/a.py", "src/b.py"] and conflict["severity"] == "critical"
    assert cli("events", "log-conflict", SPEC, "implementor-ui", "x.py, y.py").code == 0
    listed = cli("events", "conflicts", SPEC, "--json").json()
    assert len(listed) == 2
    assert cli("events", "resolve-conflict", str(conflict["id"]), "rebased").code == 0
    assert len(cli("events", "conflicts", "--json").json()) == 1
    assert len(cli("events", "conflicts", "--all", "--json").json()) == 2
    types = [e["event_type"] for e in cli("events", "recent", "3", "--json").json()]
    assert types == ["conflict_resolved", "conflict_detected", "conflict_detected"]


def test_blocker_and_test_result_commands(cli: Run, initialized: Path) -> None:
    result = cli(
        "events",
        "block",
        SPEC,
        "implementor-ui",
        "dependency",
        "needs API",
        "--task",
        "T005",
        "--blocked-by",
        "implementor-api",
        "--json",
    )
    assert result.code == 0, result
    blocker = result.json()
    status = {r["role"]: r for r in cli("events", "status", SPEC, "--json").json()}
    assert status["implementor-ui"]["agent_status"] == "blocked"
    assert status["implementor-ui"]["active_blockers"] == 1
    assert cli("events", "blockers", "--json").json()[0]["blocking_role"] == "implementor-api"
    assert cli("events", "unblock", str(blocker["id"]), "API merged").code == 0
    assert cli("events", "blockers", "--json").json() == []

    result = cli(
        "events",
        "record-test",
        SPEC,
        "implementor-data",
        "lint",
        "failed",
        "--passed",
        "3",
        "--failed",
        "1",
        "--commit",
        "abc1234",
    )
    assert result.code == 0, result
    tests = cli("events", "test-results", SPEC, "--json").json()
    assert (tests[0]["test_type"], tests[0]["tests_failed"]) == ("lint", 1)


def test_add_agent_and_feature_status(cli: Run, initialized: Path) -> None:
    assert cli("events", "add-agent", SPEC, "implementor-docs").code == 0
    roles = [r["role"] for r in cli("events", "status", SPEC, "--json").json()]
    assert "implementor-docs" in roles
    branch = next(
        r["branch_name"]
        for r in cli("events", "status", SPEC, "--json").json()
        if r["role"] == "implementor-docs"
    )
    assert branch == f"feature/{SPEC}/impl-docs"
    assert cli("events", "set-feature-status", SPEC, "completed").code == 0
    assert cli("events", "status", SPEC, "--json").json()[0]["feature_status"] == "completed"


def test_add_feature_with_areas_and_branch(cli: Run, initialized: Path) -> None:
    result = cli(
        "events", "add-feature", "004-x", "X", "feature/004-x/lead", "--areas", "db,web", "--json"
    )
    assert result.code == 0, result
    agents = result.json()["agents"]
    assert [a["role"] for a in agents] == ["overseer", "implementor-db", "implementor-web"]
    assert agents[0]["branch_name"] == "feature/004-x/lead"


def test_add_feature_after_init_feature_sets_the_name(cli: Run, repo: Path) -> None:
    """Issue 9 item 14: the seed's Quick Start order (init-feature, then add-feature)."""
    assert cli("init-feature", SPEC).code == 0
    result = cli("events", "add-feature", SPEC, "Reading Goals Tracker", "--json")
    assert result.code == 0, result
    assert result.json()["feature"]["name"] == "Reading Goals Tracker"
    assert len(result.json()["agents"]) == 4  # overseer and the three default areas
    again = cli("events", "add-feature", SPEC, "Reading Goals Tracker", "--areas", "data,docs")
    assert again.code == 0, again
    roles = [r["role"] for r in cli("events", "status", SPEC, "--json").json()]
    assert "implementor-docs" in roles and len(roles) == 5
    renames = [e for e in cli("events", "recent", "50", "--json").json()
               if e["event_type"] == "feature_renamed"]  # fmt: skip
    assert [e["metadata"]["name"] for e in renames] == ["Reading Goals Tracker"]


def test_add_feature_after_init_feature_keeps_its_areas(cli: Run, repo: Path) -> None:
    """Review of item 14: the registered areas are the defaults, not the config's; the
    output says the feature was there and what was done."""
    assert cli("init-feature", "001-x", "--worktrees", "--implementors", "data,api").code == 0
    result = cli("events", "add-feature", "001-x", "Reading Goals")
    assert result.code == 0, result
    assert result.out.strip() == "feature 001-x already registered: name set to 'Reading Goals'"
    roles = sorted(r["role"] for r in cli("events", "status", "001-x", "--json").json())
    assert roles == ["implementor-api", "implementor-data", "overseer"]
    same = cli("events", "add-feature", "001-x", "Reading Goals")
    assert same.out.strip() == "feature 001-x already registered: name already 'Reading Goals'"
    more = cli("events", "add-feature", "001-x", "Goals", "--areas", "data,docs")
    assert more.code == 0, more
    assert more.out.strip() == (
        "feature 001-x already registered: name set to 'Goals'; agents added: implementor-docs"
    )
    added = cli("events", "add-feature", "002-y", "Y", "--areas", "db")
    assert added.out.strip() == "feature 002-y added with 2 agents: overseer, implementor-db"


def test_add_feature_refuses_other_branches_and_writes_nothing(
    cli: Run, initialized: Path, store_db: Path
) -> None:
    assert cli("events", "add-agent", SPEC, "implementor-docs", "feature/x/docs").code == 0
    before = digest(store_db)
    result = cli("events", "add-feature", SPEC, "New name", "--areas", "data,docs")
    assert result.code == 2, result
    assert "with implementor-docs on feature/x/docs, not feature/003-reading-goals/impl-docs" in (
        result.err
    )
    assert len(result.err.strip().splitlines()) == 1 and result.err.startswith("error: ")
    assert digest(store_db) == before


@pytest.mark.parametrize("fmt", ["markdown", "csv", "json"])
def test_export_formats(cli: Run, initialized: Path, tmp_path: Path, fmt: str) -> None:
    cli("events", "log-event", SPEC, "implementor-data", "task_completed", "done", "T001")
    cli("events", "log-conflict", SPEC, "implementor-api", "src/a.py")
    out = tmp_path / f"report.{fmt}"
    result = cli("events", "export", SPEC, str(out), "--format", fmt)
    assert result.code == 0, result
    text = out.read_text()
    if fmt == "markdown":
        assert text.startswith(f"# Feature {SPEC}: Reading goals")
        assert "## Active conflicts" in text and "src/a.py" in text and "T001" in text
    elif fmt == "csv":
        assert text.splitlines()[0].startswith("id,created_at,spec_id")
        assert "task_completed" in text
    else:
        data = json.loads(text)
        assert data["feature"]["spec_id"] == SPEC
        assert data["tasks"][0]["task_id"] == "T001"
    assert cli("events", "export", SPEC, "--format", fmt).out == text


def test_events_init_is_idempotent_and_info(cli: Run, repo: Path) -> None:
    first = cli("events", "init", "--json").json()
    assert first["created"] is True
    second = cli("events", "init", "--json").json()
    assert second["created"] is False and second["schema_version"] == first["schema_version"]
    info = cli("events", "info", "--json").json()
    assert info["counts"]["features"] == 0


# ----------------------------------------------------------------- error paths
def test_not_initialized_names_the_fix(cli: Run, repo: Path, store_db: Path) -> None:
    for args in (
        ["events", "status"],
        ["events", "recent"],
        ["events", "log-event", SPEC, "overseer", "status_update", "x"],
        ["events", "add-feature", SPEC, "x"],
    ):
        result = cli(*args)
        assert result.code == 2, (args, result)
        assert "Event store not initialized" in result.err
        assert "claude-orchestrator events init" in result.err
    assert not store_db.exists()


def test_feature_not_found_names_the_fix(cli: Run, initialized: Path, store_db: Path) -> None:
    before = digest(store_db)
    result = cli("events", "log-event", "404-missing", "overseer", "status_update", "x")
    assert result.code == 2
    assert "Feature not found in event store: 404-missing" in result.err
    assert "events add-feature 404-missing" in result.err
    assert cli("events", "status", "404-missing").code == 2
    assert digest(store_db) == before


BAD_INPUTS = [
    (["events", "log-event", "../x", "overseer", "status_update", "m"], "invalid spec id"),
    (["events", "log-event", "a b", "overseer", "status_update", "m"], "invalid spec id"),
    (["events", "log-event", "x;rm -rf", "overseer", "status_update", "m"], "invalid spec id"),
    (["events", "log-event", "", "overseer", "status_update", "m"], "invalid spec id"),
    (["events", "log-event", SPEC, "boss", "status_update", "m"], "invalid role"),
    (["events", "log-event", SPEC, "overseer", "Bad-Type", "m"], "invalid event type"),
    (["events", "log-event", SPEC, "overseer", "status_update", " "], "empty message"),
    (["events", "log-event", SPEC, "overseer", "task_started", "m", "42"], "invalid task id"),
    (
        ["events", "log-event", SPEC, "overseer", "task_started", "m", "T001", "xyz!"],
        "invalid commit",
    ),
    (
        ["events", "log-event", SPEC, "overseer", "status_update", "m", "--metadata", "{bad"],
        "metadata is not valid JSON",
    ),
    (
        ["events", "log-event", SPEC, "overseer", "status_update", "m", "--metadata", "[1]"],
        "metadata must be a JSON object",
    ),
    (["events", "log-event", SPEC, "implementor-zzz", "status_update", "m"], "Agent not found"),
    (
        ["events", "log-conflict", SPEC, "implementor-api", "src/a.py", "severe"],
        "unknown severity 'severe'",
    ),
    (["events", "log-conflict", SPEC, "implementor-api", '["a.py", '], "malformed files list"),
    (["events", "log-conflict", SPEC, "implementor-api", "[1, 2]"], "malformed files list"),
    (["events", "log-conflict", SPEC, "implementor-api", "../etc/passwd"], "invalid path"),
    (["events", "log-conflict", SPEC, "implementor-api", "[]"], "empty files list"),
    (["events", "resolve-conflict", "999"], "no conflict with id 999"),
    (["events", "resolve-conflict", "abc"], "invalid conflict id"),
    (["events", "resolve-conflict", "0"], "invalid conflict id"),
    (["events", "block", SPEC, "implementor-ui", "boredom", "x"], "unknown blocker type"),
    (
        ["events", "block", SPEC, "implementor-ui", "external", "x", "--blocked-by", "nobody"],
        "invalid role",
    ),
    (["events", "unblock", "77"], "no blocker with id 77"),
    (["events", "record-test", SPEC, "overseer", "smoke", "passed"], "unknown test type"),
    (["events", "record-test", SPEC, "overseer", "unit", "green"], "unknown test status"),
    (
        ["events", "record-test", SPEC, "overseer", "unit", "passed", "--failed", "2"],
        "record status 'failed'",
    ),
    (
        [
            "events",
            "record-test",
            SPEC,
            "overseer",
            "unit",
            "failed",
            "--passed",
            "5",
            "--total",
            "2",
        ],
        "exceeds the total",
    ),
    (
        ["events", "record-test", SPEC, "overseer", "unit", "failed", "--passed", "-1"],
        "invalid passed count",
    ),
    (
        ["events", "add-feature", SPEC, "again", f"feature/{SPEC}/lead"],
        "already in the event store, with overseer on feature/003-reading-goals/overseer",
    ),
    (["events", "add-feature", "005-y", "Y", "--areas", "Data"], "invalid area"),
    (["events", "add-feature", "005-y", "Y", "--areas", "a,a"], "named twice"),
    (["events", "add-feature", "005-y", "Y", "bad..branch"], "invalid branch name"),
    (["events", "add-agent", SPEC, "implementor-data"], "already registered"),
    (["events", "set-feature-status", SPEC, "done"], "unknown feature status"),
    (["events", "recent", "0"], "invalid limit"),
    (["events", "export", SPEC, "--format", "pdf"], "unknown export format"),
    (["events", "export", SPEC, "no/such/dir/out.md"], "does not exist"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_is_rejected_and_nothing_written(
    cli: Run, initialized: Path, store_db: Path, args: list[str], message: str
) -> None:
    before = digest(store_db)
    result = cli(*args)
    assert result.code == 2, result
    assert message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith("error: ")
    assert digest(store_db) == before


def test_usage_errors_exit_2(cli: Run, initialized: Path) -> None:
    assert cli("events", "log-event", SPEC).code == 2
    assert cli("events", "nosuch").code == 2
    assert cli("events", "recent", "many").code == 2


def test_corrupt_database(cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite at all, just text" * 100)
    before = bad.read_bytes()
    for args in (
        ["events", "status"],
        ["events", "init"],
        ["events", "log-event", SPEC, "overseer", "status_update", "x"],
    ):
        result = cli(*args, "--db", str(bad))
        assert result.code == 2, result
        assert "not a usable SQLite event store" in result.err
        assert "move it aside" in result.err
    assert bad.read_bytes() == before


def test_other_sqlite_database_is_refused(cli: Run, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    result = cli("events", "init", "--db", str(other))
    assert result.code == 2 and "not an event store" in result.err
    assert other.read_bytes() == before


def test_read_only_database(cli: Run, initialized: Path, store_db: Path, tmp_path: Path) -> None:
    """A store the user cannot write: a clear error, exit 2, nothing changed (reads:
    test_store_readonly.py)."""
    from .test_store_readonly import checkpointed_copy

    db = checkpointed_copy(store_db, tmp_path / "ro")
    ro_dir = db.parent
    before = db.read_bytes()
    with read_only(db, ro_dir):
        result = cli("events", "log-event", SPEC, "overseer", "status_update", "x", "--db", str(db))
        assert result.code == 2, result
        assert "read-only" in result.err and "writable" in result.err
        assert db.read_bytes() == before


def test_db_path_problems(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    result = cli("events", "init", "--db", str(tmp_path / "adir"))
    assert result.code == 2 and "is a directory" in result.err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("events", "init", "--db", str(blocker / "sub" / "events.db"))
    assert result.code == 2 and "cannot create" in result.err
    assert blocker.read_text() == "x"
