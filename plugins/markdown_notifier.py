"""The built-in ``markdown`` notifier: keeps the state files of the features events touch.

``notify`` only notes the feature; ``flush`` (called by the library once per operation)
rewrites ``state/overseer.md`` and ``state/impl-<area>.md`` in every worktree that has
one of the feature's branches checked out, through
:meth:`~claude_orchestrator.api.Orchestrator.refresh_state_files` — the same renderer as
``events export``.
"""

from __future__ import annotations

from typing import Any

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.models import Event
from claude_orchestrator.protocols import PluginContext, Register


@hookimpl(trylast=True)
def register_notifiers(register: Register) -> None:
    register("markdown", MarkdownNotifier.from_context,
             description="state/*.md files in each agent's worktree")  # fmt: skip


class MarkdownNotifier:
    def __init__(self, orchestrator: Any) -> None:
        self.orchestrator = orchestrator
        self._dirty: set[str] = set()

    @classmethod
    def from_context(cls, context: PluginContext) -> MarkdownNotifier:
        return cls(context.orchestrator)

    def notify(self, event: Event) -> None:
        self._dirty.add(event.spec_id)

    def flush(self) -> None:
        dirty, self._dirty = sorted(self._dirty), set()
        for spec_id in dirty:
            self.orchestrator.refresh_state_files(spec_id)
