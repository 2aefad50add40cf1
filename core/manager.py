"""The plugin manager and a typed facade over it.

Load order (fixed, the same for every command):
1. built-in plugins: this distribution's (``claude-orchestrator-toolkit``)
   ``claude_orchestrator`` entry points, in name order, registered as third-party plugins
   are and marked built-in. Only our own ``entry_points.txt`` is read, not every
   installed distribution's: the guard builds a registry on every tool call;
2. third-party plugins from that group, filtered by the allow-list (:data:`ENV_ALLOW`)
   and block-list (:data:`ENV_BLOCK`) environment variables. The scan costs ~40 ms, so it
   happens only when the configuration names an implementation no loaded plugin offers,
   or when every plugin is listed (``claude-orchestrator plugins``, error messages). One
   that fails to import is recorded in ``failures``. Never depend on their order;
3. ``check_pending()``: a hook implementation without a matching spec is an error.

Every ``register_*`` hook is called through pluggy (``pm.hook.<name>(register=...)``), so
wrappers, ``pm.add_hookcall_monitoring`` and ``pm.trace`` work. ``register`` tells who
called it from the frames (the one running a hook implementation's code; a wrapper is a
generator with the same code object); a plugin whose hook raises is found in the
traceback, recorded in ``failures`` and left out (``pm.subset_hook_caller``) of that kind.

**Built-in names are reserved**: a third-party registration under a built-in's name
(``sqlite``, ``git``, ...) is listed in ``shadowed``, not used. A config that says
``sqlite`` must mean this package's store: installing a package must not silently
replace the store every agent's hooks write to. A plugin offers a name of its own.
"""

import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import CodeType, FrameType, ModuleType
from typing import NamedTuple

import pluggy
from pluggy import HookImpl

from . import __version__, hookspecs
from .config_defaults import DISTRIBUTION
from .entry_points import (  # noqa: F401 - re-exported: manager is where they were
    DIST_INFO,
    ENTRY_POINT_GROUP,
    EntryPoint,
    _load,
    builtin_entry_points,
    entry_points_in,
)
from .errors import PluginError
from .protocols import Factory, Register

#: Comma-separated names of the only third-party plugins to load ("" loads none).
ENV_ALLOW = "CLAUDE_ORCHESTRATOR_PLUGINS"
#: Comma-separated names of third-party plugins not to load.
ENV_BLOCK = "CLAUDE_ORCHESTRATOR_DISABLE_PLUGINS"

#: plugin kind -> the hook through which plugins offer implementations of it
KIND_HOOKS: dict[str, str] = {
    "vcs": "register_vcs",
    "store": "register_stores",
    "ci": "register_ci",
    "notifier": "register_notifiers",
    "forge": "register_forges",
    "channel": "register_channels",
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

    def to_dict(self) -> dict[str, object]:
        keys = ("name", "version", "builtin", "module", "kinds", "hooks", "implementations")
        return {key: getattr(self, key) for key in (*keys, "error")}


def _names(value: str | None) -> set[str] | None:
    return None if value is None else {item.strip() for item in value.split(",") if item.strip()}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make_plugin_manager() -> pluggy.PluginManager:
    """A fresh manager with the hook specs added and nothing registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


# -- which plugin is calling: hook implementations found by their frames --------------
def _key(impl: HookImpl) -> tuple[CodeType, int] | None:
    """What tells an implementation's frames apart: its code, and ``self`` for a method."""
    code = getattr(impl.function, "__code__", None)
    return None if code is None else (code, id(getattr(impl.function, "__self__", None)))


def _owner(frames: Iterable[FrameType], impls: Sequence[HookImpl]) -> str | None:
    """The plugin whose hook implementation runs in the first such frame (None: none)."""
    owners: dict[CodeType, list[HookImpl]] = {}
    for impl in impls:
        if (key := _key(impl)) is not None:
            owners.setdefault(key[0], []).append(impl)
    for frame in frames:
        if candidates := owners.get(code := frame.f_code):
            if len(candidates) == 1:
                return candidates[0].plugin_name
            # instances of one class share the code: ``self`` tells them apart
            this = frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
            found = [i for i in candidates if getattr(i.function, "__self__", None) is this]
            return found[0].plugin_name if this is not None and len(found) == 1 else None
    return None


def _stack(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _runs(impls: Sequence[HookImpl]) -> list[list[HookImpl]]:
    """The call order cut into runs whose frames tell every plugin apart: one run (the
    whole call) unless plugins share a code object without a ``self`` to tell them
    apart (closures made by one function), which then go to successive runs."""
    runs: list[list[HookImpl]] = [[]]
    for impl in impls:
        keys = [_key(i) for i in runs[-1]]
        if keys and (None in keys or (key := _key(impl)) is None or key in keys):
            runs.append([])
        runs[-1].append(impl)
    return [run for run in runs if run]


class _Registrar(Register):
    """The ``register`` callback of one hook call: each registration belongs to the
    plugin whose hook implementation is on the calling stack."""

    def __init__(self, kind: str, hook: str, impls: Sequence[HookImpl]) -> None:
        self.kind, self.hook, self.impls, self.open = kind, hook, impls, True
        self.offered: list[Implementation] = []

    def __call__(self, name: str, factory: Factory, *, description: str = "") -> None:
        where = f"register({name!r}, ...) was called"
        if not self.open:
            raise PluginError(f"{where} after the {self.hook} hook returned: call it from "
                              "the hook implementation")  # fmt: skip
        only = self.impls[0].plugin_name if len(self.impls) == 1 else None
        plugin = only or _owner(_stack(sys._getframe(1)), self.impls)
        if plugin is None:
            raise PluginError(f"{where} outside a {self.hook} hook implementation")
        self.offered.append(Implementation(self.kind, name, factory, plugin, description))


class PluginRegistry:
    """Typed access to the plugins and the implementations they register.

    :param builtins: module names to register as the built-in plugins instead of this
        distribution's entry points (tests pass fewer or none).
    :param entrypoints: whether third-party plugins may be loaded from entry points.
    :param env: where the allow/block lists are read from (default ``os.environ``).
    """

    def __init__(
        self,
        *,
        builtins: Sequence[str] | None = None,
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
        modules = [EntryPoint(module.rsplit(".", 1)[-1], module) for module in builtins or ()]
        for ep in builtin_entry_points() if builtins is None else modules:
            self.pm.register(_load(ep.value), name=ep.name)
            self._builtin_names.add(ep.name)
            self._info[ep.name] = PluginInfo(ep.name, __version__, True, ep.value)
        self.pm.check_pending()

    # -- loading ---------------------------------------------------------------------
    def register(self, plugin: ModuleType | object, name: str, version: str | None = None) -> None:
        """Register a plugin object by hand (tests, embedding applications)."""
        self.pm.register(self._hashable(plugin), name=name)
        self.pm.check_pending()
        module = getattr(plugin, "__name__", type(plugin).__module__)
        self._info[name] = PluginInfo(name=name, version=version, builtin=False, module=module)
        self._impls = None

    def _hashable(self, plugin: object) -> object:
        """``pm.subset_hook_caller`` puts plugins in a set: an unhashable plugin object
        (a ``SimpleNamespace``) is registered as a module holding its hooks."""
        if type(plugin).__hash__ is not None:
            return plugin
        hooks = ModuleType(f"hooks of {plugin!r}")
        for name in dir(plugin):
            if self.pm.parse_hookimpl_opts(plugin, name) is not None:
                setattr(hooks, name, getattr(plugin, name))
        return hooks

    def load_entrypoints(self) -> None:
        """Load third-party plugins once; failures are recorded, not raised."""
        if self._entrypoints_loaded or not self._entrypoints_allowed:
            return
        self._entrypoints_loaded = True
        from importlib.metadata import entry_points

        allow = _names(self._env.get(ENV_ALLOW))
        block = _names(self._env.get(ENV_BLOCK)) or set()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            ours = ep.dist is not None and _normalised(ep.dist.name) == _normalised(DISTRIBUTION)
            if ours or ep.name in self._info or ep.name in block:
                continue  # (ours: the built-ins, registered already or left out by a test)
            if allow is not None and ep.name not in allow:
                continue
            version = ep.dist.version if ep.dist is not None else None
            info = self._info[ep.name] = PluginInfo(ep.name, version, False, ep.value)
            try:
                self.pm.register(self._hashable(ep.load()), name=ep.name)
                self.pm.check_pending()
            except Exception as exc:  # a broken plugin must not break other commands
                if self.pm.has_plugin(ep.name):
                    self.pm.unregister(name=ep.name)
                info.error = f"{type(exc).__name__}: {exc}"
                self.failures[ep.name] = info.error
        self._impls = None

    # -- implementations -------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, Implementation]]:
        if self._impls is None:
            self.shadowed = []
            self._impls = {kind: self._choose(self._offered(kind, hook))
                           for kind, hook in KIND_HOOKS.items()}  # fmt: skip
        return self._impls

    def _offered(self, kind: str, hook: str) -> list[Implementation]:
        """Every registration of one kind, in pluggy's call order."""
        everyone = getattr(self.pm.hook, hook).get_hookimpls()  # in reverse call order
        return [i for run in _runs(everyone[::-1]) for i in self._call(kind, hook, run, everyone)]

    def _call(
        self, kind: str, hook: str, run: list[HookImpl], everyone: list[HookImpl]
    ) -> list[Implementation]:
        """Call the hook for the plugins of ``run``; the one that raised (the innermost
        hook implementation in the traceback) is recorded and the hook called again
        without it. An error raised outside every plugin's frames (pluggy's: a wrapper
        that did not yield) is pinned down by calling the plugins one at a time."""
        while run:
            registrar = _Registrar(kind, hook, run)
            others = [i.plugin for i in everyone if i not in run]
            try:
                self.pm.subset_hook_caller(hook, others)(register=registrar)
                return registrar.offered
            except Exception as exc:
                import traceback  # only when a plugin failed (it costs ~3 ms)

                frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)][::-1]
                plugin = run[0].plugin_name if len(run) == 1 else _owner(frames, run)
                if plugin is None:
                    return [i for one in run for i in self._call(kind, hook, [one], everyone)]
                self.failures[plugin] = f"{hook} failed: {type(exc).__name__}: {exc}"
                if (info := self._info.get(plugin)) is not None:
                    info.error = self.failures[plugin]
                run = [i for i in run if i.plugin_name != plugin]
            finally:
                registrar.open = False
        return []

    def _choose(self, offered: Iterable[Implementation]) -> dict[str, Implementation]:
        """The first registration of a name wins, except that a built-in plugin takes
        its names back: built-in names are reserved (see the module docstring)."""
        chosen: dict[str, Implementation] = {}
        for impl in offered:
            if (existing := chosen.setdefault(impl.name, impl)) is impl:
                continue
            if existing.plugin not in self._builtin_names and impl.plugin in self._builtin_names:
                self.shadowed.append(existing)
                chosen[impl.name] = impl
            else:
                self.shadowed.append(impl)
        return chosen

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
        if broken := sorted(self.failures):
            text += (f"; plugins that failed to load: {', '.join(broken)} "
                     "(see `claude-orchestrator plugins`)")  # fmt: skip
        return text

    def plugins(self) -> list[PluginInfo]:
        """Every plugin, loaded or failed, with the hooks and implementations it offers."""
        self.load_entrypoints()
        by_plugin: dict[str, list[Implementation]] = {}
        for kind_impls in self._collect().values():
            for impl in kind_impls.values():
                by_plugin.setdefault(impl.plugin, []).append(impl)
        result = []
        for name, info in sorted(self._info.items(), key=lambda kv: (not kv[1].builtin, kv[0])):
            if (plugin := self.pm.get_plugin(name)) is not None:
                info.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
            offered = sorted(by_plugin.get(name, []), key=lambda i: (i.kind, i.name))
            info.kinds = sorted({i.kind for i in offered})
            info.implementations = [f"{i.kind}:{i.name}" for i in offered]
            result.append(info)
        return result
