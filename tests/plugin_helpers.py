"""Helpers for tests that install a plugin or run the CLI in this process: a
distribution on disk whose entry point offers a plugin, and the environment and working
directory of a process of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import clean_env


def distribution(site: Path, name: str, version: str, module: str, source: str) -> Path:
    """``module`` (its ``source``) and a ``<name>-<version>.dist-info`` in ``site`` whose
    ``claude_orchestrator`` entry point ``name`` is that module: an installed plugin,
    for a process with ``site`` on ``PYTHONPATH``."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[claude_orchestrator]\n{name} = {module}\n")
    return site


def like_a_process(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    """This process's environment and working directory made those of a CLI process
    started by the tests (``conftest.clean_env``), until the test ends."""
    env = clean_env()
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)
