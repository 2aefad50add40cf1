"""A stand-in for the Anthropic Messages API on loopback, for running the real Claude Code
CLI in tests.

The main conversation gets the scripted tool calls one by one: the next once Claude Code
has sent back the ``tool_result`` of the one before (a test may look at the world in
between: ``on_result``); after the last, the model answers with a short text and ends
the turn. Most tests script one call; a session of several shares one Claude Code
start-up among them. Side
requests (titles, bash prefix/safety checks, summaries: any request that does not offer
the scripted tool) get plain text and never consume the tool call. Every request is
recorded, so a test can read what Claude Code sent back: whether the tool ran, was denied
by a permission rule, or was blocked by a hook.

A test may choose the usage numbers each reply reports (``usage``: the main
conversation's replies in order; ``side_usage``: every side reply), the model name every
reply reports (``model``; by default the request's), and a text block before each tool
call (``lead_text``: a reply with several content blocks). What each reply carried is
recorded in ``replies``, so a test knows the exact totals a transcript should hold.

Standard library only. The server binds 127.0.0.1 on a free port, answers a bounded number
of requests, and shuts itself down after ``lifetime`` seconds even if the test forgets to.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

FINAL_TEXT = "Done."
SIDE_TEXT = "ok"
MAIN_MARKERS = {"ToolSearch", "DeferredToolPlaceholder"}
MAX_CALLS = 3  # the scripted call is sent at most this often (retries of the first request)


@dataclass
class Request:
    """One HTTP request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    kind: str = ""  # "main", "side", "count_tokens", "unknown", ...
    at: float = field(default_factory=time.monotonic)

    @property
    def model(self) -> str:
        return str(self.body.get("model", "")) if isinstance(self.body, dict) else ""

    @property
    def tool_names(self) -> list[str]:
        if not isinstance(self.body, dict):
            return []
        return [str(t.get("name", "")) for t in self.body.get("tools") or []]

    def system_text(self) -> str:
        return system_text(self.body)


def system_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return ""


def blocks(body: Any, role: str) -> Iterator[dict[str, Any]]:
    """The content blocks of the request's messages from ``role``."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") == role:
            content = message.get("content")
            if isinstance(content, list):
                yield from (b for b in content if isinstance(b, dict))


def block_text(block: dict[str, Any]) -> str:
    """The text of a tool_result block (its content is a string or a list of blocks)."""
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(c.get("text", ""))
            for c in content
            if isinstance(c, dict) and c.get("type") == "text"
        )
    return ""


def estimate_tokens(body: Any) -> int:
    return max(1, len(json.dumps(body)) // 4) if body is not None else 1


class ReplyUsage(NamedTuple):
    """The usage numbers one reply reports, as the Messages API names them.

    Streamed, ``message_start`` carries the input side and ``start_output_tokens`` (the
    API sends a small placeholder there), ``message_delta`` the final ``output_tokens``
    (and, with ``delta_input``, the input side again, as the API does since 2025).
    Unstreamed, the one message carries all four numbers. The input side holds the
    API's ``cache_creation`` breakdown (of the cache writes, ``cache_write_1h`` were
    1-hour writes, the rest 5-minute ones) unless ``cache_breakdown`` is False.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    start_output_tokens: int = 1
    delta_input: bool = False
    cache_write_1h: int = 0
    cache_breakdown: bool = True

    def start(self) -> dict[str, Any]:
        return {**self._input(), "output_tokens": self.start_output_tokens}

    def delta(self) -> dict[str, Any]:
        extra = self._input() if self.delta_input else {}
        return {**extra, "output_tokens": self.output_tokens}

    def final(self) -> dict[str, Any]:
        return {**self._input(), "output_tokens": self.output_tokens}

    def _input(self) -> dict[str, Any]:
        numbers: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }
        if self.cache_breakdown:
            numbers["cache_creation"] = {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens - self.cache_write_1h,
                "ephemeral_1h_input_tokens": self.cache_write_1h,
            }
        return numbers


class SentReply(NamedTuple):
    """One /v1/messages answer the stand-in sent."""

    kind: str  # "main" | "side"
    message_id: str
    request_id: str
    model: str
    #: the chosen usage, None where the stand-in estimated it (no choice made)
    usage: ReplyUsage | None
    content: list[dict[str, Any]]
    stream: bool


class FakeModel:
    """Context manager running the stand-in; ``url`` is the ANTHROPIC_BASE_URL to use.

    Each tool call is ``{"name": "Bash", "input": {"command": "git status"}}`` or
    ``{"name": "Write", "input": {"file_path": "/abs/x", "content": "x"}}``; they are made
    in order. ``on_result(index, tool_result)`` is called (on the server's thread) when
    the result of call ``index`` arrives, before the model answers it.

    ``usage[n]`` is what the n-th reply of the main conversation reports (retries
    included; replies past the end of the list, and side replies without
    ``side_usage``, report an estimate from the request's size, as before); ``model``
    replaces the request's model name in every reply; ``lead_text`` puts a text block
    before each tool call; ``block_pause`` seconds pass after each streamed content
    block (the next block and the final usage come that much later).
    """

    def __init__(
        self,
        tool_call: dict[str, Any],
        *more: dict[str, Any],
        on_result: Callable[[int, dict[str, Any]], None] | None = None,
        final_text: str = FINAL_TEXT,
        lifetime: float = 300.0,
        max_requests: int = 200,
        usage: Sequence[ReplyUsage] = (),
        side_usage: ReplyUsage | None = None,
        model: str | None = None,
        lead_text: str | None = None,
        block_pause: float = 0.0,
    ) -> None:
        calls = [tool_call, *more]
        for call in calls:
            if not isinstance(call.get("name"), str) or not isinstance(call.get("input"), dict):
                raise ValueError("tool_call needs a 'name' (str) and an 'input' (dict)")
        self.tool_calls = calls
        self.tool_use_ids = ["toolu_" + uuid.uuid4().hex[:24] for _ in calls]
        self.on_result = on_result
        self.final_text = final_text
        self.lifetime = lifetime
        self.max_requests = max_requests
        self.usage = list(usage)
        self.side_usage = side_usage
        self.model = model
        self.lead_text = lead_text
        self.block_pause = block_pause
        self.replies: list[SentReply] = []
        self._main_replies = 0
        self.requests: list[Request] = []
        self.results: dict[int, dict[str, Any]] = {}  # by call index
        self.sent = [0] * len(calls)  # how often each call was sent
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopping = False
        self._stopped = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeModel is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeModel:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", 0), handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._stopped.wait(10)  # when the lifetime timer is stopping it right now

    def stop(self) -> None:
        """Stop serving and close the port; safe to call twice and from any thread."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._stopped.set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped (by ``stop`` or at the end of its lifetime)."""
        return self._stopped.wait(timeout)

    # ------------------------------------------------------------------ views
    @property
    def tool_call(self) -> dict[str, Any]:
        """The first scripted call."""
        return self.tool_calls[0]

    @property
    def tool_use_id(self) -> str:
        """The id of the first scripted call."""
        return self.tool_use_ids[0]

    @property
    def tool_call_sent(self) -> int:
        """How often the first call was sent."""
        return self.sent[0]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_results Claude Code sent back, in the order of the calls."""
        return [self.results[i] for i in sorted(self.results)]

    @property
    def tool_result(self) -> dict[str, Any] | None:
        """The tool_result answering the first scripted call, if Claude Code sent one."""
        return self.results.get(0)

    def main_replies(self) -> list[SentReply]:
        """The replies to the main conversation, in the order they were sent."""
        with self._lock:
            return [reply for reply in self.replies if reply.kind == "main"]

    def unknown_requests(self) -> list[Request]:
        return [r for r in self.requests if r.kind == "unknown"]

    def summary(self) -> list[str]:
        """One line per request: method, path, kind, model, tools offered."""
        return [
            f"{r.method} {r.path} [{r.kind}] model={r.model} tools={len(r.tool_names)}"
            for r in self.requests
        ]

    # ------------------------------------------------------------------ decisions
    def record(self, request: Request) -> bool:
        """Store a request; False when over the request budget."""
        with self._lock:
            self.requests.append(request)
            return len(self.requests) <= self.max_requests

    def classify(self, body: Any) -> str:
        """ "main" when the request offers a scripted tool, else "side"."""
        if not isinstance(body, dict):
            return "side"
        names = {str(t.get("name", "")) for t in body.get("tools") or [] if isinstance(t, dict)}
        # Claude Code 2.1.330 offers a few tools in full and defers the rest (Glob, Grep,
        # NotebookEdit, WebFetch...) behind ToolSearch: a request offering ToolSearch is
        # the main conversation too.
        wanted = {str(call["name"]) for call in self.tool_calls}
        main = bool(names & wanted) or bool(names & MAIN_MARKERS)
        return "main" if main else "side"

    def collect_tool_results(self, body: Any) -> list[int]:
        """Record the tool_results for scripted calls the request holds; the indexes of
        those that are new (``on_result`` is told of each, once)."""
        index = {tool_use_id: i for i, tool_use_id in enumerate(self.tool_use_ids)}
        new = []
        for block in blocks(body, "user"):
            i = index.get(block.get("tool_use_id")) if block.get("type") == "tool_result" else None
            if i is None:
                continue
            with self._lock:
                if i in self.results:
                    continue
                self.results[i] = block
            new.append(i)
        for i in new:
            if self.on_result is not None:
                try:
                    self.on_result(i, self.results[i])
                except Exception as exc:  # a failed look at the world: the test reads it
                    self.errors.append(f"on_result({i}): {exc!r}")
        return new

    def usage_for(self, kind: str) -> ReplyUsage | None:
        """The chosen usage of the next reply of this kind (None: estimate it); each
        main reply takes the next entry of ``usage``, once."""
        if kind != "main":
            return self.side_usage
        with self._lock:
            index, self._main_replies = self._main_replies, self._main_replies + 1
        return self.usage[index] if index < len(self.usage) else None

    def sent_reply(self, reply: SentReply) -> None:
        with self._lock:
            self.replies.append(reply)

    def calls_made(self, body: Any) -> int:
        """How many scripted tool_uses the request's history holds."""
        made = {block.get("id") for block in blocks(body, "assistant")}
        return sum(1 for tool_use_id in self.tool_use_ids if tool_use_id in made)

    def reply_for(self, body: Any) -> tuple[str, list[dict[str, Any]], str]:
        """(kind, content blocks, stop_reason) for a /v1/messages request.

        Side requests get text. The main conversation gets the next scripted tool call
        once its history holds the ones before (a retried request gets the same call
        again, up to ``MAX_CALLS`` times), then the final text once the last result is
        back (or when the history holds a call without its result).
        """
        kind = self.classify(body)
        text = [{"type": "text", "text": SIDE_TEXT if kind == "side" else self.final_text}]
        if kind == "side":
            return kind, text, "end_turn"
        self.collect_tool_results(body)
        made = self.calls_made(body)
        if made >= len(self.tool_calls) or (made and made - 1 not in self.results):
            return kind, text, "end_turn"
        with self._lock:
            if self.sent[made] >= MAX_CALLS:
                return kind, text, "end_turn"
            self.sent[made] += 1
        call = self.tool_calls[made]
        block = {
            "type": "tool_use",
            "id": self.tool_use_ids[made],
            "name": call["name"],
            "input": call["input"],
        }
        lead = [{"type": "text", "text": self.lead_text}] if self.lead_text else []
        return kind, [*lead, block], "tool_use"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeModel

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing a keep-alive connection (Claude Code does, after its start-up
        # probe) is not a test failure: note it instead of printing a traceback.
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            self.fake.errors.append(f"{client_address}: {exc!r}")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeModel
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection frees its thread after this
    server_version = "FakeAnthropic/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _send_json(self, status: int, payload: Any, request_id: str | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", request_id or "req_" + uuid.uuid4().hex[:24])
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, kind: str, message: str) -> None:
        self._send_json(status, {"type": "error", "error": {"type": kind, "message": message}})

    def _handle(self, method: str) -> None:
        body = self._read_body() if method in ("POST", "PUT", "PATCH") else None
        path = self.path.split("?", 1)[0]
        request = Request(method, self.path, dict(self.headers.items()), body)
        if not self.fake.record(request):
            request.kind = "over-budget"
            self._error(529, "overloaded_error", "fake model: request budget exhausted")
            return
        if method == "POST" and path == "/v1/messages":
            self._messages(request)
        elif method == "POST" and path == "/v1/messages/count_tokens":
            request.kind = "count_tokens"
            self._send_json(200, {"input_tokens": estimate_tokens(body)})
        elif method == "HEAD":
            # Claude Code's start-up reachability probe (HEAD /api/hello) unless
            # CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC is set.
            request.kind = "probe"
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif method == "GET" and path in ("/", "/api/hello"):
            request.kind = "probe"
            self._send_json(200, {})
        else:
            request.kind = "unknown"
            self._error(404, "not_found_error", f"fake model: no route {method} {path}")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ------------------------------------------------------------------ messages
    def _messages(self, request: Request) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        kind, content, stop_reason = self.fake.reply_for(body)
        request.kind = kind
        model = self.fake.model or str(body.get("model") or "claude-fake")
        message_id = "msg_" + uuid.uuid4().hex[:24]
        request_id = "req_" + uuid.uuid4().hex[:24]
        chosen = self.fake.usage_for(kind)
        stream = bool(body.get("stream"))
        self.fake.sent_reply(
            SentReply(kind, message_id, request_id, model, chosen, content, stream)
        )
        usage_in = estimate_tokens(body.get("messages"))
        if not stream:
            final = chosen.final() if chosen else {"input_tokens": usage_in, "output_tokens": 5}
            self._send_json(
                200,
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": final,
                },
                request_id,
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", request_id)
        self.end_headers()
        self.close_connection = True
        start_usage = chosen.start() if chosen else {"input_tokens": usage_in, "output_tokens": 1}
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            )
        ]
        for index, block in enumerate(content):
            if block["type"] == "tool_use":
                start = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            else:
                start = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            events += [
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start},
                ),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": index}),
            ]
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": chosen.delta() if chosen else {"output_tokens": 5},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            if name == "content_block_stop" and self.fake.block_pause:
                # as the API streams: each block arrives before the next one is written
                self.wfile.flush()
                time.sleep(self.fake.block_pause)
        self.wfile.flush()
