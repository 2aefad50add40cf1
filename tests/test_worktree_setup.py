"""``worktrees.setup``: a new worktree gets the main checkout's untracked files, its set-up
commands run once, and each agent its own ports (init-feature --worktrees applies it)."""

from __future__ import annotations

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
    assert json.loads(marker.read_text()) == {"ran": [APPEND]}
    assert not list(trees["impl-api"].rglob("orchestrator-setup.json"))
    common = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    assert not list(common.rglob("*setup*.json"))
