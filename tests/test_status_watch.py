"""``events status --watch``: the console script as a process of its own on a real store,
drawing on a terminal (a pty: rich redraws in place) and printing to a pipe (one table
per change); events logged by other commands show; Ctrl-C exits 0; bad options are one
``error:`` line, exit 2, nothing written."""

from __future__ import annotations

import fcntl
import os
import re
import selectors
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.errors import ValidationError
from claude_orchestrator.status_watch import MAX_INTERVAL_S, MIN_INTERVAL_S, check_interval

from .conftest import CLI, Run, clean_env, digest

SPEC = "003-reading-goals"
#: rich's control sequences: cursor up, erase line (a redraw in place)
REDRAW = re.compile(r"\x1b\[\d*A|\x1b\[2K")
#: long enough for a loaded machine; the watcher redraws within --interval of a commit
WAIT_S = 60.0


def status_watch(cwd: Path, *args: str, stdout: int) -> subprocess.Popen[bytes]:
    assert CLI
    env = clean_env(COLUMNS="250", LINES="50")
    env.pop("PYTHONUNBUFFERED", None)  # each table must be flushed by the command itself
    return subprocess.Popen([CLI, "events", "status", "--watch", *args], cwd=cwd, env=env,
                            stdout=stdout, stderr=subprocess.PIPE)  # fmt: skip


class Reader:
    """What a process wrote to ``fd`` so far, read as it comes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def until(self, pattern: str, start: int = 0, timeout: float = WAIT_S) -> int:
        """Read until ``pattern`` appears at or after ``start``; where it ends."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while (found := re.compile(pattern).search(self.text, start)) is None:
                left = deadline - time.monotonic()
                assert left > 0, f"no {pattern!r} in {timeout:g} s; got {self.text[start:]!r}"
                if selector.select(left):
                    chunk = os.read(self.fd, 65536)
                    assert chunk, f"the output ended without {pattern!r}: {self.text!r}"
                    self.text += chunk.decode("utf-8", "replace")
        return found.end()


def log(cli: Run, role: str, event: str, message: str, task: str) -> None:
    result = cli("events", "log-event", SPEC, role, event, message, task)
    assert result.code == 0, result


def interrupt(proc: subprocess.Popen[bytes]) -> tuple[int, str, bytes]:
    """Ctrl-C: the exit code, what it wrote to a pipe since it was last read, its errors."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, (out or b"").decode(), err


def test_on_a_terminal_the_table_is_redrawn_as_events_come(cli: Run, initialized: Path) -> None:
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    try:
        watcher = status_watch(initialized, "--interval", "30", stdout=follower)
        os.close(follower)
        screen = Reader(leader)
        first = screen.until(r"implementor-ui.*\n(.*\n)*.*after event #1;")
        assert "task_started" not in screen.text
        log(cli, "implementor-api", "task_started", "begin T001", "T001")
        # within the interval of 30 s: the commit redraws it, not the clock
        redrawn = screen.until(r"after event #2;", first)
        again = screen.text[first:redrawn]
        assert REDRAW.search(again), "a redraw in place moves the cursor up"
        assert re.search(r"implementor-api\s*│.*│\s*task_started\s*│\s*1/0/0/0", again)
        code, _, err = interrupt(watcher)
    finally:
        os.close(leader)
    assert (code, err) == (0, b"")


def blocks(text: str) -> list[str]:
    return text.split("status after event #")[1:]


def test_on_a_pipe_each_change_is_one_more_table(cli: Run, initialized: Path) -> None:
    watcher = status_watch(initialized, "--interval", "0.2", stdout=subprocess.PIPE)
    assert watcher.stdout is not None
    out = Reader(watcher.stdout.fileno())
    out.until(r"implementor-ui .*\n\n")
    time.sleep(1)  # five intervals: nothing changed, nothing more printed
    log(cli, "implementor-data", "task_started", "begin T002", "T002")
    log(cli, "implementor-data", "task_blocked", "T002 waits for the schema", "T002")
    out.until(r"implementor-data +\S+ +\S+ +2 +task_blocked +0/0/1/0.*\n(.*\n)*\n")
    code, rest, err = interrupt(watcher)
    assert (code, err) == (0, b"")
    printed = blocks(out.text + rest)
    assert printed[0].startswith("1:\n") and "feature_created" in printed[0]
    assert printed[-1].startswith(("2:\n", "3:\n"))  # one table for the two, or one each
    assert 2 <= len(printed) <= 3, printed
    assert not REDRAW.search(out.text + rest) and "\x1b" not in out.text + rest


def test_a_feature_given_is_the_only_one_shown(cli: Run, initialized: Path) -> None:
    added = cli("events", "add-feature", "004-other", "Other", "--areas", "web")
    assert added.code == 0, added
    watcher = status_watch(initialized, SPEC, stdout=subprocess.PIPE)
    assert watcher.stdout is not None
    out = Reader(watcher.stdout.fileno())
    out.until(r"implementor-ui .*\n\n")
    code, _, err = interrupt(watcher)
    assert (code, err) == (0, b"")
    assert "004-other" not in out.text and SPEC in out.text


@pytest.mark.parametrize(
    ("args", "says"),
    [(["--watch", "--json"], "events watch --json"),
     (["--interval", "2"], "add --watch"),
     (["--watch", "--interval", "0"], "invalid --interval"),
     (["--watch", "--interval", "-1"], "invalid --interval"),
     (["--watch", "--interval", "nan"], "invalid --interval"),
     (["--watch", "--interval", "inf"], "invalid --interval"),
     (["--watch", "--interval", "3601"], "invalid --interval"),
     (["--watch", "--interval", "x"], "--interval"),
     (["nope", "--watch"], "Feature not found")],
    ids=lambda a: " ".join(a) if isinstance(a, list) else "",
)  # fmt: skip
def test_bad_options_are_one_error_line(
    cli: Run, initialized: Path, store_db: Path, args: list[str], says: str
) -> None:
    before = digest(store_db)
    result = cli("events", "status", *args)
    assert result.code == 2, result
    assert result.err.startswith("error: ") and result.err.count("\n") == 1, result.err
    assert says in result.err and result.out == ""
    assert digest(store_db) == before


def test_watch_needs_a_store(cli: Run, repo: Path) -> None:
    result = cli("events", "status", "--watch")
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("error: Event store not initialized"), result.err


@given(st.floats(MIN_INTERVAL_S, MAX_INTERVAL_S))
def test_any_interval_in_range_is_taken(seconds: float) -> None:
    assert check_interval(seconds) == seconds


@given(
    st.one_of(
        st.floats(max_value=MIN_INTERVAL_S, exclude_max=True),
        st.floats(min_value=MAX_INTERVAL_S, exclude_min=True),
        st.just(float("nan")),
        st.booleans(),
    )
)
def test_an_interval_out_of_range_is_refused(seconds: float) -> None:
    with pytest.raises(ValidationError, match=r"^invalid --interval .*: give the seconds"):
        check_interval(seconds)
