"""Which metadata the built-ins come from: the dist-info beside the imported package
first, so a second copy of the distribution earlier on sys.path cannot lend its entry
points to this code; entries in name order whatever the file's order."""

from __future__ import annotations

from pathlib import Path

from claude_orchestrator.entry_points import DIST_INFO, EntryPoint, builtin_entry_points


def dist_info(site: Path, lines: str) -> None:
    info = site / DIST_INFO
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(f"[claude_orchestrator]\n{lines}")


def test_the_copy_beside_the_package_wins(tmp_path: Path) -> None:
    ours, other = tmp_path / "site-packages", tmp_path / "earlier"
    dist_info(ours, "zeta = pkg.zeta\nalpha = pkg.alpha\n")
    dist_info(other, "stale = old.plugin\n")
    found = builtin_entry_points([str(other)], beside=str(ours))
    assert found == [EntryPoint("alpha", "pkg.alpha"), EntryPoint("zeta", "pkg.zeta")]


def test_without_one_beside_the_path_decides(tmp_path: Path) -> None:
    other = tmp_path / "earlier"
    dist_info(other, "stale = old.plugin\n")
    found = builtin_entry_points([str(other)], beside=str(tmp_path / "nothing-here"))
    assert found == [EntryPoint("stale", "old.plugin")]
