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
import errno
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
    placed = _Placed([], [], [], [], [])
    if source != worktree:
        placed = _place_all(source, worktree, setup.copy, setup.link)
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
    if name.name in ("", ".", ".."):
        return "refused"
    if not (src.is_symlink() or src.exists()):
        return "missing"
    try:
        parent = _open_parent(root, name)
    except OSError:
        return "refused"
    try:
        leaf = name.name
        # what a killed run left beside it (its owner is gone), through the descriptor
        sweep_temporaries(Path(leaf), dir_fd=parent)
        try:
            os.stat(leaf, dir_fd=parent, follow_symlinks=False)
            return "kept"
        except FileNotFoundError:
            pass
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
            pass
        try:
            os.rename(temporary, leaf, src_dir_fd=parent, dst_dir_fd=parent)
        except OSError as exc:  # something appeared there meanwhile
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise FileExistsError(leaf) from None
            raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(temporary, dir_fd=parent)


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
