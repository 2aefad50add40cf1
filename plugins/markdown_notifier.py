"""The built-in ``markdown`` notifier: keeps the state files of the features events touch.

An ordinary inline notifier: ``notify`` (and ``changed``, for worktrees made without an
event) only notes the feature; ``flush``, called once per operation after the store has
committed, rewrites ``state/overseer.md`` and ``state/impl-<area>.md`` in every worktree
that has one of the feature's branches checked out, from the store's queries and with
the same renderer as ``events export``. It reads the store and the VCS through the
context's ports and never calls back into the library.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from claude_orchestrator.errors import ConfigError
from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.models import Event
from claude_orchestrator.protocols import INLINE, PluginContext, Register, Services


@hookimpl(trylast=True)
def register_notifiers(register: Register) -> None:
    register("markdown", MarkdownNotifier.from_context,
             description="state/*.md files in each agent's worktree")  # fmt: skip


class MarkdownNotifier:
    """:param services: the store and VCS of the process; :param root: this worktree."""

    delivery = INLINE

    def __init__(self, services: Services, root: Path) -> None:
        self._services = services
        self._root = root
        self._dirty: set[str] = set()

    @classmethod
    def from_context(cls, context: PluginContext) -> MarkdownNotifier:
        if context.services is None:
            raise ConfigError("the markdown notifier needs the store and the VCS")
        return cls(context.services, context.root)

    def notify(self, event: Event) -> None:
        self._dirty.add(event.spec_id)

    def changed(self, spec_id: str) -> None:
        self._dirty.add(spec_id)

    def flush(self) -> list[Path]:
        """Rewrite the noted features' state files; returns the files that changed."""
        dirty, self._dirty = sorted(self._dirty), set()
        written: list[Path] = []
        for spec_id in dirty:
            written += self.refresh(spec_id)
        return written

    def refresh(self, spec_id: str) -> list[Path]:
        """Rewrite one feature's state files in the worktrees that have its branches."""
        if not self._services.in_repository:
            return []  # no worktrees, so no agent has a state file here
        worktrees = self._services.vcs().worktrees()
        store = self._services.store()
        agents = [a for a in store.list_agents(spec_id) if a.branch_name in worktrees]
        if not agents:
            return []
        from claude_orchestrator.render import render_state
        from claude_orchestrator.reports import build_report
        from claude_orchestrator.statefiles import STATE_DIR, state_file_name, write_state_file

        report = build_report(store, spec_id)
        lock_dir = self._services.state_dir / "locks"
        written = []
        for agent in agents:
            tree = worktrees[agent.branch_name]
            path = tree / STATE_DIR / state_file_name(agent.role)
            try:
                changed = write_state_file(path, render_state(report, agent.role), lock_dir)
            except OSError as exc:
                # Another agent's worktree is read-only to a sandboxed implementor: that
                # agent's own next command (its hooks run sync-status) refreshes its view.
                if Path(os.path.realpath(tree)) == Path(os.path.realpath(self._root)):
                    raise
                if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise
                continue
            if changed:
                written.append(path)
        return written
