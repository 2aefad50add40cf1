"""The built-in ``webhook`` channel type: a signed JSON POST, for anything else (n8n, a
bridge to PagerDuty, a team's own bot).

Configured as ``{type: webhook, url_env: MY_HOOK_URL, secret_env: MY_HOOK_SECRET}``: both
variables hold secrets. The body is one JSON object (compact, keys sorted)::

    {"id": "<idempotency key>", "type": "event|digest|escalation|test",
     "message": {...Message fields...}, "event": {...the event...} | null,
     "sent_at": "2026-01-01T12:00:00+00:00"}

With ``secret_env`` each request is signed the GitHub/Stripe way: the headers
``X-Orchestrator-Timestamp: <Unix seconds>`` and ``X-Orchestrator-Signature:
sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, so a receiver checks who sent it
and refuses a replayed old request (the README's snippet verifies both). Every request
carries ``Idempotency-Key`` (the same as ``id``): a message sent again after a sender was
killed mid-delivery carries the same one. Without ``secret_env`` requests are unsigned
(``describe()`` says so).

Registering costs nothing: the HTTP code is imported when a channel is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

if TYPE_CHECKING:
    from claude_orchestrator.notify_http import Endpoint
    from claude_orchestrator.notify_message import Message, Sent

TIMESTAMP_HEADER = "X-Orchestrator-Timestamp"
SIGNATURE_HEADER = "X-Orchestrator-Signature"


@hookimpl(trylast=True)
def register_channels(register: Register) -> None:
    register("webhook", WebhookChannel.from_context,
             description="JSON POST signed with HMAC-SHA256; url_env and secret_env name "
             "the URL and the secret")  # fmt: skip


class WebhookChannel:
    """:param endpoint: the receiver's URL; :param secret: the signing secret (None:
    unsigned); :param secret_variable: the variable it came from."""

    def __init__(
        self, endpoint: Endpoint, secret: str | None = None, secret_variable: str | None = None
    ) -> None:
        self._endpoint = endpoint
        self._secret = secret
        self._secret_variable = secret_variable

    @classmethod
    def from_context(cls, context: PluginContext) -> WebhookChannel:
        from claude_orchestrator.notify_http import check_keys, hmac_secret, webhook_url

        options = context.options
        check_keys(options, ("url_env", "secret_env"), "webhook")
        holds = "the receiver's URL"
        endpoint = webhook_url(options, "url_env", context.env, holds=holds)
        secret = hmac_secret(options, "secret_env", context.env)
        return cls(endpoint, secret, str(options["secret_env"]) if secret else None)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (*self._endpoint.secrets, *([self._secret] if self._secret else []))

    def describe(self) -> str:
        signed = (
            f"signed with ${self._secret_variable}"
            if self._secret_variable
            else "unsigned (set secret_env to sign requests)"
        )
        return f"webhook from ${self._endpoint.variable}, {signed}"

    def send(self, message: Message, *, key: str, timeout: float) -> Sent:
        import time

        from claude_orchestrator.notify_http import dumps, post_json

        now = time.time()
        body = dumps(payload(message, key, now))
        headers = {} if self._secret is None else sign(self._secret, int(now), body)
        return post_json(self._endpoint, body, key=key, timeout=timeout, what="webhook",
                         headers=headers, secrets=self.secrets)  # fmt: skip


def payload(message: Message, key: str, now: float) -> dict[str, Any]:
    """The JSON body: the message (without its event, which is beside it)."""
    from datetime import UTC, datetime

    data = message.to_dict()
    data.pop("event", None)
    sent_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    return {"id": key, "type": message.kind, "message": data, "event": message.event,
            "sent_at": sent_at}  # fmt: skip


def sign(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers for ``body`` sent at ``timestamp`` (Unix seconds)."""
    import hashlib
    import hmac

    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"sha256={digest}"}
