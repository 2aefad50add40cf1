"""The transcript reader (:mod:`claude_orchestrator.metrics_transcript`) on real files:
exact totals from transcripts with known usage (one the pinned CLI wrote, others in its
format), incremental reading by cursor (only what the cursor has not passed; replaced,
truncated and rewritten files read again from the start), a last line without its
newline, every kind of bad line (a warning naming file and line, nothing miscounted), a
transcript appended by another process while it is read, and Hypothesis over generated
transcripts written and read in arbitrary pieces."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.errors import NotFoundError, ValidationError
from claude_orchestrator.metrics_transcript import (
    MAX_LINE,
    MAX_TOKENS,
    Problem,
    Read,
    Reply,
    read,
    to_utc,
)
from claude_orchestrator.models import TranscriptCursor

DATA = Path(__file__).parent / "data"
#: written by Claude Code 2.1.330 (``claude -p``) against the loopback stand-in, which
#: answered two requests with three content blocks each and the usage input 1000, output
#: 77, cache creation 200, cache read 300 (long strings trimmed, paths replaced)
CLI_TRANSCRIPT = DATA / "transcript-2.1.330-multiblock.jsonl"
SESSION = "5b0c6a55-2f0e-4c61-9d1e-0d4a3c0f8e21"
MODEL = "claude-sonnet-4-5-20250929"
AT = "2026-03-01T10:00:00.000Z"


def assistant(
    message_id: str,
    request_id: str | None = "req_1",
    usage: dict[str, Any] | None = None,
    *,
    model: str = MODEL,
    at: str = AT,
    text: str = "ok",
    **line: Any,
) -> dict[str, Any]:
    """An assistant line as Claude Code 2.1.330 writes it (its fields, in its order)."""
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0} if usage is None else usage  # fmt: skip
    found: dict[str, Any] = {
        "parentUuid": "1d237fa4-a3f6-48cd-a361-388d59ec9edf",
        "isSidechain": False,
        "message": {"id": message_id, "type": "message", "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {**usage, "service_tier": "standard",
                              "cache_creation": {"ephemeral_5m_input_tokens": 0}}},
        "requestId": request_id,
        "type": "assistant",
        "uuid": "43c41260-7b0d-48af-80f0-c5fe95b67485",
        "timestamp": at,
        "cwd": "/work/reading-goals",
        "sessionId": SESSION,
        "version": "2.1.330",
        "gitBranch": "feature/003-reading-goals/impl-data",
    }  # fmt: skip
    if request_id is None:
        del found["requestId"]
    found.update(line)
    return found


def user(text: str = "do it") -> dict[str, Any]:
    return {"parentUuid": None, "isSidechain": False, "type": "user",
            "message": {"role": "user", "content": text}, "timestamp": AT,
            "cwd": "/work/reading-goals", "sessionId": SESSION}  # fmt: skip


OTHERS = [
    {"type": "queue-operation", "operation": "enqueue", "timestamp": AT, "sessionId": SESSION},
    {"type": "attachment", "attachment": {"type": "todo"}, "timestamp": AT},
    {"type": "summary", "summary": "reading goals", "leafUuid": "x"},
    {"type": "api-request", "id": "r", "params": {"model": MODEL, "max_tokens": 32000}},
    {"type": "cost-state", "totalCostUSD": 1.5, "modelUsage": {MODEL: {"inputTokens": 9}}},
]


def encode(line: dict[str, Any] | bytes) -> bytes:
    return line if isinstance(line, bytes) else json.dumps(line).encode()


def write(path: Path, lines: Iterable[dict[str, Any] | bytes], end: bytes = b"\n") -> Path:
    path.write_bytes(b"\n".join(encode(line) for line in lines) + end)
    return path


def append(path: Path, lines: Iterable[dict[str, Any] | bytes]) -> None:
    with path.open("ab") as handle:
        handle.write(b"".join(encode(line) + b"\n" for line in lines))


def totals(replies: Iterable[Reply]) -> tuple[int, int, int, int, int]:
    found = list(replies)
    return (len(found), sum(r.input_tokens for r in found), sum(r.output_tokens for r in found),
            sum(r.cache_write_tokens for r in found),
            sum(r.cache_read_tokens for r in found))  # fmt: skip


def first_of_each_key(replies: Iterable[Reply]) -> list[Reply]:
    """What the store keeps: one record per key, the first."""
    seen: dict[str, Reply] = {}
    for reply in replies:
        seen.setdefault(reply.key, reply)
    return list(seen.values())


# ------------------------------------------------------------------ known usage
def test_the_pinned_cli_s_transcript_counts_each_reply_once_with_its_usage() -> None:
    """Two replies of three lines each (one per content block, same message and request
    id, the same usage on each): counted once each, as the CLI's own cost-state line."""
    got = read(CLI_TRANSCRIPT)
    assert got.problems == []
    assert totals(got.replies) == (2, 2000, 154, 400, 600)
    lines = [json.loads(line) for line in CLI_TRANSCRIPT.read_text().splitlines()]
    assistant_lines = [n for n, line in enumerate(lines, 1) if line["type"] == "assistant"]
    assert assistant_lines == [19, 20, 21, 27, 28, 29]
    assert [r.line for r in got.replies] == [19, 27]
    (own,) = next(line for line in lines if line["type"] == "cost-state")["modelUsage"].values()
    assert totals(got.replies)[1:] == (own["inputTokens"], own["outputTokens"],
                                       own["cacheCreationInputTokens"],
                                       own["cacheReadInputTokens"])  # fmt: skip
    first = lines[18]
    assert got.replies[0] == Reply(
        key=f"{first['message']['id']}:{first['requestId']}", session_id=first["sessionId"],
        model="claude-opus-5-5", at=first["timestamp"], input_tokens=1000, output_tokens=77,
        cache_write_tokens=200, cache_read_tokens=300, cwd="/tmp/reading-goals",
        git_branch="master", line=19)  # fmt: skip
    size = CLI_TRANSCRIPT.stat().st_size
    assert got.cursor == TranscriptCursor(str(CLI_TRANSCRIPT), os.stat(CLI_TRANSCRIPT).st_dev,
                                          os.stat(CLI_TRANSCRIPT).st_ino, size, 32,
                                          CLI_TRANSCRIPT.stem)  # fmt: skip


def test_exact_totals_with_duplicates_other_lines_and_optional_fields(tmp_path: Path) -> None:
    usage = {"input_tokens": 1200, "output_tokens": 340, "cache_creation_input_tokens": 5000,
             "cache_read_input_tokens": 70000}  # fmt: skip
    lines = [
        *OTHERS,
        user(),
        assistant("msg_a", "req_a", usage),
        assistant("msg_a", "req_a", {**usage, "output_tokens": 999}),  # a later block: not counted
        user("tool result"),
        assistant("msg_b", None, {"input_tokens": 7, "output_tokens": 3}),  # no cache, no request
        assistant("msg_b", "req_b", {"input_tokens": 1, "output_tokens": 1,
                                     "cache_creation_input_tokens": None,
                                     "cache_read_input_tokens": None}),
        assistant("msg_s", "req_s", {"input_tokens": 0, "output_tokens": 0}, model="<synthetic>"),
        assistant("msg_c", "req_c", {"input_tokens": 0, "output_tokens": 0}, model="other-model"),
        b"",
        b"   ",
    ]  # fmt: skip
    got = read(write(tmp_path / f"{SESSION}.jsonl", lines))
    assert got.problems == []
    assert [(r.key, r.line) for r in got.replies] == [
        ("msg_a:req_a", 7), ("msg_b:", 10), ("msg_b:req_b", 11), ("msg_c:req_c", 13)]  # fmt: skip
    assert totals(got.replies) == (4, 1208, 344, 5000, 70000)
    assert got.replies[0].cwd == "/work/reading-goals"
    assert got.replies[0].git_branch == "feature/003-reading-goals/impl-data"
    assert got.cursor.line == 15 and got.cursor.session_id == SESSION


MISSING = object()
ONE_HOUR = "message.usage.cache_creation.ephemeral_1h_input_tokens is"
NOT_A_PART = "not a whole number of tokens from 0 to its cache_creation_input_tokens (8,000)"


@pytest.mark.parametrize(
    ("breakdown", "one_hour", "warned"),
    [
        ({"ephemeral_1h_input_tokens": 3000, "ephemeral_5m_input_tokens": 5000}, 3000, None),
        ({"ephemeral_1h_input_tokens": 8000, "ephemeral_5m_input_tokens": 0}, 8000, None),
        # what Claude Code writes when the API's answer had no breakdown: 5-minute writes
        ({"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0}, 0, None),
        ({"ephemeral_5m_input_tokens": 8000}, 0, None),
        (MISSING, 0, None),
        (None, 0, None),
        ([3000], 0, "message.usage.cache_creation is a list, not an object"),
        ({"ephemeral_1h_input_tokens": 8001}, 0, f"{ONE_HOUR} 8001, {NOT_A_PART}"),
        ({"ephemeral_1h_input_tokens": -1}, 0, f"{ONE_HOUR} -1, {NOT_A_PART}"),
        ({"ephemeral_1h_input_tokens": "3000"}, 0, f'{ONE_HOUR} "3000", {NOT_A_PART}'),
        ({"ephemeral_1h_input_tokens": 2.5}, 0, f"{ONE_HOUR} 2.5, {NOT_A_PART}"),
        ({"ephemeral_1h_input_tokens": True}, 0, f"{ONE_HOUR} true, {NOT_A_PART}"),
    ],
)  # fmt: skip
def test_one_hour_cache_writes_are_kept_apart(
    tmp_path: Path, breakdown: Any, one_hour: int, warned: str | None
) -> None:
    """The 1-hour part of the cache writes as the breakdown says; all 5-minute without
    one, or with a bad one (a warning naming file and line; the reply still counted)."""
    usage = {"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 8000,
             "cache_read_input_tokens": 900}  # fmt: skip
    line = assistant("msg_1", usage=usage)
    if breakdown is MISSING:
        del line["message"]["usage"]["cache_creation"]
    else:
        line["message"]["usage"]["cache_creation"] = breakdown
    path = write(tmp_path / "s.jsonl", [user(), line])
    got = read(path)
    assert totals(got.replies) == (1, 100, 20, 8000, 900)
    assert got.replies[0].cache_write_1h_tokens == one_hour
    suffix = ": its cache writes counted as 5-minute ones"
    assert got.problems == ([] if warned is None else [
        Problem(str(path), 2, f"assistant reply msg_1: {warned}{suffix}")
    ])  # fmt: skip


def test_the_session_id_is_the_file_s_name_when_the_line_has_none(tmp_path: Path) -> None:
    path = write(tmp_path / "abc.jsonl", [assistant("msg_a", sessionId=None, cwd=7)])
    (reply,) = read(path).replies
    assert (reply.session_id, reply.cwd) == ("abc", None)


@pytest.mark.parametrize(
    ("stamp", "utc"),
    [
        ("2026-03-01T10:00:00.000Z", "2026-03-01T10:00:00.000Z"),
        ("2026-03-01T12:00:00.250+02:00", "2026-03-01T10:00:00.250Z"),
        ("2026-03-01T00:30:00-05:30", "2026-03-01T06:00:00.000Z"),
        ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123Z"),
        ("2024-02-29T23:59:59.999-00:01", "2024-03-01T00:00:59.999Z"),
    ],
)
def test_timestamps_with_offsets_become_utc(tmp_path: Path, stamp: str, utc: str) -> None:
    got = read(write(tmp_path / "t.jsonl", [assistant("msg_a", at=stamp)]))
    assert got.problems == [] and [r.at for r in got.replies] == [utc]


def test_a_time_without_an_offset_is_taken_as_utc_with_a_warning(tmp_path: Path) -> None:
    got = read(write(tmp_path / "t.jsonl", [assistant("msg_a", at="2026-03-01T10:00:00")]))
    assert [r.at for r in got.replies] == ["2026-03-01T10:00:00.000Z"]
    assert [(p.line, p.text) for p in got.problems] == [
        (1, "assistant reply msg_a: timestamp '2026-03-01T10:00:00' has no UTC offset: "
            "taken as UTC")]  # fmt: skip


# ------------------------------------------------------------------ bad lines
DEEP = b"[" * 100_000 + b"]" * 100_000
BAD_LINES: list[tuple[str, bytes, str]] = [
    ("not UTF-8", b'{"type": "assistant", "x": "\xff\xfe"}',
     "not UTF-8 (byte 0xff at column 29): line skipped"),
    ("invalid JSON", b'{"type": "assistant", "message": {"id": "msg_x"',
     "not JSON (Expecting ',' delimiter: column 48): line skipped"),
    ("not an object", b"[1, 2, 3]", "not a JSON object (a list): line skipped"),
    ("a string", b'"assistant"', "not a JSON object (a string): line skipped"),
    ("deep nesting", DEEP, "JSON nested too deeply to read: line skipped"),
    ("a huge number", b'{"n": ' + b"9" * 5000 + b"}",
     "not JSON (Exceeds the limit (4300 digits) for integer string conversion: value has "
     "5000 digits; use sys.set_int_max_str_digits() to increase the limit): line skipped"),
    ("no message", encode({"type": "assistant", "timestamp": AT}),
     "assistant line without a message object: skipped"),
    ("no id", encode(assistant("")),
     "assistant reply without a message.id: skipped, its tokens not counted"),
    ("no model", encode(assistant("msg_x", model="")),
     "assistant reply msg_x has no message.model: skipped, its tokens not counted"),
    ("no usage", encode(assistant("msg_x", usage={})),
     "assistant reply msg_x: message.usage.input_tokens is missing, not a whole number of "
     "tokens (0 to 1,000,000,000): skipped, its tokens not counted"),
    ("negative", encode(assistant("msg_x", usage={"input_tokens": -1, "output_tokens": 5})),
     "assistant reply msg_x: message.usage.input_tokens is -1, not a whole number of tokens "
     "(0 to 1,000,000,000): skipped, its tokens not counted"),
    ("a bool", encode(assistant("msg_x", usage={"input_tokens": 1, "output_tokens": True})),
     "assistant reply msg_x: message.usage.output_tokens is true, not a whole number of "
     "tokens (0 to 1,000,000,000): skipped, its tokens not counted"),
    ("a float", encode(assistant("msg_x", usage={"input_tokens": 1.5, "output_tokens": 5})),
     "assistant reply msg_x: message.usage.input_tokens is 1.5, not a whole number of "
     "tokens (0 to 1,000,000,000): skipped, its tokens not counted"),
    ("a string count", encode(assistant("msg_x", usage={"input_tokens": 1, "output_tokens": 1,
                                                        "cache_read_input_tokens": "7"})),
     "assistant reply msg_x: message.usage.cache_read_input_tokens is \"7\", not a whole "
     "number of tokens (0 to 1,000,000,000): skipped, its tokens not counted"),
    ("too many", encode(assistant("msg_x", usage={"input_tokens": MAX_TOKENS + 1,
                                                  "output_tokens": 1})),
     "assistant reply msg_x: message.usage.input_tokens is 1000000001, not a whole number "
     "of tokens (0 to 1,000,000,000): skipped, its tokens not counted"),
    ("usage not an object", encode(assistant("msg_x") | {"message": {"id": "msg_x",
                                                                     "model": MODEL,
                                                                     "usage": [1]}}),
     "assistant reply msg_x has no message.usage: skipped, its tokens not counted"),
    ("a request id number", encode(assistant("msg_x", 42)),  # type: ignore[arg-type]
     "assistant reply msg_x has a requestId that is not a string: skipped, its tokens not "
     "counted"),
    ("no timestamp", encode(assistant("msg_x", timestamp=None)),
     "assistant reply msg_x has no timestamp: skipped, its tokens not counted"),
    ("a bad timestamp", encode(assistant("msg_x", at="yesterday")),
     "assistant reply msg_x: timestamp 'yesterday' is not an ISO 8601 time: skipped, its "
     "tokens not counted"),
    ("no such day", encode(assistant("msg_x", at="2026-02-30T10:00:00.000Z")),
     "assistant reply msg_x: timestamp '2026-02-30T10:00:00.000Z' is not an ISO 8601 time: "
     "skipped, its tokens not counted"),
    ("a date only", encode(assistant("msg_x", at="2026-02-03")),
     "assistant reply msg_x: timestamp '2026-02-03' is a date without a time of day: "
     "skipped, its tokens not counted"),
]  # fmt: skip


@pytest.mark.parametrize(("bad", "text"), [(b, t) for _, b, t in BAD_LINES],
                         ids=[name for name, _, _ in BAD_LINES])  # fmt: skip
def test_a_bad_line_is_a_warning_naming_file_and_line_and_counts_nothing(
    tmp_path: Path, bad: bytes, text: str
) -> None:
    path = write(tmp_path / "t.jsonl", [assistant("msg_1"), user(), bad, assistant("msg_2")])
    got = read(path)
    assert got.problems == [Problem(str(path), 3, text)]
    assert str(got.problems[0]) == f"warning: {path}:3: {text}"
    assert "\n" not in str(got.problems[0])
    assert [(r.key, r.line) for r in got.replies] == [("msg_1:req_1", 1), ("msg_2:req_1", 4)]
    assert totals(got.replies) == (2, 20, 10, 0, 0)
    assert (got.cursor.offset, got.cursor.line) == (path.stat().st_size, 4)


def test_a_bad_copy_of_a_key_does_not_hide_a_good_one(tmp_path: Path) -> None:
    bad = assistant("msg_1", usage={"input_tokens": -5, "output_tokens": 1})
    got = read(write(tmp_path / "t.jsonl", [bad, assistant("msg_1")]))
    assert [r.line for r in got.replies] == [2] and [p.line for p in got.problems] == [1]


def test_a_line_over_16_mib_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    huge = b'{"type": "user", "text": "' + b"x" * (3 * MAX_LINE) + b'"}'
    write(path, [assistant("msg_1"), huge, assistant("msg_2")])
    tracemalloc.start()
    try:
        got = read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got.problems == [Problem(str(path), 2, "longer than 16 MiB: line skipped")]
    assert [r.line for r in got.replies] == [1, 3]
    assert peak < 1.5 * MAX_LINE < len(huge) / 2, peak  # never the whole line, never twice
    # the same with a small max_bytes: the long line is passed over in one call
    first = read(path, max_bytes=10)
    assert [r.line for r in first.replies] == [1] and first.problems == []
    second = read(path, first.cursor, max_bytes=10)
    assert second.problems == got.problems and second.replies == []
    assert [r.line for r in read(path, second.cursor).replies] == [3]


# ------------------------------------------------------------------ the last line
def test_a_last_line_without_its_newline_is_left_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    whole = encode(assistant("msg_2"))
    write(path, [assistant("msg_1"), whole[:40]], end=b"")
    first = read(path)
    assert first.problems == [] and [r.line for r in first.replies] == [1]
    assert (first.cursor.offset, first.cursor.line) == (len(encode(assistant("msg_1"))) + 1, 1)
    with path.open("ab") as handle:
        handle.write(whole[40:])  # the line complete, still no newline
    assert read(path, first.cursor).replies == []
    with path.open("ab") as handle:
        handle.write(b"\n")
    second = read(path, first.cursor)
    assert second.problems == [] and [(r.key, r.line) for r in second.replies] == [
        ("msg_2:req_1", 2)]  # fmt: skip
    assert second.cursor.offset == path.stat().st_size


def test_final_reads_the_last_line_without_its_newline(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [assistant("msg_1"), assistant("msg_2")], end=b"")
    got = read(path, final=True)
    assert [r.line for r in got.replies] == [1, 2] and got.problems == []
    assert (got.cursor.offset, got.cursor.line) == (path.stat().st_size, 2)
    assert read(path, got.cursor, final=True) == Read([], [], got.cursor)
    cut = write(tmp_path / "cut.jsonl", [assistant("msg_1"), encode(assistant("msg_2"))[:50]],
                end=b"")  # fmt: skip
    assert read(cut).problems == []
    assert read(cut, final=True).problems == [Problem(
        str(cut), 2, "not JSON (Unterminated string starting at: column 16): "
        "line skipped (the file's last line, which has no newline)")]  # fmt: skip


# ------------------------------------------------------------------ incremental
def test_a_read_goes_on_from_the_cursor_and_never_reads_what_it_passed(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [user(), assistant("msg_1"), assistant("msg_2")])
    first = read(path)
    assert [r.line for r in first.replies] == [2, 3]
    append(path, [user(), assistant("msg_3", usage={"input_tokens": 9, "output_tokens": 4})])
    # spoil every byte the cursor passed but the newline before it: a re-read would warn
    with path.open("r+b") as handle:
        handle.write(b"\xff" * (first.cursor.offset - 1))
    second = read(path, first.cursor)
    assert second.problems == []
    assert [(r.key, r.line, r.input_tokens) for r in second.replies] == [("msg_3:req_1", 5, 9)]
    assert (second.cursor.offset, second.cursor.line) == (path.stat().st_size, 5)
    assert read(path, second.cursor) == Read([], [], second.cursor)


def test_max_bytes_bounds_a_call_and_the_next_goes_on(tmp_path: Path) -> None:
    lines = [assistant(f"msg_{n}") for n in range(10)]
    path = write(tmp_path / "t.jsonl", lines)
    size = len(encode(lines[0])) + 1
    cursor, seen, calls = None, [], 0
    while cursor is None or cursor.offset < path.stat().st_size:
        got = read(path, cursor, max_bytes=3 * size)
        assert len(got.replies) == 3 or (cursor is not None and cursor.line == 9)
        seen += [r.line for r in got.replies]
        cursor, calls = got.cursor, calls + 1
    assert seen == list(range(1, 11)) and calls == 4
    tiny = read(path, max_bytes=1)  # the first line is always read to its end
    assert [r.line for r in tiny.replies] == [1] and tiny.cursor.offset == size
    with pytest.raises(ValueError, match="max_bytes must be 1 or more, not 0"):
        read(path, max_bytes=0)


def test_a_replaced_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [assistant("msg_1"), assistant("msg_2")])
    first = read(path)
    new = write(
        tmp_path / "new.jsonl", [assistant("msg_1"), assistant("msg_2"), assistant("msg_3")]
    )
    os.replace(new, path)
    again = read(path, first.cursor)
    assert again.problems == [Problem(str(path), 0, "the file was replaced since the last read "
                                      "(it is another file now): reading it again from the "
                                      "start")]  # fmt: skip
    assert [r.line for r in again.replies] == [1, 2, 3]
    assert str(again.problems[0]).startswith(f"warning: {path}: the file was replaced")
    assert again.cursor.inode == path.stat().st_ino != first.cursor.inode


def test_a_truncated_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [assistant("msg_1"), assistant("msg_2")])
    first = read(path)
    write(path, [assistant("msg_9")])  # same inode, shorter
    again = read(path, first.cursor)
    assert [p.text for p in again.problems] == [
        f"the file was truncated since the last read ({path.stat().st_size:,} bytes, read up "
        f"to byte {first.cursor.offset:,}): reading it again from the start"]  # fmt: skip
    assert [(r.key, r.line) for r in again.replies] == [("msg_9:req_1", 1)]


def test_a_file_rewritten_in_place_is_read_again_from_the_start(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [assistant("msg_1"), assistant("msg_2")])
    first = read(path)
    write(path, [assistant("msg_33333"), assistant("msg_4"), assistant("msg_5")])  # longer
    again = read(path, first.cursor)
    assert [p.text for p in again.problems] == [
        f"the file was rewritten since the last read (no line ends at byte "
        f"{first.cursor.offset:,} any more): reading it again from the start"]  # fmt: skip
    assert [r.line for r in again.replies] == [1, 2, 3]


def test_a_cursor_that_cannot_be_right_starts_from_the_beginning(tmp_path: Path) -> None:
    path = write(tmp_path / "t.jsonl", [assistant("msg_1")])
    good = read(path).cursor
    got = read(path, good._replace(offset=-4))
    assert [r.line for r in got.replies] == [1]
    assert [p.text for p in got.problems] == [
        "the saved cursor (byte -4, line 1) cannot be right: reading it again from the start"
    ]


# ------------------------------------------------------------------ unreadable paths
def test_a_path_that_is_no_transcript_is_an_error_of_one_line(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError) as missing:
        read(tmp_path / "nope.jsonl")
    assert str(missing.value) == (
        f"no transcript at {tmp_path / 'nope.jsonl'}: pass the path of a Claude Code session "
        "transcript (~/.claude/projects/<project>/<session id>.jsonl)")  # fmt: skip
    with pytest.raises(ValidationError) as folder:
        read(tmp_path)
    assert str(folder.value) == (f"{tmp_path} is not a regular file: pass the path of a "
                                 "Claude Code session transcript (a .jsonl file)")  # fmt: skip
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(ValidationError, match="is not a regular file"):  # and does not wait
        read(fifo)
    locked = write(tmp_path / "locked.jsonl", [user()])
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("running as root: a file without permissions is still readable")
    with pytest.raises(ValidationError, match=r"cannot read the transcript .*: Permission denied"):
        read(locked)


# ------------------------------------------------------------------ times
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=OFFSETS),
       st.sampled_from(["milliseconds", "microseconds", "seconds"]))  # fmt: skip
def test_any_zoned_iso_time_becomes_the_same_moment_in_utc(moment: datetime, spec: str) -> None:
    stamp = moment.isoformat(timespec=spec)
    at, zoned = to_utc(stamp)
    utc = datetime.fromisoformat(stamp).astimezone(UTC)
    assert zoned and datetime.fromisoformat(at) == utc.replace(
        microsecond=utc.microsecond // 1000 * 1000)  # fmt: skip
    assert len(at) == len("YYYY-MM-DDTHH:MM:SS.sssZ") and at.endswith("Z")


DIGITS = st.integers(0, 99).map(lambda n: f"{n:02d}")


@given(st.integers(0, 9999), DIGITS, DIGITS, DIGITS, DIGITS, DIGITS, st.integers(0, 999))
def test_claude_code_s_own_format_is_checked_as_datetime_checks_it(
    year: int, month: str, day: str, hour: str, minute: str, second: str, ms: int
) -> None:
    """The fast path (no datetime import) accepts what datetime accepts, as it is."""
    stamp = f"{year:04d}-{month}-{day}T{hour}:{minute}:{second}.{ms:03d}Z"
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        with pytest.raises(ValueError, match="not an ISO 8601 time"):
            to_utc(stamp)
    else:
        assert to_utc(stamp) == (stamp, True)


# ------------------------------------------------------------------ Hypothesis
class Line(NamedTuple):
    data: bytes
    #: the reply it counts as (the first line of its key), or None
    reply: tuple[str, int, int, int, int, str] | None
    bad: bool


IDS = st.sampled_from([f"msg_{n}" for n in range(6)])
REQUESTS = st.sampled_from([None, "req_a", "req_b"])
COUNT = st.integers(0, 10**6)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=7))])
MOMENTS = st.datetimes(datetime(2025, 1, 1), datetime(2027, 1, 1), timezones=ZONES)
TEXT = st.text(st.characters(codec="utf-8"), max_size=30)
#: text that may go into a line as it is (json.dumps escapes a newline, this has none)
RAW = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=30)


@st.composite
def reply_lines(draw: st.DrawFn) -> Line:
    usage = {"input_tokens": draw(COUNT), "output_tokens": draw(COUNT)}
    for name in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        usage[name] = draw(st.none() | COUNT)
    moment = draw(MOMENTS)
    message_id, request_id = draw(IDS), draw(REQUESTS)
    line = assistant(message_id, request_id, usage, text=draw(TEXT),
                     at=moment.isoformat(timespec="milliseconds"))  # fmt: skip
    utc = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    tokens = [usage[name] or 0 for name in usage]
    key = f"{message_id}:{request_id or ''}"
    return Line(encode(line), (key, tokens[0], tokens[1], tokens[2], tokens[3], utc), False)


OTHER_LINES = st.builds(lambda kind, text: Line(encode(kind | {"text": text}), None, False),
                        st.sampled_from([user(), *OTHERS]), TEXT)  # fmt: skip
JUNK_LINES = st.builds(
    lambda data: Line(data, None, True),
    st.sampled_from([data for _, data, _ in BAD_LINES if len(data) < 1000])
    | RAW.map(lambda text: b"\xc3(" + text.encode())
    | TEXT.map(lambda text: b'{"type": "assistant", ' + json.dumps(text).encode()),
)
BLANK = st.just(Line(b"", None, False))
LINES = st.lists(st.one_of(reply_lines(), reply_lines(), OTHER_LINES, JUNK_LINES, BLANK),
                 max_size=25)  # fmt: skip


def expected(lines: list[Line]) -> list[tuple[object, ...]]:
    """(key, line, the four counts, time) of the first line of each key."""
    seen: dict[str, tuple[object, ...]] = {}
    for number, line in enumerate(lines, 1):
        if line.reply is not None and line.reply[0] not in seen:
            seen[line.reply[0]] = (line.reply[0], number, *line.reply[1:])
    return list(seen.values())


def drain(path: Path, cursor: TranscriptCursor | None, max_bytes: int | None,
          final: bool = False) -> tuple[list[Read], TranscriptCursor | None]:  # fmt: skip
    """Reads until a read makes no progress."""
    found = []
    while True:
        got = read(path, cursor, max_bytes=max_bytes, final=final)
        found.append(got)
        if cursor is not None and (got.cursor.offset, got.cursor.line) == (
            cursor.offset,
            cursor.line,
        ):
            return found, cursor  # fmt: skip
        cursor = got.cursor


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow])  # fmt: skip
@given(LINES, st.booleans(), st.lists(st.integers(0, 10**6), max_size=8),
       st.none() | st.integers(1, 400))  # fmt: skip
def test_reading_in_any_pieces_equals_one_read_and_the_lines_written(
    tmp_path: Path, lines: list[Line], newline_at_end: bool, cuts: list[int],
    max_bytes: int | None,
) -> None:  # fmt: skip
    """The file is written in pieces cut anywhere (inside a line, inside a UTF-8
    character) and read after each piece with ``max_bytes``, then once with ``final``:
    the replies (one per key, as the store keeps them) and warnings are those of one
    read of the whole file, and those the generated lines say."""
    data = b"\n".join(line.data for line in lines) + (b"\n" if newline_at_end and lines else b"")
    path = tmp_path / f"{len(os.listdir(tmp_path))}.jsonl"
    path.write_bytes(b"")
    bounds = sorted({cut % (len(data) + 1) for cut in cuts} | {len(data)})
    reads: list[Read] = []
    cursor, written = None, 0
    for bound in bounds:
        with path.open("ab") as handle:
            handle.write(data[written:bound])
        written = bound
        found, cursor = drain(path, cursor, max_bytes)
        reads += found
    found, cursor = drain(path, cursor, max_bytes, final=True)
    reads += found
    whole = read(path, final=True)
    assert first_of_each_key(r for got in reads for r in got.replies) == whole.replies
    assert [p for got in reads for p in got.problems] == whole.problems
    count = data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
    assert cursor is not None and cursor[3:5] == whole.cursor[3:5] == (len(data), count)
    assert [(r.key, r.line, r.input_tokens, r.output_tokens, r.cache_write_tokens,
             r.cache_read_tokens, r.at) for r in whole.replies] == expected(lines)  # fmt: skip
    bad = [n for n, line in enumerate(lines, 1) if line.bad]
    assert [p.line for p in whole.problems] == bad


# ------------------------------------------------------------------ a writer meanwhile
WRITER = """
import os, random, sys, time
data, path, seed = open(sys.argv[1], "rb").read(), sys.argv[2], int(sys.argv[3])
rng, at = random.Random(seed), 0
with open(path, "ab", buffering=0) as handle:
    while at < len(data):
        step = rng.choice([1, 7, 100, 1000, 5000])
        handle.write(data[at:at + step])
        at += step
        if rng.random() < 0.2:
            time.sleep(0.001)
"""


def test_a_transcript_appended_while_it_is_read_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(15)
    lines, want = [], [0, 0, 0, 0]
    for n in range(3000):
        if n % 3:
            lines.append(user("x" * rng.randrange(0, 3000)))
            continue
        usage = {"input_tokens": rng.randrange(10**5), "output_tokens": rng.randrange(10**4),
                 "cache_creation_input_tokens": rng.randrange(10**4),
                 "cache_read_input_tokens": rng.randrange(10**6)}  # fmt: skip
        lines += [assistant(f"msg_{n}", f"req_{n}", usage)] * rng.choice([1, 1, 3])
        want = [a + b for a, b in zip(want, usage.values(), strict=True)]
    source = write(tmp_path / "source", lines)
    path = tmp_path / f"{SESSION}.jsonl"
    path.write_bytes(b"")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(source), str(path), "15"])
    replies: list[Reply] = []
    cursor, reads = None, 0
    try:
        while writer.poll() is None or cursor is None or cursor.offset < path.stat().st_size:
            got = read(path, cursor, max_bytes=rng.choice([None, 500, 20_000]))
            assert got.problems == []
            replies += got.replies
            if cursor is not None and got.cursor.offset == cursor.offset:
                time.sleep(0.001)  # nothing new: let the writer write
            cursor, reads = got.cursor, reads + 1
            assert reads < 100_000, "the reader does not keep up"
    finally:
        writer.kill()
        writer.wait(30)
    assert writer.returncode == 0 and cursor.offset == source.stat().st_size
    kept = first_of_each_key(replies)
    assert totals(kept) == (1000, *want)
    assert [r.key for r in kept] == [f"msg_{n}:req_{n}" for n in range(0, 3000, 3)]
    assert len({r.line for r in kept}) == 1000 and cursor.line == len(lines)
    assert reads > 10  # it did read while the writer wrote
