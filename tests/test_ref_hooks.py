"""The git-level second line: pre-push and reference-transaction hooks (any agent)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import Run, clean_env, git
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]
OVERSEER = f"feature/{SPEC}/overseer"
DATA = f"feature/{SPEC}/impl-data"
API = f"feature/{SPEC}/impl-api"


def attempt(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True)  # fmt: skip


def test_local_ref_updates_of_others_branches_are_refused(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    assert cli("hooks", "install").code == 0
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001: work")  # its own branch moves: fine
    other = "feature/004-other/overseer"  # not checked out anywhere: git itself would allow
    git(repo, "branch", other)
    before = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    for args in (["update-ref", "refs/heads/main", "HEAD"],
                 ["update-ref", f"refs/heads/{OVERSEER}", "HEAD"],
                 ["update-ref", "-d", f"refs/heads/{API}"],
                 ["branch", "-f", other, "HEAD"], ["branch", "-D", other]):  # fmt: skip
        result = attempt(tree, *args)
        assert result.returncode != 0, args
        assert "implementors may not move" in result.stderr, result.stderr
    after = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    moved = set(after.splitlines()) - set(before.splitlines())
    assert moved == set()
    # creating a branch of its own is fine; the overseer may move branches
    assert attempt(tree, "branch", f"{DATA}-spike").returncode == 0
    assert attempt(feature["overseer"], "branch", "-f", other, "HEAD").returncode == 0


def test_pushes_to_protected_refs_are_refused(
    cli: Run, repo: Path, tmp_path: Path, feature: dict[str, Path]
) -> None:
    assert cli("hooks", "install").code == 0
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    tree = feature["impl-data"]
    commit(tree, "src/a.py", "a\n", "T001: work")
    assert attempt(tree, "push", "-q", "origin", DATA).returncode == 0
    for target in ("HEAD:main", f"HEAD:{OVERSEER}", f"HEAD:refs/heads/{API}", "HEAD:master"):
        result = attempt(tree, "push", "-q", "origin", target)
        assert result.returncode != 0, target
        assert "implementors may not push to" in result.stderr
    heads = git(remote, "for-each-ref", "--format=%(refname)", "refs/heads").splitlines()
    assert heads == [f"refs/heads/{DATA}"]
    # from the overseer's worktree the push goes through
    assert attempt(feature["overseer"], "push", "-q", "origin", OVERSEER).returncode == 0


def test_ref_hooks_uninstall_cleanly(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-push").chmod(0o755)
    assert cli("hooks", "install").code == 0
    states = {s["hook"]: s for s in cli("hooks", "status", "--json").json()}
    assert states["pre-push"]["chained"] and states["reference-transaction"]["installed"]
    assert cli("hooks", "uninstall").code == 0
    assert (hooks / "pre-push").read_text() == "#!/bin/sh\nexit 0\n"
    assert not (hooks / "reference-transaction").exists()
