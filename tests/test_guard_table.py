"""Run the guard's decision table (tests/guard_cases.py) against a real repository.

The repository is built once per module: ``main``, the overseer branch and three
implementor branches each holding unmerged work, an ``origin`` remote, worktrees for the
overseer, ``impl-data`` and ``impl-api`` in the configured layout
(``<repo>-worktrees/<spec>/<agent>``), and a few symlinks for the realpath rows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import clean_env
from .guard_cases import (
    API,
    BYPASSES,
    CASES,
    DATA,
    IMPL,
    NEEDS_BASE_OUTSIDE_TMP,
    OTHER_FEATURE,
    OV,
    OVER,
    RED_TEAM,
    RED_TEAM_2,
    RED_TEAM_3,
    SPEC,
    UI,
    Case,
)

TOOLS = {"Bash", "Write", "Edit", "NotebookEdit"}
PLACEHOLDERS = ("{root}", "{other}", "{main}", "{tmp}")

FILES = {
    "README.md": "demo\n",
    "pyproject.toml": "[project]\nname = 'reading-app'\n",
    "orchestrator.yaml": "version: 1\n",
    "src/a.py": "a = 1\n",
    "tests/test_a.py": "def test_a():\n    assert True\n",
    "state/overseer.md": "# overseer\n",
    "state/impl-data.md": "# impl-data\n",
    f"specs/{SPEC}/tasks.md": "- [ ] T001 data layer\n",
    "specs/004-other/tasks.md": "- [ ] T001\n",
    ".claude/settings.json": "{}\n",
    ".github/workflows/ci.yml": "name: ci\n",
    "docs/index.md": "# docs\n",
}


@dataclass(frozen=True)
class World:
    main: Path  # the main working tree (on main)
    trees: dict[str, Path]  # role -> its own worktree
    branches: dict[str, str]  # role -> its branch
    other: Path  # the impl-api worktree
    tmp: Path  # a scratch directory under the system temp dir, outside the repository
    home: Path  # $HOME during the calls
    outside_temp: bool  # the repository is not under /tmp or $TMPDIR

    def root(self, role: str) -> Path:
        return self.trees[role]

    def expand(self, text: str, role: str) -> str:
        values = {
            "{root}": self.root(role),
            "{other}": self.other,
            "{main}": self.main,
            "{tmp}": self.tmp,
        }
        for placeholder, value in values.items():
            text = text.replace(placeholder, str(value))
        return text


def _git(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return proc.stdout.strip()


def _inside(path: str, roots: set[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _base_dir(factory: pytest.TempPathFactory) -> tuple[Path, bool]:
    """Where to build the repository: outside /tmp and $TMPDIR when possible, since the
    guard allows writes there and a few rows write next to the worktrees."""
    temp_roots = {os.path.realpath(p) for p in ("/tmp", tempfile.gettempdir())}
    candidate = "/var/tmp"
    real = os.path.realpath(candidate)
    if os.path.isdir(real) and os.access(real, os.W_OK) and not _inside(real, temp_roots):
        return Path(tempfile.mkdtemp(prefix="guard-table-", dir=real)).resolve(), True
    return factory.mktemp("guard-table").resolve(), False


def _build(base: Path, scratch: Path, outside_temp: bool) -> World:
    home = base / "home"
    home.mkdir()
    env = clean_env(HOME=str(home))
    main = base / "reading-app"
    main.mkdir()
    _git(main, env, "init", "-q", "-b", "main")
    for name, text in FILES.items():
        path = main / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(main, env, "add", "-A")
    _git(main, env, "commit", "-q", "-m", "initial")
    _git(main, env, "branch", OV)
    _git(main, env, "branch", "feature/004-other/overseer")
    _git(main, env, "branch", OTHER_FEATURE)
    for branch in (DATA, API, UI):  # every implementor branch holds unmerged work
        area = branch.rsplit("impl-", 1)[1]
        _git(main, env, "checkout", "-q", "-b", branch, OV)
        (main / "src" / f"{area}.py").write_text(f"{area} = 1\n")
        _git(main, env, "add", "-A")
        _git(main, env, "commit", "-q", "-m", f"T001: {area} work")
    _git(main, env, "checkout", "-q", "main")
    origin = base / "origin.git"
    _git(base, env, "init", "-q", "--bare", str(origin))
    _git(main, env, "remote", "add", "origin", str(origin))
    _git(main, env, "push", "-q", "origin", "--all")
    _git(main, env, "fetch", "-q", "origin")
    trees_dir = base / "reading-app-worktrees" / SPEC
    trees_dir.mkdir(parents=True)
    paths = {"overseer": OV, "impl-data": DATA, "impl-api": API}
    for name, branch in paths.items():
        _git(main, env, "worktree", "add", "-q", str(trees_dir / name), branch)
    data = trees_dir / "impl-data"
    (data / "src" / "claude_link").symlink_to("../.claude")
    (data / "src" / "escape").symlink_to(main)
    (scratch / "repo_link").symlink_to(data / ".claude")
    (scratch / "msg.txt").write_text("T001: a message\n")
    for name, target in (("fix.diff", "src/a.py"), ("readme.diff", "README.md")):
        (scratch / name).write_text(
            f"diff --git a/{target} b/{target}\n--- a/{target}\n+++ b/{target}\n"
            "@@ -1 +1 @@\n-a = 1\n+a = 2\n"
        )
    return World(
        main=main,
        trees={IMPL: data, OVER: trees_dir / "overseer"},
        branches={IMPL: DATA, OVER: OV},
        other=trees_dir / "impl-api",
        tmp=scratch,
        home=home,
        outside_temp=outside_temp,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base, outside_temp = _base_dir(tmp_path_factory)
    scratch = Path(tempfile.mkdtemp(prefix="guard-scratch-")).resolve()
    try:
        yield _build(base, scratch, outside_temp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if outside_temp:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def decide() -> Callable[..., Any]:
    # Imported here so the table collects while the guard is being written.
    from claude_orchestrator.guard import decide

    return decide


@pytest.fixture
def guard_env(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(world.home))


def payload(case: Case, world: World) -> dict[str, Any]:
    root = world.root(case.role)
    cwd = str(root / case.cwd)
    text = world.expand(case.input, case.role)
    tool_input: dict[str, Any]
    if case.tool == "Bash":
        tool_input = {"command": text}
    else:
        # Not normalised: `..` must reach the guard as written.
        path = text if os.path.isabs(text) else os.path.join(cwd, text)
        if case.tool == "Write":
            tool_input = {"file_path": path, "content": "x"}
        elif case.tool == "Edit":
            tool_input = {"file_path": path, "old_string": "a", "new_string": "b"}
        else:
            tool_input = {"notebook_path": path, "new_source": "x"}
    return {
        "session_id": "t",
        "cwd": cwd,
        "hook_event_name": "PreToolUse",
        "tool_name": case.tool,
        "tool_input": tool_input,
    }


@pytest.mark.parametrize(
    "case",
    CASES + BYPASSES + RED_TEAM + RED_TEAM_2 + RED_TEAM_3,
    ids=[c.id for c in CASES + BYPASSES + RED_TEAM + RED_TEAM_2 + RED_TEAM_3],
)
@pytest.mark.usefixtures("guard_env")
def test_guard_table(case: Case, world: World, decide: Callable[..., Any]) -> None:
    if case.id in NEEDS_BASE_OUTSIDE_TMP and not world.outside_temp:
        pytest.skip("the repository could not be placed outside /tmp and $TMPDIR")
    from claude_orchestrator.config import default_config

    data = payload(case, world)
    decision = decide(
        data,
        role=case.role,
        root=world.root(case.role),
        branch=world.branches[case.role],
        config=default_config(),
    )
    allowed, reason = decision
    shown = data["tool_input"].get("command") or data["tool_input"]
    verdict = "allow" if case.allow else "deny"
    why = f" ({case.note})" if case.note else ""
    assert allowed == case.allow, (
        f"{case.role} {case.tool} {shown!r}: expected {verdict}{why}; got {decision!r}"
    )
    if not allowed:
        assert reason.strip(), f"empty deny reason for {shown!r}"
        assert "\n" not in reason.strip(), f"deny reason is not one line: {reason!r}"
        if case.because:
            assert case.because in reason, f"{case.because!r} not in {reason!r}"


def test_table_is_well_formed() -> None:
    ids = [c.id for c in CASES + BYPASSES + RED_TEAM + RED_TEAM_2 + RED_TEAM_3]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(CASES) >= 150
    assert {c.role for c in CASES} == {IMPL, OVER}
    for role in (IMPL, OVER):
        assert {c.allow for c in CASES if c.role == role} == {True, False}, role
    assert {c.tool for c in CASES} == TOOLS
    for c in CASES + BYPASSES + RED_TEAM + RED_TEAM_2 + RED_TEAM_3:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", c.id), c.id
        assert c.input, c.id
        assert not c.cwd.startswith("/"), c.id
        assert not (c.allow and c.because), f"{c.id}: `because` on an allowed row"
        for name in re.findall(r"(?<!@)\{([a-z]+)\}", c.input):
            assert f"{{{name}}}" in PLACEHOLDERS, f"{c.id}: unknown placeholder {name}"
    assert set(NEEDS_BASE_OUTSIDE_TMP) <= set(ids)


def test_table_covers_each_bypass_family() -> None:
    ids = {c.id for c in CASES}
    families = {
        "git global options": ["merge-C-dot", "merge-no-pager", "merge-c-pager", "merge-git-dir"],
        "git aliases": ["merge-alias", "merge-alias-shell", "config-alias"],
        "quoting": ["merge-quoted-git", "merge-backslash-git", "merge-split-quote-git"],
        "wrappers": ["merge-env", "merge-command", "merge-timeout", "merge-nice-n", "merge-xargs"],
        "assignments": ["merge-assignment"],
        "lists": ["merge-after-and", "merge-after-or", "merge-after-semicolon"],
        "groups": ["merge-subshell", "merge-brace-group"],
        "substitutions": ["merge-dollar-subst", "merge-backtick-subst"],
        "shell -c": ["merge-bash-c", "merge-sh-c", "bash-c-dynamic"],
        "unanalysable": ["eval-merge", "var-command", "python-c-system", "node-e", "perl-e"],
        "pull": ["pull", "pull-origin-main", "git-pull-rebase-overseer"],
        "checkout": ["checkout-main", "switch-overseer", "checkout-B-main"],
        "branch": ["branch-f-main", "branch-D-sibling", "branch-m-overseer"],
        "push": ["push-main", "push-head-main", "push-delete-colon-sibling", "push-mirror"],
        "refs": ["update-ref-main", "symbolic-ref-main", "fetch-into-main"],
        "rebase --exec": ["rebase-exec-merge"],
        "gh": ["gh-pr-merge", "gh-api-merge-put", "gh-api-graphql-merge"],
        "file tools": ["write-config", "write-dotdot-config", "write-other-worktree"],
        "shell writes": ["shell-redirect-config", "shell-tee-workflow", "shell-dd-config"],
        "cd": ["shell-cd-src-up-config", "shell-cd-parent-write"],
        "symlinks": ["write-symlink-claude", "write-tmp-symlink-into-repo"],
        "other worktrees": ["git-C-other-commit", "edit-main-tree"],
        "sudo": ["sudo-rm"],
        "overseer": ["ov-merge-impl", "ov-push-force-main", "ov-branch-D-impl", "ov-eval"],
    }
    missing = {family: [i for i in want if i not in ids] for family, want in families.items()}
    assert not {f: m for f, m in missing.items() if m}
