"""The built-in ``github-actions`` CI plugin: GitHub Actions workflows from the config.

``generate()`` returns the two workflow files; the builders in
:mod:`claude_orchestrator.generators.github_actions` are pure (config -> plain data) and
the writer in :mod:`claude_orchestrator.generators.writer` serialises and writes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.protocols import PluginContext, Register

if TYPE_CHECKING:
    from claude_orchestrator.config import Config

IMPLEMENTOR_WORKFLOW = ".github/workflows/implementor-ci.yml"
OVERSEER_WORKFLOW = ".github/workflows/overseer-ci.yml"


@hookimpl(trylast=True)
def register_ci(register: Register) -> None:
    register(
        "github-actions",
        GitHubActions.from_context,
        description="GitHub Actions workflows for implementor and overseer branches",
    )


class GitHubActions:
    """Satisfies :class:`~claude_orchestrator.protocols.CI`; ``tests/test_ci_contract.py``
    runs :class:`~claude_orchestrator.testing_ci.CIContract` against it."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def from_context(cls, context: PluginContext) -> GitHubActions:
        return cls(context.config)

    def generate(self) -> dict[str, Any]:
        """Repository-relative path -> document (plain data, serialised as YAML)."""
        from claude_orchestrator.generators.github_actions import (
            implementor_workflow,
            overseer_workflow,
        )

        return {
            IMPLEMENTOR_WORKFLOW: implementor_workflow(self.config),
            OVERSEER_WORKFLOW: overseer_workflow(self.config),
        }
