"""Benchmarks for issue 13's notifications (run by ``nox -s bench``; appends to BENCHMARKS.md).

Delivery is off the hook path: ``events log-event`` only commits the event. Its whole
process is measured in three repositories, runs interleaved so that the machine's drift
falls on all alike:

- no channels configured;
- three channels (slack, discord, webhook, all to a loopback receiver) with a ``notify
  run`` running: the designed set-up, in which commands start no background delivery
  (target: within 5 ms of none);
- the same three channels without ``notify run``: each command starts a detached
  background delivery (``notify flush --background``); the next run waits for it to end,
  untimed, so it does not compete with the measurement.

Then the sender's throughput: ``notify flush`` (a process of its own) routing 500 stored
events into the queue with the channel unusable (its variable unset), then sending the 500
queued messages to the loopback receiver (webhook channel, signed, rate limit raised).

    python tests/benchmarks/bench_notify.py [--runs 40] [--messages 500] [--rounds 3]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from claude_orchestrator import Orchestrator
from claude_orchestrator.outbox import ENV_NO_BACKGROUND, RUN, delivering
from tests.benchmarks.bench_events import CLI, make_repo, median_ms
from tests.http_receiver import Receiver

SPEC = "003-reading-goals"
SECRET = "bench-secret-0123456789abcdef"
THREE = """\
    team: {type: slack, url_env: SLACK_URL}
    ops: {type: discord, url_env: DISCORD_URL}
    hook: {type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET}
"""
FAST = """\
    hook: {type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET,
           rate_limit: {count: 10000, per: 1}}
"""


def notifications(channels: str) -> str:
    """The ``notifications:`` section: ``channels`` (YAML lines), small timings, no
    digest (each message goes on its own)."""
    body = "\n" + channels if channels else " {}\n"
    return (f"notifications:\n  channels:{body}  escalation: null\n"
            "  digest: {threshold: 10000, window: 1, settle: 0}\n"
            "  retry: {attempts: 3, base: 0.05, max_delay: 1, timeout: 5}\n"
            "  lease: 10\n  link: null\n\n")  # fmt: skip


def set_up(root: Path, name: str, channels: str, env: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir()
    repo = make_repo(folder)
    run([CLI, "init"], repo, env)
    run([CLI, "events", "add-feature", SPEC, "Reading goals"], repo, env)
    config = repo / "orchestrator.yaml"
    text, count = re.subn(r"^notifications:\n(?:(?:  .*|#.*|)\n)*", notifications(channels),
                          config.read_text(), flags=re.MULTILINE)  # fmt: skip
    assert count == 1, "init's config has no notifications section"
    config.write_text(text)
    return repo


def run(argv: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> int:
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=check)  # fmt: skip
    return done.returncode


def state_dir(repo: Path) -> Path:
    with Orchestrator(repo, env={}) as orch:
        return orch.location.state_dir


def settle(repo: Path, timeout: float = 60.0) -> None:
    """Wait (untimed) until no sender holds the repository's sender lock."""
    folder = state_dir(repo)
    deadline = time.monotonic() + timeout
    while delivering(folder, RUN) and time.monotonic() < deadline:
        time.sleep(0.02)


@contextlib.contextmanager
def notify_run(repo: Path, env: dict[str, str]) -> Iterator[None]:
    """A ``notify run`` for the duration (stopped with SIGTERM, as ``notify stop`` does)."""
    proc = subprocess.Popen([CLI, "notify", "run"], cwd=repo, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        folder = state_dir(repo)
        deadline = time.monotonic() + 30
        while not delivering(folder, RUN):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("notify run did not start")
            time.sleep(0.05)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def bench_hook(root: Path, receiver: Receiver, runs: int, env: dict[str, str]) -> list[str]:
    urls = {"SLACK_URL": receiver.url("/slack/T0/B0/x"), "DISCORD_URL": receiver.url("/discord"),
            "HOOK_URL": receiver.url("/hook"), "HOOK_SECRET": SECRET}  # fmt: skip
    env = {**env, **urls}
    repos = {
        "none": set_up(root, "none", "", env),
        "run": set_up(root, "run", THREE, env),
        "background": set_up(root, "background", THREE, env),
    }
    samples: dict[str, list[float]] = {name: [] for name in repos}

    def log_event(name: str, index: int) -> Callable[[], None]:
        argv = [CLI, "events", "log-event", SPEC, "implementor-data", "pr_opened",
                f"PR {index}"]  # fmt: skip

        def call() -> None:
            start = time.perf_counter()
            run(argv, repos[name], env)
            samples[name].append(time.perf_counter() - start)

        return call

    with notify_run(repos["run"], env):
        for name in repos:  # warm each: the config cache, the page cache
            run([CLI, "events", "log-event", SPEC, "implementor-data", "status_update", "warm"],
                repos[name], env)  # fmt: skip
            settle(repos["background"])
        for index in range(runs):
            for name in repos:
                log_event(name, index)()
            settle(repos["background"])
    sent = len(receiver.requests)
    none = median_ms(samples["none"])

    def row(label: str, name: str) -> str:
        ms = [s * 1000 for s in samples[name]]
        q1, _, q3 = statistics.quantiles(ms, n=4)
        if name == "none":
            return f"| {label} | {median_ms(samples[name]):.1f} ms | {q1:.1f}-{q3:.1f} ms | | |"
        paired = [a - b * 1000 for a, b in zip(ms, samples["none"], strict=True)]
        return (f"| {label} | {median_ms(samples[name]):.1f} ms | {q1:.1f}-{q3:.1f} ms | "
                f"{median_ms(samples[name]) - none:+.1f} ms | "
                f"{statistics.median(paired):+.1f} ms |")  # fmt: skip

    return [
        row("no channels", "none"),
        row("three channels (slack, discord, webhook), `notify run` running", "run"),
        row("three channels, no `notify run` (starts a background delivery)", "background"),
        "",
        f"The receiver got {sent} requests meanwhile (the sends are not on the hook path).",
    ]


def bench_sender(root: Path, messages: int, rounds: int, env: dict[str, str]
                 ) -> list[str]:  # fmt: skip
    route_s, send_s = [], []
    with Receiver() as receiver:
        env = {**env, "HOOK_URL": receiver.url("/hook"), "HOOK_SECRET": SECRET,
               ENV_NO_BACKGROUND: "1"}  # fmt: skip
        unset = {k: v for k, v in env.items() if k != "HOOK_URL"}
        for index in range(rounds):
            repo = set_up(root, f"sender{index}", FAST, env)
            with Orchestrator(repo, env=env) as orch:
                for n in range(messages):
                    orch.log_event(SPEC, "implementor-data", "pr_opened", f"PR {n}")
            before = len(receiver.requests)
            start = time.perf_counter()
            run([CLI, "notify", "flush", "--wait", "0"], repo, unset, check=False)  # routes
            route_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            run([CLI, "notify", "flush"], repo, env)
            send_s.append(time.perf_counter() - start)
            got = len(receiver.requests) - before
            if got != messages:
                raise SystemExit(f"the receiver got {got} requests, not {messages}")
    route, send = statistics.median(route_s), statistics.median(send_s)
    return [
        f"| `notify flush` routing {messages} stored events into the queue | "
        f"{route * 1000:.0f} ms | {messages / route:,.0f} events/s |",
        f"| `notify flush` sending {messages} queued messages (webhook, signed, loopback) | "
        f"{send * 1000:.0f} ms | {messages / send:,.0f} messages/s |",
    ]


def environment() -> dict[str, str]:
    """This process's environment without the orchestrator's variables, with a git
    identity (the set-up commits)."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_ORCHESTRATOR")}
    identity = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")
    return {**kept, **dict.fromkeys(identity, "bench")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--runs", type=int, default=40, help="log-event runs per configuration")
    parser.add_argument("--messages", type=int, default=500, help="queued for the sender")
    parser.add_argument("--rounds", type=int, default=3, help="sender rounds")
    args = parser.parse_args()
    env = environment()
    with tempfile.TemporaryDirectory() as tmp, Receiver() as receiver:
        hook = bench_hook(Path(tmp), receiver, args.runs, env)
        sender = bench_sender(Path(tmp), args.messages, args.rounds, env)
    lines = [
        "",
        "## Notifications: the hook path with channels, and the sender",
        "",
        "`events log-event` (whole process) in three repositories, runs interleaved; median "
        f"and quartiles of {args.runs} runs each; the paired difference is the median of "
        "each round's difference to the run without channels just before it. Target: with "
        "three channels and `notify run` running, within 5 ms of none.",
        "",
        "| configuration | median | quartiles | vs no channels | paired difference |",
        "|---|---|---|---|---|",
        *hook,
        "",
        f"The sender, a `notify flush` process to the loopback receiver (median of "
        f"{args.rounds} rounds).",
        "",
        "| what | time | rate |",
        "|---|---|---|",
        *sender,
    ]
    text = "\n".join(lines) + "\n"
    with args.out.open("a") as handle:
        handle.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
