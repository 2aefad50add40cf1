"""claude_orchestrator.testing is a pytest plugin: its fixtures need no conftest."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from claude_orchestrator import hookimpl
from claude_orchestrator.manager import PluginRegistry


def test_the_plugin_is_loaded_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("claude_orchestrator")


def test_pm_and_register_plugin(pm: PluginRegistry, register_plugin: Callable[..., None]) -> None:
    assert "sqlite" in pm.implementations("store")  # the built-ins are there

    @hookimpl
    def register_notifiers(register: Any) -> None:
        register("mine", lambda context: SimpleNamespace(notify=lambda event: None))

    register_plugin(SimpleNamespace(register_notifiers=register_notifiers), "mine-plugin")
    found = pm.get("notifier", "mine")
    assert found.plugin == "mine-plugin"
