"""up, down, attach and logs with real tmux (the repository's private server), real git
worktrees and small real programs standing in for Claude Code."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.launcher import down, nudge, server, session_name, socket_path
from tests.conftest import Run, clean_env, git
from tests.test_workflow_setup import SPEC, feature, worktrees  # noqa: F401 - the fixture

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

#: records its arguments, directory and ports, starts a child, exits on "/exit"
AGENT = """\
import json, os, subprocess, sys, time
log = os.environ["AGENT_LOG"]
child = subprocess.Popen(["sleep", "300"])
record = {"argv": sys.argv[1:], "cwd": os.getcwd(), "pid": os.getpid(), "child": child.pid,
          **{k: os.environ.get(k) for k in ("PORT", "CO_PORT_BASE", "CO_AGENT", "GIT_DIR")}}
with open(os.path.join(log, f"{os.getpid()}.json"), "w") as f:
    json.dump(record, f)
if os.environ.get("AGENT_MODE") == "stubborn":
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
for line in sys.stdin:
    with open(os.path.join(log, f"{os.getpid()}.typed"), "a") as f:
        f.write(line)
    if "/exit" in line:
        child.kill()
        sys.exit(0)
"""


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


def gone(pid: int) -> bool:
    """No such process, or a zombie (it waits only for its parent to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


@pytest.fixture
def team(repo: Path, cli: Run, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """The feature's worktrees with their generated role files; the log directory of
    the stand-in agents. The repository's tmux server is stopped afterwards."""
    for tree in request.getfixturevalue("feature").values():
        shutil.copy(repo / "orchestrator.yaml", tree / "orchestrator.yaml")
        assert cli("generate", cwd=tree).code == 0
    log = tmp_path / "agents"
    log.mkdir()
    (tmp_path / "agent.py").write_text(AGENT)
    yield log
    with Orchestrator(repo, env={}) as o:
        server(o).kill_server()


def records(log: Path) -> dict[str, dict[str, Any]]:
    """The stand-ins' records by role (CO_AGENT's role), the latest per role."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(log.glob("*.json"), key=lambda p: p.stat().st_mtime):
        data = json.loads(path.read_text())
        found[data["CO_AGENT"].split("/", 1)[1]] = data
    return found


def agent_cmd(tmp_path: Path) -> str:
    return f"{sys.executable} {tmp_path / 'agent.py'}"


def events(cli: Run, kind: str) -> list[dict[str, Any]]:
    result = cli("events", "recent", "200", "--json")
    return [e for e in result.json() if e["event_type"] == kind]


def test_up_starts_each_agent_in_its_worktree_with_its_settings(
    cli: Run, repo: Path, team: Path, tmp_path: Path
) -> None:
    env = clean_env(AGENT_LOG=str(team))
    result = cli("up", SPEC, "--agent-cmd", agent_cmd(tmp_path), "--json", env=env)
    assert result.code == 0, result
    data = result.json()
    assert [a["state"] for a in data["agents"]] == ["started"] * 4
    trees = worktrees(repo)
    assert {a["window"] for a in data["agents"]} == set(trees)
    seen = wait_for(lambda: len(records(team)) == 4 and records(team))
    assert set(seen) == {"overseer", "implementor-data", "implementor-api", "implementor-ui"}
    ports = {seen[r]["PORT"] for r in seen}
    assert len(ports) == 4 and all(p and p == seen[r]["CO_PORT_BASE"] for r in seen
                                   for p in [seen[r]["PORT"]])  # fmt: skip
    for agent in data["agents"]:
        role = agent["role"]
        mine = seen[role]
        tree = trees[agent["window"]]
        assert mine["cwd"] == str(tree.resolve()) and mine["pid"] == agent["pid"]
        assert mine["GIT_DIR"] is None
        argv = mine["argv"]
        leaf = "overseer" if role == "overseer" else "implementor"
        settings = tree.resolve() / ".claude" / f"permissions-{leaf}.json"
        assert argv[:4] == ["--setting-sources", "", "--settings", str(settings)]
        assert argv[4:6] == ["--permission-mode", "default"]
        assert argv[6] == "--session-id" and uuid.UUID(argv[7]).version == 4
        assert argv[7] == agent["session_id"]
        prompt = argv[8]
        assert f"feature/{SPEC}/{agent['window']}" in prompt and role in prompt
    implementor = seen["implementor-api"]["argv"][8]
    assert "Your tasks" in implementor and "T002 API" in implementor
    assert "check-conflicts" in implementor and "open-pr" in implementor
    assert "run-tests" in implementor and "sync-status" in implementor
    overseer = seen["overseer"]["argv"][8]
    assert "T003 UI [implementor-ui]" in overseer and "T001" in overseer
    assert "tell implementor-" in overseer and "merge-pr" in overseer
    started = {e["role"]: e for e in events(cli, "agent_started")}
    assert set(started) == set(seen)
    with Orchestrator(repo, env={}) as o:
        socket = str(socket_path(o))
    meta = started["implementor-data"]["metadata"]
    assert meta["runner"] == "tmux" and meta["socket"] == socket
    assert meta["session"] == f"co-{SPEC}" and meta["window"] == "impl-data"
    assert meta["target"] == f"=co-{SPEC}:=impl-data"
    assert meta["pid"] == seen["implementor-data"]["pid"]
    assert meta["session_id"] == seen["implementor-data"]["argv"][7]
    assert meta["worktree"] == str(trees["impl-data"].resolve())
    assert meta["command"][2:] == seen["implementor-data"]["argv"]
    assert started["implementor-data"]["message"] == (
        f"started in tmux =co-{SPEC}:=impl-data (pid {meta['pid']})"
    )
    # again: every agent runs, nothing is started or recorded
    again = cli("up", SPEC, "--agent-cmd", agent_cmd(tmp_path), "--json", env=env)
    assert again.code == 0, again
    assert [(a["state"], a["pid"]) for a in again.json()["agents"]] == [
        ("running", a["pid"]) for a in data["agents"]
    ]
    assert len(events(cli, "agent_started")) == 4


def test_down_stops_every_process_by_pid(cli: Run, repo: Path, team: Path, tmp_path: Path) -> None:
    env = clean_env(AGENT_LOG=str(team))
    assert cli("up", SPEC, "--agent-cmd", agent_cmd(tmp_path), env=env).code == 0
    seen = wait_for(lambda: len(records(team)) == 4 and records(team))
    pids = [p for r in seen.values() for p in (r["pid"], r["child"])]
    assert not any(gone(p) for p in pids)
    result = cli("down", SPEC, "--json", env=env)
    assert result.code == 0, result
    assert {s["how"] for s in result.json()} == {"graceful"}
    assert all(gone(p) for p in pids)
    stopped = events(cli, "agent_stopped")
    assert sorted(e["metadata"]["pid"] for e in stopped) == sorted(r["pid"] for r in seen.values())
    with Orchestrator(repo, env={}) as o:
        assert not server(o).running()  # the last window closed: the server is gone
    assert cli("down", SPEC, env=env).out.strip() == "no agent of this feature is in tmux"


def test_down_signals_an_agent_that_will_not_exit(
    cli: Run, repo: Path, team: Path, tmp_path: Path
) -> None:
    """/exit is ignored and SIGTERM too: SIGKILL, then its child by pid."""
    env = clean_env(AGENT_LOG=str(team), AGENT_MODE="stubborn")
    assert cli("up", SPEC, "--roles", "impl-data", "--agent-cmd", agent_cmd(tmp_path),
               env=env).code == 0  # fmt: skip
    seen = wait_for(lambda: records(team))["implementor-data"]
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with Orchestrator(repo) as o:
            stopped = down(o, SPEC, "impl-data", grace=0.5)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert [(s.role, s.how, s.pid) for s in stopped] == [
        ("implementor-data", "killed", seen["pid"])
    ]
    assert gone(seen["pid"]) and gone(seen["child"])


def test_an_agent_that_exits_at_once_shows_exited_until_restart(
    cli: Run, team: Path, tmp_path: Path
) -> None:
    env = clean_env(AGENT_LOG=str(team))
    quick = "sh -c 'echo onboarding failed; exit 3'"
    assert cli("up", SPEC, "--roles", "overseer", "--agent-cmd", quick, env=env).code == 0

    def exited() -> dict[str, Any] | None:
        result = cli("up", SPEC, "--roles", "overseer", "--agent-cmd", quick, "--json", env=env)
        (agent,) = result.json()["agents"]
        return agent if agent["state"] == "exited" else None

    agent = wait_for(exited)
    assert agent["state"] == "exited" and agent["status"] in (3, None)  # see test_tmux
    text = cli("up", SPEC, "--roles", "overseer", "--agent-cmd", quick, env=env).out
    assert "overseer: exited" in text and "--restart" in text
    logs = cli("logs", "overseer", "--spec", SPEC, env=env)
    # what it said, unless tmux lost the output of a program that exited at once (see
    # test_tmux); then its dead-pane line
    assert logs.code == 0 and ("onboarding failed" in logs.out or "Pane is dead" in logs.out)
    # tmux draws "Pane is dead" once it learned the exit status (see test_tmux)
    end = cli("logs", "overseer", "--spec", SPEC, "--lines", "1", env=env).out
    assert end.startswith(("Pane is dead", "onboarding failed")), end
    restarted = cli("up", SPEC, "--roles", "overseer", "--agent-cmd", agent_cmd(tmp_path),
                    "--restart", "--json", env=env)  # fmt: skip
    (again,) = restarted.json()["agents"]
    assert again["state"] == "restarted" and again["pid"] != agent["pid"]
    assert wait_for(lambda: records(team))["overseer"]["pid"] == again["pid"]
    assert len(events(cli, "agent_started")) == 2


def test_attach_prints_the_command_without_a_terminal(
    cli: Run, repo: Path, team: Path, tmp_path: Path
) -> None:
    env = clean_env(AGENT_LOG=str(team))
    assert cli("up", SPEC, "--roles", "impl-api", "--agent-cmd", agent_cmd(tmp_path),
               env=env).code == 0  # fmt: skip
    result = cli("attach", "impl-api", cwd=worktrees(repo)["impl-data"], env=env)
    assert result.code == 0, result
    assert result.out.strip().endswith(f"attach-session -t =co-{SPEC}:=impl-api")
    inside = cli("attach", "implementor-api", "--spec", SPEC, env=env | {"TMUX": "/x,1,0"})
    assert inside.out.startswith("env -u TMUX ") and "switch-client" in inside.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", SPEC, "--roles", "impl-nope"], "unknown role 'implementor-nope': the agents of"),
        (["up", SPEC, "--agent-cmd", "no-such-agent-program"], "'no-such-agent-program' is not "
         "found on PATH"),
        (["up", SPEC, "--permission-mode", "bypassPermissions"], "unknown permission mode"),
        (["up", "004-nothing"], "004-nothing"),
        (["down", SPEC, "impl-nope"], "unknown role"),
        (["logs", "impl-data", "--spec", SPEC], "tmux server is not running"),
        (["attach", "overseer", "--spec", SPEC], "tmux server is not running"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(cli: Run, team: Path, args: list[str], message: str) -> None:
    result = cli(*args, env=clean_env(AGENT_LOG=str(team)))
    assert result.code == 2, result
    assert result.err.startswith("error: ") and message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert events(cli, "agent_started") == []


def test_a_missing_window_and_a_dead_server(
    cli: Run, team: Path, tmp_path: Path, repo: Path
) -> None:
    env = clean_env(AGENT_LOG=str(team))
    assert cli("up", SPEC, "--roles", "overseer", "--agent-cmd", agent_cmd(tmp_path),
               env=env).code == 0  # fmt: skip
    missing = cli("logs", "impl-ui", "--spec", SPEC, env=env)
    assert missing.code == 2 and f"no tmux window impl-ui in session co-{SPEC}" in missing.err
    with Orchestrator(repo, env={}) as o:
        tmux = server(o)
        os.kill(int(tmux.check("display-message", "-p", "#{pid}")), 9)
        assert wait_for(lambda: not tmux.running())
    dead = cli("logs", "overseer", "--spec", SPEC, env=env)
    assert dead.code == 2 and "tmux server is not running" in dead.err
    again = cli("up", SPEC, "--roles", "overseer", "--agent-cmd", agent_cmd(tmp_path),
                "--json", env=env)  # fmt: skip
    assert again.code == 0 and again.json()["agents"][0]["state"] == "started"


def test_tmux_missing_names_the_package(cli: Run, team: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    env = clean_env(AGENT_LOG=str(team)) | {"PATH": f"{Path(sys.executable).parent}:{bin_dir}"}
    result = cli("up", SPEC, "--agent-cmd", agent_cmd(tmp_path), env=env)
    assert result.code == 2, result
    assert "install the OS package `tmux`" in result.err
    assert events(cli, "agent_started") == []


def test_a_feature_without_worktrees_names_init_feature(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("init-feature", "005-plain").code == 0
    result = cli("up", "005-plain", "--agent-cmd", "true")
    assert result.code == 2, result
    assert "has no worktree" in result.err and "init-feature 005-plain --worktrees" in result.err
    assert git(repo, "worktree", "list").count("\n") == 0


def test_nudge_types_only_into_an_idle_agent(
    cli: Run, repo: Path, team: Path, tmp_path: Path
) -> None:
    """Typing into a waiting agent would answer its permission dialog: never."""
    env = clean_env(AGENT_LOG=str(team))
    assert cli("up", SPEC, "--roles", "impl-data", "--agent-cmd", agent_cmd(tmp_path),
               env=env).code == 0  # fmt: skip
    pid = wait_for(lambda: records(team))["implementor-data"]["pid"]
    typed = team / f"{pid}.typed"
    role = "implementor-data"
    with Orchestrator(repo, env={}) as o:
        assert not nudge(o, SPEC, role, "rebase now")  # started: no hook said idle yet
        o.log_event(SPEC, role, "agent_waiting", "permission to use Bash: git push")
        assert not nudge(o, SPEC, role, "rebase now")
        o.log_event(SPEC, role, "agent_idle", "finished its turn")
        assert not nudge(o, SPEC, "overseer", "no window")
        assert not nudge(o, SPEC, role, "   ")
        assert nudge(o, SPEC, role, "Message from overseer:\n rebase   now")
    assert wait_for(lambda: typed.exists() and typed.read_text()) == (
        "Message from overseer: rebase now\n"
    )


def test_up_waits_for_an_unfinished_set_up(
    cli: Run, repo: Path, team: Path, tmp_path: Path
) -> None:
    """A worktree whose set-up commands started and did not all finish gets no agent:
    `up` names the command that resumes them, and starts nobody."""
    from claude_orchestrator.worktree_setup import record_created

    tree = worktrees(repo)["impl-api"]
    with Orchestrator(repo, env=clean_env()) as o:
        record_created(o, SPEC, "implementor-api", tree)
    result = cli("up", SPEC, "--agent-cmd", agent_cmd(tmp_path), env=clean_env(AGENT_LOG=str(team)))
    assert result.code == 2, result
    assert result.err.startswith(f"error: the set-up of {tree} did not finish")
    assert f"init-feature {SPEC} --worktrees` again" in result.err
    assert events(cli, "agent_started") == []
    assert cli("init-feature", SPEC, "--worktrees").code == 0  # nothing to run: finished
    assert cli("up", SPEC, "--agent-cmd", agent_cmd(tmp_path), "--roles", "impl-api",
               env=clean_env(AGENT_LOG=str(team))).code == 0  # fmt: skip


def test_an_agent_killed_without_ending_its_session_shows_exited(
    cli: Run, repo: Path, team: Path, tmp_path: Path
) -> None:
    """kill -9 leaves no SessionEnd: `agents` tells by the recorded process (pid and start
    time, on this machine) that it is gone."""
    env = clean_env(AGENT_LOG=str(team))
    result = cli("up", SPEC, "--roles", "impl-api", "--agent-cmd", agent_cmd(tmp_path),
                 "--json", env=env)  # fmt: skip
    assert result.code == 0, result
    pid = result.json()["agents"][0]["pid"]
    assert wait_for(lambda: records(team).get("implementor-api"))

    def state() -> dict[str, Any]:
        shown = cli("agents", SPEC, "--json", env=env).json()
        return next(a for a in shown if a["role"] == "implementor-api")

    assert state()["state"] == "starting"
    os.kill(pid, 9)
    assert wait_for(lambda: gone(pid))
    assert wait_for(lambda: state()["state"] == "exited"), state()
    assert "ended without ending its session" in state()["detail"]
    started = events(cli, "agent_started")[0]["metadata"]
    assert started["process"].split("-")[1] == str(pid) and started["host"]


def test_two_ups_at_once_start_each_agent_once(
    cli: Run, repo: Path, team: Path, tmp_path: Path
) -> None:
    """Two `up`s of one feature at the same moment: the second waits for the first (a
    lock beside the tmux socket), then finds the agents running; one window each."""
    import subprocess

    from tests.conftest import CLI

    env = clean_env(AGENT_LOG=str(team))
    argv = [str(CLI), "up", SPEC, "--roles", "impl-data,impl-api", "--agent-cmd",
            agent_cmd(tmp_path), "--json"]  # fmt: skip
    procs = [subprocess.Popen(argv, cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    states = sorted(a["state"] for out in outs for a in json.loads(out)["agents"])
    assert states == ["running", "running", "started", "started"], outs
    with Orchestrator(repo, env={}) as o:
        windows = [p.window for p in server(o).panes(session_name(SPEC))]
    assert sorted(windows) == ["impl-api", "impl-data"]
    assert len(events(cli, "agent_started")) == 2
