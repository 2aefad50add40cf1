"""Smoke tests through the installed console script as a process of its own.

Most CLI tests run the same entry point in-process (``cli`` in conftest); these check
what only a real process shows: the console script and ``python -m``, the lean hook
path (no Typer import), exit codes as the shell sees them, stdin for the guard.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import Run, clean_env, git

SPEC = "005-smoke"


def test_the_whole_loop_as_processes(cli_process: Run, repo: Path) -> None:
    assert cli_process("init").code == 0
    result = cli_process("init-feature", SPEC, "--implementors", "data,api", "--worktrees",
                         "--json")  # fmt: skip
    assert result.code == 0, result
    trees = {b.rsplit("/", 1)[1]: Path(p) for b, (p, _) in result.json()["worktrees"].items()}
    logged = cli_process("events", "log-event", SPEC, "implementor-data", "task_started",
                         "model", "T001")  # fmt: skip
    assert (logged.code, logged.out, logged.err) == (0, "", "")
    status = cli_process("events", "status", SPEC, "--json")
    assert status.code == 0 and {r["role"] for r in status.json()} >= {"implementor-data"}
    for area, text in (("impl-data", "a\n"), ("impl-api", "b\n")):
        (trees[area] / "f.txt").write_text(text)
        git(trees[area], "add", "f.txt")
        git(trees[area], "commit", "-q", "-m", "f")
    scan = cli_process("detect-conflicts", "--json")
    assert scan.code == 1, scan
    assert json.loads(scan.out)["conflicts"] is True


def test_usage_errors_and_help_as_the_shell_sees_them(cli_process: Run) -> None:
    bad = cli_process("events", "recent", "abc")
    assert bad.code == 2 and bad.err.startswith("error: ") and bad.err.count("\n") == 1
    assert cli_process("--version").code == 0
    helped = cli_process("events", "log-event", "--help")
    assert helped.code == 0 and "Example" in helped.out


def test_python_dash_m_is_the_same_program(repo: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "claude_orchestrator", "--version"],
                          cwd=repo, env=clean_env(), capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip()


def test_the_guard_reads_its_tool_call_on_stdin(cli_process: Run, repo: Path) -> None:
    call = {"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}, "cwd": str(repo)}
    denied = cli_process("guard", "--role", "implementor", stdin=json.dumps(call))
    assert denied.code == 2 and "not a feature branch" in denied.err, denied
