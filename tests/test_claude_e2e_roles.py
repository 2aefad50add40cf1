"""The generated role files under the real Claude Code CLI, in a repository set up the way
a user sets one up.

One repository per module (per xdist worker): ``git init``, ``claude-orchestrator init``,
a test command that runs a script the agent wrote (``python3 tests/run.py``),
``init-feature 003-demo --worktrees``, the overseer's ``specs/003-demo/tasks.md``, and
``generate`` (committed on main, and run in each worktree, whose branches were cut before
it). Then ``claude -p --settings .claude/permissions-<role>.json`` runs in the role's
worktree against :class:`FakeModel`, which makes one scripted tool call, and each test
asserts what Claude Code itself did with it: ran it, denied it by a permission rule, or let
the guard hook block it (and which reason the model got back).

Every run also reads Claude Code's debug log to check that it loaded every rule of the
generated file: Claude Code drops a malformed rule, or the whole file, without a word in
``-p`` mode.

Needs ``.ci/install-claude.sh`` (skips without a ``claude``). The implementor's file enables
the sandbox with ``failIfUnavailable``, so Claude Code refuses to start without bubblewrap
and socat: the implementor runs need ``.ci/install-sandbox.sh`` and skip without them.
Tests do not depend on each other's order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.claude_cli import ClaudeRun, find_claude, run_claude
from tests.e2e.fake_model import FakeModel, block_text, blocks

from .conftest import clean_env, git
from .test_workflow_setup import commit

CLAUDE = find_claude()
BIN = Path(sys.executable).parent  # the venv's bin: the `claude-orchestrator` console script
CO = shutil.which("claude-orchestrator", path=str(BIN)) or shutil.which("claude-orchestrator")
SPEC = "003-demo"
OVERSEER_BRANCH = f"feature/{SPEC}/overseer"
IMPL_BRANCH = f"feature/{SPEC}/impl-data"
TEST_COMMAND = "python3 tests/run.py"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
GUARD_IMPLEMENTOR = "timeout 10 claude-orchestrator guard --role implementor || exit 2"
GUARD_OVERSEER = "timeout 10 claude-orchestrator guard --role overseer || exit 2"

# The agent's test script: tries the paths the sandbox protects and one it may write, and
# reports each outcome as a JSON line (errno and message when the write failed).
RUN_PY = """\
import json
import os

os.makedirs("src", exist_ok=True)
for path in ("state/overseer.md", "orchestrator.yaml", ".claude/x.json",
             ".github/workflows/x.yml", "src/ok2.py"):
    try:
        with open(path, "a") as f:
            f.write("# written by tests/run.py\\n")
        print(json.dumps({"path": path, "ok": True}))
    except OSError as exc:
        print(json.dumps({"path": path, "ok": False, "errno": exc.errno,
                          "error": exc.strerror}))
"""


def _sandbox_problem() -> str | None:
    """Why Claude Code's sandbox cannot run here (None when it can)."""
    missing = [tool for tool in ("bwrap", "socat") if shutil.which(tool) is None]
    if missing:
        return (
            f"{' and '.join(missing)} not installed: the implementor's file enables Claude "
            "Code's sandbox with failIfUnavailable, so Claude Code refuses to start; run "
            ".ci/install-sandbox.sh"
        )
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"bwrap cannot create a sandbox on this machine: {probe.stderr.strip()[:200]}"
    return None


SANDBOX_PROBLEM = _sandbox_problem()

pytestmark = pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code CLI not installed (npm unavailable?): run .ci/install-claude.sh",
)
needs_sandbox = pytest.mark.skipif(SANDBOX_PROBLEM is not None, reason=str(SANDBOX_PROBLEM))


# ------------------------------------------------------------------ the repository
def sh(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{args}: {proc.stdout[-500:]} {proc.stderr[-1000:]}"
    return proc.stdout.strip()


def co(cwd: Path, *args: str) -> str:
    assert CO, "the claude-orchestrator console script is not installed"
    return sh(cwd, CO, *args)


@dataclass
class World:
    main: Path
    origin: Path
    overseer: Path
    impl: Path
    scratch: Path  # outside every worktree: settings copies, debug logs

    def worktree(self, role: str) -> Path:
        return self.impl if role == "implementor" else self.overseer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("roles")
    main = base / "app"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    commit(main, "README.md", "demo\n", "initial")
    co(main, "init")
    co(main, "config", "set", "tests.implementor.unit", TEST_COMMAND)
    git(main, "add", "orchestrator.yaml")
    git(main, "commit", "-q", "-m", "orchestrator config")
    origin = base / "origin.git"
    git(base, "init", "-q", "--bare", str(origin))
    git(main, "remote", "add", "origin", str(origin))
    git(main, "push", "-q", "origin", "main")

    co(main, "init-feature", SPEC, "--worktrees")
    worktrees = base / "app-worktrees" / SPEC
    overseer, impl = worktrees / "overseer", worktrees / "impl-data"
    assert git(overseer, "branch", "--show-current") == OVERSEER_BRANCH
    assert git(impl, "branch", "--show-current") == IMPL_BRANCH
    commit(overseer, f"specs/{SPEC}/tasks.md", "# Tasks\n\n- [ ] T001 Model\n", "tasks")
    commit(impl, "tests/run.py", RUN_PY, "test runner")

    co(main, "generate")
    git(main, "add", "-A")
    git(main, "commit", "-q", "-m", "generated files")
    assert git(main, "status", "--porcelain") == ""
    for role, tree in (("overseer", overseer), ("implementor", impl)):
        co(tree, "generate")
        name = f".claude/permissions-{role}.json"
        # The same file as the one committed on main.
        assert (tree / name).read_text() == git(main, "show", f"HEAD:{name}") + "\n"
    scratch = base / "scratch"
    scratch.mkdir()
    return World(main, origin, overseer, impl, scratch)


# ------------------------------------------------------------------ running Claude Code
@dataclass
class Outcome:
    run: ClaudeRun
    fake: FakeModel
    debug: str  # Claude Code's debug log

    def sent_to_model(self) -> list[str]:
        """The tool_result texts of the scripted call, as the model received them."""
        return [
            block_text(block)
            for request in self.fake.requests
            for block in blocks(request.body, "user")
            if block.get("type") == "tool_result"
            and block.get("tool_use_id") == self.fake.tool_use_id
        ]

    def hook_ran(self, command: str) -> bool:
        return f"[{command}] finished with status" in self.debug


def settings_path(world: World, role: str) -> Path:
    return world.worktree(role) / ".claude" / f"permissions-{role}.json"


def without_hooks(world: World, role: str) -> Path:
    """A copy of the role's generated file without its guard hook, outside the worktree:
    what the permission rules alone decide."""
    document = json.loads(settings_path(world, role).read_text())
    del document["hooks"]
    path = world.scratch / f"rules-only-{role}.json"
    path.write_text(json.dumps(document))
    return path


def loaded_rules(debug: str) -> dict[str, list[str]]:
    """The rules Claude Code 2.1.330 took from ``--settings``, read from its debug log."""
    found: dict[str, list[str]] = {}
    pattern = r"Adding \d+ (allow|deny|ask) rule\(s\) to destination 'flagSettings': (\[.*\])"
    for kind, rules in re.findall(pattern, debug):
        found.setdefault(kind, []).extend(json.loads(rules))
    return found


def claude(
    world: World,
    role: str,
    tool_call: dict[str, Any],
    *more: dict[str, Any],
    settings: Path | None = None,
    path: str | None = None,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    env: dict[str, str] | None = None,
) -> Outcome:
    """Run ``claude -p`` in the role's worktree with its generated file (relative, as the
    runbooks say) and check that Claude Code loaded every rule of it. With ``more``
    calls, one session makes them all, in order (``on_result`` as in :class:`FakeModel`);
    ``env`` adds variables to Claude Code's environment."""
    cwd = world.worktree(role)
    chosen = settings or Path(".claude") / f"permissions-{role}.json"
    env = {**IDENTITY, "PATH": path or f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
           **(env or {})}  # fmt: skip
    with tempfile.NamedTemporaryFile(
        dir=world.scratch, prefix=f"debug-{role}-", suffix=".log", delete=False
    ) as handle:
        debug_file = Path(handle.name)
    calls = 1 + len(more)
    with FakeModel(tool_call, *more, on_result=on_result, lifetime=270 + 30 * calls,
                   max_requests=200 + 10 * calls) as fake:  # fmt: skip
        run = run_claude(
            cwd, chosen, fake, timeout=50 + 10 * calls, env=env,
            args=["--debug-file", str(debug_file)],
        )  # fmt: skip
    debug = debug_file.read_text(errors="replace") if debug_file.exists() else ""
    outcome = Outcome(run, fake, debug)
    if path is not None:  # a run expected to fail at start-up
        return outcome
    assert not run.timed_out, run
    assert run.returncode == 0, run
    assert fake.errors == [], fake.errors
    assert run.output is not None and run.output.get("result") == "Done.", run
    # Nothing of the generated file was dropped: every rule was loaded, none was skipped.
    document = json.loads((cwd / chosen).read_text())
    permissions = document["permissions"]
    wanted = {k: permissions[k] for k in ("allow", "deny") if permissions[k]}
    assert loaded_rules(debug) == wanted, debug[-3000:]
    assert "Invalid setting skipped" not in debug, debug[-3000:]
    assert "matches no known tool" not in debug, debug[-3000:]
    return outcome


def bash(command: str) -> dict[str, Any]:
    return {"name": "Bash", "input": {"command": command}}


def write(path: Path, content: str = "x = 1\n") -> dict[str, Any]:
    return {"name": "Write", "input": {"file_path": str(path), "content": content}}


def head(tree: Path, ref: str = "HEAD") -> str:
    return git(tree, "rev-parse", ref)


# ------------------------------------------------------------------ the implementor
@needs_sandbox
def test_implementor_commits(world: World) -> None:
    before = head(world.impl)
    outcome = claude(world, "implementor", bash('git commit --allow-empty -m "T001: model"'))
    assert outcome.run.decision == "ran", outcome.run
    assert not outcome.run.is_error, outcome.run
    assert outcome.hook_ran(GUARD_IMPLEMENTOR)  # the guard was asked, and allowed it
    assert git(world.impl, "log", "-1", "--format=%s") == "T001: model"
    assert head(world.impl, "HEAD~1") == before


BLOCKED_GIT = [
    ("git merge feature/003-demo/overseer", "implementors may not merge"),
    ("git -C . merge main", "implementors may not merge"),
    ("git push origin HEAD:main", "implementors may not push to main"),
]
BLOCKED_IDS = ["merge-overseer", "dash-C-merge-main", "push-to-main"]


@needs_sandbox
@pytest.mark.parametrize(("command", "reason"), BLOCKED_GIT, ids=BLOCKED_IDS)
def test_implementor_git_is_blocked_by_the_guard(world: World, command: str, reason: str) -> None:
    """The guard hook answers first; its reason is what the model reads back."""
    before = {ref: head(world.main, ref) for ref in (IMPL_BRANCH, "main", OVERSEER_BRANCH)}
    origin_main = head(world.origin, "main")
    outcome = claude(world, "implementor", bash(command))
    assert outcome.run.decision == "blocked", outcome.run
    assert outcome.run.reason.startswith(reason), outcome.run
    # The model got the reason in the tool_result it was sent back.
    sent = outcome.sent_to_model()
    assert sent and all(reason in text for text in sent), sent
    assert {ref: head(world.main, ref) for ref in before} == before
    assert head(world.origin, "main") == origin_main


@needs_sandbox
def test_implementor_may_not_write_the_config(world: World) -> None:
    target = world.impl / "orchestrator.yaml"
    before = target.read_text()
    outcome = claude(world, "implementor", write(target, "version: 2\n"))
    # The Edit deny rule refuses it in Claude Code's input check, before the hook runs.
    assert outcome.run.decision == "denied", outcome.run
    assert "denied by your permission settings" in outcome.run.text
    assert not outcome.hook_ran(GUARD_IMPLEMENTOR)
    assert target.read_text() == before


@needs_sandbox
def test_implementor_writes_its_own_paths(world: World) -> None:
    target = world.impl / "src" / "ok.py"
    outcome = claude(world, "implementor", write(target))
    assert outcome.run.decision == "ran", outcome.run
    assert outcome.hook_ran(GUARD_IMPLEMENTOR)
    assert target.read_text() == "x = 1\n"


@needs_sandbox
def test_implementor_write_outside_its_paths_is_blocked(world: World) -> None:
    target = world.impl / "docs" / "x.md"
    outcome = claude(world, "implementor", write(target))
    assert outcome.run.decision == "blocked", outcome.run
    assert "outside the paths this role may write" in outcome.run.reason
    assert not target.exists()
    rules_only = claude(
        world, "implementor", write(target), settings=without_hooks(world, "implementor")
    )
    assert rules_only.run.decision == "denied", rules_only.run
    assert "don't ask mode" in rules_only.run.text
    assert not target.exists()


@needs_sandbox
def test_sandbox_binds_the_test_command(world: World) -> None:
    """The test command is allowed, so the rules and the guard let it run; what the script
    then does is up to the sandbox: the protected paths stay unwritten, src/ is writable."""
    protected = {
        name: (world.impl / name).read_bytes()
        for name in ("orchestrator.yaml", ".claude/permissions-implementor.json")
    }
    outcome = claude(world, "implementor", bash(TEST_COMMAND))
    assert outcome.run.decision == "ran", outcome.run
    assert outcome.hook_ran(GUARD_IMPLEMENTOR)
    results = {
        line["path"]: line
        for line in map(json.loads, re.findall(r"^\{.*\}$", outcome.run.text, re.M))
    }
    assert results["src/ok2.py"]["ok"], results
    assert (world.impl / "src" / "ok2.py").read_text() == "# written by tests/run.py\n"
    # Files that exist are mounted read-only.
    for name in ("orchestrator.yaml", ".claude/x.json", ".github/workflows/x.yml"):
        assert results[name] == {
            "path": name,
            "ok": False,
            "errno": 30,
            "error": "Read-only file system",
        }, results
    # state/ is git-ignored and state/overseer.md does not exist in an implementor's
    # worktree; the sandbox still keeps the script from creating it.
    assert not results["state/overseer.md"]["ok"], results
    assert results["state/overseer.md"]["errno"] in (13, 30), results  # EACCES / EROFS
    assert not (world.impl / "state" / "overseer.md").exists()
    assert not (world.impl / ".claude" / "x.json").exists()
    assert not (world.impl / ".github" / "workflows" / "x.yml").exists()
    for name, data in protected.items():
        assert (world.impl / name).read_bytes() == data


@needs_sandbox
def test_sandbox_stubs_break_git_add_all(world: World) -> None:
    """Inside the sandbox, Claude Code 2.1.330 mounts stubs over dotfiles it protects
    (``.bashrc``, ``.gitconfig``...) in the working folder; ``git add -A`` then fails on them
    (they are not regular files). Gone again once the command ends. Agents must add paths
    by name."""
    try:
        outcome = claude(world, "implementor", bash("git add -A"))
    finally:
        git(world.impl, "reset", "-q")
    assert outcome.run.decision == "ran", outcome.run
    assert outcome.run.is_error
    assert "can only add regular files" in outcome.run.text, outcome.run
    assert not (world.impl / ".bashrc").exists()


def test_implementor_refuses_to_start_without_the_sandbox(world: World) -> None:
    """``failIfUnavailable``: without bubblewrap and socat (a PATH without them), Claude Code
    does not start at all rather than run the implementor unsandboxed."""
    outcome = claude(world, "implementor", bash("git status"), path=str(BIN))
    assert outcome.run.returncode != 0, outcome.run
    assert outcome.run.decision == "none", outcome.run
    assert "sandbox required but unavailable" in outcome.run.stderr, outcome.run
    assert outcome.fake.requests == []


# ------------------------------------------------------------------ the overseer
def test_overseer_merges_an_implementor_branch(world: World) -> None:
    impl_tip = head(world.main, IMPL_BRANCH)
    before = head(world.overseer)
    outcome = claude(world, "overseer", bash(f"git merge {IMPL_BRANCH} --no-edit"))
    assert outcome.run.decision == "ran", outcome.run
    assert not outcome.run.is_error, outcome.run
    assert outcome.hook_ran(GUARD_OVERSEER)
    parents = git(world.overseer, "log", "-1", "--format=%P").split()
    assert parents == [before, impl_tip]  # a merge commit
    assert (world.overseer / "tests" / "run.py").read_text() == RUN_PY


def test_overseer_may_not_force_push_main(world: World) -> None:
    origin_main = head(world.origin, "main")
    command = "git push --force origin main"
    outcome = claude(world, "overseer", bash(command))
    assert outcome.run.decision == "blocked", outcome.run
    assert outcome.run.reason == "nobody force-pushes or deletes main, the overseer included"
    assert head(world.origin, "main") == origin_main
    rules_only = claude(world, "overseer", bash(command), settings=without_hooks(world, "overseer"))
    assert rules_only.run.decision == "denied", rules_only.run
    assert rules_only.run.text == f"Permission to use Bash with command {command} has been denied."
    assert head(world.origin, "main") == origin_main


@pytest.fixture
def overseer_config(world: World) -> Iterator[Path]:
    """The overseer worktree's orchestrator.yaml, restored afterwards (the guard reads the
    worktree's copy too, so it must stay valid for the other tests)."""
    path = world.overseer / "orchestrator.yaml"
    yield path
    git(world.overseer, "checkout", "--", "orchestrator.yaml")


def test_overseer_writes_the_config(world: World, overseer_config: Path) -> None:
    text = overseer_config.read_text() + "# edited by the overseer\n"
    outcome = claude(world, "overseer", write(overseer_config, text))
    assert outcome.run.decision == "ran", outcome.run
    assert outcome.hook_ran(GUARD_OVERSEER)
    assert overseer_config.read_text() == text
