"""Forges are plugins (``register_forges``): ``local`` and ``github`` built in, chosen by
``forge.type``; a third-party plugin can offer more but not take a built-in name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_orchestrator import Orchestrator, hookimpl
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.models import PullRequest
from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.protocols_vcs import Forge, Opened
from claude_orchestrator.prs import forge_for


def _orch(cwd: Path, registry: PluginRegistry) -> Orchestrator:
    return Orchestrator(cwd, registry=registry, env={})


class Remote:
    """A forge of a third-party plugin."""

    name = "remote"
    local = False

    def open(self, *, base: str, head: str, title: str, body: str, draft: bool) -> Opened:
        return Opened(7, f"https://forge.example/{head}")

    def merge(self, pr: PullRequest) -> None:
        return None


class ForgePlugin:
    @hookimpl
    def register_forges(self, register: Any) -> None:
        register("remote", lambda context: Remote(), description="a test forge")
        register("local", lambda context: Remote())  # reserved: not used


def test_forges_are_plugins(repo: Path) -> None:
    registry = PluginRegistry(entrypoints=False)
    forges = registry.implementations("forge")
    assert {name: impl.plugin for name, impl in forges.items()} == {
        "local": "forge_local",
        "github": "forge_github",
    }
    with _orch(repo, registry) as orch:
        from claude_orchestrator.prs import forge_for

        local = forge_for(orch)
        assert isinstance(local, Forge) and (local.name, local.local) == ("local", True)
    (repo / "orchestrator.yaml").write_text("version: 1\nforge:\n  type: github\n")
    with _orch(repo, registry) as orch:
        github = forge_for(orch)
        assert isinstance(github, Forge) and (github.name, github.local) == ("github", False)
    info = {p.name: p for p in registry.plugins()}
    assert info["forge_local"].builtin and info["forge_local"].hooks == ["register_forges"]


def test_a_plugin_offers_a_forge_but_not_a_builtin_name(repo: Path) -> None:
    registry = PluginRegistry(entrypoints=False)
    registry.register(ForgePlugin(), name="forges-plugin")
    impl = registry.get("forge", "remote")
    assert impl.plugin == "forges-plugin" and impl.description == "a test forge"
    with _orch(repo, registry) as orch:
        built = impl.factory(PluginContext(orch.config, repo, None, repo / "db"))
        assert isinstance(built, Forge)
        assert forge_for(orch).name == "local"  # the built-in, not the impostor
    assert registry.get("forge", "local").plugin == "forge_local"
    assert [i.plugin for i in registry.shadowed] == ["forges-plugin"]
