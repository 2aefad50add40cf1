"""The ``guard`` command: Claude Code's PreToolUse hook protocol around :func:`guard.decide`.

Reads the hook JSON on stdin, confirms the role against the worktree's branch, loads the
rules from the configuration *committed on the overseer branch* (so an agent cannot
loosen its own rules in its working copy), decides, logs, and answers: exit 0 and no
output to allow; exit 2 and one line on stderr to block. Anything unexpected blocks.

Logging never delays or changes a decision: :mod:`~claude_orchestrator.guard_log` writes
the record through the configured store with a busy timeout of a few milliseconds, or
spools it when the store is busy, away or unusable (:mod:`~claude_orchestrator.spool`);
the next guard, ``events log-event`` or ``sync-status`` that reaches the store drains
the spool.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_log import log_decision
from .guard_redact import redact
from .guard_spool import SPOOL

if TYPE_CHECKING:
    from .config_model import Config
    from .guard import Decision
    from .location import Location
    from .manager import PluginRegistry
    from .protocols_vcs import VCS

SETTINGS_VARIABLE = "CLAUDE_ORCHESTRATOR_SETTINGS"  # agent_settings.SETTINGS_VARIABLE
SETTINGS_VALUE = "agent-settings"

__all__ = ["SPOOL", "main", "redact", "run"]  # redact and SPOOL: moved to guard_redact, guard_spool

MAX_INPUT = 8 << 20  # a 1 MiB command and its JSON escaping fit


def _head_branch(git_dir: Path | None) -> str | None:
    if git_dir is None:
        return None
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text[len("ref: refs/heads/") :] if text.startswith("ref: refs/heads/") else None


def trusted_cache_dir() -> Path:
    """Where the guard caches parsed configurations: ``guard/`` in the user's own
    directory (:func:`~.location.user_cache_dir`), not in the git directory, which code
    an implementor runs can write."""
    from .location import user_cache_dir

    return user_cache_dir() / "guard"


def _overseer_config(vcs: VCS, overseer: str, cache_dir: Path) -> Config | None:
    """The config committed on the overseer branch, cached by blob id; None when there is
    none (never the agent's working copy, which it could edit)."""
    from .config import Config, parse_text, validate_data

    blob = vcs.blob_id(f"refs/heads/{overseer}", "orchestrator.yaml")
    if blob is None:
        return None
    cache = cache_dir / f"config-{blob}.json"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and cached.get("blob") == blob:
            return Config(cached["data"], None, {})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    text = vcs.read_blob(blob)
    path = Path("orchestrator.yaml")
    document, positions = parse_text(text, path)
    config = validate_data(document, path, positions)
    with contextlib.suppress(OSError):
        from .fsutil import atomic_write_text

        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(cache, json.dumps({"blob": blob, "data": config.data}))
    return config


def _rules(role: str, vcs: VCS, location: Location, branch: str) -> tuple[Config, str | None]:
    """(the config whose rules apply, the agent's branch) — or raises OrchestratorError.

    The branch prefix that names the overseer branch is itself configuration: a prefix
    from the working copy (which the agent can edit) counts only when the config
    committed on the overseer branch it leads to says the same; without a committed
    config only the default prefix counts.
    """
    from .config import default_config, load_config
    from .errors import OrchestratorError
    from .workflow import parse_branch

    default = default_config()
    candidates = [default]
    with contextlib.suppress(OrchestratorError):
        candidates.append(load_config(location.config_path({}),
                                      cache_dir=location.state_dir / "cache"))  # fmt: skip
    root = Path(os.path.realpath(location.root))
    for candidate in candidates:
        prefix = candidate.branch_prefix
        home = f"{prefix.rstrip('/')}/{root.parent.name}/{root.name}"
        for name in (branch, home):
            parsed = parse_branch(prefix, name)
            if parsed is None or (name == home and vcs.resolve(f"refs/heads/{home}") is None):
                continue
            overseer = candidate.overseer_branch(parsed.spec_id)
            committed = _overseer_config(vcs, overseer, trusted_cache_dir())
            if committed is None and prefix == default.branch_prefix:
                return default, name
            if committed is not None and committed.branch_prefix == prefix:
                return committed, name
    return default, None


def _decision_vcs(
    location: Location, config: Config, default: Config, vcs: VCS, registry: PluginRegistry
) -> VCS:
    """The VCS ``config`` names: ``vcs``, which read the config, when that is the one."""
    from .guard_context import open_vcs

    name = config.vcs_plugin
    if name is None or name != default.vcs_plugin:
        return open_vcs(location, config, registry=registry)  # raises for a missing plugin
    if config.plugin_options(name) == default.plugin_options(name):
        return vcs
    return open_vcs(location, config, registry=registry)


def run(role: str | None, stdin_text: str) -> tuple[int, str]:
    """(exit code, what to print) for one hook call: with exit 2 the refusal, for
    standard error; with exit 0 nothing, or the JSON that refuses the call and ends the
    turn (a budget's halt), for standard output."""
    from .guard import Decision, decide
    from .location import discover

    try:
        payload = json.loads(stdin_text)
    except ValueError:
        return 2, "claude-orchestrator guard: malformed hook input (not JSON): denied"
    if role not in ("implementor", "overseer"):
        return 2, f"claude-orchestrator guard: unknown role {role!r}: denied"
    cwd = payload.get("cwd") if isinstance(payload, dict) else None
    location = discover(cwd if isinstance(cwd, str) and os.path.isdir(cwd) else None, os.environ)
    if location.common_dir is None:
        return 2, "claude-orchestrator guard: not in a git worktree: denied"
    from .config import default_config
    from .errors import OrchestratorError
    from .guard_context import open_vcs
    from .manager import PluginRegistry
    from .workflow import parse_branch

    registry = PluginRegistry(env=os.environ)  # shared with the decision log
    # The default VCS (a built-in name, which no installed plugin can take over) reads the
    # config committed on the overseer branch; that config names the VCS to decide with.
    default = default_config()
    vcs = open_vcs(location, default, registry=registry)
    branch = _head_branch(location.git_dir) or "(detached HEAD)"
    try:
        config, agent_branch = _rules(role, vcs, location, branch)
        vcs = _decision_vcs(location, config, default, vcs, registry)
    except OrchestratorError as exc:
        if role != "overseer":
            return 2, (f"the orchestrator.yaml committed on the overseer branch is invalid "
                       f"({exc}); the overseer fixes it")  # fmt: skip
        config, agent_branch = default_config(), None  # the overseer must be able to fix it
    decision = decide(payload, role=role, root=location.root, branch=branch, config=config,
                      vcs=vcs)  # fmt: skip
    strict = config.data.get("guard", {}).get("mode") == "strict"
    if strict and role == "implementor" and os.environ.get(SETTINGS_VARIABLE) != SETTINGS_VALUE:
        decision = Decision(False, (
            "this repository runs implementors in strict mode (guard.mode: strict): start "
            'Claude Code with claude --setting-sources "" --settings '
            '"$(claude-orchestrator agent-settings)"'))  # fmt: skip
    if not isinstance(decision, Decision):
        return 2, "claude-orchestrator guard: no decision: denied"
    parsed = parse_branch(config.branch_prefix, agent_branch or branch)
    halted = None
    if decision.allowed and parsed is not None:
        halted = budget_halt(location, config, parsed.spec_id, parsed.role, registry)
        decision = halted or decision
    if parsed is not None and isinstance(payload, dict):
        tool = str(payload.get("tool_name"))
        tool_input = payload.get("tool_input") or {}
        detail = str(tool_input.get("command") or tool_input.get("file_path")
                     or tool_input.get("notebook_path") or "")  # fmt: skip
        log_decision(location, config, parsed.spec_id, parsed.role, tool, detail, decision,
                     registry=registry)  # fmt: skip
    if decision.allowed:
        return 0, ""
    if halted is not None:
        # a halt ends the turn too: exit 2 would hand the refusal to the model, which
        # would ask again (Claude Code 2.1.330, tests/test_metrics_hooks_e2e.py)
        said = {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": halted.reason,
        }
        return 0, json.dumps({"continue": False, "stopReason": halted.reason,
                              "hookSpecificOutput": said})  # fmt: skip
    return 2, decision.reason


def budget_halt(location: Location, config: Config, spec_id: str, role: str,
                registry: PluginRegistry) -> Decision | None:  # fmt: skip
    """A denial when ``budgets.on_exceed: stop`` (of the committed config the guard
    decides with) and a recorded ``budget_exceeded`` covers the agent
    (:func:`claude_orchestrator.metrics_budget.halt_reason`); None otherwise. Costs
    nothing unless the config says ``stop``. A store that cannot be read halts nothing:
    a budget must not stop honest work because the store is away."""
    caps = config.data.get("budgets") or {}
    if caps.get("on_exceed") != "stop":
        return None
    from .guard import Decision
    from .guard_log import open_store
    from .metrics_budget import EXCEEDED, halt_reason

    try:
        store = open_store(location, config, registry=registry)
        try:
            with store.transaction() as tx:
                exceeded = tx.events(spec_id, types=(EXCEEDED,))
        finally:
            store.close()
    except Exception:
        return None
    reason = halt_reason(exceeded, caps, role)
    return Decision(False, reason) if reason is not None else None


def main(args: list[str]) -> int:
    """``guard --role ROLE``: never raises, never exits 1 (which would let the call through)."""
    try:
        role = None
        if len(args) == 2 and args[0] == "--role":
            role = args[1]
        elif len(args) == 1 and args[0].startswith("--role="):
            role = args[0].split("=", 1)[1]
        text = sys.stdin.read(MAX_INPUT + 1)
        if len(text) > MAX_INPUT:
            code, message = 2, "claude-orchestrator guard: hook input too large: denied"
        else:
            code, message = run(role, text)
    except BaseException as exc:  # fail closed, whatever happened
        code, message = (
            2,
            f"claude-orchestrator guard: internal error ({type(exc).__name__}): denied",
        )
    if message:
        print(message, file=sys.stderr if code else sys.stdout)
    return code
