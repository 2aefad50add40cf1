"""check-conflicts and detect-conflicts: real merges in memory, recorded once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .conftest import Run, Templates, git
from .test_workflow_setup import SPEC, build_feature, commit, feature, worktrees

__all__ = ["feature"]
OVERSEER = f"feature/{SPEC}/overseer"
DATA, API, UI = (f"feature/{SPEC}/impl-{a}" for a in ("data", "api", "ui"))


def snapshot(repo: Path) -> tuple[str, str, str, str]:
    """Everything a conflict check must leave alone: refs, HEADs, indexes, objects."""
    objects = git(repo, "count-objects", "-v")
    heads = git(repo, "worktree", "list", "--porcelain")
    index = (repo / ".git" / "index").read_bytes().hex() if (repo / ".git/index").exists() else ""
    return git(repo, "for-each-ref"), heads, index, objects


def build_shared(folder: Path) -> None:
    trees = build_feature(folder)
    body = "".join(f"line {i}\n" for i in range(40))
    commit(trees["overseer"], "src/models.py", body, "shared models")
    commit(trees["overseer"], "src/pkg/util.py", "u = 1\n", "util")
    for area in ("impl-data", "impl-api", "impl-ui"):
        git(trees[area], "rebase", "-q", OVERSEER)


@pytest.fixture
def shared(repo: Path, templates: Templates) -> dict[str, Path]:
    """``feature`` with a shared file on the overseer branch that implementors then
    edit."""
    templates.copy("shared", build_shared, repo.parent)
    return worktrees(repo)


def edit_line(tree: Path, index: int, text: str, message: str) -> None:
    path = tree / "src/models.py"
    lines = path.read_text().splitlines(keepends=True)
    lines[index] = text + "\n"
    path.write_text("".join(lines))
    git(tree, "commit", "-q", "-am", message)


def test_true_conflict_found_with_attribution(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    edit_line(shared["impl-data"], 3, "data's line", "T001: data edits models")
    edit_line(shared["impl-api"], 3, "api's line", "T002: api edits models")
    before = snapshot(repo)
    result = cli("check-conflicts", "--json", cwd=shared["impl-api"])
    assert result.code == 1, result
    pairs = {p["other_branch"]: p for p in result.json()["pairs"]}
    assert pairs[DATA]["conflicted"] and pairs[DATA]["files"] == ["src/models.py"]
    touch = pairs[DATA]["touches"][0]
    assert touch["ours"][0][1] == "T002: api edits models"
    assert touch["theirs"][0][1] == "T001: data edits models"
    assert not pairs[OVERSEER]["conflicted"] and not pairs[UI]["conflicted"]
    text = cli("check-conflicts", cwd=shared["impl-api"]).out
    assert f"{API} vs {DATA}: CONFLICT" in text and "T001: data edits models" in text
    assert snapshot(repo) == before  # no ref, HEAD, index or object changed


def test_clean_overlaps_renames_and_delete_modify(cli: Run, shared: dict[str, Path]) -> None:
    edit_line(shared["impl-data"], 1, "data top", "T001: top of file")
    edit_line(shared["impl-api"], 35, "api bottom", "T002: bottom of file")
    assert cli("check-conflicts", cwd=shared["impl-api"]).code == 0  # same file, clean
    git(shared["impl-ui"], "mv", "src/models.py", "src/model.py")
    git(shared["impl-ui"], "commit", "-q", "-m", "T003: rename")
    result = cli("check-conflicts", "--json", cwd=shared["impl-ui"]).json()
    assert result["conflicts"] is False  # rename on one side, edit on the other: clean
    git(shared["impl-data"], "rm", "-q", "src/pkg/util.py")
    git(shared["impl-data"], "commit", "-q", "-m", "T001: drop util")
    commit(shared["impl-api"], "src/pkg/util.py", "u = 2\n", "T002: change util")
    result = cli("check-conflicts", "--json", cwd=shared["impl-api"]).json()
    pairs = {p["other_branch"]: p for p in result["pairs"]}
    assert pairs[DATA]["conflicted"] and pairs[DATA]["files"] == ["src/pkg/util.py"]


def test_directory_rename_conflict_is_not_missed(cli: Run, shared: dict[str, Path]) -> None:
    git(shared["impl-data"], "mv", "src/pkg", "src/lib")
    git(shared["impl-data"], "commit", "-q", "-m", "T001: move pkg to lib")
    commit(shared["impl-api"], "src/pkg/new.py", "n = 1\n", "T002: new module in pkg")
    result = cli("check-conflicts", "--json", cwd=shared["impl-api"])
    assert result.code == 1
    pairs = {p["other_branch"]: p for p in result.json()["pairs"]}
    assert pairs[DATA]["conflicted"]


def test_conflict_with_the_overseer_branch(cli: Run, shared: dict[str, Path]) -> None:
    edit_line(shared["overseer"], 10, "overseer's", "integration fix")
    edit_line(shared["impl-ui"], 10, "ui's", "T003: ui")
    result = cli("check-conflicts", "--json", cwd=shared["impl-ui"]).json()
    pairs = {p["other_branch"]: p for p in result["pairs"]}
    assert pairs[OVERSEER]["conflicted"]


def test_check_conflicts_errors(cli: Run, repo: Path, tmp_path: Path, feature: dict) -> None:
    result = cli("check-conflicts")  # main
    assert result.code == 2 and "not a feature branch" in result.err
    plain = tmp_path / "plain"
    plain.mkdir()
    result = cli("check-conflicts", cwd=plain)
    assert result.code == 2, result
    git(repo, "checkout", "-q", "-b", "feature/555-lonely/impl-x")
    result = cli("check-conflicts")
    assert result.code == 2 and "overseer branch feature/555-lonely/overseer does not exist" in (
        result.err
    )


def test_check_conflicts_on_remote_tracking_branches(
    cli: Run, tmp_path: Path, shared: dict
) -> None:
    """CI: a fresh clone has only remote-tracking branches and no store."""
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    edit_line(shared["impl-api"], 3, "api's line", "T002: api")
    origin = shared["overseer"]
    clone = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-q", "-b", API, f"origin/{API}")
    result = cli("check-conflicts", "--json", cwd=clone)
    assert result.code == 1, result
    assert not (clone / ".git" / "orchestrator" / "events.db").exists()


# --------------------------------------------------------------- detect-conflicts
def open_conflicts(repo: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(repo / ".git" / "orchestrator" / "events.db")
    return conn.execute("SELECT branch, other_branch, conflicting_files FROM conflicts "
                        "WHERE NOT resolved ORDER BY id").fetchall()  # fmt: skip


def test_detect_conflicts_records_once_and_resolves(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    assert cli("detect-conflicts").code == 0
    assert cli("detect-conflicts").out == ""  # quiet for cron
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    edit_line(shared["impl-api"], 3, "api's line", "T002: api")
    before = snapshot(repo)
    result = cli("detect-conflicts")
    assert result.code == 1
    assert snapshot(repo)[:3] == before[:3]  # refs, HEADs, index untouched
    assert snapshot(repo)[3] == before[3]  # and no object left behind
    assert f"{API} vs {DATA}: src/models.py" in result.out
    assert open_conflicts(repo) == [(API, DATA, '["src/models.py"]')]
    # unchanged: not logged again
    assert cli("detect-conflicts").code == 1
    detected = [e for e in cli("events", "recent", "100", "--json").json()
                if e["event_type"] == "conflict_detected"]  # fmt: skip
    assert len(detected) == 1
    # the warning is in both implementors' state files, outside text kept
    state = shared["impl-data"] / "state" / "impl-data.md"
    state.write_text("my notes\n\n" + state.read_text())
    edit_line(shared["impl-api"], 20, "second", "T002: more")  # new commit, same files
    assert cli("detect-conflicts").code == 1
    edit_line(shared["impl-api"], 3, "data's line", "T002: agree with data")
    assert cli("detect-conflicts").code == 0  # gone: resolved automatically
    assert open_conflicts(repo) == []
    types = [e["event_type"] for e in cli("events", "recent", "100", "--json").json()]
    assert types.count("conflict_resolved") == 1
    text = state.read_text()
    assert text.startswith("my notes\n")


def test_detect_conflicts_state_file_warning(cli: Run, repo: Path, shared: dict[str, Path]) -> None:
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    edit_line(shared["impl-ui"], 3, "ui's line", "T003: ui")
    assert cli("detect-conflicts").code == 1
    for area in ("impl-data", "impl-ui"):
        text = (shared[area] / "state" / f"{area}.md").read_text()
        assert "## Active conflicts" in text and "src/models.py" in text
    api = (shared["impl-api"] / "state" / "impl-api.md").read_text()
    assert "src/models.py" not in api.split("## Active conflicts")[1].split("##")[0]


def test_detect_conflicts_file_set_change_replaces_record(
    cli: Run, repo: Path, shared: dict[str, Path]
) -> None:
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    edit_line(shared["impl-api"], 3, "api's line", "T002: api")
    assert cli("detect-conflicts").code == 1
    commit(shared["impl-data"], "src/pkg/util.py", "u = 'data'\n", "T001: util")
    commit(shared["impl-api"], "src/pkg/util.py", "u = 'api'\n", "T002: util")
    assert cli("detect-conflicts").code == 1
    assert open_conflicts(repo) == [(API, DATA, '["src/models.py", "src/pkg/util.py"]')]
    conn = sqlite3.connect(repo / ".git" / "orchestrator" / "events.db")
    assert conn.execute("SELECT COUNT(*) FROM conflicts WHERE resolved").fetchone()[0] == 1


def test_detect_conflicts_without_store_falls_back_to_branches(
    cli: Run, tmp_path: Path, shared: dict[str, Path]
) -> None:
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    edit_line(shared["impl-api"], 3, "api's line", "T002: api")
    other_db = tmp_path / "none.db"
    result = cli("detect-conflicts", "--db", str(other_db), "--json")
    assert result.code == 1
    features = result.json()["features"]
    assert features[0]["spec_id"] == SPEC and features[0]["recorded"] is False
    assert not other_db.exists()


def test_shallow_clone_without_merge_base_is_refused(
    cli: Run, tmp_path: Path, shared: dict[str, Path]
) -> None:
    edit_line(shared["impl-data"], 3, "data's line", "T001: data")
    edit_line(shared["impl-api"], 3, "api's line", "T002: api")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", "--no-single-branch",
        f"file://{shared['overseer']}", str(clone))  # fmt: skip
    git(clone, "checkout", "-q", "-b", API, f"origin/{API}")
    result = cli("check-conflicts", cwd=clone)
    assert result.code == 2, result
    assert "shallow clone" in result.err and "--unshallow" in result.err


def touches_of(cli: Run, tree: Path, other: str) -> dict[str, tuple[list[str], list[str]]]:
    """path -> (subjects on our side, subjects on the other side) for one pair."""
    result = cli("check-conflicts", "--json", cwd=tree)
    assert result.code == 1, result
    pair = next(p for p in result.json()["pairs"] if p["other_branch"] == other)
    return {t["path"]: ([s for _, s in t["ours"]], [s for _, s in t["theirs"]])
            for t in pair["touches"]}  # fmt: skip


def test_attribution_follows_a_rename_on_one_side(cli: Run, shared: dict[str, Path]) -> None:
    git(shared["impl-ui"], "mv", "src/models.py", "src/model.py")
    git(shared["impl-ui"], "commit", "-q", "-m", "T003: rename models")
    path = shared["impl-ui"] / "src/model.py"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = "ui's line\n"
    path.write_text("".join(lines))
    git(shared["impl-ui"], "commit", "-q", "-am", "T003: ui edits the model")
    edit_line(shared["impl-data"], 3, "data's line", "T001: data edits models")
    touches = touches_of(cli, shared["impl-ui"], DATA)
    assert touches, touches
    for ours, theirs in touches.values():
        assert ours == ["T003: ui edits the model", "T003: rename models"]
        assert theirs == ["T001: data edits models"]
    touches = touches_of(cli, shared["impl-data"], UI)  # the same pair from the other side
    for ours, theirs in touches.values():
        assert ours == ["T001: data edits models"]
        assert theirs == ["T003: ui edits the model", "T003: rename models"]


def test_attribution_follows_a_directory_rename(cli: Run, shared: dict[str, Path]) -> None:
    body = "".join(f"u{i} = {i}\n" for i in range(30))
    commit(shared["overseer"], "src/pkg/util.py", body, "a longer util")
    for area in ("impl-data", "impl-api"):
        git(shared[area], "rebase", "-q", OVERSEER)
    git(shared["impl-data"], "mv", "src/pkg", "src/lib")
    git(shared["impl-data"], "commit", "-q", "-m", "T001: move pkg to lib")
    commit(shared["impl-data"], "src/lib/util.py", "u0 = 'data'\n" + body[7:], "T001: util in lib")
    commit(shared["impl-data"], "src/lib/extra.py", "e = 1\n", "T001: extra in lib")
    commit(shared["impl-api"], "src/pkg/util.py", "u0 = 'api'\n" + body[7:], "T002: change util")
    commit(shared["impl-api"], "src/pkg/extra.py", "e = 2\n", "T002: extra in pkg")
    touches = touches_of(cli, shared["impl-api"], DATA)
    assert set(touches) >= {"src/lib/util.py", "src/lib/extra.py"}, touches
    assert touches["src/lib/util.py"] == (
        ["T002: change util"],
        ["T001: util in lib", "T001: move pkg to lib"],
    )
    assert touches["src/lib/extra.py"] == (["T002: extra in pkg"], ["T001: extra in lib"])
    assert all(ours and theirs for ours, theirs in touches.values()), touches
