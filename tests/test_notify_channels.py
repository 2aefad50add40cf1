"""The built-in notification channel types (slack, discord, webhook, desktop, apprise),
each built from ``orchestrator.yaml`` through ``Orchestrator.channel`` (the entry points,
the factory, the environment) and sending to a loopback receiver
(:mod:`tests.http_receiver`) or to a stand-in program on PATH.
"""

from __future__ import annotations

import email.utils
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.notify_http import RETRY_AFTER_MAX, classify, parse_retry_after
from claude_orchestrator.notify_message import SEVERITIES, DeliveryFailed, Item, Message, Sent
from claude_orchestrator.plugins import notify_discord, notify_slack, notify_webhook
from claude_orchestrator.plugins.notify_desktop import APP_NAME, DesktopChannel
from claude_orchestrator.protocols import Channel
from tests import http_receiver
from tests.http_receiver import Receiver, Reply

receiver = http_receiver.receiver  # the fixture

README = Path(__file__).resolve().parent.parent / "README.md"
SECRET = "whsec-0123456789abcdef-do-not-log"
SLACK_PATH = "/services/T0001/B0002/s3cr3tSlackT0ken"
DISCORD_PATH = "/api/webhooks/123456/s3cr3tDiscordT0ken"
HOOK_PATH = "/hooks/s3cr3tGenericT0ken"

#: the webhook verification snippet of the README (between its webhook-verify markers)
VERIFY_SNIPPET = '''\
import hashlib
import hmac
import time


def verify(secret: str, timestamp: str, signature: str, body: bytes) -> bool:
    """True when a request came from claude-orchestrator, signed with `secret`, within
    the last 5 minutes. Pass the X-Orchestrator-Timestamp and X-Orchestrator-Signature
    headers and the raw body, as received (before parsing its JSON)."""
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs(time.time() - int(timestamp)) > 300:
        return False  # older than 5 minutes (a replay) or from the future
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())
'''

WAITING = Message(
    kind="event",
    severity="warning",
    title="implementor-data is waiting for you",
    text="Which schema version should the migration target? <!channel> & @everyone",
    spec_id="003-reading-goals",
    role="implementor-data",
    event_type="agent_waiting",
    fields=(("task", "T004"), ("branch", "feature/003-reading-goals/impl-data")),
    action="claude-orchestrator attach 003-reading-goals implementor-data",
    link="http://127.0.0.1:8765/features/003-reading-goals",
    event={"id": 41, "event_type": "agent_waiting", "spec_id": "003-reading-goals"},
    created_at="2026-03-01T09:30:00+00:00",
)
DIGEST = Message(
    kind="digest",
    severity="error",
    title="12 notifications for 003-reading-goals",
    spec_id="003-reading-goals",
    items=tuple(
        Item("error", f"test_result failed {n}", "003-reading-goals", "overseer", "test_result", n)
        for n in range(12)
    ),
    created_at="2026-03-01T09:31:00+00:00",
)

Build = Callable[..., Channel]


# ----------------------------------------------------------------------------- setup
def configure(repo: Path, entries: Mapping[str, str]) -> None:
    lines = [f"    {name}: {entry}" for name, entry in entries.items()]
    text = "version: 1\nnotifications:\n  channels:\n" + "\n".join(lines) + "\n"
    (repo / "orchestrator.yaml").write_text(text)


@pytest.fixture
def build(repo: Path) -> Build:
    """Build the channel ``name`` configured as ``entry`` in the repository, with ``env``
    as the environment (the whole path: config, registry, entry point, factory)."""

    def make(entry: str, env: Mapping[str, str], name: str = "team") -> Channel:
        configure(repo, {name: entry})
        with Orchestrator(repo, env=dict(env)) as orch:
            return orch.channel(name)

    return make


def slack(build: Build, receiver: Receiver) -> Channel:
    return build("{type: slack, url_env: SLACK_WEBHOOK_URL}",
                 {"SLACK_WEBHOOK_URL": receiver.url(SLACK_PATH)})  # fmt: skip


def discord(build: Build, receiver: Receiver) -> Channel:
    return build("{type: discord, url_env: DISCORD_URL, username: orchestrator}",
                 {"DISCORD_URL": receiver.url(DISCORD_PATH)})  # fmt: skip


def webhook(build: Build, receiver: Receiver) -> Channel:
    return build("{type: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET}",
                 {"HOOK_URL": receiver.url(HOOK_PATH), "HOOK_SECRET": SECRET})  # fmt: skip


HTTP_TYPES = {"slack": slack, "discord": discord, "webhook": webhook}
PATHS = {"slack": SLACK_PATH, "discord": DISCORD_PATH, "webhook": HOOK_PATH}
#: how each type names its receiver in details
WHAT = {"slack": "slack webhook", "discord": "discord webhook", "webhook": "webhook"}


def failure(channel: Channel, message: Message = WAITING, timeout: float = 5.0) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        channel.send(message, key="key-1", timeout=timeout)
    return caught.value


def verifier(snippet: str) -> Callable[[str, str, str, bytes], bool]:
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "webhook-verify snippet", "exec"), namespace)
    verify: Callable[[str, str, str, bytes], bool] = namespace["verify"]
    return verify


def readme_snippet() -> str | None:
    """The fenced python block between the README's webhook-verify markers (None: no
    markers)."""
    text = README.read_text()
    found = re.search(r"<!-- webhook-verify:start -->(.*?)<!-- webhook-verify:end -->", text, re.S)
    if found is None:
        return None
    block = re.search(r"```python\n(.*?)```", found.group(1), re.S)
    assert block is not None, "the README's webhook-verify markers hold no ```python block"
    return block.group(1)


# ------------------------------------------------------------------------ registration
def test_the_five_types_register_without_importing_what_they_send_with() -> None:
    """The hook path loads every built-in plugin: registering the channel types imports
    neither the HTTP client, TLS, apprise nor the shared HTTP module."""
    code = (
        "import sys; from claude_orchestrator.manager import PluginRegistry; "
        "names = sorted(PluginRegistry().implementations('channel')); "
        "heavy = ('http.client', 'ssl', 'urllib.request', 'apprise', 'hmac', "
        "'claude_orchestrator.notify_http'); "
        "print(names, sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.strip() == "['apprise', 'desktop', 'discord', 'slack', 'webhook'] []"


def test_default_rate_limits() -> None:
    assert notify_slack.SlackChannel.rate_limit == (1, 1.0)  # Slack: one a second
    assert notify_discord.DiscordChannel.rate_limit == (5, 10.0)
    assert DesktopChannel.rate_limit == (10, 60.0)
    assert not hasattr(notify_webhook.WebhookChannel, "rate_limit")


# ----------------------------------------------------------------------------- slack
def test_slack_sends_block_kit_with_the_idempotency_key(build: Build, receiver: Receiver) -> None:
    channel = slack(build, receiver)
    assert channel.send(WAITING, key="msg-41-team", timeout=5) == Sent(200, "HTTP 200")
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", SLACK_PATH)
    assert request.header("Idempotency-Key") == "msg-41-team"
    assert request.header("Content-Type") == "application/json; charset=utf-8"
    body = request.json()
    types = [block["type"] for block in body["blocks"]]
    assert types == ["header", "context", "section", "section", "section", "actions"]
    header, context, text, fields, action, actions = body["blocks"]
    assert header["text"] == {"type": "plain_text", "text": WAITING.title, "emoji": True}
    assert "*warning*" in context["elements"][0]["text"]
    assert "agent_waiting" in context["elements"][0]["text"]
    # the agent's text is escaped: no @channel ping, no hidden link
    assert text["text"]["text"] == (
        "Which schema version should the migration target? &lt;!channel&gt; &amp; @everyone"
    )
    assert [f["text"] for f in fields["fields"]] == [
        "*task*\nT004",
        "*branch*\nfeature/003-reading-goals/impl-data",
        "*feature*\n003-reading-goals",
        "*agent*\nimplementor-data",
    ]
    assert action["text"]["text"] == f"*To act on it:* `{WAITING.action}`"
    (button,) = actions["elements"]
    assert (button["type"], button["url"]) == ("button", WAITING.link)
    assert body["text"].startswith("[warning] implementor-data is waiting for you: Which")


def test_slack_digest_lists_its_items(build: Build, receiver: Receiver) -> None:
    slack(build, receiver).send(DIGEST, key="digest-1", timeout=5)
    body = receiver.requests[0].json()
    types = [block["type"] for block in body["blocks"]]
    assert types == ["header", "context", "section", "section"]  # no action, no link
    listing = body["blocks"][2]["text"]["text"].splitlines()
    assert listing == [
        f"• [error] test_result failed {n} (003-reading-goals, overseer)" for n in range(12)
    ]
    assert "12 notifications" in body["blocks"][1]["elements"][0]["text"]


def test_slack_does_not_put_a_backtick_command_in_code_formatting() -> None:
    body = notify_slack.payload(WAITING._replace(action="echo `id`"))
    assert body["blocks"][4]["text"]["text"] == "*To act on it:* echo `id`"


def mrkdwn_texts(body: dict[str, Any]) -> Iterator[str]:
    for block in body["blocks"]:
        parts = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "mrkdwn":
                yield part["text"]


def long_text(max_repeat: int) -> st.SearchStrategy[str]:
    """Short text of any characters, or long text that crosses the services' limits."""
    return st.one_of(
        st.text(max_size=40),
        st.builds(lambda s, n: (s or "x") * n, st.text(min_size=1, max_size=3),
                  st.integers(0, max_repeat)),
    )  # fmt: skip


ITEMS = st.builds(Item, st.sampled_from(SEVERITIES), long_text(300),
                  st.none() | st.text(max_size=20), st.none() | st.text(max_size=20))  # fmt: skip
MESSAGES = st.builds(
    Message,
    kind=st.sampled_from(("event", "digest", "escalation", "test")),
    severity=st.sampled_from(SEVERITIES),
    title=long_text(400),
    text=long_text(7000),
    spec_id=st.none() | st.text(max_size=30),
    role=st.none() | st.text(max_size=30),
    event_type=st.none() | st.sampled_from(("agent_waiting", "task_blocked")),
    fields=st.lists(st.tuples(long_text(300), long_text(1500)), max_size=30).map(tuple),
    action=st.none() | long_text(3000),
    link=st.none() | st.just("https://dash.example/features/003"),
    items=st.lists(ITEMS, max_size=60).map(tuple),
    event=st.none(),
    created_at=st.sampled_from(("", "2026-03-01T09:30:00+00:00", "yesterday")),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(message=MESSAGES)
def test_slack_payloads_keep_block_kit_limits(message: Message) -> None:
    body = notify_slack.payload(message)
    assert len(body["blocks"]) <= 50
    assert len(body["text"]) <= 3000
    header = body["blocks"][0]
    assert header["type"] == "header" and 1 <= len(header["text"]["text"]) <= 150
    for block in body["blocks"]:
        if block["type"] == "section" and "fields" in block:
            assert 1 <= len(block["fields"]) <= 10
            assert all(len(f["text"]) <= 2000 for f in block["fields"])
    for text in mrkdwn_texts(body):
        assert len(text) <= 3000
        assert "<" not in text and ">" not in text  # escaped: no mention, no link markup
    json.dumps(body)  # serialisable


# --------------------------------------------------------------------------- discord
def test_discord_sends_one_embed(build: Build, receiver: Receiver) -> None:
    discord(build, receiver).send(WAITING, key="msg-41-discord", timeout=5)
    (request,) = receiver.requests
    assert request.header("Idempotency-Key") == "msg-41-discord"
    body = request.json()
    assert body["content"] == ""
    assert body["username"] == "orchestrator"
    assert body["allowed_mentions"] == {"parse": []}
    (embed,) = body["embeds"]
    assert embed["title"] == WAITING.title
    assert embed["color"] == notify_discord.COLOURS["warning"]
    assert embed["timestamp"] == "2026-03-01T09:30:00+00:00"
    assert embed["url"] == WAITING.link
    assert embed["footer"]["text"].endswith("msg-41-discord")
    assert embed["description"].splitlines() == [
        r"Which schema version should the migration target? \<!channel\> & \@everyone",
        f"**To act on it:** `{WAITING.action}`",
    ]
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [
        ("task", "T004"),
        ("branch", "feature/003-reading-goals/impl-data"),
        ("feature", "003-reading-goals"),
        ("agent", "implementor-data"),
    ]


def test_discord_colours_differ_by_severity() -> None:
    colours = [notify_discord.payload(WAITING._replace(severity=s), "k")["embeds"][0]["color"]
               for s in SEVERITIES]  # fmt: skip
    assert len(set(colours)) == len(SEVERITIES)
    assert colours == [notify_discord.COLOURS[s] for s in SEVERITIES]


def test_discord_digest_lists_its_items() -> None:
    embed = notify_discord.payload(DIGEST, "digest-1")["embeds"][0]
    assert embed["description"].splitlines() == [
        rf"• \[error\] test\_result failed {n} \(003-reading-goals, overseer\)" for n in range(12)
    ]
    assert embed["color"] == notify_discord.COLOURS["error"]


def embed_size(embed: dict[str, Any]) -> int:
    fields = embed.get("fields", [])
    return (len(embed["title"]) + len(embed.get("description", "")) + len(embed["footer"]["text"])
            + sum(len(f["name"]) + len(f["value"]) for f in fields))  # fmt: skip


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(message=MESSAGES, key=st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                     min_size=1, max_size=60))  # fmt: skip
def test_discord_embeds_keep_discords_limits(message: Message, key: str) -> None:
    (embed,) = notify_discord.payload(message, key)["embeds"]
    assert 1 <= len(embed["title"]) <= 256
    assert len(embed.get("description", "")) <= 4096
    assert len(embed.get("fields", [])) <= 25
    for field in embed.get("fields", []):
        assert 1 <= len(field["name"]) <= 256 and 1 <= len(field["value"]) <= 1024
    assert len(embed["footer"]["text"]) <= 2048
    assert embed_size(embed) <= 6000
    if message.action and len(message.action) <= 200 and "`" not in message.action:
        assert f"`{message.action}`" in embed["description"]  # the command survives cuts


@pytest.mark.parametrize("name", ["Discord bot", "x" * 81, "   ", "clyde"])
def test_discord_refuses_a_username_discord_refuses(
    build: Build, receiver: Receiver, name: str
) -> None:
    with pytest.raises(ConfigError, match=r"notifications\.channels\.team\.username: must be"):
        build(f"{{type: discord, url_env: D, username: {json.dumps(name)}}}",
              {"D": receiver.url()})  # fmt: skip


# --------------------------------------------------------------------------- webhook
def test_webhook_body_and_signature_verify_with_the_snippet(
    build: Build, receiver: Receiver
) -> None:
    verify = verifier(VERIFY_SNIPPET)
    webhook(build, receiver).send(WAITING, key="msg-41-hook", timeout=5)
    (request,) = receiver.requests
    body = request.json()
    assert set(body) == {"id", "type", "message", "event", "sent_at"}
    assert (body["id"], body["type"], body["event"]) == ("msg-41-hook", "event", WAITING.event)
    assert request.header("Idempotency-Key") == "msg-41-hook"
    expected = WAITING.to_dict()
    del expected["event"]
    assert body["message"] == expected
    stamp, signature = (
        request.header("X-Orchestrator-Timestamp"),
        request.header("X-Orchestrator-Signature"),
    )
    assert stamp is not None and signature is not None
    assert abs(int(stamp) - time.time()) < 60
    assert body["sent_at"].endswith("+00:00")
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", signature)
    assert verify(SECRET, stamp, signature, request.body)
    # what a receiver must refuse
    assert not verify(SECRET, stamp, signature, request.body + b" ")
    assert not verify("another-secret-0123456789", stamp, signature, request.body)
    assert not verify(SECRET, str(int(stamp) + 1), signature, request.body)
    assert not verify(SECRET, "", signature, request.body)


def test_the_snippet_refuses_a_request_older_than_five_minutes() -> None:
    verify = verifier(VERIFY_SNIPPET)
    body = b'{"id":"k"}'
    for age, accepted in ((0, True), (290, True), (310, False), (-310, False)):
        stamp = int(time.time()) - age
        headers = notify_webhook.sign(SECRET, stamp, body)
        got = verify(SECRET, headers["X-Orchestrator-Timestamp"],
                     headers["X-Orchestrator-Signature"], body)  # fmt: skip
        assert got is accepted, age


def test_the_readme_snippet_verifies_real_requests(build: Build, receiver: Receiver) -> None:
    snippet = readme_snippet()
    assert snippet is not None, "README.md lost its <!-- webhook-verify:start/end --> section"
    assert snippet == VERIFY_SNIPPET  # the documented snippet is the one tested here
    verify = verifier(snippet)
    webhook(build, receiver).send(DIGEST, key="digest-7", timeout=5)
    (request,) = receiver.requests
    stamp, signature = (
        request.header("X-Orchestrator-Timestamp"),
        request.header("X-Orchestrator-Signature"),
    )
    assert stamp is not None and signature is not None
    assert verify(SECRET, stamp, signature, request.body)
    assert not verify(SECRET, stamp, signature, request.body.replace(b"digest-7", b"digest-8"))


def test_webhook_without_a_secret_is_unsigned_and_says_so(build: Build, receiver: Receiver) -> None:
    channel = build("{type: webhook, url_env: HOOK_URL}", {"HOOK_URL": receiver.url(HOOK_PATH)})
    assert (
        channel.describe() == "webhook from $HOOK_URL, unsigned (set secret_env to sign requests)"
    )
    channel.send(WAITING, key="k-unsigned", timeout=5)
    (request,) = receiver.requests
    assert request.header("X-Orchestrator-Signature") is None
    assert request.header("Idempotency-Key") == "k-unsigned"


# ---------------------------------------------------------------- status, Retry-After
@pytest.mark.parametrize("kind", sorted(HTTP_TYPES))
@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "sent"), (202, "sent"), (204, "sent"), (408, "retry"), (429, "retry"),
     (500, "retry"), (502, "retry"), (503, "retry"), (400, "final"), (401, "final"),
     (403, "final"), (404, "final"), (410, "final"), (301, "final"), (307, "final")],
)  # fmt: skip
def test_each_status_is_classified(
    build: Build, receiver: Receiver, kind: str, status: int, outcome: str
) -> None:
    channel = HTTP_TYPES[kind](build, receiver)
    headers = (("Location", receiver.url("/elsewhere")),) if 300 <= status < 400 else ()
    receiver.script(Reply(status, b"" if status == 204 else b"nope", headers))
    if outcome == "sent":
        assert channel.send(WAITING, key="k", timeout=5).status == status
    else:
        failed = failure(channel)
        assert (failed.status, failed.retryable) == (status, outcome == "retry")
        assert failed.detail.startswith(f"{WHAT[kind]}: HTTP {status}")
    assert len(receiver.requests) == 1  # a redirect is not followed


@given(status=st.integers(100, 599))
def test_classification_of_every_status(status: int) -> None:
    if 200 <= status < 300:
        assert classify(status, "OK", None, b"", what="x") == Sent(status, f"HTTP {status}")
        return
    with pytest.raises(DeliveryFailed) as caught:
        classify(status, "Reason", "12", b"", what="x")
    retryable = status in (408, 429) or status >= 500
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == (12.0 if retryable else None)


def test_a_429_says_how_long_to_wait(build: Build, receiver: Receiver) -> None:
    channel = slack(build, receiver)
    receiver.script(Reply.retry_after("7"), Reply.retry_after("soon", 503))
    assert failure(channel).retry_after == 7.0
    assert failure(channel).retry_after is None  # garbage: no opinion
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    receiver.script(Reply.retry_after(later))
    waited = failure(channel).retry_after
    assert waited is not None and 110 <= waited <= 121


NOW = 1_780_000_000.0  # 2026-05-28


@given(st.integers(0, 10**20 - 1), st.sampled_from(("", " ", "\t")))
def test_retry_after_delta_seconds(seconds: int, pad: str) -> None:
    expected = min(float(seconds), RETRY_AFTER_MAX)
    assert parse_retry_after(f"{pad}{seconds}{pad}", NOW) == expected


def _imf(ts: int) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _rfc850(ts: int) -> str:
    return time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(ts))


def _asctime(ts: int) -> str:
    return time.asctime(time.gmtime(ts))


@given(
    offset=st.integers(-40 * 365 * 86400, 40 * 365 * 86400),
    form=st.sampled_from((_imf, _rfc850, _asctime)),
)
def test_retry_after_http_dates(offset: int, form: Callable[[int], str]) -> None:
    when = int(NOW) + offset
    expected = min(max(float(when) - NOW, 0.0), RETRY_AFTER_MAX)
    assert parse_retry_after(form(when), NOW) == expected


@given(
    st.one_of(
        st.text(st.characters(blacklist_categories=("Nd",)), max_size=40),  # no digit at all
        st.builds("{}{}".format, st.integers(0, 10**6), st.sampled_from(
            ("s", ".5", "e3", " seconds", "ms", "-"))),
        st.integers(1, 10**6).map(lambda n: f"-{n}"),
        st.just("Sun, 31 Feb 2026 08:49:37 GMT"),  # no such day
        st.just("Sun, 06 Nov 1994 25:49:37 GMT"),  # no such hour
        st.just("Sun, 06 Nov 1994 08:49:37 CET"),  # HTTP dates are GMT
    )
)  # fmt: skip
def test_retry_after_garbage_is_none(value: str) -> None:
    assert parse_retry_after(value, NOW) is None


# ------------------------------------------------------------------------ timeouts
def test_a_hanging_receiver_times_out_within_the_timeout(build: Build, receiver: Receiver) -> None:
    channel = webhook(build, receiver)
    receiver.script(Reply.hang(60))
    started = time.monotonic()
    failed = failure(channel, timeout=0.5)
    assert time.monotonic() - started < 5  # bounded by the timeout, not by the hang
    assert failed.retryable and failed.status is None
    assert failed.detail == "webhook: no complete answer within 0.5 s"


def test_a_receiver_that_trickles_its_answer_is_cut_off(build: Build, receiver: Receiver) -> None:
    """The timeout bounds the whole exchange, not each read (a byte every 0.2 s would
    keep a per-read timeout waiting for 20 s); the status has come, so it decides."""
    channel = slack(build, receiver)
    receiver.script(Reply(200, b"x" * 100, trickle=0.2), Reply(503, b"busy" * 25, trickle=0.2))
    started = time.monotonic()
    assert channel.send(WAITING, key="k", timeout=1.0) == Sent(200, "HTTP 200")
    assert time.monotonic() - started < 5
    failed = failure(channel, timeout=1.0)
    assert time.monotonic() - started < 10
    assert (failed.status, failed.retryable) == (503, True)


def test_a_refused_or_dropped_connection_is_retryable(build: Build, receiver: Receiver) -> None:
    channel = discord(build, receiver)
    receiver.script(Reply(drop=True))
    dropped = failure(channel)
    assert dropped.retryable and dropped.detail.startswith("discord webhook: ")
    port = receiver.port
    receiver.close()
    env = {"DISCORD_URL": f"http://127.0.0.1:{port}{DISCORD_PATH}"}
    refused = failure(build("{type: discord, url_env: DISCORD_URL}", env))
    assert refused.retryable
    assert refused.detail == "discord webhook: connection failed (Connection refused)"


# ------------------------------------------------------------------------ secrets
@pytest.mark.parametrize("kind", sorted(HTTP_TYPES))
def test_secrets_never_reach_a_detail_or_describe(
    build: Build, receiver: Receiver, kind: str
) -> None:
    """Not in describe(), nor in any failure's detail: one whose receiver echoes the
    secret path and the signing secret back, a timeout, a refused connection."""
    channel = HTTP_TYPES[kind](build, receiver)
    url, path = receiver.url(PATHS[kind]), PATHS[kind]
    assert url in channel.secrets
    if kind == "webhook":
        assert SECRET in channel.secrets
    secrets = [*channel.secrets, path.rsplit("/", 1)[-1]]  # the token alone, too
    echoed = ("no such hook " + " ".join(secrets)).encode()
    receiver.script(Reply(404, echoed), Reply(500, echoed), Reply.hang(30))
    details = [failure(channel).detail, failure(channel).detail]
    details.append(failure(channel, timeout=0.3).detail)
    receiver.close()
    details.append(failure(channel).detail)
    assert details[0].startswith(f"{WHAT[kind]}: HTTP 404 Not Found: no such hook ***")
    for text in [*details, channel.describe()]:
        for secret in secrets:
            assert secret not in text, (text, secret)


# ------------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    ("entry", "env", "message"),
    [
        ("{type: slack}", {}, r"team\.url_env: missing: name the environment variable"),
        ("{type: slack, url_env: not-a-name}", {}, r"url_env: must be an environment variable"),
        ("{type: slack, url_env: [A, B]}", {}, r"url_env: must be an environment variable"),
        ("{type: slack, url_env: SLACK_URL}", {}, r"url_env: \$SLACK_URL is not set: export "
         r"SLACK_URL=<the Slack incoming-webhook URL>"),
        ("{type: slack, url_env: SLACK_URL}", {"SLACK_URL": "  "}, r"\$SLACK_URL is not set"),
        ("{type: discord, url_env: D}", {"D": "ftp://example.com/s3cr3t"},
         r"url_env: \$D does not hold an http:// or https:// URL"),
        ("{type: discord, url_env: D}", {"D": "https://example.com/a s3cr3t"},
         r"\$D does not hold an http"),
        ("{type: discord, url_env: D}", {"D": "https://user:s3cr3t@example.com/x"},
         r"\$D does not hold an http"),
        ("{type: discord, url_env: D}", {"D": "https://example.com:99999/s3cr3t"},
         r"\$D does not hold an http"),
        ("{type: discord, url_env: D}", {"D": "s3cr3t"}, r"\$D does not hold an http"),
        ("{type: webhook, url_env: U, secret_env: S}", {"U": "http://127.0.0.1/x"},
         r"secret_env: \$S is not set"),
        ("{type: webhook, url_env: U, secret_env: S}", {"U": "http://127.0.0.1/x", "S": "s3cr3t"},
         r"secret_env: \$S must hold at least 16 characters"),
        ("{type: slack, url_env: U, channel: general}", {"U": "http://127.0.0.1/x"},
         r"team\.channel: a slack channel has no such key \(its keys: url_env\)"),
        ("{type: desktop, sound: loud}", {}, r"team\.sound: a desktop channel has no such key"),
        ("{type: apprise}", {}, r"team\.urls_env: missing"),
        ("{type: apprise, urls_env: A}", {"A": "json://127.0.0.1/x s3cr3t://nothing"},
         r"urls_env: \$A: URL 2 of 2 is not one apprise can use"),
    ],
)  # fmt: skip
def test_a_bad_key_or_variable_names_the_key_and_the_variable_not_the_value(
    build: Build, entry: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(entry, env)
    text = str(caught.value)
    assert re.search(message, text), text
    assert "notifications.channels.team." in text
    assert "s3cr3t" not in text and "\n" not in text


# ---------------------------------------------------------------------------- desktop
FAKE_PROGRAM = """#!{python}
import json, os, subprocess, sys, time
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
mode = os.environ.get("FAKE_MODE", "")
if mode == "fail":
    sys.stderr.write("Cannot connect to the notification daemon\\nsecond line\\n")
    sys.exit(1)
if mode == "hang":  # a child that holds stderr open too
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(60)
"""


@pytest.fixture
def desktop_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """An environment whose PATH holds only a stand-in ``notify-send`` and ``osascript``
    that record their arguments (one JSON list a line) in ``FAKE_LOG``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("notify-send", "osascript"):
        program = bin_dir / name
        program.write_text(FAKE_PROGRAM.format(python=sys.executable))
        program.chmod(0o755)

    def env(mode: str = "") -> dict[str, str]:
        return {"PATH": str(bin_dir), "FAKE_LOG": str(tmp_path / "argv.log"), "FAKE_MODE": mode}

    return env


def recorded(env: Mapping[str, str]) -> list[list[str]]:
    return [json.loads(line) for line in Path(env["FAKE_LOG"]).read_text().splitlines()]


def test_desktop_runs_notify_send_with_an_argument_list(
    build: Build, desktop_env: Callable[..., dict[str, str]]
) -> None:
    env = desktop_env()
    channel = build("{type: desktop}", env)
    assert channel.describe() == "desktop notification (notify-send)"
    assert channel.secrets == ()
    tricky = WAITING._replace(title="--help; $(rm -rf ~) `id`", text="a & b <b>bold</b>")
    assert channel.send(tricky, key="k", timeout=10) == Sent(None, "notify-send")
    channel.send(DIGEST._replace(severity="info"), key="k2", timeout=10)
    first, second = recorded(env)
    assert first[:3] == [f"--app-name={APP_NAME}", "--urgency=normal", "--"]
    assert first[3] == "--help; $(rm -rf ~) `id`"  # after "--": never an option
    assert first[4].splitlines()[0] == "a &amp; b &lt;b&gt;bold&lt;/b&gt;"
    assert f"→ {WAITING.action}" in first[4]
    assert second[1] == "--urgency=low"
    assert "• [error] test_result failed 0 (003-reading-goals, overseer)" in second[4]


@pytest.mark.parametrize(("severity", "urgency"),
                         [("info", "low"), ("warning", "normal"), ("error", "critical"),
                          ("critical", "critical")])  # fmt: skip
def test_desktop_urgency_by_severity(
    desktop_env: Callable[..., dict[str, str]], severity: str, urgency: str
) -> None:
    env = desktop_env()
    DesktopChannel(env).send(WAITING._replace(severity=severity), key="k", timeout=10)
    assert recorded(env)[0][1] == f"--urgency={urgency}"


def test_desktop_on_macos_passes_the_text_as_arguments_never_as_script(
    desktop_env: Callable[..., dict[str, str]],
) -> None:
    env = desktop_env()
    channel = DesktopChannel(env, platform="darwin")
    assert channel.describe() == "desktop notification (osascript)"
    title = 'done" & do shell script "touch /tmp/pwned'
    channel.send(WAITING._replace(title=title), key="k", timeout=10)
    (argv,) = recorded(env)
    scripts = argv[1:6:2]
    assert argv[0:6:2] == ["-e", "-e", "-e"]
    assert scripts[0] == "on run argv" and scripts[-1] == "end run"
    assert not any(title in s or "waiting" in s for s in scripts)
    assert argv[6:8] == [APP_NAME, title]
    assert argv[8].startswith("Which schema version")


def test_desktop_failures(desktop_env: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    failed = failure(DesktopChannel(desktop_env("fail")))
    assert failed.retryable
    assert failed.detail == (
        "desktop: notify-send exited with status 1: Cannot connect to the notification daemon"
    )
    started = time.monotonic()
    hung = failure(DesktopChannel(desktop_env("hang")), timeout=1.0)
    assert time.monotonic() - started < 10  # the program and its child were killed
    assert hung.retryable and hung.detail == "desktop: notify-send did not finish within 1 s"
    missing = failure(DesktopChannel({"PATH": str(tmp_path / "nothing")}))
    assert not missing.retryable
    assert missing.detail.startswith("desktop: notify-send is not on PATH: install libnotify")


# ---------------------------------------------------------------------------- apprise
def test_apprise_sends_to_every_url(build: Build, receiver: Receiver, capfd: Any) -> None:
    urls = f"json://127.0.0.1:{receiver.port}/first-s3cr3t, json://127.0.0.1:{receiver.port}/two"
    channel = build("{type: apprise, urls_env: APPRISE_URLS}", {"APPRISE_URLS": urls})
    assert channel.describe() == "apprise, 2 services from $APPRISE_URLS"
    assert set(channel.secrets) == {u.strip() for u in urls.split(",")}
    assert channel.send(WAITING, key="k", timeout=10) == Sent(
        None, "apprise: 2 of 2 services notified"
    )
    requests = sorted(receiver.requests, key=lambda r: r.path)
    assert [r.path for r in requests] == ["/first-s3cr3t", "/two"]
    body = requests[0].json()
    assert (body["title"], body["type"]) == (WAITING.title, "warning")
    assert body["message"].splitlines()[0] == WAITING.text
    assert f"→ {WAITING.action}" in body["message"]
    assert "s3cr3t" not in "".join(capfd.readouterr())


def test_apprise_failure_is_retryable_and_secret_free(
    build: Build, receiver: Receiver, capfd: Any
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/s3cr3t-path"
    channel = build("{type: apprise, urls_env: A}", {"A": url})
    receiver.script(500)
    failed = failure(channel, message=DIGEST._replace(severity="critical"))
    assert failed.retryable
    assert failed.detail == "apprise: 1 of 1 services failed"
    assert receiver.requests[0].json()["type"] == "failure"
    assert "s3cr3t" not in failed.detail + channel.describe() + "".join(capfd.readouterr())


APPRISE_MISSING = """
import sys
sys.modules["apprise"] = None  # what an install without the extra imports
from claude_orchestrator import Orchestrator
from claude_orchestrator.errors import ConfigError
with Orchestrator(sys.argv[1], env={"A": "json://127.0.0.1/x"}) as orch:
    try:
        orch.channel("team")
    except ConfigError as exc:
        print(exc)
"""


def test_apprise_not_installed_says_how_to_install_it(repo: Path) -> None:
    configure(repo, {"team": "{type: apprise, urls_env: A}"})
    proc = subprocess.run([sys.executable, "-c", APPRISE_MISSING, str(repo)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert proc.stdout.strip().endswith(
        "notifications.channels.team.type: the apprise channel type needs the apprise "
        "library: pip install 'claude-orchestrator-toolkit[apprise]'"
    )
