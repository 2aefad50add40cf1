"""Several machines, one feature, one PostgreSQL (issue 11): two clones of one
repository -- separate directories, separate ``.git``, a bare repository both push to
and fetch from -- and one database, every command run as the installed console script
with each machine's own environment, as a team would.

Machine A is the overseer's laptop: it sets the feature up and runs the data
implementor. Machine B is a build server running the api and ui implementors: it clones,
installs the hooks and gets each implementor branch with ``git worktree add`` (git
makes the local branch from the remote-tracking one, with it as upstream, so a plain
``git push`` works; each agent needs a working tree of its own, the sandbox and
``doctor`` require it). Each machine logs in as its own user of the agents'
least-privilege role (``events init --print-grants``, run by the DBA), its password in
its own passfile (A's ``~/.pgpass``, the file B's ``PGPASSFILE`` names): nothing secret
is in the committed config.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Run, clean_env, git
from tests.test_conflicts import API, DATA, UI, edit_line, shared
from tests.test_conflicts import OVERSEER as OVERSEER_S
from tests.test_workflow_setup import SPEC as SPEC_S
from tests.test_workflow_setup import commit, feature

__all__ = ["feature", "shared"]

_names = itertools.count(1)


# ----------------------------------------------------------------------------------
# What the scenario found, one at a time: two clones of the ``shared`` feature (made on
# the first, pushed to a bare origin), both using the first's SQLite store (the file is
# the one store here; the git side is what these are about).
class Clones(NamedTuple):
    #: the first clone (the overseer's: every feature branch local) and its worktrees
    a: Path
    trees: dict[str, Path]
    #: a clone of the origin: no local feature branch
    b: Path
    #: the environment both use (the first clone's store)
    env: dict[str, str]


@pytest.fixture
def clones(repo: Path, shared: dict[str, Path], tmp_path: Path) -> Clones:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "-u", "origin", "main", OVERSEER_S, DATA, API, UI)
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(origin), str(b))
    env = clean_env(CLAUDE_ORCHESTRATOR_DB=str(repo / ".git" / "orchestrator" / "events.db"))
    return Clones(repo, shared, b, env)


def _push_from_b(clones: Clones, branch: str, line: str, message: str) -> Path:
    """B checks ``branch`` out in a worktree of its own, edits line 3, commits, pushes."""
    tree = clones.b.parent / f"b-{branch.rsplit('/', 1)[1]}"
    git(clones.b, "worktree", "add", "-q", str(tree), branch)
    edit_line(tree, 3, line, message)
    git(tree, "push", "-q")
    return tree


def test_sync_status_reads_the_tasks_from_the_fetched_overseer_branch(
    cli: Run, clones: Clones
) -> None:
    """On a machine that is not the overseer's, the overseer branch is origin's only
    (sync-status said there was no tasks.md on it); a stale local copy of it does not
    hide the tasks the overseer added since."""
    tree = clones.b.parent / "b-api"
    git(clones.b, "worktree", "add", "-q", str(tree), API)
    edit_line(tree, 3, "api's line", "T002 done")
    synced = cli("sync-status", "--json", cwd=tree, env=clones.env)
    assert synced.code == 0, synced
    assert [(e["task_id"], e["event_type"]) for e in synced.json()["events"]] == [
        ("T002", "task_completed")]  # fmt: skip
    git(clones.b, "branch", OVERSEER_S, f"origin/{OVERSEER_S}")  # a local copy, then stale
    tasks = clones.trees["overseer"] / "specs" / SPEC_S / "tasks.md"
    commit(clones.trees["overseer"], f"specs/{SPEC_S}/tasks.md",
           tasks.read_text() + "- [ ] T004 Docs\n", "T004 added")  # fmt: skip
    git(clones.trees["overseer"], "push", "-q")
    git(tree, "fetch", "-q")
    git(tree, "commit", "-q", "--allow-empty", "-m", "T004 done")
    synced = cli("sync-status", "--json", cwd=tree, env=clones.env)
    assert synced.code == 0, synced
    assert synced.json()["unknown_tasks"] == []
    assert [(e["task_id"], e["event_type"]) for e in synced.json()["events"]] == [
        ("T004", "task_completed")]  # fmt: skip


def test_a_scan_reads_the_fetched_tip_of_a_branch_another_machine_moved_on(
    cli: Run, clones: Clones
) -> None:
    """The first clone's own impl-api stayed where init-feature made it; B pushed work on
    it. After `git fetch` both clones scan B's tip: the same conflict, recorded once."""
    _push_from_b(clones, API, "api's line", "T002: api edits models")
    edit_line(clones.trees["impl-data"], 3, "data's line", "T001: data edits models")
    git(clones.trees["impl-data"], "push", "-q")
    git(clones.a, "fetch", "-q")
    first = cli("detect-conflicts", "--json", cwd=clones.a, env=clones.env)
    assert first.code == 1, first
    (scan,) = first.json()["features"]
    assert [(c["branch"], c["other_branch"]) for c in scan["conflicts"]] == [(API, DATA)]
    assert scan["opened"] == 1
    (note,) = [n for n in scan["notes"] if "behind" in n]
    assert f"{API} (origin's)" in note and UI not in note  # impl-ui is where it was
    check = cli("check-conflicts", "--json", cwd=clones.trees["impl-data"], env=clones.env)
    assert check.code == 1, check
    git(clones.b, "fetch", "-q")
    second = cli("detect-conflicts", "--json", cwd=clones.b, env=clones.env)
    assert second.code == 1, second
    (other,) = second.json()["features"]
    assert other["conflicts"] == scan["conflicts"]
    assert (other["opened"], other["resolved"]) == (0, 0)  # the same one: not again
    again = cli("detect-conflicts", "--json", cwd=clones.a, env=clones.env).json()
    assert (again["features"][0]["opened"], again["features"][0]["resolved"]) == (0, 0)


def test_open_pr_where_the_overseer_branch_is_only_origins(cli: Run, clones: Clones) -> None:
    tree = _push_from_b(clones, UI, "ui's line", "T003 done")
    opened = cli("open-pr", "--title", "Goals page", "--json", cwd=tree, env=clones.env)
    assert opened.code == 0, opened
    assert (opened.json()["base_branch"], opened.json()["head_branch"]) == (OVERSEER_S, UI)


def test_merge_pr_merges_what_the_implementor_pushed(cli: Run, clones: Clones) -> None:
    """The overseer's clone has its own impl-ui, never updated: merge-pr merged that
    (nothing) and marked the PR merged; it merges the tip the implementor pushed."""
    pushed = git(_push_from_b(clones, UI, "ui's line", "T003 done"), "rev-parse", "HEAD")
    overseer = clones.trees["overseer"]
    opened = cli("open-pr", "--branch", UI, "--json", cwd=overseer, env=clones.env)
    assert opened.code == 0, opened
    git(overseer, "fetch", "-q")
    merged = cli("merge-pr", str(opened.json()["id"]), cwd=overseer, env=clones.env)
    assert merged.code == 0, merged
    assert git(overseer, "rev-parse", "HEAD^2") == pushed
    assert (overseer / "src" / "models.py").read_text().splitlines()[3] == "ui's line"


def test_init_feature_on_another_clone_starts_at_the_pushed_branches(
    cli: Run, clones: Clones
) -> None:
    """A second machine's init-feature made a second overseer branch from main beside
    origin's; the branches it creates start where origin has them (as `git checkout`
    would), and a branch origin lacks starts from the overseer branch as before."""
    result = cli("init-feature", SPEC_S, "--implementors", "data,api,ui,docs", "--json",
                 cwd=clones.b, env=clones.env)  # fmt: skip
    assert result.code == 0, result
    for branch in (OVERSEER_S, DATA, API, UI):
        assert git(clones.b, "rev-parse", branch) == git(clones.a, "rev-parse", branch)
    assert git(clones.b, "rev-parse", f"feature/{SPEC_S}/impl-docs") == git(
        clones.a, "rev-parse", OVERSEER_S)  # fmt: skip


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(common=st.integers(0, 2), mine=st.integers(0, 2), theirs=st.integers(0, 2),
       local=st.booleans())  # fmt: skip
def test_a_local_branch_wins_unless_it_is_behind(
    repo: Path, common: int, mine: int, theirs: int, local: bool
) -> None:
    """``common`` commits on both sides, then ``mine`` only on the local branch and
    ``theirs`` only on origin's: origin's tip is used when there is no local branch or
    when the local one is strictly behind it; a local branch that is even, ahead or
    diverged wins (its commits are not pushed yet)."""
    from claude_orchestrator.plugins.git_vcs import GitVCS

    name = f"feature/{next(_names)}-x/impl-api"
    base = git(repo, "rev-parse", "HEAD")
    shared_tip = _chain(repo, base, "common", common)
    local_tip, remote_tip = _chain(repo, shared_tip, "mine", mine), _chain(
        repo, shared_tip, "theirs", theirs)  # fmt: skip
    git(repo, "update-ref", f"refs/remotes/origin/{name}", remote_tip)
    if local:
        git(repo, "update-ref", f"refs/heads/{name}", local_tip)
    tip = GitVCS(repo).branch_tips(name, remotes=True)[name]
    origins = not local or (mine == 0 and theirs > 0)
    assert (tip.commit, tip.remote) == ((remote_tip, "origin") if origins else (local_tip, None))


def _chain(repo: Path, parent: str, what: str, count: int) -> str:
    """``count`` new commits on ``parent`` (no branch, no checkout): the last one."""
    tree = git(repo, "rev-parse", f"{parent}^{{tree}}")
    for index in range(count):
        parent = git(
            repo, "commit-tree", tree, "-p", parent, "-m", f"{what} {index} {next(_names)}"
        )
    return parent
