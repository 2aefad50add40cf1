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
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.location import user_cache_dir
from tests.conftest import Result, Run, clean_env, git, run_process
from tests.test_conflicts import API, DATA, UI, edit_line, shared
from tests.test_conflicts import OVERSEER as OVERSEER_S
from tests.test_workflow_setup import SPEC as SPEC_S
from tests.test_workflow_setup import commit, feature

__all__ = ["feature", "shared"]

SPEC = "007-reading-goals"
PREFIX = f"feature/{SPEC}"
OVERSEER = f"{PREFIX}/overseer"
TASKS = (
    "# Tasks: Reading goals\n\n"
    "- [ ] T001 [US1] Goal model in models.py\n"
    "- [ ] T002 [US1] Goals API in api.py\n"
    "- [ ] T003 [US2] Goals page in ui.py\n"
)
_names = itertools.count(1)


def _unique(prefix: str) -> str:
    """A cluster-wide name (roles are the cluster's, not the test database's)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}_{worker}_{os.getpid()}_{next(_names)}"


def _as(dsn: str, user: str) -> str:
    """``dsn`` logging in as ``user``, with no password in it."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


def _connect(dsn: str) -> Any:
    """A connection as the DBA's tools make one (psycopg: the pg_dsn fixture, which the
    set-ups that call this take, skips without it)."""
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


class Database:
    """The team's server as a DBA set it up: one database, the agents' role from the
    printed grants, and a login per machine (its password for that machine's passfile)."""

    def __init__(self, admin_dsn: str, dsn: str) -> None:
        self.admin_dsn, self.owner_dsn = admin_dsn, dsn
        self.role = _unique("co_team")
        self.logins: dict[str, str] = {}
        self.granted = False

    def login(self, machine: str) -> tuple[str, str]:
        """(user, password) of a login in the agents' role, made with the grants (or
        now, when they ran already)."""
        user, password = f"{self.role}_{machine}", f"pw-{machine}-{os.getpid()}"
        self.logins[user] = password
        if self.granted:
            self._create_login(user, password)
        return user, password

    def grant(self, script: str) -> None:
        """Run the printed grants as the tables' owner, then make the logins."""
        with _connect(self.owner_dsn) as conn:
            conn.execute(script)
        self.granted = True
        for user, password in self.logins.items():
            self._create_login(user, password)

    def _create_login(self, user: str, password: str) -> None:
        with _connect(self.owner_dsn) as conn:
            conn.execute(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{password}' IN ROLE "
                         f'"{self.role}"')  # fmt: skip

    def drop(self) -> None:
        names = [*self.logins, self.role]
        with _connect(self.owner_dsn) as conn:
            for name in names:
                conn.execute(f'DO $$ BEGIN DROP OWNED BY "{name}"; EXCEPTION WHEN '
                             "undefined_object THEN NULL; END $$")  # fmt: skip
        with _connect(self.admin_dsn) as conn:
            for name in names:
                conn.execute(f'DROP ROLE IF EXISTS "{name}"')


class Machine:
    """One machine: its clone, its environment (its own login and passfile), and the
    installed CLI and git run as processes in it."""

    def __init__(self, name: str, home: Path, env: dict[str, str]) -> None:
        self.name, self.home, self.env = name, home, env
        self.clone = home / "app"

    def worktree(self, leaf: str) -> Path:
        """Where an agent's worktree is (init-feature's default, ``../app-worktrees``)."""
        return self.home / "app-worktrees" / SPEC / leaf

    def run(self, *args: str, cwd: Path | None = None) -> Result:
        return run_process(args, cwd or self.clone, self.env)

    def ok(self, *args: str, cwd: Path | None = None) -> Result:
        result = self.run(*args, cwd=cwd)
        assert result.code == 0, (self.name, args, result)
        return result

    def json(self, *args: str, cwd: Path | None = None) -> Any:
        return self.ok(*args, "--json", cwd=cwd).json()

    def git(self, *args: str, cwd: Path | None = None) -> str:
        """git with this machine's environment: the hooks it runs reach the store."""
        result = subprocess.run(["git", *args], cwd=cwd or self.clone, env=self.env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, (self.name, args, result.stderr)
        return result.stdout.strip()

    def commit(self, cwd: Path, message: str, files: dict[str, str]) -> str:
        """Commit ``files`` in the worktree ``cwd``; the hooks must have had nothing to say."""
        for name, text in files.items():
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
            (cwd / name).write_text(text)
        self.git("add", *files, cwd=cwd)
        self.git("commit", "-q", "--allow-empty", "-m", message, cwd=cwd)
        assert self.hook_errors() == "", self.hook_errors()
        return self.git("rev-parse", "HEAD", cwd=cwd)

    def hook_errors(self) -> str:
        log = self.clone / ".git" / "orchestrator" / "hook-errors.log"
        return log.read_text() if log.exists() else ""

    def stop_daemons(self) -> None:
        """Stop the store proxy daemons this machine's commands started (found by the
        key in their socket's name), and wait until they are gone."""
        from tests.test_store_proxy_support import daemons, wait_gone

        for sock in (user_cache_dir(self.env) / "store-proxy").glob("*.sock"):
            for pid in daemons(sock.stem):
                os.kill(pid, signal.SIGTERM)
                wait_gone(pid)


class Team:
    """The origin, the database and the two machines (A: overseer and data implementor,
    its password in ``~/.pgpass``; B: api and ui implementors, its password in the file
    ``PGPASSFILE`` names)."""

    def __init__(self, root: Path, database: Database) -> None:
        self.root, self.database = root, database
        self.origin = root / "origin.git"
        self.machines = {name: self.machine(name) for name in ("a", "b")}

    @property
    def a(self) -> Machine:
        return self.machines["a"]

    @property
    def b(self) -> Machine:
        return self.machines["b"]

    def machine(self, name: str) -> Machine:
        """A new machine with a login of its own (A's ~/.pgpass, others' PGPASSFILE)."""
        home = self.root / name
        home.mkdir()
        user, password = self.database.login(name)
        parts = urlsplit(self.database.owner_dsn)
        host, port, dbname = parts.hostname, parts.port, parts.path.lstrip("/")
        passfile = home / (".pgpass" if name == "a" else "pgpass")
        passfile.write_text(f"{host}:{port}:{dbname}:{user}:{password}\n")
        passfile.chmod(0o600)  # libpq ignores a passfile others may read
        env = clean_env(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
        env = {k: v for k, v in env.items() if not k.startswith("PG")}
        env["CLAUDE_ORCHESTRATOR_DB_URL"] = _as(self.database.owner_dsn, user)
        if name != "a":
            env["PGPASSFILE"] = str(passfile)
        return Machine(name, home, env)


@pytest.fixture
def database(pg_admin_dsn: str, pg_dsn: str) -> Iterator[Database]:
    made = Database(pg_admin_dsn, pg_dsn)
    yield made
    made.drop()


@pytest.fixture
def team(tmp_path: Path, database: Database) -> Iterator[Team]:
    made = Team(tmp_path, database)
    yield made
    for machine in made.machines.values():
        machine.stop_daemons()


def set_up_feature(team: Team) -> None:
    """Machine A: the repository, the config choosing the postgres store (committed),
    the DBA's schema and grants, ``init``, ``init-feature --worktrees``, the tasks on the
    overseer branch, and every feature branch pushed to the origin."""
    a = team.a
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(team.origin)],
                   check=True, env=a.env)  # fmt: skip
    a.clone.mkdir()
    a.git("init", "-q", "-b", "main")
    a.commit(a.clone, "initial", {"models.py": "class Goal:\n    pass\n", "README.md": "app\n"})
    a.ok("init")
    a.ok("config", "set", "plugins.store", "postgres")
    a.commit(a.clone, "claude-orchestrator config: the team's postgres store",
             {"orchestrator.yaml": (a.clone / "orchestrator.yaml").read_text()})  # fmt: skip
    # the DBA: the tables (as their owner), then the agents' role from the printed grants
    dba = {**a.env, "CLAUDE_ORCHESTRATOR_DB_URL": team.database.owner_dsn}
    assert run_process(["events", "init"], a.clone, dba).code == 0
    grants = run_process(["events", "init", "--print-grants", "--role", team.database.role],
                         a.clone, dba)  # fmt: skip
    assert grants.code == 0, grants
    team.database.grant(grants.out)
    a.ok("init")  # as the machine's own login
    a.ok("init-feature", SPEC, "--worktrees", "--name", "Reading goals")
    a.ok("hooks", "install")
    a.commit(a.worktree("overseer"), f"tasks for {SPEC}", {f"specs/{SPEC}/tasks.md": TASKS})
    branches = [OVERSEER, *(f"{PREFIX}/impl-{area}" for area in ("data", "api", "ui"))]
    a.git("remote", "add", "origin", str(team.origin))
    a.git("push", "-q", "-u", "origin", "main", *branches)


def join(team: Team) -> None:
    """Machine B: a clone, the hooks, and a worktree for each of its implementors."""
    b = team.b
    b.git("clone", "-q", str(team.origin), str(b.clone), cwd=b.home)
    b.ok("hooks", "install")
    for area in ("api", "ui"):
        path = b.worktree(f"impl-{area}")
        b.git("worktree", "add", "-q", str(path), f"{PREFIX}/impl-{area}")
        assert b.git("rev-parse", "--abbrev-ref", "@{upstream}", cwd=path) == (
            f"origin/{PREFIX}/impl-{area}"
        )


def work(team: Team) -> None:
    """B's api implementor and A's data implementor change the same model (a conflict);
    B's ui implementor adds its page. Each commits with task ids and pushes."""
    a, b = team.a, team.b
    api, ui, data = b.worktree("impl-api"), b.worktree("impl-ui"), a.worktree("impl-data")
    b.commit(
        api,
        "T002: goals API needs pages\n\nT002 done",
        {"models.py": "class Goal:\n    pages: int\n", "api.py": "def goals(): ...\n"},
    )
    b.git("push", "-q", cwd=api)
    b.commit(ui, "T003: goals page\n\nT003 done", {"ui.py": "PAGE = 'goals'\n"})
    b.git("push", "-q", cwd=ui)
    a.commit(data, "T001: goal model\n\nT001 done", {"models.py": "class Goal:\n    target: int\n"})
    a.git("push", "-q", cwd=data)


def task_states(machine: Machine) -> dict[str, tuple[str, str]]:
    """task id -> (role, status), as the machine's ``events export --format json`` says."""
    exported = machine.ok("events", "export", SPEC, "--format", "json").json()
    return {t["task_id"]: (t["role"], t["status"]) for t in exported["tasks"]}


def scan(machine: Machine) -> dict[str, Any]:
    """The machine's ``detect-conflicts --json`` after ``git fetch``: the feature's scan."""
    machine.git("fetch", "-q", "--prune")
    result = machine.run("detect-conflicts", "--json")
    assert result.code == 1, (machine.name, result)  # a conflict was found
    (found,) = result.json()["features"]
    assert found["spec_id"] == SPEC and found["recorded"] is True
    return dict(found)


@pytest.mark.slow
def test_two_machines_share_one_feature(team: Team) -> None:
    """The feature set up on A; implementors on B and A commit and sync through their
    hooks; either machine's scan sees both machines' branches and records the conflict
    once; A's overseer merges B's PR and B sees it; one event stream."""
    a, b = team.a, team.b
    set_up_feature(team)
    config = a.git("show", "HEAD:orchestrator.yaml")
    assert "store: postgres" in config
    assert not any(pw in config for pw in team.database.logins.values())
    join(team)
    work(team)
    # -- the hooks on both machines synced their commits into the one store
    expected = {"T001": ("implementor-data", "completed"),
                "T002": ("implementor-api", "completed"),
                "T003": ("implementor-ui", "completed")}  # fmt: skip
    assert task_states(a) == task_states(b) == expected
    # -- each machine's scan sees both machines' branches; the conflict is recorded once
    conflict = {"role": "implementor-api", "branch": f"{PREFIX}/impl-api",
                "other_role": "implementor-data", "other_branch": f"{PREFIX}/impl-data",
                "files": ["models.py"], "severity": "warning"}  # fmt: skip
    first, second, again = scan(a), scan(b), scan(a)
    assert first["conflicts"] == second["conflicts"] == again["conflicts"] == [conflict]
    assert (first["opened"], second["opened"], again["opened"]) == (1, 0, 0)
    assert first["resolved"] == second["resolved"] == again["resolved"] == 0
    check = b.run("check-conflicts", "--json", cwd=b.worktree("impl-api"))  # before a rebase
    assert check.code == 1, check
    assert [p["other_branch"] for p in check.json()["pairs"] if p["conflicted"]] == [
        f"{PREFIX}/impl-data"
    ]
    stored = a.json("events", "conflicts", SPEC)
    assert stored == b.json("events", "conflicts", SPEC, "--all")
    assert [(c["branch"], c["other_branch"], c["files"]) for c in stored] == [
        (conflict["branch"], conflict["other_branch"], ["models.py"])
    ]
    # -- B's ui implementor opens a PR; A's overseer fetches and merges it (local forge)
    ui, overseer = b.worktree("impl-ui"), a.worktree("overseer")
    pr = b.json("open-pr", "--title", "Goals page", cwd=ui)
    a.git("fetch", "-q", cwd=overseer)
    merged = a.json("merge-pr", str(pr["id"]), cwd=overseer)
    assert merged["status"] == "merged"
    assert (overseer / "ui.py").read_text() == "PAGE = 'goals'\n"  # B's pushed commit
    a.git("push", "-q", cwd=overseer)
    assert a.hook_errors() == ""
    # -- B sees it merged; its task states are A's
    b.git("fetch", "-q")
    assert b.git("show", f"origin/{OVERSEER}:ui.py") == "PAGE = 'goals'"
    status = {row["role"]: row for row in b.json("events", "status", SPEC)}
    assert (status["implementor-ui"]["prs_count"], status["implementor-ui"]["prs_merged"]) == (
        1, 1)  # fmt: skip
    assert status["implementor-ui"]["tasks_merged"] == 1
    assert b.json("events", "status", SPEC) == a.json("events", "status", SPEC)
    assert task_states(b) == task_states(a) == {**expected,
                                                "T003": ("implementor-ui", "merged")}  # fmt: skip
    assert [p["status"] for p in b.json("prs", SPEC)] == ["merged"]
    tasks_md = (overseer / "specs" / SPEC / "tasks.md").read_text()
    assert tasks_md == TASKS.replace("- [ ]", "- [x]")  # the post-merge hook's sync
    # -- one event stream: the same events, the same ids, numbered from 1
    stream = a.json("events", "recent", "1000")
    assert b.json("events", "recent", "1000") == stream
    assert [e["id"] for e in stream] == list(range(len(stream), 0, -1))
    kinds = [e["event_type"] for e in stream]
    assert kinds.count("conflict_detected") == 1 and "conflict_resolved" not in kinds
    assert kinds.count("pr_merged") == 1
    assert a.run("doctor").code == 0  # the overseer's machine: every agent's worktree is here


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


def test_doctor_on_a_machine_that_runs_one_implementor(cli: Run, clones: Clones) -> None:
    _push_from_b(clones, API, "api's line", "T002: api")
    result = cli("doctor", "--json", cwd=clones.b, env=clones.env)
    checks = {c["name"]: c for c in result.json()}
    assert checks["worktrees"]["ok"], checks["worktrees"]
    assert "work in other clones (no local branch here: " in checks["worktrees"]["detail"]


@pytest.mark.slow
def test_the_clones_are_one_project_and_another_repository_sees_none_of_it(team: Team) -> None:
    """Both clones name the repository by its root commit, so they are one project; a
    third repository on the same database (another root commit) has none of its rows,
    and may use the same spec id."""
    a, b = team.a, team.b
    set_up_feature(team)
    join(team)
    b.commit(b.worktree("impl-api"), "T002: goals API", {"api.py": "def goals(): ...\n"})
    root = a.git("rev-list", "--max-parents=0", "HEAD")
    assert b.git("rev-list", "--max-parents=0", "HEAD") == root
    for machine in (a, b):
        cache = machine.clone / ".git" / "orchestrator" / "postgres-project"
        assert cache.read_text() == root + "\n"
    ours = a.json("events", "recent", "1000")
    assert b.json("events", "recent", "1000") == ours
    kinds = [(e["event_type"], e["task_id"]) for e in ours]
    assert kinds == [("task_started", "T002"), ("feature_created", None)]
    c = team.machine("c")
    c.clone.mkdir()
    c.git("init", "-q", "-b", "main")
    c.commit(c.clone, "initial", {"other.py": "x = 1\n"})
    assert c.git("rev-list", "--max-parents=0", "HEAD") != root
    c.ok("init")
    c.ok("config", "set", "plugins.store", "postgres")
    c.ok("init")
    assert c.json("events", "status") == []
    assert c.json("events", "recent", "1000") == []
    assert c.json("events", "conflicts", "--all") == []
    assert c.json("events", "blockers", "--all") == []
    assert c.json("prs") == []
    info = c.json("events", "info")
    assert {k: v for k, v in info["counts"].items() if v} == {}, info
    assert c.run("events", "export", SPEC).code == 2  # not this repository's feature
    c.ok("events", "add-feature", SPEC, "Another repository's")
    assert {r["name"] for r in c.json("events", "status")} == {"Another repository's"}
    assert {r["name"] for r in b.json("events", "status")} == {"Reading goals"}
    assert a.json("events", "recent", "1000") == ours
