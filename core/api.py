"""The library API: every operation the CLI offers, as methods of :class:`Orchestrator`.

An ``Orchestrator`` is bound to one directory (and so to one repository, config and
event store). It validates every argument before anything is written, calls the
configured plugins through the registry, and tells the configured notifiers about every
event after the store has committed it.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from . import validate as v
from .config import Config, load_config
from .errors import NotInitializedError, OrchestratorError, PluginError, ValidationError
from .location import ENV_DB, Location, discover
from .models import (
    Agent,
    AgentStatus,
    Blocker,
    Conflict,
    Event,
    Feature,
    FeatureRegistration,
    FeatureReport,
    NewEvent,
    StoreInfo,
    TestResult,
)
from .protocols import EventStore, Notifier, PluginContext
from .protocols_vcs import VCS


class Orchestrator:
    """Operations on one repository's coordination state.

    :param cwd: the directory to work from (default: the current directory).
    :param db: the event store's path, overriding config and ``CLAUDE_ORCHESTRATOR_DB``.
    :param registry: a prepared :class:`~claude_orchestrator.manager.PluginRegistry`
        (tests pass one with extra plugins); built on first use otherwise.
    :param env: environment to read overrides from (default ``os.environ``).
    """

    def __init__(
        self,
        cwd: Path | str | None = None,
        *,
        db: Path | str | None = None,
        registry: Any = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._cwd = cwd
        self._db = db
        self._env = os.environ if env is None else env
        self._registry = registry
        self._store: EventStore | None = None
        self._vcs: VCS | None = None
        self._notifiers: list[tuple[str, Notifier]] | None = None
        #: problems that did not stop the operation (a notifier failed...)
        self.warnings: list[str] = []

    # -- wiring ----------------------------------------------------------------------
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
    def registry(self) -> Any:
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

    def _context(self, name: str) -> PluginContext:
        return PluginContext(
            config=self.config,
            root=self.location.root,
            common_dir=self.location.common_dir,
            store_path=self.store_path,
            options=self.config.plugin_options(name),
            orchestrator=self,
        )

    def _build(self, kind: str, name: str, dotted: str) -> Any:
        try:
            impl = self.registry.get(kind, name)
        except PluginError as exc:
            raise self.config.error(dotted, str(exc)) from None
        try:
            return impl.factory(self._context(name))
        except OrchestratorError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{kind} plugin {name!r} (from {impl.plugin}) failed to start: "
                f"{type(exc).__name__}: {exc}"
            ) from None

    def vcs(self) -> VCS:
        """The configured VCS plugin (``plugins.vcs``)."""
        if self._vcs is None:
            name = self.config.vcs_plugin
            if name is None:
                raise self.config.error(
                    "plugins.vcs", "no VCS plugin configured: set it, e.g. `vcs: git`"
                )
            self._vcs = self._build("vcs", name, "plugins.vcs")
        return self._vcs

    def ci(self) -> Any:
        """The configured CI plugin (``plugins.ci``)."""
        name = self.config.ci_plugin
        if name is None:
            raise self.config.error(
                "plugins.ci", "no CI plugin configured: set it, e.g. `ci: github-actions`"
            )
        return self._build("ci", name, "plugins.ci")

    def store_plugin(self) -> EventStore:
        """The configured store, not yet opened (it may not exist)."""
        if self._store is None:
            self._store = self._build("store", self.config.store_plugin, "plugins.store")
        return self._store

    @property
    def store(self) -> EventStore:
        """The configured store; raises NotInitializedError if it was never created."""
        store = self.store_plugin()
        if not store.exists():
            raise NotInitializedError(
                f"Event store not initialized: {store.location} does not exist. "
                "Run: claude-orchestrator events init"
            )
        return store

    def notifiers(self) -> list[tuple[str, Notifier]]:
        if self._notifiers is None:
            built = []
            for index, name in enumerate(self.config.notifiers):
                built.append((name, self._build("notifier", name, f"plugins.notifiers[{index}]")))
            self._notifiers = built
        return self._notifiers

    def notify(self, *events: Event) -> None:
        """Give events to every configured notifier, then let each flush once.

        A notifier's failure becomes a warning on stderr: the events are stored already.
        """
        for name, notifier in self.notifiers():
            try:
                for event in events:
                    notifier.notify(event)
                flush = getattr(notifier, "flush", None)
                if flush is not None:
                    flush()
            except Exception as exc:
                ids = ", ".join(str(e.id) for e in events)
                message = f"notifier {name!r} failed on event {ids}: {type(exc).__name__}: {exc}"
                self.warnings.append(message)
                print(f"warning: {message}", file=sys.stderr)

    def refresh_state_files(self, spec_id: str) -> list[Path]:
        """Rewrite the state files of a feature in the worktrees that have its branches.

        :return: the files that changed.
        """
        from .render import render_state
        from .statefiles import STATE_DIR, state_file_name, write_state_file

        if not self.location.in_git or self.config.vcs_plugin is None:
            return []  # no worktrees, so no agent has a state file here
        worktrees = self.vcs().worktrees()
        agents = [a for a in self.store.list_agents(spec_id) if a.branch_name in worktrees]
        if not agents:
            return []
        report = self.report(spec_id)
        lock_dir = self.location.state_dir / "locks"
        written = []
        for agent in agents:
            tree = worktrees.get(agent.branch_name)
            if tree is None:
                continue
            path = tree / STATE_DIR / state_file_name(agent.role)
            try:
                changed = write_state_file(path, render_state(report, agent.role), lock_dir)
            except OSError as exc:
                # Another agent's worktree is read-only to a sandboxed implementor: that
                # agent's own next command (its hooks run sync-status) refreshes its view.
                if Path(os.path.realpath(tree)) == Path(os.path.realpath(self.location.root)):
                    raise
                if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
                continue
            if changed:
                written.append(path)
        return written

    def check_plugins(self) -> None:
        """Build the configured store and notifiers now, and look up the configured VCS and
        CI plugins, so that a bad name fails before anything is written."""
        self.store_plugin()
        self.notifiers()
        for kind, name in (("vcs", self.config.vcs_plugin), ("ci", self.config.ci_plugin)):
            if name is not None:
                try:
                    self.registry.get(kind, name)
                except PluginError as exc:
                    raise self.config.error(f"plugins.{kind}", str(exc)) from None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- set-up ----------------------------------------------------------------------
    def init(self, areas: Sequence[str] | None = None) -> tuple[bool, StoreInfo]:
        """Write a commented default ``orchestrator.yaml`` (if absent) and create the store.

        :return: (whether the config file was written, the store's info).
        """
        from .config import write_template
        from .workflow import refuse_bare

        refuse_bare(self.location)
        checked = v.check_areas(areas) if areas is not None else None
        path = self.config_path
        written = False
        if not path.exists():
            try:
                write_template(path, checked)
            except FileExistsError:
                pass  # another process wrote it meanwhile: use theirs
            else:
                written = True
            # forget what was derived from the (absent) file
            self.__dict__.pop("config", None)
            self.__dict__.pop("store_path", None)
        info = self.init_store()
        return written, info

    def init_store(self) -> StoreInfo:
        """Create the event store, or migrate it forward; safe to repeat."""
        from .workflow import refuse_bare

        refuse_bare(self.location)
        self.check_plugins()
        info = self.store_plugin().initialize()
        # The parsed-config cache lives beside the store; see config.load_config.
        (self.location.state_dir / "cache").mkdir(parents=True, exist_ok=True)
        return info

    # -- features and agents ---------------------------------------------------------
    def add_feature(
        self,
        spec_id: str,
        name: str,
        *,
        overseer_branch: str | None = None,
        areas: Sequence[str] | None = None,
    ) -> Feature:
        """Register a feature with its overseer and one implementor per area
        (:meth:`register_feature`, which says what it did)."""
        return self.register_feature(
            spec_id, name, overseer_branch=overseer_branch, areas=areas
        ).feature

    def register_feature(
        self,
        spec_id: str,
        name: str,
        *,
        overseer_branch: str | None = None,
        areas: Sequence[str] | None = None,
    ) -> FeatureRegistration:
        """Register a feature with its overseer and one implementor per area.

        Idempotent: a feature registered already (as ``init-feature`` registers it) keeps
        its agents and gets the name; only the areas given (``areas``) add agents, and
        only the branches given are checked: a different overseer or agent branch raises
        AlreadyExistsError, nothing written.
        """
        spec_id = v.check_spec_id(spec_id)
        name = v.check_message(name, "feature name")
        area_list = v.check_areas(areas) if areas is not None else self.config.areas
        branch = overseer_branch or self.config.overseer_branch(spec_id)
        v.check_branch(branch)
        agents = [("overseer", branch)] + [
            (v.role_for_area(a), self.config.implementor_branch(spec_id, a)) for a in area_list
        ]
        store = self.store
        self.check_plugins()
        from .errors import AlreadyExistsError

        existing = store.get_feature(spec_id)
        if existing is None:
            try:
                feature, event = store.add_feature(spec_id, name, branch, agents)
            except AlreadyExistsError:  # another process registered it meanwhile
                existing = store.get_feature(spec_id)
                if existing is None:
                    raise
            else:
                self.notify(event)
                return FeatureRegistration(feature, True, None, [])
        # the defaults are what the feature has: check and add only what was given
        given = (agents[:1] if overseer_branch else []) + (agents[1:] if areas is not None else [])
        return self._register_again(existing, name, given)

    def _register_again(
        self, existing: Feature, name: str, agents: Sequence[tuple[str, str]]
    ) -> FeatureRegistration:
        """``add-feature`` for a feature that is registered already (``init-feature`` did
        it): the same branches are fine -- set the name and add the agents it lacks;
        a different branch for the overseer or an agent is refused, nothing written."""
        from .errors import AlreadyExistsError

        spec_id = existing.spec_id
        have = {a.role: a.branch_name for a in self.store.list_agents(spec_id)}
        have["overseer"] = existing.overseer_branch
        clash = [(r, b) for r, b in agents if r in have and have[r] != b]
        if clash:
            role, branch = clash[0]
            raise AlreadyExistsError(
                f"feature {spec_id} is already in the event store, with {role} on "
                f"{have[role]}, not {branch}: see `claude-orchestrator events status {spec_id}`"
            )
        feature, event = self.store.set_feature_name(spec_id, name)
        if event is not None:
            self.notify(event)
        added = [self.add_agent(spec_id, r, b) for r, b in agents if r not in have]
        previous = existing.name if existing.name != name else None
        return FeatureRegistration(feature, False, previous, added)

    def add_agent(self, spec_id: str, role: str, branch: str | None = None) -> Agent:
        spec_id = v.check_spec_id(spec_id)
        role = v.check_role(role)
        if branch is None:
            if role == "overseer":
                branch = self.config.overseer_branch(spec_id)
            else:
                branch = self.config.implementor_branch(spec_id, role.split("-", 1)[1])
        v.check_branch(branch)
        store = self.store
        self.check_plugins()
        agent, event = store.add_agent(spec_id, role, branch)
        self.notify(event)
        return agent

    def set_feature_status(self, spec_id: str, status: str) -> Feature:
        spec_id = v.check_spec_id(spec_id)
        status = v.check_choice(status, v.FEATURE_STATUSES, "feature status")
        store = self.store
        self.check_plugins()
        feature, event = store.set_feature_status(spec_id, status)
        self.notify(event)
        return feature

    def feature(self, spec_id: str) -> Feature:
        spec_id = v.check_spec_id(spec_id)
        found = self.store.get_feature(spec_id)
        if found is None:
            from .domain import feature_not_found

            raise feature_not_found(spec_id)
        return found

    # -- events ----------------------------------------------------------------------
    def log_event(
        self,
        spec_id: str,
        role: str,
        event_type: str,
        message: str,
        task_id: str | None = None,
        commit: str | None = None,
        metadata: str | dict[str, Any] | None = None,
    ) -> Event:
        """Append one event (the original ``log-event``)."""
        new = NewEvent(
            spec_id=v.check_spec_id(spec_id),
            role=v.check_role(role),
            event_type=v.check_event_type(event_type),
            message=v.check_message(message),
            task_id=v.check_task_id(task_id),
            commit_hash=v.check_commit(commit),
            metadata=v.check_metadata(metadata),
        )
        store = self.store
        self.check_plugins()
        event = store.append_event(new)
        self.notify(event)
        return event

    def recent(self, limit: int = 20, spec_id: str | None = None) -> list[Event]:
        limit = v.check_limit(limit)
        if spec_id is not None:
            self.feature(spec_id)
        return self.store.recent_events(limit, spec_id)

    def status(self, spec_id: str | None = None) -> list[AgentStatus]:
        if spec_id is not None:
            self.feature(spec_id)
        return self.store.feature_status(spec_id)

    # -- conflicts -------------------------------------------------------------------
    def log_conflict(
        self, spec_id: str, role: str, files: str | Sequence[str], severity: str = "warning"
    ) -> Conflict:
        spec_id = v.check_spec_id(spec_id)
        role = v.check_role(role)
        paths = v.check_path_list(files if isinstance(files, str) else list(files))
        severity = v.check_choice(severity, v.SEVERITIES, "severity")
        store = self.store
        self.check_plugins()
        conflict, event = store.add_conflict(spec_id, role, paths, severity)
        self.notify(event)
        return conflict

    def resolve_conflict(self, conflict_id: int | str, notes: str | None = None) -> Conflict:
        number = v.check_positive_id(conflict_id, "conflict")
        text = v.check_message(notes or "Manually resolved", "resolution notes")
        store = self.store
        self.check_plugins()
        conflict, event = store.resolve_conflict(number, text)
        self.notify(event)
        return conflict

    def conflicts(
        self, spec_id: str | None = None, include_resolved: bool = False
    ) -> list[Conflict]:
        if spec_id is not None:
            self.feature(spec_id)
        return self.store.list_conflicts(spec_id, include_resolved)

    # -- blockers --------------------------------------------------------------------
    def block(
        self,
        spec_id: str,
        role: str,
        blocker_type: str,
        description: str,
        *,
        blocked_by: str | None = None,
        task_id: str | None = None,
    ) -> Blocker:
        spec_id = v.check_spec_id(spec_id)
        role = v.check_role(role)
        blocker_type = v.check_choice(blocker_type, v.BLOCKER_TYPES, "blocker type")
        description = v.check_message(description, "blocker description")
        blocking = v.check_role(blocked_by) if blocked_by else None
        task = v.check_task_id(task_id)
        store = self.store
        self.check_plugins()
        blocker, event = store.add_blocker(spec_id, role, blocker_type, description, blocking, task)
        self.notify(event)
        return blocker

    def unblock(self, blocker_id: int | str, notes: str | None = None) -> Blocker:
        number = v.check_positive_id(blocker_id, "blocker")
        text = v.check_message(notes or "Resolved", "resolution notes")
        store = self.store
        self.check_plugins()
        blocker, event = store.resolve_blocker(number, text)
        self.notify(event)
        return blocker

    def blockers(self, spec_id: str | None = None, include_resolved: bool = False) -> list[Blocker]:
        if spec_id is not None:
            self.feature(spec_id)
        return self.store.list_blockers(spec_id, include_resolved)

    # -- test results ----------------------------------------------------------------
    def record_test(
        self,
        spec_id: str,
        role: str,
        test_type: str,
        status: str,
        *,
        commit: str | None = None,
        total: int | None = None,
        passed: int | None = None,
        failed: int | None = None,
        skipped: int | None = None,
        duration_ms: int | None = None,
        logs_url: str | None = None,
    ) -> TestResult:
        spec_id = v.check_spec_id(spec_id)
        role = v.check_role(role)
        test_type = v.check_choice(test_type, v.TEST_TYPES, "test type")
        status = v.check_choice(status, v.TEST_STATUSES, "test status")
        counts = {
            "total": v.check_count(total, "total"),
            "passed": v.check_count(passed, "passed count"),
            "failed": v.check_count(failed, "failed count"),
            "skipped": v.check_count(skipped, "skipped count"),
        }
        if counts["total"] is not None:
            parts = [counts[k] or 0 for k in ("passed", "failed", "skipped")]
            if sum(parts) > counts["total"]:
                raise ValidationError(
                    f"passed + failed + skipped ({sum(parts)}) exceeds the total "
                    f"({counts['total']}): check the counts"
                )
        if status == "passed" and (counts["failed"] or 0) > 0:
            raise ValidationError(
                f"status 'passed' with {counts['failed']} failed tests: record status 'failed'"
            )
        duration = v.check_count(duration_ms, "duration")
        url = v.check_message(logs_url, "logs URL") if logs_url else None
        store = self.store
        self.check_plugins()
        result, event = store.record_test(
            spec_id,
            role,
            test_type,
            status,
            commit_hash=v.check_commit(commit),
            duration_ms=duration,
            logs_url=url,
            **counts,
        )
        self.notify(event)
        return result

    def test_results(self, spec_id: str | None = None, limit: int = 50) -> list[TestResult]:
        limit = v.check_limit(limit)
        if spec_id is not None:
            self.feature(spec_id)
        return self.store.list_test_results(spec_id, limit)

    # -- reports ---------------------------------------------------------------------
    def report(self, spec_id: str, events: int = 20) -> FeatureReport:
        """Everything the state report of a feature shows (``events export``)."""
        feature = self.feature(spec_id)
        store = self.store
        return FeatureReport(
            feature=feature,
            agents=store.list_agents(spec_id),
            status=store.feature_status(spec_id),
            tasks=store.task_states(spec_id),
            events=store.recent_events(v.check_limit(events), spec_id),
            conflicts=store.list_conflicts(spec_id, include_resolved=False),
            blockers=store.list_blockers(spec_id, include_resolved=False),
            tests=store.list_test_results(spec_id, 10),
            pull_requests=store.list_pull_requests(spec_id),
        )

    def export(self, spec_id: str, fmt: str = "markdown", output: Path | str | None = None) -> str:
        """Render a feature's report; write it atomically to ``output`` when given."""
        from .render import render_report

        fmt = v.check_choice(fmt, v.EXPORT_FORMATS, "export format")
        target = None
        if output is not None:
            output = v.check_local_path(output, "output path")
            target = (self.location.cwd / Path(output)).resolve()
            if not target.parent.is_dir():
                raise ValidationError(
                    f"cannot write {output}: the directory {target.parent} does not exist"
                )
            if target.is_dir():
                raise ValidationError(f"cannot write {output}: it is a directory; name a file")
        text = render_report(self.report(spec_id), fmt)
        if target is not None:
            from .fsutil import atomic_write_text

            atomic_write_text(target, text)
        return text

    def store_info(self) -> StoreInfo:
        return self.store.info()
