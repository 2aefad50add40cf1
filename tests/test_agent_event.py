"""The observation hook (``agent-event``) in a real feature's worktrees: the transitions
it records, the messages it delivers (once, even when hooks race), that it never fails,
never prints but a delivery, and spools when the store is busy; the generated role files
register it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.agent_event import HOOKS
from claude_orchestrator.config import default_config
from generators.claude_permissions import permission_files

from .conftest import CLI, Run, clean_env
from .test_spool import FAST, held, spool_files
from .test_workflow_setup import SPEC, feature

__all__ = ["feature"]
ROLE = "implementor-data"
STATE_TYPES = {"agent_starting", "agent_working", "agent_waiting", "agent_idle", "agent_exited"}


def hook(cli: Run, tree: Path, name: str, **fields: Any) -> Any:
    payload = {"session_id": "sess-1", "transcript_path": "/tmp/t.jsonl", "cwd": str(tree),
               "hook_event_name": name, **fields}  # fmt: skip
    return cli("agent-event", cwd=tree, stdin=json.dumps(payload))


def events(repo: Path, role: str = ROLE) -> list[dict[str, Any]]:
    with Orchestrator(repo) as orch:
        found = orch.recent(500, SPEC)
    return [e._asdict() for e in reversed(found) if e.role == role]


def states(repo: Path, role: str = ROLE) -> list[str]:
    return [e["event_type"] for e in events(repo, role) if e["event_type"] in STATE_TYPES]


def test_a_session_records_each_change_of_state_once(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    steps = [
        ("SessionStart", {"source": "startup"}),
        ("UserPromptSubmit", {"prompt": "RUN: git status"}),
        ("PostToolUse", {"tool_name": "Bash", "tool_input": {"command": "git status"}}),
        ("PostToolUseFailure", {"tool_name": "Bash", "tool_input": {"command": "false"}}),
        ("PermissionRequest", {"tool_name": "Bash",
                               "tool_input": {"command": "git push GH_TOKEN=abc origin"}}),
        ("Notification", {"message": "Claude needs your permission",
                          "notification_type": "permission_prompt"}),
        ("PostToolUse", {"tool_name": "Bash", "tool_input": {"command": "git push"}}),
        ("Stop", {"stop_hook_active": False}),
        ("Notification", {"message": "Claude is waiting", "notification_type": "idle_prompt"}),
        ("SessionEnd", {"reason": "clear"}),
        ("SessionStart", {"source": "clear"}),
        ("SessionEnd", {"reason": "prompt_input_exit"}),
    ]  # fmt: skip
    for name, fields in steps:
        result = hook(cli, tree, name, **fields)
        assert (result.code, result.out, result.err) == (0, "", ""), (name, result)
    assert states(repo) == ["agent_starting", "agent_working", "agent_waiting",
                            "agent_working", "agent_idle", "agent_starting",
                            "agent_exited"]  # fmt: skip
    recorded = [e for e in events(repo) if e["event_type"] in STATE_TYPES]
    assert {e["role"] for e in recorded} == {ROLE}
    waiting = recorded[2]
    assert waiting["message"] == "permission to use Bash: git push GH_TOKEN=*** origin"
    clock = waiting["metadata"].pop("clock")  # the agent's clock (metrics)
    assert clock[:4] == waiting["created_at"][:4] and clock.endswith("Z")
    assert waiting["metadata"] == {"hook": "PermissionRequest", "session_id": "sess-1",
                                   "transcript_path": "/tmp/t.jsonl", "tool": "Bash",
                                   "detail": waiting["message"]}  # fmt: skip
    assert recorded[0]["metadata"]["worktree"] == str(tree)
    assert recorded[-1]["message"] == "session ended (prompt_input_exit)"


def test_it_never_fails_and_writes_nothing_for_what_is_no_agent_hook(
    cli: Run, repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    before = events(repo)
    tree = feature["impl-data"]
    outside = tmp_path / "outside"
    outside.mkdir()
    for stdin, where in [
        ("{not json", tree), ("[]", tree), ("", tree), ('{"hook_event_name": 3}', tree),
        ('{"hook_event_name": "PreToolUse", "tool_name": "Bash"}', tree),
        ('{"hook_event_name": "Stop", "cwd": 7}', tree),
        ('{"hook_event_name": "Stop", "session_id": ["x"]}', tree),
        ("[" * 100_000, tree),
        (json.dumps({"hook_event_name": "Stop", "cwd": str(outside)}), outside),
        (json.dumps({"hook_event_name": "Stop", "cwd": str(repo)}), repo),  # main: no agent
    ]:  # fmt: skip
        result = cli("agent-event", cwd=where, stdin=stdin)
        assert (result.code, result.out, result.err) == (0, "", ""), (stdin[:60], result)
    assert events(repo) == before


def test_arguments_do_not_make_it_fail_but_help_is_the_cli_help(cli: Run, repo: Path) -> None:
    assert cli("agent-event", "--bogus", stdin="{}").code == 0
    helped = cli("agent-event", "--help")
    assert helped.code == 0 and "observation hook" in helped.out


def test_a_too_large_input_is_ignored(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    big = json.dumps({"hook_event_name": "Stop", "cwd": str(tree), "x": "a" * (8 << 20)})
    result = cli("agent-event", cwd=tree, stdin=big)
    assert (result.code, result.out) == (0, "")
    assert states(repo) == []


def test_a_busy_store_spools_the_record_and_the_next_command_stores_it(
    repo: Path, feature: dict[str, Path], tmp_path: Path
) -> None:
    config = tmp_path / "fast.yaml"
    config.write_text(FAST)
    env = clean_env(CLAUDE_ORCHESTRATOR_CONFIG=str(config))
    tree = feature["impl-data"]
    db = repo / ".git" / "orchestrator" / "events.db"
    payload = json.dumps({"hook_event_name": "Stop", "cwd": str(tree), "session_id": "s"})
    assert CLI
    with held(db):
        proc = subprocess.run([CLI, "agent-event"], cwd=tree, env=env, input=payload,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    assert spool_files(db.parent), "nothing was spooled"
    assert states(repo) == []
    logged = subprocess.run([CLI, "events", "log-event", SPEC, ROLE, "status_update", "next"],
                            cwd=tree, env=env, capture_output=True, text=True)  # fmt: skip
    assert logged.returncode == 0, logged.stderr
    assert states(repo) == ["agent_idle"]


# ----------------------------------------------------------------------------- delivery
def tell(cli: Run, role: str, text: str, *extra: str) -> Any:
    result = cli("tell", role, text, "--spec", SPEC, "--json", *extra)
    assert result.code == 0, result
    return result.json()


def delivered(repo: Path, role: str = ROLE) -> list[dict[str, Any]]:
    return [e["metadata"] for e in events(repo, role) if e["event_type"] == "message_delivered"]


@pytest.mark.parametrize("name", ["UserPromptSubmit", "PostToolUse", "PostToolUseFailure"])
def test_a_pending_message_goes_out_as_additional_context_once(
    cli: Run, repo: Path, feature: dict[str, Path], name: str
) -> None:
    tree = feature["impl-data"]
    sent = tell(cli, ROLE, "rebase on the overseer branch: T004 landed", "--from", "overseer")
    assert sent["delivered"] is False and sent["message"]["status"] == "pending"
    first = hook(cli, tree, name, tool_name="Bash", tool_input={"command": "ls"}, prompt="go")
    assert first.code == 0 and first.err == ""
    context = json.loads(first.out)["hookSpecificOutput"]
    assert context["hookEventName"] == name
    assert context["additionalContext"] == (
        f"Message from overseer (claude-orchestrator tell, message {sent['message']['id']}):\n"
        "rebase on the overseer branch: T004 landed"
    )
    again = hook(cli, tree, name, tool_name="Bash", tool_input={"command": "ls"}, prompt="go")
    assert (again.code, again.out) == (0, "")
    assert delivered(repo) == [{"message_id": sent["message"]["id"], "how": name}]
    inbox = cli("inbox", ROLE, "--spec", SPEC, "--json").json()
    assert [(m["status"], m["how"]) for m in inbox] == [("delivered", name)]


def test_stop_keeps_the_turn_going_only_while_a_message_waits(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    hook(cli, tree, "UserPromptSubmit", prompt="work")
    sent = tell(cli, ROLE, "stop and run the tests")
    stopped = hook(cli, tree, "Stop", stop_hook_active=False)
    answer = json.loads(stopped.out)
    assert answer["decision"] == "block" and "stop and run the tests" in answer["reason"]
    assert states(repo)[-1] == "agent_working"  # it goes on: not idle
    second = hook(cli, tree, "Stop", stop_hook_active=True)
    assert (second.code, second.out) == (0, "")
    assert states(repo)[-1] == "agent_idle"
    assert delivered(repo) == [{"message_id": sent["message"]["id"], "how": "Stop"}]


@pytest.mark.parametrize(
    ("name", "fields"),
    [("PermissionRequest", {"tool_name": "Bash", "tool_input": {"command": "ls"}}),
     ("Notification", {"message": "m", "notification_type": "permission_prompt"}),
     ("SessionStart", {"source": "startup"}), ("SessionEnd", {"reason": "other"})],
)  # fmt: skip
def test_hooks_that_must_not_answer_never_print(
    cli: Run, repo: Path, feature: dict[str, Path], name: str, fields: dict[str, Any]
) -> None:
    tree = feature["impl-data"]
    tell(cli, ROLE, "later")
    result = hook(cli, tree, name, **fields)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert delivered(repo) == []


def test_racing_hooks_deliver_a_message_exactly_once(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    sent = [tell(cli, ROLE, f"message {n}")["message"]["id"] for n in range(3)]
    payload = json.dumps({"hook_event_name": "PostToolUse", "cwd": str(tree), "session_id": "s",
                          "tool_name": "Bash", "tool_input": {"command": "ls"}})  # fmt: skip
    assert CLI
    procs = [subprocess.Popen([CLI, "agent-event"], cwd=tree, env=clean_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(6)]  # fmt: skip
    outs = [p.communicate(payload, timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    printed = [json.loads(o)["hookSpecificOutput"]["additionalContext"] for o in outs if o]
    seen = [n for text in printed for n in sent if f"message {n}):" in text]
    assert sorted(seen) == sent  # each message printed by exactly one hook
    assert sorted(d["message_id"] for d in delivered(repo)) == sent


# ---------------------------------------------------------------------- the role files
def test_every_role_file_registers_the_observation_hooks_next_to_the_guard() -> None:
    files = permission_files(default_config())
    for path, document in files.items():
        hooks = document["hooks"]
        assert list(hooks) == ["PreToolUse", *HOOKS], path
        assert "guard --role" in hooks["PreToolUse"][0]["hooks"][0]["command"]
        for name in HOOKS:
            [entry] = hooks[name]
            command = "claude-orchestrator agent-event || true"
            assert entry == {"hooks": [{"type": "command", "command": command, "timeout": 5}]}


def test_generate_check_notices_a_missing_observation_hook(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    assert cli("generate").code == 0
    path = repo / ".claude" / "permissions-implementor.json"
    document = json.loads(path.read_text())
    del document["hooks"]["Stop"]
    path.write_text(json.dumps(document, indent=2) + "\n")
    check = cli("generate", "--check")
    assert check.code == 1, check
    assert "permissions-implementor.json" in check.out + check.err


def test_the_lean_path_runs_it_without_typer(repo: Path, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    payload = json.dumps({"hook_event_name": "Stop", "cwd": str(tree), "session_id": "s"})
    code = (
        "import sys, runpy; sys.argv = ['claude-orchestrator', 'agent-event'];"
        "from claude_orchestrator.__main__ import main; rc = main();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click', 'git')),"
        " file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env=clean_env(), input=payload,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == ""
    assert proc.stderr.strip() == "[]"
    with sqlite3.connect(repo / ".git" / "orchestrator" / "events.db") as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM task_events WHERE event_type = 'agent_idle'"
        ).fetchall()
    assert count == 1


def test_the_hook_leaves_the_state_files_alone(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    files = [feature[leaf] / "state" / f"{leaf}.md" for leaf in ("overseer", "impl-data")]
    before = [path.read_bytes() for path in files]
    for name in ("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"):
        assert hook(cli, feature["impl-data"], name, prompt="go").code == 0
    assert len(states(repo)) == 4
    assert [path.read_bytes() for path in files] == before


def test_a_payload_naming_another_worktree_records_and_delivers_nothing(
    cli: Run, feature: dict[str, Path]
) -> None:
    """An implementor that runs `claude-orchestrator agent-event` itself with the overseer's
    worktree as the payload's cwd neither records the overseer's state nor takes (and
    reads) the messages waiting for the overseer."""
    assert cli("tell", "overseer", "for the overseer only", "--spec", SPEC).code == 0
    before = cli("events", "recent", "50", "--json").json()
    payload = {"session_id": "s", "cwd": str(feature["overseer"]),
               "hook_event_name": "UserPromptSubmit", "prompt": "steal"}  # fmt: skip
    result = cli("agent-event", cwd=feature["impl-data"], stdin=json.dumps(payload))
    assert (result.code, result.out) == (0, "")
    assert cli("events", "recent", "50", "--json").json() == before
    inbox = cli("inbox", "overseer", "--spec", SPEC, "--json").json()
    assert [m["status"] for m in inbox] == ["pending"]
