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
from collections.abc import Callable, Iterator
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
def served(
    repo: Path, factory: Callable[[], Orchestrator] | None = None, **options: Any
) -> Iterator[str]:
    """The dashboard of ``repo`` (the library ``factory`` makes) served by uvicorn on a
    free loopback port: its URL."""
    import uvicorn

    settings = {"read_only": False, "token": None, "allowed_origin": None, **options}
    app = create_app(factory or (lambda: library(repo)), **settings)
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
    url: str,
    count: int,
    headers: dict[str, str] | None = None,
    timeout: float = 20,
    connected: threading.Event | None = None,
) -> list[Sent]:
    """The first ``count`` events of the stream at ``url`` (then the client leaves; or
    fewer when the server ends the stream). ``connected`` is set at the first line (the
    stream's ``retry:``, sent once it has its cursor)."""
    found: list[Sent] = []
    fields: dict[str, list[str]] = {}
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if connected is not None:
                connected.set()
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


def burst_in_one_transaction(orch: Orchestrator, count: int, tag: str = "burst") -> None:
    """``count`` events committed at once (the feed's next poll finds them together)."""
    from claude_orchestrator.models import NewEvent

    with orch.store.transaction() as tx:
        for i in range(count):
            tx.append(NewEvent(SPEC, "implementor-data", "status_update", f"{tag} {i}"))


def test_twenty_clients_share_one_feed_and_get_a_burst_whole(
    monkeypatch: pytest.MonkeyPatch, repo: Path, initialized: Path
) -> None:
    """20 streams open, then 1,000 events: each stream has every id once, in order, and
    each event was encoded once for all of them (one shared subscription)."""
    encoded: list[int] = []
    real = dashboard_sse.encode

    def counted(event: Any) -> dashboard_sse.Encoded:
        encoded.append(event.id)
        return real(event)

    monkeypatch.setattr(dashboard_sse, "encode", counted)
    writer = library(repo)
    first = writer.recent(1)[0].id
    with served(repo) as url:
        got: list[list[Sent]] = [[] for _ in range(20)]
        ready = [threading.Event() for _ in range(20)]
        readers = [threading.Thread(target=lambda n=n: got[n].extend(
            read_events(f"{url}/api/stream", 1000, timeout=60, connected=ready[n])))
            for n in range(20)]  # fmt: skip
        for reader in readers:
            reader.start()
        assert all(r.wait(30) for r in ready)
        burst_in_one_transaction(writer, 1000)
        for reader in readers:
            reader.join(90)
    writer.close()
    expected = [str(i) for i in range(first + 1, first + 1001)]
    for sent in got:
        assert [s.id for s in sent] == expected
        assert json.loads(sent[-1].data)["message"] == "burst 999"
    assert sorted(encoded) == [int(i) for i in expected]  # once each, not once per client


def test_a_client_behind_its_queue_is_ended_and_resumes_with_nothing_lost(
    monkeypatch: pytest.MonkeyPatch, repo: Path, initialized: Path
) -> None:
    """With a queue of 50 events, a burst of 500 at once overflows it: the stream ends,
    and reconnecting with Last-Event-ID (catching up from the store) gets all 500 in
    order."""
    monkeypatch.setattr(dashboard_sse, "QUEUE", 50)
    writer = library(repo)
    first = writer.recent(1)[0].id
    with served(repo) as url:
        ready = threading.Event()
        part: list[Sent] = []
        reader = threading.Thread(target=lambda: part.extend(
            read_events(f"{url}/api/stream", 500, timeout=30, connected=ready)))  # fmt: skip
        reader.start()
        assert ready.wait(30)
        burst_in_one_transaction(writer, 500)
        reader.join(40)
        assert not reader.is_alive() and len(part) < 500  # ended: its queue was full
        sent, connections = list(part), 1
        while len(sent) < 500 and connections < 20:
            last = sent[-1].id if sent else str(first)
            sent += read_events(f"{url}/api/stream", 500 - len(sent), {"Last-Event-ID": last or ""})
            connections += 1
    writer.close()
    assert [s.id for s in sent] == [str(i) for i in range(first + 1, first + 501)]
    assert connections >= 2


def test_the_stream_on_postgres(repo: Path, pg_dsn: str) -> None:
    """On the postgres store (LISTEN/NOTIFY): events committed after connecting arrive,
    and Last-Event-ID resumes with those committed while no one was connected."""
    (repo / "orchestrator.yaml").write_text("version: 1\nplugins:\n  store: postgres\n")
    env = {"CLAUDE_ORCHESTRATOR_DB_URL": pg_dsn, "CLAUDE_ORCHESTRATOR_NO_STORE_PROXY": "1"}

    def on_postgres() -> Orchestrator:
        return Orchestrator(repo, registry=PluginRegistry(entrypoints=False), env=env)

    writer = on_postgres()
    writer.init_store()
    writer.add_feature(SPEC, "Reading goals")
    try:
        with served(repo, on_postgres) as url:
            ready, got = threading.Event(), []
            reader = threading.Thread(target=lambda: got.extend(
                read_events(f"{url}/api/stream", 3, connected=ready)))  # fmt: skip
            reader.start()
            assert ready.wait(30)
            logged = [
                writer.log_event(SPEC, "overseer", "status_update", f"pg {i}") for i in range(3)
            ]
            reader.join(30)
            assert [s.id for s in got] == [str(e.id) for e in logged]
            more = [
                writer.log_event(SPEC, "overseer", "status_update", f"later {i}") for i in range(2)
            ]
            resumed = read_events(f"{url}/api/stream", 4, {"Last-Event-ID": got[0].id or ""})
        assert [json.loads(s.data)["message"] for s in resumed] == [
            "pg 1",
            "pg 2",
            "later 0",
            "later 1",
        ]
        assert [int(s.id or 0) for s in resumed[2:]] == [e.id for e in more]
    finally:
        writer.close()
