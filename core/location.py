"""Where things are: the working tree, git's directories, the config and the store.

Git's layout is read from the file system (``.git`` directory or file, ``commondir``)
instead of by running ``git rev-parse``: this runs on every commit and every tool call,
and a process start costs more than the whole lookup.
"""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError

CONFIG_NAME = "orchestrator.yaml"
ENV_DB = "CLAUDE_ORCHESTRATOR_DB"
ENV_CONFIG = "CLAUDE_ORCHESTRATOR_CONFIG"
STORE_DIR = "orchestrator"
STORE_NAME = "events.db"
FALLBACK_DIR = ".orchestrator"


class Location(NamedTuple):
    """The places one invocation works with.

    :param cwd: where the command runs.
    :param root: the working tree's top directory (``cwd`` outside git).
    :param git_dir: this worktree's git directory (None outside git).
    :param common_dir: the git directory all worktrees share (None outside git).
    """

    cwd: Path
    root: Path
    git_dir: Path | None
    common_dir: Path | None

    @property
    def in_git(self) -> bool:
        return self.common_dir is not None

    @property
    def state_dir(self) -> Path:
        """Where the tool keeps its own files: ``<common dir>/orchestrator``."""
        if self.common_dir is not None:
            return self.common_dir / STORE_DIR
        return self.cwd / FALLBACK_DIR

    def default_store_path(self) -> Path:
        return self.state_dir / STORE_NAME

    def config_path(self, env: Mapping[str, str] | None = None) -> Path:
        env = os.environ if env is None else env
        override = env.get(ENV_CONFIG)
        if override:
            return (self.cwd / override).resolve()
        return self.root / CONFIG_NAME


def user_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The user's own directory for this tool (``$XDG_CACHE_HOME/claude-orchestrator``,
    default ``~/.cache/claude-orchestrator``): where what the tool's own processes must be
    able to trust goes -- the guard's parsed configurations, the store proxy's sockets.
    Claude Code's sandbox keeps it read-only (it writes the working directory only) and
    the guard refuses Write/Edit calls into it; the git directory, by contrast, is
    writable to code an implementor runs."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "claude-orchestrator"


def _read_gitfile(path: Path) -> Path | None:
    """The target of a ``.git`` file (``gitdir: <path>``), as written by worktrees."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    return target if target.is_absolute() else (path.parent / target)


def _common_dir(git_dir: Path) -> Path:
    """The common directory a worktree's git directory names (``commondir``).

    A linked worktree's git directory is ``<common dir>/worktrees/<name>``, where git puts
    it; one whose ``commondir`` names another place was changed by hand or by code an
    agent ran (every worktree's git directory is in the shared, writable common
    directory): ConfigError, rather than a store, config and hooks read from there.
    """
    commondir = git_dir / "commondir"
    try:
        text = commondir.read_text(encoding="utf-8").strip()
    except OSError:
        return git_dir
    target = Path(text)
    found = (target if target.is_absolute() else git_dir / target).resolve()
    resolved = git_dir.resolve()
    if resolved.parent.name == "worktrees" and found != resolved.parent.parent:
        raise ConfigError(
            f"{commondir} names {found} as this worktree's repository, not "
            f"{resolved.parent.parent}, where its git directory is: it was changed; "
            f"put ../.. back into it"
        )
    return found


def _looks_like_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (
        (path / "objects").is_dir() or (path / "commondir").is_file()
    )


def discover(cwd: Path | str | None = None, env: Mapping[str, str] | None = None) -> Location:
    """Find the working tree and git directories for ``cwd``.

    Honours ``GIT_DIR``, ``GIT_WORK_TREE`` and ``GIT_COMMON_DIR`` as git does (they are
    set when git runs a hook). Bare repositories count as "outside a working tree".
    """
    env = os.environ if env is None else env
    here = Path(cwd if cwd is not None else os.getcwd()).resolve()
    if not here.is_dir():
        raise ConfigError(f"not a directory: {here}")
    env_git_dir = env.get("GIT_DIR")
    if env_git_dir:
        git_dir = (here / env_git_dir).resolve()
        work_tree = env.get("GIT_WORK_TREE")
        root = (here / work_tree).resolve() if work_tree else here
        common = env.get("GIT_COMMON_DIR")
        common_dir = (here / common).resolve() if common else _common_dir(git_dir)
        return Location(here, root, git_dir, common_dir)
    for directory in (here, *here.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir() and _looks_like_git_dir(dot_git):
            return Location(here, directory, dot_git, _common_dir(dot_git))
        if dot_git.is_file():
            target = _read_gitfile(dot_git)
            if target is not None and target.is_dir():
                target = target.resolve()
                return Location(here, directory, target, _common_dir(target))
    return Location(here, here, None, None)
