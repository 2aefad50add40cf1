"""``up``, ``down``, ``attach``, ``logs`` and :func:`nudge`: the team in tmux.

One tmux session per feature (``co-<spec-id>``), one window per agent named after its
branch's last part (``overseer``, ``impl-data``), each in the agent's worktree, on the
repository's private tmux server (:mod:`.tmux`). What tmux shows is what runs: a
window whose pane is alive is a running agent and is left alone; a dead pane (the
program exited; ``remain-on-exit`` keeps it, its status and its screen) is an exited
agent, started again only with ``restart``.

**The command** is ``agents.command`` (or ``agent_cmd``), split with :mod:`shlex`, then
``--setting-sources ""`` (no user, project or local settings: only the role's),
``--settings <file>``, ``--permission-mode <mode>``, ``--session-id <uuid>`` and the
first prompt (:mod:`.first_prompt`). The settings file is the worktree's generated
``.claude/permissions-<role>.json``; with ``guard.mode: strict`` it is the file
``agent-settings`` writes (this machine's paths, other branches' refs read-only).

**The permission mode** is ``default`` unless asked otherwise. The role files say
``dontAsk``, under which an interactive agent never waits: a call the rules do not
allow is denied without asking and the model works around the refusal. Under
``default`` the same allow and deny rules and the guard apply, and a call neither
allows nor denies opens Claude Code's dialog: the agent shows as ``waiting`` until the
person (``attach``) or the overseer answers, which is the point of supervising a team.
``dontAsk`` (``--permission-mode dontAsk``) is for a team nobody watches.

**The environment.** Each window gets ``PORT``, ``CO_PORT_BASE`` and ``CO_PORT_BLOCK``
(:func:`~.worktree_setup.agent_ports`) and ``CO_AGENT=<spec-id>/<role>``, on top of the
environment of the ``up`` that started the tmux server (without git's ``GIT_*``
variables and another Claude Code session's own); a later ``up`` adds windows to that
server, with that environment.

**Stopping** (``down``): the agent is asked to exit (Escape, which closes a dialog,
then ``/exit``), given ``grace`` seconds, then sent SIGTERM and at last SIGKILL, to
the process recorded in its ``agent_started`` event only, and only while it is still
the pid of the agent's tmux pane; the processes it started (a running tool) get SIGKILL
if they outlive it, each checked by pid and start time. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import validate as v
from .errors import ValidationError, refuse_implementor
from .location import user_cache_dir
from .tmux import Pane, Tmux, TmuxError, attach_command, safe_name, socket_dir, target

if TYPE_CHECKING:
    from .api import Orchestrator
    from .models import Event

PERMISSION_MODES = ("default", "dontAsk", "acceptEdits", "plan")
#: seconds ``down`` waits after asking an agent to exit, and after SIGTERM
GRACE_S = 10.0
TERM_WAIT_S = 5.0
#: what the window environment never inherits from the ``up`` that starts the server
_NOT_INHERITED = ("TMUX", "TMUX_PANE", "CLAUDECODE", "CLAUDE_PID", "CLAUDE_PROJECT_DIR",
                  "CLAUDE_ENV_FILE", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_ENTRYPOINT",
                  "CLAUDE_ORCHESTRATOR_ROLE", "CLAUDE_ORCHESTRATOR_SETTINGS")  # fmt: skip


class Member(NamedTuple):
    """An agent of the feature and where it works."""

    role: str
    #: its tmux window: the branch's last part (``overseer``, ``impl-data``)
    window: str
    branch: str
    area: str | None
    worktree: Path | None


class Launched(NamedTuple):
    """One agent after ``up``: ``started``, ``restarted``, ``running`` (left alone) or
    ``exited`` (its program ended; ``status`` is its exit status)."""

    role: str
    window: str
    target: str
    state: str
    pid: int | None
    status: int | None
    session_id: str | None
    worktree: str
    command: list[str]


class UpResult(NamedTuple):
    spec_id: str
    socket: str
    session: str
    agents: list[Launched]
    warnings: list[str]
    #: the ``notify run`` this ``up`` started (channels configured, none running), or None
    sender_pid: int | None = None


class Stopped(NamedTuple):
    """One agent after ``down``: how it went (``graceful``, ``terminated``, ``killed``,
    or ``gone``: it had exited already)."""

    role: str
    window: str
    pid: int
    how: str


# ------------------------------------------------------------------------ where
def socket_path(orch: Orchestrator) -> Path:
    """The repository's tmux socket: ``<user cache dir>/tmux/<key of git's common dir>``."""
    common = orch.location.common_dir or orch.location.root
    key = hashlib.sha256(str(Path(common).resolve()).encode()).hexdigest()[:16]
    return socket_dir(user_cache_dir()) / key


def session_name(spec_id: str) -> str:
    return safe_name(f"co-{spec_id}")


def window_name(role: str) -> str:
    return "overseer" if role == "overseer" else "impl-" + role.removeprefix("implementor-")


def server(orch: Orchestrator) -> Tmux:
    """The repository's tmux server (not started until a window is made).

    :raises TmuxError: tmux is not installed.
    """
    from .notify_config import secret_variables

    kept = {*_NOT_INHERITED, *secret_variables(orch.config)}  # the channels' URLs, secrets
    env = {k: val for k, val in os.environ.items() if not k.startswith("GIT_") and k not in kept}
    return Tmux(socket_path(orch), env=env)


def _role_name(text: str) -> str:
    name = text.strip()
    return f"implementor-{name[len('impl-') :]}" if name.startswith("impl-") else name


def members(orch: Orchestrator, spec_id: str, roles: Sequence[str] | None = None) -> list[Member]:
    """The feature's agents (only ``roles``, given as ``overseer``, ``impl-<area>`` or
    ``implementor-<area>``), with their worktrees (None: the branch has none).

    :raises NotFoundError: no such feature.
    :raises ValidationError: a role that is not one of the feature's agents.
    """
    from .workflow import require_git

    feature = orch.feature(v.check_spec_id(spec_id))
    vcs = require_git(orch)
    trees = vcs.worktrees()
    prefix = orch.config.branch_prefix
    found = []
    for agent in orch.store.list_agents(feature.spec_id):
        area = None if agent.role == "overseer" else agent.role.removeprefix("implementor-")
        branch = orch.config.overseer_branch(spec_id) if area is None else (
            orch.config.implementor_branch(spec_id, area))  # fmt: skip
        branch = agent.branch_name if agent.branch_name.startswith(prefix) else branch
        tree = trees.get(branch)
        found.append(Member(agent.role, window_name(agent.role), branch, area,
                            Path(tree).resolve() if tree else None))  # fmt: skip
    if roles is None:
        return found
    by_role = {m.role: m for m in found}
    wanted = [_role_name(r) for r in roles if r.strip()]
    unknown = [r for r in wanted if r not in by_role]
    if unknown or not wanted:
        names = ", ".join(m.window for m in found) or "(none)"
        raise ValidationError(
            f"{'unknown role ' + repr(unknown[0]) if unknown else 'no role given'}: the agents "
            f"of {spec_id} are {names} (see `claude-orchestrator events status {spec_id}`)"
        )
    return [by_role[r] for r in dict.fromkeys(wanted)]


# --------------------------------------------------------------------------- up
def _program(orch: Orchestrator, agent_cmd: str | None) -> list[str]:
    text = agent_cmd if agent_cmd is not None else orch.config.agent_command
    where = "--agent-cmd" if agent_cmd is not None else "agents.command"
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise ValidationError(f"{where}: cannot split {text!r}: {exc}") from None
    if not argv:
        raise ValidationError(f"{where} is empty: name the program to start, e.g. claude")
    found = shutil.which(argv[0])
    if found is None:
        raise ValidationError(
            f"{where}: {argv[0]!r} is not found on PATH: install it (Claude Code: "
            "`npm install -g @anthropic-ai/claude-code`) or change agents.command"
        )
    return [str(Path(found).absolute()), *argv[1:]]


def settings_file(orch: Orchestrator, member: Member) -> Path:
    """The settings the agent starts with (see the module docstring).

    :raises ValidationError: the generated file is not in the worktree.
    """
    assert member.worktree is not None
    if orch.config.data.get("guard", {}).get("mode") == "strict":
        from .agent_settings import build
        from .api import Orchestrator as Handle

        there = Handle(member.worktree, db=orch.store_path, registry=orch.registry)
        try:
            return build(there).path
        finally:
            there.close()
    own = member.area is not None and member.area in orch.config.data["paths"]["areas"]
    name = "overseer" if member.area is None else (
        f"impl-{member.area}" if own else "implementor")  # fmt: skip
    path = member.worktree / ".claude" / f"permissions-{name}.json"
    if not path.is_file():
        raise ValidationError(
            f"{path} does not exist: run `claude-orchestrator generate` on the overseer branch, "
            "commit the files, and rebase the implementors onto it"
        )
    return path


def _tasks_text(orch: Orchestrator, spec_id: str) -> str | None:
    from .workflow import branch_tip

    vcs = orch.vcs()
    tip = branch_tip(vcs, orch.config.overseer_branch(spec_id))
    return vcs.show_file(tip, orch.config.tasks_file(spec_id)) if tip else None


def _trust_warning(orch: Orchestrator, program: str) -> str | None:
    """Claude Code asks once per repository whether to trust it, before any hook runs;
    an agent started there waits on that question until someone answers it."""
    if Path(program).name != "claude":
        return None
    from .worktree_setup import main_checkout

    main = str(main_checkout(orch))
    try:
        data = json.loads((Path.home() / ".claude.json").read_text(encoding="utf-8"))
        trusted = bool(data["projects"][main]["hasTrustDialogAccepted"])
    except (OSError, ValueError, KeyError, TypeError):
        trusted = False
    if trusted:
        return None
    return (f"Claude Code has not been told to trust {main}: each agent first shows the trust "
            "dialog and waits; answer it with `claude-orchestrator attach ROLE`, or start "
            "`claude` once in that directory")  # fmt: skip


@contextlib.contextmanager
def one_up_at_a_time(socket: Path, timeout: float = 60.0) -> Iterator[None]:
    """Hold the repository's ``up`` lock (beside its tmux socket; an ``flock``, so a
    killed ``up`` holds nothing); ValidationError after ``timeout`` seconds of another."""
    from .fsutil import lock_within

    socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(f"{socket}.up.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if not lock_within(fd, timeout, poll_s=0.1):
            raise ValidationError(
                f"another `claude-orchestrator up` of this repository has run for "
                f"{timeout:.0f} s: wait for it, or stop it"
            )
        yield
    finally:
        os.close(fd)


def up(
    orch: Orchestrator,
    spec_id: str,
    *,
    roles: Sequence[str] | None = None,
    agent_cmd: str | None = None,
    restart: bool = False,
    permission_mode: str = "default",
) -> UpResult:
    """Start the feature's agents in tmux (see the module docstring); safe to re-run.

    :raises ValidationError: an unknown role, a branch without a worktree, no settings
        file, a program that is not installed, an unknown permission mode.
    :raises TmuxError: tmux is missing or failed.
    :raises SetupError: a ``worktrees.setup`` command failed.
    """
    from .first_prompt import Agent, first_prompt
    from .worktree_setup import prepare, setup_pending

    refuse_implementor("up")
    if permission_mode not in PERMISSION_MODES:
        raise ValidationError(f"unknown permission mode {permission_mode!r}: use one of "
                              f"{', '.join(PERMISSION_MODES)}")  # fmt: skip
    team = members(orch, spec_id, roles)
    lacking = [m for m in team if m.worktree is None]
    if lacking:
        raise ValidationError(
            f"{lacking[0].branch} has no worktree: create the feature's worktrees with "
            f"`claude-orchestrator init-feature {spec_id} --worktrees`"
        )
    unfinished = [m for m in team if m.worktree is not None and setup_pending(m.worktree)]
    if unfinished:
        raise ValidationError(
            f"the set-up of {unfinished[0].worktree} did not finish: run "
            f"`claude-orchestrator init-feature {spec_id} --worktrees` again (it resumes there)"
        )
    program = _program(orch, agent_cmd)
    tmux = server(orch)
    session = session_name(spec_id)
    tasks_text = _tasks_text(orch, spec_id)
    areas = [m.area for m in members(orch, spec_id) if m.area is not None]
    warning = _trust_warning(orch, program[0])
    with one_up_at_a_time(tmux.socket):  # two at once would both make a window
        panes = {p.window: p for p in tmux.panes(session)}
        done: list[Launched] = []
        for member in team:
            assert member.worktree is not None
            pane = panes.get(member.window)
            if pane is not None and (not pane.dead or not restart):
                done.append(Launched(member.role, member.window, target(session, member.window),
                                     "exited" if pane.dead else "running", pane.pid, pane.status,
                                     None, str(member.worktree), []))  # fmt: skip
                continue
            ports = prepare(orch, spec_id, member.role, member.worktree).ports
            session_id = str(uuid.uuid4())
            prompt = first_prompt(orch.config, Agent(spec_id, member.role, member.branch, areas),
                                  tasks_text)  # fmt: skip
            command = [*program, "--setting-sources", "", "--settings",
                       str(settings_file(orch, member)), "--permission-mode", permission_mode,
                       "--session-id", session_id, prompt]  # fmt: skip
            env = {**ports.env(), "CO_AGENT": f"{spec_id}/{member.role}"}
            if pane is None:
                started = tmux.start(session, member.window, member.worktree, command, env)
            else:
                started = tmux.respawn(session, member.window, member.worktree, command, env)
            launched = Launched(member.role, member.window, target(session, member.window),
                                "started" if pane is None else "restarted", started.pid, None,
                                session_id, str(member.worktree), command)  # fmt: skip
            _record_start(orch, spec_id, tmux, session, launched)
            done.append(launched)
    from .notify_run import start_background

    return UpResult(spec_id, str(tmux.socket), session, done, [warning] if warning else [],
                    start_background(orch))  # fmt: skip


def _record_start(orch: Orchestrator, spec_id: str, tmux: Tmux, session: str,
                  launched: Launched) -> None:  # fmt: skip
    import platform

    from .fsutil import process_tag
    from .guard_redact import redact

    metadata = {
        "runner": "tmux", "socket": str(tmux.socket), "session": session,
        "window": launched.window, "target": launched.target, "pid": launched.pid,
        "session_id": launched.session_id, "worktree": launched.worktree,
        "command": [redact(a) for a in launched.command],
        # which process it is, here: `agents` tells a killed agent from a live one
        "host": platform.node(), "process": process_tag(launched.pid),
    }  # fmt: skip
    orch.log_event(spec_id, launched.role, "agent_started",
                   f"started in tmux {launched.target} (pid {launched.pid})",
                   metadata=metadata)  # fmt: skip


# ------------------------------------------------------------------------- down
def _start_time(pid: int) -> str | None:
    """The process's start time (``/proc/<pid>/stat`` field 22); None when it is gone
    or a zombie (a zombie is gone: it only waits for its parent to read its status)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _descendants(pid: int) -> list[tuple[int, str]]:
    """The processes below ``pid``, each with its start time."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat_file.parent.name))
    found: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            started = _start_time(child)
            if started is not None:
                found.append((child, started))
            todo.append(child)
    return found


def _alive(pid: int, started: str) -> bool:
    return _start_time(pid) == started


def _wait_gone(pid: int, started: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid, started):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _ask_to_exit(tmux: Tmux, session: str, window: str) -> None:
    """Escape closes a dialog or stops a turn; ``/exit`` then ends the session. The pause
    keeps the terminal from reading Escape and ``/`` as one Alt key."""
    with contextlib.suppress(TmuxError):
        tmux.send_keys(session, window, "Escape")
        time.sleep(0.3)
        tmux.send_keys(session, window, "/exit", literal=True)
        tmux.send_keys(session, window, "Enter")


def _started_events(orch: Orchestrator, spec_id: str) -> dict[str, Event]:
    """The latest ``agent_started`` event of each role."""
    latest: dict[str, Event] = {}
    after = 0
    while page := orch.store.events_after(spec_id, after, 1000):
        latest.update((e.role, e) for e in page if e.event_type == "agent_started")
        after = page[-1].id
    return latest


def stop_pid(tmux: Tmux, session: str, pane: Pane, grace: float) -> str:
    """Stop the agent in ``pane``; how (see :class:`Stopped`)."""
    started = _start_time(pane.pid)
    if pane.dead or started is None:
        return "gone"
    below = _descendants(pane.pid)
    _ask_to_exit(tmux, session, pane.window)
    how = "graceful"
    if not _wait_gone(pane.pid, started, grace):
        how = "terminated"
        _signal(pane.pid, signal.SIGTERM)
        if not _wait_gone(pane.pid, started, TERM_WAIT_S):
            how = "killed"
            _signal(pane.pid, signal.SIGKILL)
            _wait_gone(pane.pid, started, TERM_WAIT_S)
    for pid, when in [*below, *_descendants(pane.pid)]:
        if _alive(pid, when):
            _signal(pid, signal.SIGKILL)
    return how


def down(
    orch: Orchestrator, spec_id: str, role: str | None = None, *, grace: float = GRACE_S
) -> list[Stopped]:
    """Stop the feature's agents (or one), close their windows, record ``agent_stopped``.

    An agent whose window has no pane of the pid its ``agent_started`` recorded is not
    signalled (the window is someone else's): only its window is closed.
    """
    refuse_implementor("down")
    team = members(orch, spec_id, [role] if role is not None else None)
    tmux = server(orch)
    session = session_name(spec_id)
    records = _started_events(orch, spec_id)
    stopped: list[Stopped] = []
    for member in team:
        pane = tmux.pane(session, member.window)
        if pane is None:
            continue
        record = records.get(member.role)
        recorded = (record.metadata or {}).get("pid") if record is not None else None
        how = stop_pid(tmux, session, pane, grace) if recorded == pane.pid else "gone"
        tmux.kill_window(session, member.window)
        orch.log_event(spec_id, member.role, "agent_stopped",
                       f"stopped ({how}) in tmux {target(session, member.window)}",
                       metadata={"pid": pane.pid, "how": how})  # fmt: skip
        stopped.append(Stopped(member.role, member.window, pane.pid, how))
    return stopped


# --------------------------------------------------------------- attach, logs, nudge
def _spec_for(orch: Orchestrator, tmux: Tmux, spec_id: str | None) -> str:
    """``spec_id``, else the feature of the current branch, else the only feature with a
    tmux session."""
    if spec_id is not None:
        return spec_id
    from .workflow import parse_branch

    if orch.location.in_git:
        current = orch.vcs().current_branch()
        parsed = parse_branch(orch.config.branch_prefix, current) if current else None
        if parsed is not None:
            return parsed.spec_id
    running = [f.spec_id for f in orch.store.list_features()
               if session_name(f.spec_id) in tmux.sessions()]  # fmt: skip
    if len(running) == 1:
        return running[0]
    raise ValidationError(
        "which feature? name it with --spec SPEC ("
        + (
            ", ".join(running)
            or "no feature's agents are running: start them with `claude-orchestrator up SPEC`"
        )
        + ")"
    )


def _pane_of(orch: Orchestrator, role: str, spec_id: str | None) -> tuple[Tmux, str, Member]:
    tmux = server(orch)
    spec = _spec_for(orch, tmux, spec_id)
    member = members(orch, spec, [role])[0]
    session = session_name(spec)
    tmux.require_pane(session, member.window)
    return tmux, session, member


def attach_argv(orch: Orchestrator, role: str, spec_id: str | None = None,
                *, inside: bool = False) -> list[str]:  # fmt: skip
    """The command that shows the agent's window (``inside``: from within tmux)."""
    tmux, session, member = _pane_of(orch, role, spec_id)
    return attach_command(tmux, session, member.window, inside=inside)


def logs(orch: Orchestrator, role: str, spec_id: str | None = None,
         lines: int | None = None) -> str:  # fmt: skip
    """The agent's screen and scrollback (``lines``: the last that many)."""
    tmux, session, member = _pane_of(orch, role, spec_id)
    return tmux.capture(session, member.window, lines)


def nudge(orch: Orchestrator, spec_id: str, role: str, text: str) -> bool:
    """Type one short line into an idle agent's pane, starting its next turn; False (and
    nothing typed) unless the agent is idle by its hooks, its pane alive and no person
    attached. Never into a waiting agent: typing answers a permission dialog."""
    from .agent_state import agent_views

    line = " ".join(text.split())
    if not line:
        return False
    try:
        tmux = server(orch)
        member = members(orch, spec_id, [role])[0]
    except (TmuxError, ValidationError):
        return False
    states = {view.role: view.state for view in agent_views(orch, spec_id)}
    session = session_name(spec_id)
    pane = tmux.pane(session, member.window)
    if states.get(member.role) != "idle" or pane is None or pane.dead:
        return False
    if tmux.attached(session):
        return False
    try:
        tmux.type_text(session, member.window, line)
    except TmuxError:
        return False
    return True
