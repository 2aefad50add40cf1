"""The notification pipeline on a real store: which events are news for which channel
(filters, once per state change), digests, quiet hours, rate limits, retries, leases,
dead letters and escalation. A channel type registered by a test plugin (the extension
point third parties use) records what it is asked to send and answers from a script;
the clock is the test's, so waits are exact and instant."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator, hookimpl, outbox
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.models import Notification
from claude_orchestrator.notify_config import settings
from claude_orchestrator.notify_message import DeliveryFailed, Message, Sent
from claude_orchestrator.notify_route import NAME, prune
from claude_orchestrator.notify_send import Sender, backoff, quiet_end, redact

SPEC = "003-reading-goals"
ENV = {outbox.ENV_NO_BACKGROUND: "1", "PROBE_SECRET": "hunter2-very-secret"}


class Probe:
    """A channel that records each send and answers from ``script`` (then: sent)."""

    rate_limit = (1000, 1.0)

    def __init__(self, name: str, log: list[tuple[str, Message, str]], script: list[Any]) -> None:
        self.name, self.log, self.script = name, log, script
        self.secrets = ("hunter2-very-secret",)

    def describe(self) -> str:
        return f"probe {self.name}"

    def send(self, message: Message, *, key: str, timeout: float) -> Sent:
        self.log.append((self.name, message, key))
        answer = self.script.pop(0) if self.script else Sent(200)
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, Sent)
        return answer


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Rig:
    """A repository with channels of the probe type, its store, a clock and a sender."""

    def __init__(
        self,
        repo: Path,
        registry: PluginRegistry,
        channels: str,
        extra: str = "",
        env: dict[str, str] | None = None,
        head: str = "",
    ) -> None:
        self.sent: list[tuple[str, Message, str]] = []
        self.scripts: dict[str, list[Any]] = {}
        rig = self

        class Plugin:
            @hookimpl
            def register_channels(self, register: Any) -> None:
                def build(context: Any) -> Probe:
                    room = str(context.options.get("room", "r"))
                    return Probe(room, rig.sent, rig.scripts.setdefault(room, []))

                register("probe", build)

        registry.register(Plugin(), "probe-plugin")
        (repo / "orchestrator.yaml").write_text(
            f"version: 1\n{head}notifications:\n  channels:\n"
            + textwrap.indent(textwrap.dedent(channels), "    ")
            + extra
        )
        self.orch = Orchestrator(repo, registry=registry, env={**ENV, **(env or {})})
        self.orch.init_store()
        self.orch.add_feature(SPEC, "Reading goals")
        self.clock = Clock()
        self.logged: list[tuple[str, str]] = []
        self.sender = self.new_sender()

    def new_sender(self) -> Sender:
        return Sender(self.orch.store, settings(self.orch.config), self.orch.channel,
                      clock=self.clock, rand=lambda: 0.5,
                      log=lambda c, t: self.logged.append((c, t)))  # fmt: skip

    def event(self, event_type: str, message: str = "m", role: str = "implementor-data",
              **metadata: Any) -> None:  # fmt: skip
        self.orch.log_event(SPEC, role, event_type, message, metadata=metadata or None)

    def route(self) -> None:
        """The outbox hands the router the new events (routing at the rig's clock)."""
        notifiers = dict(self.orch.notifiers())
        router = notifiers[NAME]
        router._get()._clock = self.clock  # type: ignore[attr-defined]
        outbox.deliver(self.orch.store, NAME, router)

    def queued(self, *states: str) -> list[Notification]:
        with self.orch.store.transaction() as tx:
            return tx.notifications(states=states or ("queued",), limit=10_000)

    def after(self, seconds: float) -> list[str]:
        """Move the clock on, route, send: the titles sent now."""
        self.route()
        self.clock.now += seconds
        before = len(self.sent)
        self.sender.send_due()
        return [m.title for _, m, _ in self.sent[before:]]


MakeRig = Callable[..., Rig]


@pytest.fixture
def make_rig(repo: Path, registry: PluginRegistry) -> Iterator[MakeRig]:
    made: list[Rig] = []

    def make(channels: str = "team: {type: probe, room: team}\n", extra: str = "") -> Rig:
        made.append(Rig(repo, registry, channels, extra))
        made[-1].route()  # the router's cursor starts after the setup's events
        return made[-1]

    yield make
    for rig in made:
        rig.orch.close()


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig()


def test_the_default_set_selects_what_needs_the_person(rig: Rig) -> None:
    rig.event("task_started", "T001")
    rig.event("status_update", "halfway")
    rig.event("guard_decision", "allowed Bash: ls", decision="allow", tool="Bash")
    rig.event("agent_waiting", "May I run `rm -rf build`?")
    rig.event("task_blocked", "blocked (dependency): needs the API")
    rig.event("pr_opened", "PR #3")
    titles = rig.after(3)
    assert titles == ["implementor-data is waiting for you", "implementor-data is blocked",
                      "pull request opened"]  # fmt: skip
    waiting = rig.sent[0][1]
    assert waiting.text == "May I run `rm -rf build`?"
    assert waiting.action == f"claude-orchestrator attach {SPEC} implementor-data"
    assert ("feature", SPEC) in waiting.fields
    store_id, channel, which = rig.sent[0][2].split(":")
    event_id = waiting.event["id"]  # type: ignore[index]
    assert (len(store_id), channel, which) == (12, "team", f"e{event_id}")


def test_each_channel_gets_its_types_features_and_severities(make_rig: MakeRig) -> None:
    rig = make_rig(
        "loud: {type: probe, room: loud, events: ['*']}\n"
        "serious: {type: probe, room: serious, min_severity: error}\n"
        "other: {type: probe, room: other, features: ['9*']}\n"
        "waits: {type: probe, room: waits, events: [agent_waiting]}\n",
        "  digest: {threshold: 50}\n",
    )
    rig.event("conflict_detected", "c", role="overseer", severity="critical", files=["a.py"],
              conflict_id=1)  # fmt: skip
    rig.event("conflict_detected", "c", severity="warning", files=["b.py"], conflict_id=2)
    rig.event("test_result", "unit tests failed", role="overseer", status="failed",
              test_type="unit")  # fmt: skip
    rig.event("agent_waiting", "question")
    rig.event("my_plugin_event", "custom")
    rig.after(3)
    got: dict[str, list[str]] = {}
    for room, message, _ in rig.sent:
        got.setdefault(room, []).append(f"{message.event_type}:{message.severity}")
    assert got["loud"] == [
        "conflict_detected:critical",
        "conflict_detected:warning",
        "test_result:error",
        "agent_waiting:warning",
        "my_plugin_event:info",
    ]
    assert got["serious"] == ["conflict_detected:critical", "test_result:error"]
    assert got["waits"] == ["agent_waiting:warning"]
    assert "other" not in got


def test_once_per_state_change_never_per_poll(rig: Rig) -> None:
    conflict = {"severity": "warning", "files": ["src/a.py"], "conflict_id": 1,
                "branch": "feature/x/impl-data", "other_branch": "feature/x/impl-api"}  # fmt: skip
    rig.event("conflict_detected", "c1", **conflict)
    assert rig.after(3) == ["warning conflict in 003-reading-goals"]
    rig.event("conflict_detected", "c1 again", **{**conflict, "conflict_id": 2})  # the next scan
    assert rig.after(3) == []
    rig.event("conflict_detected", "more files", **{**conflict, "files": ["src/a.py", "b.py"]})
    assert rig.after(3) == ["warning conflict in 003-reading-goals"]
    rig.event("conflict_resolved", "gone", conflict_id=3, branch=conflict["branch"],
              other_branch=conflict["other_branch"])  # fmt: skip
    rig.event("conflict_detected", "back", **conflict)
    assert rig.after(3) == ["warning conflict in 003-reading-goals"]

    rig.event("agent_waiting", "Q1")
    rig.event("agent_waiting", "Q1")
    assert rig.after(3) == ["implementor-data is waiting for you"]
    rig.event("agent_working", "on it")
    rig.event("agent_waiting", "Q1")
    assert rig.after(3) == ["implementor-data is waiting for you"]

    failed = {"status": "failed", "test_type": "unit"}
    rig.event("test_result", "unit tests passed", status="passed", test_type="unit")
    rig.event("test_result", "unit tests failed", **failed)
    rig.event("test_result", "unit tests failed", **failed)
    rig.event("test_result", "unit tests passed", status="passed", test_type="unit")
    rig.event("test_result", "unit tests passed", status="passed", test_type="unit")
    assert rig.after(3) == ["implementor-data's unit tests failed",
                            "implementor-data's unit tests pass again"]  # fmt: skip

    denied = {"decision": "deny", "tool": "Bash", "input": "git push -f", "reason": "no"}
    rig.event("guard_decision", "denied", **denied)
    rig.event("guard_decision", "denied", **denied)
    rig.event("guard_decision", "denied", **{**denied, "input": "git push --force"})
    assert rig.after(3) == ["the guard refused a call of implementor-data"] * 2


def test_a_scan_conflict_resolved_by_hand_and_found_again_is_news_again(rig: Rig) -> None:
    """``events resolve-conflict`` on a conflict a scan found ends the pair's state, as
    the scan's own resolution does: the next scan that finds it again notifies."""
    from claude_orchestrator.models import FoundConflict

    data, api = (f"feature/{SPEC}/impl-{a}" for a in ("data", "api"))
    found = FoundConflict("implementor-data", data, None, api, ["src/a.py"], "warning")
    opened, _, events = rig.orch.store.record_scan(SPEC, [(data, api)], [found])
    rig.orch.notify(*events)
    assert rig.after(3) == [f"warning conflict in {SPEC}"]
    rig.orch.resolve_conflict(opened[0].id, "merged by hand")
    _, _, events = rig.orch.store.record_scan(SPEC, [(data, api)], [found])
    rig.orch.notify(*events)
    assert rig.after(3) == [f"warning conflict in {SPEC}"]


def test_routing_twice_queues_nothing_twice(rig: Rig) -> None:
    """A process killed after routing but before its cursor moved routes the batch again."""
    rig.event("agent_waiting", "Q")
    rig.event("pr_merged", "PR")
    cursor = rig.orch.store.delivery_cursor(NAME)
    rig.route()
    assert cursor is not None
    with rig.orch.store.transaction() as tx:
        tx.put_delivery_cursor(NAME, cursor)  # as if the move never happened
    rig.route()
    assert len(rig.queued()) == 2


def test_a_flood_becomes_one_digest(make_rig: MakeRig) -> None:
    rig = make_rig(
        "team: {type: probe, room: team}\n", "  digest: {threshold: 5, window: 10, settle: 2}\n"
    )
    for i in range(50):  # 50 events in 10 s, one every 0.2 s, the sender looking each time
        rig.event("pr_opened", f"PR {i}")
        rig.after(0.2)
    rig.after(5)
    assert len(rig.sent) == 1
    digest = rig.sent[0][1]
    assert (digest.kind, digest.title) == ("digest", "50 notifications")
    assert digest.text == "50 pr_opened" and len(digest.items) == 50
    assert len(rig.queued("digested")) == 50 and not rig.queued()
    rig.event("pr_opened", "a quiet one later")  # the flood is over: one message again
    assert rig.after(3) == ["pull request opened"]


def test_a_few_messages_go_one_by_one(rig: Rig) -> None:
    for i in range(3):
        rig.event("pr_opened", f"PR {i}")
    assert rig.after(3) == ["pull request opened"] * 3


def test_quiet_hours_hold_all_but_critical_until_they_end(make_rig: MakeRig) -> None:
    rig = make_rig(
        "team: {type: probe, room: team, quiet_hours: "
        "{start: '22:00', end: '07:00', timezone: UTC}}\n",
        "",
    )
    rig.clock.now = 1_800_000_000 - 1_800_000_000 % 86400 + 23 * 3600  # 23:00 UTC
    rig.event("agent_waiting", "Q")
    rig.event("conflict_detected", "c", severity="critical", files=["a"], conflict_id=1)
    assert rig.after(3) == ["critical conflict in 003-reading-goals"]
    assert rig.after(3600) == []
    held = rig.queued()
    assert [n.due_at % 86400 for n in held] == [7 * 3600]
    assert rig.after(8 * 3600) == ["implementor-data is waiting for you"]


def test_quiet_hours_arithmetic() -> None:
    from claude_orchestrator.notify_config import QuietHours

    night = QuietHours(22 * 60, 7 * 60, "UTC", "critical")
    day = 1_800_000_000 - 1_800_000_000 % 86400
    assert quiet_end(night, day + 21 * 3600) is None
    assert quiet_end(night, day + 23 * 3600) == day + 86400 + 7 * 3600
    assert quiet_end(night, day + 3 * 3600) == day + 7 * 3600
    lunch = QuietHours(12 * 60, 13 * 60, "UTC", "error")
    assert quiet_end(lunch, day + 12 * 3600 + 60) == day + 13 * 3600
    assert quiet_end(lunch, day + 13 * 3600) is None


def test_the_rate_limit_holds_the_rest(make_rig: MakeRig) -> None:
    rig = make_rig(
        "team: {type: probe, room: team, rate_limit: {count: 2, per: 10}}\n",
        "  digest: {threshold: 50, window: 1, settle: 0}\n",
    )
    for i in range(3):
        rig.event("pr_opened", f"PR {i}")
    assert len(rig.after(1)) == 2
    assert rig.after(5) == []
    assert rig.after(5) == ["pull request opened"]


def test_retries_back_off_and_a_429_is_waited(rig: Rig) -> None:
    rig.scripts["team"] = [
        DeliveryFailed("HTTP 500", retryable=True, status=500),
        DeliveryFailed("HTTP 503", retryable=True, status=503),
        DeliveryFailed("HTTP 429", retryable=True, status=429, retry_after=30),
    ]
    rig.event("agent_waiting", "Q")
    rig.after(3)
    waits = []
    for _ in range(3):
        (row,) = rig.queued()
        waits.append(row.due_at - rig.clock.now)
        rig.after(row.due_at - rig.clock.now)
    assert waits[0] < waits[1] < waits[2] == 30
    assert len(rig.sent) == 4  # three failures, then sent
    (sent,) = rig.queued("sent")
    assert (sent.attempts, sent.last_status) == (4, 200)
    assert len({key for _, _, key in rig.sent}) == 1  # the same idempotency key each time


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    low = [backoff(n, 1.0, 300.0, lambda: 0.0) for n in range(1, 12)]
    high = [backoff(n, 1.0, 300.0, lambda: 1.0) for n in range(1, 12)]
    assert low[:4] == [0.5, 1.0, 2.0, 4.0] and high[:4] == [1.0, 2.0, 4.0, 8.0]
    assert all(a <= b for a, b in zip(high[:8], low[1:9], strict=True))  # growing, uncapped
    assert max(high) == 300.0


def test_a_permanent_failure_is_dead_at_once_and_can_be_retried(rig: Rig) -> None:
    rig.scripts["team"] = [DeliveryFailed("HTTP 404: hunter2-very-secret at http://x/y",
                                          retryable=False, status=404)]  # fmt: skip
    rig.event("agent_waiting", "Q")
    rig.after(3)
    (dead,) = rig.queued("dead")
    assert dead.attempts == 1 and dead.last_status == 404
    assert dead.last_error == "HTTP 404: [redacted] at [url]"
    assert all("hunter2" not in text for _, text in rig.logged)
    from claude_orchestrator.notify_send import retry

    retry(rig.orch.store, dead.id, now=rig.clock.now)
    assert rig.after(0) == ["implementor-data is waiting for you"]


def test_after_the_attempts_it_is_dead(make_rig: MakeRig) -> None:
    rig = make_rig(
        "team: {type: probe, room: team}\n",
        "  retry: {attempts: 3, base: 1, max_delay: 10, timeout: 1}\n",
    )
    rig.scripts["team"] = [DeliveryFailed("timed out", retryable=True)] * 5
    rig.event("agent_waiting", "Q")
    for _ in range(5):
        rig.after(20)
    assert len(rig.sent) == 3
    (dead,) = rig.queued("dead")
    assert dead.attempts == 3 and dead.last_error == "timed out"


def test_two_senders_never_send_one_message_twice(rig: Rig) -> None:
    rig.event("agent_waiting", "Q")
    rig.route()
    rig.clock.now += 3
    (row,) = rig.queued()
    other = rig.new_sender()
    other.owner = "another-host-1-1"  # a sender whose liveness cannot be told
    leased = other.lease(row.id)
    assert leased is not None
    assert rig.sender.lease(row.id) is None  # held
    rig.sender.send_due()
    assert rig.sent == []
    rig.clock.now += settings(rig.orch.config).lease + 1  # the other died without a word
    assert rig.after(0) == ["implementor-data is waiting for you"]


def test_a_lease_of_a_dead_local_sender_is_taken_at_once(rig: Rig) -> None:
    import subprocess
    import sys

    from claude_orchestrator.fsutil import process_tag

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    tag = process_tag(child.pid)
    child.kill()
    child.wait()
    assert tag is not None
    rig.event("agent_waiting", "Q")
    rig.route()
    rig.clock.now += 3
    (row,) = rig.queued()
    with rig.orch.store.transaction() as tx:
        tx.update_notification(row._replace(lease_owner=tag, lease_until=rig.clock.now + 60))
    assert rig.after(0) == ["implementor-data is waiting for you"]


def test_an_unanswered_wait_escalates_at_most_times(make_rig: MakeRig) -> None:
    rig = make_rig(
        "team: {type: probe, room: team}\npager: {type: probe, room: pager, events: []}\n",
        "  escalation: {after: 600, to: [pager], times: 2}\n",
    )
    rig.event("agent_waiting", "Deploy?")
    assert rig.after(3) == ["implementor-data is waiting for you"]
    assert rig.after(600) == ["still waiting after 10 min: implementor-data is waiting for you"]
    assert rig.after(600) == ["still waiting after 20 min: implementor-data is waiting for you"]
    assert rig.after(6000) == []
    assert [room for room, _, _ in rig.sent] == ["team", "pager", "pager"]


def test_an_answered_wait_does_not_escalate(make_rig: MakeRig) -> None:
    rig = make_rig(
        "team: {type: probe, room: team}\npager: {type: probe, room: pager, events: []}\n",
        "  escalation: {after: 600, to: [pager], times: 3}\n",
    )
    rig.event("agent_waiting", "Deploy?")
    rig.after(3)
    assert rig.after(600) == ["still waiting after 10 min: implementor-data is waiting for you"]
    rig.event("agent_working", "answered")
    assert rig.after(3000) == []
    assert len(rig.queued("cancelled")) == 2


def test_a_channel_that_cannot_be_built_keeps_its_messages(rig: Rig, repo: Path) -> None:
    (repo / "orchestrator.yaml").write_text(
        "version: 1\nnotifications:\n  channels:\n    team: {type: nosuch}\n"
    )
    rig.event("agent_waiting", "Q")
    rig.route()
    rig.clock.now += 3
    sender = Sender(rig.orch.store, settings(rig.orch.config), Orchestrator(repo, env=ENV).channel,
                    clock=rig.clock, log=lambda c, t: rig.logged.append((c, t)))  # fmt: skip
    assert sender.send_due() == []
    assert len(rig.queued()) == 1
    assert any("unknown channel 'nosuch'" in text for _, text in rig.logged)


def test_old_sent_notifications_are_pruned(rig: Rig) -> None:
    rig.event("pr_merged", "PR")
    rig.after(3)
    assert prune(rig.orch.store, now=rig.clock.now + 86400) == 0
    assert prune(rig.orch.store, now=rig.clock.now + 8 * 86400) == 1


def test_redact() -> None:
    assert redact("a https://hooks.slack.com/services/T/B/X b", ()) == "a [url] b"
    assert redact("token s3cr3t-value\nnext", ("s3cr3t-value",)) == "token [redacted] next"


@pytest.mark.parametrize("proxied", [False, True], ids=["direct", "proxy"])
def test_the_queue_works_on_postgres(
    repo: Path, registry: PluginRegistry, pg_dsn: str, proxied: bool
) -> None:
    """Digest, escalation and leases over the shared store (directly and through the
    store proxy, as hooks reach it)."""
    env = {"CLAUDE_ORCHESTRATOR_DB_URL": pg_dsn}
    if not proxied:
        env["CLAUDE_ORCHESTRATOR_NO_STORE_PROXY"] = "1"
    rig = Rig(repo, registry,
              "team: {type: probe, room: team}\npager: {type: probe, room: pager, events: []}\n",
              "  escalation: {after: 600, to: [pager], times: 1}\n", env=env,
              head="plugins:\n  store: postgres\n")  # fmt: skip
    try:
        rig.route()
        for i in range(6):
            rig.event("pr_opened", f"PR {i}")
        rig.event("agent_waiting", "Q")
        rig.after(1)
        assert rig.after(12) == ["7 notifications"]
        assert rig.after(600) == ["still waiting after 10 min: implementor-data is waiting for you"]
        rig.event("pr_merged", "PR")
        rig.route()
        rig.clock.now += 3
        (row,) = rig.queued()
        other = rig.new_sender()
        other.owner = "another-host-1-1"
        assert other.lease(row.id) is not None and rig.sender.lease(row.id) is None
    finally:
        rig.orch.close()


def test_next_due_waits_for_the_channel_holds(make_rig: MakeRig) -> None:
    """A sender does not spin on due messages its channel may not send yet."""
    rig = make_rig("team: {type: probe, room: team, rate_limit: {count: 1, per: 60}}\n",
                   "  digest: {threshold: 50, window: 1, settle: 0}\n")  # fmt: skip
    rig.event("pr_opened", "PR 1")
    rig.event("pr_opened", "PR 2")
    assert len(rig.after(1)) == 1
    sent_at = rig.clock.now
    assert rig.sender.next_due() == sent_at + 60  # the rate limit's window
    rig.scripts["team"].append(DeliveryFailed("slow down", retryable=True, status=429,
                                              retry_after=120))  # fmt: skip
    rig.clock.now += 61
    rig.sender.send_due()
    assert rig.sender.next_due() == rig.clock.now + 120  # the Retry-After hold


def test_messages_link_to_the_feature_on_the_dashboard(make_rig: MakeRig) -> None:
    rig = make_rig("team: {type: probe, room: team}\n", "  link: http://127.0.0.1:8765/\n")
    rig.event("agent_waiting", "Q")
    rig.after(3)
    assert rig.sent[0][1].link == f"http://127.0.0.1:8765/#spec={SPEC}"
