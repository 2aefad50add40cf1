"""Issue 12's commands (see the module's register function)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app`` (none yet)."""
