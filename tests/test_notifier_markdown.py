"""The notifier contract run against the built-in ``markdown`` notifier, over a real
repository with the contract's feature registered and its worktrees made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.feature_setup import init_feature
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.plugins.markdown_notifier import MarkdownNotifier
from claude_orchestrator.statefiles import BEGIN
from claude_orchestrator.testing_notifier import NotifierContract, sample_events
from claude_orchestrator.testing_store import SPEC


@pytest.fixture
def wired(repo: Path) -> Iterator[tuple[Orchestrator, dict[str, Path]]]:
    with Orchestrator(repo, registry=PluginRegistry(entrypoints=False), env={}) as orch:
        orch.init(["data"])
        result = init_feature(orch, SPEC, worktrees=True)
        yield orch, {b.rsplit("/", 1)[1]: Path(p) for b, (p, _) in result.worktrees.items()}


class TestMarkdownNotifierContract(NotifierContract):
    @pytest.fixture
    def notifier(self, wired: tuple[Orchestrator, dict[str, Path]]) -> MarkdownNotifier:
        orch, _trees = wired
        built = orch._build("notifier", "markdown", "plugins.notifiers[0]")
        assert isinstance(built, MarkdownNotifier)
        return built


def test_flush_rewrites_the_state_files_of_the_features_told(
    wired: tuple[Orchestrator, dict[str, Path]],
) -> None:
    orch, trees = wired
    state = trees["impl-data"] / "state" / "impl-data.md"
    state.write_text("my notes\n")
    notifier = orch._build("notifier", "markdown", "plugins.notifiers[0]")
    assert isinstance(notifier, MarkdownNotifier)
    for event in sample_events():
        notifier.notify(event)
    written = notifier.flush()
    assert written == [state]  # the overseer's file already says what the store holds
    text = state.read_text()
    assert text.startswith("my notes\n") and BEGIN in text
    assert notifier.flush() == []


def test_init_feature_reports_the_state_files_it_wrote(repo: Path) -> None:
    with Orchestrator(repo, registry=PluginRegistry(entrypoints=False), env={}) as orch:
        orch.init(["data", "api"])
        first = init_feature(orch, SPEC, worktrees=True)
        again = init_feature(orch, SPEC, worktrees=True)
    trees = {b.rsplit("/", 1)[1]: Path(p) for b, (p, _) in first.worktrees.items()}
    assert sorted(first.state_files) == sorted(
        str(trees[name] / "state" / f"{'overseer' if name == 'overseer' else name}.md")
        for name in ("overseer", "impl-data", "impl-api")
    )
    assert again.state_files == []  # nothing changed, nothing rewritten
