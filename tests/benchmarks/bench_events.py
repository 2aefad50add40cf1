"""Benchmarks for the event store (run by ``nox -s bench``; writes BENCHMARKS.md).

Not a test: it prints a table and writes medians measured in one run, so ratios
compare like with like on the same (small, noisy) machine.

    python tests/benchmarks/bench_events.py [--events 1000000] [--runs 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from claude_orchestrator import Orchestrator, __version__

SPEC = "003-reading-goals"
BIN = Path(sys.executable).parent
CLI = str(BIN / "claude-orchestrator")


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_process(argv: list[str], cwd: Path, runs: int, env: dict[str, str]) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return samples


def time_call(call: Callable[[], object], runs: int) -> list[float]:
    call()  # warm: connection opened, schema checked, pages cached
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@b")  # fmt: skip
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, check=True,
                   env=env)  # fmt: skip
    return repo


def bench_hook_path(root: Path, runs: int) -> list[tuple[str, float, str]]:
    repo = make_repo(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_ORCHESTRATOR")}
    subprocess.run([CLI, "init"], cwd=repo, check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([CLI, "events", "add-feature", SPEC, "Reading goals"], cwd=repo, check=True,
                   env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    db = repo / ".git" / "orchestrator" / "events.db"
    log_event = [CLI, "events", "log-event", SPEC, "implementor-data", "task_started",
                 "benchmark event", "T001", "abc1234"]  # fmt: skip
    subprocess.run(log_event, cwd=repo, check=True, env=env)  # warms the config cache
    python = time_process([sys.executable, "-c", "pass"], repo, runs, env)
    ours = time_process(log_event, repo, runs, env)
    rows = [
        ("`python -c pass` (same virtualenv)", median_ms(python), "1.0x"),
        ("`claude-orchestrator events log-event` (whole process)", median_ms(ours),
         f"{median_ms(ours) / median_ms(python):.1f}x"),
    ]  # fmt: skip
    sqlite_cli = shutil.which("sqlite3")
    if sqlite_cli:
        insert = (
            "INSERT INTO task_events (feature_id, agent_id, event_type, task_id, commit_hash, "
            "message) VALUES (1, 3, 'task_started', 'T001', 'abc1234', 'benchmark event');"
        )
        original = time_process(["bash", "-c", 'sqlite3 "$0" "$1"', str(db), insert], repo,
                                runs, env)  # fmt: skip
        rows.append(("original: bash + `sqlite3` CLI, one INSERT", median_ms(original),
                     f"{median_ms(original) / median_ms(python):.1f}x"))  # fmt: skip
    guard, big = bench_guard(root, runs, env)
    rows.append(("`claude-orchestrator guard` (PreToolUse hook, whole process)", median_ms(guard),
                 f"{median_ms(guard) / median_ms(python):.1f}x"))  # fmt: skip
    rows.append(("`guard` on a 1 MiB here-document command (whole process; target < 1 s)",
                 median_ms(big), f"{median_ms(big) / median_ms(python):.1f}x"))  # fmt: skip
    status = time_process([CLI, "events", "status", SPEC], repo, runs, env)
    rows.append(("`claude-orchestrator events status` (Typer path, whole process)",
                 median_ms(status), f"{median_ms(status) / median_ms(python):.1f}x"))  # fmt: skip
    return rows


def bench_guard(root: Path, runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """The guard deciding on `git commit` in an implementor's worktree (decision logged),
    and on a 1 MiB command (a here-document writing a file under src/)."""
    (root / "guard").mkdir()
    repo = make_repo(root / "guard")
    subprocess.run([CLI, "init"], cwd=repo, check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([CLI, "init-feature", SPEC, "--worktrees"], cwd=repo, check=True, env=env,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    tree = repo.parent / "repo-worktrees" / SPEC / "impl-data"
    payload = json.dumps({"session_id": "b", "cwd": str(tree), "hook_event_name": "PreToolUse",
                          "tool_name": "Bash",
                          "tool_input": {"command": 'git commit -m "T001: model"'}})  # fmt: skip
    argv = [CLI, "guard", "--role", "implementor"]
    subprocess.run(argv, cwd=tree, input=payload, text=True, env=env, check=True)  # warm
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=tree, input=payload, text=True, env=env, check=True)
        samples.append(time.perf_counter() - start)
    body = "x = 1\n" * ((1 << 20) // 6)
    command = f"cat > src/generated.py <<'EOF'\n{body}EOF"
    big_payload = json.dumps({"session_id": "b", "cwd": str(tree), "tool_name": "Bash",
                              "hook_event_name": "PreToolUse",
                              "tool_input": {"command": command}})  # fmt: skip
    big = []
    for _ in range(max(5, runs // 3)):
        start = time.perf_counter()
        subprocess.run(argv, cwd=tree, input=big_payload, text=True, env=env, check=True)
        big.append(time.perf_counter() - start)
    return samples, big


def fill_store(orch: Orchestrator, features: int, events: int) -> None:
    """Features through the API; events by bulk SQL into the same table and triggers."""
    for n in range(features):
        orch.add_feature(f"{n:03d}-feature", f"Feature {n}")
    conn = sqlite3.connect(orch.store_path)
    agents = conn.execute("SELECT id, feature_id FROM agents ORDER BY id").fetchall()
    types = ("task_started", "task_completed", "status_update", "task_blocked")
    batch = 50_000
    conn.execute("BEGIN")
    for start in range(0, events, batch):
        rows = []
        for i in range(start, min(start + batch, events)):
            agent_id, feature_id = agents[i % len(agents)]
            task = f"T{(i // len(agents)) % 400:03d}"
            rows.append((feature_id, agent_id, types[i % 4], task, f"{i:07x}", f"event {i}"))
        conn.executemany(
            "INSERT INTO task_events (feature_id, agent_id, event_type, task_id, commit_hash, "
            "message) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.execute("COMMIT")
    conn.close()


def bench_reads(root: Path, events: int, runs: int) -> tuple[list[tuple[str, float, str]], float]:
    path = root / "big"
    path.mkdir()
    orch = Orchestrator(path, db=path / "events.db", env={})
    orch.init_store()
    start = time.perf_counter()
    fill_store(orch, 100, events)
    fill_s = time.perf_counter() - start
    orch.close()
    orch = Orchestrator(path, db=path / "events.db", env={})
    rows = []
    for label, call in (
        ("`events status` (all 100 features, 400 agents)", lambda: orch.status()),
        ("`events status <spec>`", lambda: orch.status("042-feature")),
        ("`events recent 20`", lambda: orch.recent(20)),
        ("`events recent 20 --spec <spec>`", lambda: orch.recent(20, "042-feature")),
    ):
        rows.append((label, median_ms(time_call(call, runs)), "target < 50 ms"))
    orch.close()
    return rows, fill_s


WRITER = """
import sys, time
from claude_orchestrator import Orchestrator
count = int(sys.argv[2])
with Orchestrator(db=sys.argv[1]) as orch:
    for i in range(count):
        orch.log_event("003-reading-goals", "implementor-data", "status_update", f"e{i}")
"""


def bench_ingest(root: Path, per_writer: int) -> list[tuple[str, float, str]]:
    rows = []
    for writers in (1, 4, 8):
        db = root / f"ingest{writers}.db"
        with Orchestrator(root, db=db, env={}) as orch:
            orch.init_store()
            orch.add_feature(SPEC, "Ingest")
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(per_writer)],
                                  cwd=root) for _ in range(writers)]  # fmt: skip
        for proc in procs:
            assert proc.wait() == 0
        elapsed = time.perf_counter() - start
        total = writers * per_writer
        count = (
            sqlite3.connect(db)
            .execute("SELECT COUNT(*) FROM task_events WHERE event_type = 'status_update'")
            .fetchone()[0]
        )
        assert count == total, (count, total)
        rows.append((f"{writers} writer process(es) x {per_writer} events", total / elapsed,
                     f"{total} events, all stored, {elapsed:.1f} s"))  # fmt: skip
    return rows


def table(headers: tuple[str, ...], rows: list[tuple[str, float, str]], unit: str) -> str:
    lines = [f"| {' | '.join(headers)} |", "|" + "---|" * len(headers)]
    for label, value, note in rows:
        lines.append(f"| {label} | {value:,.1f} {unit} | {note} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--ingest", type=int, default=500, help="events per writer")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hook = bench_hook_path(root, args.runs)
        reads, fill_s = bench_reads(root, args.events, args.runs)
        ingest = bench_ingest(root, args.ingest)
    report = "\n".join([
        "# Benchmarks",
        "",
        f"claude-orchestrator {__version__}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {platform.machine()}. "
        f"Medians of {args.runs} runs, all measured in one run of "
        "`nox -s bench` (regular, non-editable install). Regenerate with `nox -s bench`.",
        "",
        "## Hook path: one event logged per commit (whole process)",
        "",
        "Target: median under 100 ms and at most 8x `python -c pass` (log-event); the guard "
        "runs before every tool call: target under 100 ms.",
        "",
        table(("command", "median", "vs python -c pass"), hook, "ms"),
        "",
        f"## Reads on a store of {args.events:,} events across 100 features (in-process)",
        "",
        f"Store filled in {fill_s:.1f} s (features through the API, events by bulk SQL "
        "through the same triggers).",
        "",
        table(("call", "median", "note"), reads, "ms"),
        "",
        "## Concurrent ingest through the library (separate processes, one store)",
        "",
        table(("writers", "throughput", "note"), ingest, "events/s"),
        "",
    ])  # fmt: skip
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
