"""The stand-in's chosen usage numbers, reported model and replies of several blocks
(:class:`tests.e2e.fake_model.FakeModel`), which the ccusage peer check
(tests/test_metrics_ccusage_e2e.py) runs the real CLI with. Talks to the stand-in over
loopback HTTP, as Claude Code does; no CLI needed."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.fake_model import FakeModel, ReplyUsage

from .test_claude_e2e_harness import bash, post, sse

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]
PROMPT: list[dict[str, Any]] = [{"role": "user", "content": "do it"}]

counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def usages(draw: st.DrawFn) -> ReplyUsage:
    cache_write = draw(counts)
    return ReplyUsage(
        input_tokens=draw(counts),
        output_tokens=draw(counts),
        cache_creation_input_tokens=cache_write,
        cache_read_input_tokens=draw(counts),
        start_output_tokens=draw(st.integers(min_value=0, max_value=10)),
        delta_input=draw(st.booleans()),
        cache_write_1h=draw(st.integers(min_value=0, max_value=cache_write)),
        cache_breakdown=draw(st.booleans()),
    )


def main_body(stream: bool, messages: list[dict[str, Any]] = PROMPT) -> dict[str, Any]:
    return {"model": "claude-asked", "stream": stream, "tools": TOOLS, "messages": messages}


def input_side(usage: ReplyUsage) -> dict[str, Any]:
    """The input side the API names, written out from the chosen numbers."""
    names = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    numbers = (usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens)
    side: dict[str, Any] = dict(zip(names, numbers, strict=True))
    if usage.cache_breakdown:
        five_minutes = usage.cache_creation_input_tokens - usage.cache_write_1h
        side["cache_creation"] = {"ephemeral_5m_input_tokens": five_minutes,
                                  "ephemeral_1h_input_tokens": usage.cache_write_1h}  # fmt: skip
    return side


@settings(max_examples=40, deadline=None)
@given(first=usages(), second=usages())
def test_streamed_replies_report_the_chosen_usage_in_order(
    first: ReplyUsage, second: ReplyUsage
) -> None:
    """message_start carries the input side and the placeholder output count,
    message_delta the final output count (and the input side with ``delta_input``);
    the n-th main reply takes the n-th usage; past the list the estimate comes back."""
    with FakeModel(bash("true"), usage=[first, second]) as fake:
        for chosen in (first, second):
            status, text = post(fake.url + "/v1/messages", main_body(stream=True))
            assert status == 200
            events = dict(sse(text))
            start = events["message_start"]["message"]["usage"]
            assert start == {**input_side(chosen), "output_tokens": chosen.start_output_tokens}
            delta = events["message_delta"]["usage"]
            extra = input_side(chosen) if chosen.delta_input else {}
            assert delta == {**extra, "output_tokens": chosen.output_tokens}
        status, text = post(fake.url + "/v1/messages", main_body(stream=True))
        estimated = dict(sse(text))
    assert set(estimated["message_start"]["message"]["usage"]) == {"input_tokens", "output_tokens"}
    assert estimated["message_delta"]["usage"] == {"output_tokens": 5}
    assert [r.usage for r in fake.main_replies()] == [first, second, None]


@settings(max_examples=20, deadline=None)
@given(chosen=usages(), side=usages())
def test_unstreamed_reply_and_side_requests(chosen: ReplyUsage, side: ReplyUsage) -> None:
    """An unstreamed reply carries all four numbers; side requests report ``side_usage``
    and do not take a main reply's entry."""
    with FakeModel(bash("true"), usage=[chosen], side_usage=side) as fake:
        _, text = post(fake.url + "/v1/messages", {"model": "haiku", "messages": PROMPT})
        assert json.loads(text)["usage"] == {
            **input_side(side),
            "output_tokens": side.output_tokens,
        }
        _, text = post(fake.url + "/v1/messages", main_body(stream=False))
        reply = json.loads(text)
    assert reply["usage"] == {**input_side(chosen), "output_tokens": chosen.output_tokens}
    assert [(r.kind, r.usage) for r in fake.replies] == [("side", side), ("main", chosen)]


def test_reported_model_lead_text_and_recorded_replies() -> None:
    """``model`` replaces the request's model in every reply; ``lead_text`` makes each
    tool call a reply of two blocks (text, then tool_use); each reply is recorded with
    the message id and the request-id header it was sent with."""
    lead = "Let me look."
    with FakeModel(bash("git status"), model="claude-chosen", lead_text=lead,
                   block_pause=0.01) as fake:  # fmt: skip
        status, text = post(fake.url + "/v1/messages", main_body(stream=True))
        events = sse(text)
        _, plain = post(fake.url + "/v1/messages", {"model": "haiku", "messages": PROMPT})
    assert status == 200
    message = events[0][1]["message"]
    assert message["model"] == "claude-chosen"
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert [block["type"] for block in starts] == ["text", "tool_use"]
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert deltas[0] == {"type": "text_delta", "text": lead}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert json.loads(plain)["model"] == "claude-chosen"
    sent = fake.replies[0]
    assert (sent.kind, sent.message_id, sent.model, sent.stream) == (
        "main", message["id"], "claude-chosen", True)  # fmt: skip
    assert [block["type"] for block in sent.content] == ["text", "tool_use"]
    assert sent.request_id.startswith("req_") and fake.replies[1].request_id != sent.request_id


def test_request_id_header_is_the_recorded_one() -> None:
    """The ``request-id`` header (Claude Code writes it into the transcript as
    ``requestId``) is the one the reply is recorded with."""
    with FakeModel(bash("true")) as fake:
        request = urllib.request.Request(
            fake.url + "/v1/messages",
            data=json.dumps(main_body(stream=True)).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            header = response.headers["request-id"]
            response.read()
    assert [r.request_id for r in fake.replies] == [header]
