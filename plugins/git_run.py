"""Running the git binary for the ``git`` VCS plugin: a clean environment, errors the
user can act on, and the base class the plugin's parts share."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from claude_orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    import subprocess

#: git's environment variables that would redirect a command to another repository
#: (git sets some of them when it runs a hook).
GIT_ENV_OVERRIDES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_NAMESPACE",
)  # fmt: skip
MERGE_TREE_STDIN = (2, 39)
MIN_GIT = (2, 38)


class GitError(OrchestratorError):
    """A git command failed in a way the user has to fix (exit 2)."""


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in GIT_ENV_OVERRIDES}
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


def parse_version(text: str) -> tuple[int, int]:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


class GitBase:
    """The repository at ``root`` and how to run git in it."""

    def __init__(self, root: Path, common_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.common_dir = common_dir
        self._version: tuple[int, int] | None = None

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        die_with_us: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run git in the repository.

        :param die_with_us: on Linux, git is killed when this process dies (a killed
            ``merge-pr`` must not leave a git still changing the work tree while the next
            one repairs it).
        """
        import subprocess  # here: the hook path often reads git's files and runs no git

        try:
            proc = subprocess.run(
                ["git", *args], cwd=self.root, env=clean_env(env), input=input,
                capture_output=True, text=True, encoding="utf-8", errors="replace",
                preexec_fn=_die_with_parent() if die_with_us else None,
            )  # fmt: skip
        except FileNotFoundError:
            raise GitError(
                "git is not installed or not on PATH: install git 2.38 or newer"
            ) from None
        if check and proc.returncode != 0:
            message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            detail = message[-1] if message else f"exit {proc.returncode}"
            raise GitError(f"git {args[0]} failed: {detail}")
        return proc

    def version(self) -> tuple[int, int]:
        if self._version is None:
            self._version = parse_version(self.run("--version").stdout)
        return self._version

    def require_merge_tree(self) -> None:
        if self.version() < MIN_GIT:
            have = ".".join(map(str, self.version()))
            raise GitError(
                f"git {have} is too old for conflict detection: `git merge-tree --write-tree` "
                "needs git 2.38 or newer; upgrade git"
            )

    def git_dir(self) -> Path:
        """This worktree's git directory (absolute)."""
        return Path(self.run("rev-parse", "--absolute-git-dir").stdout.removesuffix("\n"))

    def git_path(self, name: str) -> Path:
        """Where git keeps ``name`` (``hooks``, ``objects``...), absolute."""
        path = Path(self.run("rev-parse", "--git-path", name).stdout.removesuffix("\n"))
        return path if path.is_absolute() else (self.root / path).resolve()


def _die_with_parent() -> Callable[[], None] | None:
    """What the child runs before git starts, on Linux: SIGKILL when the parent dies
    (``PR_SET_PDEATHSIG``). Loaded here: nothing may be imported after a fork."""
    if sys.platform != "linux":
        return None
    import ctypes
    import signal

    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_death_signal() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)

    return set_death_signal


__all__ = ["GitBase", "GitError", "clean_env", "parse_version"]
