"""The CLI package: the hook-path commands are declared once (the lean entry and Typer
parse alike and show one help text), renderers do not print, the shared rules."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator import lean
from claude_orchestrator.api import Orchestrator
from claude_orchestrator.cli import make_app
from claude_orchestrator.config import set_value
from claude_orchestrator.config_check import check_config, require_config
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.labels import pr_label
from claude_orchestrator.render import render_sync, sync_warnings
from claude_orchestrator.workflow import SyncResult

HOOK_COMMANDS = list(lean.RUNS)


@functools.cache
def _root() -> click.Command:
    """The Typer CLI as Click commands (built once: parsing does not change it)."""
    return typer.main.get_command(make_app())


def _typer_command(spec: lean.HookCommand) -> click.Command:
    command = _root()
    for name in spec.path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def _click_values(spec: lean.HookCommand, args: list[str]) -> dict[str, Any]:
    ctx = _typer_command(spec).make_context(spec.path[-1], list(args))
    return {k: str(v) if isinstance(v, Path) else v for k, v in ctx.params.items()}


@pytest.mark.parametrize("spec", HOOK_COMMANDS, ids=lambda s: " ".join(s.path))
def test_typer_builds_the_hook_commands_from_their_declaration(spec: lean.HookCommand) -> None:
    command = _typer_command(spec)
    assert command.help is not None and command.help.split() == spec.help.split()
    params = [p for p in command.params if p.name != "help"]
    assert [p.name for p in params] == [p.name for p in spec.params]
    for declared, built in zip(spec.params, params, strict=True):
        assert isinstance(built, click.Option if declared.flag else click.Argument)
        assert built.required == declared.required, declared.name
        if declared.flag is not None:
            assert isinstance(built, click.Option)
            assert built.opts == [declared.flag]
            assert built.is_flag == (declared.kind == "bool")
            assert built.help == declared.help


WORD = st.text(alphabet="abcdefxyz0129 _.:", min_size=1, max_size=8).filter(
    lambda s: not s.startswith("-")
)


@st.composite
def valid_args(draw: st.DrawFn, spec: lean.HookCommand) -> list[str]:
    """An argument list Typer accepts: the required arguments, some optional ones, the
    options in any order and spelling (``--x v`` or ``--x=v``), sometimes ``--``."""
    arguments = spec.arguments()
    required = sum(p.required for p in arguments)
    positional = draw(st.lists(WORD, min_size=required, max_size=len(arguments)))
    options: list[list[str]] = []
    for option in spec.options():
        assert option.flag is not None
        if not option.required and not draw(st.booleans()):
            continue
        if option.kind == "bool":
            options.append([option.flag])
        elif draw(st.booleans()):
            options.append([f"{option.flag}={draw(WORD)}"])
        else:
            options.append([option.flag, draw(WORD)])
    order = draw(st.permutations(range(len(options) + 1)))
    dashed = bool(positional) and draw(st.booleans())  # then they go last, after `--`
    tokens: list[str] = []
    for index in order:  # the positional arguments go in as one block, anywhere
        if index < len(options):
            tokens += options[index]
        elif not dashed:
            tokens += positional
    return [*tokens, "--", *positional] if dashed else tokens


@pytest.mark.parametrize("spec", HOOK_COMMANDS, ids=lambda s: " ".join(s.path))
@given(data=st.data())
def test_the_lean_parser_reads_what_typer_reads(
    spec: lean.HookCommand, data: st.DataObject
) -> None:
    args = data.draw(valid_args(spec))
    parsed = lean.read_args(spec, args)
    assert parsed is not None, args
    assert parsed == _click_values(spec, args)


def tokens(spec: lean.HookCommand) -> st.SearchStrategy[str]:
    """The spec's own flags (both spellings, ``--json=1`` too), strangers and values."""
    flags = [p.flag for p in spec.options() if p.flag is not None]
    return st.sampled_from(
        [*flags, *(f"{f}=v" for f in flags), "--", "--nope", "-h", "-", "a", "T001", "x y"]
    )


@pytest.mark.parametrize("spec", HOOK_COMMANDS, ids=lambda s: " ".join(s.path))
@given(data=st.data())
def test_what_the_lean_parser_accepts_typer_reads_the_same(
    spec: lean.HookCommand, data: st.DataObject
) -> None:
    """Anything else is handed to Typer, so an accepted list must mean the same there."""
    args = data.draw(st.lists(tokens(spec), max_size=9))
    parsed = lean.read_args(spec, args)
    if parsed is not None:
        assert parsed == _click_values(spec, args)


def test_sync_output_is_rendered_without_printing(capsys: pytest.CaptureFixture[str]) -> None:
    result = SyncResult("feature/001-x/impl-data", "001-x", "implementor-data", 2, [], 0,
                        [("0123456789abcdef", "T999")], [], ["a notifier failed"])  # fmt: skip
    assert render_sync(result, False) == "feature/001-x/impl-data: 2 new commit(s), 0 event(s)"
    assert capsys.readouterr() == ("", "")
    assert sync_warnings(result) == [
        "warning: commit 0123456789ab names T999, which is not in the overseer's tasks.md: "
        "not logged",
        "warning: a notifier failed",
    ]


@given(pr_id=st.integers(1, 10**6), pr_number=st.none() | st.integers(0, 10**6))
def test_a_pr_is_named_by_its_forge_number_else_its_id(pr_id: int, pr_number: int | None) -> None:
    assert pr_label(pr_id, pr_number) == (pr_id if pr_number is None else pr_number)


def test_config_check_needs_the_file_and_leaves_the_library_usable(repo: Path) -> None:
    with Orchestrator(repo) as orch:
        with pytest.raises(ConfigError, match="run `claude-orchestrator init`"):
            check_config(orch)
        assert orch.config.areas  # defaults still serve the commands that allow them
    with Orchestrator(repo) as orch:
        orch.init(["data"])
    with Orchestrator(repo) as orch:
        check_config(orch)
        assert require_config(orch).areas == ["data"]
    set_value(repo / "orchestrator.yaml", "plugins.vcs", "nosuch")
    with Orchestrator(repo) as orch, pytest.raises(ConfigError, match=r"plugins\.vcs"):
        check_config(orch)
