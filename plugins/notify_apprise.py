"""The built-in ``apprise`` channel type: every service the apprise library knows (email,
ntfy, Telegram, Teams, Matrix, ...), by apprise URL.

Configured as ``{type: apprise, urls_env: APPRISE_URLS}``: the variable holds one or more
apprise URLs (``ntfy://topic mailto://user:pass@example.com``), separated by spaces or
commas; they are secrets like any webhook URL. Needs the optional extra
``pip install 'claude-orchestrator-toolkit[apprise]'``; apprise is imported when a channel
is built, never when the plugin registers (the hook path loads every built-in plugin). A
message goes to every URL at once; when any of them fails, or does not finish within
``timeout``, the send is retryable (and all of them are sent again: apprise services carry
no idempotency key).
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import TYPE_CHECKING

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

if TYPE_CHECKING:
    from claude_orchestrator.notify_message import Message, Sent

INSTALL = "pip install 'claude-orchestrator-toolkit[apprise]'"
#: apprise's notification type by severity
NOTIFY_TYPES = {"info": "info", "warning": "warning", "error": "failure", "critical": "failure"}


@hookimpl(trylast=True)
def register_channels(register: Register) -> None:
    register("apprise", AppriseChannel.from_context,
             description="any service apprise knows, by apprise URL; urls_env names them "
             "(needs the apprise extra)")  # fmt: skip


class AppriseChannel:
    """:param variable: the variable the URLs came from; :param urls: the apprise URLs;
    :param apprise: the imported ``apprise`` module."""

    def __init__(self, variable: str, urls: tuple[str, ...], apprise: ModuleType) -> None:
        self._variable = variable
        self._urls = urls
        self._apprise = apprise

    @classmethod
    def from_context(cls, context: PluginContext) -> AppriseChannel:
        from claude_orchestrator.notify_http import check_keys, env_value

        check_keys(context.options, ("urls_env",), "apprise")
        holds = "one or more apprise URLs, separated by spaces or commas"
        found = env_value(context.options, "urls_env", context.env, holds=holds)
        assert found is not None  # required
        variable, value = found
        urls = tuple(u for u in value.replace(",", " ").split() if u)
        with warnings.catch_warnings():  # its modules' own (imghdr's deprecation on 3.11)
            warnings.simplefilter("ignore", DeprecationWarning)
            apprise = _import()
            for index, url in enumerate(urls, 1):  # the first use loads apprise's services
                if not apprise.Apprise().add(url):
                    raise _option_error(
                        "urls_env", f"${variable}: URL {index} of {len(urls)} is not one "
                        "apprise can use: check it against apprise's services (apprise --details)"
                    )  # fmt: skip
        return cls(variable, urls, apprise)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._urls

    def describe(self) -> str:
        count = len(self._urls)
        return f"apprise, {count} service{'s' if count != 1 else ''} from ${self._variable}"

    def send(self, message: Message, *, key: str, timeout: float) -> Sent:
        from claude_orchestrator.notify_http import plain_body
        from claude_orchestrator.notify_message import DeliveryFailed, Sent

        services = self._apprise.Apprise()
        for url in self._urls:
            services.add(url)
        result = services.notify(
            body=plain_body(message) or message.title,
            title=message.title,
            notify_type=NOTIFY_TYPES.get(message.severity, "info"),
            timeout=timeout,
        )
        count = len(self._urls)
        if result:
            return Sent(None, f"apprise: {count} of {count} services notified")
        timed_out = getattr(result, "timeout_count", 0)
        failed = getattr(result, "failed_count", count)
        late = f", {timed_out} did not finish within {timeout:g} s" if timed_out else ""
        raise DeliveryFailed(f"apprise: {failed} of {count} services failed{late}",
                             retryable=True)  # fmt: skip


def _import() -> ModuleType:
    import importlib

    try:
        return importlib.import_module("apprise")
    except ImportError:
        raise _option_error(
            "type", f"the apprise channel type needs the apprise library: {INSTALL}"
        ) from None


def _option_error(key: str, text: str) -> Exception:
    from claude_orchestrator.notify_message import ChannelOptionError

    return ChannelOptionError(key, text)
