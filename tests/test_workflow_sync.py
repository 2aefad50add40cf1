"""sync-status: commits to task events, cursors, rebases, the overseer's tasks.md."""

from __future__ import annotations

from pathlib import Path

from .conftest import Run, git
from .test_workflow_setup import SPEC, TASKS, commit, feature

__all__ = ["feature"]


def events(cli: Run, n: int = 100) -> list[tuple[str, str | None]]:
    rows = cli("events", "recent", str(n), "--spec", SPEC, "--json").json()
    return [(e["event_type"], e["task_id"]) for e in reversed(rows)
            if e["event_type"].startswith("task_")]  # fmt: skip


def test_implementor_sync_logs_events_and_never_edits_the_tree(
    cli: Run, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    commit(tree, "src/models.py", "a\n", "T001: add model")
    c2 = commit(tree, "src/models.py", "b\n", "T001 done\n\nAlso starts T002.\n\nTask: T002")
    result = cli("sync-status", "--json", cwd=tree)
    assert result.code == 0, result
    data = result.json()
    assert data["commits_read"] == 2 and data["tasks_updated"] == []
    assert events(cli) == [("task_started", "T001"), ("task_completed", "T001"),
                           ("task_started", "T002")]  # fmt: skip
    recent = cli("events", "recent", "1", "--json").json()[0]
    assert recent["commit_hash"] == c2
    assert git(tree, "status", "--porcelain") == ""
    assert (tree / f"specs/{SPEC}/tasks.md").read_text() == TASKS
    # the cursor moved: nothing new, nothing logged twice
    again = cli("sync-status", "--json", cwd=tree).json()
    assert again["commits_read"] == 0 and again["events"] == []


def test_unknown_task_ids_are_reported_not_invented(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-api"]
    commit(tree, "src/api.py", "a\n", "T002: api, blocked T777: no such task")
    result = cli("sync-status", cwd=tree)
    assert result.code == 0, result
    assert "names T777, which is not in the overseer's tasks.md" in result.err
    assert events(cli) == [("task_started", "T002")]


def test_blocked_commit_records_a_blocker(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-ui"]
    commit(tree, "src/ui.py", "a\n", "blocked T003: waiting for api")
    assert cli("sync-status", cwd=tree).code == 0
    blockers = cli("events", "blockers", SPEC, "--json").json()
    assert blockers[0]["role"] == "implementor-ui"
    assert blockers[0]["description"] == "waiting for api"
    assert events(cli) == [("task_blocked", "T003")]


def test_rebase_never_logs_a_change_twice(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001: first")
    assert cli("sync-status", cwd=tree).code == 0
    commit(feature["overseer"], "docs/x.md", "x\n", "T003: overseer's own work")
    git(tree, "rebase", "-q", f"feature/{SPEC}/overseer")
    commit(tree, "src/b.py", "b\n", "T001 done")
    result = cli("sync-status", "--json", cwd=tree).json()
    assert result["duplicates"] == 1  # the rebased copy of "T001: first"
    # the overseer's commit, now in this branch's history, is not this implementor's
    assert events(cli) == [("task_started", "T001"), ("task_completed", "T001")]


def test_failed_sync_does_not_move_the_cursor(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    overseer = feature["overseer"]
    git(overseer, "rm", "-q", f"specs/{SPEC}/tasks.md")
    git(overseer, "commit", "-q", "-m", "oops")
    commit(tree, "src/a.py", "a\n", "T001: first")
    result = cli("sync-status", cwd=tree)
    assert result.code == 2 and "no specs/003-reading-goals/tasks.md on" in result.err
    commit(overseer, f"specs/{SPEC}/tasks.md", TASKS, "tasks back")
    assert cli("sync-status", cwd=tree).code == 0
    assert events(cli) == [("task_started", "T001")]


def test_overseer_sync_sets_checkboxes_from_the_store(cli: Run, feature: dict[str, Path]) -> None:
    commit(feature["impl-data"], "src/a.py", "a\n", "T001 done")
    commit(feature["impl-api"], "src/b.py", "b\n", "T002: started")
    for area in ("impl-data", "impl-api"):
        assert cli("sync-status", cwd=feature[area]).code == 0
    overseer = feature["overseer"]
    tasks = overseer / f"specs/{SPEC}/tasks.md"
    tasks.write_bytes(tasks.read_bytes().replace(b"\n", b"\r\n"))  # CRLF survives
    before = tasks.read_bytes()
    result = cli("sync-status", "--json", cwd=overseer)
    assert result.code == 0, result
    assert result.json()["tasks_updated"] == ["T001"]
    after = tasks.read_bytes()
    assert after == before.replace(b"- [ ] T001", b"- [x] T001")
    # a second run changes nothing
    assert cli("sync-status", "--json", cwd=overseer).json()["tasks_updated"] == []


def test_sync_errors(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    result = cli("sync-status")  # on main
    assert result.code == 2 and "'main' is not a feature branch" in result.err
    git(repo, "checkout", "-q", "--detach")
    result = cli("sync-status")
    assert result.code == 2 and "HEAD is detached" in result.err
    git(repo, "checkout", "-q", "-b", "feature/999-unknown/impl-data")
    result = cli("sync-status")
    assert result.code == 2 and "init-feature 999-unknown" in result.err


def test_sync_is_fast_path_and_quiet_from_hook(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001: first")
    result = cli("sync-status", "--from-hook", "post-commit", cwd=tree)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert events(cli) == [("task_started", "T001")]


def test_overseer_sync_reports_malformed_task_lines(cli: Run, feature: dict[str, Path]) -> None:
    overseer = feature["overseer"]
    tasks = overseer / f"specs/{SPEC}/tasks.md"
    tasks.write_text(TASKS + "- [y] T004 odd checkbox\n")
    result = cli("sync-status", cwd=overseer)
    assert result.code == 0, result
    assert "warning: tasks.md:6: malformed checkbox" in result.err
    assert tasks.read_text().endswith("- [y] T004 odd checkbox\n")  # left alone
