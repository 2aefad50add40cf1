"""``notifications:`` of ``orchestrator.yaml`` as records, and the checks the schema cannot
make (an escalation names configured channels, a time zone exists, no secret in the file).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import Config

#: a channel's keys the pipeline reads; the others are its type's (``context.options``)
GENERIC_KEYS = ("type", "events", "features", "min_severity", "quiet_hours", "rate_limit")
#: what a channel receives unless it says otherwise
DEFAULT_EVENTS = (
    "task_blocked",
    "conflict_detected",
    "test_result",
    "pr_opened",
    "pr_merged",
    "agent_waiting",
    "agent_exited",
    "guard_decision",
    "budget_warning",
    "budget_exceeded",
)
#: key words that say a channel key would hold a secret itself
_SECRET_KEYS = ("url", "webhook", "secret", "token", "password", "key")


class QuietHours(NamedTuple):
    """A daily range (minutes after midnight; ``start > end`` spans midnight)."""

    start: int
    end: int
    timezone: str | None
    allow: str


class RateLimit(NamedTuple):
    """At most ``limit`` messages per ``per`` seconds."""

    limit: int
    per: float


class ChannelConfig(NamedTuple):
    name: str
    type: str
    events: tuple[str, ...]
    features: tuple[str, ...]
    min_severity: str
    quiet_hours: QuietHours | None
    rate_limit: RateLimit | None
    options: dict[str, Any]


class Escalation(NamedTuple):
    after: float
    to: tuple[str, ...]
    times: int


class NotifySettings(NamedTuple):
    channels: dict[str, ChannelConfig]
    escalation: Escalation | None
    digest_threshold: int
    digest_window: float
    settle: float
    attempts: int
    retry_base: float
    max_delay: float
    timeout: float
    lease: float
    link: str | None


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _quiet(quiet: Mapping[str, Any]) -> QuietHours:
    start, end = _minutes(quiet["start"]), _minutes(quiet["end"])
    return QuietHours(start, end, quiet.get("timezone"), str(quiet.get("allow", "critical")))


def _escalation(escalation: Mapping[str, Any]) -> Escalation:
    after, times = float(escalation.get("after", 600)), int(escalation.get("times", 2))
    return Escalation(after, tuple(escalation["to"]), times)


def _channel(name: str, entry: Mapping[str, Any]) -> ChannelConfig:
    quiet = entry.get("quiet_hours")
    rate = entry.get("rate_limit")
    return ChannelConfig(
        name=name,
        type=str(entry["type"]),
        events=tuple(entry.get("events", DEFAULT_EVENTS)),
        features=tuple(entry.get("features", ("*",))),
        min_severity=str(entry.get("min_severity", "info")),
        quiet_hours=None if quiet is None else _quiet(quiet),
        rate_limit=None if rate is None else RateLimit(int(rate["count"]), float(rate["per"])),
        options={k: v for k, v in entry.items() if k not in GENERIC_KEYS},
    )


def settings(config: Config) -> NotifySettings:
    """The ``notifications:`` section (defaults filled in)."""
    data = config.data["notifications"]
    escalation = data["escalation"]
    digest, retry = data["digest"], data["retry"]
    return NotifySettings(
        channels={name: _channel(name, entry) for name, entry in data["channels"].items()},
        escalation=None if escalation is None else _escalation(escalation),
        digest_threshold=int(digest["threshold"]),
        digest_window=float(digest["window"]),
        settle=float(digest["settle"]),
        attempts=int(retry["attempts"]),
        retry_base=float(retry["base"]),
        max_delay=float(retry["max_delay"]),
        timeout=float(retry["timeout"]),
        lease=float(data["lease"]),
        link=data["link"],
    )


def channels_configured(config: Config) -> bool:
    return bool(config.data["notifications"]["channels"])


def refuse_secrets(
    plain: Mapping[str, Any], path: Path, positions: Mapping[str, tuple[int, int]]
) -> None:
    """A webhook URL or a secret never goes in the committed config (every clone and every
    agent reads it): refuse one, saying where it belongs, without repeating it."""
    section = plain.get("notifications")
    channels = section.get("channels") if isinstance(section, Mapping) else None
    if not isinstance(channels, Mapping):
        return
    for name, entry in channels.items():
        if not isinstance(entry, Mapping):
            continue
        for key, value in entry.items():
            if key in GENERIC_KEYS:
                continue
            named = not str(key).endswith("_env") and any(w in str(key) for w in _SECRET_KEYS)
            values = value if isinstance(value, list) else [value]
            held = any(isinstance(v, str) and "://" in v for v in values)
            if named or held:
                dotted = f"notifications.channels.{name}.{key}"
                line, col = positions.get(dotted + "#key") or positions.get(dotted) or (1, 1)
                raise ConfigError(
                    f"{path.name}:{line}:{col}: {dotted}: webhook URLs and secrets never go in "
                    "the committed config: put the value in an environment variable and name "
                    f"the variable instead (e.g. url_env: SLACK_WEBHOOK_URL)"
                )


def check(config: Config) -> None:
    """What the schema cannot check: an escalation's channels exist, time zones exist."""
    data = config.data["notifications"]
    names = set(data["channels"])
    escalation = data["escalation"]
    if escalation is not None:
        for index, name in enumerate(escalation["to"]):
            if name not in names:
                raise config.error(
                    f"notifications.escalation.to[{index}]",
                    f"{name!r} is not a configured channel (channels: "
                    f"{', '.join(sorted(names)) or 'none'}); add it to notifications.channels",
                )
    for name, entry in data["channels"].items():
        zone = (entry.get("quiet_hours") or {}).get("timezone")
        if zone is not None:
            _check_zone(config, f"notifications.channels.{name}.quiet_hours.timezone", zone)


def _check_zone(config: Config, dotted: str, zone: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise config.error(
            dotted, f"unknown time zone {zone!r}: use an IANA name such as Europe/Berlin"
        ) from None


def secret_variables(config: Config) -> set[str]:
    """The environment variables the channels read their URLs and secrets from (the
    values of their ``*_env`` keys): ``up`` keeps them from the agents' environment."""
    names = set()
    for entry in config.data["notifications"]["channels"].values():
        for key, value in entry.items():
            if str(key).endswith("_env") and isinstance(value, str):
                names.add(value)
    return names
