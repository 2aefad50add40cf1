"""The PostgreSQL store's server stops while agents commit, log and call the guard; it
starts again; the next commit's hook drains the spool: nothing lost, nothing doubled.

The server is a cluster of this test's own (:class:`tests.pgserver.Cluster`), stopped
and started again on the same port and data: the shared one is never stopped.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.spool import summary
from tests import pgserver

from .conftest import CLI, clean_env, make_repo
from .test_workflow_setup import SPEC, TASKS, commit


@pytest.fixture
def cluster() -> Iterator[pgserver.Cluster]:
    try:
        server = pgserver.Cluster().start()
    except pgserver.Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


#: the committed config: the team's server
CONFIG = "version: 1\nplugins:\n  store: postgres\n"


def run(
    env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], cwd=cwd, env=env, input=stdin, text=True,
                          capture_output=True, timeout=120)  # fmt: skip


def git_commit(
    env: dict[str, str], cwd: Path, path: str, message: str
) -> subprocess.CompletedProcess[str]:
    (cwd / path).parent.mkdir(parents=True, exist_ok=True)
    (cwd / path).write_text(message + "\n")
    subprocess.run(["git", "add", path], cwd=cwd, env=env, check=True, timeout=60)
    return subprocess.run(["git", "commit", "-q", "-m", message], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=120)  # fmt: skip


def setup(tmp_path: Path, env: dict[str, str]) -> dict[str, Path]:
    """A feature with worktrees on the postgres store, configured in the committed config
    (the guard reads the overseer branch's), its hooks installed."""
    repo = make_repo(tmp_path / "repo")
    commit(repo, "orchestrator.yaml", CONFIG, "the store is the team's server")
    for args in (["events", "init"], ["init-feature", SPEC, "--worktrees"], ["hooks", "install"]):
        result = run(env, repo, *args)
        assert result.returncode == 0, result.stderr
    trees = {leaf: tmp_path / "repo-worktrees" / SPEC / leaf
             for leaf in ("overseer", "impl-data", "impl-api", "impl-ui")}  # fmt: skip
    tasks = trees["overseer"] / "specs" / SPEC / "tasks.md"
    tasks.parent.mkdir(parents=True)
    tasks.write_text(TASKS)
    for cwd, args in [(trees["overseer"], ["add", "specs"]),
                      (trees["overseer"], ["commit", "-q", "-m", "tasks for the feature"]),
                      *((trees[leaf], ["rebase", "-q", f"feature/{SPEC}/overseer"])
                        for leaf in ("impl-data", "impl-api", "impl-ui"))]:  # fmt: skip
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, timeout=120)
    return trees


def stored(env: dict[str, str], repo: Path) -> list[dict[str, Any]]:
    result = run(env, repo, "events", "recent", "200", "--spec", SPEC, "--json")
    assert result.returncode == 0, result.stderr
    return list(reversed(json.loads(result.stdout)))


def test_the_server_stops_while_agents_work_and_nothing_is_lost_or_doubled(
    tmp_path: Path, cluster: pgserver.Cluster
) -> None:
    # no store proxy: its daemons would outlive the test (the spool is what is tested)
    env = clean_env(CLAUDE_ORCHESTRATOR_DB_URL=cluster.dsn, CLAUDE_ORCHESTRATOR_NO_STORE_PROXY="1")
    trees = setup(tmp_path, env)
    repo = tmp_path / "repo"
    state_dir = repo / ".git" / "orchestrator"
    first = git_commit(env, trees["impl-data"], "src/models.py", "T001: model")
    assert first.returncode == 0 and first.stderr == ""
    cluster.halt()
    # agents go on: two commit at once, one logs, one's tool call is checked
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def agent(name: str, path: str, message: str) -> None:
        results[name] = git_commit(env, trees[name], path, message)

    threads = [threading.Thread(target=agent, args=args) for args in
               (("impl-data", "src/models.py", "T001 done"), ("impl-api", "src/api.py",
                                                               "T002: api"))]  # fmt: skip
    for thread in threads:
        thread.start()
    logged = run(env, trees["impl-ui"], "events", "log-event", SPEC, "implementor-ui",
                 "status_update", "while the server is away", "--json")  # fmt: skip
    payload = json.dumps({"tool_name": "Bash", "tool_input": {"command": "ls"},
                          "cwd": str(trees["impl-ui"])})  # fmt: skip
    guarded = run(env, trees["impl-ui"], "guard", "--role", "implementor", stdin=payload)
    for thread in threads:
        thread.join(timeout=120)
    for name, result in results.items():
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), name
    assert logged.returncode == 0 and json.loads(logged.stdout)["spooled"] is True
    assert "spooled as record" in logged.stderr
    assert (guarded.returncode, guarded.stderr) == (0, "")
    assert not (state_dir / "hook-errors.log").exists()
    waiting = summary(state_dir)
    assert waiting.kinds == {"sync": 2, "event": 1, "guard": 1}
    doctor = {c["name"]: c for c in json.loads(run(env, repo, "doctor", "--json").stdout)}
    assert (
        doctor["store"]["ok"] is False and f"127.0.0.1:{cluster.port}" in doctor["store"]["detail"]
    )
    assert cluster.password not in json.dumps(doctor)
    assert "4 record(s) spooled" in doctor["spool"]["detail"]
    cluster.resume()
    # the next commit's hook stores what was spooled, then its own
    last = git_commit(env, trees["impl-ui"], "src/ui.py", "T003: ui")
    assert (last.returncode, last.stderr) == (0, "")
    events = stored(env, repo)
    tasks = Counter((e["event_type"], e["task_id"]) for e in events
                    if e["event_type"].startswith("task_"))  # fmt: skip
    assert tasks == Counter({("task_started", "T001"): 1, ("task_completed", "T001"): 1,
                             ("task_started", "T002"): 1, ("task_started", "T003"): 1})  # fmt: skip
    assert [e["message"] for e in events if e["event_type"] == "status_update"
            and e["role"] == "implementor-ui"] == ["while the server is away"]  # fmt: skip
    assert [e["message"] for e in events if e["event_type"] == "guard_decision"] == [
        "allowed Bash: ls"]  # fmt: skip
    assert summary(state_dir).waiting == 0
    # nothing doubled: every branch synced again finds nothing new
    for leaf in ("impl-data", "impl-api", "impl-ui"):
        again = run(env, trees[leaf], "sync-status", "--json")
        assert again.returncode == 0 and json.loads(again.stdout)["events"] == []
    assert len(stored(env, repo)) == len(events)


def test_the_guard_logs_to_the_store_the_environment_it_is_given_names(
    tmp_path: Path, pg_dsn: str
) -> None:
    """The guard's log builds the store with the environment it was given (the DSN)."""
    from claude_orchestrator import Orchestrator
    from claude_orchestrator.guard_log import log_decision
    from claude_orchestrator.location import discover

    repo = make_repo(tmp_path / "repo")
    (repo / "orchestrator.yaml").write_text(CONFIG)
    env = {"CLAUDE_ORCHESTRATOR_DB_URL": pg_dsn, "CLAUDE_ORCHESTRATOR_NO_STORE_PROXY": "1"}
    with Orchestrator(repo, env=env) as orch:
        orch.init_store()
        orch.add_feature(SPEC, "Reading goals")
        config = orch.config

    class Allowed:
        allowed, reason = True, ""

    log_decision(discover(repo, {}), config, SPEC, "implementor-data", "Bash", "ls", Allowed(),
                 env=env)  # fmt: skip
    with Orchestrator(repo, env=env) as orch:
        assert [e.message for e in orch.recent(5) if e.event_type == "guard_decision"] == [
            "allowed Bash: ls"]  # fmt: skip
    assert summary(repo / ".git" / "orchestrator").waiting == 0
