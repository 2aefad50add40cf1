"""A loopback HTTP server that stands in for Slack, Discord and any webhook receiver.

It listens on ``127.0.0.1`` (a free port), records every request it gets (method, path,
headers, body, the time it arrived) and answers each from a script, then with a default
answer once the script is used up::

    def test_retries(receiver: Receiver) -> None:
        receiver.script(500, Reply(429, headers=(("Retry-After", "3"),)), 200)
        channel = ...  # configured with receiver.url("/hook") as its webhook URL
        ...
        assert [r.path for r in receiver.wait(3)] == ["/hook"] * 3

A :class:`Reply` is a status with a body and headers, and may also hang before answering
(``delay``: a receiver that does not answer; the wait ends when the receiver closes),
send its body slowly (``trickle``: seconds between bytes), or close the connection
without an answer (``drop``). An ``int`` in a script is ``Reply(status)``.

Use the ``receiver`` fixture (a fresh server per test, closed after it) or
``with Receiver() as receiver:``. The server answers every method (POST, GET, PUT, ...),
reads a body sent with ``Content-Length`` or chunked, and keeps no log on stderr.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

import pytest


class Request(NamedTuple):
    """One request as the receiver got it.

    :param headers: header names lower-cased (a repeated header: its last value).
    :param at: ``time.monotonic()`` when the whole request had arrived.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Reply(NamedTuple):
    """How the receiver answers one request.

    :param delay: seconds to wait before answering (the wait ends early when the
        receiver closes, so a test never waits for a hang it scripted).
    :param trickle: seconds to wait before each byte of the body (headers go at once).
    :param drop: close the connection without any answer.
    """

    status: int = 200
    body: bytes | str = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    trickle: float = 0.0
    drop: bool = False

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        return cls(delay=seconds)

    @classmethod
    def retry_after(cls, value: str, status: int = 429) -> Reply:
        return cls(status, b"slow down", (("Retry-After", value),))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _handle(self) -> None:
        receiver = self.server.owner
        body = self._body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.command, self.path, headers, body, time.monotonic())
        reply = receiver._record(request)
        if reply.delay and receiver._closing.wait(reply.delay):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            return
        content = reply.body.encode() if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if not reply.trickle:
            self.wfile.write(content)
            return
        self.wfile.flush()
        for index in range(len(content)):
            if receiver._closing.wait(reply.trickle):
                return
            self.wfile.write(content[index : index + 1])
            self.wfile.flush()

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:
        return None


class Receiver:
    """The server; see the module docstring.

    :param default: the answer once the script is used up.
    """

    def __init__(self, default: Reply | int = 200) -> None:
        self.default = _reply(default)
        self._script: deque[Reply] = deque()
        self._requests: list[Request] = []
        self._lock = threading.Condition()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def script(self, *replies: Reply | int) -> None:
        """Answer the next requests with these, in order (after those already scripted)."""
        with self._lock:
            self._script.extend(_reply(r) for r in replies)

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in the order they arrived."""
        with self._lock:
            return list(self._requests)

    def wait(self, count: int, timeout: float = 10.0) -> list[Request]:
        """The requests, once there are at least ``count`` (AssertionError after
        ``timeout`` seconds)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"{len(self._requests)} requests arrived, not {count}")
            return list(self._requests)

    def _record(self, request: Request) -> Reply:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            return self._script.popleft() if self._script else self.default

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _reply(reply: Reply | int) -> Reply:
    return Reply(reply) if isinstance(reply, int) else reply


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A :class:`Receiver` for one test."""
    with Receiver() as server:
        yield server
