"""Repository hooks that keep the store current: ``hooks install`` / ``hooks uninstall``.

The VCS plugin writes the hooks where its tool runs them (for git:
:mod:`claude_orchestrator.plugins.git_hooks`, which chains hooks that were there
before). The sync hooks (post-commit, post-rewrite, post-merge) run
``sync-status --from-hook``, which is this module's :func:`sync_from_hook`:

* they never block or fail a commit: ``--from-hook`` stays quiet, skips while a rebase,
  merge or cherry-pick is under way (post-rewrite and post-merge catch up afterwards),
  and records failures in ``<git common dir>/orchestrator/hook-errors.log``, which
  ``claude-orchestrator doctor`` shows;
* they never hang a commit either: ``--from-hook`` has a time budget
  (:data:`HOOK_BUDGET_SECONDS`, or ``$CLAUDE_ORCHESTRATOR_HOOK_BUDGET``) after which it
  logs that it gave up and exits 0 (``sync-status`` catches up later);
* a store that cannot be reached (its server away, or locked for longer than the hook
  path waits) is no failure: the branch is noted in the spool as needing a sync, quietly,
  and the next command that reaches the store runs it (:mod:`~.spool_writes`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .models_vcs import HookSettings, HookState

if TYPE_CHECKING:
    from .api import Orchestrator
    from .workflow import SyncResult

LOG_NAME = "hook-errors.log"
HOOK_BUDGET_SECONDS = 20.0
ENV_HOOK_BUDGET = "CLAUDE_ORCHESTRATOR_HOOK_BUDGET"
#: post-rewrite's first argument ("amend" or "rebase"), which the hook passes to the sync
ENV_REWRITE = "CLAUDE_ORCHESTRATOR_REWRITE"


def command_line() -> str:
    """How the hook calls this installation: the interpreter by absolute path."""
    import shlex

    return f"{shlex.quote(sys.executable)} -m claude_orchestrator"


def settings(orch: Orchestrator) -> HookSettings:
    """What the VCS writes into the hooks: this installation and the branch naming."""
    return HookSettings(command_line(), orch.config.branch_prefix, orch.config.main_branch)


def hooks_dir(orch: Orchestrator) -> Path:
    return orch.vcs().hooks_dir()


def status(orch: Orchestrator) -> list[HookState]:
    return orch.vcs().hook_status(settings(orch))


def install(orch: Orchestrator) -> list[HookState]:
    """Install (or update) the hooks; an existing foreign hook is chained, not replaced."""
    from .errors import refuse_implementor
    from .workflow import refuse_bare

    refuse_implementor("hooks install")
    refuse_bare(orch.location)  # no commits are made there: nothing to sync
    return orch.vcs().install_hooks(settings(orch))


def uninstall(orch: Orchestrator) -> list[HookState]:
    """Remove exactly what ``install`` added and restore chained hooks."""
    from .errors import refuse_implementor

    refuse_implementor("hooks uninstall")
    return orch.vcs().uninstall_hooks(settings(orch))


def log_path(orch: Orchestrator) -> Path:
    return Path(orch.location.state_dir) / LOG_NAME


def record_failure(orch: Orchestrator, hook: str, message: str) -> None:
    """Append one line to the hook error log (never raises)."""
    import time

    with contextlib.suppress(Exception):  # a hook must never fail the commit, even to report
        path = log_path(orch)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        line = f"{stamp}\t{hook}\t{os.getcwd()}\t{' '.join(message.split())}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        finally:
            os.close(fd)


def failures(orch: Orchestrator, limit: int = 20) -> list[str]:
    try:
        lines = log_path(orch).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return lines[-limit:]


def _budget() -> float:
    try:
        budget = float(os.environ.get(ENV_HOOK_BUDGET, HOOK_BUDGET_SECONDS))
    except ValueError:
        return HOOK_BUDGET_SECONDS
    return budget if 0 < budget < 3600 else HOOK_BUDGET_SECONDS


@contextlib.contextmanager
def _time_budget(orch: Orchestrator, hook: str) -> Iterator[None]:
    """Give up after the budget: log why and end the process (exit 0, the commit is
    made already). A timer thread does it while Python runs; SIGALRM's default action
    is the backstop for a thread stuck in C code that holds the interpreter."""
    import signal
    import threading

    budget = _budget()

    def give_up() -> None:
        record_failure(orch, hook, f"error: gave up after {budget:g} s (the hook's time "
                       f"budget, {ENV_HOOK_BUDGET}); run `claude-orchestrator sync-status` "
                       "to catch up")  # fmt: skip
        os._exit(0)

    timer = threading.Timer(budget, give_up)
    timer.daemon = True
    timer.start()
    alarm = hasattr(signal, "alarm") and threading.current_thread() is threading.main_thread()
    if alarm:
        previous = signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(budget) + 10)
    try:
        yield
    finally:
        timer.cancel()
        if alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)


def _rewrite_mapping() -> list[tuple[str, str]]:
    """post-rewrite's standard input: one ``<old> <new> [extra]`` line per rewritten
    commit (git gives it for amend and rebase); anything else is ignored."""
    import re

    if sys.stdin is None or sys.stdin.isatty():
        return []
    pairs = []
    for line in sys.stdin.read(1 << 22).splitlines():
        fields = line.split()
        if len(fields) >= 2 and all(re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", f)
                                    for f in fields[:2]):  # fmt: skip
            pairs.append((fields[0], fields[1]))
    return pairs


def record_sync_warnings(orch: Orchestrator, hook: str, result: SyncResult) -> None:
    """Record a sync's warnings in the hook error log (a hook has no one to tell)."""
    for commit, task_id in result.unknown_tasks:
        record_failure(orch, hook, f"warning: {result.branch}: commit {commit[:12]} names "
                       f"{task_id}, which is not in the overseer's tasks.md")  # fmt: skip
    for problem in result.problems:
        record_failure(orch, hook, f"warning: {problem}")


def sync_from_hook(orch: Orchestrator, hook: str) -> None:
    """What the installed hooks run: sync quietly, never fail or hang, record problems."""
    with _time_budget(orch, hook):
        _sync_from_hook(orch, hook)


def _sync_from_hook(orch: Orchestrator, hook: str) -> None:
    from .errors import OrchestratorError
    from .spool_writes import Spooled, sync
    from .workflow import parse_branch

    try:
        vcs = orch.vcs()
        operation = vcs.operation_in_progress()
        if operation is not None and hook == "post-commit":
            return  # post-rewrite / post-merge catch up when it is over
        branch = vcs.current_branch()
        if branch is None or parse_branch(orch.config.branch_prefix, branch) is None:
            return  # not a feature branch: nothing to sync, and not a failure
        rewritten = _rewrite_mapping() if hook == "post-rewrite" else []
        result = sync(orch, hook=hook, rewritten=rewritten, how=os.environ.get(ENV_REWRITE, ""))
        if not isinstance(result, Spooled):  # spooled: quiet, the drain syncs it
            record_sync_warnings(orch, hook, result)
    except OrchestratorError as exc:
        record_failure(orch, hook, f"error: {exc}")
    except Exception as exc:
        record_failure(orch, hook, f"internal error: {type(exc).__name__}: {exc}")
