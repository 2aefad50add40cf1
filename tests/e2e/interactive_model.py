"""A loopback stand-in for the model API, driven by the prompt, for interactive Claude Code
(copied from the issue 12 research script): a user text with ``RUN: <cmd>`` gets a Bash
tool call, ``ASK: <question>`` an AskUserQuestion call, a tool result or anything else
the text "Done.". Every request is logged to LOG (JSON lines). Run:
``python interactive_model.py LOG PORTFILE`` (it writes its port to PORTFILE)."""

import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = sys.argv[1]
PORTFILE = sys.argv[2]
lock = threading.Lock()


def texts(msg):
    c = msg.get("content")
    if isinstance(c, str):
        return [c]
    out = []
    for b in c or []:
        if b.get("type") == "text":
            out.append(b.get("text", ""))
        elif b.get("type") == "tool_result":
            cc = b.get("content")
            out.append("TOOL_RESULT:" + (cc if isinstance(cc, str) else json.dumps(cc)))
    return out


def reply(body):
    names = {t.get("name") for t in body.get("tools") or []}
    if "Bash" not in names and "ToolSearch" not in names:
        return "side", [{"type": "text", "text": "ok"}], "end_turn"
    msgs = body.get("messages") or []
    k = len(msgs)
    while k > 0 and msgs[k - 1].get("role") != "assistant":
        k -= 1
    tail = msgs[k:]
    for mm in tail:
        c = mm.get("content")
        if isinstance(c, list) and any(b.get("type") == "tool_result" for b in c):
            return "main", [{"type": "text", "text": "Done."}], "end_turn"
    t = "\n".join(x for mm in tail for x in texts(mm))
    a = re.findall(r"ASK: ([^\n<]+)", t)
    if a:
        return (
            "main",
            [
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:20],
                    "name": "AskUserQuestion",
                    "input": {
                        "questions": [
                            {
                                "question": a[-1].strip(),
                                "header": "Choice",
                                "options": [
                                    {"label": "Alpha", "description": "dialog-alpha"},
                                    {"label": "Beta", "description": "dialog-beta"},
                                ],
                                "multiSelect": False,
                            }
                        ]
                    },
                }
            ],
            "tool_use",
        )
    m = re.findall(r"RUN: ([^\n<]+)", t)
    if m:
        return (
            "main",
            [
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:20],
                    "name": "Bash",
                    "input": {"command": m[-1].strip(), "description": "run it"},
                }
            ],
            "tool_use",
        )
    return "main", [{"type": "text", "text": "Done."}], "end_turn"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        d = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(d)))
        self.end_headers()
        self.wfile.write(d)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except Exception:
            body = {}
        path = self.path.split("?")[0]
        if path.endswith("count_tokens"):
            d = json.dumps({"input_tokens": 10}).encode()
            kind = "count"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(d)))
            self.end_headers()
            self.wfile.write(d)
            self._log(kind, body, None)
            return
        kind, content, stop = reply(body)
        self._log(kind, body, content)
        mid = "msg_" + uuid.uuid4().hex[:20]
        model = body.get("model", "m")
        if not body.get("stream"):
            d = json.dumps(
                {
                    "id": mid,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(d)))
            self.end_headers()
            self.wfile.write(d)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        ev = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 10, "output_tokens": 1},
                    },
                },
            )
        ]
        for i, b in enumerate(content):
            if b["type"] == "tool_use":
                st = {**b, "input": {}}
                de = {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}
            else:
                st = {"type": "text", "text": ""}
                de = {"type": "text_delta", "text": b["text"]}
            ev += [
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": i, "content_block": st},
                ),
                ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": de}),
                ("content_block_stop", {"type": "content_block_stop", "index": i}),
            ]
        ev += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 5},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        for n_, d in ev:
            self.wfile.write(f"event: {n_}\ndata: {json.dumps(d)}\n\n".encode())
        self.wfile.flush()

    def _log(self, kind, body, content):
        msgs = body.get("messages") or []
        rec = {
            "t": time.time(),
            "path": self.path,
            "kind": kind,
            "tools": [x.get("name") for x in body.get("tools") or []],
            "nmsgs": len(msgs),
            "tail_user": [
                x
                for mm in msgs[
                    max(
                        [i + 1 for i, m in enumerate(msgs) if m.get("role") == "assistant"] or [0]
                    ) :
                ]
                for x in texts(mm)
            ],
            "reply": content,
            "all_user_text": [texts(m) for m in msgs if m.get("role") == "user"],
        }
        with lock, open(LOG, "a") as f:
            f.write(json.dumps(rec) + "\n")


s = ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
with open(PORTFILE, "w") as port_file:
    port_file.write(str(s.server_address[1]))
threading.Timer(3000, lambda: s.shutdown()).start()
s.serve_forever(poll_interval=0.1)
