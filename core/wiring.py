"""How an :class:`~claude_orchestrator.api.Orchestrator` is wired: the directory it is
bound to, its config, the plugin registry, the implementations the config names, and the
one event flow.

The event flow: an operation commits its events in one store transaction, then
:meth:`Wiring.notify` hands them to the *inline* notifiers (local and fast: the
``markdown`` state files) and, when *outbox* notifiers are configured, starts a delivery
in the background (:mod:`~claude_orchestrator.outbox`), so no command waits on a network.
The library never prints: a notifier's failure is a warning kept in
:attr:`Wiring.warnings` and given to the ``on_warning`` callback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Self, TypeVar

from . import validate as v
from .config import Config, load_config
from .errors import NotInitializedError, OrchestratorError, PluginError, ValidationError
from .location import ENV_DB, Location, discover
from .models import Event
from .protocols import CI, OUTBOX, Channel, EventStore, Notifier, PluginContext
from .protocols_vcs import VCS, Forge
from .store_service import Store

if TYPE_CHECKING:
    from .manager import PluginRegistry

T = TypeVar("T")

#: what each plugin kind's implementation must satisfy
#: the notification router's outbox name (``notify_route.NAME``)
ROUTER = "notifications"


class _LazyRouter:
    """The router, imported and built on its first event: a command that stores events
    only needs to know it is an outbox notifier (the hook path stays light)."""

    delivery = OUTBOX

    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring
        self._router: Notifier | None = None

    def _get(self) -> Notifier:
        if self._router is None:
            import time

            from .notify_config import settings
            from .notify_route import Router

            wiring = self._wiring
            self._router = Router(lambda: wiring.store, settings(wiring.config), time.time)
        return self._router

    def notify(self, event: Event) -> None:
        self._get().notify(event)

    def flush(self) -> None:
        if self._router is not None:
            self._router.flush()  # type: ignore[attr-defined]


KIND_PROTOCOLS: dict[str, type] = {
    "store": EventStore,
    "vcs": VCS,
    "ci": CI,
    "notifier": Notifier,
    "forge": Forge,
    "channel": Channel,
}


class _Services:
    """:class:`~claude_orchestrator.protocols.Services` over a wiring: the ports only."""

    def __init__(self, wiring: Wiring) -> None:
        self._wiring = wiring

    @property
    def in_repository(self) -> bool:
        wiring = self._wiring
        return wiring.location.in_git and wiring.config.vcs_plugin is not None

    @property
    def state_dir(self) -> Path:
        return self._wiring.location.state_dir

    def store(self) -> Store:
        return self._wiring.store

    def vcs(self) -> VCS:
        return self._wiring.vcs()


class Wiring:
    """The plumbing shared by every operation (see :class:`~claude_orchestrator.api.Orchestrator`
    for the parameters)."""

    def __init__(
        self,
        cwd: Path | str | None = None,
        *,
        db: Path | str | None = None,
        registry: PluginRegistry | None = None,
        env: Mapping[str, str] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self._cwd = cwd
        self._db = db
        self._env = os.environ if env is None else env
        self._registry = registry
        self._on_warning = on_warning
        self._store: Store | None = None
        self._vcs: VCS | None = None
        self._notifiers: list[tuple[str, Notifier]] | None = None
        #: problems that did not stop the operation (a notifier failed...)
        self.warnings: list[str] = []
        #: local files the inline notifiers wrote during this object's operations
        self.written: list[Path] = []

    # -- where and what ----------------------------------------------------------------
    @cached_property
    def location(self) -> Location:
        return discover(self._cwd, self._env)

    @property
    def config_path(self) -> Path:
        return self.location.config_path(self._env)

    @cached_property
    def config(self) -> Config:
        cache_dir = self.location.state_dir / "cache"
        return load_config(self.config_path, cache_dir=cache_dir)

    @property
    def registry(self) -> PluginRegistry:
        if self._registry is None:
            from .manager import PluginRegistry

            self._registry = PluginRegistry(env=self._env)
        return self._registry

    @cached_property
    def store_path(self) -> Path:
        override = self._db if self._db is not None else self._env.get(ENV_DB)
        if override is not None and (self._db is not None or override):
            where = "--db path" if self._db is not None else f"{ENV_DB} path"
            return (self.location.cwd / Path(v.check_local_path(override, where))).resolve()
        configured = self.config.store_path
        if configured:
            return (self.location.root / configured).resolve()
        return self.location.default_store_path()

    # -- building plugins ----------------------------------------------------------------
    def _context(self, name: str) -> PluginContext:
        return PluginContext(
            config=self.config,
            root=self.location.root,
            common_dir=self.location.common_dir,
            store_path=self.store_path,
            options=self.config.plugin_options(name),
            services=_Services(self),
            env=self._env,
        )

    def _build(self, kind: str, name: str, dotted: str) -> object:
        """The implementation ``name`` of ``kind``, checked against the kind's protocol."""
        return self._make(kind, name, dotted, KIND_PROTOCOLS[kind])

    def _make(
        self,
        kind: str,
        name: str,
        dotted: str,
        protocol: type[T],
        context: PluginContext | None = None,
    ) -> T:
        try:
            impl = self.registry.get(kind, name)
        except PluginError as exc:
            raise self.config.error(dotted, str(exc)) from None
        try:
            built = impl.factory(self._context(name) if context is None else context)
        except OrchestratorError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{kind} plugin {name!r} (from {impl.plugin}) failed to start: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(built, protocol):
            raise PluginError(
                f"{kind} plugin {name!r} (from {impl.plugin}) built a "
                f"{type(built).__name__}, which lacks what a {kind} must have (see "
                f"claude_orchestrator.protocols.{protocol.__name__}): fix or remove the plugin"
            )
        return built

    def vcs(self) -> VCS:
        """The configured VCS plugin (``plugins.vcs``)."""
        if self._vcs is None:
            name = self.config.vcs_plugin
            if name is None:
                raise self.config.error(
                    "plugins.vcs", "no VCS plugin configured: set it, e.g. `vcs: git`"
                )
            self._vcs = self._make("vcs", name, "plugins.vcs", VCS)  # type: ignore[type-abstract]
        return self._vcs

    def ci(self) -> CI:
        """The configured CI plugin (``plugins.ci``)."""
        name = self.config.ci_plugin
        if name is None:
            raise self.config.error(
                "plugins.ci", "no CI plugin configured: set it, e.g. `ci: github-actions`"
            )
        return self._make("ci", name, "plugins.ci", CI)  # type: ignore[type-abstract]

    def forge(self) -> Forge:
        """The configured forge (``forge.type``), where pull requests are opened and merged."""
        name = self.config.forge["type"]
        return self._make("forge", name, "forge.type", Forge)  # type: ignore[type-abstract]

    def store_plugin(self) -> Store:
        """The configured store, not yet opened (it may not exist): the plugin's port
        (:class:`~claude_orchestrator.protocols_store.EventStore`) with every operation
        over it (:class:`~claude_orchestrator.store_service.Store`)."""
        if self._store is None:
            from .location import user_cache_dir
            from .store_proxy_choice import maybe_proxy

            name = self.config.store_plugin
            port = maybe_proxy(
                lambda: self._make("store", name, "plugins.store", EventStore),  # type: ignore[type-abstract]
                name, self._context(name), user_cache_dir(self._env), env=self._env,
            )  # fmt: skip
            self._store = Store(port)
        return self._store

    @property
    def store(self) -> Store:
        """The configured store; raises NotInitializedError if it was never created."""
        store = self.store_plugin()
        if not store.exists():
            raise NotInitializedError(
                f"Event store not initialized: {store.location} does not exist. "
                "Run: claude-orchestrator events init"
            )
        return store

    @property
    def env(self) -> Mapping[str, str]:
        """The environment the library was given (``os.environ`` by default)."""
        return self._env

    def notifiers(self) -> list[tuple[str, Notifier]]:
        """The configured notifiers (``plugins.notifiers``), built once, and, when
        ``notifications.channels`` names any, the notification router (``notifications``,
        an outbox notifier: :mod:`~claude_orchestrator.notify_route`)."""
        if self._notifiers is None:
            built: list[tuple[str, Notifier]] = []
            for index, name in enumerate(self.config.notifiers):
                dotted = f"plugins.notifiers[{index}]"
                built.append((name, self._make("notifier", name, dotted, Notifier)))  # type: ignore[type-abstract]
            if self.config.data["notifications"]["channels"]:
                built.append((ROUTER, _LazyRouter(self)))
            self._notifiers = built
        return self._notifiers

    def channel(self, name: str) -> Channel:
        """The notification channel ``notifications.channels.<name>``, built now (its
        type's factory reads the secrets its keys name from the environment)."""
        from .notify_config import settings
        from .notify_message import ChannelOptionError

        configured = settings(self.config).channels.get(name)
        if configured is None:
            names = ", ".join(sorted(settings(self.config).channels)) or "none"
            raise ValidationError(
                f"no notification channel {name!r} (configured: {names}); "
                "add it under notifications.channels in orchestrator.yaml"
            )
        dotted = f"notifications.channels.{name}"
        context = self._context(name)._replace(options=dict(configured.options))
        try:
            return self._make("channel", configured.type, f"{dotted}.type", Channel, context)  # type: ignore[type-abstract]
        except ChannelOptionError as exc:
            raise self.config.error(f"{dotted}.{exc.key}", exc.text) from None

    def check_plugins(self) -> None:
        """Build the configured store and notifiers now, and look up the configured VCS, CI
        and forge plugins, so that a bad name fails before anything is written."""
        store = self.store_plugin()
        outbox = [n for n, x in self.notifiers() if getattr(x, "delivery", None) == OUTBOX]
        if outbox and store.exists():
            from .outbox import start_cursors

            start_cursors(store, outbox)  # before the write: its events are owed
        wanted = (("vcs", self.config.vcs_plugin, "plugins.vcs"),
                  ("ci", self.config.ci_plugin, "plugins.ci"),
                  ("forge", self.config.forge["type"], "forge.type"))  # fmt: skip
        for kind, name, dotted in wanted:
            if name is not None:
                try:
                    self.registry.get(kind, name)
                except PluginError as exc:
                    raise self.config.error(dotted, str(exc)) from None

    # -- the event flow ------------------------------------------------------------------
    def warn(self, message: str) -> None:
        """Keep a warning and give it to the ``on_warning`` callback (the CLI prints it)."""
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(f"warning: {message}")

    def notify(self, *events: Event, changed: Sequence[str] = ()) -> list[Path]:
        """Hand committed events to the notifiers: the inline ones now (each told every
        event, then flushed once), the outbox ones by a background delivery.

        :param changed: features that changed outside the store (worktrees made), for
            notifiers that keep views of them.
        :return: the local files the inline notifiers wrote.
        """
        written: list[Path] = []
        outbox: list[str] = []
        for name, notifier in self.notifiers():
            if getattr(notifier, "delivery", None) == OUTBOX:
                outbox.append(name)
                continue
            try:
                written += self._tell(notifier, events, changed)
            except Exception as exc:
                ids = ", ".join(str(e.id) for e in events) or "(none)"
                self.warn(f"notifier {name!r} failed on event {ids}: {type(exc).__name__}: {exc}")
        self.written += written
        if outbox and events:
            from .outbox import start_delivery

            start_delivery(self.location, self.store_path, self._env, outbox)
        return written

    @staticmethod
    def _tell(notifier: Notifier, events: Sequence[Event], changed: Sequence[str]) -> list[Path]:
        for event in events:
            notifier.notify(event)
        note_change = getattr(notifier, "changed", None)
        if note_change is not None:
            for spec_id in changed:
                note_change(spec_id)
        flush = getattr(notifier, "flush", None)
        result = flush() if flush is not None else None
        return [Path(p) for p in result] if result else []

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
