"""Benchmarks for issue 15's flow metrics and attribution (pure functions over records;
appends to BENCHMARKS.md).

``attribute`` must stay O((n + m) log(n + m)) for n replies and m events: one sweep over
the task events builds each agent's current-task step function, then one binary search
per reply. Measured on synthetic records of one feature (5 agents; each task started,
sometimes blocked and unblocked, completed and merged; agent state events and guard
decisions between), at two sizes ten times apart: the time grows about ten times, not a
hundred.

    python tests/benchmarks/bench_metrics_flow.py [--usages 100000] [--events 10000] [--out FILE]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from claude_orchestrator.metrics_flow import attribute, burn_down, flow, rollup
from claude_orchestrator.metrics_model import GROUPINGS
from claude_orchestrator.metrics_prices import PriceTable
from claude_orchestrator.models import Event, Usage
from tests.benchmarks.bench_events import median_ms, time_call

SPEC = "015-cost-metrics"
ROLES = ("overseer", "implementor-api", "implementor-data", "implementor-ui", "implementor-docs")
T0 = 1_767_261_600


def stamp(ms: int) -> str:
    whole, rest = divmod(T0 * 1000 + ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{rest:03d}Z"


def records(events: int, usages: int, seed: int = 15) -> tuple[list[Event], list[Usage]]:
    """``events`` events (about half task events) and ``usages`` replies over their span."""
    rng = random.Random(seed)
    found: list[Event] = []
    clock = 0
    task = 0
    while len(found) < events:
        role = rng.choice(ROLES[1:])
        task += 1
        kinds = ["task_started", "agent_working", "guard_decision"]
        if rng.random() < 0.2:
            kinds += ["task_blocked", "agent_waiting", "blocker_resolved"]
        kinds += ["task_completed", "agent_idle", "task_merged"]
        for kind in kinds:
            clock += rng.randint(1, 120_000)
            task_id = (
                f"T{task:04d}" if kind.startswith("task_") or kind == "blocker_resolved" else None
            )
            meta = {"pull_request_id": task} if kind == "task_merged" else {"decision": "allow"}
            found.append(Event(len(found) + 1, SPEC, role, kind, kind, task_id, None, meta,
                               stamp(clock)))  # fmt: skip
    found = found[:events]
    replies = [
        Usage(n, f"msg_{n}:req_{n}", SPEC, rng.choice(ROLES), "s", "claude-sonnet-4-5",
              stamp(rng.randint(0, clock)), 1000, 200, 50, 5000, "/t.jsonl", n)
        for n in range(1, usages + 1)
    ]  # fmt: skip
    return found, replies


def measure(events: int, usages: int, runs: int) -> tuple[str, dict[str, float]]:
    """(what was measured, call -> median milliseconds)."""
    found, replies = records(events, usages)
    prices = PriceTable()
    attributed = attribute(replies, found, prices)
    charged = sum(1 for a in attributed if a.task_id is not None)
    tasks = sorted({str(e.task_id) for e in found if e.task_id})
    now = found[-1].created_at
    calls = {
        "attribute": lambda: attribute(replies, found, prices),
        **{f"rollup(by={by!r})": (lambda by=by: rollup(attributed, by, found, []))
           for by in GROUPINGS},
        "flow": lambda: flow(SPEC, found, [], [], [], [], tasks, now=now),
        "burn_down": lambda: burn_down(found, tasks, now=now),
    }  # fmt: skip
    size = (f"{usages:,} replies, {events:,} events ({len(tasks):,} tasks, {charged:,} "
            "replies charged to one)")  # fmt: skip
    return size, {name: median_ms(time_call(call, runs)) for name, call in calls.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--usages", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    small, tenth = measure(args.events // 10, args.usages // 10, args.runs)
    large, whole = measure(args.events, args.usages, args.runs)
    lines = [
        "", "## Cost attribution and flow metrics (pure functions over records)", "",
        f"Median of {args.runs} runs in one process, at two sizes: A = {small}; "
        f"B = {large}. O((n + m) log(n + m)) makes B about ten times A, not a hundred.",
        "", "| call | A | B | B / A |", "|---|---|---|---|",
    ]  # fmt: skip
    for name, ms in whole.items():
        lines.append(f"| `{name}` | {tenth[name]:.1f} ms | {ms:.1f} ms | {ms / tenth[name]:.1f} |")
    text = "\n".join([*lines, ""])
    with args.out.open("a") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
