"""``worktrees.setup``: a new worktree gets the main checkout's untracked files, its set-up
commands run once, and each agent its own ports (init-feature --worktrees applies it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

from claude_orchestrator import Orchestrator
from claude_orchestrator.location import user_cache_dir
from claude_orchestrator.worktree_setup import _marker, agent_ports

from .conftest import Run, clean_env, git

SPEC = "004-setup"
#: a set-up command that appends one line (its PORT) to setup.log in the worktree
APPEND = (
    f"{sys.executable} -c \"import os; open('setup.log', 'a').write(os.environ['PORT'] + '\\\\n')\""
)


def configure(repo: Path, setup: str) -> None:
    (repo / "orchestrator.yaml").write_text(
        f"version: 1\nimplementors:\n  areas: [data, api]\nworktrees:\n  setup:\n{setup}"
    )
    git(repo, "add", "orchestrator.yaml")
    git(repo, "commit", "-q", "-m", "config")


def worktrees(cli: Run) -> dict[str, Path]:
    result = cli("init-feature", SPEC, "--worktrees", "--json")
    assert result.code == 0, result
    return {b.rsplit("/", 1)[1]: Path(p) for b, (p, _) in result.json()["worktrees"].items()}


def test_files_are_copied_and_linked_never_over_an_existing_one(cli: Run, repo: Path) -> None:
    configure(repo, "    copy: [.env, config/local.toml, absent.txt]\n    link: [.cache-dir]\n")
    (repo / ".env").write_text("SECRET=1\n")
    (repo / "config").mkdir()
    (repo / "config" / "local.toml").write_text("debug = true\n")
    (repo / ".cache-dir").mkdir()
    trees = worktrees(cli)
    for tree in trees.values():
        assert (tree / ".env").read_text() == "SECRET=1\n"
        assert (tree / "config" / "local.toml").read_text() == "debug = true\n"
        assert (tree / ".cache-dir").is_symlink()
        assert (tree / ".cache-dir").resolve() == (repo / ".cache-dir").resolve()
        assert not (tree / "absent.txt").exists()
        assert [p.name for p in tree.iterdir() if p.name.endswith(".tmp")] == []
    mine = trees["impl-data"] / ".env"
    mine.write_text("SECRET=mine\n")
    (repo / ".env").write_text("SECRET=2\n")
    again = cli("init-feature", SPEC, "--worktrees", "--json").json()["setup"]
    assert mine.read_text() == "SECRET=mine\n"  # the agent's copy is its own
    data = again[f"feature/{SPEC}/impl-data"]
    assert data["copied"] == [] and data["missing"] == ["absent.txt"]
    assert sorted(data["kept"]) == [".cache-dir", ".env", "config/local.toml"]
    text = cli("init-feature", SPEC, "--worktrees").out
    assert "kept (already there): .env, config/local.toml, .cache-dir" in text
    assert "not in the main checkout: absent.txt" in text


def test_commands_run_once_with_distinct_stable_ports(cli: Run, repo: Path) -> None:
    configure(repo, f"    run: [{json.dumps(APPEND)}]\n    ports: {{base: 30000, block: 5}}\n")
    trees = worktrees(cli)
    worktrees(cli)  # a second run: nothing runs again
    ports = {role: (tree / "setup.log").read_text().split() for role, tree in trees.items()}
    assert all(len(lines) == 1 for lines in ports.values()), ports
    assert sorted(int(p[0]) for p in ports.values()) == [30000, 30005, 30010]
    with Orchestrator(repo, env=clean_env()) as orch:
        assert agent_ports(orch, SPEC, "implementor-api").env()["PORT"] == ports["impl-api"][0]
        cli("init-feature", "005-later", "--worktrees")
        later = agent_ports(orch, "005-later", "overseer")
        assert later.base == 30015  # distinct across features, the first unchanged
        assert agent_ports(orch, SPEC, "overseer").base == int(ports["overseer"][0])


def test_a_failing_command_shows_its_output_and_the_next_run_resumes(cli: Run, repo: Path) -> None:
    fail = f"{sys.executable} -c \"print('npm ERR! missing lockfile'); raise SystemExit(3)\""
    configure(repo, f"    run: [{json.dumps(APPEND)}, {json.dumps(fail)}]\n")
    result = cli("init-feature", SPEC, "--worktrees")
    assert result.code == 1, result
    assert "failed in" in result.err and "(exit 3)" in result.err
    assert "npm ERR! missing lockfile" in result.err
    assert "Traceback" not in result.err
    listed = git(repo, "worktree", "list").splitlines()
    assert len(listed) == 4  # the main checkout and the feature's worktrees: they stay
    configure(repo, f"    run: [{json.dumps(APPEND)}]\n")
    resumed = worktrees(cli)
    for tree in resumed.values():
        assert len((tree / "setup.log").read_text().split()) == 1  # never twice


def test_ports_past_the_last_one_are_refused(cli: Run, repo: Path) -> None:
    configure(repo, "    ports: {base: 65000, block: 200}\n")
    result = cli("init-feature", SPEC, "--worktrees")
    assert result.code == 2
    assert result.err.startswith("error: agent 3 of this repository would get ports from 65400")
    assert "lower worktrees.setup.ports.base or ports.block" in result.err


def test_what_a_killed_copy_left_is_removed(cli: Run, repo: Path) -> None:
    """A set-up killed mid-copy leaves a temporary file or folder beside the target; the
    next run removes it (its owner is dead) and copies again."""
    configure(repo, "    copy: [.env, fixtures]\n")
    (repo / ".env").write_text("A=1\n")
    (repo / "fixtures").mkdir()
    (repo / "fixtures" / "one.json").write_text("{}")
    trees = worktrees(cli)
    tree = trees["impl-api"]
    (tree / ".env").unlink()
    shutil.rmtree(tree / "fixtures")
    dead = f"{os.stat('/proc/self/ns/pid').st_ino}-{dead_pid()}-1"
    (tree / f"..env.{dead}.abcd1234.tmp").write_text("A=")
    (tree / f".fixtures.{dead}.abcd1234.tmp").mkdir()
    worktrees(cli)
    assert (tree / ".env").read_text() == "A=1\n"
    assert (tree / "fixtures" / "one.json").read_text() == "{}"
    assert sorted(p.name for p in tree.iterdir() if p.name.endswith(".tmp")) == []


def dead_pid() -> int:
    pid = 4_000_000
    while Path(f"/proc/{pid}").exists():
        pid += 1
    return pid


def test_a_symlink_the_agent_planted_never_leads_the_copy_elsewhere(
    cli: Run, repo: Path, tmp_path: Path
) -> None:
    """An implementor replaces a folder of its worktree with a symlink to another place
    (another worktree, the user's home): the person's next init-feature writes nothing
    through it."""
    configure(repo, "    copy: [config/local.toml, .env]\n    link: [config/cache]\n")
    (repo / "config").mkdir()
    (repo / "config" / "local.toml").write_text("debug = true\n")
    (repo / "config" / "cache").mkdir()
    (repo / ".env").write_text("A=1\n")
    mine = worktrees(cli)["impl-data"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(mine / "config")
    (mine / "config").symlink_to(elsewhere)
    result = cli("init-feature", SPEC, "--worktrees", "--json")
    assert result.code == 0, result
    setup = result.json()["setup"][f"feature/{SPEC}/impl-data"]
    assert sorted(setup["refused"]) == ["config/cache", "config/local.toml"]
    assert list(elsewhere.iterdir()) == []  # nothing written there
    text = cli("init-feature", SPEC, "--worktrees").out
    assert "refused (a folder on the way is a symlink): config/local.toml, config/cache" in text


def test_what_ran_is_recorded_where_the_agent_cannot_write(cli: Run, repo: Path) -> None:
    configure(repo, f"    run: [{json.dumps(APPEND)}]\n")
    trees = worktrees(cli)
    marker = _marker(trees["impl-api"])
    assert marker.parent == user_cache_dir(clean_env()) / "setup"
    assert json.loads(marker.read_text()) == {"ran": [APPEND], "complete": True, "trusted": True}
    assert not list(trees["impl-api"].rglob("orchestrator-setup.json"))
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    assert not list(common.rglob("*setup*.json"))


#: a set-up command that writes the names of its environment variables to env.json
DUMP_ENV = (f"{sys.executable} -c \"import json, os; "
            "json.dump(sorted(os.environ), open('env.json', 'w'))\"")  # fmt: skip


def test_commands_never_run_where_an_agent_may_have_worked(cli: Run, repo: Path) -> None:
    """Set-up commands run as the person, outside the sandbox: only in a worktree made now
    from a branch with nothing the overseer branch lacks; a command added later, or a
    worktree that was there before, is reported, not run."""
    configure(repo, "    copy: [.env]\n")
    (repo / ".env").write_text("A=1\n")
    assert cli("init-feature", SPEC).code == 0  # the branches, no worktrees yet
    branch = f"feature/{SPEC}/impl-api"
    git(repo, "worktree", "add", "-q", str(repo.parent / "by-hand"), branch)
    git(repo.parent / "by-hand", "commit", "-q", "--allow-empty", "-m", "T001: agent work")
    git(repo, "worktree", "remove", str(repo.parent / "by-hand"))
    configure(repo, f"    copy: [.env]\n    run: [{json.dumps(APPEND)}]\n")
    result = cli("init-feature", SPEC, "--worktrees", "--json")
    assert result.code == 0, result
    setup = result.json()["setup"]
    trees = {b.rsplit("/", 1)[1]: Path(s["worktree"]) for b, s in setup.items()}
    assert (trees["impl-data"] / "setup.log").exists()
    api = setup[branch]
    assert api["ran"] == [] and api["not_run"] == [APPEND]
    assert "commits the overseer branch lacks" in api["why_not_run"]
    assert not (trees["impl-api"] / "setup.log").exists()
    assert (trees["impl-api"] / ".env").exists()  # files are still placed
    configure(repo, f"    run: [{json.dumps(APPEND)}, {json.dumps(DUMP_ENV)}]\n")
    later = cli("init-feature", SPEC, "--worktrees", "--json").json()["setup"]
    data = later[f"feature/{SPEC}/impl-data"]
    assert data["ran"] == [] and data["not_run"] == [DUMP_ENV]
    assert "changed since the set-up ran" in data["why_not_run"]
    assert not (trees["impl-data"] / "env.json").exists()


def test_commands_get_neither_gits_nor_the_stores_variables(cli: Run, repo: Path) -> None:
    configure(repo, f"    run: [{json.dumps(DUMP_ENV)}]\n")
    env = clean_env(GIT_DIR=str(repo / ".git"), CLAUDE_ORCHESTRATOR_DB_URL="postgresql://x:pw@h/d")
    env.pop("GIT_DIR")  # init-feature itself must find the repository by its cwd
    env["GIT_EXEC_PATH_EXTRA"] = "x"
    result = cli("init-feature", SPEC, "--worktrees", "--json", env=env)
    assert result.code == 0, result
    tree = Path(next(iter(result.json()["setup"].values()))["worktree"])
    names = json.loads((tree / "env.json").read_text())
    assert "PORT" in names and "CO_PORT_BASE" in names
    assert [n for n in names if n.startswith(("GIT_", "CLAUDE_ORCHESTRATOR_"))] == []


def test_a_background_process_a_command_leaves_does_not_hold_the_set_up(
    cli: Run, repo: Path, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    leave = (f"{sys.executable} -c \"import subprocess, sys; p = subprocess.Popen(['sleep', "
             f"'60']); open('{pidfile}', 'a').write(str(p.pid) + '\\\\n')\"")  # fmt: skip
    configure(repo, f"    run: [{json.dumps(leave)}]\n")
    result = cli("init-feature", SPEC, "--worktrees")
    try:
        assert result.code == 0, result
        pids = [int(p) for p in pidfile.read_text().split()]
        assert len(pids) == 3
        # the set-up returned while they still ran: it waited for its commands only
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)
    finally:
        for pid in (int(p) for p in pidfile.read_text().split()):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
