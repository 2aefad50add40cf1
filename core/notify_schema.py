"""The JSON Schema of ``notifications:`` in ``orchestrator.yaml`` (part of
:data:`claude_orchestrator.config_schema.SCHEMA`).

Structure only. A channel's own keys (``url_env``, ``secret_env``, ...) are checked by its
channel type when ``notify run`` or ``notify test`` builds it; ``config_parse`` refuses a
URL or secret written into the file (:func:`claude_orchestrator.notify_config.check`).
"""

from __future__ import annotations

from typing import Any

#: a channel's name (``notifications.channels.<name>``)
CHANNEL_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
CHANNEL_NAME_DESC = (
    "a channel name: lowercase letters, digits, '_' and '-', at most 40 characters "
    "(e.g. team-slack)"
)
#: an event type a channel may select (``*``: every notifiable one)
_EVENT_TYPE = r"^(\*|[a-z][a-z0-9_]{0,63})$"
SEVERITIES = ("info", "warning", "error", "critical")
_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
#: an environment variable's name (``url_env``, ``secret_env``, ...)
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


def _number(what: str, low: float, high: float, default: object) -> dict[str, Any]:
    return {
        "type": "number",
        "minimum": low,
        "maximum": high,
        "description": f"{what}, from {low} to {high} (default {default})",
    }


_SEVERITY = {
    "enum": list(SEVERITIES),
    "description": "a severity: info, warning, error or critical",
}

CHANNEL: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "description": "one place notifications go: its type, what it receives, and the "
    "type's own keys (url_env, secret_env, ...)",
    "propertyNames": {
        "pattern": r"^[a-z][a-z0-9_]{0,39}$",
        "description": "a key: lowercase letters, digits and '_'",
    },
    "properties": {
        "type": {
            "type": "string",
            "pattern": r"^[a-z0-9][a-z0-9_.-]{0,39}$",
            "description": "a channel type: slack, discord, webhook, desktop, apprise or "
            "one a plugin registers",
        },
        "events": {
            "type": "array",
            "uniqueItems": True,
            "maxItems": 100,
            "items": {
                "type": "string",
                "pattern": _EVENT_TYPE,
                "description": "an event type (e.g. task_blocked), or * for every one",
            },
            "description": "the event types this channel receives (default: task_blocked, "
            "conflict_detected, test_result, pr_opened, pr_merged, agent_waiting, "
            "agent_exited, guard_decision, budget_warning, budget_exceeded)",
        },
        "features": {
            "type": "array",
            "uniqueItems": True,
            "maxItems": 100,
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100,
                "pattern": r"^[A-Za-z0-9*?][A-Za-z0-9._*?-]*$",
                "description": "a spec id or a glob of them (e.g. 003-*)",
            },
            "description": "the features whose events this channel receives (default: all)",
        },
        "min_severity": {**_SEVERITY, "description": "the least severity sent (default info)"},
        "quiet_hours": {
            "type": "object",
            "additionalProperties": False,
            "required": ["start", "end"],
            "description": "a daily time range in which messages wait (and go as one "
            "digest when it ends), except those of severity `allow` or above",
            "properties": {
                "start": {"type": "string", "pattern": _CLOCK, "description": "HH:MM"},
                "end": {"type": "string", "pattern": _CLOCK, "description": "HH:MM"},
                "timezone": {
                    "type": "string",
                    "pattern": r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$",
                    "description": "an IANA time zone, e.g. Europe/Berlin (default: "
                    "the machine's local time)",
                },
                "allow": {
                    **_SEVERITY,
                    "description": "the least severity sent during quiet hours (default critical)",
                },
            },
        },
        "rate_limit": {
            "type": "object",
            "additionalProperties": False,
            "required": ["count", "per"],
            "description": "at most `count` messages per `per` seconds on this channel "
            "(default: the channel type's, e.g. slack 1 per second)",
            "properties": {
                "count": {"type": "integer", "minimum": 1, "maximum": 10000},
                "per": _number("seconds", 0.1, 86400, "1"),
            },
        },
    },
    "additionalProperties": {
        "type": ["string", "number", "boolean", "array"],
        "maxLength": 1000,
        "maxItems": 100,
        "items": {"type": "string", "maxLength": 1000},
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "where the person hears about what needs them: channels (Slack, "
    "Discord, webhooks, desktop, apprise) and how often",
    "properties": {
        "channels": {
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"pattern": CHANNEL_NAME, "description": CHANNEL_NAME_DESC},
            "additionalProperties": CHANNEL,
            "description": "channel name -> channel (none by default)",
        },
        "escalation": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "required": ["to"],
            "description": "an agent_waiting unanswered for `after` seconds is sent again "
            "to the channels `to`, at most `times` times (null: never)",
            "properties": {
                "after": _number("seconds", 1, 86400, 600),
                "to": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {
                        "type": "string",
                        "pattern": CHANNEL_NAME,
                        "description": CHANNEL_NAME_DESC,
                    },
                },
                "times": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "description": "at most this many times (default 2)",
                },
            },
        },
        "digest": {
            "type": "object",
            "additionalProperties": False,
            "description": "a flood becomes one message: when `threshold` messages for a "
            "channel arrive within `window` seconds, they go as one digest",
            "properties": {
                "threshold": {
                    "type": "integer",
                    "minimum": 2,
                    "maximum": 10000,
                    "description": "messages (default 5)",
                },
                "window": _number("seconds", 0.1, 3600, 10),
                "settle": _number("seconds a message waits for others", 0, 60, 2),
            },
        },
        "retry": {
            "type": "object",
            "additionalProperties": False,
            "description": "how failed sends are retried (exponential backoff with jitter)",
            "properties": {
                "attempts": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100,
                    "description": "sends before a message is dead (default 8)",
                },
                "base": _number("seconds before the first retry", 0.01, 3600, 1),
                "max_delay": _number("seconds, the longest wait", 0.01, 86400, 300),
                "timeout": _number("seconds a send may take", 0.1, 300, 10),
            },
        },
        "lease": _number("seconds a sender holds a message it is sending", 1, 3600, 60),
        "link": {
            "type": ["string", "null"],
            "maxLength": 500,
            "pattern": r"^https?://[^\s]+$",
            "description": "the dashboard's address, linked from messages (null: none)",
        },
    },
}
