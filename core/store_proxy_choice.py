"""Whether a store is reached through the store proxy (:mod:`.store_proxy`), decided
without importing it: a store that is not proxied (the sqlite store, by default) costs
its hook processes no more than this module."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .protocols import PluginContext
    from .protocols_store import EventStore

#: set (to anything but 0) turns the store proxy off
ENV_DISABLE = "CLAUDE_ORCHESTRATOR_NO_STORE_PROXY"
DEFAULT_IDLE_S = 300.0
DEFAULT_TIMEOUT_S = 120.0


class ProxyOptions(NamedTuple):
    """The proxy's plugin options: ``proxy`` (None: the port decides), ``proxy_idle``
    and ``proxy_timeout`` in seconds."""

    enabled: bool | None
    idle_s: float
    timeout_s: float


def read_options(name: str, context: PluginContext) -> ProxyOptions:
    """The options, or ConfigError naming the one that is wrong."""
    options = context.options
    enabled = options.get("proxy")
    if enabled is not None and not isinstance(enabled, bool):
        raise context.config.error(
            f"plugins.options.{name}.proxy", f"must be true or false, not {enabled!r}"
        )
    idle = _seconds(name, context, "proxy_idle", DEFAULT_IDLE_S)
    return ProxyOptions(enabled, idle, _seconds(name, context, "proxy_timeout", DEFAULT_TIMEOUT_S))


def _seconds(name: str, context: PluginContext, option: str, default: float) -> float:
    value = context.options.get(option, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        raise context.config.error(
            f"plugins.options.{name}.{option}",
            f"must be a number of seconds above 0, not {value!r}",
        )
    return float(value)


def maybe_proxy(
    build_port: Callable[[], EventStore],
    name: str,
    context: PluginContext,
    base: Path,
    *,
    env: Mapping[str, str] | None = None,
) -> EventStore:
    """The port ``build_port`` builds, or a :class:`~.store_proxy.ProxyPort` over it
    when the store is proxied: its port says ``proxied = True`` (the postgres store) or
    ``plugins.options.<store>.proxy`` is true, it is not turned off (that option false,
    or :data:`ENV_DISABLE`), this is Linux, and ``<base>/store-proxy`` can be the
    user's own 0700 directory. ConfigError for a bad ``proxy*`` option.

    :param build_port: builds the store plugin's port (e.g. ``Wiring``'s checked build);
        called once here: the proxy does a call directly through it when no daemon
        answers. Its factory should not connect: the port connects on first use.
    :param name: the store plugin's name (``plugins.store``).
    :param context: the context the port was built with; the daemon builds its own
        ports from it.
    :param base: where ``store-proxy/`` goes: a directory only the user's trusted
        processes write (``Wiring`` passes :func:`~.location.user_cache_dir`).
    :param env: the environment (default ``os.environ``); the daemon is started with it.
    """
    env = os.environ if env is None else env
    settings = read_options(name, context)
    port = build_port()
    if env.get(ENV_DISABLE, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return port
    wanted = settings.enabled
    if wanted is None:
        wanted = getattr(port, "proxied", False) is True
    if not wanted:
        return port
    from .store_proxy import over

    return over(port, name, context, base, env, settings)
