"""The guard command itself: the hook protocol, failing closed, logging with redaction,
the spool, and rules read from the overseer branch."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from claude_orchestrator.guard_hook import redact
from claude_orchestrator.location import user_cache_dir

from .conftest import Run, git
from .test_workflow_setup import SPEC, commit, feature  # noqa: F401 - fixture

__all__ = ["feature"]


def call(cli: Run, tree: Path, role: str, tool: str, tool_input: dict, **extra: object):  # type: ignore[no-untyped-def]
    payload = {"session_id": "s", "cwd": str(tree), "hook_event_name": "PreToolUse",
               "tool_name": tool, "tool_input": tool_input, **extra}  # fmt: skip
    return cli("guard", "--role", role, cwd=tree, stdin=json.dumps(payload))


def test_allow_is_silent_and_deny_is_one_line_exit_2(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    ok = call(cli, tree, "implementor", "Bash", {"command": "git status"})
    assert (ok.code, ok.out, ok.err) == (0, "", "")
    no = call(cli, tree, "implementor", "Bash", {"command": "git -C . merge main"})
    assert no.code == 2 and no.out == ""
    assert (
        no.err.strip() == "implementors may not merge; open a PR with `claude-orchestrator open-pr`"
    )


@pytest.mark.parametrize(
    ("stdin", "role", "message"),
    [
        ("{not json", "implementor", "malformed hook input"),
        ('{"tool_name": "Bash"}', "implementor", "malformed hook input"),
        ('{"tool_name": "Bash", "tool_input": {}}', "implementor", "without a command"),
        ('{"tool_name": "Bash", "tool_input": {"command": "ls"}}', "boss", "unknown role"),
        ("[]", "implementor", "malformed hook input"),
    ],
)
def test_fails_closed(
    cli: Run, feature: dict[str, Path], stdin: str, role: str, message: str
) -> None:
    result = cli("guard", "--role", role, cwd=feature["impl-data"], stdin=stdin)
    assert result.code == 2 and message in result.err


def test_role_must_match_the_worktree(cli: Run, feature: dict[str, Path]) -> None:
    result = call(cli, feature["impl-data"], "overseer", "Bash", {"command": "git status"})
    assert result.code == 2 and "does not match" in result.err
    result = call(cli, feature["overseer"], "implementor", "Bash", {"command": "git status"})
    assert result.code == 2 and "does not match" in result.err


def test_decisions_are_logged_with_secrets_redacted(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    command = "GH_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123 git push https://me:pw@x.org/r HEAD:main"
    assert call(cli, tree, "implementor", "Bash", {"command": command}).code == 2
    event = cli("events", "recent", "1", "--json").json()[0]
    assert event["event_type"] == "guard_decision" and event["role"] == "implementor-data"
    assert event["metadata"]["decision"] == "deny"
    text = json.dumps(event)
    assert "ghp_" not in text and "pw@" not in text and "GH_TOKEN=***" in text


def test_a_busy_store_spools_and_the_next_guard_drains(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    db = repo / ".git" / "orchestrator" / "events.db"
    holder = sqlite3.connect(db, timeout=5, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        result = call(cli, tree, "implementor", "Bash", {"command": "git merge main"})
        assert result.code == 2  # the decision does not wait for the store
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    state_dir = repo / ".git" / "orchestrator"
    spooled = list(state_dir.glob("spool-*.jsonl*"))  # the spool of this store
    assert spooled and "git merge main" in "".join(p.read_text() for p in spooled)
    assert call(cli, tree, "implementor", "Bash", {"command": "git status"}).code == 0
    assert list(state_dir.glob("spool-*.jsonl*")) == []
    messages = [e["message"] for e in cli("events", "recent", "2", "--json").json()]
    assert messages == ["allowed Bash: git status", "denied Bash: git merge main"]


def test_rules_come_from_the_overseer_branch(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """An implementor widening its paths in its own working copy changes nothing."""
    tree = feature["impl-data"]
    (tree / "orchestrator.yaml").write_text("version: 1\npaths:\n  implementor: ['**']\n")
    result = call(cli, tree, "implementor", "Write", {"file_path": str(tree / "docs/x.md"),
                                                       "content": "x"})  # fmt: skip
    assert result.code == 2 and "outside the paths this role may write" in result.err
    widened = "version: 1\npaths:\n  implementor: ['docs/**']\n"
    commit(feature["overseer"], "orchestrator.yaml", widened, "overseer allows docs")
    result = call(cli, tree, "implementor", "Write", {"file_path": str(tree / "docs/x.md"),
                                                       "content": "x"})  # fmt: skip
    assert result.code == 0, result


def test_redact() -> None:
    assert redact("API_KEY=abc123 make") == "API_KEY=*** make"
    assert redact("curl -H 'Authorization: Bearer abc.def'") == "curl -H 'Authorization: ***'"
    assert redact("git clone https://user:tok@host/x") == "git clone https://***@host/x"
    assert redact("git status") == "git status"
    assert git  # the helper module is used by the fixtures


def test_config_can_allow_a_command_the_guard_cannot_analyse(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    command = "python3 -c 'print(1)'"
    assert call(cli, tree, "implementor", "Bash", {"command": command}).code == 2
    allowed = "version: 1\nguard:\n  allow: [\"python3 -c 'print(1)'\"]\n"
    commit(feature["overseer"], "orchestrator.yaml", allowed, "allow one inline command")
    assert call(cli, tree, "implementor", "Bash", {"command": command}).code == 0
    chained = call(cli, tree, "implementor", "Bash", {"command": command + " && git merge x"})
    assert chained.code == 2  # only the command as written, nothing chained to it


def test_a_broken_config_does_not_lock_the_overseer_out(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    overseer = feature["overseer"]
    (overseer / "orchestrator.yaml").write_text("version: [broken\n")  # the working copy
    result = call(cli, overseer, "overseer", "Bash", {"command": "git checkout orchestrator.yaml"})
    assert result.code == 0, result
    commit(overseer, "orchestrator.yaml", "version: 7\n", "a bad config, committed")
    result = call(cli, overseer, "overseer", "Bash", {"command": "git revert --no-edit HEAD"})
    assert result.code == 0, result  # the overseer can still repair it
    result = call(cli, feature["impl-data"], "implementor", "Bash", {"command": "git status"})
    assert result.code == 2 and "is invalid" in result.err and "the overseer fixes it" in result.err


def test_the_users_cache_directory_is_out_of_an_implementors_reach(
    cli: Run, feature: dict[str, Path]
) -> None:
    """What the tool's own processes trust lives there (the guard's parsed configs, the
    store proxy's sockets): no tool call of an implementor may write it, by any spelling."""
    tree = feature["impl-data"]
    cache = user_cache_dir()
    target = cache / "store-proxy" / "forged.sock"
    relative = os.path.relpath(target, tree)
    calls = [
        ("Write", {"file_path": str(target), "content": "x"}),
        ("Write", {"file_path": relative, "content": "x"}),
        ("Edit", {"file_path": str(cache / "guard" / "config.json"), "old_string": "a",
                  "new_string": "b"}),
        ("NotebookEdit", {"notebook_path": str(cache / "x.ipynb"), "new_source": "x"}),
        ("Bash", {"command": f"touch {target}"}),
        ("Bash", {"command": f"echo x > {target}"}),
        ("Bash", {"command": f"echo x > {relative}"}),
        ("Bash", {"command": f"ln -s /dev/null {target}"}),
        ("Bash", {"command": f"mv {tree / 'README.md'} {target}"}),
        ("Bash", {"command": f"cp README.md {cache}/store-proxy/"}),
        ("Bash", {"command": "echo x > ~/.cache/claude-orchestrator/store-proxy/x.sock"}),
        ("Bash", {"command": f"XDG_CACHE_HOME={tree} claude-orchestrator events recent"}),
    ]  # fmt: skip
    for tool, tool_input in calls:
        result = call(cli, tree, "implementor", tool, tool_input)
        assert result.code == 2, (tool, tool_input, result)
    assert not target.exists()
