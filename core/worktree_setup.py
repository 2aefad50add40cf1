"""A new worktree made ready to work in (``worktrees.setup``): the untracked files a
project needs, copied or linked from the main checkout, the set-up commands run once,
and each agent's own block of ports.

- **Files** (``copy``, ``link``): :mod:`.worktree_files`, every time (never over
  anything there; nothing through a symlink the agent planted). A file missing from
  the main checkout is reported, not an error.
- **Commands** (``run``): they run as the person, outside any sandbox, so only in a
  worktree init-feature has just made (:func:`record_created`) from a branch with
  nothing the overseer branch lacks, in order, each as an argument list (``shlex``;
  never through a shell), in a session of their own, without git's or this tool's
  variables, with the agent's ports. A command that fails stops the set-up with its
  output (exit 1); the next run resumes at that command, and no agent starts there
  before they all ran (:func:`setup_pending`). Never in a worktree an agent may have
  worked in: a command added later, an older worktree, a branch with an implementor's
  commits are reported as not run. What ran is recorded in the user's own directory
  (``<user cache dir>/setup/``, which code an agent runs cannot write).
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
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import OrchestratorError, ValidationError
from .fsutil import atomic_write_text
from .worktree_files import Placed, place_all

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
    #: commands not run, and why (an agent may have worked in the worktree)
    not_run: list[str]
    why_not_run: str | None
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


def prepare(
    orch: Orchestrator, spec_id: str, role: str, worktree: Path, *, created: bool = False
) -> SetupResult:
    """Give ``worktree`` (the agent's) what ``worktrees.setup`` says; safe to re-run.

    Files and ports every time. The commands run (as the person, outside any sandbox)
    only in a worktree made now (``created``: init-feature just checked it out) whose
    branch has nothing the overseer branch lacks, and again after a failure until they
    all ran (no agent starts there before: :func:`setup_pending`). Never in a worktree
    an agent may have worked in: its files are the agent's to change.

    :raises SetupError: a command failed (its output in the message).
    :raises ValidationError: the agent has no ports (see :func:`agent_ports`).
    """
    setup = orch.config.worktree_setup
    ports = agent_ports(orch, spec_id, role)
    worktree = Path(worktree).resolve()
    source = main_checkout(orch)
    placed = Placed([], [], [], [], [])
    if source != worktree:
        placed = place_all(source, worktree, setup.copy, setup.link)
    trusted = created and _branch_is_the_overseers(orch, spec_id, role)
    ran, skipped, not_run, why = _run_commands(worktree, setup.run, ports, created=created,
                                               trusted=trusted)  # fmt: skip
    return SetupResult(str(worktree), placed.copied, placed.linked, placed.kept,
                       placed.missing, placed.refused, ran, skipped, not_run, why,
                       ports)  # fmt: skip


def record_created(orch: Orchestrator, spec_id: str, role: str, worktree: Path) -> None:
    """Note that ``worktree`` was just made (before any set-up runs): its commands then
    run in the next :func:`prepare`, and again until they all did."""
    trusted = _branch_is_the_overseers(orch, spec_id, role)
    _write_marker(_marker(Path(worktree).resolve()), _Marker([], False, trusted))


def _branch_is_the_overseers(orch: Orchestrator, spec_id: str, role: str) -> bool:
    """Whether the agent's branch holds only what the overseer branch holds (its tip is
    on the overseer branch): nothing an implementor wrote is in the checkout yet."""
    config = orch.config
    overseer = config.overseer_branch(spec_id)
    if role == "overseer":
        return True
    branch = config.implementor_branch(spec_id, role.removeprefix("implementor-"))
    return orch.vcs().is_ancestor(f"refs/heads/{branch}", f"refs/heads/{overseer}")


def _marker(worktree: Path) -> Path:
    """Where what ran in ``worktree`` is recorded: the user's own directory, which code the
    agent runs cannot write (a marker in the worktree or the git directory could be
    forged, or made a symlink that sends this process's write elsewhere)."""
    from .digest import sha256_hex
    from .location import user_cache_dir

    key = sha256_hex(str(worktree).encode("utf-8", "surrogateescape"))[:24]
    return user_cache_dir() / "setup" / f"{worktree.name}-{key}.json"


class _Marker(NamedTuple):
    """What the set-up of one worktree recorded: the commands that ran, in order; whether
    they all did; whether they may run there at all (see :func:`prepare`)."""

    ran: list[str]
    complete: bool
    trusted: bool


def _read_marker(path: Path) -> _Marker | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ran"), list):
        return None
    ran = [c for c in data["ran"] if isinstance(c, str)]
    return _Marker(ran, data.get("complete") is True, data.get("trusted") is True)


def _write_marker(path: Path, marker: _Marker) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(path, json.dumps(marker._asdict()) + "\n")


def _run_commands(
    worktree: Path, commands: list[str], ports: AgentPorts, *, created: bool, trusted: bool
) -> tuple[list[str], list[str], list[str], str | None]:
    """(ran now, ran before, not run, why not)."""
    path = _marker(worktree)
    marker: _Marker | None = _Marker([], False, trusted)
    if created and marker is not None:
        _write_marker(path, marker)  # pending from here: `up` waits for it to finish
    else:
        marker = _read_marker(path)
    if marker is None:
        why = "the worktree existed before its set-up was recorded: run them in it yourself"
        return [], [], list(commands), why if commands else None
    if marker.complete or not marker.trusted:
        done = [c for c in commands if c in marker.ran]
        left = [c for c in commands if c not in marker.ran]
        why = ("the branch has commits the overseer branch lacks: run them in the agent's "
               "sandbox" if not marker.trusted else
               "changed since the set-up ran: run them in the worktree yourself")  # fmt: skip
        return [], done, left, why if left else None
    ran: list[str] = []
    skipped = marker.ran[: len(commands)] if marker.ran == commands[: len(marker.ran)] else []
    done = list(skipped)
    env = _command_env(ports)
    for command in commands[len(done) :]:
        _run_one(command, worktree, env)
        done.append(command)
        ran.append(command)
        _write_marker(path, _Marker(done, False, True))
    _write_marker(path, _Marker(done, True, True))
    return ran, skipped, [], None


def setup_pending(worktree: Path) -> bool:
    """Whether ``worktree``'s set-up commands were started and did not all finish (its
    agent should not start before they do: ``init-feature --worktrees`` again)."""
    marker = _read_marker(_marker(Path(worktree).resolve()))
    return marker is not None and marker.trusted and not marker.complete


#: variables a set-up command does not get: git's (a hook's GIT_DIR would send it to
#: another repository) and this tool's (the store's connection string)
_DROPPED = ("GIT_", "CLAUDE_ORCHESTRATOR_")


def _command_env(ports: AgentPorts) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    return {**env, **ports.env()}


def _run_one(command: str, worktree: Path, env: dict[str, str]) -> None:
    """Run one set-up command in its own session, its output to a temporary file (only its
    end is kept); a command that outlives :data:`COMMAND_TIMEOUT_S` is stopped with
    everything it started. A background process it leaves does not hold the set-up."""
    import tempfile

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValidationError(f"worktrees.setup.run: cannot split {command!r}: {exc}") from None
    with tempfile.TemporaryFile() as output:
        try:
            proc = subprocess.Popen(argv, cwd=worktree, env=env, stdin=subprocess.DEVNULL,
                                    stdout=output, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        except FileNotFoundError:
            raise SetupError(
                f"set-up command {command!r} in {worktree}: {argv[0]} not found "
                "(install it, or change worktrees.setup.run)"
            ) from None
        try:
            code = proc.wait(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise SetupError(f"set-up command {command!r} in {worktree} ran longer than "
                             f"{COMMAND_TIMEOUT_S} s and was stopped") from None  # fmt: skip
        except BaseException:  # interrupted: nothing it started outlives the set-up
            _stop(proc)
            raise
        if code != 0:
            size = output.seek(0, os.SEEK_END)
            output.seek(max(0, size - OUTPUT_TAIL * 4))
            text = output.read().decode("utf-8", "replace")[-OUTPUT_TAIL:].strip()
            raise SetupError(
                f"set-up command {command!r} failed in {worktree} (exit {code}); fix it and "
                f"run init-feature --worktrees again (what ran is not run again):\n{text}"
            )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, to the command's whole session."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
