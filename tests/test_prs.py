"""open-pr and merge-pr: the local forge end to end, GitHub through a fake `gh`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .conftest import Run, clean_env, git
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]
OVERSEER = f"feature/{SPEC}/overseer"
DATA = f"feature/{SPEC}/impl-data"


def test_local_pr_opened_and_merged(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    commit(tree, "src/models.py", "x = 1\n", "T001: model")
    commit(tree, "src/models.py", "x = 2\n", "T001 done")
    assert cli("sync-status", cwd=tree).code == 0
    assert cli("events", "record-test", SPEC, "implementor-data", "unit", "passed",
               "--passed", "7", cwd=tree).code == 0  # fmt: skip
    result = cli("open-pr", "--json", cwd=tree)
    assert result.code == 0, result
    pr = result.json()
    assert (pr["head_branch"], pr["base_branch"], pr["status"]) == (DATA, OVERSEER, "open")
    assert cli("prs", "--json").json()[0]["id"] == pr["id"]
    assert cli("events", "recent", "1", "--json").json()[0]["event_type"] == "pr_opened"
    # a second open PR for the same branch is refused
    again = cli("open-pr", cwd=tree)
    assert again.code == 2 and "already has an open PR" in again.err
    # the implementor cannot merge
    denied = cli("merge-pr", str(pr["id"]), cwd=tree)
    assert denied.code == 2 and "implementors may not merge" in denied.err
    # the overseer merges: a real git merge into the overseer branch
    result = cli("merge-pr", str(pr["id"]), cwd=feature["overseer"])
    assert result.code == 0, result
    assert git(repo, "merge-base", "--is-ancestor", DATA, OVERSEER) == ""
    assert (feature["overseer"] / "src" / "models.py").read_text() == "x = 2\n"
    types = [e["event_type"] for e in cli("events", "recent", "2", "--json").json()]
    assert types == ["task_merged", "pr_merged"]
    status = {r["role"]: r for r in cli("events", "status", SPEC, "--json").json()}
    assert status["implementor-data"]["tasks_merged"] == 1
    assert status["implementor-data"]["prs_merged"] == 1
    result = cli("merge-pr", str(pr["id"]), cwd=feature["overseer"])
    assert result.code == 2 and "already merged" in result.err


def test_pr_body_lists_tasks_and_tests(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-api"]
    commit(tree, "src/api.py", "a\n", "T002 done")
    assert cli("sync-status", cwd=tree).code == 0
    cli("events", "record-test", SPEC, "implementor-api", "lint", "failed", "--failed", "2",
        cwd=tree)  # fmt: skip
    pr = cli("open-pr", "--draft", "--title", "API", "--json", cwd=tree).json()
    assert pr["status"] == "draft" and pr["title"] == "API"


def test_merge_refused_when_it_would_conflict(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    commit(feature["overseer"], "src/models.py", "overseer\n", "integration")
    tree = feature["impl-data"]
    commit(tree, "src/models.py", "data\n", "T001: model")
    pr = cli("open-pr", "--json", cwd=tree).json()
    before = git(repo, "rev-parse", OVERSEER)
    result = cli("merge-pr", str(pr["id"]), cwd=feature["overseer"])
    assert result.code == 2
    assert "would conflict" in result.err and "src/models.py" in result.err
    assert git(repo, "rev-parse", OVERSEER) == before
    assert git(feature["overseer"], "status", "--porcelain") == ""
    assert cli("prs", "--json").json()[0]["status"] == "open"


def test_open_pr_errors(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    result = cli("open-pr", cwd=feature["overseer"])
    assert result.code == 2 and "runs on an implementor branch" in result.err
    result = cli("open-pr")  # main
    assert result.code == 2 and "not a feature branch" in result.err
    result = cli("merge-pr", "abc", cwd=feature["overseer"])
    assert result.code == 2 and "invalid pull request id" in result.err
    result = cli("merge-pr", "99", cwd=feature["overseer"])
    assert result.code == 2 and "no pull request #99" in result.err


# ------------------------------------------------------------------ github forge
FAKE_GH = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["auth", "status"]:
    sys.exit(int(os.environ.get("FAKE_GH_AUTH_EXIT", "0")))
if sys.argv[1:3] == ["pr", "create"]:
    print("https://github.com/acme/app/pull/42")
sys.exit(0)
"""


@pytest.fixture
def fake_gh(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(0o755)
    log = tmp_path / "gh.log"
    env = clean_env(FAKE_GH_LOG=str(log))
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env, log


def use_github(tree: Path) -> None:
    (tree / "orchestrator.yaml").write_text("version: 1\nforge:\n  type: github\n")


def test_github_forge_through_gh(cli: Run, feature: dict[str, Path], fake_gh: tuple) -> None:
    env, log = fake_gh
    tree = feature["impl-data"]
    use_github(tree)
    use_github(feature["overseer"])
    result = cli("open-pr", "--title", "Data", "--draft", "--json", cwd=tree, env=env)
    assert result.code == 0, result
    pr = result.json()
    assert (pr["pr_number"], pr["url"]) == (42, "https://github.com/acme/app/pull/42")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    create = next(c for c in calls if c[:2] == ["pr", "create"])
    assert create[create.index("--base") + 1] == OVERSEER
    assert create[create.index("--head") + 1] == DATA
    assert "--draft" in create and create[create.index("--title") + 1] == "Data"
    result = cli("merge-pr", "42", cwd=feature["overseer"], env=env)
    assert result.code == 0, result
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert ["pr", "merge", "42", "--merge"] in calls


def test_github_forge_errors(cli: Run, feature: dict[str, Path], fake_gh: tuple) -> None:
    env, _ = fake_gh
    tree = feature["impl-api"]
    use_github(tree)
    result = cli("open-pr", cwd=tree, env=dict(env, FAKE_GH_AUTH_EXIT="1"))
    assert result.code == 2 and "gh is not authenticated" in result.err
    no_gh = clean_env()
    no_gh["PATH"] = os.pathsep.join(p for p in no_gh["PATH"].split(os.pathsep)
                                    if not (Path(p) / "gh").exists())  # fmt: skip
    result = cli("open-pr", cwd=tree, env=no_gh)
    assert result.code == 2 and "gh (the GitHub CLI) is not installed" in result.err
    assert cli("prs", "--json").json() == []


@pytest.fixture
def stoppable_pr(cli: Run, repo: Path, feature: dict[str, Path]) -> tuple[int, Path]:
    """A PR whose merge checks out a.txt, m.txt, z.txt; checking out m.txt runs the
    smudge filter ``stop`` (git config ``filter.stop.smudge``)."""
    commit(feature["overseer"], ".gitattributes", "m.txt filter=stop\n", "attributes")
    tree = feature["impl-data"]
    git(tree, "rebase", "-q", OVERSEER)
    for name in ("a.txt", "m.txt", "z.txt"):
        commit(tree, name, f"{name}\n" * 20, f"T001: {name}")
    git(repo, "config", "filter.stop.smudge", "cat")
    pr = cli("open-pr", "--json", cwd=tree).json()
    return int(pr["id"]), feature["overseer"]


def merges_of(repo: Path) -> list[str]:
    return git(repo, "log", "--merges", "--format=%s", OVERSEER).splitlines()


def test_merge_pr_killed_during_the_checkout_converges(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path]
) -> None:
    from .test_faults import run_grouped

    number, tree = stoppable_pr
    before = git(repo, "rev-parse", OVERSEER)
    git(repo, "config", "filter.stop.smudge", "kill -9 0")
    assert run_grouped(tree, "merge-pr", str(number)) == -9
    git(repo, "config", "filter.stop.smudge", "cat")
    assert git(repo, "rev-parse", OVERSEER) == before  # killed before the commit
    assert (tree / "a.txt").exists() and not (tree / "z.txt").exists()
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 0, result
    assert merges_of(repo) == [f"Merge PR #{number}: {SPEC}: data -> overseer"]
    assert git(tree, "status", "--porcelain") == ""
    assert (tree / "z.txt").read_text() == "z.txt\n" * 20
    assert not list((repo / ".git").glob("**/claude-orchestrator-merge-pr.json"))
    assert cli("prs", "--json").json()[0]["status"] == "merged"


def test_merge_pr_killed_after_the_merge_commit_converges(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path]
) -> None:
    from .test_faults import run_grouped

    number, tree = stoppable_pr
    hook = repo / ".git" / "hooks" / "post-merge"
    hook.write_text("#!/bin/sh\nkill -9 0\n")
    hook.chmod(0o755)
    assert run_grouped(tree, "merge-pr", str(number)) == -9
    hook.unlink()
    assert len(merges_of(repo)) == 1 and cli("prs", "--json").json()[0]["status"] == "open"
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 0, result
    assert len(merges_of(repo)) == 1  # not merged twice
    assert git(tree, "status", "--porcelain") == ""
    assert cli("prs", "--json").json()[0]["status"] == "merged"


def test_an_interrupted_merge_with_the_users_edits_is_refused(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path]
) -> None:
    from .test_faults import run_grouped

    number, tree = stoppable_pr
    git(repo, "config", "filter.stop.smudge", "kill -9 0")
    assert run_grouped(tree, "merge-pr", str(number)) == -9
    git(repo, "config", "filter.stop.smudge", "cat")
    (tree / "a.txt").write_text("my version\n")
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 2, result
    assert "a.txt is not what that merge wrote" in result.err
    assert (tree / "a.txt").read_text() == "my version\n"
    assert cli("prs", "--json").json()[0]["status"] == "open"


def test_a_merge_the_user_started_is_not_touched(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path], feature: dict[str, Path]
) -> None:
    number, tree = stoppable_pr
    commit(feature["impl-api"], "src/api.py", "a\n", "T002: api")
    git(tree, "merge", "--no-commit", "--no-ff", "-q", f"feature/{SPEC}/impl-api")
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 2, result
    assert "not one merge-pr started" in result.err and "git merge --abort" in result.err
    assert (tree / ".git").is_file() and git(tree, "status", "--porcelain") == "A  src/api.py"


def _merge_state(tree: Path) -> dict[str, str]:
    """git's merge state files in ``tree``'s git directory, by name."""
    git_dir = Path(git(tree, "rev-parse", "--absolute-git-dir"))
    names = ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE", "claude-orchestrator-merge-pr.json")
    return {name: (git_dir / name).read_text() for name in names if (git_dir / name).exists()}


def test_merge_pr_killed_as_git_created_merge_head_converges(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path]
) -> None:
    """git creates MERGE_HEAD, then writes it: a kill in between leaves it empty. The
    re-run repairs that too (git itself refuses to merge while MERGE_HEAD exists)."""
    from .test_faults import run_grouped

    number, tree = stoppable_pr
    before = git(repo, "rev-parse", OVERSEER)
    # the hook runs where git would next write MERGE_HEAD: it creates the file and dies
    hook = repo / ".git" / "hooks" / "pre-merge-commit"
    hook.write_text('#!/bin/sh\n: > "$(git rev-parse --absolute-git-dir)/MERGE_HEAD"\n'
                    "kill -9 0\n")  # fmt: skip
    hook.chmod(0o755)
    assert run_grouped(tree, "merge-pr", str(number)) == -9
    hook.unlink()
    assert git(repo, "rev-parse", OVERSEER) == before
    assert _merge_state(tree).keys() == {"MERGE_HEAD", "claude-orchestrator-merge-pr.json"}
    assert _merge_state(tree)["MERGE_HEAD"] == ""
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 0, result
    assert merges_of(repo) == [f"Merge PR #{number}: {SPEC}: data -> overseer"]
    assert git(tree, "status", "--porcelain") == ""
    assert _merge_state(tree) == {}
    assert cli("prs", "--json").json()[0]["status"] == "merged"


def test_an_empty_merge_head_merge_pr_did_not_leave_is_refused(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path]
) -> None:
    """An empty MERGE_HEAD without merge-pr's marker is someone else's killed merge: one
    line that says how to clear it (git's own message would say to commit), nothing
    touched."""
    number, tree = stoppable_pr
    before = git(repo, "rev-parse", OVERSEER)
    git_dir = Path(git(tree, "rev-parse", "--absolute-git-dir"))
    (git_dir / "MERGE_HEAD").write_text("")
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 2 and result.err.count("\n") == 1, result
    assert result.err.startswith("error: an unfinished merge"), result
    assert "`git merge --abort`" in result.err, result
    assert (git_dir / "MERGE_HEAD").read_text() == ""
    assert git(repo, "rev-parse", OVERSEER) == before
    git(tree, "merge", "--abort")  # what the message says to do
    assert cli("merge-pr", str(number), cwd=tree).code == 0
    assert merges_of(repo) == [f"Merge PR #{number}: {SPEC}: data -> overseer"]


def _git_dying_in(tmp_path: Path, subcommand: str, lock: str) -> dict[str, str]:
    """An environment whose git, asked for ``subcommand``, makes the lock file ``lock``
    (a shell word: a path) and is killed with its process group there, as the real one
    would be while holding that lock."""
    real = shutil.which("git")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "git").write_text(
        f'#!/bin/sh\nif [ "$1" = {subcommand} ]; then\n'
        f'  : > "{lock.replace("GIT", str(real))}"\n'
        f'  kill -9 0\nfi\nexec {real} "$@"\n'
    )  # fmt: skip
    (shim / "git").chmod(0o755)
    return clean_env(PATH=f"{shim}{os.pathsep}{clean_env()['PATH']}")


def _git_dying_in_status(tmp_path: Path) -> dict[str, str]:
    """git status takes the index lock (to write the refreshed index) and is killed."""
    return _git_dying_in(tmp_path, "status", "$(GIT rev-parse --absolute-git-dir)/index.lock")


def test_merge_pr_killed_while_git_status_holds_the_index_lock_converges(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path], tmp_path: Path
) -> None:
    """Before merging, merge-pr asks ``git status`` whether the worktree is clean. Killed
    while git status held the index lock, the lock stays; the re-run removes it (it is
    merge-pr's) instead of failing on it."""
    from .test_faults import run_grouped

    number, tree = stoppable_pr
    env = _git_dying_in_status(tmp_path)
    assert run_grouped(tree, "merge-pr", str(number), env=env) == -9
    git_dir = Path(git(tree, "rev-parse", "--absolute-git-dir"))
    assert (git_dir / "index.lock").exists()
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 0, result
    assert merges_of(repo) == [f"Merge PR #{number}: {SPEC}: data -> overseer"]
    assert git(tree, "status", "--porcelain") == ""
    assert not (git_dir / "index.lock").exists() and _merge_state(tree) == {}


def test_merge_pr_killed_while_git_merge_holds_the_branch_lock_converges(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path], tmp_path: Path
) -> None:
    """Killed while ``git merge`` held the overseer branch's ref lock (its
    reference-transaction hook runs then): the re-run removes the lock (merge-pr's, made
    after its marker) instead of failing on git's "remove the file manually"."""
    from .test_faults import run_grouped

    number, tree = stoppable_pr
    env = _git_dying_in(tmp_path, "merge", "$(GIT rev-parse --path-format=absolute "
                        "--git-common-dir)/$(GIT symbolic-ref HEAD).lock")  # fmt: skip
    assert run_grouped(tree, "merge-pr", str(number), env=env) == -9
    common = Path(git(tree, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    lock = common / f"{git(tree, 'symbolic-ref', 'HEAD')}.lock"
    assert lock.exists()
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 0, result
    assert merges_of(repo) == [f"Merge PR #{number}: {SPEC}: data -> overseer"]
    assert not lock.exists() and _merge_state(tree) == {}


def test_uncommitted_changes_found_after_a_kill_in_git_status_are_the_users(
    cli: Run, repo: Path, stoppable_pr: tuple[int, Path], tmp_path: Path
) -> None:
    """Killed while it was still checking the worktree, merge-pr had merged nothing: the
    re-run says to commit the user's changes (not that they are not the merge's)."""
    from .test_faults import run_grouped

    number, tree = stoppable_pr
    (tree / "README.md").write_text("my edit\n")
    assert run_grouped(tree, "merge-pr", str(number), env=_git_dying_in_status(tmp_path)) == -9
    result = cli("merge-pr", str(number), cwd=tree)
    assert result.code == 2, result
    assert "has uncommitted changes: commit or stash them" in result.err, result
    assert (tree / "README.md").read_text() == "my edit\n"
    git_dir = Path(git(tree, "rev-parse", "--absolute-git-dir"))
    assert not (git_dir / "index.lock").exists() and _merge_state(tree) == {}
