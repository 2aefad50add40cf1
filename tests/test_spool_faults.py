"""kill -9 of ``events log-event`` while it drains the spool, at every step, then a
re-run: nothing spooled is lost or stored twice, the spooled sync's events are there
once. The records are spooled for real (the store locked by another process); the
drainer is the installed CLI, SIGKILLed with its process group (the git children a
sync starts) at the n-th time it reaches a step of the drain, as tests/test_faults.py
kills commands."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.spool import summary

from .conftest import Run
from .test_faults import wait_gone
from .test_spool import ROLE, env, held, log, spool_files, task_events
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["env", "feature"]

#: run the CLI; SIGKILL the process group at the n-th time the drain reaches a step
KILLED = """
import os, signal, sys
from claude_orchestrator import spool_drain
point, nth, seen = sys.argv[1], int(sys.argv[2]), []

def die(name):
    if name == point:
        seen.append(name)
        if len(seen) == nth:
            os.killpg(0, signal.SIGKILL)

spool_drain._checkpoint = die
from claude_orchestrator.__main__ import main
sys.exit(main(sys.argv[3:]))
"""


def killed_at(cwd: Path, env: dict[str, str], point: str, nth: int, *args: str) -> int:
    """Run ``claude-orchestrator args`` killed at the drain's ``nth`` step ``point``;
    its exit status once none of its process group is left."""
    proc = subprocess.Popen([sys.executable, "-c", KILLED, point, str(nth), *args], cwd=cwd,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    _, err = proc.communicate(timeout=120)
    wait_gone(proc.pid)
    assert proc.returncode == -9, f"not killed at {point} #{nth} (exit {proc.returncode}): {err}"
    return proc.returncode


def stored_ids(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT json_extract(metadata, '$.record_id') FROM task_events "
                            "WHERE json_extract(metadata, '$.record_id') IS NOT NULL "
                            "ORDER BY id").fetchall()  # fmt: skip
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize(
    ("kills", "refused"),
    [
        ([("claimed", 1)], False),
        ([("store", 1)], False),
        ([("stored", 1)], False),  # committed, not yet marked: the event is in doubt
        ([("stored", 3)], False),  # the sync ran, not yet marked: it runs again
        ([("marked", 2)], False),
        ([("delete", 1)], False),
        ([("rewrite", 1)], True),
        ([("stored", 2), ("stored", 1)], False),  # and the drainer that took over, too
        ([("stored", 3), ("claimed", 1), ("marked", 1)], True),
    ],
    ids=str,
)
def test_a_drainer_killed_anywhere_loses_and_doubles_nothing(
    cli: Run, repo: Path, feature: dict[str, Path], env: dict[str, str],
    kills: list[tuple[str, int]], refused: bool,
) -> None:  # fmt: skip
    db = repo / ".git" / "orchestrator" / "events.db"
    data, api = feature["impl-data"], feature["impl-api"]
    commit(data, "src/models.py", "a\n", "T001: add model")
    events: list[str] = []  # the spooled events the store takes, in the order spooled
    with held(db):
        for step in ("e1", "e2", "sync", "e3", *(["refused"] if refused else [])):
            if step == "sync":
                result = cli("sync-status", "--json", cwd=data, env=env)
            else:
                role = "implementor-nobody" if step == "refused" else ROLE
                result = log(cli, env, step, "--json", cwd=data, role=role)
            assert result.code == 0, result
            record: dict[str, Any] = result.json()
            assert record["spooled"] is True
            if record["kind"] == "event" and step != "refused":
                events.append(record["record_id"])
    args = ("events", "log-event", SPEC, "implementor-api", "status_update", "killer")
    for point, nth in kills:
        killed_at(api, env, point, nth, *args)
        ids = stored_ids(db)
        assert len(ids) == len(set(ids))  # never twice, even before the re-run
        text = "".join(p.read_text() for p in spool_files(db.parent))
        for record_id in events:  # every record is stored or still spooled
            assert record_id in ids or record_id in text
    result = log(cli, env, "after", cwd=data)
    assert result.code == 0 and "spooled" not in result.err, result
    ids = stored_ids(db)
    assert sorted(ids) == sorted(events)  # each spooled event once (not the refused one)
    assert [i for i in ids if i in events] == events  # in the order spooled
    assert task_events(db) == [("task_started", "T001")]  # the sync's, once
    left = summary(db.parent)
    assert left.kinds == ({"event": 1} if refused else {})
