"""The library API: every operation the CLI offers, as methods of :class:`Orchestrator`.

An ``Orchestrator`` is bound to one directory (and so to one repository, config and
event store). It validates every argument before anything is written, calls the
configured plugins through the registry, and tells the configured notifiers about every
event after the store has committed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import validate as v
from .errors import AlreadyExistsError, ValidationError
from .feed import LIMIT, POLL_S, Subscription, subscribe
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
from .wiring import Wiring


class Orchestrator(Wiring):
    """Operations on one repository's coordination state.

    :param cwd: the directory to work from (default: the current directory).
    :param db: the event store's path, overriding config and ``CLAUDE_ORCHESTRATOR_DB``.
    :param registry: a prepared :class:`~claude_orchestrator.manager.PluginRegistry`
        (tests pass one with extra plugins); built on first use otherwise.
    :param env: environment to read overrides from (default ``os.environ``).
    :param on_warning: called with each warning (``warning: ...``) as it happens; the
        library itself never prints. Warnings are also kept in :attr:`warnings`.
    """

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

    def subscribe(
        self, after_id: int | None = 0, *, limit: int = LIMIT, poll_interval: float = POLL_S
    ) -> Subscription:
        """The live feed: the events of every feature committed after event ``after_id``
        (None: from now on), as they come (:func:`claude_orchestrator.feed.subscribe`)."""
        return subscribe(self.store, after_id, limit=limit, poll_interval=poll_interval)

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
        from .reports import build_report

        return build_report(self.store, v.check_spec_id(spec_id), events)

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
