"""Agent states from their events: the pure derivation (time in state, stale, current task,
last tool), ``agents`` over a real feature's store, and the hook-payload parser under
Hypothesis (documented payloads parse to their state; anything else is ignored, never
raises and never writes)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator.agent_event import HOOKS, parse
from claude_orchestrator.agent_state import STATES, latest_state, seconds, view
from claude_orchestrator.models import Agent, AgentStatus, Event, TaskState

from .conftest import Run
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]
ROLE = "implementor-data"
AGENT = Agent(1, SPEC, ROLE, f"feature/{SPEC}/impl-data", "active", "2026-01-01T00:00:00.000Z")
T0 = seconds("2026-01-01T10:00:00.000Z")
assert T0 is not None


def stamp(offset: float) -> str:
    whole = int(T0 + offset)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".000Z"


def event(n: int, kind: str, offset: float, **metadata: Any) -> Event:
    return Event(n, SPEC, ROLE, kind, metadata.pop("message", kind), None, None,
                 metadata or None, stamp(offset))  # fmt: skip


def status(offset: float) -> AgentStatus:
    return AgentStatus(SPEC, SPEC, "active", ROLE, AGENT.branch_name, "active",
                       last_event_at=stamp(offset))  # fmt: skip


def test_time_in_state_counts_from_the_first_event_of_the_state() -> None:
    events = [event(1, "agent_starting", 0, session_id="s", worktree="/w"),
              event(2, "agent_working", 10), event(3, "agent_working", 20),
              event(4, "agent_idle", 30)]  # fmt: skip
    assert latest_state(events)[0] == "idle"
    seen = view(AGENT, events[:3], status(20), [], now=T0 + 50, stale_after=600)
    assert (seen.state, seen.since, seen.seconds_in_state) == ("working", stamp(10), 40.0)
    assert seen.worktree == "/w" and seen.session_id == "s"
    idle = view(AGENT, events, status(30), [], now=T0 + 5000, stale_after=600)
    assert (idle.state, idle.seconds_in_state) == ("idle", 4970.0)  # idle never goes stale


def test_working_or_starting_without_a_signal_goes_stale_any_event_counts() -> None:
    events = [event(1, "agent_working", 0)]
    assert view(AGENT, events, status(0), [], now=T0 + 601, stale_after=600).state == "stale"
    assert view(AGENT, events, status(0), [], now=T0 + 599, stale_after=600).state == "working"
    # a guard decision (the agent's latest event) is a signal too
    recent = view(AGENT, events, status(590), [], now=T0 + 700, stale_after=600)
    assert recent.state == "working"
    stale = view(AGENT, [event(1, "agent_started", 0, runner="tmux", pid=42)], status(0), [],
                 now=T0 + 1000, stale_after=600)  # fmt: skip
    assert (stale.state, stale.pid, stale.attach) == (
        "stale",
        42,
        f"claude-orchestrator attach {ROLE}",
    )
    assert view(AGENT, [], None, [], now=T0, stale_after=600).state == "not_started"


def test_current_task_and_last_tool() -> None:
    tasks = [TaskState(SPEC, "T001", "completed", ROLE, None, stamp(0)),
             TaskState(SPEC, "T002", "in-progress", ROLE, None, stamp(5)),
             TaskState(SPEC, "T003", "in-progress", "implementor-api", None, stamp(9))]  # fmt: skip
    events = [event(1, "agent_working", 0, tool="Bash", detail="Bash: ls"),
              event(2, "guard_decision", 5, tool="Bash", input="git status", decision="allow"),
              event(3, "agent_idle", 6, tool=None)]  # fmt: skip
    seen = view(AGENT, events, status(6), tasks, now=T0 + 7, stale_after=600)
    assert seen.task == "T002 (in-progress)"
    assert seen.last_tool == "Bash: git status"
    blocked = [TaskState(SPEC, "T004", "blocked", ROLE, None, stamp(0))]
    assert view(AGENT, [], None, blocked, now=T0, stale_after=600).task == "T004 (blocked)"


# -------------------------------------------------------------------- agents, for real
def hook(cli: Run, tree: Path, name: str, **fields: Any) -> None:
    payload = {"session_id": "s", "cwd": str(tree), "hook_event_name": name, **fields}
    assert cli("agent-event", cwd=tree, stdin=json.dumps(payload)).code == 0


def test_agents_shows_each_agent_of_a_real_feature(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a = 1\n", "T001: started the model")
    assert cli("sync-status", cwd=tree).code == 0
    hook(cli, tree, "SessionStart", source="startup", transcript_path="/t.jsonl")
    hook(cli, tree, "UserPromptSubmit", prompt="go")
    guard = {"session_id": "s", "cwd": str(tree), "hook_event_name": "PreToolUse",
             "tool_name": "Bash", "tool_input": {"command": "git status"}}  # fmt: skip
    assert cli("guard", "--role", "implementor", cwd=tree, stdin=json.dumps(guard)).code == 0
    hook(cli, feature["impl-api"], "PermissionRequest", tool_name="Bash",
         tool_input={"command": "git push origin HEAD"})  # fmt: skip
    result = cli("agents", SPEC, "--json")
    assert result.code == 0, result
    views = {v["role"]: v for v in result.json()}
    assert list(views) == ["overseer", "implementor-api", "implementor-data", "implementor-ui"]
    data = views[ROLE]
    assert data["state"] == "working" and data["worktree"] == str(tree)
    assert data["task"] == "T001 (in-progress)" and data["last_tool"] == "Bash: git status"
    assert data["seconds_in_state"] is not None and data["session_id"] == "s"
    api = views["implementor-api"]
    assert (api["state"], api["detail"]) == (
        "waiting",
        "permission to use Bash: git push origin HEAD",
    )
    assert views["overseer"]["state"] == "not_started"
    text = cli("agents", SPEC)
    assert text.code == 0 and "waiting" in text.out and "T001 (in-progress)" in text.out
    everyone = cli("agents", "--json").json()
    assert [v["role"] for v in everyone] == list(views)


def test_agents_bad_input_is_one_line(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    for args, text in [(("agents", "bad spec"), "spec id"),
                       (("agents", "009-none"), "009-none")]:  # fmt: skip
        result = cli(*args)
        assert result.code == 2 and result.out == "", result
        [line] = result.err.splitlines()
        assert line.startswith("error: ") and text in line


# ------------------------------------------------------------------- the payload parser
TEXT = st.text(max_size=40)
COMMON = {"session_id": TEXT, "transcript_path": TEXT, "cwd": TEXT, "prompt_id": TEXT,
          "permission_mode": st.sampled_from(["default", "dontAsk", "auto"])}  # fmt: skip
TOOL = {
    "tool_name": st.sampled_from(["Bash", "Edit", "Write", "AskUserQuestion"]),
    "tool_input": st.fixed_dictionaries({}, optional={"command": TEXT, "file_path": TEXT}),
}
EXPECTED = {
    "SessionStart": "starting",
    "UserPromptSubmit": "working",
    "PostToolUse": "working",
    "PostToolUseFailure": "working",
    "PermissionRequest": "waiting",
    "Stop": "idle",
}
FIELDS: dict[str, dict[str, Any]] = {
    "SessionStart": {"source": st.sampled_from(["startup", "resume", "clear"])},
    "UserPromptSubmit": {"prompt": TEXT},
    "PostToolUse": {**TOOL, "tool_response": st.dictionaries(TEXT, TEXT, max_size=3)},
    "PostToolUseFailure": {**TOOL, "error": TEXT, "is_interrupt": st.booleans()},
    "PermissionRequest": TOOL,
    "Notification": {"message": TEXT, "notification_type": st.sampled_from(
        ["permission_prompt", "idle_prompt", "auth_success"])},
    "Stop": {"stop_hook_active": st.booleans(), "last_assistant_message": TEXT},
    "SessionEnd": {"reason": st.sampled_from(["clear", "other", "prompt_input_exit", "logout"])},
}  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(HOOKS))
    fields = draw(st.fixed_dictionaries({}, optional={**COMMON, **FIELDS[name]}))
    return {"hook_event_name": name, **fields}


def expected(payload: dict[str, Any]) -> str | None:
    name = payload["hook_event_name"]
    if name == "Notification":
        kind = payload.get("notification_type")
        return {"permission_prompt": "waiting", "idle_prompt": "idle"}.get(str(kind))
    if name == "SessionEnd":
        return None if payload.get("reason") == "clear" else "exited"
    return EXPECTED[name]


@given(payloads())
def test_every_documented_payload_parses_to_its_state(payload: dict[str, Any]) -> None:
    seen = parse(json.dumps(payload))
    assert seen is not None
    assert seen.hook == payload["hook_event_name"] and seen.state == expected(payload)
    assert seen.session_id == payload.get("session_id") and len(seen.detail) <= 200
    assert "\n" not in seen.detail
    assert seen.state in (None, *STATES)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=10)  # fmt: skip
NOT_TEXT = JSON.filter(lambda value: not isinstance(value, str) and value is not None)


@st.composite
def mistyped(draw: st.DrawFn) -> str:
    """A documented payload with one of its text fields of another JSON type."""
    key = draw(st.sampled_from(["session_id", "transcript_path", "cwd", "tool_name"]))
    return json.dumps({**draw(payloads()), key: draw(NOT_TEXT)})


@st.composite
def not_hooks(draw: st.DrawFn) -> str:
    """JSON that is no hook payload: another value, or an object with no known hook name."""
    value = draw(JSON)
    if isinstance(value, dict) and value.get("hook_event_name") in HOOKS:
        value["hook_event_name"] = "PreToolUse"
    return json.dumps(value)


@given(st.one_of(st.text(max_size=60).filter(lambda t: not t.strip().startswith("{")),
                 not_hooks(), mistyped()))  # fmt: skip
def test_anything_else_is_ignored_without_raising(text: str) -> None:
    assert parse(text) is None


def test_malformed_hook_input_writes_nothing(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    with Orchestrator(repo) as orch:
        before = len(orch.recent(1000))
    for text in ['{"hook_event_name": "Stop", "tool_name": 3}', '"Stop"', "nul\x00"]:
        result = cli("agent-event", cwd=tree, stdin=text)
        assert (result.code, result.out, result.err) == (0, "", "")
    with Orchestrator(repo) as orch:
        assert len(orch.recent(1000)) == before


def test_agents_watch_streams_a_document_per_line_until_interrupted(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """`agents --watch --json`: each look is one line of JSON; a change shows in the next
    one; Ctrl-C ends it with 130 and no traceback."""
    import signal
    import subprocess

    from .conftest import CLI, clean_env

    proc = subprocess.Popen([str(CLI), "agents", SPEC, "--watch", "--json"], cwd=repo,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        data = {a["role"]: a["state"] for a in first}
        assert data["implementor-data"] == "not_started"
        hook(cli, feature["impl-data"], "UserPromptSubmit", prompt="go")
        for _ in range(5):  # the next looks, every 2 s
            states = {a["role"]: a["state"] for a in json.loads(proc.stdout.readline())}
            if states["implementor-data"] == "working":
                break
        assert states["implementor-data"] == "working"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
