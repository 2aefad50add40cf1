"""Benchmarks for the postgres store, next to SQLite's (run by ``nox -s bench``; appends
to BENCHMARKS.md).

It starts a throwaway PostgreSQL server of its own (:mod:`tests.pgserver`; or uses the
one named by ``CLAUDE_ORCHESTRATOR_TEST_PG_DSN``) and measures, in one run:

- concurrent ingest: 16 writer processes x 500 events on each store, every event stored;
- the hook path: ``events log-event`` as a whole process, through the store proxy (the
  default) and directly (``plugins.options.postgres.proxy: false``), next to SQLite,
  and ``import psycopg`` alone;
- reads on 1,000,000 events across 100 features: ``status`` and ``recent 20``.

    python tests/benchmarks/bench_postgres.py [--events 1000000] [--runs 30] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from claude_orchestrator import Orchestrator
from tests import pgserver
from tests.benchmarks.bench_events import median_ms, time_call, time_process
from tests.pgserver import with_database

SPEC = "003-reading-goals"
BIN = Path(sys.executable).parent
CLI = str(BIN / "claude-orchestrator")
DB_URL = "CLAUDE_ORCHESTRATOR_DB_URL"
NO_PROXY = "CLAUDE_ORCHESTRATOR_NO_STORE_PROXY"
WRITERS = 16


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE_ORCHESTRATOR", "GIT_"))}
    env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@b")  # fmt: skip
    return env


def make_repo(path: Path, store: str, env: dict[str, str]) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=path, check=True,
                   env=env)  # fmt: skip
    subprocess.run([CLI, "init"], cwd=path, check=True, env=env, stdout=subprocess.DEVNULL)
    if store == "postgres":
        config = path / "orchestrator.yaml"
        config.write_text(config.read_text().replace("  store: sqlite\n", "  store: postgres\n"))
        subprocess.run([CLI, "events", "init"], cwd=path, check=True, env=env,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    return path


@contextlib.contextmanager
def server() -> Iterator[str]:
    dsn = os.environ.get(pgserver.DSN_ENV)
    if dsn:
        yield dsn
        return
    with pgserver.running() as cluster:
        yield cluster.dsn


def new_database(admin: str, name: str) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin, name)


def wait_for_daemon(repo: Path, env: dict[str, str]) -> None:
    """Until the repository's store proxy daemon answers (its start, psycopg's import and
    first connection, is not what the hook path's runs measure)."""
    deadline = time.monotonic() + 30
    with Orchestrator(repo, env=env) as orch:
        port = orch.store_plugin().port
        while getattr(port, "daemon", lambda: None)() is None:
            if time.monotonic() > deadline:
                raise SystemExit("the store proxy's daemon did not start in 30 s")
            time.sleep(0.2)


def stop_proxies(where: Path) -> None:
    """Stop the store proxy daemons this run started (they idle out anyway): those
    holding a file open under ``where`` (the run's cache directory, their sockets')."""
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if b"claude_orchestrator.store_proxy" not in (proc / "cmdline").read_bytes():
                continue
            if any(str(where) in os.readlink(fd) for fd in (proc / "fd").iterdir()):
                os.kill(int(proc.name), 15)


# ------------------------------------------------------------------------- ingest
WRITER = """
import sys
from claude_orchestrator import Orchestrator
count = int(sys.argv[2])
with Orchestrator(sys.argv[1]) as orch:
    for i in range(count):
        orch.log_event("003-reading-goals", "implementor-data", "status_update", f"e{i}")
"""


def ingest(repo: Path, env: dict[str, str], per_writer: int) -> tuple[float, int]:
    with Orchestrator(repo, env=env) as orch:
        orch.add_feature(SPEC, "Ingest")
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(repo), str(per_writer)],
                              cwd=repo, env=env) for _ in range(WRITERS)]  # fmt: skip
    failed = sum(proc.wait() != 0 for proc in procs)
    elapsed = time.perf_counter() - start
    with Orchestrator(repo, env=env) as orch:
        stored = sum(1 for e in orch.store.events_after(SPEC, 0, limit=10**9)
                     if e.event_type == "status_update")  # fmt: skip
    total = WRITERS * per_writer
    assert failed == 0 and stored == total, (failed, stored, total)
    return total / elapsed, stored


# ---------------------------------------------------------------------------- reads
def fill_postgres(orch: Orchestrator, dsn: str, features: int, events: int) -> None:
    """Features through the API; events by bulk SQL into the same table and triggers."""
    import psycopg

    for n in range(features):
        orch.add_feature(f"{n:03d}-feature", f"Feature {n}")
    with psycopg.connect(dsn) as conn:
        agents = conn.execute(
            "SELECT project_id, id, feature_id FROM agents ORDER BY id"
        ).fetchall()
        project = agents[0][0]
        batch = 50_000
        for start in range(0, events, batch):
            conn.execute(
                """
                INSERT INTO task_events (project_id, feature_id, agent_id, event_type, task_id,
                                         commit_hash, message)
                SELECT %(project)s::integer, a.feature_id, a.id,
                       (ARRAY['task_started','task_completed','status_update','task_blocked'])
                           [i %% 4 + 1],
                       'T' || lpad(((i / %(agents)s::bigint) %% 400)::text, 3, '0'),
                       to_hex(i), 'event ' || i
                FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i
                JOIN (SELECT id, feature_id, row_number() OVER (ORDER BY id) - 1 AS n
                      FROM agents WHERE project_id = %(project)s) AS a
                  ON a.n = i %% %(agents)s::bigint
                ORDER BY i
                """,
                {"project": project, "agents": len(agents), "start": start,
                 "stop": min(start + batch, events) - 1},
            )  # fmt: skip
            conn.commit()
        conn.execute("ANALYZE")


def reads(repo: Path, env: dict[str, str], dsn: str, events: int, runs: int):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with Orchestrator(repo, env=env) as orch:
        fill_postgres(orch, dsn, 100, events)
    fill_s = time.perf_counter() - start
    rows = []
    with Orchestrator(repo, env=env) as orch:
        for label, call in (
            ("`events status` (all 100 features, 400 agents)", lambda: orch.status()),
            ("`events status <spec>`", lambda: orch.status("042-feature")),
            ("`events recent 20`", lambda: orch.recent(20)),
            ("`events recent 20 --spec <spec>`", lambda: orch.recent(20, "042-feature")),
        ):
            rows.append((label, median_ms(time_call(call, runs))))
    return rows, fill_s


# ----------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--ingest", type=int, default=500, help="events per writer")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    base = git_env()
    lines = ["", "## PostgreSQL store, next to SQLite (one run)", ""]
    with tempfile.TemporaryDirectory() as tmp, server() as admin:
        root = Path(tmp)
        cache = root / "cache"  # the store proxy's sockets, this run's alone
        base["XDG_CACHE_HOME"] = str(cache)
        import_s = time_process([sys.executable, "-c", "import psycopg"], root, args.runs, base)
        bare = time_process([sys.executable, "-c", "pass"], root, args.runs, base)
        probe = [sys.executable, "-c", "import psycopg; print(psycopg.pq.version())"]
        version = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        lines += [f"PostgreSQL server {admin.split('@')[-1].split('/')[0]} (loopback), libpq "
                  f"{version}; the server runs on this machine, so the network costs nothing "
                  "here.", ""]  # fmt: skip

        # ingest
        sq_env = dict(base)
        pg_env = dict(base, **{DB_URL: new_database(admin, "bench_ingest")})
        sq_rate, sq_n = ingest(make_repo(root / "ingest-sqlite", "sqlite", sq_env), sq_env,
                               args.ingest)  # fmt: skip
        pg_repo = make_repo(root / "ingest-pg", "postgres", pg_env)
        pg_rate, pg_n = ingest(pg_repo, dict(pg_env, **{NO_PROXY: "1"}), args.ingest)
        stop_proxies(cache)
        lines += [
            f"### Concurrent ingest: {WRITERS} writer processes x {args.ingest} events "
            "(through the library)", "",
            "| store | throughput | stored | errors |", "|---|---|---|---|",
            f"| SQLite (one file) | {sq_rate:,.0f} events/s | {sq_n:,} | 0 |",
            f"| PostgreSQL | {pg_rate:,.0f} events/s | {pg_n:,} | 0 |", "",
        ]  # fmt: skip

        # hook path
        hook_rows = []
        for label, store, proxy in (
            ("SQLite", "sqlite", False),
            ("PostgreSQL through the store proxy (the default)", "postgres", True),
            ("PostgreSQL, directly (`proxy: false`)", "postgres", False),
        ):  # fmt: skip
            name = f"hook-{len(hook_rows)}"
            env = dict(base)
            if store == "postgres":
                env[DB_URL] = new_database(admin, f"bench_{name.replace('-', '_')}")
            repo = make_repo(root / name, store, env)
            if store == "postgres" and not proxy:
                config = repo / "orchestrator.yaml"
                config.write_text(config.read_text().replace(
                    "  options: {}\n", "  options: {postgres: {proxy: false}}\n"))  # fmt: skip
            subprocess.run([CLI, "events", "add-feature", SPEC, "Reading goals"], cwd=repo,
                           check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip
            argv = [CLI, "events", "log-event", SPEC, "implementor-data", "task_started",
                    "benchmark event", "T001", "abc1234"]  # fmt: skip
            for _ in range(3):  # the config cache, and the proxy's daemon, warm up
                subprocess.run(argv, cwd=repo, env=env, check=True)
                time.sleep(0.3)
            if proxy:
                wait_for_daemon(repo, env)
            hook_rows.append((label, median_ms(time_process(argv, repo, args.runs, env))))
            stop_proxies(cache)
        lines += [
            "### Hook path: `events log-event` (whole process; target: median under 100 ms)", "",
            "| store | median | vs python -c pass |", "|---|---|---|",
            f"| `python -c pass` | {median_ms(bare):.1f} ms | 1.0x |",
            f"| `python -c 'import psycopg'` | {median_ms(import_s):.1f} ms | "
            f"{median_ms(import_s) / median_ms(bare):.1f}x |",
            *(f"| {label} | {value:.1f} ms | {value / median_ms(bare):.1f}x |"
              for label, value in hook_rows), "",
        ]  # fmt: skip

        # reads
        env = dict(base, **{DB_URL: new_database(admin, "bench_reads"), NO_PROXY: "1"})
        repo = make_repo(root / "reads", "postgres", env)
        read_rows, fill_s = reads(repo, env, env[DB_URL], args.events, args.runs)
        lines += [
            f"### Reads on {args.events:,} events across 100 features (in-process, direct)", "",
            f"Store filled in {fill_s:.1f} s (features through the API, events by bulk SQL "
            "through the same triggers).", "",
            "| call | median | note |", "|---|---|---|",
            *(f"| {label} | {value:.1f} ms | target < 50 ms |" for label, value in read_rows),
            "",
        ]  # fmt: skip
    text = "\n".join(lines)
    with args.out.open("a") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
