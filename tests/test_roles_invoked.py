"""Commands with role rules check the role of the agent that started them
(``CLAUDE_ORCHESTRATOR_ROLE``, set by the generated settings files), not only the
directory they were pointed at."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run, clean_env
from .test_workflow_setup import feature

__all__ = ["feature"]

IMPLEMENTOR = {"CLAUDE_ORCHESTRATOR_ROLE": "implementor"}


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["merge-pr", "1"], "merge-pr"),
        (["hooks", "install"], "hooks install"),
        (["hooks", "uninstall"], "hooks uninstall"),
        (["generate", "--force"], "generate"),
        (["init-feature", "004-next"], "init-feature"),
        (["config", "set", "guard.allow", "[]"], "config set"),
    ],
)
def test_overseer_commands_refuse_an_implementor_process(
    cli: Run, feature: dict[str, Path], args: list[str], what: str
) -> None:
    """Run from the overseer's worktree (as `env -C <overseer> ...` would) but started
    by an implementor: refused, nothing written."""
    tree = feature["overseer"]
    before = sorted(p.name for p in tree.iterdir())
    result = cli(*args, cwd=tree, env=clean_env(**IMPLEMENTOR))
    assert result.code == 2, result
    assert result.err.startswith(f"error: {what} is the overseer's"), result.err
    assert "\n" not in result.err.strip()
    assert sorted(p.name for p in tree.iterdir()) == before


def test_generate_check_is_open_to_implementors(cli: Run, feature: dict[str, Path]) -> None:
    result = cli("generate", "--check", cwd=feature["impl-data"], env=clean_env(**IMPLEMENTOR))
    assert "the overseer's" not in result.err, result
