"""The transcript reader on transcripts the real Claude Code CLI writes (``claude -p``
against the loopback stand-in of :mod:`tests.e2e.fake_model`): a reply of several content
blocks takes a line per block and counts once, with the tokens the stand-in sent and the
CLI reports itself; a forked session copies earlier replies into its new file under the
same keys, so one record per key counts each reply once.

Needs ``.ci/install-claude.sh`` (skips without a ``claude``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.metrics_transcript import Reply, read
from tests.e2e.claude_cli import ClaudeRun, find_claude, run_claude
from tests.e2e.fake_model import FakeModel, estimate_tokens

from .test_metrics_transcript import first_of_each_key, totals

CLAUDE = find_claude()
pytestmark = pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code CLI not installed (npm unavailable?): run .ci/install-claude.sh",
)
SETTINGS = {"permissions": {"defaultMode": "dontAsk", "allow": ["Bash(echo *)"]}}


class Blocks(FakeModel):
    """Answers the main conversation with two text blocks before each scripted one."""

    def reply_for(self, body: Any) -> tuple[str, list[dict[str, Any]], str]:
        kind, content, stop_reason = super().reply_for(body)
        if kind == "main":
            content = [{"type": "text", "text": "first"}, {"type": "text", "text": "then"},
                       *content]  # fmt: skip
        return kind, content, stop_reason


def echo(text: str) -> dict[str, Any]:
    return {"name": "Bash", "input": {"command": f"echo {text}"}}


def claude(tmp_path: Path, fake: FakeModel, *args: str) -> ClaudeRun:
    repo, home = tmp_path / "repo", tmp_path / "home"
    if not repo.exists():
        repo.mkdir()
        home.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        (tmp_path / "settings.json").write_text(json.dumps(SETTINGS))
    with fake:
        run = run_claude(repo, tmp_path / "settings.json", fake, timeout=90, args=args,
                         env={"HOME": str(home)})  # fmt: skip
    assert run.returncode == 0 and not run.timed_out, run
    assert [s.decision for s in run.steps] == ["ran"] * len(fake.tool_calls), run
    return run


def sent(fake: FakeModel) -> tuple[int, int, int, int, int]:
    """What the stand-in sent for the main conversation: its input count and 5 output
    tokens a reply, no cache (the CLI writes no other reply to the transcript)."""
    main = [r for r in fake.requests if r.kind == "main"]
    return (len(main), sum(estimate_tokens(r.body.get("messages")) for r in main),
            5 * len(main), 0, 0)  # fmt: skip


def own_count(run: ClaudeRun) -> tuple[int, int, int, int]:
    assert run.output is not None
    usage = run.output["usage"]
    return (usage["input_tokens"], usage["output_tokens"], usage["cache_creation_input_tokens"],
            usage["cache_read_input_tokens"])  # fmt: skip


def transcripts(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "home" / ".claude" / "projects").glob("*/*.jsonl"))


def test_a_reply_of_several_blocks_counts_once_with_the_tokens_sent(tmp_path: Path) -> None:
    fake = Blocks(echo("one"), echo("two"))
    run = claude(tmp_path, fake)
    (path,) = transcripts(tmp_path)
    got = read(path, final=True)
    assert got.problems == []
    assert totals(got.replies) == sent(fake) and sent(fake)[0] == 3
    assert totals(got.replies)[1:] == own_count(run)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    replies = [line for line in lines if line.get("type") == "assistant"]
    assert len(replies) == 3 * 3  # a line per content block
    by_key: dict[str, list[dict[str, Any]]] = {}
    for line in replies:
        by_key.setdefault(f"{line['message']['id']}:{line['requestId']}", []).append(line)
    assert [r.key for r in got.replies] == list(by_key)
    for reply, (first, *later) in zip(got.replies, by_key.values(), strict=True):
        assert reply.line == lines.index(first) + 1 and reply.at == first["timestamp"]
        # Claude Code 2.1.330 writes the reply's final usage on each of its lines
        assert all(line["message"]["usage"] == first["message"]["usage"] for line in later)
    assert {(r.session_id, r.cwd) for r in got.replies} == {(path.stem, str(tmp_path / "repo"))}
    assert got.cursor.offset == path.stat().st_size


def test_a_forked_session_copies_replies_under_the_same_keys(tmp_path: Path) -> None:
    """``--resume`` appends to the session's file; ``--fork-session`` starts a new one
    holding the earlier replies again (same message and request ids, the new session's
    id): counted once per key, the two files' replies are the two runs' replies."""
    first_fake = FakeModel(echo("one"))
    first = claude(tmp_path, first_fake)
    assert first.output is not None
    second_fake = FakeModel(echo("two"))
    second = claude(tmp_path, second_fake, "--resume", first.output["session_id"],
                    "--fork-session")  # fmt: skip
    old, new = sorted(transcripts(tmp_path), key=lambda p: p.stat().st_mtime)
    old_replies, new_replies = read(old, final=True).replies, read(new, final=True).replies
    copied = {r.key for r in old_replies}
    assert copied and copied <= {r.key for r in new_replies}
    assert {r.session_id for r in new_replies} == {new.stem} != {old.stem}
    kept: list[Reply] = first_of_each_key([*old_replies, *new_replies])
    counted = [a + b for a, b in zip(sent(first_fake), sent(second_fake), strict=True)]
    assert totals(kept) == tuple(counted)
    runs = [own_count(first), own_count(second)]
    assert totals(kept)[1:] == tuple(a + b for a, b in zip(*runs, strict=True))
