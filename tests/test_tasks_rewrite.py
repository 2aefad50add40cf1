"""History rewriting takes back what a commit no longer says (issue 9, item 25, review).

Real git repositories, real hooks, a real store: amend (message only, and with a content
change), a reword inside ``git rebase -x``, squashes by ``reset --soft`` and by an
interactive rebase.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.tasks import TaskEvent, derive_task_state, source_state

from .conftest import Run, git
from .test_workflow_setup import SPEC, commit, feature
from .test_workflow_sync import events, overseer_boxes

__all__ = ["feature"]


def states(cli: Run) -> dict[str, str]:
    report = cli("events", "export", SPEC, "--format", "json")
    assert report.code == 0, report
    return {t["task_id"]: t["status"] for t in report.json()["tasks"]}


def sync(cli: Run, tree: Path, hooks: bool) -> None:
    if not hooks:
        assert cli("sync-status", cwd=tree).code == 0


def retractions(cli: Run) -> list[tuple[str, str]]:
    rows = cli("events", "recent", "100", "--spec", SPEC, "--json").json()
    taken = [e for e in reversed(rows) if e["event_type"] == "task_reopened"]
    return [(e["task_id"], e["metadata"]["retracted"]) for e in taken
            if "retracts" in (e["metadata"] or {})]  # fmt: skip


def no_hook_errors(repo: Path) -> None:
    log = repo / ".git" / "orchestrator" / "hook-errors.log"
    assert not log.exists(), log.read_text()


@pytest.mark.parametrize("hooks", [False, True], ids=["by-hand", "hooks"])
def test_amending_the_message_takes_back_a_completion(
    cli: Run, repo: Path, feature: dict[str, Path], hooks: bool
) -> None:
    if hooks:
        assert cli("hooks", "install").code == 0
    tree = feature["impl-api"]
    commit(tree, "src/b.py", "b\n", "T002 done")
    sync(cli, tree, hooks)
    assert overseer_boxes(cli, feature)["T002"] is True
    git(tree, "commit", "-q", "--amend", "-m", "T002: wip (not done, typo)")
    sync(cli, tree, hooks)
    assert states(cli)["T002"] == "in-progress"
    assert overseer_boxes(cli, feature)["T002"] is False
    assert retractions(cli) == [("T002", "task_completed")]
    # saying it again counts again, once
    git(tree, "commit", "-q", "--amend", "-m", "T002 done")
    sync(cli, tree, hooks)
    sync(cli, tree, hooks)
    assert states(cli)["T002"] == "completed"
    assert overseer_boxes(cli, feature)["T002"] is True
    assert [e for e in events(cli) if e[0] == "task_completed"] == [("task_completed", "T002")] * 2
    if hooks:
        no_hook_errors(repo)


def test_amend_with_a_content_change_is_followed_through_the_hook(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """A changed patch id is only known to be a rewrite from git's post-rewrite mapping
    (the installed hook passes it); ``sync-status`` by hand sees a new change."""
    assert cli("hooks", "install").code == 0
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001 done")
    assert states(cli)["T001"] == "completed"
    (tree / "src/a.py").write_text("changed\n")
    git(tree, "add", "src/a.py")
    git(tree, "commit", "-q", "--amend", "-m", "T001: wip")
    assert states(cli)["T001"] == "in-progress"
    assert overseer_boxes(cli, feature)["T001"] is False
    assert retractions(cli) == [("T001", "task_completed")]
    meta = cli("events", "recent", "5", "--spec", SPEC, "--json").json()
    assert any(e["metadata"].get("rewrite") == "amend" for e in meta if e["metadata"])
    no_hook_errors(repo)


def test_other_branches_completions_still_count(cli: Run, feature: dict[str, Path]) -> None:
    commit(feature["impl-data"], "src/a.py", "a\n", "T001 done")
    commit(feature["impl-api"], "src/b.py", "b\n", "T001 done")
    for leaf in ("impl-data", "impl-api"):
        assert cli("sync-status", cwd=feature[leaf]).code == 0
    git(feature["impl-api"], "commit", "-q", "--amend", "-m", "T001: not mine after all")
    assert cli("sync-status", cwd=feature["impl-api"]).code == 0
    assert retractions(cli) == [("T001", "task_completed")]
    assert states(cli)["T001"] == "completed"  # impl-data's completion
    assert overseer_boxes(cli, feature)["T001"] is True


def test_a_commit_that_still_says_it_takes_over(cli: Run, feature: dict[str, Path]) -> None:
    """Two commits say `T001 done`; the one whose event counted is reworded: the other
    one's completion is logged, so the task stays completed."""
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001 done")
    commit(tree, "src/b.py", "b\n", "T001 done, for real")
    assert cli("sync-status", cwd=tree).code == 0
    git(tree, "-c", "sequence.editor=sed -i '1s/^pick/reword/'",
        "-c", "core.editor=sed -i '1s/.*/T001: first half/'",
        "rebase", "-q", "-i", f"feature/{SPEC}/overseer")  # fmt: skip
    assert cli("sync-status", cwd=tree).code == 0
    assert retractions(cli) == [("T001", "task_completed")]
    assert states(cli)["T001"] == "completed"
    assert overseer_boxes(cli, feature)["T001"] is True


@pytest.mark.parametrize("hooks", [False, True], ids=["by-hand", "hooks"])
def test_reword_inside_rebase_exec(
    cli: Run, repo: Path, feature: dict[str, Path], hooks: bool
) -> None:
    if hooks:
        assert cli("hooks", "install").code == 0
    tree = feature["impl-api"]
    commit(tree, "src/a.py", "a\n", "T001: start")
    commit(tree, "src/b.py", "b\n", "T002 done")
    commit(tree, "src/c.py", "c\n", "T003 done")
    sync(cli, tree, hooks)
    reword = ('if [ "$(git log -1 --format=%s)" = "T002 done" ]; then '
              'git commit -q --amend -m "T002: half way"; fi')  # fmt: skip
    git(tree, "rebase", "-q", "-f", "-x", reword, f"feature/{SPEC}/overseer")
    sync(cli, tree, hooks)
    assert states(cli) == {"T001": "in-progress", "T002": "in-progress", "T003": "completed"}
    assert retractions(cli) == [("T002", "task_completed")]
    boxes = overseer_boxes(cli, feature)
    assert (boxes["T002"], boxes["T003"]) == (False, True)
    if hooks:
        no_hook_errors(repo)


@pytest.mark.parametrize("hooks", [False, True], ids=["by-hand", "hooks"])
def test_squash_by_reset_soft_neither_retracts_nor_counts_twice(
    cli: Run, repo: Path, feature: dict[str, Path], hooks: bool
) -> None:
    if hooks:
        assert cli("hooks", "install").code == 0
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001 done")
    commit(tree, "src/b.py", "b\n", "T002: start")
    sync(cli, tree, hooks)
    git(tree, "reset", "-q", "--soft", "HEAD~2")
    git(tree, "commit", "-q", "-m", "T001 done")
    sync(cli, tree, hooks)
    assert events(cli) == [("task_completed", "T001"), ("task_started", "T002")]
    assert retractions(cli) == []
    if hooks:
        no_hook_errors(repo)


def test_interactive_squash_follows_the_mapping(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    """fixup B into A: git maps both to the new commit, whose message is A's: A's
    `T001 done` stands (not counted twice), B's `T002 done` is taken back."""
    assert cli("hooks", "install").code == 0
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001 done")
    commit(tree, "src/b.py", "b\n", "T002 done")
    git(
        tree,
        "-c",
        "sequence.editor=sed -i '2s/^pick/fixup/'",
        "rebase",
        "-q",
        "-i",
        f"feature/{SPEC}/overseer",
    )
    assert states(cli) == {"T001": "completed", "T002": "reopened"}
    assert [e for e in events(cli) if e[0] == "task_completed"] == [
        ("task_completed", "T001"), ("task_completed", "T002")]  # fmt: skip
    assert retractions(cli) == [("T002", "task_completed")]
    boxes = overseer_boxes(cli, feature)
    assert (boxes["T001"], boxes["T002"]) == (True, False)
    no_hook_errors(repo)


# ------------------------------------------------------------ the derivation, in Python
KINDS = ["task_started", "task_blocked", "task_completed", "task_reopened", "task_merged"]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[TaskEvent], list[TaskEvent]]:
    """Events of two sources, and the same plus retractions of some of source 0's."""
    kinds = draw(st.lists(st.tuples(st.integers(0, 1), st.sampled_from(KINDS)), max_size=8))
    plain = [TaskEvent(i + 1, src, kind) for i, (src, kind) in enumerate(kinds)]
    mine = [e for e in plain if e.source == 0]
    taken = draw(st.lists(st.sampled_from(mine), unique=True)) if mine else []
    extra = [TaskEvent(100 + i, 0, "task_reopened", retracts=e.id) for i, e in enumerate(taken)]
    return [e for e in plain if e not in taken], plain + extra


@given(histories())
def test_a_retraction_is_as_if_the_event_was_never_logged(
    case: tuple[list[TaskEvent], list[TaskEvent]],
) -> None:
    without, retracted = case
    expected = derive_task_state(without)
    got = derive_task_state(retracted)
    if expected is not None and expected.status in ("completed", "merged"):
        assert got is not None and got.status == expected.status
    elif got is not None and expected is not None:
        assert got.status == expected.status
    # order independence: the result depends on the set of events only
    assert derive_task_state(list(reversed(retracted))) == got


def test_a_retracted_completion_clears_the_box() -> None:
    done = TaskEvent(1, 0, "task_completed")
    state = source_state([done, TaskEvent(2, 0, "task_reopened", retracts=1)])
    assert state is not None and (state.status, state.reopened) == ("reopened", True)
    started = source_state([TaskEvent(0, 0, "task_started"), done,
                            TaskEvent(2, 0, "task_reopened", retracts=1)])  # fmt: skip
    assert started is not None and (started.status, started.reopened) == ("in-progress", True)


def test_a_chained_post_rewrite_hook_still_gets_the_mapping(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    seen = repo / "seen.txt"
    hook = repo / ".git" / "hooks" / "post-rewrite"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f'#!/bin/sh\necho "$1" > {seen}\ncat >> {seen}\n')
    hook.chmod(0o755)
    assert cli("hooks", "install").code == 0
    tree = feature["impl-api"]
    old = commit(tree, "src/b.py", "b\n", "T002 done")
    git(tree, "commit", "-q", "--amend", "-m", "T002: wip")
    new = git(tree, "rev-parse", "HEAD")
    assert seen.read_text().split() == ["amend", old, new]
    assert retractions(cli) == [("T002", "task_completed")]
    no_hook_errors(repo)
