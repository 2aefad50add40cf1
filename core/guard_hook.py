"""The ``guard`` command: Claude Code's PreToolUse hook protocol around :func:`guard.decide`.

Reads the hook JSON on stdin, confirms the role against the worktree's branch, loads the
rules from the configuration *committed on the overseer branch* (so an agent cannot
loosen its own rules in its working copy), decides, logs, and answers: exit 0 and no
output to allow; exit 2 and one line on stderr to block. Anything unexpected blocks.

Logging never delays or changes a decision: the record goes to the store with a busy
timeout of a few milliseconds, and to an append-only spool beside the store when the
store is busy or unusable; the next guard that reaches the store drains the spool.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

SPOOL = "guard-spool.jsonl"
MAX_INPUT = 1 << 20
LOG_BUSY_TIMEOUT_S = 0.005

_SECRETS = [
    (re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|KEY|AUTH)"
                r"[A-Za-z0-9_]*)=(\"[^\"]*\"|'[^']*'|\S+)", re.IGNORECASE), r"\1=***"),
    (re.compile(r"(Authorization:\s*)(\S+\s+)?[^\s'\"]+", re.IGNORECASE), r"\1***"),
    (re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s:@]+(:[^/\s@]*)?@", re.IGNORECASE), r"\1***@"),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"), "***"),
]  # fmt: skip


def redact(text: str) -> str:
    """Remove secrets: ``VAR=...`` tokens, Authorization headers, URL credentials."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _head_branch(git_dir: Path | None) -> str | None:
    if git_dir is None:
        return None
    try:
        text = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text[len("ref: refs/heads/") :] if text.startswith("ref: refs/heads/") else None


def _overseer_config(vcs: Any, overseer: str, cache_dir: Path) -> Any:
    """The config committed on the overseer branch, cached by blob id; the defaults when
    there is none (never the agent's working copy, which it could edit)."""
    from .config import Config, default_config, parse_text, validate_data

    proc = vcs.run("rev-parse", "--verify", "-q", f"refs/heads/{overseer}:orchestrator.yaml",
                   check=False)  # fmt: skip
    blob = proc.stdout.strip()
    if proc.returncode != 0 or not blob:
        return default_config()
    cache = cache_dir / f"guard-config-{blob}.json"
    try:
        return Config(json.loads(cache.read_text(encoding="utf-8")), None, {})
    except (OSError, ValueError):
        pass
    text = vcs.run("cat-file", "blob", blob).stdout
    path = Path("orchestrator.yaml")
    document, positions = parse_text(text, path)
    config = validate_data(document, path, positions)
    if cache_dir.is_dir():
        from .fsutil import atomic_write_text

        with contextlib.suppress(OSError):
            atomic_write_text(cache, json.dumps(config.data))
    return config


def log_decision(location: Any, config: Any, spec_id: str, role: str, tool: str,
                 detail: str, decision: Any) -> None:  # fmt: skip
    """Record the decision; on any trouble, spool it. Never raises."""
    from .models import NewEvent

    record: dict[str, Any] = {
        "spec_id": spec_id, "role": role, "event_type": "guard_decision",
        "message": f"{'allowed' if decision.allowed else 'denied'} {tool}: "
                   f"{redact(detail)[:300]}",
        "metadata": {"tool": tool, "decision": "allow" if decision.allowed else "deny",
                     "reason": redact(decision.reason), "input": redact(detail)[:2000]},
    }  # fmt: skip
    spool = location.state_dir / SPOOL
    try:
        from .plugins.sqlite_store import SQLiteStore

        store_path = config.store_path
        path = (location.root / store_path) if store_path else location.default_store_path()
        env_db = os.environ.get("CLAUDE_ORCHESTRATOR_DB")
        store = SQLiteStore(Path(env_db) if env_db else path, busy_timeout=LOG_BUSY_TIMEOUT_S)
        try:
            _drain(store, location.state_dir)
            store.append_event(NewEvent(**record))
        finally:
            store.close()
    except Exception:
        try:
            spool.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        except OSError:
            pass  # nowhere to write: the decision stands regardless


def _drain(store: Any, state_dir: Path) -> None:
    """Move spooled records into the store (each spool file is claimed by a rename)."""
    from .models import NewEvent

    spool = state_dir / SPOOL
    if not spool.exists() and not list(state_dir.glob(f"{SPOOL}.*")):
        return
    claimed = state_dir / f"{SPOOL}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        os.replace(spool, claimed)
    for path in sorted(state_dir.glob(f"{SPOOL}.*")):
        if not path.name.endswith(f".{os.getpid()}") and path.stat().st_mtime > _now() - 60:
            continue  # another drainer's claim, still fresh
        lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            try:
                store.append_event(NewEvent(**json.loads(line)))
            except Exception:  # noqa: S112 - a record the store refuses stays out, not retried forever
                continue
        path.unlink(missing_ok=True)


def _now() -> float:
    import time

    return time.time()


def run(role: str | None, stdin_text: str) -> tuple[int, str]:
    """(exit code, stderr line) for one hook call."""
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
    from .config import default_config, load_config
    from .errors import OrchestratorError
    from .plugins.git_vcs import GitVCS
    from .workflow import parse_branch

    vcs = GitVCS(location.root, location.common_dir)
    branch = _head_branch(location.git_dir) or "(detached HEAD)"
    # The working copy's config is consulted only to find the overseer branch when the
    # prefix is not the default; a broken copy must not lock anyone out, and the rules
    # always come from the config committed on the overseer branch.
    candidates = [default_config()]
    with contextlib.suppress(OrchestratorError):
        candidates.append(load_config(location.config_path({}),
                                      cache_dir=location.state_dir / "cache"))  # fmt: skip
    config = default_config()
    for candidate in candidates:
        parsed = parse_branch(candidate.branch_prefix, branch)
        if parsed is not None:
            overseer = candidate.overseer_branch(parsed.spec_id)
            try:
                config = _overseer_config(vcs, overseer, location.state_dir / "cache")
            except OrchestratorError as exc:
                if role != "overseer":
                    return 2, (f"the orchestrator.yaml committed on {overseer} is invalid "
                               f"({exc}); the overseer fixes it")  # fmt: skip
                config = default_config()  # the overseer must be able to fix it
            break
    decision = decide(payload, role=role, root=location.root, branch=branch, config=config,
                      vcs=vcs)  # fmt: skip
    if not isinstance(decision, Decision):
        return 2, "claude-orchestrator guard: no decision: denied"
    parsed = parse_branch(config.branch_prefix, branch)
    if parsed is not None and isinstance(payload, dict):
        tool = str(payload.get("tool_name"))
        tool_input = payload.get("tool_input") or {}
        detail = str(tool_input.get("command") or tool_input.get("file_path")
                     or tool_input.get("notebook_path") or "")  # fmt: skip
        log_decision(location, config, parsed.spec_id, parsed.role, tool, detail, decision)
    if decision.allowed:
        return 0, ""
    return 2, decision.reason


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
        print(message, file=sys.stderr)
    return code
