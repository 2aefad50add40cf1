"""``tell`` and ``inbox`` in a real feature: who the sender is, which feature, bad input
(one line, exit 2, nothing written), the library's pending/mark_delivered (exactly once,
across threads), and the routing of implementors' blockers and guard denials to the
overseer's inbox (``agents.route_to_overseer``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.messages import Sent, mark_delivered, pending, route, tell

from .conftest import Run
from .test_workflow_setup import SPEC, feature

__all__ = ["feature"]
ROLE = "implementor-data"


def count(repo: Path) -> int:
    with Orchestrator(repo) as orch:
        return len(orch.recent(10_000))


def inbox(cli: Run, *args: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    result = cli("inbox", *args, "--json", cwd=cwd)
    assert result.code == 0, result
    return list(result.json())


def test_the_sender_is_the_worktree_role_or_the_person(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    from_overseer = cli("tell", ROLE, "T004 landed", cwd=feature["overseer"])
    assert from_overseer.code == 0, from_overseer
    assert from_overseer.out.strip().endswith("pending: it reaches the agent's next turn")
    from_person = cli("tell", ROLE, "hello", "--json")  # main checkout: one feature
    assert from_person.json()["message"]["sender"] == "person"
    named = cli("tell", "overseer", "blocked", "--from", "implementor-api", "--json")
    assert named.json()["message"]["sender"] == "implementor-api"
    mine = inbox(cli, cwd=feature["impl-data"])  # the worktree's feature, every agent
    assert [(m["sender"], m["to"], m["text"], m["status"]) for m in mine] == [
        ("overseer", ROLE, "T004 landed", "pending"),
        ("person", ROLE, "hello", "pending"),
        ("implementor-api", "overseer", "blocked", "pending"),
    ]
    assert [m["text"] for m in inbox(cli, "overseer")] == ["blocked"]
    assert "T004 landed" in cli("inbox", ROLE).out


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("tell", "boss", "x"), "invalid role"),
        (("tell", "implementor-docs", "x"), "has no agent implementor-docs"),
        (("tell", ROLE, ""), "empty message"),
        (("tell", ROLE, "x", "--from", "root"), "invalid sender"),
        (("tell", ROLE, "x", "--spec", "009-none"), "009-none"),
        (("inbox", "boss"), "invalid role"),
        (("inbox", "--spec", "009-none"), "009-none"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    cli: Run, repo: Path, feature: dict[str, Path], args: tuple[str, ...], text: str
) -> None:
    before = count(repo)
    result = cli(*args)
    assert result.code == 2 and result.out == "", result
    [line] = result.err.splitlines()
    assert line.startswith("error: ") and text in line, line
    assert count(repo) == before


def test_two_features_need_spec(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    assert cli("init-feature", "004-other").code == 0
    result = cli("tell", ROLE, "which one?")
    assert result.code == 2 and "--spec" in result.err and "004-other" in result.err
    assert cli("tell", ROLE, "this one", "--spec", SPEC).code == 0


def test_mark_delivered_wins_once_across_threads(repo: Path, feature: dict[str, Path]) -> None:
    with Orchestrator(repo) as orch:
        sent = tell(orch, SPEC, ROLE, "once", "person")
        assert sent == Sent(sent.message, False, False)
        [message] = pending(orch, SPEC, ROLE)
    wins: list[bool] = []

    def deliver() -> None:
        with Orchestrator(repo) as mine:
            wins.append(mark_delivered(mine, message, "tmux"))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    with Orchestrator(repo) as orch:
        assert pending(orch, SPEC, ROLE) == []


def test_tell_nudges_through_the_launcher_it_is_given(repo: Path, feature: dict[str, Path]) -> None:
    typed: list[tuple[str, str, str]] = []

    def nudge(orch: Orchestrator, spec_id: str, role: str, text: str) -> bool:
        typed.append((spec_id, role, text))
        return True

    with Orchestrator(repo) as orch:
        sent = tell(orch, SPEC, ROLE, "the long text stays in the store", "overseer", nudge)
    assert sent.nudged is True and sent.delivered is False
    assert typed == [(SPEC, ROLE, "New message from overseer: read it "
                      "(claude-orchestrator inbox).")]  # fmt: skip


# ---------------------------------------------------------------------------- routing
def guard(cli: Run, tree: Path, command: str) -> int:
    payload = {"session_id": "s", "cwd": str(tree), "hook_event_name": "PreToolUse",
               "tool_name": "Bash", "tool_input": {"command": command}}  # fmt: skip
    return int(cli("guard", "--role", "implementor", cwd=tree, stdin=json.dumps(payload)).code)


def hook(cli: Run, tree: Path, name: str) -> str:
    payload = {"session_id": "s", "cwd": str(tree), "hook_event_name": name, "prompt": "go"}
    result = cli("agent-event", cwd=tree, stdin=json.dumps(payload))
    assert result.code == 0
    return str(result.out)


def test_blockers_and_denials_reach_the_overseer_first(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    with Orchestrator(repo) as orch:
        assert route(orch) == []  # the first pass starts routing from here
    data = feature["impl-data"]
    assert guard(cli, data, "git merge main") == 2
    assert guard(cli, data, "git status") == 0
    blocked = cli("events", "block", SPEC, "implementor-api", "dependency", "needs the schema",
                  "--task", "T002")  # fmt: skip
    assert blocked.code == 0, blocked
    overseer = feature["overseer"]
    out = json.loads(hook(cli, overseer, "UserPromptSubmit"))
    text = out["hookSpecificOutput"]["additionalContext"]
    assert "Message from implementor-data" in text and "git merge main" in text
    assert "implementors may not merge" in text
    assert "Message from implementor-api" in text and "needs the schema" in text
    assert "git status" not in text
    routed = inbox(cli, "overseer")
    assert [(m["sender"], m["status"], m["how"]) for m in routed] == [
        ("implementor-data", "delivered", "UserPromptSubmit"),
        ("implementor-api", "delivered", "UserPromptSubmit"),
    ]
    assert all(isinstance(m["routed_from"], int) for m in routed)
    assert hook(cli, overseer, "UserPromptSubmit") == ""  # each routed once
    assert len(inbox(cli, "overseer")) == 2


def test_routing_follows_the_config(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    config = repo / "orchestrator.yaml"
    text = config.read_text()
    both = "route_to_overseer: [task_blocked, guard_denied]"
    assert both in text
    config.write_text(text.replace(both, "route_to_overseer: [task_blocked]"))
    with Orchestrator(repo) as orch:
        route(orch)
    assert guard(cli, feature["impl-data"], "git merge main") == 2
    for role, task in (("implementor-api", "T002"), ("overseer", "T003")):
        blocked = cli("events", "block", SPEC, role, "technical", "stuck", "--task", task)
        assert blocked.code == 0, blocked
    assert [m["text"] for m in inbox(cli, "overseer")] == [
        "implementor-api on T002: blocked (technical): stuck"
    ]
