"""Who is calling the guard: :class:`Context` (role, worktree, branch, the paths the role
may write), :class:`Deny`, the refusal every check raises, and :func:`open_vcs`, the
configured VCS plugin through which the guard reads the repository."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .pathmatch import compile_patterns
from .shellparse import Simple, parse
from .shellparse_lex import ShellSyntaxError

if TYPE_CHECKING:
    from .config_model import Config
    from .location import Location
    from .manager import PluginRegistry
    from .protocols_vcs import VCS

PROTECTED_FILES = ("state/overseer.md", ".claude/", ".github/workflows/", "orchestrator.yaml",
                   ".git", ".githooks/", ".orchestrator-generated.json")  # fmt: skip
#: environment variables an implementor may set for a command (plus ``LC_*`` and
#: ``guard.env``): none of them changes which program runs, what it reads as code or
#: config, or where it writes.
SAFE_ENV = frozenset({
    "CI", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS",
    "LINES", "LANG", "LANGUAGE", "TZ", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
    "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONUTF8", "PYTHONIOENCODING",
    "PYTHONFAULTHANDLER", "PYTHONDEVMODE", "PYTHONTRACEMALLOC", "NODE_ENV",
    "RUST_BACKTRACE", "RUST_LOG", "DEBUG", "VERBOSE", "LOG_LEVEL", "HYPOTHESIS_PROFILE",
    "TESTING", "GIT_PAGER_IN_USE",
})  # fmt: skip


class Deny(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = " ".join(reason.split())


# ---------------------------------------------------------------------- context
class Context:
    """What the rules need to know about the agent making the call."""

    def __init__(self, *, role: str, root: Path, branch: str, config: Config,
                 vcs: VCS) -> None:  # fmt: skip
        from .workflow import parse_branch

        self.role = role
        self.root = Path(os.path.realpath(root))
        self.config = config
        self.vcs = vcs
        if role not in ("implementor", "overseer"):
            raise Deny(f"unknown role {role!r}: the guard knows implementor and overseer")
        parsed = parse_branch(config.branch_prefix, branch)
        head = branch
        if parsed is None:
            # Not on a feature branch (a spike branch, a detached HEAD): the agent's own
            # branch is the one its worktree was made for (<dir>/<spec>/<agent>).
            home = f"{config.branch_prefix.rstrip('/')}/{self.root.parent.name}/{self.root.name}"
            home_parsed = parse_branch(config.branch_prefix, home)
            if home_parsed is not None and _branch_exists(vcs, home):
                parsed, branch = home_parsed, home
        self.branch = branch
        if parsed is None:
            raise Deny(
                f"the worktree is on {branch!r}, not a feature branch: the {role} works on "
                f"its own {config.branch_prefix}/<spec>/... branch"
            )
        if (parsed.role == "overseer") != (role == "overseer"):
            raise Deny(f"role {role} does not match the worktree's branch {branch}")
        self.head = head
        self.spec_id = parsed.spec_id
        self.area = parsed.area
        self.overseer_branch = config.overseer_branch(parsed.spec_id)
        self.main_names = {"main", "master", config.main_branch}
        self.prefix = config.branch_prefix.rstrip("/") + "/"
        guard = config.data.get("guard", {})
        entries = [*map(str, guard.get("allow", [])), *config.test_commands("implementor").values()]
        self.allow = [_entry_words(entry) for entry in entries]
        self.env = SAFE_ENV | {str(name) for name in guard.get("env", [])}
        kind = "overseer" if role == "overseer" else "implementor"
        self.write_paths = compile_patterns(config.role_paths(kind, self.area))
        self.write_paths_text = ", ".join(config.role_paths(kind, self.area))
        tasks = config.tasks_file_template.replace("{spec_id}", "*")
        protected = [*PROTECTED_FILES, tasks] if self.implementor else [".git"]
        self.protected = compile_patterns(protected)
        self.git_dir: Path | None = None
        self.common_dir: Path | None = None
        self.repository = self._repository_places()
        self.home = Path(os.path.realpath(os.path.expanduser("~")))
        self.own = {self.branch}
        if head != self.branch and not self.protected_ref(head) and head not in self.main_names:
            self.own.add(head)

    def _repository_places(self) -> list[Path]:
        """The git directory and every other worktree of this repository: never this
        agent's to write, wherever they are (also under /tmp)."""
        from .location import discover

        location = discover(self.root, {})
        self.git_dir = Path(os.path.realpath(location.git_dir)) if location.git_dir else None
        places: list[Path] = []
        if location.common_dir is not None:
            self.common_dir = Path(os.path.realpath(location.common_dir))
            places.append(self.common_dir)
            places += [Path(os.path.realpath(t)) for t in self.vcs.worktrees().values()]
        if self.git_dir is not None:
            places.append(self.git_dir)
        return [p for p in places if p != self.root]

    @property
    def implementor(self) -> bool:
        return self.role == "implementor"

    def ref_name(self, ref: str) -> str:
        ref = ref.lstrip("+")
        for prefix in ("refs/heads/", "heads/", "refs/remotes/origin/", "origin/"):
            if ref.startswith(prefix):
                return ref[len(prefix) :]
        if ref in ("HEAD", "@"):  # the branch checked out now, not the worktree's own
            return self.head if self.head and not self.head.startswith("(") else self.branch
        return ref

    def protected_ref(self, ref: str) -> bool:
        """For an implementor: any branch (or tag) name but its own that matters to
        others — the main branch, master, any feature branch."""
        name = self.ref_name(ref)
        for prefix in ("refs/tags/", "tags/"):
            name = name.removeprefix(prefix)
        if name == self.branch:
            return False
        return name in self.main_names or name.startswith(self.prefix)


def _entry_words(entry: str) -> tuple[str, ...]:
    """A ``guard.allow`` entry as the words the shell would make of it."""
    try:
        tree = parse(entry)
    except ShellSyntaxError:
        return tuple(entry.split())
    if isinstance(tree, Simple) and not tree.redirects and not tree.assignments:
        return tuple(w.text for w in tree.words)
    return tuple(entry.split())


def _branch_exists(vcs: VCS, name: str) -> bool:
    try:
        return vcs.branch_exists(name)
    except Exception:
        return False


def open_vcs(
    location: Location,
    config: Config,
    *,
    env: Mapping[str, str] | None = None,
    registry: PluginRegistry | None = None,
) -> VCS:
    """The VCS plugin ``config`` names (``plugins.vcs``), built through the registry as
    :meth:`~claude_orchestrator.api.Orchestrator.vcs` builds it: the guard reads refs,
    commits and worktrees only through the :class:`~.protocols_vcs.VCS` protocol.

    :param config: the configuration the guard decides with (the overseer branch's).
    :param registry: a prepared registry (shared with the decision log); a fresh one
        otherwise. Only built-in plugins are imported unless the config names another VCS.
    :raises OrchestratorError: no VCS is configured, or the one named is not installed.
    """
    from .errors import PluginError
    from .guard_log import store_path
    from .protocols import PluginContext
    from .protocols_vcs import VCS

    env = os.environ if env is None else env
    name = config.vcs_plugin
    if name is None:
        raise config.error("plugins.vcs", "no VCS plugin configured: set it, e.g. `vcs: git`")
    if registry is None:
        from .manager import PluginRegistry

        registry = PluginRegistry(env=env)
    context = PluginContext(
        config=config,
        root=location.root,
        common_dir=location.common_dir,
        store_path=store_path(location, config, env),
        options=config.plugin_options(name),
    )
    impl = registry.get("vcs", name)
    vcs = impl.factory(context)
    if not isinstance(vcs, VCS):
        raise PluginError(f"vcs plugin {name!r} (from {impl.plugin}) built a "
                          f"{type(vcs).__name__}, not a VCS: fix or remove the plugin")  # fmt: skip
    return vcs


def unanalysable(context: Context, what: str) -> None:
    if context.implementor:
        raise Deny(
            f"cannot check {what}: implementors run commands the guard can read (no eval, "
            "variables in command position or inline interpreter code); a command the "
            "project needs can be added to guard.allow in orchestrator.yaml"
        )
