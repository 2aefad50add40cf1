"""The error boundary shared by the Typer CLI and the lean hook-path entry.

Expected errors print one line (``error: ...``) and exit with their code; a crash
writes its traceback to a log file, prints where, and exits 3.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .errors import OrchestratorError

INTERNAL_ERROR = 3
INTERRUPTED = 130


def _crash_log(exc: BaseException) -> str:
    import tempfile
    import time
    import traceback

    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:  # a name of its own: two crashes in one second must not overwrite each other
        fd, name = tempfile.mkstemp(prefix=f"claude-orchestrator-crash-{stamp}-", suffix=".log")
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(traceback.format_exception(exc)))
    except OSError:
        return "(could not write a log)"
    return str(Path(name))


def _line(text: str) -> str:
    """One printable line: control characters and characters the terminal's encoding
    cannot take (lone surrogates from undecodable arguments) escaped, at most 2,000
    characters (a bad value is named, not echoed whole)."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    text = text.encode(encoding, "backslashreplace").decode(encoding)
    return text if len(text) <= 2000 else text[:1990] + "... (cut)"


class PluginCrash(Exception):
    """A plugin's command failed with an exception that is no
    :class:`~claude_orchestrator.errors.OrchestratorError` (raised ``from`` it): a bug in
    that plugin, reported as the plugin's, not ours."""

    def __init__(self, plugin: str) -> None:
        super().__init__(plugin)
        self.plugin = plugin


def _internal_error(exc: Exception) -> int:
    whose, report = "", "please report it"
    if isinstance(exc, PluginCrash) and isinstance(exc.__cause__, Exception):
        whose = f" in plugin {exc.plugin!r}"
        report = f"please report it to the authors of plugin {exc.plugin!r}"
        exc = exc.__cause__
    log = _crash_log(exc)
    print(
        f"internal error{whose}: {type(exc).__name__}: {_line(str(exc))} (traceback in {log}); "
        f"{report}",
        file=sys.stderr,
    )
    return INTERNAL_ERROR


def guarded(call: Callable[[], int], *passthrough: type[BaseException]) -> int:
    """Run ``call`` and turn every exception (except ``passthrough``) into an exit code."""
    try:
        return call()
    except passthrough:
        raise
    except OrchestratorError as exc:
        print(f"error: {_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:
        return _internal_error(exc)
