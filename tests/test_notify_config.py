"""``notifications:`` in orchestrator.yaml: what the schema and the checks refuse (a
secret in the file above all), what the defaults are, and the channel records."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator.config import load_config
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.notify_config import DEFAULT_EVENTS
from claude_orchestrator.notify_config import settings as notify_settings

from .conftest import Run


def _write(folder: Path, text: str) -> Path:
    path = folder / "orchestrator.yaml"
    path.write_text("version: 1\nnotifications:\n" + text)
    return path


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("  channels:\n    team: {type: slack, url: 'https://hooks.slack.com/services/T/B/X'}\n",
         "notifications.channels.team.url: webhook URLs and secrets never go in"),
        ("  channels:\n    team: {type: slack, url_env: 'https://hooks.slack.com/x'}\n",
         "notifications.channels.team.url_env: webhook URLs and secrets never go in"),
        ("  channels:\n    team: {type: webhook, url_env: U, secret: abc}\n",
         "notifications.channels.team.secret: webhook URLs and secrets never go in"),
        ("  channels:\n    team: {type: apprise, urls_env: U, token: abc}\n",
         "notifications.channels.team.token: webhook URLs and secrets never go in"),
        ("  channels:\n    team: {type: apprise, extra: ['mailto://a:b@c']}\n",
         "notifications.channels.team.extra: webhook URLs and secrets never go in"),
        ("  channels:\n    team: {type: slack}\n  escalation: {to: [pager]}\n",
         "notifications.escalation.to[0]: 'pager' is not a configured channel"),
        ("  channels:\n    t: {type: slack, quiet_hours: {start: '22:00', end: '07:00', "
         "timezone: Mars/Olympus}}\n", "unknown time zone 'Mars/Olympus'"),
        ("  channels:\n    t: {type: slack, quiet_hours: {start: '25:00', end: '07:00'}}\n",
         "HH:MM"),
        ("  channels:\n    Team: {type: slack}\n", "a channel name"),
        ("  channels:\n    t: {type: slack, min_severity: loud}\n", "'loud' is not one of"),
        ("  channels:\n    t: {events: [task_blocked]}\n", "'type' is a required property"),
        ("  channels:\n    t: {type: slack, events: ['Task Blocked']}\n", "an event type"),
        ("  digest: {threshold: 1}\n", "threshold"),
        ("  retry: {attempts: 0}\n", "attempts"),
        ("  link: 'javascript:alert(1)'\n", "link"),
    ],
)  # fmt: skip
def test_what_the_config_refuses(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, text), required=True)
    message = str(raised.value)
    assert said in message and message.startswith("orchestrator.yaml:")
    assert "hooks.slack.com" not in message and "abc" not in message.split(": ", 2)[-1]


def test_defaults_and_records(tmp_path: Path) -> None:
    text = "  channels:\n    team: {type: slack, url_env: U, quiet_hours: {start: '22:30', "
    config = load_config(_write(tmp_path, text + "end: '07:00'}}\n"), required=True)
    made = notify_settings(config)
    team = made.channels["team"]
    assert (team.type, team.events, team.features, team.min_severity) == (
        "slack",
        DEFAULT_EVENTS,
        ("*",),
        "info",
    )
    assert team.options == {"url_env": "U"}
    assert team.quiet_hours is not None and team.quiet_hours[:2] == (22 * 60 + 30, 7 * 60)
    assert team.quiet_hours.allow == "critical" and team.rate_limit is None
    assert (made.digest_threshold, made.digest_window, made.settle) == (5, 10.0, 2.0)
    assert (made.attempts, made.retry_base, made.max_delay, made.timeout) == (8, 1.0, 300.0, 10.0)
    assert made.escalation is None and made.link is None


_NAMES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,12}", fullmatch=True)


@settings(max_examples=50, deadline=None)
@given(names=st.lists(_NAMES, min_size=1, max_size=4, unique=True),
       severity=st.sampled_from(["info", "warning", "error", "critical"]),
       after=st.integers(1, 86400), times=st.integers(1, 100))  # fmt: skip
def test_any_valid_section_loads(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], severity: str, after: int,
    times: int,
) -> None:  # fmt: skip
    channels = "".join(f"    '{n}': {{type: webhook, url_env: V_{i}, min_severity: {severity}}}\n"
                       for i, n in enumerate(names))  # fmt: skip
    escalation = f"{{after: {after}, to: ['{names[0]}'], times: {times}}}"
    text = f"  channels:\n{channels}  escalation: {escalation}\n"
    config = load_config(_write(tmp_path_factory.mktemp("c"), text), required=True)
    made = notify_settings(config)
    assert sorted(made.channels) == sorted(names)
    assert made.escalation is not None and made.escalation.to == (names[0],)
    assert (made.escalation.after, made.escalation.times) == (after, times)


def test_config_check_names_an_unknown_channel_type(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    path = repo / "orchestrator.yaml"
    path.write_text(path.read_text().replace(
        "notifications:\n", "notifications:\n  channels:\n    t: {type: slak}\n", 1
    ).replace("  channels: {}\n", "", 1))  # fmt: skip
    result = cli("config", "check")
    assert result.code == 2
    assert (
        "notifications.channels.t.type: unknown channel 'slak' (installed: apprise, " in result.err
    )


def test_notify_test_names_an_unknown_channel(cli: Run) -> None:
    assert cli("init").code == 0
    assert cli("events", "init").code == 0
    result = cli("notify", "test", "nope")
    assert result.code == 2
    assert result.err.startswith("error: no notification channel 'nope' (configured: none)")
