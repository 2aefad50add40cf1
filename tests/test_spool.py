"""The hook path when the store cannot be reached: log-event, sync-status and the
post-commit hook spool their writes and exit 0; the next writer drains the spool, in
order, exactly once; doctor reports it.

A store "cannot be reached" here for real: another process holds the SQLite file
locked (``locking_mode=EXCLUSIVE``: not even readers get in, as with a server that is
away; ``BEGIN IMMEDIATE``: writers wait) for longer than the hook path waits.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.config import default_config
from claude_orchestrator.errors import StoreError, StoreUnavailableError
from claude_orchestrator.guard_log import log_decision
from claude_orchestrator.location import discover
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.spool import MAX_ATTEMPTS, event_record, for_store, summary, sync_record
from claude_orchestrator.spool_writes import HOOK_BUSY_TIMEOUT_S, HookOrchestrator

from .conftest import CLI, Run, clean_env, git
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]
ROLE = "implementor-data"
#: the config the tests run with: the hook path gives up on a locked store after 50 ms
FAST = "version: 1\nplugins:\n  options:\n    sqlite:\n      busy_timeout: 0.05\n"

HOLD = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
else:
    conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@contextlib.contextmanager
def held(db: Path, mode: str = "exclusive") -> Iterator[None]:
    """Another process holds the store's lock until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        yield
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of every command: the fast config."""
    config = tmp_path / "fast.yaml"
    config.write_text(FAST)
    return clean_env(CLAUDE_ORCHESTRATOR_CONFIG=str(config))


def rows(db: Path) -> list[tuple[str, str, str | None]]:
    """(event type, message, record id) of every event, in id order."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        found = conn.execute("SELECT event_type, message, json_extract(metadata, '$.record_id') "
                             "FROM task_events ORDER BY id").fetchall()  # fmt: skip
    return [(str(t), str(m), r) for t, m, r in found]


def messages(db: Path, event_type: str = "status_update") -> list[str]:
    return [m for t, m, _ in rows(db) if t == event_type]


def spool_files(state_dir: Path) -> list[Path]:
    return sorted(p for p in state_dir.glob("*spool*") if not p.name.endswith(".lock"))


def log(cli: Run, env: dict[str, str], message: str, *extra: str, cwd: Path | None = None,
        role: str = ROLE) -> Any:  # fmt: skip
    return cli("events", "log-event", SPEC, role, "status_update", message, *extra, cwd=cwd,
               env=env)  # fmt: skip


# ------------------------------------------------------------------------ log-event
def test_log_event_spools_when_the_store_cannot_be_reached_and_the_next_drains_it(
    cli: Run, initialized: Path, store_db: Path, env: dict[str, str]
) -> None:
    before = rows(store_db)
    with held(store_db):
        first = log(cli, env, "first")
        second = log(cli, env, "second", "--json")
    assert (first.code, first.out) == (0, "")
    [line] = first.err.splitlines()
    assert line.startswith("warning: the event is spooled as record ")
    assert "the event store cannot be reached now" in line and str(store_db) in line
    assert second.code == 0, second
    record = second.json()
    assert record["spooled"] is True and record["kind"] == "event"
    assert record["store"] == str(store_db) and Path(record["spool"]).parent == store_db.parent
    assert rows(store_db) == before  # nothing written to the store
    third = log(cli, env, "third")
    assert (third.code, third.out, third.err) == (0, "", "")
    assert messages(store_db) == ["first", "second", "third"]
    ids = [r for _, m, r in rows(store_db) if m in ("first", "second")]
    assert ids[1] == record["record_id"] and ids[0] in line
    assert [r for _, m, r in rows(store_db) if m == "third"] == [None]  # stored, not spooled
    assert spool_files(store_db.parent) == []
    assert log(cli, env, "fourth").err == ""
    assert messages(store_db) == ["first", "second", "third", "fourth"]  # nothing twice


def test_bad_input_is_refused_before_anything_is_spooled(
    cli: Run, initialized: Path, store_db: Path, env: dict[str, str]
) -> None:
    with held(store_db):
        bad_role = log(cli, env, "x", role="boss")
        bad_metadata = log(cli, env, "x", "--metadata", "[1]")
    for result in (bad_role, bad_metadata):
        assert result.code == 2 and result.err.startswith("error: ") and result.out == ""
        assert len(result.err.splitlines()) == 1
    assert spool_files(store_db.parent) == []


def test_other_store_errors_stay_errors(cli: Run, repo: Path, env: dict[str, str]) -> None:
    """No store at all is set-up missing, not a store that is away: exit 2, no spool."""
    result = log(cli, env, "x")
    assert result.code == 2 and "events init" in result.err
    assert not (repo / ".git" / "orchestrator").exists()


def test_a_record_the_store_refuses_is_rejected_after_the_attempts(
    cli: Run, initialized: Path, store_db: Path, env: dict[str, str]
) -> None:
    """The feature and agent are checked when the record is drained: an unknown agent
    fails there, is tried again by later writers, and then moves to the rejected file
    (an event and a warning say so); it never blocks the records behind it."""
    with held(store_db):
        assert log(cli, env, "from nobody", role="implementor-nobody").code == 0
        assert log(cli, env, "spooled after it").code == 0
    results = [log(cli, env, f"after {n}") for n in range(MAX_ATTEMPTS)]
    assert all(r.code == 0 for r in results)
    assert messages(store_db) == ["spooled after it", *(f"after {n}" for n in range(5))]
    warned = [r.err for r in results if r.err]
    assert len(warned) == 1 and "refused 5 times moved to" in warned[0]
    [rejected] = [m for t, m, _ in rows(store_db) if t == "spool_rejected"]
    assert "1 spooled hook-path record(s)" in rejected
    state = summary(store_db.parent)
    assert (state.waiting, state.rejected) == (0, 1)
    [line] = next(store_db.parent.glob("spool-*.rejected")).read_text().splitlines()
    entry = json.loads(line)
    assert entry["record"]["role"] == "implementor-nobody" and len(entry["errors"]) == 5
    assert "implementor-nobody" in entry["errors"][0]


def test_records_stay_with_their_store(
    cli: Run, initialized: Path, store_db: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """A record spooled for one store is never drained into another (``--db``)."""
    other = tmp_path / "other.db"
    assert cli("events", "init", "--db", str(other), env=env).code == 0
    assert cli("events", "add-feature", SPEC, "Other", "--db", str(other), env=env).code == 0
    with held(store_db):
        assert "spooled" in log(cli, env, "for the main store").err
    assert log(cli, env, "into the other", "--db", str(other)).err == ""
    assert messages(other) == ["into the other"]
    assert log(cli, env, "into the main").err == ""
    assert messages(store_db) == ["for the main store", "into the main"]


def test_many_processes_spool_at_once(
    initialized: Path, store_db: Path, env: dict[str, str]
) -> None:
    """Eight processes, five events each, all while the store is away: every event is
    spooled whole, then stored once, each process's in the order it logged them."""
    loop = ('for i in 1 2 3 4 5; do "$0" events log-event ' + SPEC + " " + ROLE +
            ' status_update "p$1 e$i" || exit 1; done')  # fmt: skip
    with held(store_db):
        procs = [subprocess.Popen(["bash", "-c", loop, str(CLI), str(n)], cwd=initialized,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for n in range(8)]  # fmt: skip
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            assert out == "" and err.count("spooled as record") == 5
    assert summary(store_db.parent).kinds == {"event": 40}
    store = SQLiteStore(store_db)
    try:
        from claude_orchestrator.spool_drain import drain

        report = drain(store, store_db.parent)
    finally:
        store.close()
    assert (report.stored, report.left, report.stopped) == (40, 0, None)
    stored = messages(store_db)
    assert sorted(stored) == sorted(f"p{n} e{i}" for n in range(8) for i in range(1, 6))
    for n in range(8):
        mine = [m for m in stored if m.startswith(f"p{n} ")]
        assert mine == [f"p{n} e{i}" for i in range(1, 6)]
    assert len({r for _, _, r in rows(store_db) if r}) == 40


# ---------------------------------------------------------------------- sync-status
def task_events(db: Path) -> list[tuple[str, str]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        found = conn.execute("SELECT event_type, task_id FROM task_events WHERE event_type "
                             "LIKE 'task_%' ORDER BY id").fetchall()  # fmt: skip
    return [(str(t), str(k)) for t, k in found]


def test_sync_status_spools_the_branch_and_the_drain_syncs_it_where_it_was_spooled(
    cli: Run, repo: Path, feature: dict[str, Path], env: dict[str, str]
) -> None:
    db = repo / ".git" / "orchestrator" / "events.db"
    overseer, data = feature["overseer"], feature["impl-data"]
    commit(data, "src/models.py", "a\n", "T001: add model")
    commit(overseer, "docs/plan.md", "plan\n", "T003 done")  # the overseer's own work
    with held(db):
        spooled = cli("sync-status", cwd=data, env=env)
        as_json = cli("sync-status", "--json", cwd=overseer, env=env)
    assert (spooled.code, spooled.out) == (0, "")
    [line] = spooled.err.splitlines()
    assert f"the sync of feature/{SPEC}/impl-data is spooled as record" in line
    record = as_json.json()
    assert record["kind"] == "sync" and record["branch"] == f"feature/{SPEC}/overseer"
    assert task_events(db) == []
    tasks = overseer / "specs" / SPEC / "tasks.md"
    assert "- [ ] T003" in tasks.read_text()
    # the next writer, in another worktree, runs both syncs: each where it was spooled
    result = log(cli, env, "back", cwd=feature["impl-api"], role="implementor-api")
    assert (result.code, result.err) == (0, ""), result
    assert task_events(db) == [("task_started", "T001"), ("task_completed", "T003")]
    assert messages(db)[-1] == "back"  # after what was spooled
    assert "- [x] T003" in tasks.read_text()  # the overseer's tasks.md, in its worktree
    assert git(overseer, "status", "--porcelain", "--", "specs") != ""  # not committed: its own
    again = cli("sync-status", "--json", cwd=data, env=env).json()
    assert again["commits_read"] == 0 and again["events"] == []
    assert summary(db.parent).waiting == 0


def test_the_post_commit_hook_stays_quiet_and_the_next_writer_syncs(
    cli: Run, repo: Path, feature: dict[str, Path], env: dict[str, str]
) -> None:
    db = repo / ".git" / "orchestrator" / "events.db"
    assert cli("hooks", "install", env=env).code == 0
    data = feature["impl-data"]
    (data / "src").mkdir()
    (data / "src" / "a.py").write_text("a\n")
    with held(db):
        for args in (["add", "src/a.py"], ["commit", "-q", "-m", "T001: model"]):
            proc = subprocess.run(["git", *args], cwd=data, env=env, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout == proc.stderr == ""
    assert not (db.parent / "hook-errors.log").exists()
    assert summary(db.parent).kinds == {"sync": 1}
    assert task_events(db) == []
    # a commit once the store is back: its hook drains the spooled sync, then syncs
    (data / "src" / "b.py").write_text("b\n")
    for args in (["add", "src/b.py"], ["commit", "-q", "-m", "T002: api"]):
        subprocess.run(["git", *args], cwd=data, env=env, check=True, timeout=120)
    assert task_events(db) == [("task_started", "T001"), ("task_started", "T002")]
    assert summary(db.parent).waiting == 0
    assert not (db.parent / "hook-errors.log").exists()


# -------------------------------------------------------------------- the guard's log
class Verdict:
    allowed, reason = True, ""


def test_the_guard_drains_the_spooled_events_and_leaves_the_syncs(
    initialized: Path, store_db: Path
) -> None:
    """The guard drains log-event's spooled events too (one spool per store); a sync it
    leaves for a command that runs git anyway."""
    state_dir = store_db.parent
    location = discover(initialized, {})
    spool = for_store(state_dir, str(store_db))
    assert spool.append(event_record(NewEvent(SPEC, ROLE, "status_update", "spooled"),
                                     str(store_db)))  # fmt: skip
    assert spool.append(sync_record(str(store_db), initialized, f"feature/{SPEC}/impl-data"))
    log_decision(location, default_config(), SPEC, ROLE, "Bash", "ls", Verdict(), env={})
    assert messages(store_db) == ["spooled"]
    assert [m for t, m, _ in rows(store_db) if t == "guard_decision"] == ["allowed Bash: ls"]
    assert summary(state_dir).kinds == {"sync": 1}


# ------------------------------------------------------------------ stores, options
def test_a_sqlite_store_locked_beyond_its_timeout_is_unavailable(
    store_db: Path, initialized: Path
) -> None:
    store = SQLiteStore(store_db, busy_timeout=0.01)
    try:
        with held(store_db, "immediate"), pytest.raises(StoreUnavailableError) as caught:
            store.append_event(NewEvent(SPEC, ROLE, "status_update", "x"))
    finally:
        store.close()
    assert isinstance(caught.value, StoreError)  # every command that failed still fails
    assert "stayed locked for 0.01 s" in str(caught.value)


@pytest.mark.parametrize(("configured", "hook"), [(None, HOOK_BUSY_TIMEOUT_S), (30, 2.0),
                                                  (0.05, 0.05)])  # fmt: skip
def test_the_hook_path_waits_for_a_busy_store_at_most_its_timeout(
    initialized: Path, tmp_path: Path, configured: float | None, hook: float
) -> None:
    config = tmp_path / "c.yaml"
    options = f"  options:\n    sqlite:\n      busy_timeout: {configured}\n"
    config.write_text("version: 1\nplugins:\n" + (options if configured else "  store: sqlite\n"))
    env = {"CLAUDE_ORCHESTRATOR_CONFIG": str(config)}
    with HookOrchestrator(initialized, env=env) as orch:
        port: Any = orch.store_plugin().port
        assert port.busy_timeout == hook
    with Orchestrator(initialized, env=env) as orch:  # other commands: as configured
        port: Any = orch.store_plugin().port
        assert port.busy_timeout == (configured or 30.0)


# --------------------------------------------------------------------------- doctor
def checks(cli: Run, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = cli("doctor", "--json", env=env)
    return {c["name"]: c for c in result.json()}


def test_doctor_reports_what_is_spooled(
    cli: Run, initialized: Path, store_db: Path, env: dict[str, str]
) -> None:
    assert checks(cli, env)["spool"] == {"name": "spool", "ok": True,
                                         "detail": "nothing spooled", "level": None}  # fmt: skip
    spool = for_store(store_db.parent, str(store_db))
    old = event_record(NewEvent(SPEC, ROLE, "status_update", "old"), str(store_db))
    old["at"] = time.time() - 7300
    for record in (old, event_record(NewEvent(SPEC, ROLE, "status_update", "new"), None),
                   sync_record(str(store_db), initialized, "feature/x/impl-data")):  # fmt: skip
        assert spool.append(record)
    check = checks(cli, env)["spool"]
    assert check["ok"] is True and check["level"] == "warning"
    assert check["detail"].startswith("3 record(s) spooled (2 event, 1 sync), the oldest 2 h old")
    assert str(store_db) in check["detail"]


def test_doctor_fails_when_the_store_cannot_be_reached(
    cli: Run, initialized: Path, store_db: Path, env: dict[str, str]
) -> None:
    with held(store_db):
        check = checks(cli, env)["store"]
    assert check["ok"] is False
    detail = check["detail"]
    assert detail.startswith("the event store cannot be reached now: ") and str(store_db) in detail
    assert "spool their writes" in detail and "start the server or restore" in detail
    assert checks(cli, env)["store"]["ok"] is True


def test_doctor_prints_a_warning_as_warn(
    cli: Run, initialized: Path, store_db: Path, env: dict[str, str]
) -> None:
    assert "\nok  spool: nothing spooled" in "\n" + cli("doctor", env=env).out
    spool = for_store(store_db.parent, str(store_db))
    assert spool.append(event_record(NewEvent(SPEC, ROLE, "status_update", "x"), None))
    lines = cli("doctor", env=env).out.splitlines()
    assert [line[:4] for line in lines if " spool: " in line] == ["warn"]
