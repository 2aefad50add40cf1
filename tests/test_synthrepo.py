"""The synthetic-repository generator used by the conflict-detection benchmarks."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.benchmarks.synthrepo import (
    CONTENT,
    FILE_LOCATION,
    RENAME_EDIT,
    FeatureSpec,
    SynthRepo,
    all_pairs,
    build,
    feature_scenarios,
    pairwise_loop,
)

FILES, HISTORY = 200, 50
FEATURES = (FeatureSpec("001-shared", 4, "overlapping"), FeatureSpec("002-split", 4, "partitioned"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthRepo:
    path = tmp_path_factory.mktemp("synth") / "repo"
    return build(path, files=FILES, history=HISTORY, features=FEATURES, seed=1)


@pytest.fixture(scope="module")
def conflicts(synth: SynthRepo) -> dict[str, dict[frozenset[str], list[str]]]:
    before = git(synth.path, "count-objects", "-v")
    found = {
        spec: {frozenset(pair): names for pair, names in pairwise_loop(synth.path, pairs).items()}
        for spec, pairs in ((s, all_pairs(b)) for s, b in synth.branches.items())
    }
    assert git(synth.path, "count-objects", "-v") == before  # no objects left behind
    return found


def test_build_is_deterministic(synth: SynthRepo, tmp_path: Path) -> None:
    again = build(tmp_path / "same", files=FILES, history=HISTORY, features=FEATURES, seed=1)
    assert refs(again.path) == refs(synth.path)
    assert again.expected_conflicts == synth.expected_conflicts
    other = build(tmp_path / "other", files=FILES, history=HISTORY, seed=2)
    assert git(other.path, "rev-parse", "main") != git(synth.path, "rev-parse", "main")


def test_build_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(FileExistsError):
        build(tmp_path, files=FILES, history=2)


def test_base_history_and_branches(synth: SynthRepo) -> None:
    assert git(synth.path, "rev-list", "--count", "main") == str(HISTORY)
    assert int(git(synth.path, "ls-files", "--", "src").count("\n")) + 1 >= FILES - 3
    heads = set(git(synth.path, "for-each-ref", "--format=%(refname:short)").split())
    for spec, branches in synth.branches.items():
        overseer, *impls = branches
        assert overseer == f"feature/{spec}/overseer"
        assert impls == [f"feature/{spec}/impl-a{i:02d}" for i in range(4)]
        assert set(branches) <= heads
        assert git(synth.path, "rev-list", "--count", f"main..{overseer}") in {"2", "3"}
        for impl in impls:
            subjects = git(synth.path, "log", "--format=%s", f"{overseer}..{impl}").splitlines()
            assert 3 <= len(subjects) <= 10
            assert all(re.match(r"T\d{3}: ", s) for s in subjects)
    # the overlapping feature has an implementor on an older overseer commit
    overseer, *impls = synth.branches["001-shared"]
    stale = [
        b
        for b in impls
        if subprocess.run(
            ["git", "merge-base", "--is-ancestor", overseer, b], cwd=synth.path
        ).returncode
    ]
    assert stale


@pytest.mark.parametrize(("implementors", "count"), [(1, 1), (4, 10), (16, 136), (32, 528)])
def test_all_pairs_counts(implementors: int, count: int) -> None:
    branches = ["o", *(f"i{k}" for k in range(implementors))]
    pairs = all_pairs(branches)
    assert len(pairs) == len(set(pairs)) == count
    assert pairs[:implementors] == [("o", b) for b in branches[1:]]


def test_loop_finds_the_deliberate_conflicts(synth: SynthRepo, conflicts: dict) -> None:
    for spec in FEATURES:
        found = conflicts[spec.spec_id]
        scenarios = feature_scenarios(spec, files=FILES, seed=1)
        for s in scenarios:
            pair = frozenset((s.left, s.right))
            if s.conflicts:
                assert s.path in found[pair], s
            else:
                assert pair not in found, s
        # git agrees with the generator on every pair
        assert set(found) == synth.expected_conflicts[spec.spec_id]
    kinds = {s.kind for s in feature_scenarios(FEATURES[0], files=FILES, seed=1)}
    assert {CONTENT, FILE_LOCATION, RENAME_EDIT} <= kinds


def test_rename_edit_is_clean_and_file_location_conflicts(
    synth: SynthRepo, conflicts: dict
) -> None:
    found = conflicts["001-shared"]
    scenarios = feature_scenarios(FEATURES[0], files=FILES, seed=1)
    (rename,) = [s for s in scenarios if s.kind == RENAME_EDIT]
    assert frozenset((rename.left, rename.right)) not in found
    moved = git(synth.path, "diff", "--name-status", "-M", f"{rename.right}...{rename.left}")
    assert re.search(rf"^R100\t{re.escape(rename.path)}\t", moved, re.M)
    (location,) = [s for s in scenarios if s.kind == FILE_LOCATION]
    assert location.path in found[frozenset((location.left, location.right))]


def test_loop_rejects_an_unknown_branch(synth: SynthRepo) -> None:
    with pytest.raises(RuntimeError, match="no-such-branch"):
        pairwise_loop(synth.path, [("main", "no-such-branch")])
