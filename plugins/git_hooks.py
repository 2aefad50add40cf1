"""The repository hooks of the ``git`` VCS plugin, and its ``info/exclude`` edit.

The hooks (post-commit, post-rewrite, post-merge) run ``sync-status --from-hook``;
pre-push and reference-transaction are the second line of role enforcement:

* they chain with a hook that was there before (it is moved aside to
  ``<name>.pre-claude-orchestrator`` and run first, with the same arguments and input;
  its exit status is what git sees), and ``uninstall`` puts it back;
* they live where git looks for hooks — ``core.hooksPath`` if set, else the common
  ``hooks`` directory shared by every worktree;
* they call this installation by absolute path (agents' shells differ) and clear the
  variables git exports to hooks (``GIT_DIR``, ``GIT_INDEX_FILE`` ...) before it runs git.
"""

from __future__ import annotations

import os
from pathlib import Path

from claude_orchestrator.errors import ValidationError
from claude_orchestrator.fsutil import atomic_write_text
from claude_orchestrator.hooks import ENV_REWRITE
from claude_orchestrator.models_vcs import HookSettings, HookState

from .git_run import GitBase

SYNC_HOOKS = ("post-commit", "post-rewrite", "post-merge")
#: the second line of role enforcement, for any agent (not only Claude Code)
REF_HOOKS = ("pre-push", "reference-transaction")
HOOKS = SYNC_HOOKS + REF_HOOKS
MARKER = "# claude-orchestrator hook"
HOOK_VERSION = 2
CHAINED_SUFFIX = ".pre-claude-orchestrator"


def script(hook: str, settings: HookSettings) -> str:
    """The hook's content (ref hooks embed the branch naming from the config)."""
    if hook in REF_HOOKS:
        return _ref_script(hook, settings.branch_prefix.rstrip("/"), settings.main_branch)
    chained = f'"$hook_dir/{hook}{CHAINED_SUFFIX}"'
    sync = f"{settings.command} sync-status --from-hook {hook}"
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
    import shlex

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


def _is_ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(encoding="utf-8", errors="replace")[:400]
    except OSError:
        return False


class GitHooks(GitBase):
    """Installing the hooks where git runs them; ignoring the tool's files."""

    def hooks_dir(self) -> Path:
        return self.git_path("hooks")

    def hook_status(self, settings: HookSettings) -> list[HookState]:
        directory = self.hooks_dir()
        states = []
        for hook in HOOKS:
            path = directory / hook
            ours = path.is_file() and _is_ours(path)
            current = ours and path.read_text(encoding="utf-8") == script(hook, settings)
            states.append(HookState(hook, str(path), ours, current,
                                    (directory / f"{hook}{CHAINED_SUFFIX}").exists()))  # fmt: skip
        return states

    def install_hooks(self, settings: HookSettings) -> list[HookState]:
        """Install (or update) the hooks; an existing foreign hook is chained, not replaced."""
        directory = self.hooks_dir()
        directory.mkdir(parents=True, exist_ok=True)
        for hook in HOOKS:
            path = directory / hook
            chained = directory / f"{hook}{CHAINED_SUFFIX}"
            if path.exists() and not _is_ours(path):
                if chained.exists():
                    raise ValidationError(
                        f"both {path} and {chained} exist and neither is ours: merge them by "
                        "hand, then run `claude-orchestrator hooks install` again"
                    )
                os.replace(path, chained)
            atomic_write_text(path, script(hook, settings))
            path.chmod(0o755)
        return self.hook_status(settings)

    def uninstall_hooks(self, settings: HookSettings) -> list[HookState]:
        """Remove exactly what ``install_hooks`` added and restore chained hooks."""
        directory = self.hooks_dir()
        for hook in HOOKS:
            path = directory / hook
            chained = directory / f"{hook}{CHAINED_SUFFIX}"
            if path.exists() and _is_ours(path):
                path.unlink()
                if chained.exists():
                    os.replace(chained, path)
        return self.hook_status(settings)

    def ignore_path(self, pattern: str, comment: str) -> bool:
        """Add ``pattern`` to ``info/exclude`` (shared by all worktrees); True if added."""
        if self.common_dir is None:
            return False
        exclude = self.common_dir / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        text = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
        if pattern in text.splitlines():
            return False
        separator = "" if not text or text.endswith("\n") else "\n"
        atomic_write_text(exclude, f"{text}{separator}# {comment}\n{pattern}\n")
        return True


__all__ = ["CHAINED_SUFFIX", "HOOKS", "MARKER", "GitHooks", "script"]
