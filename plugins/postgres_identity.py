"""Which project (repository) a PostgreSQL store's rows belong to.

One database holds the records of several repositories; each repository's are scoped by
its identity: the configured ``project`` name, or else the repository's root commit
(the oldest parentless commit of ``HEAD``), which every clone of it shares and no other
repository has. The root commit is looked up with git once and kept in
``<git common dir>/orchestrator/postgres-project``, so the hook path pays a small file
read, not a git process; every worktree of a clone reads the same file.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from claude_orchestrator.errors import StoreError
from claude_orchestrator.location import STORE_DIR

CACHE_NAME = "postgres-project"
#: root commits are kept as ``git:<id>``; a configured name has no ``:``, so the two
#: never collide
ROOT_PREFIX = "git:"
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_GIT_TIMEOUT_S = 30.0


class Repository(NamedTuple):
    """A repository whose records a store holds, as its config names it: the configured
    project (None: the first commit), git's common directory, and the config's
    ``plugins.options.postgres`` (``events migrate`` copies into its project)."""

    project: str | None = None
    common_dir: Path | None = None
    options: Mapping[str, Any] = {}


def identity(configured: str | None, common_dir: Path | None, *, cache: bool = True) -> str:
    """The project's identity: ``configured``, else ``git:<root commit>`` (kept in the
    cache file unless ``cache`` is False: ``events migrate`` writes nothing of the
    repository's)."""
    if configured:
        return configured
    if common_dir is None:
        raise StoreError(
            "outside a git repository the postgres store needs a project name: set "
            "`project: NAME` in orchestrator.yaml"
        )
    path = common_dir / STORE_DIR / CACHE_NAME
    with contextlib.suppress(OSError, UnicodeDecodeError):
        cached = path.read_text(encoding="ascii").strip()
        if _COMMIT.fullmatch(cached):
            return ROOT_PREFIX + cached
    commit = root_commit(common_dir)
    if not cache:
        return ROOT_PREFIX + commit
    with contextlib.suppress(OSError):  # a cache only: a read-only place means no cache
        from claude_orchestrator.fsutil import atomic_write_text

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, commit + "\n")
    return ROOT_PREFIX + commit


def root_commit(git_dir: Path) -> str:
    """The oldest parentless commit of ``HEAD`` (of every ref while ``HEAD`` has none)."""
    import subprocess  # here: the project is cached after the first read

    for revisions in (["HEAD"], ["--all"]):
        try:
            result = subprocess.run(
                ["git", f"--git-dir={git_dir}", "log", "--max-parents=0",
                 "--format=%ct %H", *revisions, "--"],
                capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StoreError(
                f"cannot read the repository's first commit with git ({exc}): set "
                "`project: NAME` in orchestrator.yaml"
            ) from None
        roots = sorted(
            (int(stamp), commit)
            for stamp, _, commit in (line.partition(" ") for line in result.stdout.split("\n"))
            if stamp.isdigit() and _COMMIT.fullmatch(commit)
        )
        if result.returncode == 0 and roots:
            return roots[0][1]
    raise StoreError(
        "the postgres store names this repository by its first commit, and it has none "
        "yet: commit once, or set `project: NAME` in orchestrator.yaml"
    )
