"""``events watch``: the console script as a process of its own, streaming what other
processes commit (one line, or one JSON object, per event, flushed); --limit, --timeout,
Ctrl-C; every bad input one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CLI, Run, clean_env, digest

SPEC = "003-reading-goals"
WRITER = """
import sys
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
store = SQLiteStore(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.append_event(NewEvent(sys.argv[4], "implementor-api", "status_update",
                                f"{sys.argv[2]} {i}", metadata={"i": i}))
store.close()
"""


def watch(cwd: Path, *args: str) -> subprocess.Popen[str]:
    """``events watch ARGS`` started; its standard output a pipe, buffered as it is
    for a reader (not PYTHONUNBUFFERED: each line must be flushed)."""
    assert CLI
    env = clean_env()
    env.pop("PYTHONUNBUFFERED", None)
    return subprocess.Popen([CLI, "events", "watch", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def newest(cli: Run) -> int:
    result = cli("events", "recent", "1", "--json")
    assert result.code == 0, result
    return int(result.json()[0]["id"])


def test_watch_streams_what_other_processes_commit(
    cli: Run, initialized: Path, store_db: Path
) -> None:
    start = newest(cli)
    watcher = watch(initialized, "--after", str(start), "--json", "--timeout", "3")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(store_db), f"w{n}", "30",
                                 SPEC]) for n in range(2)]  # fmt: skip
    logged = cli("events", "log-event", SPEC, "overseer", "task_started", "by the CLI", "T001")
    assert logged.code == 0, logged
    assert all(w.wait(120) == 0 for w in writers)
    out, err = watcher.communicate(timeout=120)  # it exits 3 s after the last event
    assert (watcher.returncode, err) == (0, "")
    lines = out.splitlines()
    stored = cli("events", "recent", "100", "--json").json()[::-1]
    assert [json.loads(line) for line in lines] == [e for e in stored if e["id"] > start]
    assert len(lines) == 61
    for n in range(2):
        mine = [json.loads(x)["message"] for x in lines if f'"w{n} ' in x]
        assert mine == [f"w{n} {i}" for i in range(30)]


def test_watch_prints_one_line_per_event_and_stops_after_limit(cli: Run, initialized: Path) -> None:
    for text in ("first\nof two lines", "second"):
        cli("events", "log-event", SPEC, "implementor-data", "task_started", text, "T002",
            "abc1234def")  # fmt: skip
    start = newest(cli) - 2
    watcher = watch(initialized, "--after", str(start), "--limit", "1")
    out, err = watcher.communicate(timeout=60)  # no --timeout: --limit ends it
    assert (watcher.returncode, err) == (0, "")
    assert out.count("\n") == 1
    assert out.startswith(f"#{start + 1} 20")
    assert out.rstrip("\n").endswith(
        f" {SPEC} implementor-data task_started T002 abc1234: first of two lines"
    )


def test_watch_without_after_shows_only_new_events(cli: Run, initialized: Path) -> None:
    result = cli("events", "watch", "--timeout", "0.3")  # the stored events are old news
    assert (result.code, result.out, result.err) == (0, "", "")
    everything = cli("events", "watch", "--after", "0", "--timeout", "0", "--json")
    assert [json.loads(x)["event_type"] for x in everything.out.splitlines()] == ["feature_created"]


def first_line(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """The process's first line of output, as soon as it is written (flushed)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), f"no line in {timeout:g} s: is the output flushed?"
    return proc.stdout.readline()


def test_ctrl_c_ends_watch_quietly(initialized: Path) -> None:
    watcher = watch(initialized, "--after", "0")
    assert first_line(watcher).startswith("#1 ")  # it is watching now
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=60)
    assert (watcher.returncode, out, err) == (0, "", "")


def test_watch_needs_a_store(cli: Run, repo: Path) -> None:
    result = cli("events", "watch", "--timeout", "0")
    assert result.code == 2
    assert result.err.startswith("error: Event store not initialized")
    assert "claude-orchestrator events init" in result.err and result.err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [["--after", "-1"], ["--after=-5"], ["--after", "x"], ["--after", str(2**63)],
     ["--after", "1.5"], ["--limit", "0"], ["--limit", "-3"], ["--limit", "100001"],
     ["--timeout", "-1"], ["--timeout", "nan"], ["--timeout", "inf"], ["--timeout", "1e400"],
     ["--timeout", "86401"], ["--timeout", ""], ["--db", ""], ["--json", "x"]],
    ids=lambda a: " ".join(a),
)  # fmt: skip
def test_bad_input_is_one_error_line(
    cli: Run, initialized: Path, store_db: Path, args: list[str]
) -> None:
    before = digest(store_db)
    result = cli("events", "watch", *args)
    assert result.code == 2, result
    assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
    assert result.out == ""
    assert digest(store_db) == before
