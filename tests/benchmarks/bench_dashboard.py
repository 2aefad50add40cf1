"""Benchmarks for issue 14's dashboard (run by ``nox -s bench``; appends to BENCHMARKS.md).

The app (:func:`claude_orchestrator.dashboard_app.create_app`) runs under uvicorn in a
process of its own, as ``claude-orchestrator dashboard`` runs it, on a store of 100
features and 1,000,000 events (built as ``bench_events.py`` builds its store), and is
asked over loopback HTTP by one keep-alive client. The times are from the request sent
to the last byte of the response read, so they are the server's time plus one loopback
round trip (an upper bound on the server's time):

- the first page: the document (``GET /``), and the document with each file of
  ``/static/`` it names plus ``/api/config`` and ``/api/features`` fetched one after the
  other (what a browser needs before the overview shows); target 300 ms;
- each JSON endpoint and chart; target 50 ms each.

Then 20 Server-Sent Events clients (``/api/stream``, each a thread with its own
connection) and a burst of 1,000 events: once committed in one transaction, once as
1,000 separate commits (a commit each, as hooks write them); every client must receive
every event of the burst, in order, none twice, else the benchmark fails.

Last the hook path: ``events log-event`` (whole process) in a repository whose store a
dashboard is serving with two SSE clients streaming, against one with no dashboard,
runs interleaved; the dashboard's sender reads the store by cursor, so the target is no
difference beyond the noise.

    python tests/benchmarks/bench_dashboard.py [--events 1000000] [--runs 30]
        [--clients 20] [--burst 1000] [--hook-runs 40] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from claude_orchestrator import Orchestrator
from claude_orchestrator.dashboard_charts import CHARTS
from tests.benchmarks.bench_events import CLI, fill_store, make_repo, median_ms

SPEC = "042-feature"
#: the app as ``claude-orchestrator dashboard --read-only`` serves it (no token: loopback)
SERVER = """
import sys
import uvicorn
from claude_orchestrator import Orchestrator
from claude_orchestrator.dashboard_app import create_app

repo = sys.argv[1]
app = create_app(lambda: Orchestrator(repo), read_only=True, token=None, allowed_origin=None)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""
#: the burst: ``count`` events in one transaction (``one``) or a commit each (``each``)
WRITER = """
import sys
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLiteStore

db, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SQLiteStore(db)
events = [NewEvent(f"{i % 100:03d}-feature", "implementor-api", "status_update",
                   f"burst {mode} {i}", metadata={"i": i}) for i in range(count)]
if mode == "one":
    with store.transaction() as tx:
        for event in events:
            tx.append(event)
else:
    for event in events:
        store.append_event(event)
store.close()
"""
#: how long any one wait of the benchmark may last before it fails
DEADLINE_S = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def dashboard(repo: Path, env: dict[str, str]) -> Iterator[str]:
    """The app served on a free loopback port for the duration; its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(repo), str(port)], cwd=repo,
                            env=env, stdin=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/api/config", timeout=5).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the dashboard did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def environment() -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_ORCHESTRATOR")}
    identity = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
    return {**kept, **dict.fromkeys(identity, "bench")}


def big_repo(root: Path, events: int, env: dict[str, str]) -> tuple[Path, float]:
    """A repository whose store holds 100 features, ``events`` events and, for the views
    that list them, conflicts, blockers and test results; the seconds it took."""
    (root / "big").mkdir()
    repo = make_repo(root / "big")
    subprocess.run([CLI, "init"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    start = time.perf_counter()
    with Orchestrator(repo, env={}) as orch:
        fill_store(orch, 100, events)
        for n in range(0, 100, 5):
            spec = f"{n:03d}-feature"
            orch.log_conflict(spec, "implementor-api", ["src/api.py", "src/models.py"])
            orch.block(spec, "implementor-ui", "dependency", "waits for the API",
                       blocked_by="implementor-api", task_id="T002")  # fmt: skip
            orch.record_test(spec, "implementor-data", "unit", "failed", total=40, passed=38,
                             failed=2)  # fmt: skip
    return repo, time.perf_counter() - start


class Timed(NamedTuple):
    label: str
    path: str
    median_ms: float
    worst_ms: float
    target_ms: float


def endpoints(spec: str) -> list[tuple[str, str]]:
    """(label, path) of each JSON endpoint and chart, on the whole store or one feature."""
    paths = [
        ("features (all 100, 400 agents)", "/api/features"),
        ("agents of a feature", f"/api/features/{spec}/agents"),
        ("events, newest 50", "/api/events?limit=50"),
        ("events of a feature, newest 50", f"/api/events?limit=50&spec={spec}"),
        ("conflicts of a feature", f"/api/features/{spec}/conflicts"),
        ("task board of a feature", f"/api/features/{spec}/tasks"),
        ("blockers (all features)", "/api/blockers"),
        ("test results (all features)", "/api/tests"),
        ("pull requests of a feature", f"/api/prs?spec={spec}"),
        ("inbox of a feature", f"/api/inbox?spec={spec}"),
        ("config", "/api/config"),
    ]
    for name in sorted(CHARTS):
        paths.append((f"chart {name}, one feature", f"/api/charts/{name}.svg?spec={spec}"))
        paths.append((f"chart {name}, all features", f"/api/charts/{name}.svg"))
    return paths


def fetch(client: httpx.Client, path: str) -> float:
    """Seconds from the request to the last byte of a 200 response."""
    start = time.perf_counter()
    response = client.get(path)
    response.read()
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"GET {path}: {response.status_code} {response.text[:200]}")
    return elapsed


def time_get(client: httpx.Client, paths: list[str], runs: int) -> tuple[float, float]:
    """Median and worst ms of fetching ``paths`` one after the other, after one warm-up."""
    for path in paths:
        fetch(client, path)
    samples = [sum(fetch(client, path) for path in paths) for _ in range(runs)]
    return median_ms(samples), max(samples) * 1000


def page_parts(client: httpx.Client) -> list[str]:
    """What the first page needs: the document, the static files it names, the config
    and the overview's data."""
    document = client.get("/")
    if document.status_code != 200:
        raise SystemExit(f"GET /: {document.status_code}")
    named = re.findall(r"""(?:src|href)=["'](/static/[^"'?#]+)""", document.text)
    return ["/", *dict.fromkeys(named), "/api/config", "/api/features"]


def bench_endpoints(base: str, runs: int) -> list[Timed]:
    rows = []
    with httpx.Client(base_url=base, timeout=DEADLINE_S) as client:
        parts = page_parts(client)
        rows.append(Timed("first page: the document", "/", *time_get(client, ["/"], runs), 300))
        rows.append(Timed(f"first page: the document and {len(parts) - 1} requests it needs",
                          " + ".join(parts[1:]), *time_get(client, parts, runs), 300))  # fmt: skip
        for label, path in endpoints(SPEC):
            rows.append(Timed(label, path, *time_get(client, [path], runs), 50))
    return rows


# ------------------------------------------------------------------------------- SSE
class Client(threading.Thread):
    """One SSE client: reads ``/api/stream`` from ``after`` until ``wanted`` events came."""

    def __init__(self, base: str, after: int, wanted: int) -> None:
        super().__init__(daemon=True)
        self.url = f"{base}/api/stream?after={after}"
        self.wanted = wanted
        self.ids: list[int] = []
        self.connected = threading.Event()
        self.done_at = 0.0
        self.error: str | None = None

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=DEADLINE_S) as response:
                if response.status_code != 200:
                    self.error = f"status {response.status_code}"
                    return
                self.connected.set()
                self._read(response.iter_lines())
        except httpx.HTTPError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.set()

    def _read(self, lines: Iterator[str]) -> None:
        kind, data, ident = "message", [], None
        for line in lines:
            if line:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "id":
                    ident = value
                elif field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
                continue
            if kind == "event" and data:
                event = json.loads("\n".join(data))
                if str(event["id"]) != ident:
                    self.error = f"id: {ident} with the data of event {event['id']}"
                    return
                self.ids.append(int(event["id"]))
                if len(self.ids) == self.wanted:
                    self.done_at = time.perf_counter()
                    return
            kind, data, ident = "message", [], None


def newest_id(repo: Path) -> int:
    with Orchestrator(repo, env={}) as orch:
        return orch.recent(1)[0].id


def burst(base: str, repo: Path, mode: str, clients: int, count: int) -> str:
    """One burst to ``clients`` SSE clients; a table row; SystemExit for any loss."""
    start_id = newest_id(repo)
    readers = [Client(base, start_id, count) for _ in range(clients)]
    for reader in readers:
        reader.start()
    for reader in readers:
        if not reader.connected.wait(DEADLINE_S) or reader.error:
            raise SystemExit(f"an SSE client could not connect: {reader.error}")
    db = repo / ".git" / "orchestrator" / "events.db"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", WRITER, str(db), mode, str(count)], check=True)
    written = time.perf_counter() - start
    for reader in readers:
        reader.join(DEADLINE_S)
    expected = list(range(start_id + 1, start_id + count + 1))
    if newest_id(repo) != expected[-1]:
        raise SystemExit("another writer wrote to the store during the burst")
    for number, reader in enumerate(readers):
        if reader.error or reader.ids != expected:
            got = len(reader.ids)
            raise SystemExit(f"SSE client {number}: {reader.error or f'{got} events, not in order'}"
                             f" of {count}")  # fmt: skip
    lag = max(reader.done_at for reader in readers) - start - written
    what = "in one transaction" if mode == "one" else "one commit each"
    return (f"| {count:,} events {what} | {clients}/{clients} | {written * 1000:,.0f} ms | "
            f"{lag * 1000:,.0f} ms |")  # fmt: skip


def bench_sse(base: str, repo: Path, clients: int, count: int) -> list[str]:
    """Each burst to one client, then to ``clients``: what the clients' number costs."""
    return [burst(base, repo, mode, n, count) for n in (1, clients) for mode in ("one", "each")]


# ------------------------------------------------------------------------- hook path
def small_repo(root: Path, name: str, env: dict[str, str]) -> Path:
    (root / name).mkdir()
    repo = make_repo(root / name)
    for argv in ([CLI, "init"], [CLI, "events", "add-feature", "003-reading-goals", "Reading"]):
        subprocess.run(argv, cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    return repo


def bench_hook(root: Path, runs: int, env: dict[str, str]) -> list[str]:
    repos = {"none": small_repo(root, "plain", env), "served": small_repo(root, "served", env)}
    samples: dict[str, list[float]] = {name: [] for name in repos}
    with dashboard(repos["served"], env) as base:
        streams = [Client(base, 0, 10**9) for _ in range(2)]  # they read until the end
        for stream in streams:
            stream.start()
            stream.connected.wait(DEADLINE_S)
        for index in range(runs + 1):
            for name, repo in repos.items():
                argv = [CLI, "events", "log-event", "003-reading-goals", "implementor-data",
                        "task_started", f"hook {index}", "T001"]  # fmt: skip
                start = time.perf_counter()
                subprocess.run(argv, cwd=repo, env=env, check=True)
                if index:  # the first of each is the warm-up (the config cache)
                    samples[name].append(time.perf_counter() - start)
        stored = list(range(1, newest_id(repos["served"]) + 1))
        deadline = time.monotonic() + DEADLINE_S
        while any(s.ids != stored for s in streams) and time.monotonic() < deadline:
            time.sleep(0.05)
        if any(s.ids != stored for s in streams):
            raise SystemExit(f"the SSE clients did not receive the {len(stored)} events")
    none = samples["none"]

    def row(label: str, name: str) -> str:
        ms = [s * 1000 for s in samples[name]]
        q1, _, q3 = statistics.quantiles(ms, n=4)
        paired = statistics.median(a - b * 1000 for a, b in zip(ms, none, strict=True))
        versus = "" if name == "none" else f"{median_ms(samples[name]) - median_ms(none):+.1f} ms"
        pair = "" if name == "none" else f"{paired:+.1f} ms"
        return f"| {label} | {median_ms(samples[name]):.1f} ms | {q1:.1f}-{q3:.1f} ms | " + (
            f"{versus} | {pair} |"
        )

    return [
        row("no dashboard", "none"),
        row("a dashboard serving the store, two SSE clients streaming", "served"),
        "",
        f"Both SSE clients received all {len(stored)} events of that store (the feature's "
        "first and each one logged), in order.",
    ]


# ------------------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30, help="runs per endpoint")
    parser.add_argument("--clients", type=int, default=20, help="SSE clients")
    parser.add_argument("--burst", type=int, default=1000, help="events per burst")
    parser.add_argument("--hook-runs", type=int, default=40, help="log-event runs each")
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    env = environment()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo, fill_s = big_repo(root, args.events, env)
        with dashboard(repo, env) as base:
            timed = bench_endpoints(base, args.runs)
            sse = bench_sse(base, repo, args.clients, args.burst)
        hook = bench_hook(root, args.hook_runs, env)
    lines = [
        "",
        f"## Dashboard: a store of {args.events:,} events across 100 features",
        "",
        f"Store filled in {fill_s:.1f} s. The app under uvicorn in a process of its own; one "
        "keep-alive client on loopback; from the request to the last byte read (the "
        f"server's time plus a loopback round trip); median and worst of {args.runs} runs "
        "after a warm-up.",
        "",
        "| request | median | worst | target | within |",
        "|---|---|---|---|---|",
        *(f"| {t.label} (`{t.path}`) | {t.median_ms:.1f} ms | {t.worst_ms:.1f} ms | "
          f"< {t.target_ms:g} ms | {'yes' if t.median_ms < t.target_ms else '**no**'} |"
          for t in timed),
        "",
        f"{args.clients} SSE clients (`/api/stream`, each its own connection), a burst of "
        f"{args.burst:,} events written by another process: each client received each event "
        "once, in order (checked; the benchmark fails otherwise). Write time: the writer "
        "process, start to exit; lag: from its exit to the last client's last event. The "
        "clients are threads of the benchmark's one Python process, so with many of them "
        "their own parsing (under one GIL) is part of the lag: the one-client rows show the "
        "server's part.",
        "",
        "| burst | clients with every event | write time | lag |",
        "|---|---|---|---|",
        *sse,
        "",
        "`events log-event` (whole process), runs interleaved, median and quartiles of "
        f"{args.hook_runs} runs each; the paired difference is the median of each round's "
        "difference to the run without a dashboard just before it. Target: no difference "
        "beyond the noise (the dashboard reads the store by cursor; the hook path only "
        "commits).",
        "",
        "| configuration | median | quartiles | vs no dashboard | paired difference |",
        "|---|---|---|---|---|",
        *hook,
    ]  # fmt: skip
    append_report(args.out, "\n".join(lines) + "\n")
    return 0


def append_report(out: Path, text: str) -> None:
    """Add ``text`` to the report (BENCHMARKS.md: ``bench_events.py`` starts it) and print it."""
    with out.open("a") as handle:
        handle.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    sys.exit(main())
