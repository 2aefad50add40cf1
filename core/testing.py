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
from typing import TYPE_CHECKING, Any

import pytest

from .errors import OrchestratorError
from .models import Event
from .protocols import Notifier
from .testing_store import AGENTS, SPEC, PortContract, StoreContract

__all__ = [
    "AGENTS", "SPEC", "NotifierContract", "PortContract", "StoreContract", "pm", "register_plugin",
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


class NotifierContract:
    """Behaviour every :class:`~claude_orchestrator.protocols.Notifier` must have.

    Provide a ``notifier`` fixture; optionally override :meth:`delivered` to read back
    what the notifier recorded, so the suite can check every event arrived.
    """

    @pytest.fixture
    def notifier(self) -> Any:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `notifier` fixture")

    def delivered(self, notifier: Any) -> list[int] | None:
        """Ids of the events the notifier has recorded, oldest first (None: unknown)."""
        return None

    def _events(self) -> list[Event]:
        types = [
            "task_started",
            "task_completed",
            "task_blocked",
            "status_update",
            "pr_opened",
            "pr_merged",
            "conflict_detected",
            "conflict_resolved",
            "my_custom_type",
        ]
        return [
            Event(
                i + 1,
                SPEC,
                "implementor-data",
                t,
                f"message {i} ünïcode",
                "T001" if i % 2 else None,
                None,
                {"n": i} if i % 3 else None,
                "2026-01-01T00:00:00.000Z",
            )
            for i, t in enumerate(types)
        ]

    def test_satisfies_protocol(self, notifier: Any) -> None:
        assert isinstance(notifier, Notifier)

    def test_accepts_every_event_type(self, notifier: Any) -> None:
        events = self._events()
        for event in events:
            try:
                notifier.notify(event)
            except OrchestratorError:  # pragma: no cover - the assertion explains
                pytest.fail(f"notifier raised on {event.event_type}")
        recorded = self.delivered(notifier)
        if recorded is not None:
            assert recorded == [e.id for e in events]
