"""Every command, every parameter, a catalogue of bad values: never a crash or a hang,
and a refusal is one `error:` line, exit 2, with nothing written.

The commands and their parameters are read from the CLI itself, so a new command or
option is swept too (and fails here until it has a valid baseline value in ``BASELINE``).
Runs in-process (``claude_orchestrator.__main__.main``), on a copy of a prepared
repository per case that wrote something.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import typer

from claude_orchestrator.__main__ import main
from claude_orchestrator.cli import make_app

from .conftest import Templates, clean_env, make_repo, run_in_process

SPEC = "003-reading-goals"
#: values that are wrong for most parameters, in the forms users and agents produce
BAD_VALUES = [
    "", "-rf", "-1", "../../../etc/passwd", "x" * 20_000, "\udcff", "two\nlines",
    "$(touch pwned)", "x; touch pwned", "2" + "0" * 30, "1e400", "{", "[" * 5_000, "a,,b",
]  # fmt: skip
#: ``--db`` is one option shared by most commands: swept on these
DB_SWEPT = {"events status", "events log-event", "detect-conflicts", "init"}
#: a valid value for each parameter: (command, parameter) first, then the parameter
BASELINE: dict[str, str] = {
    "spec_id": SPEC, "spec": SPEC, "name": "Reading goals", "role": "overseer",
    "event_type": "status_update", "message": "m", "task_id": "T001", "task": "T001",
    "commit": "HEAD", "metadata": "{}", "files": "src/a.py", "severity": "warning",
    "conflict_id": "1", "blocker_id": "1", "notes": "n", "blocker_type": "dependency",
    "description": "d", "test_type": "unit", "number": "1", "limit": "5",
    "passed": "1", "failed": "0", "skipped": "0", "total": "1", "duration_ms": "5",
    "logs_url": "https://ci.example/1", "fmt": "json", "output": "export.json",
    "areas": "data,api", "implementors": "data", "base": "main", "branch":
    f"feature/{SPEC}/overseer", "from_hook": "post-commit", "title": "t", "body": "b",
    "overseer_branch": f"feature/{SPEC}/overseer", "blocked_by": "implementor-data",
    "key": "branches.main", "value": "main", "db": ".git/orchestrator/events.db",
    "events status": "passed", "set-feature-status status": "completed",
    "record-test status": "passed",
    "migrate to": "postgresql://agent@127.0.0.1:9/orchestrator",
    "plot fmt": "svg", "out_dir": "plots", "out_file": "report.html",
}  # fmt: skip
#: commands not swept, and why
SKIPPED = {
    "run-tests": "runs the configured test commands; its inputs are swept in test_run_tests",
}


def _leaves(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _leaves(sub, [*path, name])
    elif " ".join(path) not in SKIPPED:
        yield path, command


@functools.cache
def _root() -> click.Command:
    """The CLI's command tree (built once: it only names the commands and parameters)."""
    return typer.main.get_command(make_app())


def _cases() -> list[tuple[str, str]]:
    root = _root()
    cases = []
    for path, command in _leaves(root, []):
        for param in command.params:
            if param.name == "help" or getattr(param, "is_flag", False):
                continue
            if param.name != "db" or " ".join(path) in DB_SWEPT:
                cases.append((" ".join(path), str(param.name)))
    return cases


def _baseline(command: str, param: str) -> str:
    for key in (f"{command} {param}", f"{command.split()[-1]} {param}", param):
        if key in BASELINE:
            return BASELINE[key]
    raise AssertionError(f"no baseline value for {command} {param}: add one to BASELINE")


def _argv(command: str, target: str, value: str) -> list[str]:
    cmd: Any = _root()
    for part in command.split():
        cmd = cmd.commands[part]
    positional: list[str] = []
    options: list[str] = []
    for param in cmd.params:
        if param.name == "help" or getattr(param, "is_flag", False):
            continue
        if param.name != target and not param.required:
            continue
        text = value if param.name == target else _baseline(command, str(param.name))
        if isinstance(param, click.Argument):
            positional.append(text)
        else:
            options += [param.opts[0], text]
    return [*command.split(), *options, "--", *positional] if positional else [
        *command.split(), *options]  # fmt: skip


def _state(root: Path) -> dict[str, str]:
    """A digest of every file under ``root``; a store by its content (SQLite may
    checkpoint its WAL when a reader closes). Left out: what reads may touch (SQLite's
    WAL and shared-memory files, git's index stat cache, the parsed-config cache)."""
    state = {}
    for dirpath, _, filenames in os.walk(root):
        if dirpath.endswith("orchestrator/cache"):
            continue
        for name in filenames:
            if name.endswith(("-shm", "-wal")) or name == "index":
                continue
            path = Path(dirpath, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = "link"
            elif name.endswith(".db"):
                with contextlib.closing(
                    sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
                ) as db:
                    state[key] = "\n".join(db.iterdump())
            else:
                state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _build(folder: Path) -> None:
    """A repository after init, init-feature and a few records of every kind."""
    repo = make_repo(folder / "repo")
    for args in (["init"], ["init-feature", SPEC, "--worktrees"],
                 ["events", "log-conflict", SPEC, "implementor-data", "src/a.py"],
                 ["events", "block", SPEC, "implementor-api", "dependency", "waits"]):  # fmt: skip
        result = run_in_process(args, repo, clean_env())
        assert result.code == 0, result


def _fresh(templates: Templates, work: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A copy of the template whose worktrees point at the copy (not the template), as
    the cwd; returns its state."""
    monkeypatch.chdir(work.parent)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    templates.copy("sweep", _build, work)
    monkeypatch.chdir(work / "repo")
    return _state(work)


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang


@pytest.mark.parametrize(("command", "param"), _cases())
def test_bad_values_never_crash_and_refusals_write_nothing(
    templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], command: str, param: str,
) -> None:  # fmt: skip
    for name in list(os.environ):
        if name.startswith(("CLAUDE_ORCHESTRATOR", "GIT_")):
            monkeypatch.delenv(name)
    for name, text in clean_env().items():
        monkeypatch.setenv(name, text)
    work = tmp_path / "w"
    before = _fresh(templates, work, monkeypatch)
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for value in BAD_VALUES:
            argv = _argv(command, param, value)
            if command == "guard":  # a PreToolUse hook: the tool call comes on stdin
                call = {"tool_name": "Bash", "tool_input": {"command": "ls"}, "cwd": os.getcwd()}
                monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(call)))
            signal.alarm(30)
            try:
                code = main(argv)
            except _Hang:
                pytest.fail(f"{argv[:6]!r}: no answer in 30 s")
            finally:
                signal.alarm(0)
            err = capsys.readouterr().err
            label, tail = ascii(value[:20]), ascii(err[-500:])
            assert code in (0, 1, 2), f"{command} {param}={label}: exit {code}: {tail}"
            assert "Traceback" not in err and "internal error" not in err, (label, tail)
            if code == 2:
                # the guard answers Claude Code in its own form: "<program> guard: ... denied"
                start = "claude-orchestrator guard: " if command == "guard" else "error: "
                assert err.startswith(start) and err.count("\n") == 1, (label, tail)
                changed = _changed(before, _state(work))
                assert not changed, f"{command} {param}={label}: exit 2 wrote {changed}"
            else:
                before = _fresh(templates, work, monkeypatch)
        assert not list(work.rglob("pwned")), "a value ran as a shell command"
    finally:
        signal.signal(signal.SIGALRM, previous)
