"""The observation hooks of the generated role files under the real Claude Code CLI
(``claude -p`` against the loopback stand-in model, as :mod:`tests.test_claude_e2e_roles`
runs it): a session records its states in the store, and a pending ``tell`` reaches the
model (the stand-in sees the text in its next request).

Needs ``.ci/install-claude.sh`` (skips without a ``claude``). Runs as the overseer, whose
file has no sandbox, so bubblewrap is not needed.
"""

from __future__ import annotations

import json
from typing import Any

from claude_orchestrator import Orchestrator
from claude_orchestrator.agent_state import STATE_TYPES
from tests.e2e.fake_model import FakeModel

from .test_claude_e2e_roles import SPEC, World, claude, co, pytestmark, world

__all__ = ["pytestmark", "world"]


def bash(command: str) -> dict[str, Any]:
    return {"name": "Bash", "input": {"command": command, "description": "run it"}}


def overseer_events(world: World, after: int) -> list[dict[str, Any]]:
    with Orchestrator(world.main) as orch:
        found = orch.recent(1000, SPEC)
    return [e._asdict() for e in reversed(found) if e.id > after and e.role == "overseer"]


def newest_id(world: World) -> int:
    with Orchestrator(world.main) as orch:
        found = orch.recent(1)
    return found[0].id if found else 0


def user_texts(fake: FakeModel) -> list[str]:
    """Every text block of every user message the stand-in received."""
    found = []
    for request in fake.requests:
        messages = request.body.get("messages") if isinstance(request.body, dict) else None
        for message in messages or []:
            content = message.get("content") if isinstance(message, dict) else None
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "text":
                    found.append(str(block.get("text", "")))
    return found


def test_a_session_records_starting_working_idle_exited(world: World) -> None:
    after = newest_id(world)
    outcome = claude(world, "overseer", bash("git status"))
    assert outcome.run.decision == "ran", outcome.run
    recorded = [e for e in overseer_events(world, after) if e["event_type"] in STATE_TYPES]
    assert [e["event_type"] for e in recorded] == [
        "agent_starting", "agent_working", "agent_idle", "agent_exited"]  # fmt: skip
    start = recorded[0]["metadata"]
    assert start["hook"] == "SessionStart" and start["worktree"] == str(world.overseer)
    assert str(start["transcript_path"]).endswith(f"{start['session_id']}.jsonl")
    assert recorded[-1]["message"] == "session ended (other)"
    views = json.loads(co(world.main, "agents", SPEC, "--json"))
    overseer = next(v for v in views if v["role"] == "overseer")
    assert overseer["state"] == "exited" and overseer["session_id"] == start["session_id"]


def test_a_pending_tell_reaches_the_model_with_the_prompt(world: World) -> None:
    text = "rebase on the overseer branch: T004 landed (e2e-prompt)"
    co(world.main, "tell", "overseer", text, "--from", "implementor-data")
    outcome = claude(world, "overseer", bash("git status"))
    assert outcome.run.decision == "ran", outcome.run
    wanted = "Message from implementor-data (claude-orchestrator tell, message "
    seen = [t for t in user_texts(outcome.fake) if wanted in t and text in t]
    # 2.1.330 puts it in the block after the prompt, with the environment
    assert seen and f"UserPromptSubmit hook additional context: {wanted}" in seen[0], seen
    inbox = json.loads(co(world.main, "inbox", "overseer", "--json"))
    assert [(m["status"], m["how"]) for m in inbox if m["text"] == text] == [
        ("delivered", "UserPromptSubmit")]  # fmt: skip


def test_a_tell_during_a_turn_reaches_the_model_with_the_next_tool_result(world: World) -> None:
    text = "stop: the API changed (e2e-turn)"
    command = f'claude-orchestrator tell overseer "{text}" --from person'
    outcome = claude(world, "overseer", bash(command))
    assert outcome.run.decision == "ran", outcome.run
    seen = [t for t in user_texts(outcome.fake)
            if "Message from person (claude-orchestrator tell" in t and text in t]  # fmt: skip
    assert seen and "PostToolUse:Bash hook additional context: Message from person" in seen[0]
    inbox = json.loads(co(world.main, "inbox", "overseer", "--json"))
    assert [m["how"] for m in inbox if m["text"] == text] == ["PostToolUse"]
