"""Plugins add commands (the ``register_commands`` hook): run, listed, refused when they
would replace a built-in, isolated when broken, looked up only when needed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import click
import pytest
import typer
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator import hookimpl
from claude_orchestrator.cli import make_app, run
from claude_orchestrator.cli.plugin_commands import add_plugin_commands, wanted
from claude_orchestrator.errors import ValidationError
from claude_orchestrator.manager import PluginRegistry

from .conftest import Result, Run, clean_env
from .plugin_helpers import distribution, like_a_process

#: the built-in top-level commands, in the order of `--help`
BUILTINS = list(typer.main.get_group(make_app()).commands)

Invoke = Callable[..., Result]


class Greeter:
    """A plugin with a command, a command group, and commands that fail every way."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def register_commands(self, cli: typer.Typer) -> None:
        self.calls += 1

        @cli.command("hello", help="Greet NAME.")
        def hello(name: str, shout: Annotated[bool, typer.Option("--shout")] = False) -> None:
            print(f"hello {name.upper() if shout else name}")

        @cli.command("refuse")
        def refuse(kind: str) -> None:
            if kind == "validation":
                raise ValidationError("no such greeting: pick one of hi, hello")
            if kind == "click":
                raise click.ClickException("the greeting is\nnot ready")
            if kind == "parameter":
                raise typer.BadParameter("must be polite", param_hint="KIND")
            if kind == "found":
                raise typer.Exit(1)
            raise RuntimeError(f"greeter crashed on {kind}")

        greet = typer.Typer(help="Greetings, grouped.")

        @greet.command("hi")
        def hi(name: str) -> None:
            print(f"hi {name}")

        cli.add_typer(greet, name="greet")


class Hijacker:
    """A plugin that tries to take over built-in commands."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    @hookimpl
    def register_commands(self, cli: typer.Typer) -> None:
        @cli.command("init")
        def init() -> None:
            self.ran.append("init")

        @cli.command("events")
        def events() -> None:
            self.ran.append("events")

        @cli.command("hijack-ok")
        def ok() -> None:
            print("own command")


class Broken:
    @hookimpl
    def register_commands(self, cli: typer.Typer) -> None:
        @cli.command("never")
        def never() -> None:
            print("never listed")

        raise RuntimeError("the hook itself is broken")


@pytest.fixture
def greeter(registry: PluginRegistry) -> Greeter:
    plugin = Greeter()
    registry.register(plugin, "greeter")
    return plugin


@pytest.fixture
def invoke(
    repo: Path, registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Invoke:  # fmt: skip
    """Run the CLI in-process in ``repo`` with ``registry``'s plugins."""
    like_a_process(monkeypatch, repo)

    def call(*args: str) -> Result:
        capsys.readouterr()
        code = run(list(args), registry=registry)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


def test_a_plugin_command_runs(invoke: Invoke, greeter: Greeter) -> None:
    result = invoke("hello", "World", "--shout")
    assert (result.code, result.out, result.err) == (0, "hello WORLD\n", "")
    assert greeter.calls == 1


def test_a_plugin_command_group_runs(invoke: Invoke, greeter: Greeter) -> None:
    result = invoke("greet", "hi", "Ada")
    assert (result.code, result.out) == (0, "hi Ada\n")


def test_top_level_help_lists_plugin_commands_after_the_built_ins(
    invoke: Invoke, greeter: Greeter
) -> None:
    result = invoke("--help")
    assert result.code == 0, result
    listed = re.findall(r"^  (\S+)", result.out.split("Commands:", 1)[1], re.MULTILINE)
    assert listed == [*BUILTINS, "hello", "refuse", "greet"]
    assert re.search(r"^  hello +Greet NAME\.$", result.out, re.MULTILINE)
    assert result.err == ""


def test_built_in_commands_do_not_call_the_hook(invoke: Invoke, greeter: Greeter) -> None:
    for args in (["--version"], ["events", "path"], ["config", "schema"], ["init", "--help"]):
        assert invoke(*args).code == 0
    assert greeter.calls == 0


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("validation", 2, "error: no such greeting: pick one of hi, hello"),
        ("click", 2, "error: the greeting is not ready"),
        ("parameter", 2, "error: Invalid value for KIND: must be polite: see "
                         "`claude-orchestrator refuse --help`"),
        ("found", 1, ""),
    ],
)  # fmt: skip
def test_plugin_command_errors_are_one_line(
    invoke: Invoke, greeter: Greeter, kind: str, code: int, message: str
) -> None:
    result = invoke("refuse", kind)
    assert (result.code, result.out) == (code, "")
    assert result.err.splitlines() == ([message] if message else [])


def test_plugin_command_usage_errors_are_one_line(invoke: Invoke, greeter: Greeter) -> None:
    result = invoke("hello")
    assert (result.code, result.out) == (2, "")
    assert result.err == "error: Missing argument 'NAME': see `claude-orchestrator hello --help`\n"
    result = invoke("hello", "x", "--loud")
    assert result.code == 2 and result.err.startswith("error: No such option '--loud'")
    assert result.err.count("\n") == 1


def test_a_crashing_plugin_command_is_the_plugin_s_internal_error(
    invoke: Invoke, greeter: Greeter
) -> None:
    result = invoke("refuse", "tuesday")
    assert result.code == 3
    line = result.err.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("internal error in plugin 'greeter': RuntimeError: greeter crashed")
    assert line.endswith("please report it to the authors of plugin 'greeter'")
    log = Path(re.search(r"traceback in (\S+)\)", line).group(1))
    try:
        assert 'raise RuntimeError(f"greeter crashed on {kind}")' in log.read_text()
    finally:
        log.unlink()


def test_a_plugin_cannot_replace_a_built_in_command(
    invoke: Invoke, repo: Path, registry: PluginRegistry
) -> None:
    hijacker = Hijacker()
    registry.register(hijacker, "hijacker")
    listing = invoke("--help")
    assert listing.err.splitlines() == [
        f"warning: plugin 'hijacker' may not replace the built-in command {name!r}: its "
        "command is left out (a plugin command needs a name of its own)"
        for name in ("init", "events")
    ]
    assert "hijack-ok" in listing.out
    result = invoke("init")
    assert result.code == 0 and (repo / "orchestrator.yaml").is_file(), result
    assert invoke("events", "path").code == 0
    assert invoke("hijack-ok").out == "own command\n"
    assert hijacker.ran == []


def test_a_plugin_whose_hook_raises_breaks_nothing_else(
    invoke: Invoke, registry: PluginRegistry, greeter: Greeter
) -> None:
    registry.register(Broken(), "broken")
    warning = ("warning: plugin 'broken' could not add its commands (register_commands "
               "failed: RuntimeError: the hook itself is broken): they are left out")  # fmt: skip
    listing = invoke("--help")
    assert listing.code == 0 and listing.err.splitlines() == [warning]
    assert "never" not in listing.out and "hello" in listing.out
    assert invoke("hello", "you").out == "hello you\n"  # quiet: its own command is fine
    missing = invoke("never")
    assert missing.code == 2
    assert missing.err.splitlines() == [
        warning,
        "error: No such command 'never': see `claude-orchestrator --help`",
    ]
    assert invoke("events", "path").code == 0


def test_two_plugins_with_one_command_name_the_first_by_name_keeps_it(
    invoke: Invoke, registry: PluginRegistry
) -> None:
    def plugin(text: str) -> object:
        class Plugin:
            @hookimpl
            def register_commands(self, cli: typer.Typer) -> None:
                @cli.command("hello")
                def hello() -> None:
                    print(text)

        return Plugin()

    # registered in the opposite order: pluggy would call "zeta" last, and the last wins
    registry.register(plugin("from alpha"), "alpha")
    registry.register(plugin("from zeta"), "zeta")
    result = invoke("hello")
    assert (result.code, result.out, result.err) == (0, "from alpha\n", "")
    assert invoke("--help").err == (
        "warning: plugin 'zeta' adds the command 'hello' that plugin 'alpha' added first: "
        "left out\n"
    )


def test_the_hook_goes_through_pluggy(invoke: Invoke, registry: PluginRegistry) -> None:
    """A wrapper of another plugin wraps each plugin's call; monitoring sees each call."""
    wrapped: list[list[str]] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def register_commands(self, cli: typer.Typer) -> Iterator[None]:
            yield
            wrapped.append(sorted(c.name or "?" for c in cli.registered_commands))

    seen: list[tuple[str, list[str]]] = []
    registry.register(Wrapper(), "wrapper")
    registry.register(Greeter(), "greeter")
    registry.register(Hijacker(), "hijacker")
    registry.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls])),
        lambda outcome, name, impls, kwargs: None,
    )
    assert invoke("--help").code == 0
    calls = [sorted(plugins) for name, plugins in seen if name == "register_commands"]
    assert calls == [["greeter", "wrapper"], ["hijacker", "wrapper"]]
    assert wrapped == [["hello", "refuse"], ["events", "hijack-ok", "init"]]


def test_cli_runner_on_the_built_command(registry: PluginRegistry, greeter: Greeter) -> None:
    group = typer.main.get_command(make_app())
    assert isinstance(group, click.Group)
    added = add_plugin_commands(group, registry)
    assert added.owners == {"hello": "greeter", "refuse": "greeter", "greet": "greeter"}
    result = CliRunner().invoke(group, ["greet", "hi", "Bob"])
    assert (result.exit_code, result.output) == (0, "hi Bob\n")


NAMES = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,8}){0,2}", fullmatch=True).filter(
    lambda name: name not in BUILTINS
)


@settings(max_examples=30)
@given(name=NAMES, words=st.lists(st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True), max_size=3))
def test_any_plugin_command_name_runs_with_its_arguments(name: str, words: list[str]) -> None:
    class Plugin:
        @hookimpl
        def register_commands(self, cli: typer.Typer) -> None:
            @cli.command(name)
            def command(args: Annotated[list[str] | None, typer.Argument()] = None) -> None:
                print(" ".join([name, *(args or [])]))

    registry = PluginRegistry(entrypoints=False)
    registry.register(Plugin(), "any")
    group = typer.main.get_command(make_app())
    assert isinstance(group, click.Group)
    assert wanted([name, *words], group.commands)
    assert add_plugin_commands(group, registry).owners == {name: "any"}
    result = CliRunner().invoke(group, [name, *words])
    assert (result.exit_code, result.output) == (0, " ".join([name, *words]) + "\n")


@given(
    first=st.sampled_from(BUILTINS),
    rest=st.lists(st.text(st.characters(codec="utf-8"), max_size=5), max_size=3),
)
def test_a_built_in_command_never_wants_plugins(first: str, rest: list[str]) -> None:
    assert not wanted([first, *rest], BUILTINS)


@given(rest=st.lists(st.text(max_size=5), max_size=3))
def test_help_and_no_arguments_want_plugins_version_does_not(rest: list[str]) -> None:
    assert wanted([], BUILTINS)
    assert wanted(["--help", *rest], BUILTINS) and wanted(["-h", *rest], BUILTINS)
    assert not wanted(["--version", *rest], BUILTINS)


# ------------------------------------------------------- through the real entry point
PLUGIN = """
import os
from pathlib import Path

from claude_orchestrator import hookimpl
from claude_orchestrator.errors import ValidationError

Path(os.environ["HELLO_PLUGIN_MARK"]).write_text("imported")


@hookimpl
def register_commands(cli):
    @cli.command("hello", help="Greet NAME.")
    def hello(name: str) -> None:
        if name == "nobody":
            raise ValidationError("nobody to greet: pass a name")
        print(f"hello {name}")
"""


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed distribution (a dist-info with an entry point) offering ``hello``."""
    return distribution(tmp_path_factory.mktemp("hello-site"), "hello", "1.0", "hello_plugin",
                        PLUGIN)  # fmt: skip


def test_installed_plugin_command_through_the_console_script(
    cli_process: Run, hello_site: Path, tmp_path: Path
) -> None:
    mark = tmp_path / "imported"
    env = clean_env(PYTHONPATH=str(hello_site), HELLO_PLUGIN_MARK=str(mark))
    for args in (["events", "path"], ["sync-status", "--help"], ["--version"]):
        assert cli_process(*args, env=env).code == 0
    assert not mark.exists(), "a built-in command loaded a third-party plugin"
    result = cli_process("hello", "World", env=env)
    assert (result.code, result.out, result.err) == (0, "hello World\n", "")
    assert mark.read_text() == "imported"
    refused = cli_process("hello", "nobody", env=env)
    assert (refused.code, refused.err) == (2, "error: nobody to greet: pass a name\n")
    listing = cli_process("--help", env=env)
    assert re.search(r"^  hello +Greet NAME\.$", listing.out, re.MULTILINE), listing
    blocked = cli_process("hello", "World", env={**env, "CLAUDE_ORCHESTRATOR_PLUGINS": ""})
    assert blocked.code == 2 and "No such command 'hello'" in blocked.err
