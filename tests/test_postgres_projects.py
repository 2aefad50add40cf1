"""Several repositories in one PostgreSQL database: each one's rows are its project's,
named by the configured ``project`` or by the repository's root commit (looked up once,
then read from a cache). Two clones of one repository share it; two repositories that
are not the same do not see each other's features."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from claude_orchestrator.config import load_config
from claude_orchestrator.errors import StoreError
from claude_orchestrator.plugins.postgres_identity import CACHE_NAME, identity
from tests.conftest import Run, clean_env, git, run_in_process
from tests.test_postgres_support import pg_env, use_postgres

psycopg = pytest.importorskip("psycopg")


def _postgres(repo: Path, project: str | None = None) -> Path:
    assert run_in_process(["init"], repo, clean_env()).code == 0
    use_postgres(repo, project=project)
    return repo


def _commit(repo: Path, name: str, when: str) -> str:
    (repo / name).write_text(name)
    git(repo, "add", name)
    env = clean_env(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    subprocess.run(["git", "commit", "-q", "-m", name], cwd=repo, env=env, check=True)
    return git(repo, "rev-parse", "HEAD")


def _fresh(path: Path) -> Path:
    """A repository of its own first commit (make_repo's are the same commit when they
    are made in the same second: the same repository, as far as git can tell)."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    _commit(path, path.name, "2020-01-01T00:00:00Z")
    return path


def test_the_identity_is_the_root_commit_looked_up_once(repo: Path) -> None:
    root = git(repo, "rev-list", "--max-parents=0", "HEAD")
    common = repo / ".git"
    assert identity(None, common) == f"git:{root}"
    assert (common / "orchestrator" / CACHE_NAME).read_text() == root + "\n"
    (common / "objects").rename(common / "objects.away")  # git could not answer now
    try:
        assert identity(None, common) == f"git:{root}"  # the cache did
    finally:
        (common / "objects.away").rename(common / "objects")
    assert identity("team-x", common) == "team-x"


def test_the_oldest_of_several_roots_names_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "two-roots"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    newer = _commit(repo, "b", "2021-01-01T00:00:00Z")
    git(repo, "checkout", "-q", "--orphan", "old")
    older = _commit(repo, "a", "2019-01-01T00:00:00Z")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--allow-unrelated-histories", "-m", "join", "old")
    assert sorted(git(repo, "rev-list", "--max-parents=0", "HEAD").split()) == sorted(
        [older, newer]
    )
    assert identity(None, repo / ".git") == f"git:{older}"


def test_no_commit_and_no_git_are_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    with pytest.raises(StoreError, match=r"has none yet: commit once, or set `project: NAME`"):
        identity(None, empty / ".git")
    with pytest.raises(StoreError, match=r"outside a git repository .* set `project: NAME`"):
        identity(None, None)


def test_two_clones_share_one_project(cli: Run, repo: Path, tmp_path: Path, pg_dsn: str) -> None:
    first = _postgres(repo)
    git(first, "add", "orchestrator.yaml")
    git(first, "commit", "-q", "-m", "config")
    second = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(first), str(second))
    env = pg_env(pg_dsn)
    assert cli("events", "init", env=env, cwd=first).code == 0
    assert cli("events", "add-feature", "003-reading-goals", "Goals", env=env, cwd=first).code == 0
    again = cli("events", "init", "--json", env=env, cwd=second).json()
    assert again["created"] is False  # the clone found its repository's project
    status = cli("events", "status", "--json", env=env, cwd=second).json()
    assert {row["spec_id"] for row in status} == {"003-reading-goals"}


def test_repositories_in_one_database_do_not_see_each_other(
    cli: Run, tmp_path: Path, pg_dsn: str
) -> None:
    env = pg_env(pg_dsn)
    ours, theirs = (_postgres(_fresh(tmp_path / name)) for name in ("ours", "theirs"))
    assert git(ours, "rev-parse", "HEAD") != git(theirs, "rev-parse", "HEAD")
    for repo, name in ((ours, "Ours"), (theirs, "Theirs")):
        assert cli("events", "init", env=env, cwd=repo).code == 0
        added = cli("events", "add-feature", "003-reading-goals", name, "--json", env=env,
                    cwd=repo)  # fmt: skip
        assert added.code == 0, added  # the same spec id, no collision
        assert added.json()["feature"]["id"] == 1
        log = ["events", "log-event", "003-reading-goals", "overseer", "status_update", name]
        assert cli(*log, env=env, cwd=repo).code == 0
    for repo, name in ((ours, "Ours"), (theirs, "Theirs")):
        recent = cli("events", "recent", "--json", env=env, cwd=repo).json()
        assert [(e["id"], e["event_type"]) for e in recent] == [
            (2, "status_update"),
            (1, "feature_created"),
        ]
        assert recent[0]["message"] == name
        status = cli("events", "status", "--json", env=env, cwd=repo).json()
        assert {row["name"] for row in status} == {name}
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT COUNT(*) FROM projects").fetchone() == (2,)


def test_a_configured_project_is_shared_by_name(cli: Run, tmp_path: Path, pg_dsn: str) -> None:
    env = pg_env(pg_dsn)
    one, two = (_postgres(_fresh(tmp_path / n), project="team-goals") for n in ("a", "b"))
    assert cli("events", "init", env=env, cwd=one).code == 0
    assert cli("events", "add-feature", "003-reading-goals", "Goals", env=env, cwd=one).code == 0
    assert cli("events", "init", "--json", env=env, cwd=two).json()["created"] is False
    assert len(cli("events", "status", "--json", env=env, cwd=two).json()) == 4
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT name FROM projects").fetchall() == [("team-goals",)]


@pytest.mark.parametrize("name", ["-lead", "has space", "a:b", "x" * 101, "trail.", "new\nline"])
def test_a_bad_project_name_is_refused(cli: Run, repo: Path, name: str) -> None:
    _postgres(repo)
    config = repo / "orchestrator.yaml"
    config.write_text(config.read_text().replace("project: null", f"project: {name!r}"))
    result = cli("config", "check", env=clean_env())
    assert result.code == 2 and result.err.count("\n") == 1, result
    assert "project: invalid value" in result.err, result


def test_the_config_reads_the_project(repo: Path) -> None:
    _postgres(repo, project="team-goals")
    assert load_config(repo / "orchestrator.yaml").project == "team-goals"
