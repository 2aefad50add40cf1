"""Conflict scans that still went quiet or wrong: branch names against the rules, several
remotes, file names git quotes, a --branch that does not exist (issue 9, review)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_orchestrator.plugins.git_vcs import GitVCS

from .conftest import Run, git
from .test_conflict_scans import conflict_data_api
from .test_conflicts import API, DATA, OVERSEER, open_conflicts, shared
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature", "shared"]
BODY = "".join(f"line {i}\n" for i in range(10))


def group(repo: Path, spec: str, leaves: dict[str, str]) -> None:
    """``feature/<spec>/overseer`` with models.py; each leaf branches off it and sets
    line 3 of models.py to its text. The checkout goes back to main."""
    overseer = f"feature/{spec}/overseer"
    git(repo, "checkout", "-q", "-b", overseer, "main")
    commit(repo, "models.py", BODY, "shared models")
    for leaf, text in leaves.items():
        git(repo, "checkout", "-q", "-b", f"feature/{spec}/{leaf}", overseer)
        lines = BODY.splitlines(keepends=True)
        lines[3] = text + "\n"
        commit(repo, "models.py", "".join(lines), f"work on {leaf}")
    git(repo, "checkout", "-q", "main")


def pairs_of(scan: dict) -> list[tuple[str, str]]:
    return [(c["branch"], c["other_branch"]) for c in scan["conflicts"]]


# ------------------------------------------------- item 1: spec ids against the rule
@pytest.mark.parametrize("spec", ["001-X", "003_goals", "JIRA-12"])
def test_a_group_whose_spec_id_breaks_the_rule_is_scanned(cli: Run, repo: Path, spec: str) -> None:
    """Such a group was never scanned: `features: []`, exit 0, doctor said ok."""
    group(repo, spec, {"impl-data": "data's", "impl-api": "api's"})
    result = cli("detect-conflicts", "--json")
    assert result.code == 1, result
    (scan,) = result.json()["features"]
    assert scan["spec_id"] == spec and scan["recorded"] is False
    assert pairs_of(scan) == [(f"feature/{spec}/impl-api", f"feature/{spec}/impl-data")]
    assert any("spec id" in n and "cannot be registered" in n for n in scan["notes"]), scan
    doctor = {c["name"]: c for c in cli("doctor", "--json").json()}
    assert not doctor["branch names"]["ok"]
    assert f"feature/{spec}/overseer" in doctor["branch names"]["detail"]
    # with a store, the group is still scanned (it can never be registered)
    assert cli("events", "init").code == 0
    assert cli("events", "add-feature", "002-other", "Other").code == 0
    result = cli("detect-conflicts", "--json")
    assert result.code == 1, result
    scans = {s["spec_id"]: s for s in result.json()["features"]}
    assert pairs_of(scans[spec]) == [(f"feature/{spec}/impl-api", f"feature/{spec}/impl-data")]
    assert scans[spec]["recorded"] is False
    check = cli("check-conflicts", "--branch", f"feature/{spec}/impl-api", "--json")
    assert check.code == 1, check


# --------------------------------------------------------- item 2: several remotes
def test_origin_wins_over_a_remote_that_sorts_first(
    cli: Run, tmp_path: Path, shared: dict[str, Path]
) -> None:
    """A stale fork/ branch hid origin's conflicting tip (fork sorts before origin)."""
    stale = git(shared["overseer"], "rev-parse", OVERSEER)
    conflict_data_api(shared)
    api_tip = git(shared["overseer"], "rev-parse", API)
    clone = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", "-b", DATA, str(shared["overseer"]), str(clone))
    git(clone, "remote", "add", "fork", str(tmp_path / "nowhere"))
    git(clone, "update-ref", f"refs/remotes/fork/{API}", stale)
    result = cli("detect-conflicts", "--json", cwd=clone)
    assert result.code == 1, result
    (scan,) = result.json()["features"]
    assert pairs_of(scan) == [(API, DATA)]
    note = next(n for n in scan["notes"] if API in n and "remotes disagree" in n)
    assert "origin" in note and f"fork: {stale[:12]}" in note and api_tip[:12] in note
    # checkout.defaultRemote names the remote to prefer
    git(clone, "config", "checkout.defaultRemote", "fork")
    result = cli("detect-conflicts", "--json", cwd=clone)
    assert result.code == 0, result
    (scan,) = result.json()["features"]
    assert any(f"using fork's {stale[:12]}" in n for n in scan["notes"]), scan


def test_remote_preference_default_origin_upstream(repo: Path) -> None:
    """checkout.defaultRemote, then origin, then a local branch's upstream, then by name."""
    tips = {}
    for remote in ("alpha", "zeta", "origin"):
        git(repo, "remote", "add", remote, f"/nowhere/{remote}")
        git(repo, "commit", "-q", "--allow-empty", "-m", remote)
        tips[remote] = git(repo, "rev-parse", "HEAD")
    vcs = GitVCS(repo)

    def chosen() -> str:
        return vcs.list_branches("feature/*", remotes=True)["feature/1-x"]

    for remote in ("alpha", "zeta"):
        git(repo, "update-ref", f"refs/remotes/{remote}/feature/1-x", tips[remote])
    assert chosen() == tips["alpha"]  # nothing says which: the first by name
    git(repo, "config", "branch.main.remote", "zeta")
    git(repo, "config", "branch.main.merge", "refs/heads/main")
    assert chosen() == tips["zeta"]  # main's upstream
    git(repo, "update-ref", "refs/remotes/origin/feature/1-x", tips["origin"])
    assert chosen() == tips["origin"]
    git(repo, "config", "checkout.defaultRemote", "alpha")
    assert chosen() == tips["alpha"]
    tip = vcs.branch_tips("feature/*", remotes=True)["feature/1-x"]
    assert tip.remote == "alpha"
    assert dict(tip.others) == {"origin": tips["origin"], "zeta": tips["zeta"]}
    git(repo, "branch", "feature/1-x", tips["zeta"])
    assert chosen() == tips["zeta"]  # a local branch always wins
    assert vcs.branch_tips("feature/*", remotes=True)["feature/1-x"].remote is None


def test_a_remote_name_with_a_slash(repo: Path) -> None:
    git(repo, "remote", "add", "me/fork", "/nowhere")
    git(repo, "update-ref", "refs/remotes/me/fork/feature/1-x/overseer", "HEAD")
    assert list(GitVCS(repo).list_branches("feature/**", remotes=True)) == ["feature/1-x/overseer"]


# ----------------------------------------------------------- item 3: quoted names
NAMES = ["café/naïve.txt", "new\nline.txt", "tab\there.txt", "with space.txt", "é.txt"]


def names_conflicting(trees: dict[str, Path]) -> None:
    """Every name in NAMES on the overseer branch, edited differently by data and api,
    and an implementor branch with an unrelated history."""
    for name in NAMES:
        commit(trees["overseer"], name, "base\n", f"add {name!r}")
    for area in ("impl-data", "impl-api"):
        git(trees[area], "rebase", "-q", OVERSEER)
        for name in NAMES:
            commit(trees[area], name, f"{area}\n", f"T00{len(area)}: {area} edits {name!r}")
    git(trees["overseer"], "checkout", "-q", "--orphan", f"feature/{SPEC}/impl-orphan")
    git(trees["overseer"], "commit", "-q", "-m", "unrelated")
    git(trees["overseer"], "checkout", "-q", OVERSEER)


def test_names_git_quotes_are_attributed_and_stay_one_conflict(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    names_conflicting(shared)
    result = cli("check-conflicts", "--json", cwd=shared["impl-api"])
    assert result.code == 1, result
    pair = next(p for p in result.json()["pairs"] if p["other_branch"] == DATA)
    assert pair["files"] == sorted(NAMES)
    touches = {t["path"]: t for t in pair["touches"]}
    for name in NAMES:
        assert [s for _, s in touches[name]["ours"]] == [f"T008: impl-api edits {name!r}"]
        assert [s for _, s in touches[name]["theirs"]] == [f"T009: impl-data edits {name!r}"]
    first = cli("detect-conflicts", "--json")
    assert first.code == 1, first
    (scan,) = first.json()["features"]
    assert [c["files"] for c in scan["conflicts"]] == [sorted(NAMES)]
    again = cli("detect-conflicts", "--json").json()["features"][0]
    assert (again["opened"], again["resolved"]) == (0, 0)  # the same conflict, not a new one
    assert [json.loads(files) for _, _, files in open_conflicts(repo)] == [sorted(NAMES)]


def test_merge_one_reads_names_unquoted(repo: Path) -> None:
    """The fallback when a batch fails (an unrelated history in it) merges one by one."""
    for name in NAMES:
        commit(repo, name, "base\n", "base")
    base = git(repo, "rev-parse", "HEAD")
    sides = []
    for side in ("a", "b"):
        git(repo, "checkout", "-q", "-b", side, base)
        for name in NAMES:
            commit(repo, name, f"{side}\n", side)
        sides.append(git(repo, "rev-parse", "HEAD"))
    git(repo, "checkout", "-q", "--orphan", "orphan")
    git(repo, "commit", "-q", "-m", "unrelated")
    orphan = git(repo, "rev-parse", "HEAD")
    vcs = GitVCS(repo)
    pair = (sides[0], sides[1])
    merged = vcs.merge_conflicts([pair, (orphan, sides[0])], jobs=1)
    assert merged[pair] == (True, sorted(NAMES), None)
    assert merged[(orphan, sides[0])].error
    changed = {n for _, _, names in vcs.files_by_commit(base, sides[0]) for n in names}
    assert changed == set(NAMES)


# --------------------------------------------------- item 4: a --branch that is not there
def test_check_conflicts_for_a_branch_that_does_not_exist(
    cli: Run, shared: dict[str, Path]
) -> None:
    """It reported HEAD's result under the missing name."""
    missing = f"feature/{SPEC}/impl-nope"
    result = cli("check-conflicts", "--branch", missing, "--json", cwd=shared["impl-api"])
    assert result.code == 2, result
    assert result.out == "" and len(result.err.strip().splitlines()) == 1
    assert result.err.startswith("error: ") and missing in result.err
    assert cli("check-conflicts", "--branch", API, cwd=shared["impl-api"]).code == 0


# ------------------------------------------------- item 6: groups not in the store
def test_a_branch_group_not_in_the_store_is_noted(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    for leaf in ("impl-a", "impl-b"):
        git(repo, "branch", f"feature/002-y/{leaf}", OVERSEER)
    note = (
        "branch group 002-y is not registered: not scanned; register it with "
        "`claude-orchestrator events add-feature 002-y NAME`"
    )
    result = cli("detect-conflicts", "--json")
    assert result.code == 0, result
    scans = {s["spec_id"]: s for s in result.json()["features"]}
    assert scans["002-y"]["notes"] == [note] and scans["002-y"]["pairs"] == 0
    assert scans[SPEC]["recorded"] is True
    assert f"002-y: note: {note}" in cli("detect-conflicts").out


# --------------------------------------------- item 7: a slash after impl-<area>
def test_branches_below_an_impl_name_are_noted_and_listed(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    deeper = f"feature/{SPEC}/impl-docs/v2"
    git(repo, "branch", deeper, API)
    scan = cli("detect-conflicts", "--json").json()["features"][0]
    assert any(deeper in n and "skipped" in n for n in scan["notes"]), scan
    doctor = {c["name"]: c for c in cli("doctor", "--json").json()}
    assert not doctor["branch names"]["ok"] and deeper in doctor["branch names"]["detail"]


def test_a_group_of_deeper_names_only_is_not_silent(cli: Run, repo: Path) -> None:
    git(repo, "branch", "feature/004-z/impl-a/b", "main")
    result = cli("detect-conflicts", "--json")
    assert result.code == 0, result
    (scan,) = result.json()["features"]
    assert scan["spec_id"] == "004-z" and scan["pairs"] == 0
    assert any("feature/004-z/impl-a/b" in n for n in scan["notes"]), scan
