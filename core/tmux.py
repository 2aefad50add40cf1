"""tmux, the agent runner's terminal: one private server per repository.

- **Argument lists only.** Every tmux command is an argv list given to
  :func:`subprocess.run`, never a shell string. tmux itself splits a command line at an
  argument that *ends* with ``;`` (that is how several commands chain in one call), so an
  argument of ours that ends with one is written ``...\\;``, which tmux turns back into
  ``;`` (:func:`_literal`).
- **A private server.** The socket is ``<user cache dir>/tmux/<repository key>``
  (``-S``; :func:`~.location.user_cache_dir`), in a directory of mode 0700 that only the
  user owns: the user's own tmux server (``/tmp/tmux-<uid>/default``) is never touched,
  and no other user can reach the agents' panes. The server is started with ``-f
  /dev/null``: the panes behave the same whatever the user's ``~/.tmux.conf`` says.
- **Exact targets.** tmux matches a session or window name by prefix unless it is
  written ``=name``, and ``display-message`` falls back to the current pane for a window
  that does not exist; every target here is ``=session:=window`` and windows are read
  with ``list-panes``, which fails for a missing one.
- **Windows stay after their program exits** (``remain-on-exit``, set in the same call
  that creates the window, so even a program that exits at once leaves its dead pane,
  exit status and screen behind for ``logs``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from .errors import OrchestratorError

#: the OS package that provides tmux (Debian, Ubuntu, Fedora, Homebrew alike)
PACKAGE = "tmux"
DIR_NAME = "tmux"
#: a unix socket's path must fit in ``sockaddr_un.sun_path`` (108 bytes with the NUL)
MAX_SOCKET_PATH = 107
#: seconds one tmux command may take before it is given up on (a wedged server)
TIMEOUT_S = 10.0
#: the lines of scrollback a window keeps (``logs`` reads them)
HISTORY_LIMIT = 50000
#: the size of a detached session's windows until a client attaches
WIDTH, HEIGHT = 200, 50
_PANE_FORMAT = "#{window_name}\t#{window_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}"
_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")


class TmuxError(OrchestratorError):
    """tmux is missing, its server is gone, or a window named is not there."""


class Pane(NamedTuple):
    """The one pane of an agent's window."""

    window: str
    window_id: str
    pid: int
    dead: bool
    #: the program's exit status once it is dead (None while it runs, or after a signal)
    status: int | None


def target(session: str, window: str | None = None) -> str:
    """The exact tmux target of a session, or of a window in it."""
    return f"={session}" if window is None else f"={session}:={window}"


def safe_name(text: str) -> str:
    """``text`` as a session or window name tmux keeps as it is: tmux itself turns ``.``
    and ``:`` into ``_``, and a name like that is easier to type anywhere."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)


def socket_dir(base: Path) -> Path:
    """``<base>/tmux``, made if needed: a directory of mode 0700 the user owns.

    :raises TmuxError: it exists and is not such a directory (another user's, or a file).
    """
    path = base / DIR_NAME
    try:
        with contextlib.suppress(FileExistsError):  # a file there: refused below
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise TmuxError(f"cannot make the tmux socket directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise TmuxError(
            f"{path} is not a directory of yours: remove it (the agents' tmux socket goes there)"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def _literal(arg: str) -> str:
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


class Tmux:
    """A private tmux server at ``socket``.

    :param env: the environment tmux runs with; a server it starts passes it on to every
        window (each window adds its own variables with ``-e``).
    :raises TmuxError: tmux is not on ``PATH`` (of ``env``).
    """

    def __init__(self, socket: Path, env: Mapping[str, str] | None = None) -> None:
        self.socket = Path(socket)
        self.env = dict(os.environ if env is None else env)
        found = shutil.which("tmux", path=self.env.get("PATH", os.defpath))
        if found is None:
            raise TmuxError(
                f"tmux is not installed (not on PATH): install the OS package `{PACKAGE}` "
                f"(apt-get install {PACKAGE}, dnf install {PACKAGE}, brew install {PACKAGE})"
            )
        if len(os.fsencode(str(self.socket))) > MAX_SOCKET_PATH:
            raise TmuxError(
                f"the tmux socket path {self.socket} is longer than {MAX_SOCKET_PATH} bytes: "
                "set XDG_CACHE_HOME to a shorter directory"
            )
        self.binary = found

    # -- running tmux --------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        return [self.binary, "-S", str(self.socket), "-f", os.devnull, *args]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run one tmux command line (``;`` elements chain commands); never raises for
        tmux's own failures (read ``returncode``), only for a tmux that hangs."""
        try:
            return subprocess.run(self.argv(*args), env=self.env, input=stdin, text=True,
                                  capture_output=True, timeout=TIMEOUT_S, check=False,
                                  stdin=None if stdin is not None else subprocess.DEVNULL,
                                  )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise TmuxError(
                f"tmux did not answer within {TIMEOUT_S:g} s (server {self.socket}): "
                f"if it is wedged, `tmux -S {self.socket} kill-server` stops it and every agent"
            ) from None

    def check(self, *args: str, stdin: str | None = None, what: str = "") -> str:
        """Run a tmux command that must succeed; its standard output.

        :raises TmuxError: one line: tmux's own message, and what to do about it.
        """
        proc = self.run(*args, stdin=stdin)
        if proc.returncode == 0:
            return proc.stdout
        message = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        if any(text in message for text in _NO_SERVER):
            raise TmuxError(
                f"the agents' tmux server is not running ({self.socket}): start the agents "
                "with `claude-orchestrator up SPEC`"
            )
        raise TmuxError(f"tmux {args[0]}{' ' + what if what else ''}: {message}")

    def running(self) -> bool:
        """Whether a server answers on the socket (a stale socket file is no server)."""
        return self.run("list-sessions", "-F", "#{session_name}").returncode == 0

    # -- reading -------------------------------------------------------------------
    def sessions(self) -> list[str]:
        proc = self.run("list-sessions", "-F", "#{session_name}")
        return proc.stdout.split() if proc.returncode == 0 else []

    def has_session(self, session: str) -> bool:
        return self.run("has-session", "-t", target(session)).returncode == 0

    def panes(self, session: str) -> list[Pane]:
        """The first pane of every window of ``session``; empty when there is no such
        session or no server."""
        # ``=s:``, not ``=s``: with -s, ``=t`` still matched a session ``t1``
        proc = self.run("list-panes", "-s", "-t", target(session) + ":", "-F", _PANE_FORMAT)
        if proc.returncode != 0:
            return []
        seen: dict[str, Pane] = {}
        for line in proc.stdout.splitlines():
            pane = _parse_pane(line)
            if pane is not None:
                seen.setdefault(pane.window, pane)
        return list(seen.values())

    def pane(self, session: str, window: str) -> Pane | None:
        """The pane of window ``window``, None when it (or the session, or the server) is
        not there."""
        proc = self.run("list-panes", "-t", target(session, window), "-F", _PANE_FORMAT)
        if proc.returncode != 0:
            return None
        panes = [p for p in map(_parse_pane, proc.stdout.splitlines()) if p is not None]
        return panes[0] if panes else None

    def require_pane(self, session: str, window: str) -> Pane:
        """:meth:`pane`, or one line saying what is missing.

        :raises TmuxError: no server, no session or no such window.
        """
        if not self.running():
            self.check("list-sessions")  # raises the "not running" line
        pane = self.pane(session, window)
        if pane is None:
            raise TmuxError(
                f"no tmux window {window} in session {session} ({self.socket}): start it "
                "with `claude-orchestrator up`"
            )
        return pane

    def attached(self, session: str) -> bool:
        """Whether a person's client is attached to ``session``."""
        proc = self.run("list-sessions", "-F", "#{session_attached} #{session_name}")
        rows = (line.split(" ", 1) for line in proc.stdout.splitlines())
        return any(name == session and count != "0" for count, name in rows)

    def capture(self, session: str, window: str, lines: int | None = None) -> str:
        """The window's screen and scrollback (``lines``: only the last that many)."""
        self.require_pane(session, window)
        text = self.check("capture-pane", "-p", "-J", "-t", target(session, window), "-S", "-",
                          what=f"of {window}")  # fmt: skip
        kept = text.rstrip().splitlines()
        if lines is not None:
            kept = kept[-lines:] if lines > 0 else []
        return "".join(line + "\n" for line in kept)

    # -- changing ------------------------------------------------------------------
    def start(
        self,
        session: str,
        window: str,
        cwd: Path,
        command: Sequence[str],
        env: Mapping[str, str],
    ) -> Pane:
        """Start ``command`` in a new window ``window`` of ``session`` (the session, and
        the server, are created when missing), in ``cwd`` with ``env`` added.

        The caller checks first that no such window exists: tmux allows two windows of
        one name.
        """
        if not command:
            raise TmuxError("no command to start")
        variables = [a for k, v in sorted(env.items()) for a in ("-e", f"{k}={v}")]
        options = ["-n", window, "-c", str(cwd), *variables, "-P", "-F", "#{pane_pid}"]
        argv = [_literal(a) for a in command]
        keep = ["set-option", "-w", "-t", target(session, window), "remain-on-exit", "on"]
        if self.has_session(session):
            first = ["new-window", "-d", "-t", target(session) + ":", *options]
        else:
            first = ["new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT),
                     *options]  # fmt: skip
        # the scrollback applies to windows made after it is set: set it first
        limit = ["start-server", ";", "set-option", "-g", "history-limit", str(HISTORY_LIMIT)]
        self.check(*limit, ";", *first, *argv, ";", *keep, what=f"{window} in {cwd}")
        return self.require_pane(session, window)

    def respawn(
        self, session: str, window: str, cwd: Path, command: Sequence[str], env: Mapping[str, str]
    ) -> Pane:
        """Start ``command`` again in the (dead) pane of ``window``."""
        variables = [a for k, v in sorted(env.items()) for a in ("-e", f"{k}={v}")]
        self.check("respawn-pane", "-k", "-t", target(session, window), "-c", str(cwd),
                   *variables, *(_literal(a) for a in command), what=window)  # fmt: skip
        return self.require_pane(session, window)

    def type_text(self, session: str, window: str, text: str) -> None:
        """Type ``text`` into the window as a paste (one prompt, even with newlines),
        then Enter."""
        where = target(session, window)
        buffer = f"co-{os.getpid()}"
        self.check("load-buffer", "-b", buffer, "-", stdin=text, what="(the text to type)")
        self.check("paste-buffer", "-p", "-d", "-b", buffer, "-t", where, what=window)
        self.check("send-keys", "-t", where, "Enter", what=window)

    def send_keys(self, session: str, window: str, *keys: str, literal: bool = False) -> None:
        flags = ["-l"] if literal else []
        self.check("send-keys", "-t", target(session, window), *flags, *keys, what=window)

    def kill_window(self, session: str, window: str) -> None:
        """Close the window (its program, if still running, gets SIGHUP)."""
        self.run("kill-window", "-t", target(session, window))

    def kill_server(self) -> None:
        self.run("kill-server")


def _parse_pane(line: str) -> Pane | None:
    parts = line.split("\t")
    if len(parts) != 5 or not parts[2].isdigit():
        return None
    name, window_id, pid, dead, status = parts
    dead_now = dead == "1"
    code = int(status) if dead_now and status.lstrip("-").isdigit() else None
    return Pane(name, window_id, int(pid), dead_now, code)


def attach_command(tmux: Tmux, session: str, window: str, *, inside: bool) -> list[str]:
    """The command that shows ``window`` to a person: ``switch-client`` from inside a
    client of the same server, ``attach-session`` otherwise (run it with ``TMUX`` unset
    from inside another tmux)."""
    where = target(session, window)
    if inside:
        return tmux.argv("switch-client", "-t", where)
    return tmux.argv("attach-session", "-t", where)
