"""The one event flow: inline notifiers told after the commit, outbox notifiers delivered
by cursor -- a failing notifier or a killed delivery loses nothing, and no command waits
on the network. A loopback HTTP server stands in for a webhook."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator, hookimpl, outbox
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.models import Event

from .conftest import clean_env
from .plugin_helpers import distribution

SPEC = "003-reading-goals"
NO_BACKGROUND = {outbox.ENV_NO_BACKGROUND: "1"}


class Receiver:
    """A loopback webhook: records the JSON bodies it is sent; can fail or hang."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_next = 0
        self.fail_after: int | None = None
        self.fail_reason = "Internal Server Error"
        self.hang = threading.Event()
        self.hanging = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hang.is_set():
                    receiver.hanging.set()
                    receiver.release.wait(30)
                    return  # no answer: the client is gone
                failing = (
                    receiver.fail_after is not None and len(receiver.bodies) >= receiver.fail_after
                )
                if receiver.fail_next or failing:
                    receiver.fail_next = max(receiver.fail_next - 1, 0)
                    receiver.fail_after = None
                    self.send_response(500, receiver.fail_reason.replace("\n", " "))
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[int]:
        return [b["id"] for b in self.bodies]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.hang.clear()
    r.release.set()
    r.server.shutdown()
    r.server.server_close()


PLUGIN = """
import json
import urllib.error
import urllib.request

from claude_orchestrator import hookimpl


class Webhook:
    delivery = "outbox"

    def __init__(self, url):
        self.url = url

    def notify(self, event):
        body = json.dumps({"id": event.id, "type": event.event_type}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=60).close()
        except urllib.error.HTTPError as exc:
            exc.close()
            raise RuntimeError(f"the webhook answered HTTP {exc.code}\\n{exc.reason}") from None


@hookimpl
def register_notifiers(register):
    register("webhook", lambda context: Webhook(context.options["url"]))
"""


def webhook_plugin() -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(PLUGIN, "webhook_plugin", "exec"), namespace)  # the same text as the dist
    return type("Plugin", (), {"register_notifiers": staticmethod(namespace["register_notifiers"])})


def configure(repo: Path, url: str, notifiers: str = "[markdown, webhook]") -> None:
    config = repo / "orchestrator.yaml"
    text = config.read_text().replace("notifiers: [markdown]", f"notifiers: {notifiers}")
    text = text.replace("options: {}", f"options: {{webhook: {{url: '{url}'}}}}")
    config.write_text(text)


def make_orch(repo: Path, registry: PluginRegistry) -> Orchestrator:
    return Orchestrator(repo, registry=registry, env=NO_BACKGROUND)


@pytest.fixture
def setup(repo: Path, receiver: Receiver) -> tuple[Path, PluginRegistry]:
    registry = PluginRegistry(entrypoints=False)
    registry.register(webhook_plugin(), name="webhook-test")
    with Orchestrator(repo, registry=registry, env=NO_BACKGROUND) as orch:
        orch.init()
    configure(repo, receiver.url)
    with make_orch(repo, registry) as orch:
        orch.add_feature(SPEC, "Reading goals")
    return repo, registry


def log(repo: Path, registry: PluginRegistry, n: int) -> list[Event]:
    with make_orch(repo, registry) as orch:
        return [orch.log_event(SPEC, "overseer", "status_update", f"m{i}") for i in range(n)]


def test_outbox_notifiers_are_not_told_during_the_operation(
    setup: tuple[Path, PluginRegistry], receiver: Receiver
) -> None:
    repo, registry = setup
    events = log(repo, registry, 3)
    assert receiver.bodies == []  # the commands did not wait on the webhook
    with make_orch(repo, registry) as orch:
        [state] = outbox.status(orch)
        assert state.pending == 4  # feature_created and the three
        [result] = outbox.flush(orch)
    assert result.error is None and result.delivered == 4
    assert receiver.ids()[-3:] == [e.id for e in events]
    assert receiver.ids() == sorted(receiver.ids())
    with make_orch(repo, registry) as orch:
        assert outbox.flush(orch)[0].delivered == 0  # nothing twice
        assert outbox.status(orch)[0].pending == 0


def test_a_failing_notifier_loses_nothing(
    setup: tuple[Path, PluginRegistry], receiver: Receiver
) -> None:
    repo, registry = setup
    events = log(repo, registry, 2)
    receiver.fail_next = 1
    with make_orch(repo, registry) as orch:
        [failed] = outbox.flush(orch)
        assert failed.error is not None and "500" in failed.error
        assert failed.delivered == 0 and failed.pending == 3
        [again] = outbox.flush(orch)
    assert again.error is None and again.delivered == 3
    assert receiver.ids()[-2:] == [e.id for e in events]


def test_a_hanging_webhook_does_not_delay_a_command(
    setup: tuple[Path, PluginRegistry], receiver: Receiver
) -> None:
    repo, registry = setup
    receiver.hang.set()
    started = time.monotonic()
    log(repo, registry, 2)  # would take 30 s a call if it waited on the receiver
    assert time.monotonic() - started < 20
    assert not receiver.hanging.is_set()


def test_a_new_notifier_is_owed_only_what_comes_after_it(repo: Path, receiver: Receiver) -> None:
    registry = PluginRegistry(entrypoints=False)
    registry.register(webhook_plugin(), name="webhook-test")
    with make_orch(repo, registry) as orch:
        orch.init()
        orch.add_feature(SPEC, "Reading goals")
    log(repo, registry, 2)  # before the webhook is configured
    configure(repo, receiver.url)
    later = log(repo, registry, 1)
    with make_orch(repo, registry) as orch:
        outbox.flush(orch)
    assert receiver.ids() == [later[0].id]


def test_inline_notifier_failure_is_a_warning_and_keeps_the_event(repo: Path) -> None:
    class Broken:
        def notify(self, event: Event) -> None:
            raise RuntimeError("disk full")

    class Plugin:
        @staticmethod
        @hookimpl
        def register_notifiers(register: Any) -> None:
            register("broken", lambda context: Broken())

    registry = PluginRegistry(entrypoints=False)
    registry.register(Plugin(), name="broken-test")
    with make_orch(repo, registry) as orch:
        orch.init()
    configure(repo, "http://127.0.0.1:9/unused", "[markdown, broken]")
    seen: list[str] = []
    with Orchestrator(repo, registry=registry, env=NO_BACKGROUND, on_warning=seen.append) as orch:
        orch.add_feature(SPEC, "Reading goals")
        event = orch.log_event(SPEC, "overseer", "status_update", "kept")
        assert [e.id for e in orch.recent(1)] == [event.id]
    assert seen[-1] == (
        f"warning: notifier 'broken' failed on event {event.id}: RuntimeError: disk full"
    )
    assert len(seen) == 2 and seen == [f"warning: {w}" for w in orch.warnings]


def test_a_plugin_that_builds_the_wrong_thing_is_named(repo: Path) -> None:
    class Plugin:
        @staticmethod
        @hookimpl
        def register_notifiers(register: Any) -> None:
            register("mute", lambda context: object())

    registry = PluginRegistry(entrypoints=False)
    registry.register(Plugin(), name="mute-test")
    with make_orch(repo, registry) as orch:
        orch.init()
    configure(repo, "http://127.0.0.1:9/unused", "[mute]")
    from claude_orchestrator.errors import PluginError

    with make_orch(repo, registry) as orch, pytest.raises(PluginError) as raised:
        orch.add_feature(SPEC, "Reading goals")
    assert str(raised.value) == (
        "notifier plugin 'mute' (from mute-test) built a object, which lacks what a "
        "notifier must have (see claude_orchestrator.protocols.Notifier): fix or remove "
        "the plugin"
    )


# ---------------------------------------------------------------- real processes
def install_dist(site: Path) -> None:
    """The webhook plugin as an installed distribution with an entry point."""
    distribution(site, "webhook", "1.0", "webhook_plugin", textwrap.dedent(PLUGIN))


def test_delivery_killed_mid_batch_loses_nothing(
    repo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_dist(site)
    env = clean_env(PYTHONPATH=str(site), **NO_BACKGROUND)
    with Orchestrator(repo, env=env) as orch:
        orch.init()
    configure(repo, receiver.url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "claude_orchestrator", *args], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    assert run("events", "add-feature", SPEC, "Reading goals").returncode == 0
    for i in range(4):
        assert (
            run("events", "log-event", SPEC, "overseer", "status_update", f"m{i}").returncode == 0
        )
    assert receiver.bodies == []
    receiver.hang.set()  # the first POST hangs: kill the deliverer there
    command = [sys.executable, "-m", "claude_orchestrator", "notify", "flush"]
    quiet = subprocess.DEVNULL
    with subprocess.Popen(command, cwd=repo, env=env, stdout=quiet, stderr=quiet,
                          start_new_session=True) as flushing:  # fmt: skip
        assert receiver.hanging.wait(30)
        os.killpg(flushing.pid, signal.SIGKILL)
    receiver.hang.clear()
    done = run("notify", "flush", "--json")
    assert done.returncode == 0, done
    [result] = json.loads(done.stdout)
    assert result["notifier"] == "webhook" and result["pending"] == 0
    assert receiver.ids() == list(range(1, 6))  # every event, in order, once delivered


def test_commands_start_a_background_delivery(
    repo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_dist(site)
    env = clean_env(PYTHONPATH=str(site))
    with Orchestrator(repo, env=env) as orch:
        orch.init()
    configure(repo, receiver.url)
    for args in (["events", "add-feature", SPEC, "Goals"],
                 ["events", "log-event", SPEC, "overseer", "status_update", "hi"]):  # fmt: skip
        subprocess.run([sys.executable, "-m", "claude_orchestrator", *args], cwd=repo,
                       env=env, check=True, capture_output=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while len(receiver.bodies) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(set(receiver.ids())) == [1, 2]
    status = subprocess.run(
        [sys.executable, "-m", "claude_orchestrator", "notify", "status", "--json"],
        cwd=repo, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while json.loads(status.stdout)[0]["pending"] and time.monotonic() < deadline:
        time.sleep(0.1)
        status = subprocess.run(
            [sys.executable, "-m", "claude_orchestrator", "notify", "status", "--json"],
            cwd=repo, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
    assert json.loads(status.stdout) == [
        {"notifier": "webhook", "cursor": 2, "pending": 0, "last_error": None}
    ]


def test_the_events_before_a_failing_one_go_out_and_stay_out(
    setup: tuple[Path, PluginRegistry], receiver: Receiver
) -> None:
    repo, registry = setup
    events = log(repo, registry, 4)  # ids 2..5 after feature_created
    receiver.fail_after = 3  # the fourth POST fails (event 4)
    with make_orch(repo, registry) as orch:
        [first] = outbox.flush(orch)
        assert first.delivered == 3 and first.cursor == events[1].id and first.error
        assert receiver.ids() == [1, 2, 3]
        [second] = outbox.flush(orch)
    assert second.error is None and second.delivered == 2
    assert receiver.ids() == [1, 2, 3, 4, 5]  # nothing sent twice


def test_a_delivery_that_cannot_lock_is_one_line(
    setup: tuple[Path, PluginRegistry], receiver: Receiver
) -> None:
    repo, registry = setup
    locks = repo / ".git" / "orchestrator" / "locks"
    shutil.rmtree(locks, ignore_errors=True)
    locks.write_text("not a directory\n")
    from claude_orchestrator.errors import StoreError

    with make_orch(repo, registry) as orch, pytest.raises(StoreError) as raised:
        outbox.flush(orch)
    assert str(raised.value).startswith(f"cannot use the lock directory {locks}")
    assert "\n" not in str(raised.value)


def test_failures_are_logged_on_one_line_and_cleared_by_a_success(
    setup: tuple[Path, PluginRegistry], receiver: Receiver
) -> None:
    repo, registry = setup
    log(repo, registry, 1)
    receiver.fail_next = 1
    receiver.fail_reason = "first line\nsecond line"
    with make_orch(repo, registry) as orch:
        outbox.flush(orch, background=True)
        [state] = outbox.status(orch)
        assert state.last_error is not None and "\n" not in state.last_error
        assert state.last_error == (
            "cursor=0 RuntimeError: the webhook answered HTTP 500 first line second line"
        )
        outbox.flush(orch, background=True)
        [state] = outbox.status(orch)
    assert state.last_error is None and state.pending == 0


def test_the_background_delivery_does_not_import_from_the_repository(
    repo: Path, tmp_path: Path, receiver: Receiver
) -> None:
    """An agent may write the working directory: a claude_orchestrator package planted
    there must not be what the background delivery runs."""
    site = tmp_path / "site"
    site.mkdir()
    install_dist(site)
    env = clean_env(PYTHONPATH=str(site))
    with Orchestrator(repo, env=env) as orch:
        orch.init()
    configure(repo, receiver.url)
    marker = tmp_path / "planted-ran"
    planted = repo / "claude_orchestrator"
    planted.mkdir()
    (planted / "__init__.py").write_text("")
    (planted / "__main__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    subprocess.run(["claude-orchestrator", "events", "add-feature", SPEC, "Goals"], cwd=repo,
                   env=env, check=True, capture_output=True)  # fmt: skip
    subprocess.run(["claude-orchestrator", "events", "log-event", SPEC, "overseer",
                    "status_update", "hi"], cwd=repo, env=env, check=True,
                   capture_output=True)  # fmt: skip
    deadline = time.monotonic() + 30
    while len(receiver.bodies) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(set(receiver.ids())) == [1, 2]
    assert not marker.exists()
