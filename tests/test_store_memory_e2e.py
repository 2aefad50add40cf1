"""One scenario -- init-feature, sync-status, detect-conflicts, open-pr, the guard and
merge-pr on the local forge -- driven in-process through the library on the SQLite store
and on the memory store (examples/memory-store, which does not persist across processes
and is only the persistence port): both log the same events, in the same order, with the
same words. The guard finds the memory plugin as any installed plugin is found, by its
entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.config import write_template
from claude_orchestrator.conflict_scan import detect_conflicts
from claude_orchestrator.feature_setup import init_feature
from claude_orchestrator.guard_hook import run as guard
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.prs import merge_pr, open_pr
from claude_orchestrator.workflow import sync_status

from .conftest import git, make_repo
from .test_store_memory import load_memory_plugin
from .test_store_memory_guard import memory_installed  # noqa: F401 - a fixture
from .test_workflow_setup import TASKS, commit

SPEC = "004-same-events"
OVERSEER, DATA, API = (f"feature/{SPEC}/{b}" for b in ("overseer", "impl-data", "impl-api"))


def _scenario(repo: Path, store: str) -> list[tuple[Any, ...]]:
    registry = PluginRegistry(entrypoints=False)
    registry.register(load_memory_plugin(), name="memory", version="1.0.0")

    def orchestrator(cwd: Path) -> Orchestrator:
        return Orchestrator(cwd, registry=registry, env={})

    config = repo / "orchestrator.yaml"
    write_template(config, ["data", "api"])
    config.write_text(config.read_text().replace("store: sqlite", f"store: {store}"))
    git(repo, "add", "orchestrator.yaml")
    git(repo, "commit", "-q", "-m", "orchestrator config")  # every worktree reads it
    with orchestrator(repo) as orch:
        orch.init_store()
        trees = {
            b: Path(p) for b, (p, _) in init_feature(orch, SPEC, worktrees=True).worktrees.items()
        }
    commit(trees[OVERSEER], f"specs/{SPEC}/tasks.md", TASKS, "tasks for the feature")
    for branch in (DATA, API):
        git(trees[branch], "rebase", "-q", OVERSEER)
    commit(trees[DATA], "src/shared.py", "data\n", "T001: model")
    commit(trees[DATA], "src/models.py", "x = 1\n", "T001 done")
    commit(trees[API], "src/shared.py", "api\n", "T002: blocked: waits for the model")
    for branch in (DATA, API):
        with orchestrator(trees[branch]) as orch:
            sync_status(orch)
    with orchestrator(repo) as orch:
        detect_conflicts(orch)
    with orchestrator(trees[DATA]) as orch:
        pr = open_pr(orch)
    for command, verdict in (("git status", 0), ("git merge main", 2)):
        payload = {"session_id": "s", "cwd": str(trees[DATA]), "hook_event_name": "PreToolUse",
                   "tool_name": "Bash", "tool_input": {"command": command}}  # fmt: skip
        assert guard("implementor", json.dumps(payload))[0] == verdict
    git(trees[API], "reset", "-q", "--hard", OVERSEER)  # the API side gives up its change
    with orchestrator(repo) as orch:
        detect_conflicts(orch)
    with orchestrator(trees[OVERSEER]) as orch:
        merge_pr(orch, pr.id)
        assert orch.store.location.startswith("memory:") == (store == "memory")
        events = orch.store.events_after(SPEC)
        states = [(t.task_id, t.status, t.role) for t in orch.store.task_states(SPEC)]
    return [
        (e.event_type, e.role, e.task_id, e.message, _kept(e.metadata)) for e in events
    ] + states


def _kept(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """An event's metadata without what differs by chance (a guard record's random id)."""
    return {k: v for k, v in metadata.items() if k != "record_id"} if metadata else metadata


@pytest.mark.usefixtures("memory_installed")  # the guard finds the plugin by its entry point
def test_sqlite_and_memory_log_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("CLAUDE_ORCHESTRATOR_ROLE", "CLAUDE_ORCHESTRATOR_DB"):
        monkeypatch.delenv(variable, raising=False)
    sqlite = _scenario(make_repo(tmp_path / "sqlite"), "sqlite")
    memory = _scenario(make_repo(tmp_path / "memory"), "memory")
    kinds = [row[0] for row in sqlite]
    for expected in ("feature_created", "task_completed", "task_blocked", "conflict_detected",
                     "conflict_resolved", "pr_opened", "guard_decision", "pr_merged",
                     "task_merged"):  # fmt: skip
        assert expected in kinds, sqlite
    assert memory == sqlite
