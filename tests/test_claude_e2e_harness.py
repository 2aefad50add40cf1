"""The end-to-end harness: the real Claude Code CLI (``claude -p``) against a stand-in for
the Messages API on loopback that makes one scripted tool call. Shows what Claude Code
itself allows, denies, or lets a hook block under a given settings file.

The CLI tests need ``.ci/install-claude.sh`` (npm); they skip only when no ``claude`` is
found. The stand-in's own tests always run.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.claude_cli import ClaudeRun, decide, find_claude, run_claude
from tests.e2e.fake_model import FakeModel

CLAUDE = find_claude()
needs_claude = pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code CLI not installed (npm unavailable?): run .ci/install-claude.sh",
)

RULES = {
    "permissions": {
        "defaultMode": "dontAsk",
        "allow": ["Bash(git status *)", "Bash(git status)", "Bash(touch *)"],
        "deny": ["Bash(git merge *)"],
    }
}
EXIT2_HOOK = {"type": "command", "command": "echo no merges here >&2; exit 2", "timeout": 10}
JSON_HOOK = {
    "type": "command",
    "command": (
        'printf \'%s\' \'{"hookSpecificOutput": {"hookEventName": "PreToolUse", '
        '"permissionDecision": "deny", "permissionDecisionReason": "json says no"}}\''
    ),
    "timeout": 10,
}


def write_settings(tmp_path: Path, document: dict[str, Any]) -> Path:
    """The settings file lives outside the repository, so it is not in ``git status``."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(document))
    return path


def claude(repo: Path, settings: Path, tool_call: dict[str, Any]) -> ClaudeRun:
    with FakeModel(tool_call) as fake:
        run = run_claude(repo, settings, fake, timeout=50)
    assert not run.timed_out, run
    assert run.returncode == 0, run
    assert run.seconds < 50, run
    assert fake.unknown_requests() == [], fake.summary()
    assert fake.errors == [], fake.errors
    # The model answered the tool_result with its final text, and the run ended there.
    assert run.output is not None and run.output.get("result") == "Done.", run
    return run


def bash(command: str) -> dict[str, Any]:
    return {"name": "Bash", "input": {"command": command}}


# ------------------------------------------------------------------ the stand-in alone
def post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_fake_model_streams_one_tool_call_then_text() -> None:
    call = bash("git status")
    tools = [{"name": "Bash", "input_schema": {"type": "object"}}, {"name": "Read"}]
    with FakeModel(call) as fake:
        assert fake.url.startswith("http://127.0.0.1:")
        first = {"model": "m", "stream": True, "tools": tools, "messages": []}
        messages: list[dict[str, Any]] = [{"role": "user", "content": "do it"}]

        # A side request (no tools: a title, a classification) gets text and does not
        # use up the scripted call.
        status, text = post(fake.url + "/v1/messages", {"model": "haiku", "messages": messages})
        assert status == 200
        assert json.loads(text)["content"][0]["type"] == "text"

        status, text = post(fake.url + "/v1/messages?beta=true", {**first, "messages": messages})
        assert status == 200
        events = sse(text)
        assert [name for name, _ in events] == [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
        start = events[1][1]["content_block"]
        assert start == {"type": "tool_use", "id": fake.tool_use_id, "name": "Bash", "input": {}}
        assert events[2][1]["delta"]["type"] == "input_json_delta"
        assert json.loads(events[2][1]["delta"]["partial_json"]) == call["input"]
        assert events[4][1]["delta"]["stop_reason"] == "tool_use"

        result = {"type": "tool_result", "tool_use_id": fake.tool_use_id, "content": "clean"}
        messages += [
            {"role": "assistant", "content": [{**start, "input": call["input"]}]},
            {"role": "user", "content": [result]},
        ]
        status, text = post(fake.url + "/v1/messages", {**first, "messages": messages})
        events = sse(text)
        assert events[2][1]["delta"] == {"type": "text_delta", "text": "Done."}
        assert events[4][1]["delta"]["stop_reason"] == "end_turn"
        assert fake.tool_results == [result]
        assert fake.tool_call_sent == 1

        status, text = post(fake.url + "/v1/messages/count_tokens", {"messages": messages})
        assert status == 200 and json.loads(text)["input_tokens"] > 0
        status, text = post(fake.url + "/v1/something/else", {})
        assert status == 404 and json.loads(text)["type"] == "error"

    assert [r.kind for r in fake.requests] == ["side", "main", "main", "count_tokens", "unknown"]
    assert [r.path for r in fake.unknown_requests()] == ["/v1/something/else"]
    assert decide(fake.tool_result, fake.tool_use_id, None) == ("ran", "clean")


def test_fake_model_makes_several_calls_in_order() -> None:
    """A session: each call once the result of the one before is back (a retried request
    gets the same call again), ``on_result`` told of each result before the model
    answers it, then the final text; results are kept in call order."""
    calls = [bash("git status"), bash("git log"), bash("ls")]
    told: list[tuple[int, str]] = []
    tools = [{"name": "Bash", "input_schema": {"type": "object"}}]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "do it"}]
    with FakeModel(*calls, on_result=lambda i, r: told.append((i, r["content"]))) as fake:
        assert len(set(fake.tool_use_ids)) == 3 and fake.tool_use_id == fake.tool_use_ids[0]
        for index, call in enumerate(calls):
            body = {"model": "m", "tools": tools, "messages": messages}
            for _ in range(2):  # the second time: a retry of the same request
                reply = json.loads(post(fake.url + "/v1/messages", body)[1])
                assert reply["stop_reason"] == "tool_use"
                assert reply["content"] == [{"type": "tool_use", "id": fake.tool_use_ids[index],
                                             "name": "Bash", "input": call["input"]}]  # fmt: skip
            assert told == [(i, f"out {i}") for i in range(index)]
            result = {"type": "tool_result", "tool_use_id": fake.tool_use_ids[index],
                      "content": f"out {index}"}  # fmt: skip
            messages = [*messages, {"role": "assistant", "content": reply["content"]},
                        {"role": "user", "content": [result]}]  # fmt: skip
        body = {"model": "m", "tools": tools, "messages": messages}
        reply = json.loads(post(fake.url + "/v1/messages", body)[1])
        assert (reply["stop_reason"], reply["content"][0]["text"]) == ("end_turn", "Done.")
        assert told == [(0, "out 0"), (1, "out 1"), (2, "out 2")]
        assert [r["content"] for r in fake.tool_results] == ["out 0", "out 1", "out 2"]
        assert fake.sent == [2, 2, 2] and fake.errors == []


def test_fake_model_stops_by_itself() -> None:
    fake = FakeModel(bash("true"), lifetime=0.3)
    with fake:
        url = fake.url
        assert post(url + "/v1/messages/count_tokens", {})[0] == 200
        assert fake.wait_stopped(5)
        with pytest.raises(OSError):  # refused, or reset while the port closes
            post(url + "/v1/messages/count_tokens", {})


def test_fake_model_request_budget() -> None:
    with FakeModel(bash("true"), max_requests=2) as fake:
        codes = [post(fake.url + "/v1/messages/count_tokens", {})[0] for _ in range(3)]
    assert codes == [200, 200, 529]


def test_decisions_from_tool_result_texts() -> None:
    def result(text: str, is_error: bool = True) -> dict[str, Any]:
        return {"type": "tool_result", "tool_use_id": "t", "content": text, "is_error": is_error}

    exit2 = "PreToolUse:Bash hook error: [echo no >&2; exit 2]: no merges here\n"
    assert decide(result(exit2), "t", None) == ("blocked", "no merges here")
    assert decide(result("PreToolUse:Write hook error: json says no"), "t", None) == (
        "blocked",
        "json says no",
    )
    denied = "Permission to use Bash with command git merge main has been denied."
    assert decide(result(denied), "t", None) == ("denied", denied)
    other = "A nested command in this command can't be checked before it runs"
    listed = {"permission_denials": [{"tool_name": "Bash", "tool_use_id": "t"}]}
    assert decide(result(other), "t", listed) == ("denied", other)
    assert decide(result("Exit code 1"), "t", {"permission_denials": []}) == ("ran", "Exit code 1")
    invalid = "<tool_use_error>String to replace not found in file.</tool_use_error>"
    assert decide(result(invalid), "t", None) == ("invalid", invalid)
    assert decide(None, "t", None) == ("none", "")


# ------------------------------------------------------------------ the real CLI
@needs_claude
def test_allowed_command_runs(repo: Path, tmp_path: Path) -> None:
    run = claude(repo, write_settings(tmp_path, RULES), bash("git status"))
    assert run.decision == "ran", run
    assert not run.is_error
    assert "On branch main" in run.text
    # With the offline environment, Claude Code 2.1.330 sends exactly two requests: the
    # prompt (answered with the tool call) and the tool_result (answered with text).
    assert [line.split()[:3] for line in run.requests] == [
        ["POST", "/v1/messages?beta=true", "[main]"],
        ["POST", "/v1/messages?beta=true", "[main]"],
    ]


@needs_claude
def test_failing_allowed_command_still_ran(repo: Path, tmp_path: Path) -> None:
    run = claude(repo, write_settings(tmp_path, RULES), bash("git status --no-such-option"))
    assert run.decision == "ran", run
    assert run.is_error
    assert run.text.startswith("Exit code 129"), run


@needs_claude
def test_denied_command_does_not_run(repo: Path, tmp_path: Path) -> None:
    run = claude(repo, write_settings(tmp_path, RULES), bash("git merge main"))
    assert run.decision == "denied", run
    assert run.is_error
    assert run.text == "Permission to use Bash with command git merge main has been denied."
    assert run.output is not None
    assert [d["tool_input"] for d in run.output["permission_denials"]] == [
        {"command": "git merge main"}
    ]


@needs_claude
def test_unlisted_command_is_denied_in_dont_ask_mode(repo: Path, tmp_path: Path) -> None:
    run = claude(repo, write_settings(tmp_path, RULES), bash("git checkout -q -b topic"))
    assert run.decision == "denied", run
    assert "don't ask mode" in run.text
    branches = subprocess.run(
        ["git", "branch", "--list", "topic"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert branches.stdout == ""


@needs_claude
def test_read_only_commands_need_no_allow_rule(repo: Path, tmp_path: Path) -> None:
    """Claude Code lets read-only commands in the working folder (``git log``, ``git
    status``, ``ls``, ``cat``...) run in ``dontAsk`` with no rule at all..."""
    settings = write_settings(tmp_path, {"permissions": {"defaultMode": "dontAsk"}})
    run = claude(repo, settings, bash("git log --oneline"))
    assert run.decision == "ran", run
    assert "initial" in run.text


@needs_claude
def test_deny_rule_beats_the_read_only_allowance(repo: Path, tmp_path: Path) -> None:
    """...but a deny rule still refuses them."""
    document = {"permissions": {"defaultMode": "dontAsk", "deny": ["Bash(git log *)"]}}
    run = claude(repo, write_settings(tmp_path, document), bash("git log --oneline"))
    assert run.decision == "denied", run
    assert run.text == "Permission to use Bash with command git log --oneline has been denied."


@needs_claude
def test_allowed_touch_runs_without_a_hook(repo: Path, tmp_path: Path) -> None:
    """The control for the hook tests: the allow rule alone lets ``touch x`` run."""
    run = claude(repo, write_settings(tmp_path, RULES), bash("touch x"))
    assert run.decision == "ran", run
    assert (repo / "x").exists()


@needs_claude
@pytest.mark.parametrize(
    ("hook", "reason"), [(EXIT2_HOOK, "no merges here"), (JSON_HOOK, "json says no")]
)
def test_pre_tool_use_hook_blocks_an_allowed_command(
    repo: Path, tmp_path: Path, hook: dict[str, Any], reason: str
) -> None:
    settings = {
        "permissions": {"defaultMode": "dontAsk", "allow": ["Bash(touch *)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [hook]}]},
    }
    run = claude(repo, write_settings(tmp_path, settings), bash("touch x"))
    assert run.decision == "blocked", run
    assert run.is_error
    assert run.reason == reason
    assert reason in run.text
    assert not (repo / "x").exists()


def write_call(path: Path) -> dict[str, Any]:
    return {"name": "Write", "input": {"file_path": str(path), "content": "print('hi')\n"}}


@needs_claude
def test_write_allowed_by_an_edit_rule(repo: Path, tmp_path: Path) -> None:
    settings = write_settings(
        tmp_path, {"permissions": {"defaultMode": "dontAsk", "allow": ["Edit(./src/**)"]}}
    )
    target = repo / "src" / "new.py"
    run = claude(repo, settings, write_call(target))
    assert run.decision == "ran", run
    assert target.read_text() == "print('hi')\n"


@needs_claude
@pytest.mark.parametrize("where", ["repo/other/b.py", "repo/c.py", "outside.txt"])
def test_write_outside_the_edit_rule_is_denied(repo: Path, tmp_path: Path, where: str) -> None:
    settings = write_settings(
        tmp_path, {"permissions": {"defaultMode": "dontAsk", "allow": ["Edit(./src/**)"]}}
    )
    target = tmp_path / where
    run = claude(repo, settings, write_call(target))
    assert run.decision == "denied", run
    assert not target.exists()


@needs_claude
def test_write_rules_are_not_consulted(repo: Path, tmp_path: Path) -> None:
    """``Write(path)`` allows nothing: the Write tool needs an ``Edit`` allow."""
    settings = write_settings(
        tmp_path, {"permissions": {"defaultMode": "dontAsk", "allow": ["Write(./src/**)"]}}
    )
    target = repo / "src" / "new.py"
    run = claude(repo, settings, write_call(target))
    assert run.decision == "denied", run
    assert not target.exists()


@needs_claude
def test_invalid_input_fails_before_the_rules(repo: Path, tmp_path: Path) -> None:
    """Claude Code checks a call's input before its permission rules: an Edit whose
    ``old_string`` is missing is rejected as invalid even where no rule allows Edit."""
    settings = write_settings(tmp_path, {"permissions": {"defaultMode": "dontAsk"}})
    call = {
        "name": "Edit",
        "input": {"file_path": str(repo / "README.md"), "old_string": "zzz", "new_string": "y"},
    }
    run = claude(repo, settings, call)
    assert run.decision == "invalid", run
    assert "String to replace not found" in run.text
    assert (repo / "README.md").read_text() == "demo\n"


@needs_claude
def test_timeout_kills_the_cli_and_its_commands(repo: Path, tmp_path: Path) -> None:
    """A run that hangs is cut off, with the Bash command it started (which Claude Code
    runs in a session of its own, out of the CLI's process group)."""
    token = f"late-{uuid.uuid4().hex}"
    allow = ["Bash(sleep *)", "Bash(touch *)"]
    settings = write_settings(tmp_path, {"permissions": {"defaultMode": "dontAsk", "allow": allow}})
    # Claude Code refuses a long leading sleep ("Blocked: sleep 30 followed by: ...").
    with FakeModel(bash(f"sleep 5 && sleep 25 && touch {token}")) as fake:
        run = run_claude(repo, settings, fake, timeout=3)
    assert run.timed_out, run
    assert run.decision == "none", run
    left = [
        p.parent.name
        for p in Path("/proc").glob("[0-9]*/cmdline")
        if token.encode() in (p.read_bytes() if p.exists() else b"")
    ]
    assert left == []
