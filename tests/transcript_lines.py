"""Claude Code transcript lines in the format the pinned CLI writes (checked against a
real one: an assistant line carries ``message.id``, ``model``, ``usage``, and the line
``requestId``, ``sessionId``, ``timestamp``, ``cwd``, ``gitBranch``), for tests."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple


class Spent(NamedTuple):
    """One reply's usage."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0


def stamp(seconds: float) -> str:
    whole = int(seconds)
    millis = round((seconds - whole) * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def reply(
    spent: Spent,
    *,
    at: float,
    branch: str | None,
    session: str = "sess-1",
    model: str = "claude-sonnet-4-5-20250929",
    cwd: str = "/work/repo",
    message_id: str | None = None,
    request_id: str | None = None,
    one_hour: int = 0,
) -> dict[str, Any]:
    """One assistant line (``one_hour`` of its cache writes 1-hour ones)."""
    usage = {"input_tokens": spent.input, "cache_creation_input_tokens": spent.cache_write,
             "cache_read_input_tokens": spent.cache_read, "output_tokens": spent.output,
             "service_tier": "standard",
             "cache_creation": {"ephemeral_1h_input_tokens": one_hour,
                                "ephemeral_5m_input_tokens": spent.cache_write - one_hour},
             }  # fmt: skip
    line: dict[str, Any] = {
        "parentUuid": str(uuid.uuid4()), "isSidechain": False, "userType": "external",
        "cwd": cwd, "sessionId": session, "version": "2.1.330", "type": "assistant",
        "message": {"id": message_id or "msg_" + uuid.uuid4().hex[:24], "type": "message",
                    "role": "assistant", "model": model,
                    "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn",
                    "usage": usage},
        "requestId": request_id or "req_" + uuid.uuid4().hex[:24],
        "uuid": str(uuid.uuid4()), "timestamp": stamp(at),
    }  # fmt: skip
    if branch is not None:
        line["gitBranch"] = branch
    return line


def user(at: float, text: str = "do it", session: str = "sess-1") -> dict[str, Any]:
    return {"type": "user", "sessionId": session, "timestamp": stamp(at),
            "message": {"role": "user", "content": text}, "uuid": str(uuid.uuid4())}  # fmt: skip


def write(path: Path, lines: list[dict[str, Any]], *, append: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
    return path
