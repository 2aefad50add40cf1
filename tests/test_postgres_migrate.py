"""``events migrate --to DSN``: a SQLite store filled by real operations in a real
repository (syncs from commits, a conflict scan, blockers, a pull request merged, test
results, a guard decision, a custom event) copied into PostgreSQL; with ``plugins.store:
postgres`` every reading command shows exactly what it showed on SQLite. Run again it
copies nothing; after more work on SQLite it copies only what is new. Bad input is one
``error:`` line, exit 2, and nothing written on either side."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from claude_orchestrator.plugins.sqlite_port import SQLiteStore

from .conftest import Run, clean_env, digest, git
from .test_postgres_connect import closed_port, service_files
from .test_postgres_grants import Login, login
from .test_workflow_setup import SPEC, commit, feature

psycopg = pytest.importorskip("psycopg")

__all__ = ["closed_port", "feature", "login"]

#: every reading command whose output must not change with the store
VIEWS = [
    ("events", "status", "--json"),
    ("events", "status", SPEC, "--json"),
    ("events", "recent", "500", "--json"),
    ("events", "recent", "3", "--spec", SPEC, "--json"),
    ("events", "conflicts", "--all", "--json"),
    ("events", "conflicts", "--json"),
    ("events", "blockers", "--all", "--json"),
    ("events", "blockers", "--json"),
    ("events", "test-results", "--json"),
    ("prs", "--json"),
    ("events", "export", SPEC, "--format", "json"),
]


def ok(result: Any) -> Any:
    assert result.code == 0, result
    return result


def one_line_error(result: Any, *parts: str) -> None:
    assert result.code == 2, result
    assert result.out == "" and result.err.startswith("error: "), result
    assert result.err.count("\n") == 1, result
    for part in parts:
        assert part in result.err, result


def work(cli: Run, trees: dict[str, Path]) -> None:
    """A morning's work on the feature, every record made by the command that makes it."""
    data, api, ui = trees["impl-data"], trees["impl-api"], trees["impl-ui"]
    commit(data, "src/models.py", "class Goal: ...\n", "T001: model")
    commit(data, "src/models.py", "class Goal:\n    pages = 0\n", "T001 done")
    ok(cli("sync-status", cwd=data))
    commit(api, "src/models.py", "class Goal:\n    title = ''\n", "T002: the API's model")
    ok(cli("sync-status", cwd=api))
    scan = cli("detect-conflicts", "--json")  # exit 1: it found the conflict
    assert scan.code == 1 and scan.json()["features"][0]["conflicts"], scan
    logged = ok(cli("events", "log-conflict", SPEC, "implementor-ui", '["src/ui.py"]',
                    "critical", "--json")).json()  # fmt: skip
    ok(cli("events", "resolve-conflict", str(logged["id"]), "rebased"))
    ok(cli("events", "block", SPEC, "implementor-ui", "dependency", "needs the API",
           "--task", "T003", "--blocked-by", "implementor-api"))  # fmt: skip
    first = ok(cli("events", "block", SPEC, "implementor-api", "external", "waits for a key",
                   "--json")).json()  # fmt: skip
    ok(cli("events", "unblock", str(first["id"]), "the key came"))
    ok(cli("events", "record-test", SPEC, "implementor-data", "unit", "passed", "--passed", "7",
           "--total", "7", "--duration-ms", "120", cwd=data))  # fmt: skip
    pr = ok(cli("open-pr", "--json", cwd=data)).json()
    ok(cli("merge-pr", str(pr["id"]), cwd=trees["overseer"]))
    payload = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls"}, "cwd": str(ui)})
    ok(cli("guard", "--role", "implementor", stdin=payload, cwd=ui))
    ok(cli("events", "log-event", SPEC, "implementor-ui", "deploy_note", "staging is up",
           "--metadata", '{"env": "staging", "n": [1, 2.5, null], "ok": true}'))  # fmt: skip


def seen(cli: Run, env: dict[str, str]) -> dict[tuple[str, ...], Any]:
    shown = {view: ok(cli(*view, env=env)).out for view in VIEWS}
    info = ok(cli("events", "info", "--json", env=env)).json()
    shown[("events", "info")] = info["counts"]
    return shown


@pytest.fixture
def team(repo: Path, feature: dict[str, Path], pg_dsn: str) -> dict[str, Any]:
    """The feature's work on SQLite; a config that chooses the postgres store beside it."""
    config = repo / "postgres.yaml"
    config.write_text(
        (repo / "orchestrator.yaml").read_text().replace("  store: sqlite\n", "  store: postgres\n")
    )
    env = clean_env(CLAUDE_ORCHESTRATOR_DB_URL=pg_dsn, CLAUDE_ORCHESTRATOR_CONFIG=str(config),
                    CLAUDE_ORCHESTRATOR_NO_STORE_PROXY="1")  # fmt: skip
    return {"trees": feature, "postgres": env, "db": repo / ".git" / "orchestrator" / "events.db"}


def migrate(cli: Run, dsn: str, *args: str) -> Any:
    return cli("events", "migrate", "--to", dsn, *args, env=clean_env())


def test_a_real_store_is_copied_and_every_command_shows_the_same(
    cli: Run, team: dict[str, Any], pg_dsn: str
) -> None:
    trees = team["trees"]
    work(cli, trees)
    before, sqlite_seen = digest(team["db"]), seen(cli, clean_env())
    result = ok(migrate(cli, pg_dsn, "--json"))
    done = result.json()
    assert digest(team["db"]) == before  # the source is only read, and nothing else written
    root = git(team["db"].parent, "rev-list", "--max-parents=0", "HEAD")
    assert done["project"] == f"git:{root}"  # as the postgres store names the repository
    assert not (team["db"].parent / "postgres-project").exists()
    assert done["verified"] is True and done["nothing_new"] is False
    assert done["counts"]["task_events"] == len(json.loads(sqlite_seen[VIEWS[2]]))
    assert done["copied"] == {t: n for t, n in done["counts"].items()
                              if t not in ("agent_activity", "task_state")}  # fmt: skip
    assert set(done["present"].values()) == {0}
    assert done["counts"]["synced_actions"] > 0 and done["counts"]["task_state"] > 0
    password = urlsplit(pg_dsn).password  # the DSN's password never shows
    assert password and "****" in done["target"] and password not in result.out
    assert done["next"].startswith("next: set `plugins.store: postgres` in orchestrator.yaml")
    assert "CLAUDE_ORCHESTRATOR_DB_URL=" in done["next"] and "\n" not in done["next"]
    assert seen(cli, team["postgres"]) == sqlite_seen
    with psycopg.connect(pg_dsn) as conn:  # the copy inserted with the append-only trigger on
        enabled = conn.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE "
                               "'task_events_no_%' ORDER BY tgname").fetchall()  # fmt: skip
    assert enabled == [("task_events_no_change", "O"), ("task_events_no_truncate", "O")]
    # the checksum is the documented one, over what SQLite holds
    assert done["checksum"] == sqlite_checksum(team["db"])
    # run again: nothing new, said so, nothing written
    again = ok(migrate(cli, pg_dsn))
    assert again.out.startswith("nothing new to copy: every record of ")
    assert again.out.rstrip("\n").splitlines()[-1] == done["next"]
    assert seen(cli, team["postgres"]) == sqlite_seen


def test_more_work_on_sqlite_is_copied_by_the_next_run_alone(
    cli: Run, team: dict[str, Any], pg_dsn: str
) -> None:
    trees = team["trees"]
    work(cli, trees)
    first = ok(migrate(cli, pg_dsn, "--json")).json()
    # the afternoon: a commit synced, the scan's conflict resolved, a test run, an event
    commit(trees["impl-ui"], "src/ui.py", "ui\n", "T003: the page")
    ok(cli("sync-status", cwd=trees["impl-ui"]))
    open_ = ok(cli("events", "conflicts", "--json")).json()
    ok(cli("events", "resolve-conflict", str(open_[0]["id"]), "api rebased"))
    ok(cli("events", "record-test", SPEC, "implementor-ui", "e2e", "failed", "--failed", "1"))
    ok(cli("events", "set-feature-status", SPEC, "completed"))
    second = ok(migrate(cli, pg_dsn, "--json")).json()
    grown = {t: second["counts"][t] - first["counts"][t] for t in second["copied"]}
    assert second["copied"] == grown and grown["task_events"] == 4
    assert second["present"]["task_events"] == first["counts"]["task_events"]
    # what changed in place: the conflict's resolution, the feature's status, the cursor
    assert second["updated"]["conflicts"] == 1 and second["updated"]["features"] == 1
    assert second["updated"]["sync_cursors"] == 0 and second["copied"]["sync_cursors"] == 1
    assert seen(cli, team["postgres"]) == seen(cli, clean_env())


def sqlite_checksum(path: Path) -> str:
    """The events' checksum as the command's help documents it, from the file."""
    import hashlib

    db = sqlite3.connect(path)
    digest_ = hashlib.sha256()
    for row in db.execute(
        "SELECT te.id, f.spec_id, a.role, te.event_type, te.task_id, te.commit_hash, "
        "te.message, te.metadata, te.created_at FROM task_events te "
        "JOIN features f ON f.id = te.feature_id JOIN agents a ON a.id = te.agent_id "
        "ORDER BY te.id"
    ):
        item = [*row[:7], json.loads(row[7]) if row[7] else None, row[8]]
        line = json.dumps(item, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest_.update(line.encode() + b"\n")
    db.close()
    return digest_.hexdigest()


# -- bad input: one line, exit 2, nothing written -----------------------------------------
def no_store_there(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT to_regclass('schema_meta') IS NULL").fetchone()[0] is True


def test_help_has_an_example(cli: Run, initialized: Path) -> None:
    shown = ok(cli("events", "migrate", "--help")).out
    assert "Example:" in shown and "events migrate --to postgresql://" in shown


def test_bad_targets_are_one_line_each(
    cli: Run, initialized: Path, pg_dsn: str, closed_port: int
) -> None:
    store = initialized / ".git" / "orchestrator" / "events.db"
    before = digest(store)
    for to, words in (
        ("", "--to is empty"),
        ("mysql://agent:hunter2@db/orchestrator", "--to is a mysql:// URL"),
        ("sqlite:///tmp/events.db", "not a PostgreSQL connection string"),
        (str(store), "not a PostgreSQL connection string libpq can read"),
        ("host=db passwd=hunter2", "not a PostgreSQL connection string libpq can read"),
    ):
        result = migrate(cli, to)
        one_line_error(result, words)
        assert "hunter2" not in result.err
    away = f"postgresql://agent:hunter2@127.0.0.1:{closed_port}/orchestrator"
    result = migrate(cli, away)
    one_line_error(result, "cannot reach the PostgreSQL event store", "agent:****@", "--to")
    assert "hunter2" not in result.err
    one_line_error(cli("events", "migrate", env=clean_env()), "Missing option '--to'")
    one_line_error(migrate(cli, pg_dsn, "--project", "-lead"), "--project '-lead' is not a")
    assert digest(store) == before and no_store_there(pg_dsn)


def test_bad_sources_are_one_line_each(
    cli: Run, initialized: Path, pg_dsn: str, tmp_path: Path
) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database, only text " * 100)
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.close()
    newer, older = tmp_path / "newer.db", tmp_path / "older.db"
    for path, version in ((newer, 99), (older, 4)):
        SQLiteStore(path).initialize()
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {version}")
        db.commit()
        db.close()
    sources = [
        (tmp_path / "missing.db", "no SQLite event store to copy", "--db FILE"),
        (tmp_path, "is not a file", "--db FILE"),
        (text, "is not a SQLite event store this can read", "--db FILE"),
        (other, "is a SQLite database but no event store", "--db FILE"),
        (newer, "has schema version 99", "upgrade it"),
        (older, "has schema version 4", "claude-orchestrator events init"),
    ]
    for path, *words in sources:
        kept = digest(path) if path.is_file() else None
        one_line_error(migrate(cli, pg_dsn, "--db", str(path)), *words)
        assert (digest(path) if path.is_file() else None) == kept
    assert no_store_there(pg_dsn)


def test_a_repository_on_the_postgres_store_names_its_sqlite_file(
    cli: Run, initialized: Path, pg_dsn: str
) -> None:
    config = initialized / "orchestrator.yaml"
    config.write_text(config.read_text().replace("  store: sqlite\n", "  store: postgres\n"))
    one_line_error(migrate(cli, pg_dsn), "copies a SQLite store", "--db FILE",
                   str(initialized / ".git" / "orchestrator" / "events.db"))  # fmt: skip
    done = ok(migrate(cli, pg_dsn, "--db", ".git/orchestrator/events.db", "--json")).json()
    assert done["counts"]["features"] == 1
    env = clean_env(CLAUDE_ORCHESTRATOR_DB_URL=pg_dsn, CLAUDE_ORCHESTRATOR_NO_STORE_PROXY="1")
    status = ok(cli("events", "status", "--json", env=env)).json()
    assert {row["spec_id"] for row in status} == {"003-reading-goals"}


def test_a_newer_target_schema_is_refused_and_left_alone(
    cli: Run, initialized: Path, pg_dsn: str
) -> None:
    ok(migrate(cli, pg_dsn, "--project", "first"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE schema_meta SET value = '99' WHERE key = 'version'")
    one_line_error(migrate(cli, pg_dsn, "--project", "second"), "has schema version 99")
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT name FROM projects").fetchall() == [("first",)]


def test_the_project_can_be_named(cli: Run, initialized: Path, pg_dsn: str) -> None:
    done = ok(migrate(cli, pg_dsn, "--project", "reading-goals", "--json")).json()
    assert done["project"] == "reading-goals"
    assert "`project: reading-goals` in orchestrator.yaml" in done["next"]
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT name FROM projects").fetchall() == [("reading-goals",)]


def test_a_service_file_and_a_password_file_name_the_target(
    cli: Run, initialized: Path, pg_dsn: str, tmp_path: Path
) -> None:
    env = clean_env(**service_files(tmp_path, pg_dsn))
    result = cli("events", "migrate", "--to", "service=team", "--json", env=env)
    done = ok(result).json()
    assert (done["target"], done["counts"]["features"]) == ("service=team", 1)
    assert "CLAUDE_ORCHESTRATOR_DB_URL='service=team'" in done["next"]


def test_the_agents_role_copies_into_a_store_its_owner_made(
    cli: Run, initialized: Path, login: Login
) -> None:
    """The DBA created the tables and ran the grants; an agent's login copies (it only
    inserts, and updates what an agent may update), its password never shown."""
    result = ok(migrate(cli, login.dsn, "--project", "by-an-agent"))
    assert login.password not in result.out
    again = ok(migrate(cli, login.dsn, "--project", "by-an-agent"))
    assert again.out.startswith("nothing new to copy")
    with psycopg.connect(login.owner_dsn) as conn:
        rows = conn.execute("SELECT p.name, COUNT(*) FROM task_events te JOIN projects p "
                            "ON p.id = te.project_id GROUP BY p.name").fetchall()  # fmt: skip
    assert rows == [("by-an-agent", 1)]
