"""Benchmarks for issue 12's agent state (run by ``nox -s bench``; appends to BENCHMARKS.md).

The observation hook (``agent-event``) runs on every hook of every agent, so its whole
process is measured next to the guard's (the target: under the guard's), in the common
case (a PostToolUse while the agent works: nothing to record) and when it records a
change; then ``agents --json`` on a feature with 50 agents.

    python tests/benchmarks/bench_agents.py [--runs 20] [--agents 50] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claude_orchestrator import Orchestrator
from claude_orchestrator.agent_state import agent_views

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.bench_events import CLI, make_repo, median_ms, time_call

SPEC = "003-reading-goals"


def run(argv: list[str], cwd: Path, env: dict[str, str], stdin: str = "") -> None:
    subprocess.run(argv, cwd=cwd, env=env, input=stdin, text=True, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def time_hook(argv: list[str], cwd: Path, env: dict[str, str], payloads: list[str],
              runs: int) -> list[float]:  # fmt: skip
    """Whole-process times of ``argv`` fed each of ``payloads`` in turn."""
    samples = []
    for index in range(runs):
        start = time.perf_counter()
        run(argv, cwd, env, payloads[index % len(payloads)])
        samples.append(time.perf_counter() - start)
    return samples


def payload(tree: Path, name: str, **fields: object) -> str:
    return json.dumps({"session_id": "bench", "transcript_path": "/tmp/bench.jsonl",
                       "cwd": str(tree), "hook_event_name": name, **fields})  # fmt: skip


def bench_hooks(root: Path, runs: int, env: dict[str, str]) -> list[str]:
    root.mkdir()
    repo = make_repo(root)
    run([CLI, "init"], repo, env)
    run([CLI, "init-feature", SPEC, "--worktrees", "--implementors", "data"], repo, env)
    tree = root / "repo-worktrees" / SPEC / "impl-data"
    tool = {"tool_name": "Bash", "tool_input": {"command": "git status"}}
    guard = [payload(tree, "PreToolUse", **tool)]
    quiet = [payload(tree, "PostToolUse", **tool, tool_response={"stdout": "ok"})]
    changes = [payload(tree, "UserPromptSubmit", prompt="go"), payload(tree, "Stop")]
    run([CLI, "agent-event"], tree, env, quiet[0])  # warms the config cache
    run([CLI, "guard", "--role", "implementor"], tree, env, guard[0])
    python = time_hook([sys.executable, "-c", "pass"], tree, env, [""], runs)
    rows = [("`python -c pass` (same virtualenv)", python)]
    rows.append(
        (
            "`guard --role implementor` (PreToolUse, allowed)",
            time_hook([CLI, "guard", "--role", "implementor"], tree, env, guard, runs),
        )
    )
    rows.append(
        (
            "`agent-event`, PostToolUse while working (nothing to record)",
            time_hook([CLI, "agent-event"], tree, env, quiet, runs),
        )
    )
    rows.append(("`agent-event`, UserPromptSubmit / Stop in turn (records each)",
                 time_hook([CLI, "agent-event"], tree, env, changes, runs)))  # fmt: skip
    base = median_ms(python)
    return [f"| {name} | {median_ms(s):.1f} ms | {median_ms(s) / base:.1f}x |" for name, s in rows]


def bench_agents(root: Path, runs: int, count: int, env: dict[str, str]) -> tuple[list[str], int]:
    root.mkdir()
    repo = make_repo(root)
    run([CLI, "init"], repo, env)
    areas = [f"a{n:02d}" for n in range(count - 1)]
    with Orchestrator(repo, env=env) as orch:
        orch.add_feature(SPEC, "Reading goals", areas=areas)
        store = orch.store
        for role in ["overseer", *(f"implementor-{a}" for a in areas)]:
            for n in range(5):
                for kind in ("agent_working", "guard_decision", "agent_idle"):
                    metadata = {"tool": "Bash", "input": f"git status {n}", "decision": "allow"}
                    store.append_event(_new(role, kind, metadata))
        events = len(orch.recent(100_000))
    whole = []
    for _ in range(runs):
        start = time.perf_counter()
        run([CLI, "agents", SPEC, "--json"], repo, env)
        whole.append(time.perf_counter() - start)
    with Orchestrator(repo, env=env) as orch:
        views = time_call(lambda: agent_views(orch, SPEC), runs)
    rows = [f"| `agents {SPEC} --json` (whole process) | {median_ms(whole):.1f} ms |",
            f"| `agent_views(orch, spec)` (in-process) | {median_ms(views):.1f} ms |"]  # fmt: skip
    return rows, events


def _new(role: str, kind: str, metadata: dict[str, object]) -> object:
    from claude_orchestrator.models import NewEvent

    return NewEvent(SPEC, role, kind, kind, None, None, metadata)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_ORCHESTRATOR")}
    env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@b")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        hooks = bench_hooks(Path(tmp) / "hooks", args.runs, env)
        agents, events = bench_agents(Path(tmp) / "agents", args.runs, args.agents, env)
    report = "\n".join([
        "",
        "## Agent state: the observation hook and `agents` (SQLite)",
        "",
        "Whole processes, as Claude Code runs the hooks (target: `agent-event` under the "
        f"guard). Median of {args.runs} runs.",
        "",
        "| command | median | vs python -c pass |",
        "|---|---|---|",
        *hooks,
        "",
        f"`agents` on one feature with {args.agents} agents and {events:,} events "
        "(state events and guard decisions).",
        "",
        "| call | median |",
        "|---|---|",
        *agents,
        "",
    ])  # fmt: skip
    with args.out.open("a") as handle:
        handle.write(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
