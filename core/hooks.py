"""Git hooks that keep the store current: ``hooks install`` / ``hooks uninstall``.

The hooks (post-commit, post-rewrite, post-merge) run ``sync-status --from-hook``:

* they chain with a hook that was there before (it is moved aside to
  ``<name>.pre-claude-orchestrator`` and run first, with the same arguments and input;
  its exit status is what git sees), and ``uninstall`` puts it back;
* they live where git looks for hooks — ``core.hooksPath`` if set, else the common
  ``hooks`` directory shared by every worktree;
* they call this installation by absolute path (agents' shells differ) and clear the
  variables git exports to hooks (``GIT_DIR``, ``GIT_INDEX_FILE`` ...) before it runs git;
* they never block or fail a commit: ``--from-hook`` stays quiet, skips while a rebase,
  merge or cherry-pick is under way (post-rewrite and post-merge catch up afterwards),
  and records failures in ``<git common dir>/orchestrator/hook-errors.log``, which
  ``claude-orchestrator doctor`` shows;
* they never hang a commit either: ``--from-hook`` has a time budget
  (:data:`HOOK_BUDGET_SECONDS`, or ``$CLAUDE_ORCHESTRATOR_HOOK_BUDGET``) after which it
  logs that it gave up and exits 0 (``sync-status`` catches up later).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from pathlib import Path
from typing import Any, NamedTuple

from .fsutil import atomic_write_text

SYNC_HOOKS = ("post-commit", "post-rewrite", "post-merge")
#: the second line of role enforcement, for any agent (not only Claude Code)
REF_HOOKS = ("pre-push", "reference-transaction")
HOOKS = SYNC_HOOKS + REF_HOOKS
MARKER = "# claude-orchestrator hook"
HOOK_VERSION = 2
CHAINED_SUFFIX = ".pre-claude-orchestrator"
LOG_NAME = "hook-errors.log"
HOOK_BUDGET_SECONDS = 20.0
ENV_HOOK_BUDGET = "CLAUDE_ORCHESTRATOR_HOOK_BUDGET"
#: post-rewrite's first argument ("amend" or "rebase"), for the sync it runs
ENV_REWRITE = "CLAUDE_ORCHESTRATOR_REWRITE"


def hooks_dir(orch: Any) -> Path:
    vcs = orch.vcs()
    out = vcs.run("rev-parse", "--git-path", "hooks").stdout.strip()
    path = Path(out)
    return path if path.is_absolute() else (orch.location.root / path).resolve()


def command_line() -> str:
    """How the hook calls this installation: the interpreter by absolute path."""
    return f"{shlex.quote(sys.executable)} -m claude_orchestrator"


def script(hook: str, prefix: str = "feature", main: str = "main") -> str:
    """The hook's content (ref hooks embed the branch naming from the config)."""
    if hook in REF_HOOKS:
        return _ref_script(hook, prefix.rstrip("/"), main)
    chained = f'"$hook_dir/{hook}{CHAINED_SUFFIX}"'
    sync = f"{command_line()} sync-status --from-hook {hook}"
    if hook == "post-rewrite":  # git's "<old> <new>" lines go to the chained hook and to us
        read, run_chained = "input=$(cat)\n", f"printf '%s\\n' \"$input\" | {chained}"
        sync = f'printf \'%s\\n\' "$input" | {ENV_REWRITE}="$1" {sync}'
    else:
        read, run_chained, sync = "", chained, f"{sync} </dev/null"
    return f"""#!/bin/sh
{MARKER} v{HOOK_VERSION}: {hook}. Installed by `claude-orchestrator hooks install`;
# `claude-orchestrator hooks uninstall` removes it and restores any hook it chained.
hook_dir=$(dirname "$0")
{read}status=0
if [ -x {chained} ]; then
    {run_chained} "$@" || status=$?
fi
(
    unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX GIT_OBJECT_DIRECTORY \\
        GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_COMMON_DIR GIT_NAMESPACE
    {sync} >/dev/null 2>&1
) || true
exit $status
"""


def _ref_script(hook: str, prefix: str, main: str) -> str:
    """pre-push refuses pushes to protected refs from an implementor branch;
    reference-transaction refuses local updates of the main branch, the overseer branch
    and sibling branches from an implementor's worktree (worktrees share refs, so a
    local `git branch -f` would otherwise move them). POSIX sh: it runs on every ref
    update, so it does not start Python."""
    chained = f'"$hook_dir/{hook}{CHAINED_SUFFIX}"'
    qprefix = shlex.quote(prefix + "/")
    qmain = shlex.quote(main)
    if hook == "pre-push":
        check = """    [ -n "$remote_ref" ] || continue
    case "$remote_ref" in refs/heads/*) ;; *) continue ;; esac
    name=${remote_ref#refs/heads/}"""
        verb = "push to"
        gate = ""
    else:
        check = """    [ -n "$ref" ] || continue
    case "$ref" in refs/heads/*) ;; *) continue ;; esac
    # creating a branch is fine (git reports an unchecked old value as zeros too, so ask)
    git rev-parse -q --verify "$ref" >/dev/null || continue
    name=${ref#refs/heads/}"""
        verb = "move"
        gate = '[ "$1" = prepared ] || exit 0\n'
    fields = "local_ref local_oid remote_ref remote_oid" if hook == "pre-push" else "old new ref"
    return f"""#!/bin/sh
{MARKER} v{HOOK_VERSION}: {hook}. Installed by `claude-orchestrator hooks install`;
# `claude-orchestrator hooks uninstall` removes it and restores any hook it chained.
hook_dir=$(dirname "$0")
input=$(cat)
if [ -x {chained} ]; then
    printf '%s\\n' "$input" | {chained} "$@" || exit $?
fi
{gate}prefix={qprefix}
main={qmain}
branch=$(git symbolic-ref --short -q HEAD) || exit 0
case "$branch" in "$prefix"*/impl-*) ;; *) exit 0 ;; esac
printf '%s\\n' "$input" | while read -r {fields}; do
{check}
    [ "$name" = "$branch" ] && continue
    case "$name" in
        main|master|"$main"|"$prefix"*)
            echo "claude-orchestrator: implementors may not {verb} $name (from $branch)" >&2
            exit 1 ;;
    esac
done
"""


class HookState(NamedTuple):
    hook: str
    path: str
    installed: bool
    current: bool
    chained: bool


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


def _script_for(orch: Any, hook: str) -> str:
    return script(hook, orch.config.branch_prefix, orch.config.main_branch)


def status(orch: Any) -> list[HookState]:
    directory = hooks_dir(orch)
    states = []
    for hook in HOOKS:
        path = directory / hook
        ours = path.is_file() and _is_ours(path)
        current = ours and path.read_text(encoding="utf-8") == _script_for(orch, hook)
        states.append(HookState(hook, str(path), ours, current,
                                (directory / f"{hook}{CHAINED_SUFFIX}").exists()))  # fmt: skip
    return states


def install(orch: Any) -> list[HookState]:
    """Install (or update) the hooks; an existing foreign hook is chained, not replaced."""
    from .errors import refuse_implementor
    from .workflow import refuse_bare

    refuse_implementor("hooks install")
    refuse_bare(orch.location)  # no commits are made there: nothing to sync
    directory = hooks_dir(orch)
    directory.mkdir(parents=True, exist_ok=True)
    for hook in HOOKS:
        path = directory / hook
        chained = directory / f"{hook}{CHAINED_SUFFIX}"
        if path.exists() and not _is_ours(path):
            if chained.exists():
                from .errors import ValidationError

                raise ValidationError(
                    f"both {path} and {chained} exist and neither is ours: merge them by "
                    "hand, then run `claude-orchestrator hooks install` again"
                )
            os.replace(path, chained)
        atomic_write_text(path, _script_for(orch, hook))
        path.chmod(0o755)
    return status(orch)


def uninstall(orch: Any) -> list[HookState]:
    """Remove exactly what ``install`` added and restore chained hooks."""
    from .errors import refuse_implementor

    refuse_implementor("hooks uninstall")
    directory = hooks_dir(orch)
    for hook in HOOKS:
        path = directory / hook
        chained = directory / f"{hook}{CHAINED_SUFFIX}"
        if path.exists() and _is_ours(path):
            path.unlink()
            if chained.exists():
                os.replace(chained, path)
    return status(orch)


def log_path(orch: Any) -> Path:
    return Path(orch.location.state_dir) / LOG_NAME


def record_failure(orch: Any, hook: str, message: str) -> None:
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


def failures(orch: Any, limit: int = 20) -> list[str]:
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
def _time_budget(orch: Any, hook: str) -> Any:
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


def sync_from_hook(orch: Any, hook: str) -> None:
    """What the installed hooks run: sync quietly, never fail or hang, record problems."""
    with _time_budget(orch, hook):
        _sync_from_hook(orch, hook)


def _sync_from_hook(orch: Any, hook: str) -> None:
    from .errors import OrchestratorError
    from .workflow import parse_branch, sync_status

    try:
        vcs = orch.vcs()
        operation = vcs.operation_in_progress()
        if operation is not None and hook == "post-commit":
            return  # post-rewrite / post-merge catch up when it is over
        branch = vcs.current_branch()
        if branch is None or parse_branch(orch.config.branch_prefix, branch) is None:
            return  # not a feature branch: nothing to sync, and not a failure
        rewritten = _rewrite_mapping() if hook == "post-rewrite" else []
        result = sync_status(orch, rewritten=rewritten, how=os.environ.get(ENV_REWRITE, ""))
        for commit, task_id in result.unknown_tasks:
            record_failure(orch, hook, f"warning: {branch}: commit {commit[:12]} names "
                           f"{task_id}, which is not in the overseer's tasks.md")  # fmt: skip
        for problem in result.problems:
            record_failure(orch, hook, f"warning: {problem}")
    except OrchestratorError as exc:
        record_failure(orch, hook, f"error: {exc}")
    except Exception as exc:
        record_failure(orch, hook, f"internal error: {type(exc).__name__}: {exc}")
