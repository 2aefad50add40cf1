"""The library never prints: detect-conflicts and run-tests tell a progress callback,
and the CLI passes one that prints what users always saw (same text, stream, moment)."""

from __future__ import annotations

import io
import shlex
import sys
from pathlib import Path

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.conflict_scan import detect_conflicts
from claude_orchestrator.testrun import run_tests

from .conftest import Run, git
from .plugin_helpers import like_a_process

SPEC = "042-progress"
PAIRS = 6  # three implementors: each with the overseer, and every two of them


class _Terminal(io.StringIO):
    """A captured stream that says it is a terminal (where progress is shown)."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def edit(repo: Path, branch: str, text: str) -> None:
    git(repo, "checkout", "-q", branch)
    (repo / "models.py").write_text(text)
    git(repo, "add", "models.py")
    git(repo, "commit", "-q", "-m", f"T001: {text.strip()}")
    git(repo, "checkout", "-q", "main")


@pytest.fixture
def conflicted(cli: Run, repo: Path) -> Path:
    """A registered feature whose data and api implementors edit the same line."""
    assert cli("init").code == 0
    assert cli("init-feature", SPEC).code == 0
    edit(repo, f"feature/{SPEC}/impl-data", "data = 1\n")
    edit(repo, f"feature/{SPEC}/impl-api", "api = 2\n")
    return repo


def test_detect_conflicts_prints_nothing_even_on_a_terminal(
    conflicted: Path, orch: Orchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, err = _Terminal(), _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    scans = detect_conflicts(orch)
    assert [len(s.conflicts) for s in scans] == [1]
    assert (out.getvalue(), err.getvalue()) == ("", "")


def test_detect_conflicts_tells_progress_before_merging(
    conflicted: Path, orch: Orchestrator
) -> None:
    seen: list[tuple[str, int]] = []

    def progress(line: str) -> None:
        seen.append((line, len(orch.store.list_conflicts(SPEC))))

    scans = detect_conflicts(orch, progress=progress)
    # told once, before the scan recorded the conflict it then found
    assert seen == [(f"merging {PAIRS} branch pairs in memory...", 0)]
    assert scans[0].opened == 1 and len(orch.store.list_conflicts(SPEC)) == 1


def test_detect_conflicts_without_pairs_tells_nothing(cli: Run, orch: Orchestrator) -> None:
    assert cli("init").code == 0
    seen: list[str] = []
    assert detect_conflicts(orch, progress=seen.append) == []
    assert seen == []


def _main_on_terminal(repo: Path, args: list[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """stderr of ``claude-orchestrator ARGS`` run in-process with stderr a terminal."""
    from claude_orchestrator.__main__ import main

    like_a_process(monkeypatch, repo)
    err = _Terminal()
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", err)
    assert main(args) == 1
    return err.getvalue()


def test_cli_shows_scan_progress_on_a_terminal_only(
    cli: Run, conflicted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = cli("detect-conflicts")
    assert piped.code == 1 and piped.err == "", piped
    shown = _main_on_terminal(conflicted, ["detect-conflicts"], monkeypatch)
    assert shown == f"merging {PAIRS} branch pairs in memory...\n"


def _configure(cli: Run, kind: str, command: str) -> None:
    result = cli("config", "set", f"tests.implementor.{kind}", command)
    assert result.code == 0, result


def _touch_command(name: str) -> str:
    code = f"open({name!r}, 'w').close()"
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


@pytest.fixture
def implementor(cli: Run, repo: Path) -> Path:
    """The data implementor's branch checked out, with unit and lint commands that each
    leave a file behind when they run."""
    assert cli("init").code == 0
    assert cli("init-feature", SPEC).code == 0
    _configure(cli, "unit", _touch_command("unit-ran"))
    _configure(cli, "lint", _touch_command("lint-ran"))
    git(repo, "checkout", "-q", f"feature/{SPEC}/impl-data")
    return repo


def test_run_tests_prints_nothing_itself(
    implementor: Path, orch: Orchestrator, capfd: pytest.CaptureFixture[str]
) -> None:
    _, _, runs = run_tests(orch)
    assert [r.status for r in runs] == ["passed", "passed"]
    assert capfd.readouterr() == ("", "")


def test_run_tests_tells_progress_just_before_each_command(
    implementor: Path, orch: Orchestrator
) -> None:
    seen: list[tuple[str, list[str]]] = []

    def progress(line: str) -> None:
        seen.append((line, sorted(p.name for p in implementor.glob("*-ran"))))

    run_tests(orch, progress=progress)
    unit, lint = _touch_command("unit-ran"), _touch_command("lint-ran")
    assert seen == [(f"==> unit: {unit}", []), (f"==> lint: {lint}", ["unit-ran"])]


def test_run_tests_does_not_tell_about_a_command_that_cannot_run(
    implementor: Path, cli: Run, orch: Orchestrator
) -> None:
    _configure(cli, "lint", "no-such-linter --strict")
    seen: list[str] = []
    _, _, runs = run_tests(orch, progress=seen.append)
    assert [r.status for r in runs] == ["passed", "not-run"]
    assert seen == [f"==> unit: {_touch_command('unit-ran')}"]


def test_cli_run_tests_prints_each_command_on_stderr_before_its_output(
    implementor: Path, cli: Run
) -> None:
    script = "print('OUTPUT OF THE UNIT TESTS')"
    command = f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}"
    _configure(cli, "unit", command)
    result = cli("run-tests", "--type", "unit", "--json")  # runner output goes to stderr
    assert result.code == 0, result
    lines = result.err.splitlines()
    assert lines[:2] == [f"==> unit: {command}", "OUTPUT OF THE UNIT TESTS"]
