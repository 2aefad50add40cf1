"""``agent-settings``: the role's settings with absolute paths, written where the sandbox
cannot write; for an implementor, other branches' refs, packed-refs, tags, hooks and config
read-only. And the guard's trust anchors: the cache it trusts and the branch prefix."""

from __future__ import annotations

import json
from pathlib import Path

from claude_orchestrator.location import user_cache_dir

from .conftest import Run, clean_env, git
from .test_guard_hook import call
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]


def test_implementor_settings(cli: Run, feature: dict[str, Path], tmp_path: Path) -> None:
    tree = feature["impl-data"]
    common = Path(git(tree, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    git(tree, "pack-refs", "--all")  # every ref packed: loose files must come back
    assert not (common / "refs" / "heads" / "main").exists()
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"))
    result = cli("agent-settings", "--json", cwd=tree, env=env)
    assert result.code == 0, result
    info = json.loads(result.out)
    path = Path(info["path"])
    assert path.is_relative_to(tmp_path / "state") and path.is_file()
    assert info["role"] == "implementor" and info["branch"] == f"feature/{SPEC}/impl-data"
    assert f"refs/heads/feature/{SPEC}/impl-data" not in info["protected_refs"]
    assert {"refs/heads/main", f"refs/heads/feature/{SPEC}/overseer",
            f"refs/heads/feature/{SPEC}/impl-api"} <= set(info["protected_refs"])  # fmt: skip
    document = json.loads(path.read_text())
    deny = document["sandbox"]["filesystem"]["denyWrite"]
    assert all(p.startswith("//") for p in deny), deny
    for name in ("packed-refs", "refs/tags", "hooks", "config", "refs/heads/main"):
        assert f"/{common}/{name}" in deny
    assert f"/{tree.resolve()}/orchestrator.yaml" in deny
    own = Path(git(tree, "rev-parse", "--path-format=absolute", "--git-dir"))
    admin = sorted((common / "worktrees").iterdir())
    assert len(admin) == 4
    for entry in admin:  # the other worktrees' git directories; its own commondir, gitdir
        names = [f"/{entry}/commondir", f"/{entry}/gitdir"] if entry == own else [f"/{entry}"]
        assert set(names) <= set(deny), (entry, deny)
    for ref in info["protected_refs"]:  # loose again, with the same commit
        assert (common / ref).read_text().strip() == git(tree, "rev-parse", ref)
    assert git(tree, "fsck", "--no-dangling") == ""
    printed = cli("agent-settings", "--print", cwd=tree, env=env)
    assert json.loads(printed.out) == document
    plain = cli("agent-settings", cwd=tree, env=env)
    assert plain.out.strip() == str(path)


def test_overseer_settings_and_errors(cli: Run, feature: dict[str, Path], repo: Path,
                                      tmp_path: Path) -> None:  # fmt: skip
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "state"))
    result = cli("agent-settings", "--json", cwd=feature["overseer"], env=env)
    assert result.code == 0, result
    assert json.loads(result.out)["role"] == "overseer"
    outside = cli("agent-settings", cwd=repo, env=env)  # main: not a feature branch
    assert outside.code == 2 and outside.err.startswith("error: ")
    assert "\n" not in outside.err.strip()


def test_guard_env_key_widens_the_variables(cli: Run, feature: dict[str, Path]) -> None:
    tree = feature["impl-data"]
    command = "MY_CONFIG=x pytest -q"
    assert call(cli, tree, "implementor", "Bash", {"command": command}).code == 2
    commit(feature["overseer"], "orchestrator.yaml", "version: 1\nguard:\n  env: [MY_CONFIG]\n",
           "allow one variable")  # fmt: skip
    assert call(cli, tree, "implementor", "Bash", {"command": command}).code == 0


def test_a_forged_cache_is_not_trusted(cli: Run, feature: dict[str, Path]) -> None:
    """The cache under the git directory is writable to code the agent runs; the guard's
    own cache lives in the user's cache directory and is checked against the blob id."""
    tree = feature["impl-data"]
    commit(feature["overseer"], "orchestrator.yaml", "version: 1\n", "config")
    blob = git(tree, "rev-parse", f"refs/heads/feature/{SPEC}/overseer:orchestrator.yaml")
    common = Path(git(tree, "rev-parse", "--path-format=absolute", "--git-common-dir"))
    permissive = {"version": 1, "guard": {"allow": ["git merge main"]}}
    cache = common / "orchestrator" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / f"guard-config-{blob}.json").write_text(json.dumps(permissive))
    forged = user_cache_dir(clean_env()) / "guard" / f"config-{blob}.json"
    forged.parent.mkdir(parents=True, exist_ok=True)
    forged.write_text(json.dumps({"blob": "0" * 40, "data": permissive}))
    result = call(cli, tree, "implementor", "Bash", {"command": "git merge main"})
    assert result.code == 2 and "may not merge" in result.err


def test_a_working_copy_prefix_needs_the_committed_config(
    cli: Run, feature: dict[str, Path]
) -> None:
    """An agent that writes `branches: {prefix: x}` into its working copy and moves to
    a branch `x/...` does not get rules from a config that does not exist."""
    tree = feature["impl-data"]
    (tree / "orchestrator.yaml").write_text("version: 1\nbranches:\n  prefix: x\n")
    git(tree, "checkout", "-q", "-b", f"x/{SPEC}/impl-data")
    result = call(cli, tree, "implementor", "Bash",
                  {"command": f"git push origin HEAD:feature/{SPEC}/overseer"})  # fmt: skip
    assert result.code == 2, result


def test_strict_mode_requires_agent_settings(cli: Run, feature: dict[str, Path]) -> None:
    """`guard.mode: strict`: an implementor started with the committed file (without the
    variable the agent-settings file sets) has every call refused; one started with
    agent-settings works as usual."""
    from claude_orchestrator.agent_settings import SETTINGS_VALUE, SETTINGS_VARIABLE
    from claude_orchestrator.guard_hook import SETTINGS_VALUE as HOOK_VALUE
    from claude_orchestrator.guard_hook import SETTINGS_VARIABLE as HOOK_VARIABLE

    assert (HOOK_VARIABLE, HOOK_VALUE) == (SETTINGS_VARIABLE, SETTINGS_VALUE)
    tree = feature["impl-data"]
    commit(feature["overseer"], "orchestrator.yaml", "version: 1\nguard:\n  mode: strict\n",
           "strict mode")  # fmt: skip
    refused = call(cli, tree, "implementor", "Bash", {"command": "git status"})
    assert refused.code == 2 and "agent-settings" in refused.err
    env = clean_env(**{SETTINGS_VARIABLE: SETTINGS_VALUE})
    payload = {"session_id": "s", "cwd": str(tree), "hook_event_name": "PreToolUse",
               "tool_name": "Bash", "tool_input": {"command": "git status"}}  # fmt: skip
    allowed = cli("guard", "--role", "implementor", cwd=tree, stdin=json.dumps(payload), env=env)
    assert allowed.code == 0, allowed
    overseer = call(cli, feature["overseer"], "overseer", "Bash", {"command": "git status"})
    assert overseer.code == 0  # the mode binds implementors


def test_a_rewritten_commondir_is_refused(
    cli: Run, feature: dict[str, Path], tmp_path: Path
) -> None:
    """Every worktree's git directory is in the shared one: a ``commondir`` rewritten to
    name another repository (one an agent made) must not become the overseer's store,
    config and hooks."""
    fake = tmp_path / "fake"
    git(tmp_path, "init", "-q", str(fake))
    overseer = feature["overseer"]
    admin = Path(git(overseer, "rev-parse", "--path-format=absolute", "--git-dir"))
    (admin / "commondir").write_text(f"{fake / '.git'}\n")
    result = cli("events", "path", cwd=overseer)
    assert result.code == 2, result
    assert result.err.startswith("error: ") and "commondir names" in result.err
    assert "put ../.. back into it" in result.err and len(result.err.splitlines()) == 1
    (admin / "commondir").write_text("../..\n")
    assert cli("events", "path", cwd=overseer).code == 0
