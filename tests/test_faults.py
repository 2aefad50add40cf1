"""kill -9 at many points of every command that writes, then a re-run: it converges.

Two ways to kill a real ``claude-orchestrator`` process:

* at a named point: the process runs the CLI through :data:`KILL_AT_CALL`, which makes
  it SIGKILL itself (and its process group: the git children it started) when a given
  function is called for the n-th time. The point lives in this test file only: the
  product has no kill switch an agent could reach;
* by time: started in a process group of its own and killed after fixed delays, in a loop
  that widens the delay until a run completes.

After each kill the command is run again; it must succeed, leave nothing git sees that
an uninterrupted run would not leave, and (where there is a store) ``PRAGMA
integrity_check`` must say ``ok``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import CLI, clean_env

#: run the CLI, dying (with the process group) at the n-th call of module.function
KILL_AT_CALL = """
import importlib, os, signal, sys
module, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
target = importlib.import_module(module)
real = getattr(target, name)
calls = 0
def die(*args, **kwargs):
    global calls
    calls += 1
    if calls == count:
        os.killpg(0, signal.SIGKILL)
    return real(*args, **kwargs)
setattr(target, name, die)
from claude_orchestrator.cli import run
sys.exit(run(sys.argv[4:]))
"""


class Killed(Exception):
    """The process finished before the kill point was reached."""


def run_killed_at(
    cwd: Path, point: tuple[str, str, int], *args: str, env: dict[str, str] | None = None
) -> int:
    """Run ``claude-orchestrator args`` in ``cwd``, SIGKILLed at ``point``
    (module, function, n-th call); returns the exit status (-9 when killed)."""
    module, name, count = point
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT_CALL, module, name, str(count), *args],
        cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=120,
        start_new_session=True,
    )  # fmt: skip
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
    return None


def run_grouped(cwd: Path, *args: str, env: dict[str, str] | None = None) -> int:
    """Run the installed command in a process group of its own (a ``kill -9 0`` from a
    git hook or filter it starts kills it with its children); its exit status."""
    assert CLI
    proc = subprocess.run([CLI, *args], cwd=cwd, env=env or clean_env(), capture_output=True,
                          start_new_session=True, timeout=120, check=False)  # fmt: skip
    return proc.returncode
