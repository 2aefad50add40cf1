"""The built-in ``desktop`` channel type: a notification on this machine's desktop, for
the person at it.

Configured as ``{type: desktop}`` (no keys of its own). On Linux it runs ``notify-send``
(libnotify; urgency low for info, normal for warning, critical for error and critical;
app name ``claude-orchestrator``), on macOS ``osascript`` with a fixed ``on run argv``
script that reads the title and text from its arguments: message text is never put into
a script or a shell. The program is looked up on the PATH of the environment the channel
was built with, run with an argument list, in a session of its own (killed with its
children when ``timeout`` runs out). Without the program a send fails for good, saying
what to install. Default rate limit: 10 notifications a minute.

Registering costs nothing: the modules that run programs are imported when one is sent.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

if TYPE_CHECKING:
    from claude_orchestrator.notify_message import Message, Sent

APP_NAME = "claude-orchestrator"
URGENCY = {"info": "low", "warning": "normal", "error": "critical", "critical": "critical"}
TITLE_MAX, BODY_MAX = 200, 2000
#: the AppleScript osascript runs: title, subtitle and text come in as its arguments
APPLESCRIPT = (
    "on run argv",
    "display notification (item 3 of argv) with title (item 1 of argv) subtitle (item 2 of argv)",
    "end run",
)
_INSTALL = {
    "notify-send": "install libnotify (Debian/Ubuntu: apt install libnotify-bin; "
    "Fedora: dnf install libnotify)",
    "osascript": "osascript ships with macOS: put /usr/bin on PATH",
}


@hookimpl(trylast=True)
def register_channels(register: Register) -> None:
    description = "a desktop notification (notify-send on Linux, osascript on macOS)"
    register("desktop", DesktopChannel.from_context, description=description)


class DesktopChannel:
    """:param env: the environment to find and run the program in (None: the process's);
    :param platform: ``sys.platform`` (``darwin`` uses osascript, anything else
    notify-send)."""

    rate_limit = (10, 60.0)
    secrets: tuple[str, ...] = ()

    def __init__(self, env: Mapping[str, str] | None = None, platform: str = sys.platform) -> None:
        self._env = env
        self.program = "osascript" if platform == "darwin" else "notify-send"

    @classmethod
    def from_context(cls, context: PluginContext) -> DesktopChannel:
        from claude_orchestrator.notify_http import check_keys

        check_keys(context.options, (), "desktop")
        return cls(context.env)

    def describe(self) -> str:
        return f"desktop notification ({self.program})"

    def send(self, message: Message, *, key: str, timeout: float) -> Sent:
        import os
        import shutil

        from claude_orchestrator.notify_message import DeliveryFailed

        env = dict(os.environ if self._env is None else self._env)
        path = shutil.which(self.program, path=env.get("PATH", os.defpath))
        if path is None:
            raise DeliveryFailed(
                f"desktop: {self.program} is not on PATH: {_INSTALL[self.program]}",
                retryable=False,
            )
        return _run([path, *arguments(self.program, message)], env, timeout, self.program)


def arguments(program: str, message: Message) -> list[str]:
    """The program's arguments for one message (the program's path comes first)."""
    from claude_orchestrator.notify_http import clip, plain_body

    title = clip(" ".join(message.title.split()), TITLE_MAX)
    body = clip(plain_body(message), BODY_MAX)
    if program == "osascript":
        script = [part for line in APPLESCRIPT for part in ("-e", line)]
        return [*script, APP_NAME, title, body]  # the first argument is never the user's
    markup = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    urgency = URGENCY.get(message.severity, "normal")
    return [f"--app-name={APP_NAME}", f"--urgency={urgency}", "--", title, markup]


def _run(argv: list[str], env: dict[str, str], timeout: float, program: str) -> Sent:
    import contextlib
    import os
    import signal
    import subprocess

    from claude_orchestrator.notify_message import DeliveryFailed, Sent

    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise DeliveryFailed(
            f"desktop: {program} could not be run ({exc.strerror or type(exc).__name__})",
            retryable=False,
        ) from None
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # its session: the program, its children
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.communicate(timeout=1)
        except subprocess.TimeoutExpired:  # a child that left the session holds the pipe
            proc.kill()
            if proc.stderr is not None:
                proc.stderr.close()
        raise DeliveryFailed(
            f"desktop: {program} did not finish within {timeout:g} s", retryable=True
        ) from None
    if proc.returncode != 0:
        said = err.decode("utf-8", "replace").strip().splitlines()
        why = f": {said[0][:200]}" if said else ""
        raise DeliveryFailed(
            f"desktop: {program} exited with status {proc.returncode}{why}", retryable=True
        )
    return Sent(None, program)
