"""Run the real Claude Code CLI headless against :class:`FakeModel` and tell what it did
with the one scripted tool call.

``.ci/install-claude.sh`` installs the pinned CLI into ``<repo>/.ci/npm``; without it,
``find_claude`` falls back to ``claude`` on PATH and returns None when there is neither.

Decisions, read from the tool_result Claude Code sent back (checked with 2.1.330):

- ``"ran"``: the tool executed. Its output is the result text; a failing command is still
  ``"ran"`` (``is_error`` true, text ``"Exit code 1"`` and the output).
- ``"denied"``: a permission rule or the permission mode refused it. Text
  ``"Permission to use Bash with command git merge main has been denied."`` for a deny
  rule, ``"Permission to use Bash has been denied because Claude Code is running in don't
  ask mode. ..."`` for a call no rule allows under ``dontAsk``; other refusals (a command
  substitution that cannot be checked, auto mode without its server-side check) have
  their own texts but are listed in the JSON output's ``permission_denials`` like these.
  A Write or Edit into a path an ``Edit`` deny rule covers is refused during the input
  check, as ``"<tool_use_error>File is in a directory that is denied by your permission
  settings.</tool_use_error>"``, and listed there too: that is ``"denied"``, not
  ``"invalid"``.
- ``"blocked"``: a PreToolUse hook refused it. Text ``"PreToolUse:Bash hook error:
  [<hook command>]: <stderr>"`` for exit code 2, ``"PreToolUse:Bash hook error: <reason>"``
  for a JSON ``permissionDecision: deny``; :attr:`ClaudeRun.reason` is the part after it.
- ``"invalid"``: the call failed Claude Code's input check, which comes before the
  permission rules and hooks (text ``"<tool_use_error>..."``: an unknown or deferred
  tool such as Glob/Grep, a missing parameter, an Edit whose ``old_string`` is not in
  the file, a long leading ``sleep``); nothing ran and no rule was consulted.
- ``"none"``: no tool_result came back (the CLI failed before or while calling the tool).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.fake_model import FakeModel, block_text

ROOT = Path(__file__).resolve().parents[2]
LOCAL_CLAUDE = ROOT / ".ci" / "npm" / "node_modules" / ".bin" / "claude"
PROMPT = "do it"

# Keep the CLI on loopback and quick: no update checks, telemetry, error reporting or
# reachability probe (with these set it connects to nothing but ANTHROPIC_BASE_URL).
OFFLINE_ENV = {
    "ANTHROPIC_API_KEY": "dummy",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}

HOOK_PREFIX = re.compile(r"^PreToolUse:\S+ hook error: (?:\[.*?\]: )?", re.S)
DENIED = re.compile(r"^Permission to use \S+ .*has been denied", re.S)
# A Write/Edit into a path an Edit deny rule covers fails the input check with this text.
DENIED_INPUT = "denied by your permission settings"


def find_claude() -> str | None:
    """The project-local CLI that CI installs, else ``claude`` on PATH, else None."""
    if LOCAL_CLAUDE.is_file() and os.access(LOCAL_CLAUDE, os.X_OK):
        return str(LOCAL_CLAUDE)
    return shutil.which("claude")


@dataclass
class Step:
    """What Claude Code did with one scripted tool call (see the decisions above)."""

    decision: str
    tool_result: dict[str, Any] | None
    text: str
    is_error: bool
    reason: str


def step(fake: FakeModel, index: int, output: dict[str, Any] | None) -> Step:
    """What became of scripted call ``index``, read from its tool_result and the run's
    ``permission_denials``."""
    tool_result = fake.results.get(index)
    decision, reason = decide(tool_result, fake.tool_use_ids[index], output)
    return Step(
        decision=decision,
        tool_result=tool_result,
        text=block_text(tool_result) if tool_result else "",
        is_error=bool(tool_result and tool_result.get("is_error")),
        reason=reason,
    )


@dataclass
class ClaudeRun:
    """What one ``claude -p`` run did with the scripted tool calls: the first one's
    outcome in the top-level fields, every one's in ``steps``."""

    returncode: int
    stdout: str
    stderr: str
    decision: str  # "ran" | "denied" | "blocked" | "invalid" | "none"
    tool_result: dict[str, Any] | None
    text: str  # the tool_result's text ("" when there is none)
    is_error: bool
    reason: str  # the hook's reason when blocked, else the text
    output: dict[str, Any] | None  # the parsed ``--output-format json`` result
    seconds: float
    timed_out: bool = False
    command: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"ClaudeRun(decision={self.decision!r}, returncode={self.returncode}, "
            f"text={self.text[:300]!r}, is_error={self.is_error}, "
            f"seconds={self.seconds:.1f}, timed_out={self.timed_out}, "
            f"requests={self.requests}, stdout={self.stdout[-300:]!r}, "
            f"stderr={self.stderr[-600:]!r})"
        )


def parse_output(stdout: str) -> dict[str, Any] | None:
    """The JSON result object from ``--output-format json`` (None if there is none)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def decide(
    tool_result: dict[str, Any] | None, tool_use_id: str, output: dict[str, Any] | None
) -> tuple[str, str]:
    """(decision, reason) from the tool_result and the run's ``permission_denials``."""
    if tool_result is None:
        return "none", ""
    text = block_text(tool_result)
    hook = HOOK_PREFIX.match(text)
    if hook:
        return "blocked", text[hook.end() :].strip()
    denials = (output or {}).get("permission_denials") or []
    if DENIED.match(text) or any(
        isinstance(d, dict) and d.get("tool_use_id") == tool_use_id for d in denials
    ):
        return "denied", text
    if text.startswith("<tool_use_error>"):
        return ("denied" if DENIED_INPUT in text else "invalid"), text
    return "ran", text


def descendants(pid: int) -> list[int]:
    """The processes below ``pid``, read from /proc (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_tree(pid: int) -> None:
    """Kill the CLI and everything it started. Claude Code runs each Bash command in a
    session of its own, so killing the CLI's process group would miss them."""
    for target in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)


def command_line(
    claude: str, settings: Path, prompt: str = PROMPT, max_turns: int = 3
) -> list[str]:
    """``claude -p`` with only the given settings file (no user/project/local settings)."""
    return [
        claude,
        "-p",
        prompt,
        "--setting-sources",
        "",
        "--settings",
        str(settings),
        "--output-format",
        "json",
        "--max-turns",
        str(max_turns),
    ]


def _remove_home(home: str, tries: int = 50) -> None:
    """Remove a HOME folder something may still be writing in (for up to 5 s)."""
    for _ in range(tries):
        if not os.path.exists(home):
            return
        shutil.rmtree(home, ignore_errors=True)
        time.sleep(0.1)
    shutil.rmtree(home)  # still there: say why


def run_claude(
    cwd: Path,
    settings: Path,
    fake: FakeModel,
    timeout: float = 120,
    *,
    prompt: str = PROMPT,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    claude: str | None = None,
) -> ClaudeRun:
    """Run Claude Code in ``cwd`` with ``settings`` against ``fake`` and report what
    happened to the scripted tool call. HOME is a fresh temporary folder, so no user
    settings, credentials or history leak in; ``env`` adds or overrides variables."""
    claude = claude or find_claude()
    if claude is None:
        raise RuntimeError("Claude Code is not installed: run .ci/install-claude.sh")
    # one turn per scripted call, one for the final answer, one to spare
    turns = len(fake.tool_calls) + 2
    command = [*command_line(claude, settings, prompt, turns), *args]
    # ignore_cleanup_errors: something the CLI left behind (a hook's detached process,
    # the CLI's own background writer) may still be writing in HOME when it is removed;
    # _remove_home then tries again once it has finished
    with tempfile.TemporaryDirectory(prefix="claude-home-", ignore_cleanup_errors=True) as home:
        full_env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": home,
            "LANG": "C.UTF-8",
            "SHELL": shutil.which("bash") or "/bin/sh",
            "TMPDIR": tempfile.gettempdir(),
            "ANTHROPIC_BASE_URL": fake.url,
            **OFFLINE_ENV,
            **(env or {}),
        }
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_tree(proc.pid)
            stdout, stderr = proc.communicate()
        seconds = time.monotonic() - started
    _remove_home(home)
    output = parse_output(stdout)
    steps = [step(fake, i, output) for i in range(len(fake.tool_calls))]
    return ClaudeRun(
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        decision=steps[0].decision,
        tool_result=steps[0].tool_result,
        text=steps[0].text,
        is_error=steps[0].is_error,
        reason=steps[0].reason,
        output=output,
        seconds=seconds,
        timed_out=timed_out,
        command=command,
        requests=fake.summary(),
        steps=steps,
    )
