"""The guard reaches version control through the configured VCS plugin (``plugins.vcs`` of
the config committed on the overseer branch) and the VCS protocol, never by importing the
git plugin; and no module of the core imports a plugin module."""

from __future__ import annotations

import ast
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import claude_orchestrator
from claude_orchestrator.plugins.git_vcs import GitVCS

from .conftest import Result, Run, clean_env
from .test_vcs_protocol_only import ProtocolOnly
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]

PLUGIN = '''
"""A VCS plugin for the tests: git, plus the worktrees its options list."""
from pathlib import Path

from claude_orchestrator import hookimpl
from claude_orchestrator.plugins.git_vcs import GitVCS


class ListedGit(GitVCS):
    extra: dict[str, Path] = {}

    def worktrees(self) -> dict[str, Path]:
        return {**super().worktrees(), **self.extra}


def build(context):
    vcs = ListedGit(context.root, context.common_dir)
    vcs.extra = {b: Path(p) for b, p in context.options.get("worktrees", {}).items()}
    return vcs


@hookimpl
def register_vcs(register):
    register("listed-git", build, description="git and listed worktrees")
'''


@pytest.fixture(scope="module")
def vcs_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A distribution offering the VCS ``listed-git`` through the entry-point group."""
    site = tmp_path_factory.mktemp("vcs-site")
    (site / "listed_git_vcs.py").write_text(PLUGIN)
    info = site / "listed_git_vcs-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: listed-git-vcs\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[claude_orchestrator]\nlisted = listed_git_vcs\n")
    return site


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory in /tmp but outside the repository's part of it: scratch space an
    implementor may write (unless it is a worktree of the repository)."""
    path = Path(tempfile.mkdtemp(prefix="guard-vcs-")).resolve()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write(cli: Run, tree: Path, role: str, path: Path, env: dict[str, str]) -> Result:
    tool_input = {"file_path": str(path), "content": "x"}
    payload = {"session_id": "s", "cwd": str(tree), "hook_event_name": "PreToolUse",
               "tool_name": "Write", "tool_input": tool_input}  # fmt: skip
    return cli("guard", "--role", role, cwd=tree, env=env, stdin=json.dumps(payload))


def test_the_guard_knows_the_worktrees_the_configured_vcs_reports(
    cli: Run, feature: dict[str, Path], vcs_site: Path, scratch: Path
) -> None:
    tree = feature["impl-data"]
    other = scratch / "other"
    other.mkdir()
    env = clean_env(PYTHONPATH=str(vcs_site))
    assert write(cli, tree, "implementor", other / "notes.txt", env).code == 0  # scratch space
    config = (f"version: 1\nplugins:\n  vcs: listed-git\n  options:\n    listed-git:\n"
              f"      worktrees: {{feature/{SPEC}/impl-extra: '{other}'}}\n")  # fmt: skip
    commit(feature["overseer"], "orchestrator.yaml", config, "the VCS plugin lists a worktree")
    result = write(cli, tree, "implementor", other / "notes.txt", env)
    assert result.code == 2 and "in another worktree or the git directory" in result.err, result
    assert write(cli, tree, "implementor", scratch / "mine.txt", env).code == 0


def test_a_vcs_plugin_that_is_not_installed_denies_the_implementor(
    cli: Run, feature: dict[str, Path], scratch: Path
) -> None:
    tree = feature["impl-data"]
    commit(feature["overseer"], "orchestrator.yaml", "version: 1\nplugins:\n  vcs: no-such-vcs\n",
           "a VCS plugin nobody installed")  # fmt: skip
    env = clean_env(CLAUDE_ORCHESTRATOR_PLUGINS="")
    result = write(cli, tree, "implementor", scratch / "notes.txt", env)
    assert result.code == 2 and result.out == "", result
    assert len(result.err.strip().splitlines()) == 1, result
    assert "unknown vcs 'no-such-vcs'" in result.err and "the overseer fixes it" in result.err
    # the overseer still gets decisions (from the default rules), so it can fix the config
    overseer = feature["overseer"]
    result = write(cli, overseer, "overseer", overseer / "orchestrator.yaml", env)
    assert result.code == 0, result


def test_decide_builds_the_configured_vcs_plugin(feature: dict[str, Path]) -> None:
    from claude_orchestrator.config import Config, default_config
    from claude_orchestrator.guard import decide

    tree = feature["impl-data"]
    payload = {"tool_name": "Bash", "tool_input": {"command": "git status"}, "cwd": str(tree)}
    branch = f"feature/{SPEC}/impl-data"
    default = default_config()
    allowed = decide(payload, role="implementor", root=tree, branch=branch, config=default)
    assert allowed.allowed, allowed
    data = default.to_dict()
    data["plugins"]["vcs"] = "no-such-vcs"
    denied = decide(payload, role="implementor", root=tree, branch=branch, config=Config(data))
    assert not denied.allowed and "unknown vcs 'no-such-vcs'" in denied.reason, denied


class ListingProtocolOnly(ProtocolOnly):
    """Exactly the VCS protocol (git underneath), listing one more worktree."""

    def __init__(self, inner: GitVCS, extra: dict[str, Path]) -> None:
        super().__init__(inner)
        self.extra = extra

    def worktrees(self) -> dict[str, Path]:
        return {**self._inner.worktrees(), **self.extra}


def test_the_guard_asks_the_vcs_only_what_the_protocol_offers(
    feature: dict[str, Path], scratch: Path
) -> None:
    """Worktrees, refs and the files a cherry-pick brings: all through the protocol."""
    from claude_orchestrator.config import default_config
    from claude_orchestrator.guard import decide

    tree = feature["impl-data"]
    other = scratch / "other"
    other.mkdir()
    vcs = ListingProtocolOnly(GitVCS(tree), {"elsewhere": other})
    outside = commit(feature["impl-api"], "README.md", "changed\n", "outside the paths")
    inside = commit(feature["impl-api"], "src/api.py", "x = 1\n", "inside the paths")

    def decision(tool: str, tool_input: dict[str, str]) -> tuple[bool, str]:
        payload = {"tool_name": tool, "tool_input": tool_input, "cwd": str(tree)}
        return decide(payload, role="implementor", root=tree, config=default_config(),
                      branch=f"feature/{SPEC}/impl-data", vcs=vcs)  # fmt: skip

    allowed, reason = decision("Write", {"file_path": str(other / "x.txt"), "content": "x"})
    assert not allowed and "in another worktree or the git directory" in reason, reason
    assert decision("Write", {"file_path": str(scratch / "x.txt"), "content": "x"}) == (True, "")
    allowed, reason = decision("Bash", {"command": f"git cherry-pick {outside}"})
    assert not allowed and "outside the paths this role may write" in reason, reason
    assert decision("Bash", {"command": f"git cherry-pick {inside}"}) == (True, "")


def _is_plugin(name: str) -> bool:
    return name == "claude_orchestrator.plugins" or name.startswith("claude_orchestrator.plugins.")


def _plugin_imports(path: Path, package: str) -> list[str]:
    """``line: module`` for each import in ``path`` (a module of ``package``) that
    reaches a plugin module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        hits = [name for name in names if _is_plugin(name)]
        if hits:
            found.append(f"{path.name}:{node.lineno}: {hits[0]}")
    return found


def test_the_core_imports_no_plugin_module() -> None:
    core = Path(claude_orchestrator.__file__).parent
    modules = sorted(p for p in core.rglob("*.py") if "plugins" not in p.relative_to(core).parts)
    assert len(modules) > 50  # the core, cli/ included
    found = []
    for path in modules:
        parts = path.relative_to(core).with_suffix("").parts
        package = ".".join(["claude_orchestrator", *parts[:-1]])
        found += _plugin_imports(path, package)
    assert found == []


def test_the_import_check_sees_each_way_of_importing_a_plugin(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from .plugins.git_vcs import GitVCS\nfrom . import plugins\n"
                      "import claude_orchestrator.plugins.git_run\n"
                      "from ..plugins import git_vcs\nfrom .pluginsx import y\n")  # fmt: skip
    assert _plugin_imports(module, "claude_orchestrator") == [
        "m.py:1: claude_orchestrator.plugins.git_vcs", "m.py:2: claude_orchestrator.plugins",
        "m.py:3: claude_orchestrator.plugins.git_run"]  # fmt: skip
    assert _plugin_imports(module, "claude_orchestrator.cli") == [
        "m.py:3: claude_orchestrator.plugins.git_run",
        "m.py:4: claude_orchestrator.plugins",
    ]
