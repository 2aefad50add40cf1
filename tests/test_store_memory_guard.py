"""The guard on the memory store (examples/memory-store, installed as a distribution with
an entry point, as a user installs it): its decisions reach whatever store the config
names, and the memory store records the same guard events as SQLite."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.config import write_template
from claude_orchestrator.feature_setup import init_feature
from claude_orchestrator.guard_hook import run as guard

from .conftest import EXAMPLES, git, make_repo

SPEC = "005-guarded"
CALLS = [
    ("Bash", {"command": "ls src"}),
    ("Bash", {"command": "git push origin HEAD:main"}),
    ("Write", {"file_path": "orchestrator.yaml", "content": "version: 1\n"}),
    ("Read", {"file_path": "README.md"}),
]


@pytest.fixture
def memory_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example plugin on sys.path with a dist-info naming its entry point."""
    site = tmp_path / "site"
    info = site / "claude_orchestrator_memory-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: claude-orchestrator-memory\nVersion: 1.0.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[claude_orchestrator]\nmemory = claude_orchestrator_memory\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(EXAMPLES / "memory-store"))
    for name in ("CLAUDE_ORCHESTRATOR_PLUGINS", "CLAUDE_ORCHESTRATOR_DISABLE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


def _scenario(repo: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    config = repo / "orchestrator.yaml"
    write_template(config, ["data"])
    config.write_text(config.read_text().replace("store: sqlite", f"store: {store}"))
    git(repo, "add", "orchestrator.yaml")
    git(repo, "commit", "-q", "-m", "orchestrator config")
    for name in ("CLAUDE_ORCHESTRATOR_DB", "CLAUDE_ORCHESTRATOR_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    with Orchestrator(repo) as orch:
        orch.init_store()
        trees = init_feature(orch, SPEC, worktrees=True).worktrees
    tree = Path(trees[f"feature/{SPEC}/impl-data"][0])
    answers = []
    for tool, tool_input in CALLS:
        payload = {"session_id": "s", "cwd": str(tree), "hook_event_name": "PreToolUse",
                   "tool_name": tool, "tool_input": tool_input}  # fmt: skip
        code, _message = guard("implementor", json.dumps(payload))
        answers.append(code)
    assert answers == [0, 2, 2, 0]
    with Orchestrator(tree) as orch:
        events = orch.recent(50, SPEC)
    guarded = [e for e in reversed(events) if e.event_type == "guard_decision"]
    varying = ("elapsed_ms", "record_id")  # a duration, a random id
    return [(e.role, e.message,
             {k: v for k, v in (e.metadata or {}).items() if k not in varying})
            for e in guarded]  # fmt: skip


def test_the_guard_logs_the_same_decisions_to_memory_and_sqlite(
    tmp_path: Path, memory_installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    on_sqlite = _scenario(make_repo(tmp_path / "sqlite"), "sqlite", monkeypatch)
    on_memory = _scenario(make_repo(tmp_path / "memory"), "memory", monkeypatch)
    assert len(on_sqlite) == len(CALLS)
    assert on_memory == on_sqlite
    assert not (tmp_path / "memory" / ".git" / "orchestrator" / "events.db").exists()
    assert os.path.exists(tmp_path / "sqlite" / ".git" / "orchestrator" / "events.db")
