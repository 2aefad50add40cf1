"""Plugin discovery through real entry points, failures, allow/block lists, the registry."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import hookimpl
from claude_orchestrator.errors import PluginError
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.testing import NotifierContract

from .conftest import EXAMPLES, Run, clean_env, digest

SPEC = "003-reading-goals"


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, pip-installed offline into its own directory."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "jsonl-notifier"
    # build from a copy: building writes build/ and *.egg-info next to the sources
    import shutil

    shutil.copytree(EXAMPLES / "jsonl-notifier", source)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert list(target.glob("claude_orchestrator_jsonl-1.0.0.dist-info"))
    return target


@pytest.fixture(scope="session")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A distribution whose plugin module fails to import."""
    site = tmp_path_factory.mktemp("broken")
    (site / "broken_plugin.py").write_text("raise ImportError('missing dependency frobnicate')\n")
    info = site / "broken_plugin-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[claude_orchestrator]\nbroken = broken_plugin\n")
    return site


def env_with(*sites: Path, **extra: str) -> dict[str, str]:
    return clean_env(PYTHONPATH=":".join(map(str, sites)), **extra)


def use_jsonl(repo: Path, path: str = "events.jsonl") -> None:
    config = repo / "orchestrator.yaml"
    text = config.read_text()
    text = text.replace("notifiers: [markdown]", "notifiers: [markdown, jsonl]")
    text = text.replace("options: {}", f"options: {{jsonl: {{path: {path}}}}}")
    config.write_text(text)


def test_plugins_lists_builtin(cli: Run) -> None:
    result = cli("plugins", "--json")
    assert result.code == 0, result
    plugins = {p["name"]: p for p in result.json()}
    assert plugins["sqlite_store"]["builtin"] is True
    assert plugins["sqlite_store"]["implementations"] == ["store:sqlite"]
    assert plugins["sqlite_store"]["hooks"] == ["register_stores"]
    assert "sqlite_store" in cli("plugins").out


def test_cli_discovers_example_plugin_through_entry_point(cli: Run, plugin_site: Path) -> None:
    result = cli("plugins", "--json", env=env_with(plugin_site))
    assert result.code == 0, result
    plugins = {p["name"]: p for p in result.json()}
    jsonl = plugins["jsonl"]
    assert (jsonl["version"], jsonl["builtin"], jsonl["error"]) == ("1.0.0", False, None)
    assert jsonl["kinds"] == ["notifier"] and jsonl["hooks"] == ["register_notifiers"]


def test_configured_notifier_receives_every_event(
    cli: Run, initialized: Path, plugin_site: Path
) -> None:
    use_jsonl(initialized)
    env = env_with(plugin_site)
    # lean path (log-event) and Typer path (log-conflict) both notify
    assert (
        cli(
            "events", "log-event", SPEC, "implementor-data", "task_started", "m", "T001", env=env
        ).code
        == 0
    )
    assert cli("events", "log-conflict", SPEC, "implementor-api", "a.py", env=env).code == 0
    lines = (initialized / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event_type"] for e in events] == ["task_started", "conflict_detected"]
    stored = cli("events", "recent", "2", "--json", env=env).json()
    assert [e["id"] for e in events] == [e["id"] for e in reversed(stored)]


def test_missing_plugin_is_a_config_error_and_nothing_written(
    cli: Run, initialized: Path, store_db: Path, plugin_site: Path
) -> None:
    use_jsonl(initialized)
    before = digest(store_db)
    result = cli("events", "log-event", SPEC, "overseer", "status_update", "x")
    assert result.code == 2
    assert "plugins.notifiers[1]: unknown notifier 'jsonl' (installed: markdown)" in result.err
    # the allow-list and block-list switch an installed plugin off the same way
    for extra in (
        {"CLAUDE_ORCHESTRATOR_PLUGINS": ""},
        {"CLAUDE_ORCHESTRATOR_PLUGINS": "other"},
        {"CLAUDE_ORCHESTRATOR_DISABLE_PLUGINS": "jsonl"},
    ):
        result = cli(
            "events",
            "log-event",
            SPEC,
            "overseer",
            "status_update",
            "x",
            env=env_with(plugin_site, **extra),
        )
        assert result.code == 2, (extra, result)
        assert "unknown notifier 'jsonl'" in result.err
    assert digest(store_db) == before
    allowed = env_with(plugin_site, CLAUDE_ORCHESTRATOR_PLUGINS="jsonl")
    assert cli("events", "log-event", SPEC, "overseer", "status_update", "x", env=allowed).code == 0


def test_broken_plugin_is_reported_and_harmless(
    cli: Run, initialized: Path, broken_site: Path, plugin_site: Path
) -> None:
    env = env_with(broken_site, plugin_site)
    result = cli("plugins", "--json", env=env)
    assert result.code == 0, result
    plugins = {p["name"]: p for p in result.json()}
    assert plugins["broken"]["error"] == "ImportError: missing dependency frobnicate"
    assert plugins["jsonl"]["error"] is None
    assert "FAILED: ImportError" in cli("plugins", env=env).out
    # commands that don't need it work, including ones that load entry points
    assert cli("events", "status", env=env).code == 0
    use_jsonl(initialized)
    assert cli("events", "log-event", SPEC, "overseer", "status_update", "x", env=env).code == 0
    # naming it gives its failure
    text = (initialized / "orchestrator.yaml").read_text().replace(", jsonl]", ", broken]")
    (initialized / "orchestrator.yaml").write_text(text)
    result = cli("events", "log-event", SPEC, "overseer", "status_update", "x", env=env)
    assert result.code == 2
    assert "unknown notifier 'broken'" in result.err
    assert "plugins that failed to load: broken" in result.err


class TestJsonlNotifierContract(NotifierContract):
    """The shipped notifier contract, run against the example third-party plugin."""

    @pytest.fixture
    def notifier(self, plugin_site: Path, tmp_path: Path) -> Iterator[Any]:
        sys.path.insert(0, str(plugin_site))
        try:
            from claude_orchestrator_jsonl import JsonlNotifier

            yield JsonlNotifier(tmp_path / "out.jsonl")
        finally:
            sys.path.remove(str(plugin_site))

    def delivered(self, notifier: Any) -> list[int] | None:
        lines = notifier.path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["id"] for line in lines]


# ------------------------------------------------------------ registry, in-process
class MemoryNotifier:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def notify(self, event: Any) -> None:
        self.seen.append(event)


def test_registry_register_plugin_and_notify(repo: Path, registry: PluginRegistry) -> None:
    from claude_orchestrator import Orchestrator

    memory = MemoryNotifier()

    class Plugin:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register("memory", lambda context: memory)

    registry.register(Plugin(), name="memory-plugin", version="9")
    (repo / "orchestrator.yaml").write_text("version: 1\nplugins:\n  notifiers: [memory]\n")
    with Orchestrator(repo, registry=registry, env={}) as orch:
        orch.init_store()
        orch.add_feature(SPEC, "x")
        orch.log_event(SPEC, "overseer", "status_update", "hello")
    assert [e.event_type for e in memory.seen] == ["feature_created", "status_update"]
    info = {p.name: p for p in registry.plugins()}["memory-plugin"]
    assert info.implementations == ["notifier:memory"] and info.version == "9"


def test_builtin_names_are_reserved(registry: PluginRegistry) -> None:
    class Impostor:
        @hookimpl
        def register_stores(self, register: Any) -> None:
            register("sqlite", lambda context: None)

    registry.register(Impostor(), name="impostor")
    assert registry.get("store", "sqlite").plugin == "sqlite_store"
    assert [i.plugin for i in registry.shadowed] == ["impostor"]


def test_failing_register_hook_is_recorded(registry: PluginRegistry) -> None:
    class Faulty:
        @hookimpl
        def register_ci(self) -> None:
            raise RuntimeError("boom")

    registry.register(Faulty(), name="faulty")
    assert set(registry.implementations("ci")) == {"github-actions"}  # only the built-in
    assert registry.failures["faulty"] == "register_ci failed: RuntimeError: boom"
    assert registry.get("store", "sqlite")  # everything else still works


def test_unknown_hook_is_rejected(registry: PluginRegistry) -> None:
    from pluggy import PluginValidationError

    class Typo:
        @hookimpl
        def register_storez(self, register: Any) -> None: ...

    with pytest.raises(PluginValidationError):
        registry.register(Typo(), name="typo")


def test_unknown_name_lists_installed(registry: PluginRegistry) -> None:
    with pytest.raises(PluginError, match=r"unknown store 'nope' \(installed: postgres, sqlite\)"):
        registry.get("store", "nope")


def test_factory_failure_is_reported(repo: Path, registry: PluginRegistry) -> None:
    from claude_orchestrator import Orchestrator

    def bad_factory(context: PluginContext) -> Any:
        raise RuntimeError("no socket")

    class Plugin:
        @hookimpl
        def register_notifiers(self, register: Any) -> None:
            register("bad", bad_factory)

    registry.register(Plugin(), name="bad-plugin")
    (repo / "orchestrator.yaml").write_text("version: 1\nplugins:\n  notifiers: [bad]\n")
    with (
        Orchestrator(repo, registry=registry, env={}) as orch,
        pytest.raises(
            PluginError,
            match=r"notifier plugin .bad. \(from bad-plugin\) failed to start: RuntimeError",
        ),
    ):
        orch.init_store()
