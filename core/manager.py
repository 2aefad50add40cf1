"""The plugin manager and a typed facade over it.

Load order (fixed, and the same for every command):

1. built-in plugins, in the order of :data:`BUILTIN_PLUGINS`, registered by module
   name exactly as a third-party plugin would be;
2. third-party plugins from the ``claude_orchestrator`` entry-point group, filtered by
   the allow-list (:data:`ENV_ALLOW`) and block-list (:data:`ENV_BLOCK`) environment
   variables. Scanning entry points costs ~40 ms, so it happens only when needed: when
   the configuration names an implementation no loaded plugin offers, or when every
   plugin is listed (``claude-orchestrator plugins``, error messages that list what is
   installed);
3. ``check_pending()``: a hook implementation without a matching spec is an error.

A third-party plugin that fails to import is recorded by name in
:attr:`PluginRegistry.failures` and skipped; commands that do not need it still work.
Never depend on the order third-party plugins load in.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NamedTuple

import pluggy

from . import hookspecs
from .errors import PluginError
from .protocols import Factory

ENTRY_POINT_GROUP = "claude_orchestrator"
#: Comma-separated names of the only third-party plugins to load ("" loads none).
ENV_ALLOW = "CLAUDE_ORCHESTRATOR_PLUGINS"
#: Comma-separated names of third-party plugins not to load.
ENV_BLOCK = "CLAUDE_ORCHESTRATOR_DISABLE_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "claude_orchestrator.plugins.sqlite_store",
    "claude_orchestrator.plugins.git_vcs",
    "claude_orchestrator.plugins.markdown_notifier",
    "claude_orchestrator.plugins.github_actions_ci",
    "claude_orchestrator.plugins.forge_local",
    "claude_orchestrator.plugins.forge_github",
)

#: plugin kind -> the hook through which plugins offer implementations of it
KIND_HOOKS: dict[str, str] = {
    "vcs": "register_vcs",
    "store": "register_stores",
    "ci": "register_ci",
    "notifier": "register_notifiers",
    "forge": "register_forges",
}


class Implementation(NamedTuple):
    """One named implementation of a plugin kind, offered by a plugin."""

    kind: str
    name: str
    factory: Factory
    plugin: str
    description: str = ""


class PluginInfo:
    """What ``claude-orchestrator plugins`` shows for one plugin."""

    def __init__(self, name: str, version: str | None, builtin: bool, module: str | None) -> None:
        self.name = name
        self.version = version
        self.builtin = builtin
        self.module = module
        self.hooks: list[str] = []
        self.kinds: list[str] = []
        self.implementations: list[str] = []
        self.error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "builtin": self.builtin,
            "module": self.module,
            "kinds": self.kinds,
            "hooks": self.hooks,
            "implementations": self.implementations,
            "error": self.error,
        }


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {item.strip() for item in value.split(",") if item.strip()}


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh manager with the hook specs added and nothing registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


class PluginRegistry:
    """Typed access to the plugins and the implementations they register.

    :param builtins: module names of built-in plugins (tests pass fewer or none).
    :param entrypoints: whether third-party plugins may be loaded from entry points.
    :param env: where the allow/block lists are read from (default ``os.environ``).
    """

    def __init__(
        self,
        *,
        builtins: tuple[str, ...] = BUILTIN_PLUGINS,
        entrypoints: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.pm = make_plugin_manager()
        self._env = os.environ if env is None else env
        self._entrypoints_allowed = entrypoints
        self._entrypoints_loaded = False
        self._builtin_names: set[str] = set()
        self._info: dict[str, PluginInfo] = {}
        self.failures: dict[str, str] = {}
        self._impls: dict[str, dict[str, Implementation]] | None = None
        self.shadowed: list[Implementation] = []
        for module_name in builtins:
            module = importlib.import_module(module_name)
            name = module_name.rsplit(".", 1)[-1]
            self.pm.register(module, name=name)
            self._builtin_names.add(name)
            self._info[name] = PluginInfo(
                name=name, version=_own_version(), builtin=True, module=module_name
            )
        self.pm.check_pending()

    # -- loading ---------------------------------------------------------------------
    def register(self, plugin: ModuleType | object, name: str, version: str | None = None) -> None:
        """Register a plugin object by hand (tests, embedding applications)."""
        self.pm.register(plugin, name=name)
        self.pm.check_pending()
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self._info[name] = PluginInfo(name=name, version=version, builtin=False, module=module)
        self._impls = None

    def load_entrypoints(self) -> None:
        """Load third-party plugins once; failures are recorded, not raised."""
        if self._entrypoints_loaded or not self._entrypoints_allowed:
            return
        self._entrypoints_loaded = True
        from importlib.metadata import entry_points

        allow = _names(self._env.get(ENV_ALLOW))
        block = _names(self._env.get(ENV_BLOCK)) or set()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in self._info or (allow is not None and ep.name not in allow):
                continue
            if ep.name in block:
                continue
            version = ep.dist.version if ep.dist is not None else None
            info = PluginInfo(name=ep.name, version=version, builtin=False, module=ep.value)
            self._info[ep.name] = info
            try:
                plugin = ep.load()
                self.pm.register(plugin, name=ep.name)
                self.pm.check_pending()
            except Exception as exc:  # a broken plugin must not break other commands
                if self.pm.has_plugin(ep.name):
                    self.pm.unregister(name=ep.name)
                info.error = f"{type(exc).__name__}: {exc}"
                self.failures[ep.name] = info.error
        self._impls = None

    # -- implementations -------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, Implementation]]:
        if self._impls is not None:
            return self._impls
        impls: dict[str, dict[str, Implementation]] = {kind: {} for kind in KIND_HOOKS}
        self.shadowed = []
        for kind, hook_name in KIND_HOOKS.items():
            caller = getattr(self.pm.hook, hook_name)
            for hookimpl in reversed(caller.get_hookimpls()):
                # get_hookimpls() is in reverse call order; walk it in call order.
                plugin_name = self.pm.get_name(hookimpl.plugin) or "?"
                register = self._make_register(kind, plugin_name, impls)
                arguments = {"register": register}
                try:
                    # Pass only the arguments the implementation asks for, as pluggy does.
                    hookimpl.function(**{k: arguments[k] for k in hookimpl.argnames})
                except Exception as exc:
                    self.failures[plugin_name] = f"{hook_name} failed: {type(exc).__name__}: {exc}"
                    info = self._info.get(plugin_name)
                    if info is not None:
                        info.error = self.failures[plugin_name]
        self._impls = impls
        return impls

    def _make_register(
        self, kind: str, plugin_name: str, impls: dict[str, dict[str, Implementation]]
    ) -> Callable[..., None]:
        def register(name: str, factory: Factory, *, description: str = "") -> None:
            impl = Implementation(kind, name, factory, plugin_name, description)
            existing = impls[kind].get(name)
            if existing is None:
                impls[kind][name] = impl
            elif existing.plugin not in self._builtin_names and plugin_name in self._builtin_names:
                # Built-in names are reserved: a third-party plugin cannot take them over.
                self.shadowed.append(existing)
                impls[kind][name] = impl
            else:
                self.shadowed.append(impl)

        return register

    def implementations(self, kind: str, *, everything: bool = False) -> dict[str, Implementation]:
        """Implementations of a kind by name; ``everything`` loads third-party plugins first."""
        if everything:
            self.load_entrypoints()
        return dict(self._collect()[kind])

    def get(self, kind: str, name: str) -> Implementation:
        """The implementation of ``kind`` called ``name``; loads entry points if needed."""
        found = self._collect()[kind].get(name)
        if found is None and not self._entrypoints_loaded:
            self.load_entrypoints()
            found = self._collect()[kind].get(name)
        if found is None:
            raise PluginError(self.unknown_message(kind, name))
        return found

    def unknown_message(self, kind: str, name: str) -> str:
        installed = sorted(self.implementations(kind, everything=True))
        text = f"unknown {kind} {name!r} (installed: {', '.join(installed) or 'none'})"
        broken = sorted(self.failures)
        if broken:
            text += (
                f"; plugins that failed to load: {', '.join(broken)} "
                "(see `claude-orchestrator plugins`)"
            )
        return text

    def plugins(self) -> list[PluginInfo]:
        """Every plugin, loaded or failed, with the hooks and implementations it offers."""
        self.load_entrypoints()
        impls = self._collect()
        by_plugin: dict[str, list[Implementation]] = {}
        for kind_impls in impls.values():
            for impl in kind_impls.values():
                by_plugin.setdefault(impl.plugin, []).append(impl)
        result = []
        for name, info in sorted(self._info.items(), key=lambda kv: (not kv[1].builtin, kv[0])):
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
            offered = sorted(by_plugin.get(name, []), key=lambda i: (i.kind, i.name))
            info.kinds = sorted({i.kind for i in offered})
            info.implementations = [f"{i.kind}:{i.name}" for i in offered]
            result.append(info)
        return result


def _own_version() -> str:
    from . import __version__

    return __version__
