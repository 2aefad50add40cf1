"""What a notification channel is given to send, and what it says back.

The notification pipeline (:mod:`claude_orchestrator.notify_route`,
:mod:`claude_orchestrator.notify_send`) turns events into :class:`Message` records, queues
them in the store, and hands each to its channel's :meth:`Channel.send
<claude_orchestrator.protocols.Channel.send>`. A channel type only renders and transports:
filters, once-per-state-change, digests, quiet hours, rate limits, retries, leases and
dead letters are the pipeline's. A channel says how a send went by returning
:class:`Sent` or raising :class:`DeliveryFailed`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .errors import ConfigError

#: message kinds
EVENT, DIGEST, ESCALATION, TEST = "event", "digest", "escalation", "test"
SEVERITIES = ("info", "warning", "error", "critical")


class Item(NamedTuple):
    """One message folded into a digest."""

    severity: str
    title: str
    spec_id: str | None = None
    role: str | None = None
    event_type: str | None = None
    event_id: int | None = None


class Message(NamedTuple):
    """One notification, as every channel type renders it.

    :param title: one line: who and what (``implementor-data is waiting for you``).
    :param text: the detail: the agent's question, the blocker's reason, the files.
    :param fields: (label, value) pairs shown beside it: feature, agent, task, branch.
    :param action: the command that acts on it (``claude-orchestrator attach ...``).
    :param link: the dashboard's page for it (``notifications.link``), or None.
    :param items: a digest's messages (empty for the other kinds).
    :param event: the event it is about, as ``--json`` shows events (None for a digest
        or a test message).
    :param created_at: when it happened, ISO 8601 UTC.
    """

    kind: str
    severity: str
    title: str
    text: str = ""
    spec_id: str | None = None
    role: str | None = None
    event_type: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    action: str | None = None
    link: str | None = None
    items: tuple[Item, ...] = ()
    event: dict[str, Any] | None = None
    created_at: str = ""

    def to_json(self) -> str:
        import json  # not at import: the hook path imports this module (errors' names)

        data = self._asdict()
        data["fields"] = [list(f) for f in self.fields]
        data["items"] = [i._asdict() for i in self.items]
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Message:
        import json

        data = json.loads(text)
        data["fields"] = tuple((str(k), str(v)) for k, v in data.get("fields", ()))
        data["items"] = tuple(Item(**i) for i in data.get("items", ()))
        return cls(**{k: v for k, v in data.items() if k in cls._fields})

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (what the ``webhook`` channel posts as ``message``)."""
        import json

        data: dict[str, Any] = json.loads(self.to_json())
        return data


class Sent(NamedTuple):
    """A send that succeeded: the HTTP status (None when there was none) and a short note."""

    status: int | None = None
    detail: str = ""


class DeliveryFailed(Exception):
    """A send that did not succeed.

    :param detail: one line, without the channel's URL or any secret.
    :param retryable: True for timeouts, connection errors, 408, 429 and 5xx (retried with
        backoff); False for a permanent failure (any other 4xx: dead-lettered at once).
    :param status: the HTTP status, when there was an answer.
    :param retry_after: seconds the receiver asked to wait (``Retry-After``), or None.
    """

    def __init__(
        self,
        detail: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class ChannelOptionError(ConfigError):
    """A channel's own key is wrong or missing; the pipeline reports it as
    ``notifications.channels.<name>.<key>: <text>`` (a configuration error)."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(f"{key}: {text}")
        self.key = key
        self.text = text
