"""sync-status: commits to task events, cursors, rebases, the overseer's tasks.md."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def overseer_boxes(cli: Run, feature: dict[str, Path]) -> dict[str, bool]:
    from claude_orchestrator.tasks import parse_tasks

    overseer = feature["overseer"]
    assert cli("sync-status", cwd=overseer).code == 0
    text = (overseer / f"specs/{SPEC}/tasks.md").read_text()
    return {t.task_id: t.checked for t in parse_tasks(text).tasks}


def boxes_after(cli: Run, feature: dict[str, Path], leaf: str, message: str) -> dict[str, bool]:
    """Commit on ``leaf``, sync it, then sync the overseer: its checkboxes."""
    path = f"src/{leaf}.py"
    target = feature[leaf] / path
    text = target.read_text() if target.exists() else ""
    commit(feature[leaf], path, text + "x\n", message)
    assert cli("sync-status", cwd=feature[leaf]).code == 0
    return overseer_boxes(cli, feature)


def test_completion_is_sticky_and_only_a_reopen_clears_it(
    cli: Run, feature: dict[str, Path]
) -> None:
    """Issue 9 item 1: a later commit naming a done task does not un-tick it."""
    steps = [
        ("T003 done", True),
        ("T003: tweak configuration structures", True),
        ("T003 reopened: the config loader is wrong", False),
        ("T003 was already done (restore tick)", True),
    ]
    for message, ticked in steps:
        assert boxes_after(cli, feature, "impl-data", message)["T003"] is ticked, message
    assert events(cli) == [("task_completed", "T003"), ("task_reopened", "T003"),
                           ("task_completed", "T003")]  # fmt: skip


def test_a_box_ticked_by_hand_is_never_cleared(cli: Run, feature: dict[str, Path]) -> None:
    assert boxes_after(cli, feature, "impl-api", "T002: started")["T002"] is False
    tasks = feature["overseer"] / f"specs/{SPEC}/tasks.md"
    tasks.write_text(TASKS.replace("- [ ] T002", "- [x] T002"))
    assert overseer_boxes(cli, feature)["T002"] is True  # in progress in the store: kept
    assert boxes_after(cli, feature, "impl-api", "blocked T002: waiting")["T002"] is True
    assert boxes_after(cli, feature, "impl-api", "reopen T002")["T002"] is False


@pytest.mark.parametrize("order", [("impl-data", "impl-api"), ("impl-api", "impl-data")])
def test_sync_order_does_not_matter(
    cli: Run, feature: dict[str, Path], order: tuple[str, str]
) -> None:
    """Issue 9 item 2: done on one branch, a follow-up on another: ticked either way."""
    commit(feature["impl-data"], "src/a.py", "a\n", "T001 done")
    commit(feature["impl-api"], "src/b.py", "b\n", "T001: follow-up")
    for leaf in order:
        assert cli("sync-status", cwd=feature[leaf]).code == 0
    assert overseer_boxes(cli, feature)["T001"] is True
    report = cli("events", "export", SPEC, "--format", "json")
    assert report.code == 0, report
    states = {t["task_id"]: t["status"] for t in report.json()["tasks"]}
    assert states["T001"] == "completed"


def rewrite_sync(cli: Run, tree: Path, hooks: bool) -> None:
    if not hooks:
        assert cli("sync-status", cwd=tree).code == 0


@pytest.mark.parametrize("hooks", [False, True], ids=["by-hand", "hooks"])
def test_amend_counts_what_the_message_says_now(
    cli: Run, repo: Path, feature: dict[str, Path], hooks: bool
) -> None:
    """Issue 9 item 25: amending a synced commit's message to add `T002 done` counts."""
    if hooks:
        assert cli("hooks", "install").code == 0
    tree = feature["impl-api"]
    commit(tree, "src/b.py", "b\n", "T002: api")
    rewrite_sync(cli, tree, hooks)
    git(tree, "commit", "-q", "--amend", "-m", "T002: api\n\nT002 done")
    rewrite_sync(cli, tree, hooks)
    git(tree, "commit", "-q", "--amend", "-m", "T002: api\n\nT002 done, see T001")
    rewrite_sync(cli, tree, hooks)
    assert events(cli) == [("task_started", "T002"), ("task_completed", "T002")]
    if hooks:
        assert cli("doctor", "--json").code in (0, 1)
        assert not (repo / ".git" / "orchestrator" / "hook-errors.log").exists()


@pytest.mark.parametrize("hooks", [False, True], ids=["by-hand", "hooks"])
def test_squash_does_not_count_a_completion_twice(
    cli: Run, feature: dict[str, Path], hooks: bool
) -> None:
    """Issue 9 item 25: `reset --soft` + commit of synced commits records nothing again."""
    if hooks:
        assert cli("hooks", "install").code == 0
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001: start")
    commit(tree, "src/a.py", "b\n", "T001 done")
    rewrite_sync(cli, tree, hooks)
    git(tree, "reset", "-q", "--soft", "HEAD~2")
    git(tree, "commit", "-q", "-m", "T001 done\n\nSquashed: T001: start, T001 done; T002 done")
    rewrite_sync(cli, tree, hooks)
    assert events(cli) == [("task_started", "T001"), ("task_completed", "T001"),
                           ("task_completed", "T002")]  # fmt: skip
