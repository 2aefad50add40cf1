"""Many agents logging at the same moment: separate processes, separate worktrees."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from .conftest import CLI, Run, clean_env, git

SPEC = "003-reading-goals"

WRITER = """
import sys
from claude_orchestrator import Orchestrator
role, count = sys.argv[1], int(sys.argv[2])
with Orchestrator() as orch:
    for i in range(count):
        orch.log_event({spec!r}, role, "status_update", f"{{role}} event {{i}}", None, None,
                       {{"i": i}})
"""


def _worktrees(repo: Path, tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for n in range(count):
        path = tmp_path / f"wt{n}"
        git(repo, "worktree", "add", "-q", "-b", f"agent{n}", str(path))
        paths.append(path)
    return paths


def test_eight_processes_log_500_events_each(
    cli: Run, initialized: Path, store_db: Path, tmp_path: Path
) -> None:
    """Every event arrives; none fails with 'database is locked'."""
    areas = [f"a{n}" for n in range(8)]
    for area in areas:
        assert cli("events", "add-agent", SPEC, f"implementor-{area}").code == 0
    worktrees = _worktrees(initialized, tmp_path, 8)
    script = WRITER.format(spec=SPEC)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, f"implementor-{area}", "500"],
            cwd=wt,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for area, wt in zip(areas, worktrees, strict=True)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "locked" not in err
    conn = sqlite3.connect(store_db)
    rows = conn.execute(
        "SELECT a.role, COUNT(*), COUNT(DISTINCT te.message) FROM task_events te "
        "JOIN agents a ON a.id = te.agent_id WHERE te.event_type = 'status_update' "
        "GROUP BY a.role ORDER BY a.role"
    ).fetchall()
    assert rows == [(f"implementor-{area}", 500, 500) for area in sorted(areas)]
    status = {r["role"]: r for r in cli("events", "status", SPEC, "--json").json()}
    assert all(status[f"implementor-{a}"]["events"] == 501 for a in areas)  # + registration


def test_concurrent_cli_processes_from_worktrees(
    cli: Run, initialized: Path, store_db: Path, tmp_path: Path
) -> None:
    """The installed command itself, 8 at a time, 15 calls each."""
    worktrees = _worktrees(initialized, tmp_path, 8)
    loop = (
        'for i in $(seq 1 15); do "$0" events log-event ' + SPEC + " implementor-data "
        'task_started "wt $1 call $i" T001 || exit 1; done'
    )
    procs = [
        subprocess.Popen(
            ["bash", "-c", loop, CLI, str(n)],
            cwd=wt,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, wt in enumerate(worktrees)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert out == "" and err == ""
    conn = sqlite3.connect(store_db)
    count = conn.execute("SELECT COUNT(*) FROM task_events WHERE task_id = 'T001'").fetchone()[0]
    assert count == 8 * 15


def test_concurrent_first_use_creates_the_store_once(cli: Run, repo: Path, tmp_path: Path) -> None:
    """Several processes running `events init` at once on a fresh repository."""
    procs = [
        subprocess.Popen(
            [CLI, "events", "init"],
            cwd=repo,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert cli("events", "info", "--json").json()["schema_version"] >= 1
