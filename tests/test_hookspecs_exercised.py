"""Every hook spec is exercised by behaviour, not found by a name search.

For each spec in :mod:`claude_orchestrator.hookspecs` (found by introspection), a
scenario registers a plugin implementing that hook, runs a real operation (the library,
or a CLI command in-process) and checks both sides: pluggy's hook-call monitoring saw the
hook called with that plugin's implementation, and the implementation's effect shows in
the result (its store written, its VCS used, its CI's files generated, its forge asked,
its notifier told, its command run). A spec added without a scenario fails here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, NamedTuple

import pytest
import typer

from claude_orchestrator import Orchestrator, hookimpl, hookspecs
from claude_orchestrator.cli import run
from claude_orchestrator.feature_setup import init_feature
from claude_orchestrator.generate import generate
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.models import Event, PullRequest
from claude_orchestrator.notify_message import Message, Sent
from claude_orchestrator.plugins.git_vcs import GitVCS
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.protocols_vcs import Opened
from claude_orchestrator.prs import open_pr

from .conftest import git

PLUGIN = "probe"
SPEC = "007-probe"


def spec_names(module: ModuleType) -> list[str]:
    """The hook specs a module declares (pluggy marks each with ``<project>_spec``)."""
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(
        name
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if hasattr(function, marker)
    )


def _configure(repo: Path, text: str) -> None:
    (repo / "orchestrator.yaml").write_text("version: 1\n" + text)


def _library(repo: Path, registry: PluginRegistry) -> Orchestrator:
    return Orchestrator(repo, registry=registry, env={})


def _offer(
    registry: PluginRegistry, hook: str, name: str, factory: Callable[[PluginContext], object]
) -> None:
    """Register the plugin :data:`PLUGIN`, whose ``hook`` offers ``factory`` as ``name``."""

    def implementation(register: Any) -> None:
        register(name, factory)

    registry.register(SimpleNamespace(**{hook: hookimpl(implementation)}), PLUGIN)


# ------------------------------------------------------------------------ scenarios
Scenario = Callable[[Path, PluginRegistry, pytest.CaptureFixture[str]], None]


def store_scenario(repo: Path, registry: PluginRegistry, _: pytest.CaptureFixture[str]) -> None:
    """Events go to the store the plugin built, in the file it chose."""
    built: list[SQLiteStore] = []

    def build(context: PluginContext) -> SQLiteStore:
        built.append(SQLiteStore(context.store_path.with_name("probe.db")))
        return built[-1]

    _offer(registry, "register_stores", "probe-store", build)
    _configure(repo, "plugins:\n  store: probe-store\n")
    with _library(repo, registry) as orch:
        orch.init_store()
        orch.add_feature(SPEC, "Probe")
        event = orch.log_event(SPEC, "overseer", "status_update", "into the probe store")
        assert [e.id for e in built[0].recent_events(1, SPEC)] == [event.id]
    assert (repo / ".git" / "orchestrator" / "probe.db").is_file()
    assert not (repo / ".git" / "orchestrator" / "events.db").exists()


class ProbeVCS(GitVCS):
    """git, noting each branch it creates."""

    def __init__(self, root: Path, common_dir: Path | None) -> None:
        super().__init__(root, common_dir)
        self.created: list[str] = []

    def create_branch(self, name: str, start_point: str) -> bool:
        self.created.append(name)
        return super().create_branch(name, start_point)


def vcs_scenario(repo: Path, registry: PluginRegistry, _: pytest.CaptureFixture[str]) -> None:
    """init-feature creates the feature's branches through the plugin's VCS."""
    built: list[ProbeVCS] = []

    def build(context: PluginContext) -> ProbeVCS:
        built.append(ProbeVCS(context.root, context.common_dir))
        return built[-1]

    _offer(registry, "register_vcs", "probe-git", build)
    _configure(repo, "plugins:\n  vcs: probe-git\n")
    with _library(repo, registry) as orch:
        result = init_feature(orch, SPEC, areas=["data"])
    branches = [f"feature/{SPEC}/overseer", f"feature/{SPEC}/impl-data"]
    assert sorted(result.branches) == sorted(branches)
    assert sorted(built[0].created) == sorted(branches)
    listed = git(repo, "branch", "--list", f"feature/{SPEC}/*", "--format=%(refname:short)")
    assert sorted(listed.splitlines()) == sorted(branches)


def ci_scenario(repo: Path, registry: PluginRegistry, _: pytest.CaptureFixture[str]) -> None:
    """generate writes the files the plugin's CI makes."""

    class ProbeCI:
        def generate(self) -> dict[str, Any]:
            return {".ci/probe.yml": {"probe": {"runs": ["unit", "lint"]}}}

    _offer(registry, "register_ci", "probe-ci", lambda context: ProbeCI())
    _configure(repo, "plugins:\n  ci: probe-ci\n")
    with _library(repo, registry) as orch:
        result = generate(orch)
    assert ".ci/probe.yml" in result.changed
    written = (repo / ".ci" / "probe.yml").read_text()
    assert "probe:" in written and "- unit" in written and "- lint" in written
    assert not (repo / ".github" / "workflows").exists()  # the built-in CI was not used


class ProbeForge:
    name = "probe"
    local = False

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, str]] = []

    def open(self, *, base: str, head: str, title: str, body: str, draft: bool) -> Opened:
        self.opened.append((base, head, title))
        return Opened(41, "https://forge.example/probe/41")

    def merge(self, pr: PullRequest) -> None:
        raise AssertionError("not merged in this scenario")


def forge_scenario(repo: Path, registry: PluginRegistry, _: pytest.CaptureFixture[str]) -> None:
    """open-pr asks the plugin's forge, and records the number and address it gave."""
    forge = ProbeForge()

    _offer(registry, "register_forges", "probe", lambda context: forge)
    _configure(repo, "forge:\n  type: probe\n")
    with _library(repo, registry) as orch:
        init_feature(orch, SPEC, areas=["data"])
        git(repo, "checkout", "-q", f"feature/{SPEC}/impl-data")
        pr = open_pr(orch, title="probe PR")
    head, base = f"feature/{SPEC}/impl-data", f"feature/{SPEC}/overseer"
    assert forge.opened == [(base, head, "probe PR")]
    assert (pr.pr_number, pr.url, pr.head_branch) == (41, "https://forge.example/probe/41", head)


def notifier_scenario(repo: Path, registry: PluginRegistry, _: pytest.CaptureFixture[str]) -> None:
    """The plugin's notifier is told each event the store committed."""
    told: list[Event] = []

    class ProbeNotifier:
        def notify(self, event: Event) -> None:
            told.append(event)

    _offer(registry, "register_notifiers", "probe-notifier", lambda context: ProbeNotifier())
    _configure(repo, "plugins:\n  notifiers: [probe-notifier]\n")
    with _library(repo, registry) as orch:
        orch.init_store()
        orch.add_feature(SPEC, "Probe")
        event = orch.log_event(SPEC, "overseer", "status_update", "tell the probe")
    assert event.id in [e.id for e in told]
    assert told[-1].message == "tell the probe"


def channel_scenario(repo: Path, registry: PluginRegistry, _: pytest.CaptureFixture[str]) -> None:
    """The plugin's channel type is built for a configured channel, with its own keys."""
    sent: list[tuple[str, str]] = []

    class ProbeChannel:
        def __init__(self, options: Any) -> None:
            self.room = str(options["room"])

        def describe(self) -> str:
            return f"probe room {self.room}"

        def send(self, message: Message, *, key: str, timeout: float) -> Sent:
            sent.append((self.room, message.title))
            return Sent(200)

    class Plugin:
        @hookimpl
        def register_channels(self, register: Any) -> None:
            register("probe-channel", lambda context: ProbeChannel(context.options))

    registry.register(Plugin(), PLUGIN)
    _configure(repo, "notifications:\n  channels:\n    here: {type: probe-channel, room: r1}\n")
    with _library(repo, registry) as orch:
        channel = orch.channel("here")
        assert channel.describe() == "probe room r1"
        channel.send(Message("test", "info", "hello"), key="k1", timeout=1.0)
    assert sent == [("r1", "hello")]


def commands_scenario(
    repo: Path, registry: PluginRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plugin's command runs from the command line."""

    class Plugin:
        @hookimpl
        def register_commands(self, cli: typer.Typer) -> None:
            @cli.command("probe-echo")
            def echo(words: list[str]) -> None:
                print("probe:", *words)

    registry.register(Plugin(), PLUGIN)
    capsys.readouterr()
    assert run(["probe-echo", "a", "b"], registry=registry) == 0
    assert capsys.readouterr().out == "probe: a b\n"


SCENARIOS: dict[str, Scenario] = {
    "register_stores": store_scenario,
    "register_vcs": vcs_scenario,
    "register_ci": ci_scenario,
    "register_forges": forge_scenario,
    "register_notifiers": notifier_scenario,
    "register_commands": commands_scenario,
    "register_channels": channel_scenario,
}


def missing_scenarios(module: ModuleType) -> list[str]:
    return [name for name in spec_names(module) if name not in SCENARIOS]


# ---------------------------------------------------------------------------- tests
class Call(NamedTuple):
    hook: str
    plugins: list[str]


def _monitor(registry: PluginRegistry) -> list[Call]:
    calls: list[Call] = []

    def before(hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        calls.append(Call(hook_name, [impl.plugin_name for impl in impls]))

    def after(outcome: Any, hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        return None

    registry.pm.add_hookcall_monitoring(before, after)
    return calls


#: scenarios that cannot pass yet because of a known bug elsewhere (strict: the day the
#: bug is fixed the scenario passes, and this entry must go)
KNOWN_GAPS: dict[str, pytest.MarkDecorator] = {}


@pytest.mark.parametrize(
    "spec", [pytest.param(s, marks=KNOWN_GAPS.get(s, ())) for s in spec_names(hookspecs)]
)
def test_every_hook_spec_is_exercised(
    spec: str, repo: Path, registry: PluginRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = SCENARIOS.get(spec)
    if scenario is None:
        pytest.fail(f"hook spec {spec} has no scenario here: add one that implements it "
                    "in a plugin, runs an operation and checks its effect")  # fmt: skip
    calls = _monitor(registry)
    scenario(repo, registry, capsys)
    through_pluggy = [c for c in calls if c.hook == spec and PLUGIN in c.plugins]
    assert through_pluggy, f"{spec} was not called through pluggy with {PLUGIN!r}: {calls}"


def test_every_spec_has_a_scenario_and_every_scenario_a_spec() -> None:
    assert missing_scenarios(hookspecs) == []
    assert sorted(SCENARIOS) == spec_names(hookspecs)


def test_a_spec_added_without_a_scenario_is_caught() -> None:
    """What happens the day someone adds a hook spec and no scenario."""
    widened = ModuleType("widened_hookspecs")
    for name in spec_names(hookspecs):
        setattr(widened, name, getattr(hookspecs, name))

    @hookspecs.hookspec
    def register_widgets(register: Any) -> None:
        """Offer widgets."""

    widened.register_widgets = register_widgets  # type: ignore[attr-defined]
    assert missing_scenarios(widened) == ["register_widgets"]
    assert spec_names(widened) == sorted([*SCENARIOS, "register_widgets"])
