"""``claude-orchestrator guard``: a Claude Code PreToolUse hook that makes role rules hold.

Permission rules in a settings file judge command *lines*; git's global options, shell
wrappers, ``bash -c`` and substitutions get around them. The guard therefore reads a
command the way the shell and each program will:

* :mod:`~claude_orchestrator.shellparse` gives the syntax tree, and :class:`Walker` runs
  it abstractly: it tracks every working directory a command can run in (through ``cd``,
  ``pushd``, subshells, pipelines, ``&&``/``||``, loops and ``env -C``), expands braces,
  tildes and globs itself, and follows links made earlier in the same line;
* for **implementors** it is an allow-list: a command passes only when every simple
  command in it is a program the guard knows (:mod:`~claude_orchestrator.guard_programs`,
  git in :mod:`~claude_orchestrator.guard_git`), every option is one that program's
  grammar knows (abbreviations resolved as the program would), every path it writes
  resolves into the role's paths, and no environment variable outside the allow-list is
  set. Anything else is denied with a reason that says what would pass and how
  ``guard.allow`` / ``guard.env`` in ``orchestrator.yaml`` can add a command or variable;
* the **overseer** may do anything but force-push or delete the main branch, delete an
  implementor branch holding unmerged work, or write outside its worktree or into the
  git directory.

It fails closed: malformed input, an unknown role, a role that does not match the
worktree's branch, an internal error — deny, exit 2, one line the agent can act on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .guard_context import Context, Deny
from .guard_walk import Walker
from .pathmatch import compile_patterns
from .shellparse import parse
from .shellparse_lex import ShellSyntaxError

if TYPE_CHECKING:
    from .config_model import Config
    from .protocols_vcs import VCS


class Decision(NamedTuple):
    allowed: bool
    reason: str


ALLOW = Decision(True, "")


def matches(patterns: Iterable[str], relative: str) -> bool:
    """gitignore semantics (see :mod:`claude_orchestrator.pathmatch`)."""
    return compile_patterns(list(patterns)).matches(relative)


# ---------------------------------------------------------------------- decisions
def decide(payload: object, *, role: str, root: Path, branch: str, config: Config,
           vcs: VCS | None = None) -> Decision:  # fmt: skip
    """Allow or deny one tool call (never raises).

    :param payload: the hook's JSON input, parsed.
    :param vcs: the repository's VCS; by default the plugin ``config`` names.
    """
    try:
        if not isinstance(payload, dict):
            raise Deny("malformed hook input: expected a JSON object")
        tool = payload.get("tool_name")
        tool_input = payload.get("tool_input")
        if not isinstance(tool, str) or not isinstance(tool_input, dict):
            raise Deny("malformed hook input: tool_name and tool_input are required")
        if vcs is None:
            vcs = _configured_vcs(Path(root), config)
        context = Context(role=role, root=root, branch=branch, config=config, vcs=vcs)
        cwd_text = payload.get("cwd")
        cwd = Path(os.path.realpath(cwd_text)) if isinstance(cwd_text, str) and cwd_text \
            else context.root  # fmt: skip
        if tool == "Bash":
            command = tool_input.get("command")
            if not isinstance(command, str):
                raise Deny("malformed hook input: Bash without a command")
            check_shell(context, command, cwd)
        elif tool in ("Write", "Edit", "MultiEdit", "NotebookEdit"):
            path = tool_input.get("file_path") or tool_input.get("notebook_path")
            if not isinstance(path, str) or not path:
                raise Deny(f"malformed hook input: {tool} without a file path")
            Walker(context).write(cwd, path, f"{tool} tool", expand=False)
        return ALLOW
    except Deny as exc:
        return Decision(False, exc.reason)
    except RecursionError:
        return Decision(False, "guard: the command is nested too deeply to check: denied")
    except Exception as exc:  # fail closed
        return Decision(False, f"guard internal error ({type(exc).__name__}: {exc}): denied")


def _configured_vcs(root: Path, config: Config) -> VCS:
    from .errors import OrchestratorError
    from .guard_context import open_vcs
    from .location import discover

    try:
        return open_vcs(discover(root, {}), config)
    except OrchestratorError as exc:
        raise Deny(f"cannot read the repository: {exc}") from None


def check_shell(context: Context, command: str, cwd: Path) -> None:
    try:
        tree = parse(command)
    except ShellSyntaxError as exc:
        # Also the overseer's: a command the parser cannot read could hide a force push.
        raise Deny(f"cannot check this command ({exc}): write it in plain shell") from None
    Walker(context).run(tree, frozenset({cwd}))
