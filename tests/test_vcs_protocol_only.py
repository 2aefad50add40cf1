"""The core talks to version control only through the VCS protocol: with a VCS plugin
that offers nothing else (no ``run``, no private helpers), every command that needs the
repository still works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator, hookimpl
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.plugins.git_vcs import GitVCS
from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.protocols_vcs import VCS

from .conftest import git
from .test_workflow_setup import SPEC, TASKS, commit

#: what the protocol offers, and nothing else
PROTOCOL = frozenset(n for n in dir(VCS) if not n.startswith("_"))


class ProtocolOnly:
    """A VCS with exactly the protocol's methods (git underneath)."""

    def __init__(self, inner: GitVCS) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name not in PROTOCOL:
            raise AttributeError(f"{name!r} is not part of the VCS protocol")
        return getattr(self._inner, name)


class StrictPlugin:
    @hookimpl
    def register_vcs(self, register: Any) -> None:
        def build(context: PluginContext) -> ProtocolOnly:
            return ProtocolOnly(GitVCS(context.root, context.common_dir))

        register("protocol-only", build)


def _orch(cwd: Path, registry: PluginRegistry) -> Orchestrator:
    return Orchestrator(cwd, registry=registry, env={})


@pytest.fixture
def strict(repo: Path, monkeypatch: pytest.MonkeyPatch) -> PluginRegistry:
    monkeypatch.delenv("CLAUDE_ORCHESTRATOR_ROLE", raising=False)
    registry = PluginRegistry(entrypoints=False)
    registry.register(StrictPlugin(), name="strict")
    (repo / "orchestrator.yaml").write_text("version: 1\nplugins:\n  vcs: protocol-only\n")
    git(repo, "add", "orchestrator.yaml")
    git(repo, "commit", "-q", "-m", "config")
    return registry


def test_feature_hooks_doctor_prs_and_scans_use_only_the_protocol(
    repo: Path, strict: PluginRegistry
) -> None:
    from claude_orchestrator import conflict_scan, doctor, feature_setup, hooks, prs

    with _orch(repo, strict) as orch:
        assert isinstance(orch.vcs(), ProtocolOnly)
        result = feature_setup.init_feature(orch, SPEC, areas=["data"], worktrees=True)
        assert "/state/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()
        assert all(s.installed for s in hooks.install(orch))
        assert all(s.current for s in hooks.status(orch))
        checks = {c.name: c for c in doctor.run_checks(orch)}
        assert checks["hooks"].ok and checks["worktrees"].ok, checks
    trees = {b.rsplit("/", 1)[1]: Path(p) for b, (p, _) in result.worktrees.items()}
    commit(trees["overseer"], f"specs/{SPEC}/tasks.md", TASKS, "tasks")
    git(trees["impl-data"], "rebase", "-q", f"feature/{SPEC}/overseer")
    commit(trees["impl-data"], "src/models.py", "x = 1\n", "T001 done")
    with _orch(trees["impl-data"], strict) as orch:
        assert not any(r.conflicted for r in conflict_scan.check_conflicts(orch))
        pr = prs.open_pr(orch)
    with _orch(trees["overseer"], strict) as orch:
        assert conflict_scan.detect_conflicts(orch)
        merged = prs.merge_pr(orch, pr.id)
        assert merged.status == "merged"
        assert not any(s.installed for s in hooks.uninstall(orch))
    assert (trees["overseer"] / "src" / "models.py").read_text() == "x = 1\n"
