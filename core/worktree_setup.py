"""A new worktree made ready to work in (``worktrees.setup``): the untracked files a
project needs, copied or linked from the main checkout, the set-up commands run once,
and each agent's own block of ports.

- **Files** (``copy``, ``link``): from the main checkout (the repository's first
  worktree) into the agent's, never over anything already there (a file the agent
  changed stays as it is); a copy is written under a temporary name and moved into
  place, so a killed run leaves no half-written file. A file missing from the main
  checkout is reported, not an error: the project may not need it on every machine.
  The worktree is the agent's: everything in it is reached through folder descriptors
  opened without following symlinks, so a folder it replaced with a symlink cannot lead
  the person's process into another worktree (that file is reported as refused).
- **Commands** (``run``): run once per worktree, in order, from its root, each as an
  argument list (``shlex``; never through a shell), with the agent's ports in its
  environment. A command that fails stops the set-up with its output in the error
  (exit 1); the worktree stays, and the next run starts again at that command. What
  ran is recorded in the user's own directory (``<user cache dir>/setup/``, which code
  an agent runs cannot write); a changed command runs again.
- **Ports** (``ports``): agent number *n* of the repository (its rank in the store,
  by when it was added: stable across restarts and distinct across features) gets
  ``base + n * block`` as ``CO_PORT_BASE`` and ``PORT``, and the ``block`` ports from
  there are its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import OrchestratorError, ValidationError
from .fsutil import atomic_write_text, owner_tag, sweep_temporaries

if TYPE_CHECKING:
    from .api import Orchestrator

#: how long one set-up command may run (seconds)
COMMAND_TIMEOUT_S = 1800
#: the most of a failed command's output an error shows (its end)
OUTPUT_TAIL = 4000
MAX_PORT = 65535


class SetupError(OrchestratorError):
    """A set-up command failed: its output is in the message (exit 1: the set-up ran)."""

    exit_code = 1


class AgentPorts(NamedTuple):
    """An agent's ports: ``base`` to ``base + block - 1``; ``port`` is ``PORT``."""

    base: int
    block: int

    @property
    def port(self) -> int:
        return self.base

    def env(self) -> dict[str, str]:
        """The variables the agent's environment gets."""
        return {"PORT": str(self.port), "CO_PORT_BASE": str(self.base),
                "CO_PORT_BLOCK": str(self.block)}  # fmt: skip


class SetupResult(NamedTuple):
    """What :func:`prepare` did in one worktree (paths relative to it)."""

    worktree: str
    copied: list[str]
    linked: list[str]
    #: files already there (never overwritten)
    kept: list[str]
    #: files named by the config that the main checkout does not have
    missing: list[str]
    #: files not written: a folder on their way in the worktree is a symlink (or no folder)
    refused: list[str]
    #: commands run now; commands run by an earlier set-up
    ran: list[str]
    skipped: list[str]
    ports: AgentPorts


def agent_ports(orch: Orchestrator, spec_id: str, role: str) -> AgentPorts:
    """The ports of ``role`` in feature ``spec_id`` (see the module docstring).

    :raises ValidationError: the agent is not registered, or its block would end past
        port 65535.
    """
    setup = orch.config.worktree_setup
    store = orch.store
    agents = sorted((a for f in store.list_features() for a in store.list_agents(f.spec_id)),
                    key=lambda a: a.id)  # fmt: skip
    ranks = {(a.spec_id, a.role): n for n, a in enumerate(agents)}
    rank = ranks.get((spec_id, role))
    if rank is None:
        raise ValidationError(f"{role} is not an agent of feature {spec_id}: "
                              f"see `claude-orchestrator events status {spec_id}`")  # fmt: skip
    base = setup.port_base + rank * setup.port_block
    if base + setup.port_block - 1 > MAX_PORT:
        raise ValidationError(
            f"agent {rank + 1} of this repository would get ports from {base}, past "
            f"{MAX_PORT}: lower worktrees.setup.ports.base or ports.block"
        )
    return AgentPorts(base, setup.port_block)


def main_checkout(orch: Orchestrator) -> Path:
    """The repository's main checkout: the working tree of git's common directory."""
    common = orch.location.common_dir
    if common is not None and common.name == ".git":
        return common.parent.resolve()
    return Path(orch.location.root).resolve()


def prepare(orch: Orchestrator, spec_id: str, role: str, worktree: Path) -> SetupResult:
    """Give ``worktree`` (the agent's) what ``worktrees.setup`` says; safe to re-run.

    :raises SetupError: a command failed (its output in the message).
    :raises ValidationError: the agent has no ports (see :func:`agent_ports`).
    """
    setup = orch.config.worktree_setup
    ports = agent_ports(orch, spec_id, role)
    worktree = Path(worktree).resolve()
    source = main_checkout(orch)
    placed = _Placed([], [], [], [], [])
    if source != worktree:
        placed = _place_all(source, worktree, setup.copy, setup.link)
    ran, skipped = _run_commands(worktree, setup.run, ports)
    return SetupResult(str(worktree), placed.copied, placed.linked, placed.kept,
                       placed.missing, placed.refused, ran, skipped, ports)  # fmt: skip


class _Placed(NamedTuple):
    copied: list[str]
    linked: list[str]
    kept: list[str]
    missing: list[str]
    refused: list[str]


def _place_all(source: Path, worktree: Path, copy: list[str], link: list[str]) -> _Placed:
    placed = _Placed([], [], [], [], [])
    root = os.open(worktree, _DIR_FLAGS)
    try:
        for names, copying, done in ((copy, True, placed.copied), (link, False, placed.linked)):
            for name in names:
                outcome = _place(source / name, root, Path(name), copy=copying)
                {"done": done, "kept": placed.kept, "missing": placed.missing,
                 "refused": placed.refused}[outcome].append(name)  # fmt: skip
    finally:
        os.close(root)
    return placed


def _place(src: Path, root: int, name: Path, *, copy: bool) -> str:
    """Copy or link ``src`` to ``name`` under the worktree (``root``, a descriptor of its
    folder): ``done``, ``kept`` (something is there), ``missing`` (no ``src``) or
    ``refused`` (a folder on the way is a symlink or no folder).

    Everything in the worktree is reached through descriptors opened without following
    symlinks: the worktree is the agent's, and a folder it replaced with a symlink must
    not lead this process (the person's) into another worktree."""
    if not (src.is_symlink() or src.exists()):
        return "missing"
    try:
        parent = _open_parent(root, name)
    except OSError:
        return "refused"
    try:
        leaf = name.name
        try:
            os.stat(leaf, dir_fd=parent, follow_symlinks=False)
            return "kept"
        except FileNotFoundError:
            pass
        # what a killed run left beside it (its owner is gone), through the descriptor
        sweep_temporaries(Path(f"/proc/self/fd/{parent}") / leaf)
        if not copy:
            os.symlink(src, leaf, dir_fd=parent)  # fails if something is there now
        elif src.is_dir() and not src.is_symlink():
            _copy_folder(src, parent, leaf)
        else:
            _copy_file(src, parent, leaf)
    except FileExistsError:
        return "kept"
    finally:
        os.close(parent)
    return "done"


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_parent(root: int, name: Path) -> int:
    """A descriptor of ``name``'s folder under ``root``, made if missing; OSError when a
    part of the way is a symlink or not a folder."""
    fd = os.dup(root)
    try:
        for part in name.parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _temporary_name(leaf: str) -> str:
    return f".{leaf}.{owner_tag()}.{os.urandom(4).hex()}.tmp"


def _copy_file(src: Path, parent: int, leaf: str) -> None:
    """``src``'s bytes and mode under a temporary name, then linked into place (never over
    anything: FileExistsError)."""
    temporary = _temporary_name(leaf)
    if src.is_symlink() and not src.exists():
        os.symlink(os.readlink(src), leaf, dir_fd=parent)  # a dangling link, as it is
        return
    fd = os.open(temporary, _NEW_FILE, 0o600, dir_fd=parent)
    try:
        with open(src, "rb") as source, os.fdopen(fd, "wb") as target:
            shutil.copyfileobj(source, target)
            os.fchmod(target.fileno(), os.stat(src).st_mode & 0o777)
            target.flush()
            os.fsync(target.fileno())
        os.link(temporary, leaf, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=parent)


def _copy_folder(src: Path, parent: int, leaf: str) -> None:
    """``src``'s tree under a temporary name, then renamed into place (FileExistsError
    when something is there by then)."""
    temporary = _temporary_name(leaf)
    os.mkdir(temporary, 0o700, dir_fd=parent)
    try:
        fd = os.open(temporary, _DIR_FLAGS, dir_fd=parent)
        try:
            _copy_into(src, fd)
            os.fchmod(fd, os.stat(src).st_mode & 0o777)
        finally:
            os.close(fd)
        try:
            os.stat(leaf, dir_fd=parent, follow_symlinks=False)
            raise FileExistsError(leaf)
        except FileNotFoundError:
            os.rename(temporary, leaf, src_dir_fd=parent, dst_dir_fd=parent)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(f"/proc/self/fd/{parent}/{temporary}")


def _copy_into(src: Path, fd: int) -> None:
    for entry in os.scandir(src):
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), entry.name, dir_fd=fd)
        elif entry.is_dir():
            os.mkdir(entry.name, 0o700, dir_fd=fd)
            child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
            try:
                _copy_into(Path(entry.path), child)
                os.fchmod(child, entry.stat().st_mode & 0o777)
            finally:
                os.close(child)
        else:
            _copy_file(Path(entry.path), fd, entry.name)


def _marker(worktree: Path) -> Path:
    """Where what ran in ``worktree`` is recorded: the user's own directory, which code the
    agent runs cannot write (a marker in the worktree or the git directory could be
    forged, or made a symlink that sends this process's write elsewhere)."""
    from .digest import sha256_hex
    from .location import user_cache_dir

    key = sha256_hex(str(worktree).encode("utf-8", "surrogateescape"))[:24]
    return user_cache_dir() / "setup" / f"{worktree.name}-{key}.json"


def _done_commands(marker: Path) -> list[str]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    done = data.get("ran") if isinstance(data, dict) else None
    return [c for c in done if isinstance(c, str)] if isinstance(done, list) else []


def _run_commands(
    worktree: Path, commands: list[str], ports: AgentPorts
) -> tuple[list[str], list[str]]:
    marker = _marker(worktree)
    done = _done_commands(marker)
    ran: list[str] = []
    skipped: list[str] = []
    env = {**os.environ, **ports.env()}
    for index, command in enumerate(commands):
        if done[index : index + 1] == [command]:
            skipped.append(command)
            continue
        done = done[:index]  # a changed command, and every one after it, runs again
        _run_one(command, worktree, env)
        done.append(command)
        ran.append(command)
        marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(marker, json.dumps({"ran": done}) + "\n")
    return ran, skipped


def _run_one(command: str, worktree: Path, env: dict[str, str]) -> None:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValidationError(f"worktrees.setup.run: cannot split {command!r}: {exc}") from None
    try:
        proc = subprocess.run(argv, cwd=worktree, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip
    except FileNotFoundError:
        raise SetupError(f"set-up command {command!r} in {worktree}: {argv[0]} not found "
                         "(install it, or change worktrees.setup.run)") from None  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SetupError(f"set-up command {command!r} in {worktree} ran longer than "
                         f"{COMMAND_TIMEOUT_S} s and was stopped") from None  # fmt: skip
    if proc.returncode != 0:
        output = proc.stdout.decode("utf-8", "replace")[-OUTPUT_TAIL:].strip()
        raise SetupError(
            f"set-up command {command!r} failed in {worktree} (exit {proc.returncode}); "
            f"fix it and run again (commands that ran are not run again):\n{output}"
        )
