"""``GET /api/stream``: events committed after connecting arrive as Server-Sent Events
(each as ``events recent --json`` shows it), a reconnect with ``Last-Event-ID`` resumes
with nothing skipped or repeated (a burst of 500 events written while reading), and a
quiet stream gets keep-alive comments. A real uvicorn on 127.0.0.1 in a thread (streaming
through Starlette's TestClient blocks), a real SQLite store."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from claude_orchestrator import dashboard_sse
from claude_orchestrator.api import Orchestrator
from claude_orchestrator.dashboard_app import bind, create_app
from claude_orchestrator.manager import PluginRegistry

from .conftest import Run

SPEC = "003-reading-goals"


def library(repo: Path) -> Orchestrator:
    return Orchestrator(repo, registry=PluginRegistry(entrypoints=False), env={})


@contextlib.contextmanager
def served(repo: Path, **options: Any) -> Iterator[str]:
    """The dashboard of ``repo`` served by uvicorn on a free loopback port: its URL."""
    import uvicorn

    settings = {"read_only": False, "token": None, "allowed_origin": None, **options}
    app = create_app(lambda: library(repo), **settings)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


class Sent(NamedTuple):
    """One Server-Sent Event as the client parsed it."""

    id: str | None
    event: str | None
    data: str


def read_events(
    url: str, count: int, headers: dict[str, str] | None = None, timeout: float = 20
) -> list[Sent]:
    """The first ``count`` events of the stream at ``url`` (then the client leaves)."""
    found: list[Sent] = []
    fields: dict[str, list[str]] = {}
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            assert time.monotonic() < deadline, f"only {len(found)} of {count} events came"
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))
                continue
            if "data" in fields:
                found.append(Sent(fields.get("id", [None])[-1], fields.get("event", [None])[-1],
                                  "\n".join(fields["data"])))  # fmt: skip
            fields = {}
            if len(found) == count:
                break
    return found


def test_events_committed_after_connecting_arrive(cli: Run, repo: Path, initialized: Path) -> None:
    """Three events logged once the stream is open come in order, each as `events recent
    --json` shows it, with its id; the events from before connecting do not."""
    with served(repo) as url:
        got: list[Sent] = []
        reader = threading.Thread(target=lambda: got.extend(read_events(f"{url}/api/stream", 3)))
        reader.start()
        time.sleep(1.0)  # the stream is open (it starts from now on)
        for i in range(3):
            assert cli("events", "log-event", SPEC, "overseer", "status_update", f"n{i}").code == 0
        reader.join(30)
        assert not reader.is_alive()
    recent = cli("events", "recent", "3", "--json").json()[::-1]
    assert [json.loads(s.data) for s in got] == recent
    assert [s.id for s in got] == [str(e["id"]) for e in recent]
    assert {s.event for s in got} == {"event"}


def test_last_event_id_resumes_a_burst_with_nothing_skipped(repo: Path, initialized: Path) -> None:
    """500 events written while a client reads: it leaves after 200, reconnects with the
    last id it saw (Last-Event-ID, then ?after=), and has every event once, in order."""
    writer = library(repo)
    first = writer.recent(1)[0].id

    def burst() -> None:
        for i in range(500):
            writer.log_event(SPEC, "implementor-data", "status_update", f"burst {i}")

    with served(repo) as url:
        thread = threading.Thread(target=burst)
        thread.start()
        try:
            part1 = read_events(f"{url}/api/stream", 200, {"Last-Event-ID": str(first)})
            part2 = read_events(f"{url}/api/stream", 150, {"Last-Event-ID": part1[-1].id or ""})
            part3 = read_events(f"{url}/api/stream?after={part2[-1].id}", 150)
        finally:
            thread.join(60)
    writer.close()
    messages = [json.loads(s.data)["message"] for s in part1 + part2 + part3]
    assert messages == [f"burst {i}" for i in range(500)]
    ids = [int(s.id or 0) for s in part1 + part2 + part3]
    assert ids == sorted(set(ids)) and ids[0] == first + 1


def test_a_quiet_stream_gets_keep_alive_comments(
    monkeypatch: pytest.MonkeyPatch, repo: Path, initialized: Path
) -> None:
    """A comment line comes every PING_S seconds when nothing happens."""
    monkeypatch.setattr(dashboard_sse, "PING_S", 0.2)
    with served(repo) as url, httpx.stream("GET", f"{url}/api/stream", timeout=10) as answer:
        comments = 0
        for line in answer.iter_lines():
            comments += line.startswith(":")
            if comments == 2:
                break
    assert comments == 2


def test_a_bad_cursor_is_400(repo: Path, initialized: Path) -> None:
    with served(repo) as url:
        for header in ("abc", "-1", "1.5", "99999999999999999999"):
            answer = httpx.get(f"{url}/api/stream", headers={"Last-Event-ID": header})
            assert answer.status_code == 400, (header, answer.text)
            assert answer.headers["content-type"] == "application/json"
            assert "Last-Event-ID" in answer.json()["error"] or "event id" in answer.json()["error"]
        for after in ("x", "²", "٣"):  # digits to str.isdigit, not to the cursor
            assert httpx.get(f"{url}/api/stream", params={"after": after}).status_code == 400
