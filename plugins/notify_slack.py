"""The built-in ``slack`` channel type: messages to a Slack incoming webhook.

Configured as ``{type: slack, url_env: SLACK_WEBHOOK_URL}``: the variable holds the
webhook URL (a secret: never in the config, never in a log line). A message is Block
Kit: a header (the title), a context line (severity, event type), a section (the text,
or a digest's items), the fields (feature, agent, task, ...), the command to act on it
in code formatting and, when the message has a link, a button to the dashboard; ``text``
is the fallback Slack shows in notifications. Text from agents is escaped (``&``, ``<``,
``>``), so an agent's question cannot ping ``@channel`` or hide a link. Channels of this
type send at most one message a second by default: Slack's limit for incoming webhooks.

Registering costs nothing: the HTTP code is imported when a channel is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

if TYPE_CHECKING:
    from claude_orchestrator.notify_http import Endpoint
    from claude_orchestrator.notify_message import Message, Sent

#: Block Kit's limits (characters; fields per section)
HEADER_MAX, SECTION_MAX, FIELD_MAX, FIELDS_MAX, BUTTON_URL_MAX = 150, 3000, 2000, 10, 3000
APP = "claude-orchestrator"
_EMOJI = {"info": ":information_source:", "warning": ":warning:", "error": ":x:",
          "critical": ":rotating_light:"}  # fmt: skip


@hookimpl(trylast=True)
def register_channels(register: Register) -> None:
    register("slack", SlackChannel.from_context,
             description="Slack incoming webhook (Block Kit); url_env names its URL")  # fmt: skip


class SlackChannel:
    """:param endpoint: the webhook URL, read from the variable ``url_env`` names."""

    rate_limit = (1, 1.0)

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    @classmethod
    def from_context(cls, context: PluginContext) -> SlackChannel:
        from claude_orchestrator.notify_http import check_keys, webhook_url

        check_keys(context.options, ("url_env",), "slack")
        holds = "the Slack incoming-webhook URL"
        return cls(webhook_url(context.options, "url_env", context.env, holds=holds))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._endpoint.secrets

    def describe(self) -> str:
        return f"slack webhook from ${self._endpoint.variable}"

    def send(self, message: Message, *, key: str, timeout: float) -> Sent:
        from claude_orchestrator.notify_http import dumps, post_json

        return post_json(self._endpoint, dumps(payload(message)), key=key, timeout=timeout,
                         what="slack webhook")  # fmt: skip


def escape(text: str) -> str:
    """Text for Slack's mrkdwn: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def payload(message: Message) -> dict[str, Any]:
    """The webhook's JSON body for one message."""
    from claude_orchestrator.notify_http import clip

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(clip(message.title.strip() or APP, HEADER_MAX))},
        {"type": "context", "elements": [_mrkdwn(clip(_context_line(message), SECTION_MAX))]},
    ]
    body = _body(message)
    if body:
        blocks.append({"type": "section", "text": _mrkdwn(body)})
    fields = _fields(message)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if message.action:
        blocks.append({"type": "section", "text": _mrkdwn(_action(message.action))})
    if message.link and len(message.link) <= BUTTON_URL_MAX:
        button = {"type": "button", "text": _plain("Open in the dashboard"), "url": message.link}
        blocks.append({"type": "actions", "elements": [button]})
    fallback = f"[{message.severity}] {message.title}" + (
        f": {message.text}" if message.text else ""
    )
    return {"text": clip(escape(fallback), SECTION_MAX), "blocks": blocks}


def _context_line(message: Message) -> str:
    parts = [f"{_EMOJI.get(message.severity, '')} *{escape(message.severity)}*".strip()]
    parts += [escape(p) for p in (message.event_type, message.created_at) if p]
    if message.items:
        parts.append(f"{len(message.items)} notifications")
    return " · ".join(parts)


def _body(message: Message) -> str:
    """The section's text: the message's, then a digest's items."""
    from claude_orchestrator.notify_http import fit_lines, item_line

    lines = [f"• {escape(item_line(item))}" for item in message.items]
    return fit_lines(escape(message.text), lines, SECTION_MAX)


def _fields(message: Message) -> list[dict[str, str]]:
    from claude_orchestrator.notify_http import clip, display_fields

    shown = display_fields(message)[:FIELDS_MAX]
    return [_mrkdwn(clip(f"*{escape(k)}*\n{escape(v)}", FIELD_MAX)) for k, v in shown]


def _action(command: str) -> str:
    """The command in code formatting (plain when a backtick would end the code span)."""
    from claude_orchestrator.notify_http import clip

    shown = clip(escape(command), SECTION_MAX - 40)
    return f"*To act on it:* `{shown}`" if "`" not in shown else f"*To act on it:* {shown}"
