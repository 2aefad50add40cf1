"""Shared fixtures: real git repositories, the installed CLI as a subprocess, a fresh
plugin registry per test."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.manager import PluginRegistry

BIN = Path(sys.executable).parent
CLI = shutil.which("claude-orchestrator", path=str(BIN)) or shutil.which("claude-orchestrator")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: no git or orchestrator overrides leak in."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "CLAUDE_ORCHESTRATOR_"))
    }
    env.update(
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=env.get("HOME", "/tmp"),
    )
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=clean_env(), check=True, capture_output=True, text=True
    )
    return result.stdout.strip()


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out[-400:]!r}, err={self.err[-400:]!r})"


Run = Callable[..., Result]


def make_repo(path: Path) -> Path:
    """A new git repository at ``path`` with one commit on main."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("demo\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit on main."""
    return make_repo(tmp_path / "repo")


@pytest.fixture
def cli(repo: Path) -> Run:
    """Run the installed console script in ``repo`` (or ``cwd=``)."""
    assert CLI, "the claude-orchestrator console script is not installed"

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> Result:
        proc = subprocess.run(
            [CLI, *args],
            cwd=cwd or repo,
            env=env or clean_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Result(proc)

    return run


@pytest.fixture
def initialized(cli: Run, repo: Path) -> Path:
    """``repo`` after ``init`` and ``add-feature 003-reading-goals``."""
    assert cli("init").code == 0
    result = cli("events", "add-feature", "003-reading-goals", "Reading goals")
    assert result.code == 0, result
    return repo


@pytest.fixture
def store_db(repo: Path) -> Path:
    return repo / ".git" / "orchestrator" / "events.db"


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and directories unwritable, for root too (root ignores modes: it gets
    the immutable attribute, which it may set and clear)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def digest(path: Path) -> str:
    """Content hash of a store, including its WAL, to show that nothing was written."""
    h = hashlib.sha256()
    for p in (path, path.with_name(path.name + "-wal")):
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def registry() -> PluginRegistry:
    """A fresh registry with the built-in plugins and no entry points."""
    return PluginRegistry(entrypoints=False)


@pytest.fixture
def orch(repo: Path, registry: PluginRegistry) -> Iterator[Orchestrator]:
    o = Orchestrator(repo, registry=registry, env={})
    yield o
    o.close()
