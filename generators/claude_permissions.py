"""Claude Code permission files for each role, built from ``orchestrator.yaml``.

Each file is a Claude Code settings document; an agent runs as ``claude
--setting-sources "" --settings .claude/permissions-<role>.json`` from the root of its
worktree, so the role's rules alone apply (plus managed settings). Claude Code silently
drops a file with an invalid ``defaultMode``, so the builders emit nothing but keys its
schema defines, and :func:`is_valid_rule` checks every rule.

The guard (a PreToolUse hook in every file) is the boundary; the observation hooks next
to it (:func:`observation_hooks`) record each agent's state and deliver its messages.
The rules are kept so that they never refuse honest work:

* ``defaultMode: dontAsk`` and an allow rule for every program the guard's allow-list
  knows (:func:`guard_programs`), the configured test commands and ``guard.allow``, so
  whatever the guard allows reaches it. Deny rules are exact prefixes only
  (``git merge *``, ``gh pr merge *``): no glob in the middle of a rule, which would
  catch commit messages that say "merge" or "main".
* File scopes are ``Edit`` rules with cwd-relative paths (``./src/**``), from the role's
  path patterns (a ``!pattern`` becomes a deny). Claude Code also adds Edit deny rules to
  the sandbox's ``denyWrite`` (resolved from the working directory).
* The implementor's sandbox (bubblewrap on Linux) carries the file rules for code the
  agent runs: ``filesystem.denyWrite`` lists, relative to the settings file's own folder
  (``.claude/``, so ``../README.md``), the protected files and every tracked path the
  role may not write, folded into the shallowest directories that hold nothing it may
  write. Linux's sandbox takes literal paths only (no globs), so the list is built from
  the repository's tracked files when ``generate`` runs; ``generate --check`` notices a
  new top-level path. ``excludedCommands`` lets exactly ``git push <remote> HEAD`` (and
  its ``-u``/``--force-with-lease`` forms) run outside the sandbox, so pushes to any
  remote work; the guard and the pre-push hook judge them.
* ``env`` sets ``CLAUDE_ORCHESTRATOR_ROLE``, which the role-restricted commands read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
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

#: Paths no implementor may write, besides the tasks file (repository-relative).
IMPLEMENTOR_PROTECTED_PATHS = (
    "state/overseer.md",
    ".claude",
    ".github/workflows",
    "orchestrator.yaml",
    ".orchestrator-generated.json",
    ".githooks",
)
PROTECTED_DIRECTORIES = (".claude", ".github/workflows", ".githooks")
ROLE_VARIABLE = "CLAUDE_ORCHESTRATOR_ROLE"
#: shell builtins Claude Code handles itself or that need no rule
_NO_RULE = {"[", "[[", ":", "true", "false", "cd", "pushd", "popd", "chdir", "return", "exit",
            "break", "continue", "shift", "local", "readonly", "typeset", "declare", "export",
            "set", "unset", "read", "getopts", "wait", "times", "dirs", "jobs", "help",
            "caller", "builtin", "exec", "command", "time"}  # fmt: skip

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
    """A gitignore pattern (relative to the repository root) as a Claude Code rule path:
    anchored ones relative to the working directory (``./src/**``), the others at any
    depth (``**/*.md``)."""
    text = _checked(pattern.strip(), where).lstrip("!")
    if text.startswith("./"):
        text = "/" + text[2:]
    anchored = text.startswith(("/", "**")) or "/" in text.strip("/")
    text = text.lstrip("/")
    if text.endswith("/"):
        text += "**"
    return f"./{text}" if anchored else f"**/{text}"


def _edits(patterns: Iterable[str], where: str, *, negated: bool = False) -> list[str]:
    return [f"Edit({_path(p, where)})" for p in patterns
            if p.strip().startswith("!") == negated]  # fmt: skip


def _tests(config: Config, roles: Iterable[str]) -> list[str]:
    rules: list[str] = []
    for role in roles:
        for kind, command in sorted(config.test_commands(role).items()):
            rules += _command(_checked(command.strip(), f"tests.{role}.{kind}"))
    return rules


def _configured(config: Config) -> list[str]:
    rules: list[str] = []
    for index, entry in enumerate(config.data.get("guard", {}).get("allow", [])):
        rules += _command(_checked(" ".join(str(entry).split()), f"guard.allow[{index}]"))
    return rules


def guard_programs() -> list[str]:
    """Every program the guard's implementor allow-list knows (its checkers' names)."""
    from claude_orchestrator.guard_files import FILE_CHECKERS
    from claude_orchestrator.guard_programs import CHECKERS, OVERSEER_ONLY

    names = set(CHECKERS) | set(FILE_CHECKERS) | {"python", "python3"}
    return sorted(n for n in names if n not in OVERSEER_ONLY and n not in _NO_RULE)


def _programs() -> list[str]:
    rules: list[str] = []
    for name in guard_programs():
        rules += _command(name)
    return rules


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


OBSERVE_COMMAND = "claude-orchestrator agent-event || true"
OBSERVE_TIMEOUT_S = 5  # Claude Code waits for it: a slow store must not hold the agent


def observation_hooks() -> dict[str, Any]:
    """The observation hooks: ``claude-orchestrator agent-event`` on every hook of
    :data:`claude_orchestrator.agent_event.HOOKS`; it records the agent's state and
    hands the agent its messages.

    They fail open (unlike the guard): the command always exits 0, ``|| true`` keeps it
    so even if the command cannot start (exit 2 from UserPromptSubmit would drop the
    prompt, from Stop keep the turn going), and the short timeout bounds the wait.
    """
    from claude_orchestrator.agent_event import HOOKS

    hook = {"type": "command", "command": OBSERVE_COMMAND, "timeout": OBSERVE_TIMEOUT_S}
    return {name: [{"hooks": [dict(hook)]}] for name in HOOKS}


def sandbox_deny_write(config: Config, area: str | None,
                       tracked: Sequence[str] | None = None) -> list[str]:  # fmt: skip
    """Repository-relative literal paths no code an implementor runs may write: the
    protected files, and every tracked path outside the role's paths, folded into the
    shallowest directories that hold nothing the role may write."""
    from claude_orchestrator.pathmatch import compile_patterns

    patterns = config.role_paths("implementor", area)
    writable = compile_patterns(patterns)
    tasks = config.tasks_file_template.replace("{spec_id}", "*")
    protected = compile_patterns([*IMPLEMENTOR_PROTECTED_PATHS, tasks])

    def may_write(path: str) -> bool:
        return writable.matches(path) and not protected.matches(path)

    files = sorted({f.strip("/") for f in tracked or () if f and ".." not in f.split("/")})
    denied: set[str] = set(IMPLEMENTOR_PROTECTED_PATHS)
    open_dirs = {"/".join(f.split("/")[:i]) for f in files if may_write(f)
                 for i in range(1, f.count("/") + 1)}  # fmt: skip
    for path in files:
        if may_write(path):
            continue
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if depth == len(parts) or (
                prefix not in open_dirs and not _could_match_below(patterns, prefix)
            ):
                denied.add(prefix)
                break
    folded = sorted(denied)
    return [p for p in folded if not any(p.startswith(q + "/") for q in folded if q != p)]


def _could_match_below(patterns: Sequence[str], directory: str) -> bool:
    """Whether a write pattern could match a new file somewhere below ``directory``."""
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        body = pattern.lstrip("/").rstrip("/")
        if "/" not in body and not pattern.startswith("/"):
            return True  # matches at any depth
        literal = re.split(r"[*?\[]", body, maxsplit=1)[0]
        if (directory + "/").startswith(literal) or literal.startswith(directory + "/"):
            return True
    return False


def sandbox(config: Config, area: str | None = None,
            tracked: Sequence[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Claude Code's sandbox (bubblewrap on Linux) for implementors: what the code a test
    run executes may not write, whatever the command line looked like."""
    remote = str(config.data.get("forge", {}).get("remote", "origin"))
    pushes = [f"git push {remote} HEAD", f"git push -u {remote} HEAD",
              f"git push --set-upstream {remote} HEAD",
              f"git push --force-with-lease {remote} HEAD"]  # fmt: skip
    return {
        "enabled": True,
        "allowUnsandboxedCommands": False,
        "failIfUnavailable": True,
        # Relative sandbox paths are read from the settings file's folder (.claude/).
        "filesystem": {"denyWrite": [f"../{p}" for p in sandbox_deny_write(config, area, tracked)]},
        "excludedCommands": pushes,
        "network": {"allowedDomains": [config.forge["host"]]},
    }


def _document(allow: list[str], deny: list[str], role: str, config: Config,
              sandboxed: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    document: dict[str, Any] = {
        "permissions": {"defaultMode": "dontAsk", "allow": allow, "deny": deny},
        "hooks": {**guard_hook(role), **observation_hooks()},
        "env": {ROLE_VARIABLE: role},
    }
    if sandboxed is not None:
        document["sandbox"] = sandboxed
    return document


# ----------------------------------------------------------------------- the overseer
def _overseer(config: Config) -> dict[str, Any]:
    main = config.main_branch
    remote = str(config.data.get("forge", {}).get("remote", "origin"))
    allow = _assemble(
        [
            _command("git"),
            _command("gh"),
            _command("claude-orchestrator"),
            _tests(config, ("overseer", "implementor")),
            _configured(config),
            _programs(),
            ["Read(./**)", *_edits(config.role_paths("overseer"), "paths.overseer")],
        ]
    )
    # Exact forms only; the guard refuses every other spelling.
    deny = _assemble([
        _bash(f"git push --force {remote} {main}", f"git push -f {remote} {main}",
              f"git push {remote} +{main}", f"git push {remote} :{main}",
              f"git push {remote} --delete {main}", f"git push --delete {remote} {main}",
              "git push --mirror", "git push --mirror *", f"git branch -D {main}",
              f"git branch -d {main}"),
        ["Edit(./.git/**)"],
    ])  # fmt: skip
    return _document(allow, deny, "overseer", config)


# ----------------------------------------------------------------------- implementors
def _implementor(config: Config, area: str | None,
                 tracked: Sequence[str] | None) -> dict[str, Any]:  # fmt: skip
    where = f"paths.areas.{area}" if area in config.data["paths"]["areas"] else "paths.implementor"
    tasks_file = config.tasks_file_template.replace("{spec_id}", "*")
    patterns = config.role_paths("implementor", area)
    allow = _assemble(
        [
            _programs(),
            _tests(config, ("implementor",)),
            _configured(config),
            ["Read(./**)", *_edits(patterns, where)],
        ]
    )
    protected = [f"/{p}" if "/" not in p else p for p in IMPLEMENTOR_PROTECTED_PATHS]
    deny = _assemble(
        [
            _bash("git merge", "git merge *", "gh pr merge", "gh pr merge *",
                  "claude-orchestrator merge-pr", "claude-orchestrator merge-pr *"),
            _edits(protected, "paths") + _edits([tasks_file], "tasks.file")
            + _edits(patterns, where, negated=True)
            + [f"Edit(./{p}/**)" for p in PROTECTED_DIRECTORIES],
        ]
    )  # fmt: skip
    return _document(allow, deny, "implementor", config, sandbox(config, area, tracked))


# ----------------------------------------------------------------------- public API
def permissions(config: Config, role: str, area: str | None = None,
                tracked: Sequence[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The Claude Code settings document for ``role`` (``overseer`` or ``implementor``).

    :param area: narrows an implementor to that area's own paths (``paths.areas``); an
        area without its own entry gets the generic implementor paths.
    :param tracked: the repository's tracked files, for the sandbox's denyWrite list.
    :raises ValueError: for an unknown role.
    :raises ConfigError: when a configured command or path cannot be written as a rule.
    """
    if role == "overseer":
        return _overseer(config)
    if role == "implementor":
        return _implementor(config, area, tracked)
    raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")


def permission_files(
    config: Config, tracked: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every permission file by repository-relative path.

    ``.claude/permissions-overseer.json``, ``.claude/permissions-implementor.json`` and
    ``.claude/permissions-impl-<area>.json`` for each area with its own ``paths.areas``
    entry (the other areas use the generic implementor file).
    """
    files = {
        ".claude/permissions-overseer.json": permissions(config, "overseer"),
        ".claude/permissions-implementor.json": permissions(config, "implementor", None, tracked),
    }
    for area in sorted(config.data["paths"]["areas"]):
        files[f".claude/permissions-impl-{area}.json"] = permissions(
            config, "implementor", area, tracked
        )
    return files
