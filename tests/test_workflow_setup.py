"""init-feature, hooks and doctor in real repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import Run, Templates, clean_env, git, make_repo, run_in_process

SPEC = "003-reading-goals"
TASKS = "# Tasks\n\n- [ ] T001 [P] [US1] Model in src/models.py\n- [ ] T002 API\n- [ ] T003 UI\n"


def commit(cwd: Path, path: str, text: str, message: str) -> str:
    target = cwd / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(cwd, "add", path)
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


LEAVES = ("overseer", "impl-data", "impl-api", "impl-ui")


def build_feature(folder: Path) -> dict[str, Path]:
    """In ``folder``: ``repo`` after init and init-feature --worktrees (in
    ``repo-worktrees``), tasks.md committed on the overseer branch, the implementor
    branches rebased onto it."""
    repo = make_repo(folder / "repo")
    assert run_in_process(["init"], repo, clean_env()).code == 0
    result = run_in_process(["init-feature", SPEC, "--worktrees", "--json"], repo, clean_env())
    assert result.code == 0, result
    trees = {b.rsplit("/", 1)[1]: Path(p) for b, (p, _) in result.json()["worktrees"].items()}
    assert trees == worktrees(repo)
    commit(trees["overseer"], f"specs/{SPEC}/tasks.md", TASKS, "tasks for the feature")
    for area in LEAVES[1:]:
        git(trees[area], "rebase", "-q", f"feature/{SPEC}/overseer")
    return trees


def worktrees(repo: Path) -> dict[str, Path]:
    return {leaf: repo.parent / "repo-worktrees" / SPEC / leaf for leaf in LEAVES}


@pytest.fixture
def feature(repo: Path, templates: Templates) -> dict[str, Path]:
    """A feature with worktrees, tasks.md committed on the overseer branch."""
    templates.copy("feature", build_feature, repo.parent)
    return worktrees(repo)


def test_init_feature_creates_everything(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    branches = git(repo, "branch", "--format=%(refname:short)").splitlines()
    assert sorted(branches) == sorted(
        ["main"] + [f"feature/{SPEC}/{leaf}" for leaf in ("overseer", "impl-data", "impl-api",
                                                            "impl-ui")]
    )  # fmt: skip
    assert feature["impl-data"] == repo.parent / "repo-worktrees" / SPEC / "impl-data"
    state = (feature["impl-data"] / "state" / "impl-data.md").read_text()
    assert "claude-orchestrator:begin" in state and "implementor-data" in state
    assert (feature["overseer"] / "state" / "overseer.md").is_file()
    assert "/state/" in (repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert git(feature["impl-data"], "status", "--porcelain") == ""  # state/ is ignored
    status = {r["role"]: r for r in cli("events", "status", SPEC, "--json").json()}
    assert set(status) == {"overseer", "implementor-data", "implementor-api", "implementor-ui"}


def test_init_feature_rerun_is_safe(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    work = commit(feature["impl-data"], "src/a.py", "a = 1\n", "T001: work")
    before = refs(repo)
    result = cli("init-feature", SPEC, "--worktrees", "--implementors", "data,api,ui,docs",
                 "--json")  # fmt: skip
    assert result.code == 0, result
    data = result.json()
    assert data["feature_created"] is False and data["agents_added"] == ["implementor-docs"]
    states = data["branches"]
    assert states[f"feature/{SPEC}/impl-data"] == "exists"
    assert states[f"feature/{SPEC}/impl-docs"] == "created"
    assert git(repo, "rev-parse", f"feature/{SPEC}/impl-data") == work
    unchanged = [line for line in before.splitlines() if "impl-docs" not in line]
    assert all(line in refs(repo).splitlines() for line in unchanged)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init-feature", "Bad/Spec"], "invalid spec id"),
        (["init-feature", SPEC, "--implementors", "data,Api"], "invalid area"),
        (["init-feature", SPEC, "--base", "nope"], "base 'nope' does not exist"),
    ],
)
def test_init_feature_refuses_bad_input(
    cli: Run, repo: Path, args: list[str], message: str
) -> None:
    before = refs(repo)
    result = cli(*args)
    assert result.code == 2, result
    assert message in result.err
    assert refs(repo) == before
    assert not (repo / ".git" / "orchestrator").exists()


def test_init_feature_refuses_empty_and_bare_repositories(cli: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    result = cli("init-feature", SPEC, cwd=empty)
    assert result.code == 2 and "no commits yet" in result.err
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    result = cli("init-feature", SPEC, cwd=bare)
    assert result.code == 2 and "bare repository" in result.err
    assert not (empty / ".git" / "orchestrator").exists()


def test_init_feature_refuses_occupied_worktree_path(cli: Run, repo: Path) -> None:
    occupied = repo.parent / "repo-worktrees" / SPEC / "impl-api"
    occupied.mkdir(parents=True)
    (occupied / "notes.txt").write_text("mine")
    before = refs(repo)
    result = cli("init-feature", SPEC, "--worktrees")
    assert result.code == 2 and "cannot create a worktree" in result.err
    assert refs(repo) == before
    assert (occupied / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------ hooks
def test_hooks_run_sync_after_commit_and_chain(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    hooks = repo / ".git" / "hooks"
    marker = repo.parent / "previous-hook-ran"
    (hooks / "post-commit").write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    (hooks / "post-commit").chmod(0o755)
    result = cli("hooks", "install", "--json")
    assert result.code == 0, result
    assert all(s["installed"] for s in result.json())
    # commit from a worktree: the hook syncs, and the previous hook still runs
    commit(feature["impl-data"], "src/models.py", "x = 1\n", "T001: add model")
    events = cli("events", "recent", "1", "--json").json()
    assert (events[0]["event_type"], events[0]["task_id"]) == ("task_started", "T001")
    assert marker.read_text() == "ran\n"
    assert git(feature["impl-data"], "status", "--porcelain") == ""
    # doctor is happy (the sandbox check depends on bubblewrap being installed here)
    import shutil

    checks = {c["name"]: c["ok"] for c in cli("doctor", "--json").json()}
    sandbox_tools = all(shutil.which(t) for t in ("bwrap", "socat"))
    assert checks.pop("sandbox") == sandbox_tools
    assert all(checks.values()), checks
    # uninstall restores exactly the previous hook
    assert cli("hooks", "uninstall").code == 0
    assert (hooks / "post-commit").read_text() == f"#!/bin/sh\necho ran >> {marker}\n"
    assert not (hooks / "post-rewrite").exists()
    assert not list(hooks.glob("*.pre-claude-orchestrator"))
    assert cli("doctor").code == 1


def test_hooks_respect_core_hookspath(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    shared = repo.parent / "shared-hooks"  # absolute: a relative one resolves per worktree
    git(repo, "config", "core.hooksPath", str(shared))
    assert cli("hooks", "install").code == 0
    assert (shared / "post-commit").is_file()
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    commit(repo, "notes.md", "n\n", "not a feature branch: nothing to do")
    commit(feature["impl-api"], "src/api.py", "y = 1\n", "T002: api")
    events = cli("events", "recent", "1", "--json").json()
    assert events[0]["task_id"] == "T002"


def test_hook_stays_out_of_rebase_and_catches_up(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    assert cli("hooks", "install").code == 0
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001: first")
    commit(feature["overseer"], "docs/x.md", "x\n", "overseer work")
    git(tree, "rebase", "-q", f"feature/{SPEC}/overseer")
    commit(tree, "src/b.py", "b\n", "T001 done")
    types = [(e["event_type"], e["task_id"]) for e in cli("events", "recent", "3", "--json").json()]
    assert types[:2] == [("task_completed", "T001"), ("task_started", "T001")]
    # the rebased copy of "T001: first" was not logged again
    all_events = cli("events", "recent", "100", "--json").json()
    assert sum(1 for e in all_events if e["event_type"] == "task_started") == 1


def test_hook_failures_are_recorded_for_doctor(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    assert cli("hooks", "install").code == 0
    git(feature["overseer"], "rm", "-q", f"specs/{SPEC}/tasks.md")
    git(feature["overseer"], "commit", "-q", "-m", "drop tasks")
    proc = subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-m", "T001: x"],
        cwd=feature["impl-ui"], env=clean_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    result = cli("doctor")
    assert result.code == 1
    assert "hook runs" in result.out and "no specs/003-reading-goals/tasks.md" in result.out


def test_doctor_reports_missing_setup(cli: Run, repo: Path) -> None:
    result = cli("doctor", "--json")
    assert result.code == 1
    checks = {c["name"]: c for c in result.json()}
    assert checks["store"]["ok"] is False and "events init" in checks["store"]["detail"]
    assert checks["hooks"]["ok"] is False
    assert checks["git"]["ok"] is True


def test_hook_script_clears_git_environment(cli: Run, repo: Path) -> None:
    assert cli("hooks", "install").code == 0
    text = (repo / ".git" / "hooks" / "post-commit").read_text()
    assert "unset GIT_DIR" in text and "GIT_INDEX_FILE" in text
    assert os.path.isabs(text.split("unset", 1)[1].split("\n")[2].split()[0].strip("'"))


def test_post_rewrite_catches_up_after_a_rebase(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    assert cli("hooks", "install").code == 0
    tree = feature["impl-data"]
    (tree / "src").mkdir()
    (tree / "src/a.py").write_text("a\n")
    git(tree, "add", "src/a.py")
    git(tree, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "T001: made without hooks")
    assert cli("events", "recent", "1", "--json").json()[0]["event_type"] != "task_started"
    commit(feature["overseer"], "docs/x.md", "x\n", "overseer work")
    git(tree, "rebase", "-q", f"feature/{SPEC}/overseer")  # post-rewrite runs sync-status
    last = cli("events", "recent", "1", "--json").json()[0]
    assert (last["event_type"], last["task_id"]) == ("task_started", "T001")
    assert last["commit_hash"] == git(tree, "rev-parse", "HEAD")


def test_git_too_old_is_explained(repo: Path) -> None:
    from claude_orchestrator.plugins.git_vcs import GitError, GitVCS

    vcs = GitVCS(repo)
    vcs._version = (2, 37)  # as `git --version` would report on an old install
    with pytest.raises(GitError, match=r"git 2\.37 is too old .* needs git 2\.38 or newer"):
        vcs.merge_conflicts([("HEAD", "HEAD")])


def test_concurrent_state_file_updates_lose_nothing(tmp_path: Path) -> None:
    """Writers in separate processes each own a line outside the fence; all survive."""
    import sys

    script = (
        "import sys, pathlib\n"
        "from claude_orchestrator.statefiles import locked, replace_fenced\n"
        "from claude_orchestrator.fsutil import atomic_write_text\n"
        "path, locks, n = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]\n"
        "for i in range(25):\n"
        "    with locked(locks, path):\n"
        "        text = path.read_text() if path.exists() else ''\n"
        "        text = replace_fenced(text, f'writer {n} pass {i}')\n"
        "        atomic_write_text(path, f'note {n}.{i}\\n' + text)\n"
    )
    target = tmp_path / "state.md"
    procs = [subprocess.Popen([sys.executable, "-c", script, str(target), str(tmp_path / "l"),
                               str(n)]) for n in range(6)]  # fmt: skip
    assert all(p.wait() == 0 for p in procs)
    notes = [line for line in target.read_text().splitlines() if line.startswith("note ")]
    assert len(notes) == 6 * 25
    assert target.read_text().count("claude-orchestrator:begin") == 1


def test_worktrees_from_files_match_git(repo: Path, feature: dict[str, Path]) -> None:
    from claude_orchestrator.plugins.git_vcs import GitVCS

    from_files = GitVCS(repo, repo / ".git").worktrees()
    from_git = GitVCS(repo).worktrees()
    assert from_files == from_git
    assert len(from_git) == 5  # main + overseer + three implementors


def test_outside_git_the_markdown_notifier_stays_quiet(cli: Run, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert cli("init", cwd=plain).code == 0
    assert cli("events", "add-feature", SPEC, "x", cwd=plain).code == 0
    result = cli("events", "log-event", SPEC, "overseer", "status_update", "m", cwd=plain)
    assert (result.code, result.out, result.err) == (0, "", "")


def test_init_feature_from_a_detached_head(cli: Run, repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    result = cli("init-feature", SPEC)
    assert result.code == 0, result
    assert git(repo, "rev-parse", f"feature/{SPEC}/impl-ui") == git(repo, "rev-parse", "main")


@pytest.mark.parametrize("command", ["init-feature", "check-conflicts", "detect-conflicts",
                                     "sync-status"])  # fmt: skip
def test_outside_git_workflow_commands_say_so(cli: Run, tmp_path: Path, command: str) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    args = [command, SPEC] if command == "init-feature" else [command]
    result = cli(*args, cwd=plain)
    assert result.code == 2, result
    assert "is not in a git repository" in result.err
    assert list(plain.iterdir()) == []


def test_a_worktree_deleted_by_hand_is_created_again(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    import shutil

    shutil.rmtree(feature["impl-api"])
    result = cli("init-feature", SPEC, "--worktrees", "--json")
    assert result.code == 0, result
    created = result.json()["worktrees"][f"feature/{SPEC}/impl-api"]
    assert created == [str(feature["impl-api"]), True]
    assert git(feature["impl-api"], "status", "--porcelain") == ""
    assert (feature["impl-api"] / f"specs/{SPEC}/tasks.md").is_file()


def test_a_missing_worktree_the_user_locked_is_refused(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    import shutil

    git(repo, "worktree", "lock", "--reason", "on the usb disk", str(feature["impl-ui"]))
    shutil.rmtree(feature["impl-ui"])
    result = cli("init-feature", SPEC, "--worktrees")
    assert result.code == 2, result
    assert "is missing but locked (on the usb disk)" in result.err
    assert "git worktree unlock" in result.err
    assert "locked on the usb disk" in git(repo, "worktree", "list", "--porcelain")


@pytest.mark.parametrize("written", ["gitdir", "dot-git", "commondir"])
def test_an_add_killed_before_its_checkout_is_undone_by_the_rerun(
    cli: Run, repo: Path, written: str
) -> None:
    """`git worktree add` writes the lock ("initializing"), the gitdir link, the worktree's
    .git file (created, then written), commondir and HEAD, then checks out. Killed on the
    way (the faults suite's timed kills land there), it leaves each prefix of those; the
    re-run removes the unfinished worktree and adds it again."""
    assert cli("init").code == 0
    tree = repo.parent / "repo-worktrees" / SPEC / "overseer"
    admin = repo / ".git" / "worktrees" / "overseer"
    admin.mkdir(parents=True)
    (admin / "locked").write_text("initializing")
    (admin / "gitdir").write_text(f"{tree}/.git\n")
    tree.mkdir(parents=True)
    (tree / ".git").write_text("" if written == "gitdir" else f"gitdir: {admin}\n")
    if written == "commondir":
        (admin / "commondir").write_text("../..\n")
    result = cli("init-feature", SPEC, "--worktrees")
    assert result.code == 0, result
    assert git(tree, "branch", "--show-current") == f"feature/{SPEC}/overseer"
    assert "locked" not in git(repo, "worktree", "list", "--porcelain")


@pytest.fixture
def killed_checkout(cli: Run, repo: Path) -> Path:
    """init-feature --worktrees killed (with its git children) in the middle of checking
    out the overseer's worktree: a smudge filter kills the process group at m.txt."""
    for name in ("a.txt", "b.txt", "m.txt", "y.txt", "z.txt"):
        (repo / name).write_text(f"{name} " * 50 + "\n")
    (repo / ".gitattributes").write_text("m.txt filter=stop\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "files to check out")
    assert cli("init").code == 0
    git(repo, "config", "filter.stop.smudge", "kill -9 0")
    from .test_faults import run_grouped

    assert run_grouped(repo, "init-feature", SPEC, "--worktrees") == -9
    git(repo, "config", "filter.stop.smudge", "cat")
    tree = repo.parent / "repo-worktrees" / SPEC / "overseer"
    assert (tree / "a.txt").exists() and not (tree / "z.txt").exists()
    return tree


def test_a_killed_checkout_is_finished_by_the_rerun(
    cli: Run, repo: Path, killed_checkout: Path
) -> None:
    tree = killed_checkout
    text = (tree / "b.txt").read_text()
    (tree / "b.txt").write_text(text[:17])  # the file git was writing when it was killed
    (tree / "notes.txt").write_text("mine\n")  # untracked: the user's, left alone
    result = cli("init-feature", SPEC, "--worktrees")
    assert result.code == 0, result
    assert f"worktree {tree} (repaired)" in result.out
    assert git(tree, "status", "--porcelain") == "?? notes.txt"
    assert (tree / "b.txt").read_text() == text and (tree / "z.txt").exists()
    assert "locked" not in git(repo, "worktree", "list", "--porcelain")
    again = cli("init-feature", SPEC, "--worktrees")
    assert again.code == 0 and "(repaired)" not in again.out and "(created)" not in again.out


def test_a_killed_checkout_with_the_users_edits_is_not_touched(
    cli: Run, repo: Path, killed_checkout: Path
) -> None:
    tree = killed_checkout
    (tree / "a.txt").write_text("my own work\n")
    result = cli("init-feature", SPEC, "--worktrees")
    assert result.code == 2, result
    assert f"{tree} was left half-created" in result.err and "a.txt is not what" in result.err
    assert (tree / "a.txt").read_text() == "my own work\n"
    assert not (tree / "z.txt").exists()
