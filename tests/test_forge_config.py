"""``forge.type`` names a forge plugin like ``plugins.store`` names a store: a plugin's
forge can be chosen, and an unknown name is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run, digest


def test_an_unknown_forge_is_one_line_naming_the_installed_ones(
    cli: Run, initialized: Path, store_db: Path
) -> None:
    config = initialized / "orchestrator.yaml"
    config.write_text(config.read_text().replace("type: local", "type: gitea"))
    before = digest(store_db)
    checked = cli("config", "check")
    assert checked.code == 2
    [line] = checked.err.splitlines()
    assert line.startswith("error: ") and "forge.type" in line
    assert "unknown forge 'gitea' (installed: github, local)" in line
    logged = cli("events", "log-event", "003-reading-goals", "overseer", "status_update", "x")
    assert logged.code == 2 and "unknown forge 'gitea'" in logged.err
    assert digest(store_db) == before


def test_a_forge_type_that_is_not_a_plugin_name_is_refused(cli: Run, initialized: Path) -> None:
    config = initialized / "orchestrator.yaml"
    config.write_text(config.read_text().replace("type: local", "type: Git Hub"))
    checked = cli("config", "check")
    assert checked.code == 2 and "forge.type" in checked.err
    assert len(checked.err.splitlines()) == 1
