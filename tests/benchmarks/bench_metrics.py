"""Benchmarks for issue 15's transcript reader (run by ``nox -s bench``; appends to
BENCHMARKS.md).

A Claude Code transcript of about 100 MB, in the format Claude Code 2.1.330 writes (user
lines with tool results of 200 bytes to 20 kB, attachments, api-request lines, and
replies of one to three lines, one per content block), and one of about 10 MB:

- the whole file read without a cursor (``metrics_transcript.read``), in MB/s;
- 100 lines appended, then read with the cursor of the whole read: the cost of the hook's
  ingest, which must depend on the new lines only (the same on both files);
- the peak memory (tracemalloc) of each.

The file is in the page cache (just written), as a session's transcript is when its
hook reads it.

    python tests/benchmarks/bench_metrics.py [--mb 100] [--runs 5] [--appends 30]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from claude_orchestrator.metrics_transcript import Read, read
from claude_orchestrator.models import TranscriptCursor

SESSION = "5b0c6a55-2f0e-4c61-9d1e-0d4a3c0f8e21"
MODEL = "claude-sonnet-4-5-20250929"
MB = 1_000_000


def common(rng: random.Random, kind: str) -> dict[str, Any]:
    return {"parentUuid": f"{rng.getrandbits(128):032x}", "isSidechain": False, "type": kind,
            "uuid": f"{rng.getrandbits(128):032x}", "timestamp": "2026-03-01T10:00:00.000Z",
            "userType": "external", "entrypoint": "cli", "cwd": "/work/reading-goals",
            "sessionId": SESSION, "version": "2.1.330",
            "gitBranch": "feature/003-reading-goals/impl-data"}  # fmt: skip


def words(rng: random.Random, size: int) -> str:
    text = " ".join(rng.choice(["def", "return", "self", "import", "tasks", "status", "x"])
                    for _ in range(size // 5))  # fmt: skip
    return text[:size]


def turn(rng: random.Random, number: int) -> Iterator[dict[str, Any]]:
    """One turn: the tool's result, attachments, the request, the reply's lines."""
    result = words(rng, rng.choice([200, 1000, 4000, 20000]))
    yield {**common(rng, "user"), "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": f"toolu_{number}", "content": result}]}}  # fmt: skip
    for _ in range(rng.randrange(3)):
        yield {**common(rng, "attachment"), "attachment": {"type": "todo_reminder",
                                                           "content": words(rng, 800)}}  # fmt: skip
    yield {"type": "api-request", "sessionId": SESSION, "id": f"r{number}",
           "params": {"model": MODEL, "max_tokens": 32000, "tools": words(rng, 1500)}}  # fmt: skip
    usage = {"input_tokens": rng.randrange(10, 5000), "output_tokens": rng.randrange(1, 3000),
             "cache_creation_input_tokens": rng.randrange(50000),
             "cache_read_input_tokens": rng.randrange(200000),
             "service_tier": "standard"}  # fmt: skip
    blocks = [{"type": "text", "text": words(rng, 600)} for _ in range(rng.randrange(3))]
    blocks.append({"type": "tool_use", "id": f"toolu_{number + 1}", "name": "Bash",
                   "input": {"command": words(rng, 120)}})  # fmt: skip
    for block in blocks:
        yield {**common(rng, "assistant"), "requestId": f"req_{number:08d}",
               "message": {"id": f"msg_{number:08d}", "type": "message", "role": "assistant",
                           "model": MODEL, "content": [block], "stop_reason": "tool_use",
                           "usage": usage}}  # fmt: skip


def lines(rng: random.Random, start: int) -> Iterator[bytes]:
    number = start
    while True:
        for line in turn(rng, number):
            yield json.dumps(line, separators=(",", ":")).encode() + b"\n"
        number += 2


def make(path: Path, size: int, seed: int) -> None:
    rng, written = random.Random(seed), 0
    with path.open("wb") as handle:
        for line in lines(rng, 0):
            if written >= size:
                return
            handle.write(line)
            written += len(line)


def append(path: Path, count: int, seed: int) -> None:
    source = lines(random.Random(seed), 10**7)
    with path.open("ab") as handle:
        handle.write(b"".join(next(source) for _ in range(count)))


def timed(call: Callable[[], Read], runs: int) -> tuple[list[float], Read]:
    got = call()  # warm
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        got = call()
        samples.append(time.perf_counter() - start)
    return samples, got


def peak(call: Callable[[], Read]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(path: Path, runs: int, appends: int) -> dict[str, Any]:
    size = path.stat().st_size
    full, whole = timed(lambda: read(path), runs)
    cursor: TranscriptCursor = whole.cursor
    append(path, 100, seed=size)
    added = path.stat().st_size - size
    again, new = timed(lambda: read(path, cursor), appends)
    assert not new.problems and new.cursor.line == cursor.line + 100, new.problems[:3]
    return {"size": size, "lines": whole.cursor.line, "replies": len(whole.replies),
            "full": statistics.median(full), "full_q": statistics.quantiles(full, n=4),
            "again": statistics.median(again), "again_q": statistics.quantiles(again, n=4),
            "added": added, "new_replies": len(new.replies),
            "full_peak": peak(lambda: read(path)),
            "again_peak": peak(lambda: read(path, cursor))}  # fmt: skip


def rows(found: dict[str, Any]) -> list[str]:
    size, full, again = found["size"], found["full"], found["again"]
    q1, q3 = found["full_q"][0], found["full_q"][2]
    a1, a3 = found["again_q"][0], found["again_q"][2]
    return [
        f"| {size / MB:,.1f} MB, {found['lines']:,} lines, {found['replies']:,} replies: "
        f"whole file, no cursor | {full * 1000:,.0f} ms ({q1 * 1000:,.0f}-{q3 * 1000:,.0f}) | "
        f"{size / MB / full:,.0f} MB/s | {found['full_peak'] / MB:,.1f} MB |",
        f"| the same + 100 lines ({found['added'] / 1000:,.0f} kB, {found['new_replies']} "
        f"replies), read with the cursor | {again * 1000:,.2f} ms ({a1 * 1000:,.2f}-"
        f"{a3 * 1000:,.2f}) | {full / again:,.0f}x faster than the whole file | "
        f"{found['again_peak'] / MB:,.2f} MB |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--mb", type=int, default=100, help="size of the large transcript")
    parser.add_argument("--runs", type=int, default=5, help="whole-file reads")
    parser.add_argument("--appends", type=int, default=30, help="reads of the 100 new lines")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measured = []
        for name, size in (("small", args.mb * MB // 10), ("large", args.mb * MB)):
            path = Path(tmp) / f"{name}.jsonl"
            make(path, size, seed=15)
            measured.append(measure(path, args.runs, args.appends))
    small, large = measured
    lines = [
        "",
        "## Metrics: reading Claude Code transcripts (`metrics_transcript.read`, in-process)",
        "",
        "Transcripts in Claude Code 2.1.330's format (tool results of 200 bytes to 20 kB, "
        "attachments, requests, replies of one to three lines), in the page cache. Median "
        f"(quartiles) of {args.runs} whole-file reads and of {args.appends} reads of the same "
        "100 appended lines from the whole read's cursor; peak memory by tracemalloc.",
        "",
        "| read | time | rate | peak memory |",
        "|---|---|---|---|",
        *rows(small),
        *rows(large),
        "",
        f"The 100 new lines cost {small['again'] * 1000:,.2f} ms after "
        f"{small['size'] / MB:,.0f} MB and {large['again'] * 1000:,.2f} ms after "
        f"{large['size'] / MB:,.0f} MB: what the cursor passed is not read again.",
    ]
    text = "\n".join(lines) + "\n"
    with args.out.open("a") as handle:
        handle.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
