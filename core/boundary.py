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


def guarded(call: Callable[[], int], *passthrough: type[BaseException]) -> int:
    """Run ``call`` and turn every exception (except ``passthrough``) into an exit code."""
    try:
        return call()
    except passthrough:
        raise
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as exc:
        log = _crash_log(exc)
        print(
            f"internal error: {type(exc).__name__}: {exc} (traceback in {log}); please report it",
            file=sys.stderr,
        )
        return INTERNAL_ERROR
