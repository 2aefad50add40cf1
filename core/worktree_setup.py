"""A new worktree made ready to work in (``worktrees.setup``): the untracked files a
project needs, copied or linked from the main checkout, the set-up commands run once,
and each agent's own block of ports.

- **Files** (``copy``, ``link``): from the main checkout (the repository's first
  worktree) into the agent's, never over anything already there (a file the agent
  changed stays as it is); a copy is written under a temporary name and moved into
  place, so a killed run leaves no half-written file. A file missing from the main
  checkout is reported, not an error: the project may not need it on every machine.
- **Commands** (``run``): run once per worktree, in order, from its root, each as an
  argument list (``shlex``; never through a shell), with the agent's ports in its
  environment. A command that fails stops the set-up with its output in the error
  (exit 1); the worktree stays, and the next run starts again at that command. What
  ran is recorded in the worktree's own git directory (``orchestrator-setup.json``);
  a changed command runs again.
- **Ports** (``ports``): agent number *n* of the repository (its rank in the store,
  by when it was added: stable across restarts and distinct across features) gets
  ``base + n * block`` as ``CO_PORT_BASE`` and ``PORT``, and the ``block`` ports from
  there are its own.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import OrchestratorError, ValidationError
from .fsutil import atomic_write_text, create_temporary, owner_tag, sweep_temporaries

if TYPE_CHECKING:
    from .api import Orchestrator

MARKER = "orchestrator-setup.json"
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
    copied: list[str] = []
    linked: list[str] = []
    kept: list[str] = []
    missing: list[str] = []
    if source != worktree:
        for name in setup.copy:
            _place(source / name, worktree / name, name, copy=True,
                   done=copied, kept=kept, missing=missing)  # fmt: skip
        for name in setup.link:
            _place(source / name, worktree / name, name, copy=False,
                   done=linked, kept=kept, missing=missing)  # fmt: skip
    ran, skipped = _run_commands(orch, worktree, setup.run, ports)
    return SetupResult(str(worktree), copied, linked, kept, missing, ran, skipped, ports)


def _place(
    src: Path, dst: Path, name: str, *, copy: bool,
    done: list[str], kept: list[str], missing: list[str],
) -> None:  # fmt: skip
    if dst.is_symlink() or dst.exists():
        kept.append(name)
        return
    if not (src.is_symlink() or src.exists()):
        missing.append(name)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(dst)  # what a killed run left (its owner is gone)
    fd, temporary = create_temporary(dst.parent, f".{dst.name}.{owner_tag()}.", ".tmp")
    os.close(fd)
    temporary.unlink()  # the name is this process's: the copy or link takes it
    try:
        if not copy:
            os.symlink(src, temporary)
        elif src.is_dir():
            shutil.copytree(src, temporary, symlinks=True)
        else:
            shutil.copy2(src, temporary)
        if temporary.is_dir() and not temporary.is_symlink():
            os.rename(temporary, dst)  # fails when dst appeared meanwhile and is not empty
        else:
            os.link(temporary, dst, follow_symlinks=False)  # fails when dst appeared meanwhile
            temporary.unlink()
    except FileExistsError:
        kept.append(name)
        return
    finally:
        _remove(temporary)
    done.append(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _marker(orch: Orchestrator, worktree: Path) -> Path:
    """The worktree's own git directory's marker file (the main checkout's: git's)."""
    dot_git = worktree / ".git"
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            target = Path(text[len("gitdir:") :].strip())
            return (target if target.is_absolute() else worktree / target) / MARKER
    return (orch.location.common_dir or worktree / ".git") / MARKER


def _done_commands(marker: Path) -> list[str]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    done = data.get("ran") if isinstance(data, dict) else None
    return [c for c in done if isinstance(c, str)] if isinstance(done, list) else []


def _run_commands(
    orch: Orchestrator, worktree: Path, commands: list[str], ports: AgentPorts
) -> tuple[list[str], list[str]]:
    marker = _marker(orch, worktree)
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
