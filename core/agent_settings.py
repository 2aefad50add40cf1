"""``claude-orchestrator agent-settings``: the role's settings with this machine's paths.

The committed permission files (``generate``) can name only paths relative to the
repository, so their sandbox leaves git's shared directory writable: every worktree's
commits write it. Code an implementor runs could then write a ref file directly
(``.git/refs/heads/main``) and move a protected branch past every hook. The settings this
command writes close that: the role's generated document, with every sandbox path made
absolute, plus ``denyWrite`` entries for the git directory's parts that belong to others
— the ref files of the main branch, master, every feature branch but the agent's own,
``packed-refs``, ``refs/tags``, ``hooks``, ``config``, the other worktrees' git
directories and its own's ``commondir`` and ``gitdir`` — so that the kernel
(bubblewrap) refuses those writes, whatever runs. Commits on the agent's own branch
still work.

Claude Code's sandbox turns a denied path that does not exist into an unreadable stub,
which breaks git; so every protected branch is given a loose ref file first (the same
commit id as its packed entry) and an empty ``packed-refs`` is created when missing.

The file goes to the user's state directory (``$XDG_STATE_HOME`` or
``~/.local/state``), which sandboxed code cannot write, so an agent cannot loosen the
settings of its next session. Start the agent with ``claude --setting-sources ""
--settings <that file>`` from its worktree's root.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ValidationError
from .fsutil import atomic_write_text

if TYPE_CHECKING:
    from .api import Orchestrator

#: set (through the settings' ``env``) for every command and hook of an agent started with
#: these settings; ``guard.mode: strict`` requires it
SETTINGS_VARIABLE = "CLAUDE_ORCHESTRATOR_SETTINGS"
SETTINGS_VALUE = "agent-settings"


class AgentSettings(NamedTuple):
    path: Path
    role: str
    branch: str
    worktree: Path
    protected_refs: list[str]
    document: dict[str, Any]


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "claude-orchestrator" / "agents"


def _absolute(path: str, base: Path) -> str:
    if path.startswith("//"):
        return path
    return "/" + os.path.normpath(os.path.join(str(base), path))


def build(orch: Orchestrator, *, write: bool = True) -> AgentSettings:
    """The settings for the agent whose worktree ``orch`` runs in.

    :raises ValidationError: outside a feature branch's worktree.
    """
    from .generate import tracked_files
    from .generators.claude_permissions import permissions
    from .workflow import _current_feature_branch

    branch, parsed = _current_feature_branch(orch, None)
    config = orch.config
    root = Path(os.path.realpath(orch.location.root))
    common = orch.location.common_dir
    if common is None:
        raise ValidationError("agent-settings needs a git repository")
    common = Path(os.path.realpath(common))
    role = "overseer" if parsed.role == "overseer" else "implementor"
    document = permissions(config, role, parsed.area, tracked_files(orch))
    protected: list[str] = []
    if role == "implementor":
        sandbox = document["sandbox"]
        claude_dir = root / ".claude"  # relative sandbox paths are read from there
        deny = [_absolute(p, claude_dir) for p in sandbox["filesystem"]["denyWrite"]]
        protected = _protected_refs(orch, branch)
        _make_loose(orch, common, protected)
        deny += [f"/{common}/{ref}" for ref in protected]
        deny += [f"/{common}/{name}" for name in ("packed-refs", "refs/tags", "hooks", "config")]
        deny += _worktree_admin(orch, common)
        hooks_dir = Path(os.path.realpath(orch.vcs().hooks_dir()))
        if hooks_dir.is_dir():
            deny.append(f"/{hooks_dir}")  # core.hooksPath may point elsewhere
        sandbox["filesystem"]["denyWrite"] = sorted(dict.fromkeys(deny))
    document.setdefault("env", {})[SETTINGS_VARIABLE] = SETTINGS_VALUE
    path = state_dir() / _key(root) / f"settings-{role}.json"
    if write:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(path, json.dumps(document, indent=2) + "\n")
    return AgentSettings(path, role, branch, root, protected, document)


def _worktree_admin(orch: Orchestrator, common: Path) -> list[str]:
    """The other worktrees' git directories, and this one's ``commondir`` and ``gitdir``:
    a ``commondir`` rewritten to name another repository would send the overseer's git and
    this tool (its store, config and hooks) there."""
    own = orch.location.git_dir
    own = Path(os.path.realpath(own)) if own is not None else None
    admin = common / "worktrees"
    found = []
    try:
        entries = sorted(admin.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.is_dir():
            continue
        if own is not None and Path(os.path.realpath(entry)) == own:
            found += [f"/{entry}/{name}" for name in ("commondir", "gitdir")
                      if (entry / name).exists()]  # fmt: skip
        else:
            found.append(f"/{entry}")
    return found


def _key(root: Path) -> str:
    return f"{root.name}-{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"


def _protected_refs(orch: Orchestrator, own: str) -> list[str]:
    """Every local branch but the agent's own that others rely on."""
    config = orch.config
    prefix = config.branch_prefix.rstrip("/") + "/"
    mains = {"main", "master", config.main_branch}
    refs = []
    for name in orch.vcs().local_branches():
        if name != own and (name in mains or name.startswith(prefix)):
            refs.append(f"refs/heads/{name}")
    return sorted(refs)


def _write_ref(loose: Path, sha: str) -> None:
    """Write a loose ref the way git does: ``<ref>.lock``, then a rename (git takes the
    same lock, so a concurrent update fails instead of being lost)."""
    loose.parent.mkdir(parents=True, exist_ok=True)
    lock = loose.with_name(loose.name + ".lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return  # git is updating it right now: it will be a loose file
    try:
        os.write(fd, (sha + "\n").encode())
    finally:
        os.close(fd)
    if loose.exists():
        lock.unlink()
    else:
        os.replace(lock, loose)


def _make_loose(orch: Orchestrator, common: Path, refs: list[str]) -> None:
    """Give each protected ref a loose file and make sure ``packed-refs`` exists."""
    vcs = orch.vcs()
    for ref in refs:
        loose = common / ref
        if loose.exists():
            continue
        sha = vcs.resolve(ref)
        if sha:
            _write_ref(loose, sha)
    packed = common / "packed-refs"
    if not packed.exists():
        atomic_write_text(packed, "# pack-refs with: peeled fully-peeled sorted \n")
    (common / "refs" / "tags").mkdir(parents=True, exist_ok=True)
