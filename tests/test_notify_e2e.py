"""The notification pipeline end to end, under faults: the real commands (``notify run``
as a process where a process is the point: SIGKILL, two senders, the background
delivery) sending through the ``webhook`` channel to a loopback receiver
(:mod:`tests.http_receiver`) that answers from a script: 5xx then success, 429 with
``Retry-After``, a hang, 404, a receiver that echoes the secrets back. The tests end by
checking that the webhook URL's token and the HMAC secret appear in no command's output,
in ``notify.log`` and nowhere in the event store's files.
"""

from __future__ import annotations

import contextlib
import email.utils
import gc
import hashlib
import hmac
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator.models import Notification
from claude_orchestrator.outbox import ENV_NO_BACKGROUND, RUN, delivering
from tests.conftest import CLI, Result, Run, clean_env, digest, run_process
from tests.http_receiver import Receiver, Reply, Request, receiver  # noqa: F401 - the fixture
from tests.test_launcher import agent_cmd, gone, team, wait_for  # noqa: F401 - up's fixture
from tests.test_workflow_setup import feature  # noqa: F401 - team's fixture

SPEC = "003-reading-goals"
TOKEN = "T0K3N-abcdef"
HOOK_PATH = f"/hook/{TOKEN}"
SECRET = "whsec-e2e-0123456789-never-shown"
#: what the notifications section is made of (each test changes what it needs)
DEFAULTS: dict[str, Any] = {
    "threshold": 10_000,
    "window": 10,
    "settle": 0,
    "attempts": 8,
    "base": 0.05,
    "max_delay": 1,
    "timeout": 2,
    "lease": 1,
}
STATES = ("queued", "sent", "dead", "cancelled", "digested")
_SECTION = re.compile(r"^notifications:\n(?:(?:  .*|#.*|)\n)*", re.MULTILINE)


def section(**values: Any) -> str:
    v = {**DEFAULTS, **values}
    return (
        "notifications:\n  channels:\n"
        "    hook: {type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET,\n"
        "           rate_limit: {count: 10000, per: 1}}\n"
        "  escalation: null\n"
        f"  digest: {{threshold: {v['threshold']}, window: {v['window']}, "
        f"settle: {v['settle']}}}\n"
        f"  retry: {{attempts: {v['attempts']}, base: {v['base']}, "
        f"max_delay: {v['max_delay']}, timeout: {v['timeout']}}}\n"
        f"  lease: {v['lease']}\n"
        "  link: null\n\n"
    )


def signed_by(request: Request, secret: str) -> bool:
    """The GitHub/Stripe check a receiver makes: HMAC-SHA256 of ``<timestamp>.<body>``."""
    stamp = request.header("X-Orchestrator-Timestamp") or ""
    signature = request.header("X-Orchestrator-Signature") or ""
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
    return stamp.isdigit() and hmac.compare_digest("sha256=" + expected.hexdigest(), signature)


def keys(requests: list[Request]) -> list[str]:
    return [r.header("Idempotency-Key") or "" for r in requests]


class Hook:
    """The initialized repository with a ``webhook`` channel named ``hook`` sending to the
    receiver (its URL in ``$HOOK_URL``, with a token in its path; ``$HOOK_SECRET`` signs),
    and everything its commands said, to look for the secrets in."""

    def __init__(self, repo: Path, cli: Run, server: Receiver, tmp_path: Path) -> None:
        self.repo, self.receiver, self._cli, self.tmp = repo, server, cli, tmp_path
        self.url = server.url(HOOK_PATH)
        self.env = clean_env(**{ENV_NO_BACKGROUND: "1", "HOOK_URL": self.url,
                                "HOOK_SECRET": SECRET})  # fmt: skip
        with Orchestrator(repo, env={}) as orch:
            self.state_dir = orch.location.state_dir
            self.db = orch.store_path
        self.said: list[str] = []
        self.started: list[tuple[subprocess.Popen[str], IO[str]]] = []
        self.configure()

    def configure(self, **values: Any) -> None:
        config = self.repo / "orchestrator.yaml"
        text, count = _SECTION.subn(section(**values), config.read_text())
        assert count == 1, "the notifications section of init's config was not found"
        config.write_text(text)

    # -- commands ------------------------------------------------------------------
    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The command in this process (the ``cli`` fixture)."""
        return self._said(self._cli(*args, env=env or self.env))

    def process(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """The installed console script as a process of its own."""
        return self._said(run_process(args, self.repo, env or self.env))

    def _said(self, result: Result) -> Result:
        self.said += [result.out, result.err]
        return result

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start the command as a process (output to a file, read by :meth:`output`)."""
        assert CLI
        out = open(self.tmp / f"out-{len(self.started)}.txt", "w+")  # noqa: SIM115
        proc = subprocess.Popen([CLI, *args], cwd=self.repo, env=env or self.env, text=True,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out)  # fmt: skip
        self.started.append((proc, out))
        return proc

    def output(self, proc: subprocess.Popen[str]) -> str:
        (out,) = [out for p, out in self.started if p is proc]
        out.seek(0)
        return out.read()

    def stop(self, proc: subprocess.Popen[str]) -> int:
        """SIGTERM, as ``notify stop`` sends; its exit status."""
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=30)

    def close(self) -> None:
        for proc, out in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()

    # -- the store -----------------------------------------------------------------
    def events(self, count: int, event_type: str = "pr_opened", role: str = "implementor-data"
               ) -> None:  # fmt: skip
        """Store ``count`` events through the library (as the hooks' commands do)."""
        with Orchestrator(self.repo, env=self.env) as orch:
            for index in range(count):
                orch.log_event(SPEC, role, event_type, f"{event_type} {index}")

    def rows(self, *states: str) -> list[Notification]:
        with Orchestrator(self.repo, env=self.env) as orch, orch.store.transaction() as tx:
            found = tx.notifications(states=states or STATES, limit=100_000)
        return sorted(found, key=lambda r: r.id)

    # -- secrets -------------------------------------------------------------------
    def assert_no_secrets(self) -> None:
        """Neither the URL's token nor the signing secret in anything shown or stored."""
        texts = [*self.said, *(self.output(p) for p, _ in self.started)]
        log = self.state_dir / "notify.log"
        texts.append(log.read_text() if log.exists() else "")
        for index, text in enumerate(texts):
            for secret in (TOKEN, SECRET, self.url):
                assert secret not in text, f"{secret!r} shown in output {index}: {text[-500:]!r}"
        for path in self.db.parent.glob(self.db.name + "*"):
            data = path.read_bytes()
            for secret in (TOKEN, SECRET):
                assert secret.encode() not in data, f"{secret!r} stored in {path.name}"


@pytest.fixture
def hook(initialized: Path, cli: Run, receiver: Receiver, tmp_path: Path) -> Iterator[Hook]:  # noqa: F811
    made = Hook(initialized, cli, receiver, tmp_path)
    try:
        yield made
    finally:
        made.close()
        wait_for(lambda: not delivering(made.state_dir, RUN), 30)  # a background sender


# --------------------------------------------------------------------------- retries
def test_5xx_then_success_is_retried_with_growing_waits_and_one_key(hook: Hook) -> None:
    """500, 500, 503, then 200: sent once; the waits between attempts are at least the
    backoff's least (base * 2**(n-1) / 2) and grow; each attempt carries the same
    Idempotency-Key and a signature that verifies."""
    hook.configure(base=0.2, max_delay=10)
    hook.receiver.script(500, 500, Reply(503, body="busy"), 200)
    hook.events(1, "agent_waiting")
    flushed = hook.run("notify", "flush")
    assert flushed.code == 0, flushed  # everything it retried was sent in the end
    requests = hook.receiver.wait(4)
    time.sleep(0.3)
    assert len(hook.receiver.requests) == 4
    assert {r.path for r in requests} == {HOOK_PATH}
    (row,) = hook.rows()
    assert (row.state, row.attempts, row.last_status) == ("sent", 4, 200)
    assert keys(requests) == [row.key] * 4
    assert all(signed_by(r, SECRET) for r in requests)
    assert not signed_by(requests[0], SECRET[::-1])
    body = requests[0].json()
    assert body["id"] == row.key and body["message"]["text"] == "agent_waiting 0"
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    least = [0.2 * 2**n / 2 for n in range(3)]  # 0.1, 0.2, 0.4
    assert all(gap >= low - 0.01 for gap, low in zip(gaps, least, strict=True)), gaps
    assert gaps[2] > gaps[0], gaps  # at least 0.4 against at most 0.2 (+ a pass)
    hook.assert_no_secrets()


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_a_429_is_waited_for_as_long_as_retry_after_says(hook: Hook, form: str) -> None:
    """429 with Retry-After (2 s, or an HTTP-date 3 s ahead): the next attempt comes no
    sooner; meanwhile ``notify channels`` shows the channel waiting until then."""
    until = time.time() + 3
    value = "2" if form == "seconds" else http_date(until)
    hook.receiver.script(Reply.retry_after(value), 200)
    hook.events(1, "task_blocked")
    first = hook.run("notify", "flush", "--wait", "0")
    assert first.code == 1 and "retry event" in first.out and "(HTTP 429)" in first.out, first
    (asked,) = hook.receiver.wait(1)
    asked_wall = time.time() - (time.monotonic() - asked.at)
    (state,) = hook.run("notify", "channels", "--json").json()
    assert state["queued"] == 1 and state["held_until"] is not None, state
    wanted = asked_wall + 2 if form == "seconds" else float(int(until))
    assert state["held_until"] >= wanted - 0.05
    assert state["note"].startswith("waiting (Retry-After) until "), state
    text = hook.run("notify", "channels").out
    assert "waiting (Retry-After) until" in text
    second = hook.run("notify", "flush")
    assert second.code == 0, second
    again = hook.receiver.wait(2)[1]
    assert keys([asked, again])[0] == keys([asked, again])[1]
    waited = again.at - asked.at
    if form == "seconds":
        assert waited >= 2.0, waited
    else:
        again_wall = time.time() - (time.monotonic() - again.at)
        assert again_wall >= int(until) - 0.01, (again_wall, until)
    assert hook.rows("sent")
    assert hook.run("notify", "channels", "--json").json()[0]["held_until"] is None
    hook.assert_no_secrets()


def test_a_hanging_receiver_times_out_and_is_retried(hook: Hook) -> None:
    """A receiver that holds the request past ``retry.timeout`` (it would for 60 s): the
    send ends at the timeout, the message is retried and sent."""
    hook.configure(timeout=1)
    hook.receiver.script(Reply.hang(60), 200)
    hook.events(1, "agent_waiting")
    started = time.monotonic()
    hook.run("notify", "flush")
    took = time.monotonic() - started
    first, second = hook.receiver.wait(2)
    assert second.at - first.at >= 1.0  # the timeout was waited out
    assert took < 15, took  # and it ended the send
    (row,) = hook.rows()
    assert (row.state, row.attempts) == ("sent", 2)
    assert keys([first, second]) == [row.key] * 2
    log = (hook.state_dir / "notify.log").read_text()
    assert "no complete answer within 1 s" in log
    hook.assert_no_secrets()


def test_an_answer_trickled_past_the_timeout_is_cut_there(hook: Hook) -> None:
    """A 200 whose body comes a byte every 50 ms (20 s for all of it): the exchange is cut
    at ``retry.timeout``; the receiver said it accepted the message, so it is sent."""
    hook.configure(timeout=1)
    hook.receiver.script(Reply(200, body=b"x" * 400, trickle=0.05))
    hook.events(1, "agent_waiting")
    started = time.monotonic()
    result = hook.run("notify", "flush")
    took = time.monotonic() - started
    assert result.code == 0, result
    assert 1.0 <= took < 15, took
    assert len(hook.receiver.requests) == 1
    assert [(r.state, r.attempts, r.last_status) for r in hook.rows()] == [("sent", 1, 200)]
    hook.assert_no_secrets()


# ------------------------------------------------------------------------ dead letters
def test_a_404_is_dead_at_once_and_retry_sends_it_again(hook: Hook) -> None:
    hook.receiver.script(Reply(404, body="no such hook"))
    hook.events(1, "task_blocked")
    result = hook.run("notify", "flush")
    assert result.code == 1 and "dead event" in result.out, result
    time.sleep(0.3)
    assert len(hook.receiver.requests) == 1  # not retried
    (failed,) = hook.run("notify", "failed", "--json").json()
    assert (failed["status"], failed["attempts"], failed["channel"]) == (404, 1, "hook")
    assert "HTTP 404" in failed["error"] and failed["title"] == "implementor-data is blocked"
    listed = hook.run("notify", "failed").out
    assert str(failed["id"]) in listed and "404" in listed
    ident = str(failed["id"])

    before = digest(hook.db)
    for args, says in [
        (["999"], "notification 999 does not exist"),
        ([], "or --all"),
        ([ident, "--all"], "not both"),
        ([ident, "999"], "notification 999 does not exist"),  # checked before any is queued
    ]:
        refused = hook.run("notify", "retry", *args)
        assert refused.code == 2 and refused.out == "", (args, refused)
        (line,) = refused.err.splitlines()
        assert line.startswith("error: ") and says in line, (args, line)
        assert digest(hook.db) == before, args
    assert [r.state for r in hook.rows()] == ["dead"]

    queued = hook.run("notify", "retry", ident)
    assert queued.code == 0 and queued.out.strip() == f"queued {ident} for hook", queued
    assert hook.run("notify", "failed", "--json").json() == []
    sent = hook.run("notify", "flush")
    assert sent.code == 0, sent
    requests = hook.receiver.wait(2)
    assert keys(requests) == [failed["key"]] * 2
    assert [(r.state, r.attempts) for r in hook.rows()] == [("sent", 1)]
    hook.assert_no_secrets()


def test_retry_with_nothing_named_says_so_in_a_sentence(hook: Hook) -> None:
    refused = hook.run("notify", "retry")
    assert refused.code == 2
    assert not refused.err.strip().endswith(","), refused.err


# ----------------------------------------------------------------------- processes
def test_a_sender_killed_mid_batch_loses_nothing_and_resends_only_its_one(hook: Hook) -> None:
    """``notify run`` sending 20 messages is killed (SIGKILL) while the receiver holds the
    5th; another ``notify run`` sends the rest: every message arrives, only the one in
    flight arrives twice, with the same Idempotency-Key."""
    hook.configure(timeout=120)  # the hang outlasts the kill
    hook.receiver.script(200, 200, 200, 200, Reply.hang(120))
    hook.events(20)
    first = hook.start("notify", "run", "--interval", "0.1")
    hung = hook.receiver.wait(5, timeout=30)[4]
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    rows = hook.rows()
    assert len(rows) == 20
    assert [r.state for r in rows].count("sent") == 4
    (held,) = [r for r in rows if r.lease_owner is not None]
    assert (held.key, held.state) == (hung.header("Idempotency-Key"), "queued")

    second = hook.start("notify", "run", "--interval", "0.1")
    assert wait_for(lambda: [r.state for r in hook.rows()] == ["sent"] * 20, 30), hook.rows()
    assert hook.stop(second) == 0
    got = Counter(keys(hook.receiver.requests))
    assert set(got) == {r.key for r in rows}  # nothing lost
    assert {k: n for k, n in got.items() if n > 1} == {held.key: 2}  # one duplicate, its key
    assert "sent event" in hook.output(second)
    hook.assert_no_secrets()


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("held_by", ["rate-limit", "retry-after"])
def test_a_notify_run_that_must_wait_sleeps(hook: Hook, held_by: str) -> None:
    """Messages due on a channel that must wait (its rate limit spent, or a 429's
    Retry-After): ``notify run`` sleeps meanwhile (a spinning one uses a core)."""
    if held_by == "rate-limit":
        hook.configure()
        config = hook.repo / "orchestrator.yaml"
        config.write_text(config.read_text().replace("count: 10000, per: 1", "count: 1, per: 60"))
    else:
        hook.receiver.script(Reply.retry_after("60"))
    hook.events(3)
    sender = hook.start("notify", "run", "--interval", "1")
    hook.receiver.wait(1, timeout=30)
    time.sleep(0.5)
    before = cpu_seconds(sender.pid)
    time.sleep(4)
    used = cpu_seconds(sender.pid) - before
    assert len(hook.receiver.requests) == 1
    assert hook.stop(sender) == 0
    assert used < 0.4, f"{used:.2f} s of CPU in 4 s of waiting (an idle one: ~0.02 s)"


def test_a_second_notify_run_is_refused_and_notify_stop_stops_the_first(hook: Hook) -> None:
    first = hook.start("notify", "run", "--interval", "0.1")
    assert wait_for(lambda: delivering(hook.state_dir, RUN)), hook.output(first)
    time.sleep(0.2)  # its pid file follows the lock
    second = hook.process("notify", "run")
    assert second.code == 1, second
    assert second.out.strip() == (
        f"notify run: another one is sending (pid {first.pid}); nothing to do"
    )
    stopped = hook.run("notify", "stop")
    assert stopped.out.strip() == f"stopped notify run (pid {first.pid})", stopped
    assert first.wait(timeout=10) == 0
    assert hook.run("notify", "stop").out.strip() == "no notify run is running"
    hook.assert_no_secrets()


@pytest.mark.parametrize("pair", [("flush", "flush"), ("run", "flush")])
def test_two_senders_at_once_send_each_message_once(hook: Hook, pair: tuple[str, str]) -> None:
    """Two senders over 50 queued messages (the receiver answers each after 20 ms, so
    they overlap): every key arrives exactly once, and each send is reported by one."""
    hook.receiver.default = Reply(delay=0.02)
    hook.events(50)
    procs = [hook.start("notify", kind, *(["--interval", "0.1"] if kind == "run" else []))
             for kind in pair]  # fmt: skip
    assert wait_for(lambda: [r.state for r in hook.rows()] == ["sent"] * 50, 60), hook.rows()
    for kind, proc in zip(pair, procs, strict=True):
        code = hook.stop(proc) if kind == "run" else proc.wait(timeout=60)
        assert code == 0, hook.output(proc)
    got = Counter(keys(hook.receiver.requests))
    assert sorted(got.values()) == [1] * 50 and set(got) == {r.key for r in hook.rows()}
    reported = [hook.output(p).count("sent event") for p in procs]
    assert sum(reported) == 50, reported
    hook.assert_no_secrets()


def test_the_background_delivery_sends_without_any_further_command(hook: Hook) -> None:
    """No ``notify run`` and the background delivery on: ``events log-event`` stores the
    agent's question and returns before it is delivered (the receiver holds the first
    attempt until the timeout); a detached process sends it."""
    env = {k: v for k, v in hook.env.items() if k != ENV_NO_BACKGROUND}
    hook.configure(timeout=3)
    hook.receiver.script(Reply.hang(60), 200)
    question = "Which schema version should the migration target?"
    logged = hook.process("events", "log-event", SPEC, "implementor-data", "agent_waiting",
                          question, env=env)  # fmt: skip
    assert (logged.code, logged.out, logged.err) == (0, "", ""), logged
    assert hook.rows("sent") == []  # the hook did not wait for the delivery
    first, second = hook.receiver.wait(2, timeout=30)
    assert second.json()["message"]["text"] == question
    assert signed_by(second, SECRET) and keys([first]) == keys([second])
    assert wait_for(lambda: hook.rows("sent"), 10)
    assert wait_for(lambda: not delivering(hook.state_dir, RUN), 30)  # and it ended
    hook.assert_no_secrets()


# ------------------------------------------------------------------------- commands
def test_notify_test_reports_the_http_result(hook: Hook) -> None:
    hook.receiver.script(200, Reply(500, body="receiver broke"))
    ok = hook.run("notify", "test", "hook")
    assert ok.code == 0 and "HTTP 200" in ok.out, ok
    assert ok.out.startswith("sent a test message to hook (webhook from $HOOK_URL")
    failed = hook.run("notify", "test", "hook", "--json")
    assert failed.code == 1, failed
    data = failed.json()
    assert (data["ok"], data["status"]) == (False, 500)
    assert "HTTP 500" in data["detail"] and "receiver broke" in data["detail"]
    said = hook.run("notify", "test", "hook")  # the default answer: 200 again
    assert said.code == 0
    first, second, _ = hook.receiver.wait(3)
    assert first.json()["type"] == "test" and signed_by(second, SECRET)
    unset = {k: v for k, v in hook.env.items() if k != "HOOK_URL"}
    for args, env, says in [
        (["nosuch"], hook.env, "no notification channel 'nosuch' (configured: hook)"),
        (["hook"], unset, "$HOOK_URL is not set: export HOOK_URL="),
    ]:
        refused = hook.run("notify", "test", *args, env=env)
        assert refused.code == 2 and refused.out == "", refused
        (line,) = refused.err.splitlines()
        assert line.startswith("error: ") and says in line, line
    assert len(hook.receiver.requests) == 3
    assert hook.rows() == []  # a test message is not queued
    hook.assert_no_secrets()


def test_flush_with_a_channel_that_cannot_be_built_keeps_its_messages(hook: Hook) -> None:
    unset = {k: v for k, v in hook.env.items() if k != "HOOK_URL"}
    hook.events(2, "task_blocked", role="implementor-api")
    started = time.monotonic()
    result = hook.run("notify", "flush", "--wait", "30", env=unset)
    took = time.monotonic() - started
    assert result.code == 1, result
    assert "cannot send to hook: " in result.out and "$HOOK_URL is not set" in result.out
    assert took < 15, took  # it did not wait for messages it cannot send
    assert [r.state for r in hook.rows()] == ["queued"] * 2
    (state,) = hook.run("notify", "channels", "--json", env=unset).json()
    assert state["queued"] == 2 and state["note"].startswith("cannot send: "), state
    assert "cannot send" in (hook.state_dir / "notify.log").read_text()
    assert hook.receiver.requests == []
    assert hook.run("notify", "flush").code == 0  # the variable set again: they go
    assert [r.state for r in hook.rows()] == ["sent"] * 2
    hook.assert_no_secrets()


def test_a_flood_of_50_events_goes_as_one_digest(hook: Hook) -> None:
    hook.configure(threshold=5, window=2, settle=0)
    for index in range(50):
        logged = hook.run("events", "log-event", SPEC, "implementor-ui", "task_blocked",
                          f"blocked on {index}", f"T{index:03d}")  # fmt: skip
        assert logged.code == 0, logged
    result = hook.run("notify", "flush")
    assert result.code == 0, result
    (request,) = hook.receiver.wait(1)
    time.sleep(0.3)
    assert len(hook.receiver.requests) == 1
    body = request.json()
    assert (body["type"], body["message"]["title"]) == ("digest", "50 notifications")
    assert body["message"]["text"] == "50 task_blocked"
    items = body["message"]["items"]
    assert len(items) == 50 and {i["title"] for i in items} == {"implementor-ui is blocked"}
    assert len({i["event_id"] for i in items}) == 50
    states = Counter(r.state for r in hook.rows())
    assert states == {"digested": 50, "sent": 1}
    assert signed_by(request, SECRET)
    hook.assert_no_secrets()


# -------------------------------------------------------------------------- secrets
def test_secrets_never_appear_in_output_logs_or_the_store(hook: Hook) -> None:
    """A receiver that echoes the URL and the secret in its error answers, a refused
    connection, a variable holding no URL: every command's output, notify.log and the
    store's files hold neither the URL's token nor the secret."""
    echo = f"cannot POST {hook.url} ({HOOK_PATH}) signed with {SECRET}"
    hook.receiver.script(Reply(500, body=echo), Reply(404, body=echo), Reply(500, body=echo))
    hook.configure(attempts=2)
    hook.events(1, "agent_waiting")
    hook.run("notify", "flush")
    hook.run("notify", "test", "hook")
    for args in (["failed"], ["failed", "--json"], ["channels"], ["channels", "--json"],
                 ["status"], ["status", "--json"]):  # fmt: skip
        assert hook.run("notify", *args).code == 0
    (dead,) = hook.rows("dead")
    assert dead.last_status == 404 and "cannot POST" in (dead.last_error or "")
    hook.run("notify", "retry", "--all")
    with Receiver() as closed:
        gone = closed.url(HOOK_PATH)
    refused = {**hook.env, "HOOK_URL": gone}
    flushed = hook.run("notify", "flush", "--wait", "0", env=refused)
    assert "connection failed" in flushed.out, flushed
    hook.run("notify", "channels", env=refused)
    hook.run("notify", "test", "hook", env={**hook.env, "HOOK_URL": f"ftp://x{HOOK_PATH}"})
    hook.run("notify", "flush", env={**hook.env, "HOOK_URL": f"ftp://x{HOOK_PATH}"})
    hook.run("notify", "test", "hook", env={**hook.env, "HOOK_SECRET": SECRET + " "})
    assert all(r.path == HOOK_PATH for r in hook.receiver.requests)  # the token was used
    assert len(hook.receiver.requests) == 3
    hook.assert_no_secrets()


# ----------------------------------------------------------------- a scripted property
RETRYABLE = (500, 502, 503, 408, 429)
PERMANENT = (400, 404, 410, 422)
OK = (200, 201, 204)


def expected(statuses: list[int], attempts: int) -> tuple[str, int]:
    """The final state and the number of requests, in the model: the receiver answers
    with ``statuses``, then 200."""
    for number, status in enumerate([*statuses, 200], start=1):
        if status in OK:
            return "sent", number
        if status in PERMANENT or number == attempts:
            return "dead", number
    raise AssertionError("unreachable: 200 ends every script")


scripts = st.integers(1, 4).flatmap(
    lambda attempts: st.tuples(
        st.just(attempts), st.lists(st.sampled_from(OK + PERMANENT + RETRYABLE), max_size=5)
    )
)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=scripts)
def test_any_answers_end_sent_or_dead_as_the_model_says(
    hook: Hook, script: tuple[int, list[int]]
) -> None:
    """Any answers (2xx, 4xx, 408, 429, 5xx), then 200: one flush ends the message sent or
    dead after the model's number of requests, all with one key and a valid signature."""
    attempts, statuses = script
    state, count = expected(statuses, attempts)
    answers = [*statuses, 200][:count]
    hook.configure(attempts=attempts, base=0.01, max_delay=0.05)
    before = len(hook.receiver.requests)
    hook.receiver.script(*[Reply.retry_after("0") if s == 429 else s for s in answers])
    with Orchestrator(hook.repo, env=hook.env) as orch:
        orch.log_event(SPEC, "implementor-data", "pr_opened", f"PR {before}")
    result = hook.run("notify", "flush")
    row = hook.rows()[-1]
    assert (row.state, row.attempts, row.last_status) == (state, count, answers[-1]), result
    assert result.code == (1 if state == "dead" else 0), result
    mine = hook.receiver.requests[before:]
    assert keys(mine) == [row.key] * count
    assert all(signed_by(r, SECRET) for r in mine)


# ------------------------------------------------------------------------------- up
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_up_starts_one_notify_run_and_notify_stop_stops_it(
    repo: Path,
    cli: Run,
    receiver: Receiver,  # noqa: F811
    tmp_path: Path,
    team: Path,  # noqa: F811
) -> None:
    """With a channel configured, ``up`` starts ``notify run`` (``sender_pid``); a second
    ``up`` starts none; ``notify stop`` stops it."""
    made = Hook(repo, cli, receiver, tmp_path)
    env = {**made.env, "AGENT_LOG": str(team)}
    command = agent_cmd(tmp_path)
    pid = None
    try:
        first = made.process("up", SPEC, "--agent-cmd", command, "--json", env=env)
        assert first.code == 0, first
        pid = first.json()["sender_pid"]
        assert isinstance(pid, int) and wait_for(lambda: delivering(made.state_dir, RUN))
        agents = [a["pid"] for a in first.json()["agents"]]
        for agent in agents:  # the agents never get the channels' URL and secret
            assert wait_for(lambda a=agent: Path(f"/proc/{a}/environ").exists())
            names = {v.split(b"=", 1)[0] for v in
                     Path(f"/proc/{agent}/environ").read_bytes().split(b"\0")}  # fmt: skip
            assert b"AGENT_LOG" in names and not names & {b"HOOK_URL", b"HOOK_SECRET"}
        again = made.process("up", SPEC, "--agent-cmd", command, "--json", env=env)
        assert again.code == 0 and again.json()["sender_pid"] is None, again
        made.events(1, "agent_waiting")  # the running one sends it, with up's environment
        (request,) = receiver.wait(1)
        assert signed_by(request, SECRET)
        stopped = made.run("notify", "stop", env=env)
        assert stopped.out.strip() == f"stopped notify run (pid {pid})", stopped
        assert wait_for(lambda: gone(pid), 10)
        pid = None
        made.assert_no_secrets()
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_starting_notify_run_from_the_library_leaves_no_resource_warning(hook: Hook) -> None:
    from claude_orchestrator.notify_run import start_background, stop_background

    with Orchestrator(hook.repo, env=hook.env) as orch:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pid = start_background(orch)
                gc.collect()
            assert pid is not None
        finally:
            assert wait_for(lambda: delivering(hook.state_dir, RUN), 20)
            time.sleep(0.2)  # its pid file follows the lock
            stop_background(orch)
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


def test_the_dashboard_starts_one_notify_run(hook: Hook) -> None:
    """``dashboard`` starts the sender when channels are configured and none runs (as
    ``up`` does); the sender delivers what is committed meanwhile."""
    board = hook.start("dashboard", "--port", "0")
    pid = None
    try:
        assert wait_for(lambda: "notify run started" in hook.output(board), 30), hook.output(board)
        said = hook.output(board)
        pid = int(re.search(r"notify run started \(pid (\d+);", said)[1])  # type: ignore[index]
        assert wait_for(lambda: delivering(hook.state_dir, RUN), 20)
        hook.events(1, "agent_waiting")
        (request,) = hook.receiver.wait(1)
        assert signed_by(request, SECRET)
        assert hook.run("notify", "stop").out.strip() == f"stopped notify run (pid {pid})"
        assert wait_for(lambda: gone(pid), 10)
        pid = None
    finally:
        board.send_signal(signal.SIGINT)
        board.wait(timeout=30)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    hook.assert_no_secrets()
