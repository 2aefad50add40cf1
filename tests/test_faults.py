"""kill -9 at many points of every command that writes, then a re-run: it converges.

Two ways to kill a real ``claude-orchestrator`` process:

* at a named point: the process runs the CLI through :data:`KILL_AT_CALL`, which makes
  it SIGKILL itself (and its process group: the git children it started) when a given
  function is called for the n-th time. The point lives in this test file only: the
  product has no kill switch an agent could reach. The kill loops fork these processes
  from one interpreter that has imported the CLI (:class:`Forks`), so that each point
  does not pay for Python's start-up and imports again: the killed process is as real,
  and the points are the same (no import calls ``subprocess.run`` or ``os.replace``);
* by time: the installed console script, started in a process group of its own and
  killed after fixed delays, in a loop that widens the delay until a run completes.

After each kill, once no process of the killed group is left (:func:`wait_gone`), the
command is run again; it must succeed, leave nothing git sees that an uninterrupted run
would not leave, and (where there is a store) ``PRAGMA integrity_check`` must say ``ok``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import CLI, clean_env

#: ``arm(module, name, count)``: the n-th call of module.function SIGKILLs the process
#: group (the process and the git children it started)
ARM = """
import importlib, os, signal
def arm(module, name, count):
    target = importlib.import_module(module)
    real = getattr(target, name)
    calls = [0]
    def die(*args, **kwargs):
        calls[0] += 1
        if calls[0] == count:
            os.killpg(0, signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(target, name, die)
"""
#: run the CLI, dying (with the process group) at the n-th call of module.function
KILL_AT_CALL = f"""{ARM}
import sys
arm(sys.argv[1], sys.argv[2], int(sys.argv[3]))
from claude_orchestrator.__main__ import main
sys.exit(main(sys.argv[4:]))
"""
#: a fork server: imports the CLI once, then for each job (a JSON line on stdin: cwd, env,
#: point, args) forks a child that runs it as :data:`KILL_AT_CALL` does, in a session of
#: its own with its standard streams on /dev/null; answers ``[pid, exit status]``
FORK_SERVER = f"""{ARM}
import json, sys
import claude_orchestrator.__main__, claude_orchestrator.cli, claude_orchestrator.api
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        arm(*job["point"])
        sys.exit(claude_orchestrator.__main__.main(job["args"]))
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    print(json.dumps([pid, status]), flush=True)
"""


def wait_gone(group: int, timeout: float = 60) -> None:
    """Wait until no process of process group ``group`` runs. SIGKILL reaches the whole
    group at once, but a child (git) may still be finishing its last system call after
    the leader was reaped; a re-run started then would race it."""
    deadline = time.monotonic() + timeout
    while True:
        running = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == group and fields[0] not in ("Z", "X"):
                running.append(stat.parent.name)
        if not running:
            return
        assert time.monotonic() < deadline, f"processes {running} of group {group} live on"
        time.sleep(0.005)


class Forks:
    """Runs ``claude-orchestrator`` killed at a point, in processes forked from one
    interpreter that has imported the CLI (see :data:`FORK_SERVER`)."""

    def __init__(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=clean_env(), text=True,
        )  # fmt: skip

    def run(self, cwd: Path, point: tuple[str, str, int], args: tuple[str, ...]) -> tuple[int, int]:
        """(pid, exit status) of ``claude-orchestrator args`` in ``cwd``, SIGKILLed with
        its process group at ``point``; returns once none of that group is left."""
        assert self.server.stdin and self.server.stdout
        job = {"cwd": str(cwd), "env": clean_env(), "point": point, "args": list(args)}
        self.server.stdin.write(json.dumps(job) + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        assert answer, f"the fork server died (exit {self.server.wait()})"
        pid, status = json.loads(answer)
        wait_gone(pid)
        return int(pid), int(status)

    def close(self) -> None:
        assert self.server.stdin and self.server.stdout
        self.server.stdin.close()
        assert self.server.wait(timeout=60) == 0
        self.server.stdout.close()


def run_killed_at(
    cwd: Path, point: tuple[str, str, int], *args: str, env: dict[str, str] | None = None
) -> int:
    """Run ``claude-orchestrator args`` in ``cwd``, SIGKILLed at ``point``
    (module, function, n-th call); returns the exit status (-9 when killed)."""
    module, name, count = point
    argv = [sys.executable, "-c", KILL_AT_CALL, module, name, str(count), *args]
    return _in_own_group(argv, cwd, env or clean_env())


def _in_own_group(argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Run ``argv`` in a process group of its own; its exit status, once no process of
    the group is left."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    wait_gone(proc.pid)
    return proc.returncode


def run_killed_after(
    cwd: Path, delay: float, *args: str, env: dict[str, str] | None = None
) -> int | None:
    """Run the installed command in its own process group and SIGKILL the group after
    ``delay`` seconds; the exit status if it finished first, None if it was killed."""
    assert CLI
    proc = subprocess.Popen(
        [CLI, *args], cwd=cwd, env=env or clean_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return code
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_gone(proc.pid)
    return None


def run_grouped(cwd: Path, *args: str, env: dict[str, str] | None = None) -> int:
    """Run the installed command in a process group of its own (a ``kill -9 0`` from a
    git hook or filter it starts kills it with its children); its exit status."""
    assert CLI
    return _in_own_group([CLI, *args], cwd, env or clean_env())


# -- the suite ---------------------------------------------------------------------------
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import pytest  # noqa: E402

from .conftest import Run, git  # noqa: E402
from .test_conflicts import edit_line, shared  # noqa: E402
from .test_workflow_setup import SPEC, TASKS, commit, feature  # noqa: E402

__all__ = ["feature", "shared"]
#: every n-th call of these is a kill point: each git process started, each rename of a
#: temporary file onto its target
POINTS = (("subprocess", "run"), ("os", "replace"))
#: fixed delays (seconds) for the timed kills, after the interpreter has started
DELAYS = (0.15, 0.2, 0.25, 0.35, 0.45, 0.6, 0.8)


def debris(trees: list[Path], pid: int) -> list[str]:
    """Temporary files and scratch directories the process ``pid`` left."""
    mark = f"-{pid}-"
    found = [str(p) for tree in trees for p in tree.rglob("*.tmp") if mark in p.name]
    for place in ("/dev/shm", tempfile.gettempdir()):
        if os.path.isdir(place):
            found += [e.path for e in os.scandir(place)
                      if e.name.startswith("claude-orchestrator-") and mark in e.name]  # fmt: skip
    return found


def integrity(repo: Path) -> str:
    with sqlite3.connect(repo / ".git" / "orchestrator" / "events.db") as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


class Tally:
    def __init__(self, command: str) -> None:
        self.command, self.kills, self.completed, self.points = command, 0, 0, 0

    def report(self) -> None:
        print(f"faults: {self.command}: {self.kills} kills survived, {self.points} of them "
              f"at points ({self.completed} runs reached the end)")  # fmt: skip


@pytest.fixture(scope="module")
def forks() -> Iterator[Forks]:
    server = Forks()
    yield server
    server.close()


def kill_everywhere(
    forks: Forks,
    cwd: Path,
    command: tuple[str, ...] | Callable[[], tuple[str, ...]],
    *,
    reset: Callable[[], None],
    check: Callable[[list[int]], None],
    tally: Tally,
    stride: int = 1,
    before_delays: Callable[[], None] = lambda: None,
) -> None:
    """Kill ``command`` (its arguments, or what returns them after ``reset``) at every
    ``stride``-th point of each kind and after each delay; after each kill (and ``reset``
    before it) the re-run's state is ``check``ed. ``before_delays`` runs between the
    two."""

    def args() -> tuple[str, ...]:
        return command() if callable(command) else command

    for module, name in POINTS:
        count = 1
        while True:
            reset()
            pid, status = forks.run(cwd, (module, name, count), args())
            if status != -signal.SIGKILL:
                tally.completed += 1
                break
            tally.kills += 1
            tally.points += 1
            check([pid])
            count += stride
    before_delays()
    for delay in DELAYS:
        reset()
        if run_killed_after(cwd, delay, *args()) is None:
            tally.kills += 1
        else:
            tally.completed += 1
        check([])


def test_detect_conflicts_survives_kills(
    forks: Forks, cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    edit_line(shared["impl-data"], 3, "data's line", "T001: data edits models")
    edit_line(shared["impl-api"], 3, "api's line", "T002: api edits models")
    first = cli("detect-conflicts", "--json")
    assert first.code == 1, first
    expected = first.json()
    trees = [repo, *shared.values()]

    def check(pids: list[int]) -> None:
        again = cli("detect-conflicts", "--json")
        assert again.code == 1, again
        assert [f["conflicts"] for f in again.json()["features"]] == [
            f["conflicts"] for f in expected["features"]
        ]
        assert integrity(repo) == "ok"
        rows = (
            sqlite3.connect(repo / ".git/orchestrator/events.db")
            .execute("SELECT count(*) FROM conflicts WHERE resolved_at IS NULL")
            .fetchone()[0]
        )
        assert rows == 1
        for pid in pids:
            assert debris(trees, pid) == []

    tally = Tally("detect-conflicts")
    kill_everywhere(
        forks, repo, ("detect-conflicts",), reset=lambda: None, check=check, tally=tally
    )
    tally.report()
    assert tally.kills >= 10


def test_generate_survives_kills(forks: Forks, cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("generate").code == 0
    manifest = repo / ".orchestrator-generated.json"
    generated = [manifest, *(repo / p for p in json.loads(manifest.read_text())["files"])]
    expected = {p: p.read_bytes() for p in generated}

    def reset() -> None:
        for path in generated:
            path.unlink(missing_ok=True)

    def check(pids: list[int]) -> None:
        result = cli("generate")
        assert result.code == 0, result
        assert {p: p.read_bytes() for p in generated} == expected
        for pid in pids:
            assert debris([repo], pid) == []

    tally = Tally("generate")
    kill_everywhere(forks, repo, ("generate",), reset=reset, check=check, tally=tally)
    tally.report()
    assert tally.kills >= 8


def test_sync_status_writing_tasks_md_survives_kills(
    forks: Forks, cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    overseer = feature["overseer"]
    commit(feature["impl-data"], "src/a.py", "a = 1\n", "T001 done")
    assert cli("sync-status", cwd=feature["impl-data"]).code == 0
    tasks = overseer / "specs" / SPEC / "tasks.md"
    assert cli("sync-status", cwd=overseer).code == 0
    expected = tasks.read_text()
    assert "- [x] T001" in expected

    def check(pids: list[int]) -> None:
        result = cli("sync-status", cwd=overseer)
        assert result.code == 0, result
        assert tasks.read_text() == expected
        assert git(overseer, "status", "--porcelain") == f"M specs/{SPEC}/tasks.md"  # stripped
        assert integrity(repo) == "ok"
        for pid in pids:
            assert debris([overseer], pid) == []

    tally = Tally("sync-status (tasks.md)")
    kill_everywhere(forks, overseer, ("sync-status",), reset=lambda: tasks.write_text(TASKS),
                    check=check, tally=tally)  # fmt: skip
    tally.report()
    assert tally.kills >= 5


def test_log_event_survives_kills(
    forks: Forks, cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-api"]
    args = ("events", "log-event", SPEC, "implementor-api", "status_update", "working")

    def check(pids: list[int]) -> None:
        result = cli(*args, cwd=tree)
        assert (result.code, result.err) == (0, ""), result
        assert integrity(repo) == "ok"
        state = (tree / "state" / "impl-api.md").read_text()
        assert state.count("claude-orchestrator:begin") == 1 and "working" in state
        assert git(tree, "status", "--porcelain") == ""
        for pid in pids:
            assert debris([tree, repo / ".git"], pid) == []

    tally = Tally("log-event")
    kill_everywhere(forks, tree, args, reset=lambda: None, check=check, tally=tally)
    tally.report()
    assert tally.kills >= 2  # it starts no git and renames one state file


def test_init_feature_with_worktrees_survives_kills(forks: Forks, cli: Run, repo: Path) -> None:
    """A kill at a point comes between git processes, so what it leaves does not depend
    on how much git checks out: those run with 20 files. A kill after a delay should
    land in a checkout: those run with 300."""
    files = {"count": 20}

    def add_files() -> None:
        for i in range(files["count"], 300):
            (repo / f"f{i:03}.txt").write_text(f"{i}\n" * 10)
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "files to check out")
        files["count"] = 300
        for leaf in ("overseer", "impl-data", "impl-api", "impl-ui"):
            if git(repo, "branch", "--list", f"feature/{SPEC}/{leaf}"):
                git(repo, "branch", "-f", f"feature/{SPEC}/{leaf}", "main")

    for i in range(files["count"]):
        (repo / f"f{i:03}.txt").write_text(f"{i}\n" * 10)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "files to check out")
    assert cli("init").code == 0
    worktrees = repo.parent / "repo-worktrees"

    def reset() -> None:
        shutil.rmtree(worktrees, ignore_errors=True)
        git(repo, "worktree", "prune")
        for line in git(repo, "worktree", "list", "--porcelain").splitlines():
            if line.startswith("worktree ") and Path(line[9:]) != repo:
                git(repo, "worktree", "unlock", line[9:])
        git(repo, "worktree", "prune")

    def check(pids: list[int]) -> None:
        result = cli("init-feature", SPEC, "--worktrees", "--json")
        assert result.code == 0, result
        trees = [Path(p) for p, _ in result.json()["worktrees"].values()]
        assert len(trees) == 4
        for tree in trees:
            assert git(tree, "status", "--porcelain") == "", tree
            assert len(list(tree.glob("f*.txt"))) == files["count"]
        assert "locked" not in git(repo, "worktree", "list", "--porcelain")
        assert integrity(repo) == "ok"
        for pid in pids:
            assert debris([repo, worktrees], pid) == []

    tally = Tally("init-feature --worktrees")
    kill_everywhere(forks, repo, ("init-feature", SPEC, "--worktrees"), reset=reset, check=check,
                    tally=tally, before_delays=lambda: (reset(), add_files()))  # fmt: skip
    tally.report()
    assert files["count"] == 300 and tally.kills >= 10


def test_merge_pr_survives_kills(
    forks: Forks, cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """Killed at every point, each time merging a new PR (a merged one stays merged)."""
    overseer, tree = feature["overseer"], feature["impl-data"]
    state = {"pr": 0, "round": 0}

    def reset() -> None:
        # a new PR of 20 files to merge (one commit: the merge does the same work for one
        # commit as for twenty, at a fraction of the set-up)
        state["round"] += 1
        folder = tree / "src" / f"r{state['round']}"
        folder.mkdir(parents=True)
        for i in range(20):
            (folder / f"m{i:02}.py").write_text(f"{i}\n" * 5)
        git(tree, "add", str(folder))
        git(tree, "commit", "-q", "-m", f"T001: part {state['round']}")
        result = cli("open-pr", "--json", cwd=tree)
        assert result.code == 0, result
        state["pr"] = int(result.json()["id"])

    def check(pids: list[int]) -> None:
        result = cli("merge-pr", str(state["pr"]), cwd=overseer)
        if result.code == 2 and "already merged" in result.err:
            pass  # the kill came after the store recorded it
        else:
            assert result.code == 0, result
        assert git(overseer, "status", "--porcelain") == ""
        assert git(repo, "merge-base", "--is-ancestor", f"feature/{SPEC}/impl-data",
                   f"feature/{SPEC}/overseer") == ""  # fmt: skip
        assert integrity(repo) == "ok"
        assert ".tmp" not in git(overseer, "status", "--porcelain", "--untracked-files=all")
        # a git-ignored state file's temporary goes at the next write of that file (an
        # "already merged" re-run writes nothing)
        assert cli("events", "log-event", SPEC, "overseer", "status_update", "next",
                   cwd=overseer).code == 0  # fmt: skip
        for pid in pids:
            assert debris([overseer, repo / ".git"], pid) == []

    tally = Tally("merge-pr (local forge)")
    kill_everywhere(forks, overseer, lambda: ("merge-pr", str(state["pr"])), reset=reset,
                    check=check, tally=tally)  # fmt: skip
    merges = git(repo, "log", "--merges", "--format=%s", f"feature/{SPEC}/overseer").splitlines()
    assert len(merges) == len(set(merges)) == state["round"]  # each PR merged exactly once
    tally.report()
    assert tally.kills >= 10
