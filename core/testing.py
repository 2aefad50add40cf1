"""Contract tests for plugin authors, shipped with the package.

Subclass a contract and provide its fixture; pytest collects the inherited tests::

    from claude_orchestrator.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(tmp_path / "events")
            s.initialize()
            yield s
            s.close()

The built-in implementations run these same suites (see the project's ``tests/``).
This module imports pytest; import it from tests only.

It is also a pytest plugin (entry point ``pytest11``), so a plugin's own tests get two
fixtures without a conftest::

    def test_my_notifier_is_found(pm, register_plugin):
        register_plugin(my_plugin_module, "mine")
        assert pm.get("notifier", "mine").plugin == "mine"

``pm`` is a fresh :class:`~claude_orchestrator.manager.PluginRegistry` with the built-in
plugins and no entry points; ``register_plugin(plugin, name)`` registers a module or
object with hook implementations in it, as an installed plugin would be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from .testing_feed import FeedContract
from .testing_notifier import NotifierContract
from .testing_port_usage import UsageContract
from .testing_store import AGENTS, SPEC, PortContract, StoreContract

__all__ = [
    "AGENTS", "SPEC", "FeedContract", "NotifierContract", "PortContract", "StoreContract",
    "UsageContract", "pm", "register_plugin",
]  # fmt: skip

if TYPE_CHECKING:
    from .manager import PluginRegistry


@pytest.fixture
def pm() -> PluginRegistry:
    """A fresh plugin registry: the built-in plugins, no entry points."""
    from .manager import PluginRegistry

    return PluginRegistry(entrypoints=False)


@pytest.fixture
def register_plugin(pm: PluginRegistry) -> Callable[..., None]:
    """``register_plugin(plugin, name, version=None)``: add a plugin to ``pm``."""
    return pm.register
