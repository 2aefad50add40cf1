"""Claude Code permission files for each role, built from ``orchestrator.yaml``.

Each file is a Claude Code settings document holding only ``permissions``; an agent runs
as ``claude --setting-sources "" --settings .claude/permissions-<role>.json`` from the root
of its worktree, so the role's rules alone apply (plus managed settings). Claude Code
silently drops a file with an invalid ``defaultMode``, so the builders emit nothing but
keys its schema defines, and :func:`is_valid_rule` checks every rule.

Choices that follow from how Claude Code matches rules:

* ``defaultMode: dontAsk``: anything not allowed is denied without a prompt, so the deny
  lists are defence in depth (other sources, such as managed settings, may add allows).
* ``Bash(prefix *)``: ``*`` matches anything, spaces and ``/`` included. Each command is
  allowed both bare and with arguments. Rules use the space form, never the legacy ``:*``.
* git's global options defeat ``Bash(git merge *)``; merges are therefore also denied as
  ``Bash(git * merge *)``, and implementors may not use ``-C``, ``-c``, ``--git-dir`` or
  ``--work-tree`` at all (``-c alias.m=merge`` would dodge even the second form). Every
  overseer deny comes in both forms: its rules are specific enough not to catch commit
  messages.
* Paths are cwd-relative (``./src/**``): a leading ``/`` would be relative to the
  settings file's own directory, ``.claude/``.
* Options that run commands or write files through an allowed command are denied for
  implementors: ``git rebase --exec``, ``git diff --output``, ``git fetch --upload-pack``,
  ``git push --receive-pack``, ``find -exec`` / ``-delete`` and so on.

Rules judge only the command line: a test command runs whatever the tests do. The guard
hook and the sandbox bind subprocesses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from claude_orchestrator.config import Config

ROLES = ("overseer", "implementor")

#: Tool names of the settings schema's ``permissionRule`` pattern (SchemaStore).
TOOLS = frozenset(
    {
        "Agent", "Artifact", "Bash", "Cd", "Edit", "EnterWorktree", "ExitPlanMode", "Glob",
        "Grep", "KillShell", "LSP", "Monitor", "MultiEdit", "NotebookEdit", "PowerShell",
        "Read", "ShareOnboardingGuide", "Skill", "TaskCreate", "TaskGet", "TaskList",
        "TaskOutput", "TaskStop", "TaskUpdate", "TodoWrite", "ToolSearch", "WebFetch",
        "WebSearch", "Workflow", "Write",
    }
)  # fmt: skip

#: The claude-orchestrator commands an implementor's runbook uses.
IMPLEMENTOR_COMMANDS = (
    "sync-status",
    "check-conflicts",
    "run-tests",
    "open-pr",
    "events log-event",
    "events status",
    "events recent",
)

#: Read-only shell tools both roles may run (no option of theirs writes a file or runs a
#: command, except find's, which are denied).
READ_TOOLS = ("cat", "diff", "find", "grep", "head", "ls", "pwd", "tail", "wc")

#: Paths no implementor may write, besides the tasks file.
IMPLEMENTOR_PROTECTED_PATHS = (
    "state/overseer.md",
    ".claude/**",
    ".github/workflows/**",
    "orchestrator.yaml",
    ".git/**",
)

_RULE_RE = re.compile(r"(?P<tool>[A-Za-z][A-Za-z0-9_]*)(?:\((?P<spec>.*)\))?", re.DOTALL)
_MCP_RE = re.compile(r"mcp__[A-Za-z0-9_.*-]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


# ----------------------------------------------------------------------- rule grammar
def is_valid_rule(rule: str) -> bool:
    """Whether ``rule`` is a well-formed Claude Code permission rule.

    Accepts ``Tool`` and ``Tool(specifier)`` with a tool the settings schema knows, and
    MCP tool names (``mcp__server`` or ``mcp__server__tool``). Rejects an empty or blank
    specifier, unbalanced parentheses, control characters, and Bash specifiers in the
    legacy ``prefix:*`` form.
    """
    if not isinstance(rule, str) or not rule or _CONTROL_RE.search(rule):
        return False
    if _MCP_RE.fullmatch(rule):
        return True
    match = _RULE_RE.fullmatch(rule)
    if match is None or match["tool"] not in TOOLS:
        return False
    spec = match["spec"]
    if spec is None:
        return True
    if not spec.strip() or not _balanced(spec):
        return False
    return not (match["tool"] == "Bash" and spec.endswith(":*"))


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# ----------------------------------------------------------------------- rule helpers
def _bash(*commands: str) -> list[str]:
    return [f"Bash({command})" for command in commands]


def _command(prefix: str) -> list[str]:
    """A command allowed bare and with any arguments."""
    return _bash(prefix, f"{prefix} *")


def _checked(text: str, where: str) -> str:
    if "(" in text or ")" in text or _CONTROL_RE.search(text):
        raise ConfigError(
            f"{where}: {text!r} cannot be written as a Claude Code permission rule "
            "(no parentheses or control characters): change it in orchestrator.yaml"
        )
    return text


def _path(pattern: str, where: str) -> str:
    """A config path (relative to the repository root) as a cwd-relative rule path."""
    text = _checked(pattern.strip(), where)
    while text.startswith(("./", "/")):
        text = text[2:] if text.startswith("./") else text[1:]
    return f"./{text or '**'}"


def _edits(patterns: Iterable[str], where: str) -> list[str]:
    return [f"Edit({_path(p, where)})" for p in patterns]


def _protected_branches(config: Config) -> list[str]:
    return list(dict.fromkeys([config.main_branch, "main", "master"]))


def _overseer_glob(config: Config) -> str:
    return f"{config.branch_prefix}/*/overseer"


def _tests(config: Config, roles: Iterable[str]) -> list[str]:
    rules: list[str] = []
    for role in roles:
        for kind, command in sorted(config.test_commands(role).items()):
            rules += _command(_checked(command.strip(), f"tests.{role}.{kind}"))
    return rules


def _tools() -> list[str]:
    rules: list[str] = []
    for tool in READ_TOOLS:
        rules += _command(tool)
    return rules


def _find_denies() -> list[str]:
    # find runs commands and writes files through these actions.
    return _bash(*(f"find *{action}*" for action in ("-exec", "-ok", "-delete", "-fprint",
                                                       "-fls")))  # fmt: skip


def _assemble(groups: Iterable[Iterable[str]]) -> list[str]:
    """Groups in their order, each sorted; a rule already listed is left out."""
    seen: set[str] = set()
    result: list[str] = []
    for group in groups:
        for rule in sorted(set(group)):
            if rule not in seen:
                seen.add(rule)
                result.append(rule)
    return result


GUARD_MATCHER = "Bash|Edit|Write|MultiEdit|NotebookEdit"
GUARD_TIMEOUT_S = 10  # the guard's own limit, inside...
HOOK_TIMEOUT_S = 30  # ...Claude Code's, so a hung guard still ends in a block (exit 2)


def guard_hook(role: str) -> dict[str, Any]:
    """The PreToolUse hook that runs ``claude-orchestrator guard`` for a role.

    Claude Code lets a call through when a hook exits 1, crashes, is missing or times
    out; the shell wrapper turns every such failure into exit 2 (block), and the guard's
    own ``timeout`` is shorter than Claude Code's hook timeout.
    """
    command = f"timeout {GUARD_TIMEOUT_S} claude-orchestrator guard --role {role} || exit 2"
    return {"PreToolUse": [{"matcher": GUARD_MATCHER, "hooks": [
        {"type": "command", "command": command, "timeout": HOOK_TIMEOUT_S},
    ]}]}  # fmt: skip


def sandbox(config: Config) -> dict[str, Any]:
    """Claude Code's sandbox (bubblewrap on Linux) for implementors: what the code a test
    run executes may not write, whatever the command line looked like."""
    # Literal paths only (no globs), and not .git: in the main worktree it is the git
    # directory itself, which commits must write. The guard covers the rest.
    deny_write = [p.rstrip("*").rstrip("/") for p in IMPLEMENTOR_PROTECTED_PATHS]
    deny_write = [p for p in deny_write if p != ".git"]
    return {
        "enabled": True,
        "allowUnsandboxedCommands": False,
        "failIfUnavailable": True,
        "filesystem": {"denyWrite": sorted(set(deny_write))},
        "network": {"allowedDomains": [config.forge["host"]]},
    }


def _document(allow: list[str], deny: list[str], role: str, config: Config) -> dict[str, Any]:
    document: dict[str, Any] = {
        "permissions": {"defaultMode": "dontAsk", "allow": allow, "deny": deny},
        "hooks": guard_hook(role),
    }
    if role == "implementor":
        document["sandbox"] = sandbox(config)
    return document


# ----------------------------------------------------------------------- the overseer
def _overseer_git_denies(config: Config) -> list[str]:
    forms: list[str] = []
    main = config.main_branch
    # Forced: a flag before the ref (main, HEAD:main, HEAD:refs/heads/main) or after it,
    # or a +refspec. Deleted: :main, --delete, -d.
    for ref in (f" {main}", f":{main}", f"/{main}"):
        forms += [f"push *--force*{ref}", f"push *-f *{ref}"]
    forms += [f"push * {main} --force*", f"push * {main} -f"]
    forms += [f"push *+{main}", f"push *+*:{main}", f"push *+*/{main}"]
    forms += [f"push * :{main}", f"push *--delete* {main}", f"push * -d {main}"]
    forms += ["branch -D *", "branch * -D *", "branch *--delete*--force*",
              "branch *--force*--delete*"]  # fmt: skip
    # Both the plain form and the one behind git's global options (git -C . push ...).
    return [rule for form in forms for rule in _bash(f"git {form}", f"git * {form}")]


def _overseer(config: Config) -> dict[str, Any]:
    allow = _assemble(
        [
            _command("git"),
            _command("gh pr"),
            _command("claude-orchestrator"),
            _tests(config, ("overseer", "implementor")),
            _tools(),
            ["Read(./**)", *_edits(config.role_paths("overseer"), "paths.overseer")],
        ]
    )
    deny = _assemble([_overseer_git_denies(config), _find_denies(), ["Edit(./.git/**)"]])
    return _document(allow, deny, "overseer", config)


# ----------------------------------------------------------------------- implementors
def _implementor_git_allows(config: Config) -> list[str]:
    prefix = config.branch_prefix
    overseer = _overseer_glob(config)
    rules: list[str] = []
    for verb in ("status", "diff", "log", "show", "add", "commit", "fetch"):
        rules += _command(f"git {verb}")
    rules += _bash(
        f"git rebase {overseer}",
        f"git rebase origin/{overseer}",
        "git rebase --continue",
        "git rebase --abort",
        "git rebase --skip",
        f"git push origin {prefix}/*",
        f"git push -u origin {prefix}/*",
        f"git push --set-upstream origin {prefix}/*",
        f"git push --force-with-lease origin {prefix}/*",
    )
    return rules


def _implementor_git_denies(config: Config) -> list[str]:
    overseer = _overseer_glob(config)
    forms = ["merge *", "* merge *", "-C *", "-c *", "--git-dir*", "--work-tree*"]
    for branch in _protected_branches(config):
        for verb in ("checkout", "switch", "reset", "branch", "rebase"):
            forms += [f"{verb} *{branch}", f"{verb} *{branch} *"]
        forms += [f"push * {branch}", f"push * {branch} *", f"push *:{branch}",
                  f"push *:{branch} *", f"fetch *:{branch}"]  # fmt: skip
    for verb in ("checkout", "switch", "reset", "branch", "push"):
        forms += [f"{verb} *{overseer}", f"{verb} *{overseer} *"]
    # Refspecs that move (or delete) another feature branch or any ref by its full name,
    # and forced +refspecs. (`push *:*` would read as the legacy prefix form `push *`.)
    for verb in ("push", "fetch"):
        forms += [f"{verb} *:{config.branch_prefix}/*", f"{verb} *:refs/*"]
    forms.append("push * +*")
    # Options that run a command or write a file through an allowed git command.
    forms += ["rebase *--exec*", "rebase * -x *", "*--output*", "fetch *--upload-pack*",
              "push *--receive-pack*", "push *--exec*"]  # fmt: skip
    return _bash(*(f"git {form}" for form in forms))


def _implementor(config: Config, area: str | None) -> dict[str, Any]:
    where = f"paths.areas.{area}" if area in config.data["paths"]["areas"] else "paths.implementor"
    tasks_file = config.tasks_file_template.replace("{spec_id}", "*")
    allow = _assemble(
        [
            _implementor_git_allows(config),
            _command("gh pr create") + _command("gh pr view"),
            [r for c in IMPLEMENTOR_COMMANDS for r in _command(f"claude-orchestrator {c}")],
            _tests(config, ("implementor",)),
            _tools(),
            ["Read(./**)", *_edits(config.role_paths("implementor", area), where)],
        ]
    )
    deny = _assemble(
        [
            _implementor_git_denies(config),
            _bash("gh pr merge *", "gh api *"),
            _find_denies(),
            _edits(IMPLEMENTOR_PROTECTED_PATHS, "paths") + _edits([tasks_file], "tasks.file"),
        ]
    )
    return _document(allow, deny, "implementor", config)


# ----------------------------------------------------------------------- public API
def permissions(config: Config, role: str, area: str | None = None) -> dict[str, Any]:
    """The Claude Code settings document for ``role`` (``overseer`` or ``implementor``).

    :param area: narrows an implementor to that area's own paths (``paths.areas``); an
        area without its own entry gets the generic implementor paths.
    :raises ValueError: for an unknown role.
    :raises ConfigError: when a configured command or path cannot be written as a rule.
    """
    if role == "overseer":
        return _overseer(config)
    if role == "implementor":
        return _implementor(config, area)
    raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")


def permission_files(config: Config) -> dict[str, dict[str, Any]]:
    """Every permission file by repository-relative path.

    ``.claude/permissions-overseer.json``, ``.claude/permissions-implementor.json`` and
    ``.claude/permissions-impl-<area>.json`` for each area with its own ``paths.areas``
    entry (the other areas use the generic implementor file).
    """
    files = {
        ".claude/permissions-overseer.json": permissions(config, "overseer"),
        ".claude/permissions-implementor.json": permissions(config, "implementor"),
    }
    for area in sorted(config.data["paths"]["areas"]):
        files[f".claude/permissions-impl-{area}.json"] = permissions(config, "implementor", area)
    return files
