"""claude-orchestrator: coordinate several AI coding agents on one feature in one repository.

The library API is what the CLI calls and what plugins and tests use::

    from claude_orchestrator import Orchestrator, hookimpl

    orch = Orchestrator()                  # the repository of the current directory
    orch.init_store()
    orch.add_feature("003-reading-goals", "Reading goals")
    orch.log_event("003-reading-goals", "implementor-data", "task_started", "models", "T001")

Attributes are imported lazily: ``import claude_orchestrator`` costs nothing, which
matters because git hooks run this tool on every commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.2.0"

if TYPE_CHECKING:
    from .api import Orchestrator
    from .hookspecs import hookimpl, hookspec

__all__ = ["Orchestrator", "__version__", "hookimpl", "hookspec"]


def __getattr__(name: str) -> object:
    if name in ("hookimpl", "hookspec"):
        from . import hookspecs

        return getattr(hookspecs, name)
    if name == "Orchestrator":
        from .api import Orchestrator

        return Orchestrator
    raise AttributeError(f"module 'claude_orchestrator' has no attribute {name!r}")
