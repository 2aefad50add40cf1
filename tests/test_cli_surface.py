"""The CLI's surface: help with examples everywhere, the lean path, the package layout."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest
import typer

from claude_orchestrator import hookspecs
from claude_orchestrator.cli import make_app

from .conftest import Run

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[list[str]]:
    root = typer.main.get_command(make_app())
    found: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(root, [])
    return found


COMMANDS = _commands()


def test_every_documented_original_command_exists() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for original in (
        "events init",
        "events add-feature",
        "events log-event",
        "events recent",
        "events status",
        "events log-conflict",
        "events resolve-conflict",
        "events export",
        "events block",
        "events unblock",
        "events record-test",
        "events path",
        "init",
        "plugins",
        "config schema",
    ):
        assert original in names


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help_has_an_example(cli: Run, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0, result
    assert "Example:" in result.out
    example = result.out.split("Example:", 1)[1]
    assert "claude-orchestrator " + command[0] in example


def test_version_and_no_args(cli: Run) -> None:
    assert re.fullmatch(r"claude-orchestrator \d+\.\d+\.\d+\n", cli("--version").out)
    result = cli()
    assert "Usage:" in result.out + result.err


def typer_path(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same arguments through the Typer CLI, bypassing the lean entry."""
    code = "import sys; from claude_orchestrator.cli import run; sys.exit(run(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True)  # fmt: skip


def test_lean_and_typer_paths_agree(cli: Run, initialized: Path) -> None:
    """Same arguments through the lean entry and through Typer: same stored event."""
    import json

    args = ["events", "log-event", "003-reading-goals", "implementor-data", "task_started",
            "via", "T001", "abc1234", "--metadata", '{"a": 1}', "--json"]  # fmt: skip
    lean = cli(*args).json()
    proc = typer_path(args, initialized)
    assert proc.returncode == 0, proc.stderr
    typer_event = json.loads(proc.stdout)
    for key in ("spec_id", "role", "event_type", "message", "task_id", "commit_hash", "metadata"):
        assert lean[key] == typer_event[key]
    assert typer_event["id"] == lean["id"] + 1
    # and the same errors
    bad = ["events", "log-event", "003-reading-goals", "boss", "task_started", "m"]
    lean_err = cli(*bad)
    proc = typer_path(bad, initialized)
    assert (lean_err.code, lean_err.err) == (proc.returncode, proc.stderr)


def test_lean_path_does_not_import_heavy_modules(initialized: Path) -> None:
    code = (
        "import sys; from claude_orchestrator.__main__ import main; "
        "rc = main(['events', 'log-event', '003-reading-goals', 'overseer', 'status_update', "
        "'x']); heavy = sorted(m for m in ('typer', 'click', 'rich', 'sqlite_utils', "
        "'ruamel.yaml', 'jsonschema', 'git', 'importlib.metadata') if m in sys.modules); "
        "print(rc, heavy)"
    )
    subprocess.run(
        [sys.executable, "-m", "claude_orchestrator", "events", "status"],
        cwd=initialized,
        check=True,
        capture_output=True,
    )  # warms the config cache
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=initialized, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "0 []"


def test_every_hookspec_is_documented_and_tested() -> None:
    """The hook spec module is the plugin API reference (datasette-style meta-test)."""
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    specs = [
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "claude_orchestrator_spec")
    ]
    assert sorted(specs) == [
        "register_channels",
        "register_ci",
        "register_commands",
        "register_forges",
        "register_notifiers",
        "register_stores",
        "register_vcs",
    ]
    for name in specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        params = inspect.signature(getattr(hookspecs, name)).parameters
        assert doc.splitlines()[0].endswith("."), name
        for param in params:
            assert f":param {param}:" in doc, (name, param)
        assert "versionadded" in doc
    for name in ("register_channels", "register_ci", "register_commands", "register_forges",
                 "register_notifiers", "register_stores"):  # fmt: skip
        assert f"def {name}(" in tests, f"no test implements {name}"


def test_wheel_ships_one_package(tmp_path: Path) -> None:
    """Nothing named core, plugins or generators lands at the top of site-packages."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("claude_orchestrator_toolkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"claude_orchestrator", wheel.name.split("-py3")[0] + ".dist-info"}
    for expected in (
        "claude_orchestrator/__init__.py",
        "claude_orchestrator/hookspecs.py",
        "claude_orchestrator/plugins/sqlite_store.py",
        "claude_orchestrator/generators/__init__.py",
        "claude_orchestrator/testing.py",
        "claude_orchestrator/py.typed",
    ):
        assert expected in names
