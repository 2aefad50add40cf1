"""Shared fixtures: real git repositories, the installed CLI as a subprocess, a fresh
plugin registry per test.

A repository a fixture prepares is built once per session (per xdist worker) as a
template and copied into each test that asks for it (:class:`Templates`): the copy is
the same repository, made by the same commands, for a fraction of their cost.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from claude_orchestrator import Orchestrator
from claude_orchestrator.manager import PluginRegistry
from tests.pg_fixtures import pg_admin_dsn, pg_dsn  # noqa: F401 - fixtures

#: No per-example deadline: many examples run git or SQLite, whose time depends on the
#: machine's load, and a deadline would make them flaky without testing anything.
settings.register_profile("claude-orchestrator", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "claude-orchestrator"))

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
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    @classmethod
    def of(cls, proc: subprocess.CompletedProcess[str]) -> Result:
        return cls(proc.returncode, proc.stdout, proc.stderr)

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


class Templates:
    """Folders built once per session by a function and copied into tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Path] = {}

    def copy(self, name: str, build: Callable[[Path], object], dest: Path) -> None:
        """Copy every entry of template ``name`` into the folder ``dest``, in place of
        what is there by that name; the first time, ``build(folder)`` makes it."""
        if name not in self.built:
            folder = self.root / name
            folder.mkdir()
            build(folder)
            self.built[name] = folder
        template = self.built[name]
        for entry in template.iterdir():
            if (dest / entry.name).exists():
                shutil.rmtree(dest / entry.name)
            shutil.copytree(entry, dest / entry.name, symlinks=True)
        for entry in template.iterdir():
            _relink(dest / entry.name, str(template), str(dest))


def _relink(repo: Path, old: str, new: str) -> None:
    """Point the links between ``repo`` (copied from under ``old`` to under ``new``) and
    its linked worktrees at the copies: ``.git/worktrees/*/gitdir`` and the worktree's
    ``.git`` file it names, the only absolute paths git keeps. Not `git worktree repair`:
    it follows the links and would repair the template."""
    for gitdir in repo.glob(".git/worktrees/*/gitdir"):
        target = gitdir.read_text().replace(old, new)
        assert target.startswith(new), f"{gitdir}: {target!r} is not under {new}"
        gitdir.write_text(target)
        dot_git = Path(target.strip())
        if dot_git.is_file():
            dot_git.write_text(dot_git.read_text().replace(old, new))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection made (the modules, the test functions, their parameters) out
    of the garbage collector's sight: every in-process CLI call ends with a full
    ``gc.collect()``, which otherwise walks that whole heap (~80 ms with the suite
    collected) to find what the command left. What the tests make is collected as
    before."""
    gc.collect()
    gc.freeze()


def _proxy_daemons_under(root: Path) -> list[int]:
    """The store proxy daemons (``python -m claude_orchestrator.store_proxy``) holding a
    file open under ``root``: those this session's tests started."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"claude_orchestrator.store_proxy" not in (proc / "cmdline").read_bytes():
                continue
            if any(str(root) in os.readlink(fd) for fd in (proc / "fd").iterdir()):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="session", autouse=True)
def _user_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user's cache directory (``XDG_CACHE_HOME``: the guard's config cache, the store
    proxy's sockets) is the session's (worker's) own, for every command the tests run.
    Commands on a postgres store start store proxy daemons there; they would idle out
    after minutes: stop them when the session ends."""
    cache = tmp_path_factory.mktemp("cache", numbered=False)
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield
    root = tmp_path_factory.getbasetemp()
    for pid in _proxy_daemons_under(root):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("templates"))


@pytest.fixture
def repo(tmp_path: Path, templates: Templates) -> Path:
    """A git repository with one commit on main."""
    templates.copy("repo", lambda folder: make_repo(folder / "repo"), tmp_path)
    return tmp_path / "repo"


class _Text(io.StringIO):
    """A captured stream that looks like a terminal-less text file (as a pipe is)."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return False


#: arguments that need a process of their own: the hook path ends the process when its
#: time budget runs out; run-tests hands its standard streams to the test runners
_OWN_PROCESS = {"--from-hook", "run-tests"}


def _own_process(args: Sequence[str], env: dict[str, str]) -> bool:
    """Whether a call must be a process of its own: see ``_OWN_PROCESS``, and an
    environment that changes how Python starts (``PYTHONPATH`` for a plugin to find)."""
    started = {k: v for k, v in os.environ.items() if k.startswith("PYTHON")}
    wanted = {k: v for k, v in env.items() if k.startswith("PYTHON")}
    return bool(_OWN_PROCESS.intersection(args)) or started != wanted


def run_in_process(
    args: Sequence[str], cwd: Path, env: dict[str, str], stdin: str | None = None
) -> Result:
    """Run ``claude-orchestrator ARGS`` in this process: the same entry point as the console
    script (``__main__.main``), with the environment, working directory and standard
    streams of a process of its own, restored afterwards."""
    from claude_orchestrator.__main__ import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved = sys.stdin, sys.stdout, sys.stderr
    out, err = _Text(), _Text()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin or ""), out, err
    try:
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        gc.collect()  # close what the command opened, as an exit would (SQLite checkpoints)
        sys.stdin, sys.stdout, sys.stderr = saved
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return Result(code, out.getvalue(), err.getvalue())


def run_process(
    args: Sequence[str], cwd: Path, env: dict[str, str], stdin: str | None = None
) -> Result:
    """Run the installed console script as a process of its own."""
    assert CLI, "the claude-orchestrator console script is not installed"
    proc = subprocess.run([CLI, *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    return Result.of(proc)


@pytest.fixture
def cli(repo: Path) -> Run:
    """Run ``claude-orchestrator`` in ``repo`` (or ``cwd=``): in-process (a process start
    costs more than most commands), except where a process of its own is the point."""

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> Result:
        env = env or clean_env()
        runner = run_process if _own_process(args, env) else run_in_process
        return runner(args, cwd or repo, env, stdin)

    return run


@pytest.fixture
def cli_process(repo: Path) -> Run:
    """Like ``cli``, always as a process of its own (the console script itself)."""

    def run(
        *args: str,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> Result:
        return run_process(args, cwd or repo, env or clean_env(), stdin)

    return run


def _initialize(folder: Path) -> None:
    repo = make_repo(folder / "repo")
    assert run_in_process(["init"], repo, clean_env()).code == 0
    args = ["events", "add-feature", "003-reading-goals", "Reading goals"]
    result = run_in_process(args, repo, clean_env())
    assert result.code == 0, result


@pytest.fixture
def initialized(repo: Path, templates: Templates) -> Path:
    """``repo`` after ``init`` and ``add-feature 003-reading-goals``."""
    templates.copy("initialized", _initialize, repo.parent)
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


# One Chromium per session and worker for every module (two sync_playwright at once in one
# thread fail); imported last: tests.browser uses this module's helpers.
from tests.browser import browser_fixture, page_fixture  # noqa: E402, F401 - fixtures
