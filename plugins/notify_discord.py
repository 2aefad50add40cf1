"""The built-in ``discord`` channel type: messages to a Discord webhook.

Configured as ``{type: discord, url_env: DISCORD_WEBHOOK_URL}`` (the variable holds the
webhook URL, a secret), optionally ``username: <the name shown as the sender>``. A message
is one embed, with an empty ``content``: the title, a description (the text, a digest's
items, the command to act on it in code formatting), the colour of its severity, the
fields (feature, agent, task, ...), the idempotency key in the footer and the message's
time. Discord's limits are kept by cutting (title 256 characters, description 4096, 25
fields of 256 and 1024, 6000 in all); text is markdown-escaped and ``allowed_mentions`` is
empty, so an agent's text pings nobody. Channels of this type send at most 5 messages in
10 seconds by default (Discord allows about 5 per 2 seconds and 30 a minute per webhook).

Registering costs nothing: the HTTP code is imported when a channel is built.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

if TYPE_CHECKING:
    from claude_orchestrator.notify_http import Endpoint
    from claude_orchestrator.notify_message import Message, Sent

#: an embed's colour by severity (blue, yellow, red, dark red)
COLOURS = {"info": 0x3498DB, "warning": 0xF1C40F, "error": 0xE74C3C, "critical": 0x8B0000}
#: Discord's limits (characters; fields per embed)
TITLE_MAX, DESCRIPTION_MAX, FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX = 256, 4096, 25, 256, 1024
FOOTER_MAX, EMBED_MAX, USERNAME_MAX = 2048, 6000, 80
_MARKDOWN = re.compile(r"([\\*_~`|\[\]()<>#@])")


@hookimpl(trylast=True)
def register_channels(register: Register) -> None:
    register("discord", DiscordChannel.from_context,
             description="Discord webhook (one embed); url_env names its URL")  # fmt: skip


class DiscordChannel:
    """:param endpoint: the webhook URL; :param username: the sender's name, or None for
    the webhook's own."""

    rate_limit = (5, 10.0)

    def __init__(self, endpoint: Endpoint, username: str | None = None) -> None:
        self._endpoint = endpoint
        self._username = username

    @classmethod
    def from_context(cls, context: PluginContext) -> DiscordChannel:
        from claude_orchestrator.notify_http import check_keys, webhook_url

        check_keys(context.options, ("url_env", "username"), "discord")
        holds = "the Discord webhook URL"
        endpoint = webhook_url(context.options, "url_env", context.env, holds=holds)
        return cls(endpoint, _username(context.options.get("username")))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._endpoint.secrets

    def describe(self) -> str:
        return f"discord webhook from ${self._endpoint.variable}"

    def send(self, message: Message, *, key: str, timeout: float) -> Sent:
        from claude_orchestrator.notify_http import dumps, post_json

        body = dumps(payload(message, key, self._username))
        return post_json(self._endpoint, body, key=key, timeout=timeout, what="discord webhook")


def _username(value: object) -> str | None:
    from claude_orchestrator.notify_message import ChannelOptionError

    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not 1 <= len(value.strip()) <= USERNAME_MAX
        or any(word in value.lower() for word in ("discord", "clyde"))
    ):
        raise ChannelOptionError(
            "username", f"must be a name of 1 to {USERNAME_MAX} characters without the "
            "words 'discord' or 'clyde' (Discord refuses those), e.g. username: orchestrator"
        )  # fmt: skip
    return value.strip()


def escape(text: str) -> str:
    """Text with Discord's markdown characters escaped."""
    return _MARKDOWN.sub(r"\\\1", text)


def payload(message: Message, key: str, username: str | None = None) -> dict[str, Any]:
    """The webhook's JSON body for one message."""
    from claude_orchestrator.notify_http import clip, display_fields, timestamp

    title = clip(message.title.strip() or "claude-orchestrator", TITLE_MAX)
    footer = clip(f"claude-orchestrator · {message.severity} · {key}", FOOTER_MAX)
    room = EMBED_MAX - len(title) - len(footer)
    wanted = len(_description(message, DESCRIPTION_MAX))
    fields = _fit(display_fields(message), room - min(wanted, DESCRIPTION_MAX // 2))
    room -= sum(len(f["name"]) + len(f["value"]) for f in fields)
    description = _description(message, min(DESCRIPTION_MAX, room))
    embed: dict[str, Any] = {
        "title": title,
        "color": COLOURS.get(message.severity, COLOURS["info"]),
        "footer": {"text": footer},
        "timestamp": timestamp(message),
    }
    if description:
        embed["description"] = description
    if fields:
        embed["fields"] = fields
    if message.link:
        embed["url"] = message.link
    body: dict[str, Any] = {"content": "", "embeds": [embed], "allowed_mentions": {"parse": []}}
    if username is not None:
        body["username"] = username
    return body


def _description(message: Message, limit: int) -> str:
    """The text, a digest's items and the command to act on it (kept whole)."""
    from claude_orchestrator.notify_http import clip, fit_lines, item_line

    tail = ""
    if message.action:
        command = clip(message.action, DESCRIPTION_MAX // 2)
        tail = "**To act on it:** " + (f"`{command}`" if "`" not in command else escape(command))
    lines = [f"• {escape(item_line(item))}" for item in message.items]
    return fit_lines(escape(message.text), lines, limit, tail)


def _fit(shown: list[tuple[str, str]], room: int) -> list[dict[str, Any]]:
    """The fields that fit in ``room`` characters, each cut to Discord's limits."""
    from claude_orchestrator.notify_http import clip

    fields: list[dict[str, Any]] = []
    for label, value in shown[:FIELDS_MAX]:
        name, text = clip(escape(label), FIELD_NAME_MAX), clip(escape(value), FIELD_VALUE_MAX)
        if len(name) + len(text) > room:
            break
        room -= len(name) + len(text)
        fields.append({"name": name, "value": text, "inline": True})
    return fields
