"""Commands that need a real orchestrator.yaml: the file must exist, not just defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import load_config

if TYPE_CHECKING:
    from .api import Orchestrator
    from .config import Config


def require_config(orch: Orchestrator) -> Config:
    """``orch``'s config, which must come from a file.

    :raises ConfigError: the file is missing (naming ``init``) or invalid.
    """
    load_config(orch.config_path, required=True)  # the same file orch.config reads
    return orch.config


def check_config(orch: Orchestrator) -> None:
    """``config check``: the file exists and is valid, its plugin names included (the
    notification channels' types too; their secrets are read only when one sends).

    :raises ConfigError: the first problem found.
    """
    from .errors import PluginError

    config = require_config(orch)
    orch.check_plugins()
    for name, entry in config.data["notifications"]["channels"].items():
        try:
            orch.registry.get("channel", str(entry["type"]))
        except PluginError as exc:
            raise config.error(f"notifications.channels.{name}.type", str(exc)) from None
