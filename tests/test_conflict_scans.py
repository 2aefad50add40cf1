"""Conflict scans that used to go quiet or wrong (issue 9: items 5, 6, 7, 8, 10, 23)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import Run, git
from .test_conflicts import API, DATA, OVERSEER, edit_line, open_conflicts, shared
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature", "shared"]


def conflict_data_api(trees: dict[str, Path]) -> None:
    edit_line(trees["impl-data"], 3, "data's line", "T001: data")
    edit_line(trees["impl-api"], 3, "api's line", "T002: api")


def extra_branch(trees: dict[str, Path], leaf: str, text: str) -> str:
    """A branch off the overseer, outside any worktree, editing line 3 of models.py."""
    name = f"feature/{SPEC}/{leaf}"
    overseer = trees["overseer"]
    git(overseer, "branch", name, OVERSEER)
    tree = overseer.parent / leaf
    git(overseer, "worktree", "add", "-q", str(tree), name)
    edit_line(tree, 3, text, f"work on {leaf}")
    return name


def test_fresh_clone_scans_remote_tracking_branches(
    cli: Run, tmp_path: Path, shared: dict[str, Path]
) -> None:
    """Item 5: `git clone -b <impl>` has origin/feature/... only; the scan uses them."""
    conflict_data_api(shared)
    clone = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", "-b", API, str(shared["overseer"]), str(clone))
    result = cli("detect-conflicts", "--json", cwd=clone)
    assert result.code == 1, result
    scan = result.json()["features"][0]
    assert scan["pairs"] == 6  # 3 implementors vs the overseer, 3 sibling pairs
    assert [(c["branch"], c["other_branch"]) for c in scan["conflicts"]] == [(API, DATA)]
    assert any("only as a remote-tracking branch" in n for n in scan["notes"])


def test_a_feature_without_branches_is_not_reported_clean(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    """Item 5: a store feature whose branches are all gone says so."""
    assert cli("events", "add-feature", "777-gone", "Gone", "--json").code == 0
    scans = {s["spec_id"]: s for s in cli("detect-conflicts", "--json").json()["features"]}
    assert scans["777-gone"]["pairs"] == 0
    assert "nothing scanned" in scans["777-gone"]["note"]


def test_misnamed_impl_branches_are_scanned_and_reported(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    """Item 6: impl-1 / impl-fix_views break the area rule, but their conflicts are real."""
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    bad = extra_branch(shared, "impl-1", "one's line")
    clean_bad = f"feature/{SPEC}/impl-fix_views"
    git(repo, "branch", clean_bad, OVERSEER)
    result = cli("detect-conflicts", "--json")
    assert result.code == 1, result
    scan = result.json()["features"][0]
    assert [(c["branch"], c["other_branch"]) for c in scan["conflicts"]] == [(bad, DATA)]
    assert scan["pairs"] == 15  # 5 implementor branches: 5 vs overseer + 10 siblings
    assert any(bad in n and clean_bad in n and "lowercase letters" in n for n in scan["notes"])
    assert open_conflicts(repo) == [(DATA, bad, '["src/models.py"]')]  # on data's side
    text = cli("check-conflicts", "--json", cwd=shared["overseer"].parent / "impl-1")
    assert text.code == 1 and {p["other_branch"] for p in text.json()["pairs"]} >= {DATA}
    doctor = {c["name"]: c for c in cli("doctor", "--json").json()}
    assert not doctor["branch names"]["ok"]
    assert bad in doctor["branch names"]["detail"] and clean_bad in doctor["branch names"]["detail"]


def test_unrelated_history_pair_is_not_comparable_and_others_finish(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    """Item 7: one orphan branch no longer aborts every check with commit ids."""
    conflict_data_api(shared)
    orphan = f"feature/{SPEC}/impl-orphan"
    git(shared["overseer"], "checkout", "-q", "--orphan", orphan)
    git(shared["overseer"], "commit", "-q", "-m", "unrelated")
    git(shared["overseer"], "checkout", "-q", OVERSEER)
    result = cli("check-conflicts", "--json", cwd=shared["impl-api"])
    assert result.code == 1, result  # the data/api conflict is still found
    pairs = {p["other_branch"]: p for p in result.json()["pairs"]}
    assert "unrelated histories" in pairs[orphan]["error"]
    assert not pairs[orphan]["conflicted"]
    assert pairs[DATA]["conflicted"] and pairs[DATA]["error"] is None
    scan = cli("detect-conflicts", "--json").json()["features"][0]
    assert [(c["branch"], c["other_branch"]) for c in scan["conflicts"]] == [(API, DATA)]
    uncompared = {(p["branch"], p["other_branch"]) for p in scan["not_comparable"]}
    assert (orphan, OVERSEER) in uncompared and (API, orphan) in uncompared
    assert any(f"{orphan} vs {OVERSEER}: not comparable" in n for n in scan["notes"])


def test_merge_attributes_do_not_depend_on_the_worktree(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    """Item 8: the overseer branch's .gitattributes apply, wherever the tool runs."""
    commit(shared["overseer"], "CHANGES.rst", "Changes\n=======\n", "changelog")
    for area in ("impl-data", "impl-api", "impl-ui"):
        git(shared[area], "rebase", "-q", OVERSEER)
    commit(shared["overseer"], ".gitattributes", "CHANGES.rst merge=union\n", "union log")
    commit(shared["impl-data"], "CHANGES.rst", "Changes\n=======\n- data\n", "T001: log")
    commit(shared["impl-api"], "CHANGES.rst", "Changes\n=======\n- api\n", "T002: log")
    answers = []
    for where in ("overseer", "impl-api", "impl-data"):
        result = cli("check-conflicts", "--branch", API, "--json", cwd=shared[where])
        pairs = {p["other_branch"]: p["conflicted"] for p in result.json()["pairs"]}
        answers.append((result.code, pairs[DATA]))
        scan = cli("detect-conflicts", "--json", cwd=shared[where])
        answers.append((scan.code, scan.json()["features"][0]["conflicts"] != []))
    assert answers == [(0, False)] * 6  # union merge: clean, from every worktree
    # without the attribute the same edits conflict, from every worktree too
    git(shared["overseer"], "rm", "-q", ".gitattributes")
    git(shared["overseer"], "commit", "-q", "-m", "no union")
    for where in ("overseer", "impl-api"):
        result = cli("check-conflicts", "--branch", API, "--json", cwd=shared[where])
        assert result.code == 1, (where, result)


def test_merges_run_one_process_per_core(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 10: merge-tree processes follow the core count (bounded), not a fixed 2."""
    from claude_orchestrator.plugins import git_vcs

    for n in range(4):
        git(repo, "commit", "-q", "--allow-empty", "-m", f"commit {n}")
    tip, *older = git(repo, "rev-list", "-5", "HEAD").split()
    vcs = git_vcs.GitVCS(repo)
    batches: list[int] = []
    real = git_vcs.GitVCS._merge_batch

    def counting(self: git_vcs.GitVCS, pairs: list[tuple[str, str]], *args: object) -> object:
        batches.append(len(pairs))
        return real(self, pairs, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(git_vcs.GitVCS, "_merge_batch", counting)
    monkeypatch.setattr(git_vcs.os, "cpu_count", lambda: 3)
    results = vcs.merge_conflicts([(tip, c) for c in older])
    assert len(batches) == 3 and sum(batches) == 4  # was 2, whatever the core count
    assert not any(r.conflicted for r in results.values())
    batches.clear()
    monkeypatch.setattr(git_vcs.os, "cpu_count", lambda: 64)
    vcs.merge_conflicts([(tip, c) for c in older[:3]])
    assert batches == [1, 1, 1]  # never more processes than pairs
    assert git_vcs.merge_jobs(1000) == git_vcs.MAX_MERGE_JOBS


def test_unregistered_branch_does_not_stop_the_record(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    """Item 23: impl-extra (valid, unregistered) conflicts are recorded, and noted."""
    extra = extra_branch(shared, "impl-extra", "extra's line")
    scan = cli("detect-conflicts", "--json").json()["features"][0]
    assert scan["conflicts"] == [] and scan["recorded"] is True
    assert any("not registered" in n and extra in n for n in scan["notes"])  # said when clean
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    result = cli("detect-conflicts", "--json")
    assert result.code == 1
    scan = result.json()["features"][0]
    assert [(c["branch"], c["other_branch"]) for c in scan["conflicts"]] == [(DATA, extra)]
    assert scan["recorded"] is True and scan["opened"] == 1
    assert open_conflicts(repo) == [(DATA, extra, '["src/models.py"]')]
    state = (shared["impl-data"] / "state" / "impl-data.md").read_text()
    assert extra in state.split("## Active conflicts")[1].split("##")[0]
    # both sides unregistered: the overseer is told
    other = extra_branch(shared, "impl-other", "other's line")
    cli("detect-conflicts")
    conn = sqlite3.connect(repo / ".git" / "orchestrator" / "events.db")
    rows = conn.execute("SELECT a.role, c.branch, c.other_branch FROM conflicts c JOIN agents a "
                        "ON a.id = c.agent_id WHERE NOT c.resolved").fetchall()  # fmt: skip
    assert ("overseer", extra, other) in rows
