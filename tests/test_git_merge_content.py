"""The git plugin's merges read back: conflicted files with their markers, the lines'
origins, a patch tried in memory and applied in a worktree, a chain of merges put on
disk. Real repositories; nothing but ``apply_patch`` may change the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.plugins.git_merge_content import parse_merge_tree, relabel
from claude_orchestrator.plugins.git_run import GitError
from claude_orchestrator.plugins.git_vcs import GitVCS

from .conftest import git, make_repo

BODY = "".join(f"line {i}\n" for i in range(10))


def _commit(repo: Path, files: dict[str, str | bytes | None], message: str) -> str:
    for name, content in files.items():
        path = repo / name
        if content is None:
            git(repo, "rm", "-q", name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def _edit(line: int, text: str) -> str:
    lines = BODY.splitlines(keepends=True)
    lines[line] = text + "\n"
    return "".join(lines)


@pytest.fixture
def sides(tmp_path: Path) -> tuple[GitVCS, str, str, str]:
    """(vcs, base, ours, theirs): both sides change line 3 of f.txt; ours deletes g.txt,
    theirs edits it; both change the binary b.bin."""
    repo = make_repo(tmp_path / "repo")
    base = _commit(repo, {"f.txt": BODY, "g.txt": "g\n", "b.bin": b"\0one"}, "base")
    git(repo, "checkout", "-q", "-b", "ours")
    _commit(repo, {"f.txt": _edit(3, "ours 3"), "g.txt": None, "b.bin": b"\0ours"}, "T001 ours")
    ours = _commit(repo, {"o.txt": "unrelated\n"}, "T001 more")
    git(repo, "checkout", "-q", "-b", "theirs", base)
    _commit(repo, {"f.txt": _edit(3, "theirs 3"), "g.txt": "g2\n", "b.bin": b"\0th"}, "T002")
    theirs = git(repo, "rev-parse", "HEAD").strip()
    return GitVCS(repo), base, ours, theirs


def _untouched(vcs: GitVCS) -> tuple[str, str, str]:
    return (git(vcs.root, "count-objects"), git(vcs.root, "for-each-ref"),
            git(vcs.root, "status", "--porcelain"))  # fmt: skip


def test_merge_detail_reads_back_markers_stages_and_kinds(
    sides: tuple[GitVCS, str, str, str],
) -> None:
    vcs, _, ours, theirs = sides
    before = _untouched(vcs)
    detail = vcs.merge_detail(ours, theirs, labels={ours: "ours-branch", theirs: "theirs-branch"})
    assert _untouched(vcs) == before
    assert detail.conflicted and detail.error is None
    files = {f.path: f for f in detail.files}
    assert sorted(files) == ["b.bin", "f.txt", "g.txt"]
    assert files["f.txt"].merged == _edit(3, "<<<<<<< ours-branch\nours 3\n=======\ntheirs 3\n"
                                          ">>>>>>> theirs-branch")  # fmt: skip
    assert [s.stage for s in files["f.txt"].stages] == [1, 2, 3]
    assert files["g.txt"].kinds == ("modify/delete",)
    assert [s.stage for s in files["g.txt"].stages] == [1, 3]
    assert files["b.bin"].merged is None  # binary: never shown
    assert vcs.blob_text(files["f.txt"].stages[1].blob) == _edit(3, "ours 3")


def test_merge_detail_of_unrelated_histories_says_why(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    one = _commit(repo, {"a": "1\n"}, "one")
    git(repo, "checkout", "-q", "--orphan", "other")
    two = _commit(repo, {"a": "2\n"}, "two")
    detail = GitVCS(repo).merge_detail(one, two)
    assert detail.error and "unrelated" in detail.error and detail.tree is None


def test_blame_names_only_commits_after_the_base(sides: tuple[GitVCS, str, str, str]) -> None:
    vcs, base, ours, _ = sides
    changed = git(vcs.root, "rev-parse", "ours~1").strip()
    assert vcs.blame(base, ours, "f.txt", 3, 5) == [None, changed, None]
    assert vcs.blame(base, ours, "f.txt", 5, 4) == []
    assert vcs.blame(base, ours, "missing.txt", 1, 2) == [None, None]


def _resolution(text: str) -> str:
    return ("diff --git a/f.txt b/f.txt\n--- a/f.txt\n+++ b/f.txt\n@@ -3,3 +3,3 @@\n line 2\n"
            f"-ours 3\n+{text}\n line 4\n")  # fmt: skip


def test_a_patch_tried_in_memory_says_what_still_conflicts(
    sides: tuple[GitVCS, str, str, str],
) -> None:
    vcs, _, ours, theirs = sides
    before = _untouched(vcs)
    check = vcs.merge_with_patch(ours, _resolution("theirs 3"), theirs)
    assert check.applies and check.merge is not None
    assert check.merge.files == ["b.bin", "g.txt"]  # f.txt resolved, the others not
    assert _untouched(vcs) == before
    bad = vcs.merge_with_patch(ours, _resolution("x").replace("ours 3", "nope"), theirs)
    assert not bad.applies and bad.error and bad.merge is None


def test_patch_paths_refuses_what_is_not_an_edit_in_place(tmp_path: Path) -> None:
    vcs = GitVCS(make_repo(tmp_path / "repo"))
    assert vcs.patch_paths(_resolution("y")) == ["f.txt"]
    with pytest.raises(GitError, match="not a patch"):
        vcs.patch_paths("just words\n")
    link = (
        "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc\n"
    )
    with pytest.raises(GitError, match="symbolic link"):
        vcs.patch_paths(link)
    with pytest.raises(GitError, match="renames"):
        vcs.patch_paths("diff --git a/a b/b\nsimilarity index 100%\nrename from a\nrename to b\n")
    with pytest.raises(GitError, match="binary"):
        vcs.patch_paths("diff --git a/x b/x\nGIT binary patch\nliteral 0\n")


def test_apply_patch_commits_in_the_worktree_and_refuses_over_changes(
    sides: tuple[GitVCS, str, str, str],
) -> None:
    vcs, _, ours, theirs = sides
    git(vcs.root, "checkout", "-q", "ours")
    (vcs.root / "f.txt").write_text("local change\n")
    with pytest.raises(GitError, match="does not apply"):
        vcs.apply_patch(vcs.root, _resolution("theirs 3"), message="resolve")
    assert (vcs.root / "f.txt").read_text() == "local change\n"
    git(vcs.root, "checkout", "--", "f.txt")
    made = vcs.apply_patch(vcs.root, _resolution("theirs 3"), message="resolve f.txt")
    assert made == git(vcs.root, "rev-parse", "HEAD").strip() != ours
    assert git(vcs.root, "status", "--porcelain") == ""
    assert vcs.merge_conflicts([(made or "", theirs)])[(made or "", theirs)].files == [
        "b.bin", "g.txt"
    ]  # fmt: skip


def test_merge_sequence_stops_at_the_first_conflict_and_puts_a_clean_one_on_disk(
    sides: tuple[GitVCS, str, str, str], tmp_path: Path
) -> None:
    vcs, base, ours, theirs = sides
    git(vcs.root, "checkout", "-q", "-b", "extra", base)
    (vcs.root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (vcs.root / "run.sh").chmod(0o755)
    extra = _commit(vcs.root, {"run.sh": "#!/bin/sh\necho hi\n", "sub/n.txt": "n\n"}, "extra")
    before = _untouched(vcs)
    stopped = vcs.merge_sequence([ours, extra, theirs])
    assert stopped.merged == [ours, extra] and stopped.stopped_at == theirs
    assert stopped.files == ["b.bin", "f.txt", "g.txt"]
    into = tmp_path / "combined"
    into.mkdir()
    clean = vcs.merge_sequence([ours, extra], into=into)
    assert clean.stopped_at is None and clean.merged == [ours, extra]
    assert sorted(str(p.relative_to(into)) for p in into.rglob("*") if p.is_file()) == [
        "README.md", "b.bin", "f.txt", "o.txt", "run.sh", "sub/n.txt"
    ]  # fmt: skip
    assert (into / "f.txt").read_text() == _edit(3, "ours 3")
    assert (into / "run.sh").stat().st_mode & 0o111
    assert _untouched(vcs) == before


_names = st.text(st.sampled_from("abcz._-/é"), min_size=1, max_size=12).filter(
    lambda n: not n.startswith("/") and "//" not in n
)
_oid = st.text("0123456789abcdef", min_size=40, max_size=40)


@given(
    tree=_oid,
    entries=st.lists(
        st.tuples(st.sampled_from(["100644", "100755"]), _oid, st.sampled_from([1, 2, 3]), _names),
        max_size=6,
    ),
    kind=st.sampled_from(["contents", "modify/delete", "rename/rename"]),
)
def test_parse_merge_tree_reads_every_entry_and_message(
    tree: str, entries: list[tuple[str, str, int, str]], kind: str
) -> None:
    out = tree + "\0" + "".join(f"{m} {o} {s}\t{p}\0" for m, o, s, p in entries) + "\0"
    for _, _, _, path in entries:
        out += f"1\0{path}\0CONFLICT ({kind})\0CONFLICT ({kind}): in {path}\n\0"
    parsed = parse_merge_tree(out)
    assert parsed is not None and parsed[0] == tree
    by_path = {f.path: f for f in parsed[1]}
    assert set(by_path) == {p for *_, p in entries}
    for mode, oid, stage, path in entries:
        assert (stage, mode, oid) in by_path[path].stages
        assert kind in by_path[path].kinds


def test_parse_merge_tree_refuses_what_is_not_its_output() -> None:
    assert parse_merge_tree("") is None
    assert parse_merge_tree("fatal: refusing\0") is None
    assert parse_merge_tree("a" * 40 + "\0garbage\0\0") is None


def test_relabel_names_the_branches() -> None:
    text = "<<<<<<< abc123:f.txt\nx\n=======\ny\n>>>>>>> def456\n"
    assert relabel(text, {"abc123": "ours", "def456": "theirs"}) == (
        "<<<<<<< ours:f.txt\nx\n=======\ny\n>>>>>>> theirs\n"
    )
