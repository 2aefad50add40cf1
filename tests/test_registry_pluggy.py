"""The registry calls every ``register_*`` hook through pluggy: wrappers register, hook
monitoring and tracing see the calls, each implementation belongs to the plugin that
registered it, a raising plugin is isolated, built-in names stay reserved; the built-in
plugins are our own distribution's entry points."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator import hookimpl
from claude_orchestrator.errors import PluginError
from claude_orchestrator.manager import ENTRY_POINT_GROUP, ENV_ALLOW, PluginRegistry
from claude_orchestrator.protocols import PluginContext, Register

MANAGER = Path(__file__).resolve().parent.parent / "core" / "manager.py"
#: The built-in plugins in their documented load order (by name).
BUILTINS = ("forge_github", "forge_local", "git_vcs", "github_actions_ci",
            "markdown_notifier", "notify_apprise", "notify_desktop", "notify_discord",
            "notify_slack", "notify_webhook", "postgres_store", "sqlite_store")  # fmt: skip


def nothing(context: PluginContext) -> None:
    return None


def offer(register: Register, names: tuple[str, ...], raises: str | None = None) -> None:
    """A helper between a hook implementation and ``register``."""
    for name in names:
        register(name, nothing)
    if raises is not None:
        raise RuntimeError(raises)


class Normal:
    def __init__(self, *names: str, raises: str | None = None) -> None:
        self.names, self.raises = names, raises

    @hookimpl
    def register_ci(self, register: Register) -> None:
        offer(register, self.names, self.raises)


class First(Normal):
    @hookimpl(tryfirst=True)
    def register_ci(self, register: Register) -> None:
        offer(register, self.names, self.raises)


class Last(Normal):
    @hookimpl(trylast=True)
    def register_ci(self, register: Register) -> None:
        offer(register, self.names, self.raises)


class Wrapper(Normal):
    @hookimpl(wrapper=True)
    def register_ci(self, register: Register) -> Generator[None, None, None]:
        offer(register, self.names, self.raises)
        return (yield)


class OldWrapper(Normal):
    @hookimpl(hookwrapper=True)
    def register_ci(self, register: Register) -> Generator[None, None, None]:
        offer(register, self.names, self.raises)
        yield


def closure(*names: str, raises: str | None = None) -> SimpleNamespace:
    """Plugins made by one function share their hook's code object."""

    @hookimpl
    def register_ci(register: Register) -> None:
        offer(register, names, raises)

    return SimpleNamespace(register_ci=register_ci)


def owners(registry: PluginRegistry, kind: str = "ci") -> dict[str, str]:
    return {name: impl.plugin for name, impl in registry.implementations(kind).items()}


def test_wrappers_register_and_are_attributed(registry: PluginRegistry) -> None:
    """``wrapper=True`` and ``hookwrapper=True`` implementations register, before and
    after the implementations they wrap; ``plugins`` shows them."""

    class Around:
        @hookimpl(wrapper=True)
        def register_notifiers(self, register: Register) -> Generator[None, None, None]:
            register("before", nothing)
            result = yield
            register("after", nothing)
            return result

    registry.register(Around(), name="around")
    registry.register(OldWrapper("old-style"), name="old")
    registry.register(Normal("plain"), name="plain")
    assert owners(registry, "notifier") == {"markdown": "markdown_notifier",
                                            "before": "around", "after": "around"}  # fmt: skip
    assert owners(registry) == {"github-actions": "github_actions_ci", "old-style": "old",
                                "plain": "plain"}  # fmt: skip
    info = {p.name: p for p in registry.plugins()}
    assert info["around"].implementations == ["notifier:after", "notifier:before"]
    assert info["old"].implementations == ["ci:old-style"]
    assert info["old"].hooks == ["register_ci"] and info["around"].kinds == ["notifier"]


def test_hook_monitoring_and_tracing_see_every_register_hook(registry: PluginRegistry) -> None:
    called: list[str] = []
    returned: list[str] = []
    registry.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: called.append(name),
        lambda outcome, name, impls, kwargs: returned.append(name),
    )
    lines: list[str] = []
    registry.pm.trace.root.setwriter(lines.append)
    undo = registry.pm.enable_tracing()
    registry.implementations("store")
    undo()
    hooks = ["register_vcs", "register_stores", "register_ci", "register_notifiers",
             "register_forges", "register_channels"]  # fmt: skip
    assert sorted(called) == sorted(returned) == sorted(hooks)
    traced = "".join(lines)
    assert all(hook in traced for hook in hooks)


def test_a_raising_plugin_is_isolated(registry: PluginRegistry) -> None:
    """The plugin that raised is recorded (raised in a helper it called), contributes
    nothing to that kind, and the plugins pluggy would have called after it still
    register; its other hooks and every other kind still work."""

    class Faulty(Normal):
        @hookimpl
        def register_stores(self, register: Register) -> None:
            register("faulty-store", nothing)

    registry.register(Normal("after"), name="after")  # called after the faulty one
    registry.register(Faulty("half", raises="boom"), name="faulty")
    registry.register(Wrapper("wrapped"), name="wrapper")
    assert owners(registry) == {"github-actions": "github_actions_ci", "after": "after",
                                "wrapped": "wrapper"}  # fmt: skip
    assert registry.failures == {"faulty": "register_ci failed: RuntimeError: boom"}
    assert owners(registry, "store") == {"postgres": "postgres_store", "sqlite": "sqlite_store",
                                       "faulty-store": "faulty"}  # fmt: skip
    info = {p.name: p for p in registry.plugins()}
    assert info["faulty"].error == "register_ci failed: RuntimeError: boom"
    assert info["after"].error is None and info["wrapper"].error is None


def test_a_wrapper_that_does_not_yield_is_recorded(registry: PluginRegistry) -> None:
    """pluggy's own error (raised outside the plugin's frames) is pinned on the plugin."""

    class NoYield:
        @hookimpl(wrapper=True)
        def register_ci(self, register: Register) -> Generator[None, None, None]:
            register("never-used", nothing)
            if False:  # a generator function that returns before its yield
                yield

    registry.register(Normal("kept"), name="kept")
    registry.register(NoYield(), name="no-yield")
    assert owners(registry) == {"github-actions": "github_actions_ci", "kept": "kept"}
    assert registry.failures["no-yield"].startswith(
        "register_ci failed: RuntimeError: wrap_controller at 'register_ci'"
    )
    assert registry.failures["no-yield"].endswith("did not yield")


def test_register_through_a_helper_is_attributed(registry: PluginRegistry) -> None:
    """Every plugin here calls ``register`` through the same helper function, two of
    them as instances of one class (one code object), one as a wrapper."""
    registry.register(Normal("one"), name="one")
    registry.register(Normal("two"), name="two")
    registry.register(Wrapper("three"), name="three")
    assert owners(registry) == {"github-actions": "github_actions_ci", "one": "one",
                                "two": "two", "three": "three"}  # fmt: skip


def test_closures_sharing_code_are_told_apart(registry: PluginRegistry) -> None:
    registry.register(closure("x"), name="x-plugin")
    registry.register(closure("y", raises="bad y"), name="y-plugin")
    registry.register(closure("z"), name="z-plugin")
    assert owners(registry) == {"github-actions": "github_actions_ci", "x": "x-plugin",
                                "z": "z-plugin"}  # fmt: skip
    assert registry.failures == {"y-plugin": "register_ci failed: RuntimeError: bad y"}


def test_builtin_names_stay_reserved(registry: PluginRegistry) -> None:
    """A third-party registration under a built-in name is shadowed, however it is
    called: first, as a wrapper, or as an old-style wrapper."""

    class Impostor:
        def __init__(self) -> None:
            self.names = ("sqlite",)

    class FirstImpostor(Impostor):
        @hookimpl(tryfirst=True)
        def register_stores(self, register: Register) -> None:
            offer(register, self.names)

    class WrapperImpostor(Impostor):
        @hookimpl(wrapper=True)
        def register_stores(self, register: Register) -> Generator[None, None, None]:
            offer(register, self.names)
            return (yield)

    class OldImpostor(Impostor):
        @hookimpl(hookwrapper=True)
        def register_stores(self, register: Register) -> Generator[None, None, None]:
            yield
            offer(register, self.names)

    registry.register(FirstImpostor(), name="first")
    registry.register(WrapperImpostor(), name="wrapper")
    registry.register(OldImpostor(), name="old")
    assert registry.get("store", "sqlite").plugin == "sqlite_store"
    assert sorted(i.plugin for i in registry.shadowed) == ["first", "old", "wrapper"]


def test_register_after_the_hook_returned_is_an_error(registry: PluginRegistry) -> None:
    kept: list[Register] = []

    class Keeper:
        @hookimpl
        def register_ci(self, register: Register) -> None:
            kept.append(register)

    registry.register(Keeper(), name="keeper")
    registry.implementations("ci")
    with pytest.raises(PluginError, match=r"register\('late', \.\.\.\) was called after"):
        kept[0]("late", nothing)
    assert "late" not in registry.implementations("ci")


# ---------------------------------------------------------------- property: a model
STYLES: dict[str, Callable[..., object]] = {
    "normal": Normal, "first": First, "last": Last, "wrapper": Wrapper,
    "old-wrapper": OldWrapper, "closure": closure,
}  # fmt: skip


class Spec(NamedTuple):
    style: str
    names: tuple[str, ...]
    raises: bool


specs = st.lists(
    st.builds(
        Spec,
        st.sampled_from(sorted(STYLES)),
        st.lists(st.sampled_from(["github-actions", "a", "b", "c"]), max_size=3).map(tuple),
        st.booleans(),
    ),
    max_size=6,
)


@given(specs)
def test_registrations_match_a_model(plugins: list[Spec]) -> None:
    """For any mix of plugin styles, raising or not: the raising plugins are exactly the
    failures and offer nothing; the others' registrations are taken in pluggy's call
    order, the first registration of a name wins, and built-in names stay built-in."""
    registry = PluginRegistry(entrypoints=False)
    for index, spec in enumerate(plugins):
        raises = f"boom {index}" if spec.raises else None
        registry.register(STYLES[spec.style](*spec.names, raises=raises), name=f"p{index}")
    by_name = {f"p{index}": spec for index, spec in enumerate(plugins)}
    order = [i.plugin_name for i in reversed(registry.pm.hook.register_ci.get_hookimpls())]
    expected: dict[str, str] = {}
    shadowed: list[str] = []
    for plugin in order:
        spec = by_name.get(plugin, Spec("last", ("github-actions",), False))  # the built-in
        if spec.raises:
            continue
        for name in spec.names:
            existing = expected.get(name)
            if existing is None:
                expected[name] = plugin
            elif existing in by_name and plugin not in by_name:  # a built-in takes its name
                shadowed.append(existing)
                expected[name] = plugin
            else:
                shadowed.append(plugin)
    assert owners(registry) == expected
    assert Counter(i.plugin for i in registry.shadowed) == Counter(shadowed)
    assert registry.failures == {
        f"p{index}": f"register_ci failed: RuntimeError: boom {index}"
        for index, spec in enumerate(plugins)
        if spec.raises
    }


# ------------------------------------------------------------------ built-in plugins
def test_builtins_are_our_distributions_entry_points() -> None:
    from claude_orchestrator.config_defaults import DISTRIBUTION
    from claude_orchestrator.manager import builtin_entry_points

    declared = [
        (ep.name, ep.value)
        for ep in importlib.metadata.distribution(DISTRIBUTION).entry_points
        if ep.group == ENTRY_POINT_GROUP
    ]
    assert [(ep.name, ep.value) for ep in builtin_entry_points()] == declared
    assert tuple(name for name, _ in declared) == BUILTINS
    registry = PluginRegistry(entrypoints=False)
    assert [name for name, _ in registry.pm.list_name_plugin()] == list(BUILTINS)
    shown = {p.name: (p.builtin, p.module) for p in registry.plugins()}
    assert shown == {name: (True, value) for name, value in declared}
    # the allow-list switches third-party plugins off, never the built-ins
    assert len(PluginRegistry(env={ENV_ALLOW: ""}).plugins()) >= len(BUILTINS)


def test_without_the_fast_path_importlib_metadata_finds_the_same() -> None:
    from claude_orchestrator.manager import builtin_entry_points

    assert builtin_entry_points(path=[]) == builtin_entry_points()
    assert builtin_entry_points(path=["/nonexistent", ""]) == builtin_entry_points()


def test_the_first_metadata_on_the_path_names_the_builtins(tmp_path: Path) -> None:
    from claude_orchestrator.manager import DIST_INFO, EntryPoint, builtin_entry_points

    (tmp_path / DIST_INFO).mkdir()
    (tmp_path / DIST_INFO / "entry_points.txt").write_text(
        f"[console_scripts]\nx = y:z\n\n[{ENTRY_POINT_GROUP}]\none = pkg.one\n"
    )
    assert builtin_entry_points(path=[str(tmp_path), *sys.path]) == [EntryPoint("one", "pkg.one")]
    (tmp_path / DIST_INFO / "entry_points.txt").write_text("[console_scripts]\nx = y:z\n")
    with pytest.raises(PluginError, match=r"names no built-in plugins .*reinstall it"):
        builtin_entry_points(path=[str(tmp_path)])


def test_the_entry_point_scan_does_not_load_builtins_as_third_party() -> None:
    """With no built-ins asked for, our own distribution's entry points stay unloaded."""
    registry = PluginRegistry(builtins=(), env={})
    names = {p.name for p in registry.plugins()}
    assert not names & set(BUILTINS)
    assert registry.implementations("store", everything=True) == {}


def test_builtins_may_still_be_given_as_module_names() -> None:
    registry = PluginRegistry(builtins=("claude_orchestrator.plugins.sqlite_store",),
                              entrypoints=False)  # fmt: skip
    assert owners(registry, "store") == {"sqlite": "sqlite_store"}
    assert [p.name for p in registry.plugins()] == ["sqlite_store"]
    with pytest.raises(PluginError, match="unknown ci 'github-actions'"):
        registry.get("ci", "github-actions")


def test_the_manager_names_no_plugin_module() -> None:
    """core/ imports nothing from plugins/: the built-ins come from entry points."""
    tree = ast.parse(MANAGER.read_text())
    named = [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and "plugins" in (node.module or ""))
        or (isinstance(node, ast.Import) and any("plugins" in a.name for a in node.names))
        or (isinstance(node, ast.Constant) and "claude_orchestrator.plugins" in str(node.value))
    ]
    assert named == []


section = st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="[]="),
                  min_size=1, max_size=8)  # fmt: skip
key = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}", fullmatch=True)
value = st.from_regex(r"[a-z_][a-z0-9_]{0,6}(\.[a-z_][a-z0-9_]{0,6}){0,2}(:[a-z_]{1,5})?",
                      fullmatch=True)  # fmt: skip
pad = st.sampled_from(["", " ", "  ", "\t"])
line = st.one_of(
    st.tuples(pad, key, pad, pad, value, pad).map(
        lambda t: f"{t[0]}{t[1]}{t[2]}={t[3]}{t[4]}{t[5]}"
    ),
    st.just(""),
    st.just("# a comment = not an entry"),
)
files = st.lists(st.tuples(st.one_of(st.just(ENTRY_POINT_GROUP), section), st.lists(line)),
                 max_size=4)  # fmt: skip


@given(files)
def test_entry_points_are_read_as_importlib_metadata_reads_them(
    sections: list[tuple[str, list[str]]],
) -> None:
    from claude_orchestrator.manager import entry_points_in

    text = "".join(f"[{name}]\n" + "".join(f"{ln}\n" for ln in lines) for name, lines in sections)
    with tempfile.TemporaryDirectory() as site:
        info = Path(site, "x-1.dist-info")
        info.mkdir()
        (info / "entry_points.txt").write_text(text)
        theirs = importlib.metadata.PathDistribution(info).entry_points
        expected = [(ep.name, ep.value) for ep in theirs if ep.group == ENTRY_POINT_GROUP]
    assert [(ep.name, ep.value) for ep in entry_points_in(text, ENTRY_POINT_GROUP)] == expected
