"""generate: deterministic files from orchestrator.yaml, drift, hand edits, the manifest."""

from __future__ import annotations

import json
from pathlib import Path

from ruamel.yaml import YAML

from claude_orchestrator.generators import writer

from .conftest import Run, git

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    ".github/workflows/implementor-ci.yml",
    ".github/workflows/overseer-ci.yml",
    ".claude/permissions-overseer.json",
    ".claude/permissions-implementor.json",
    ".specify/agents.md",
    "CLAUDE.md",
}


def tree(repo: Path) -> dict[str, bytes]:
    paths = [*EXPECTED, writer.MANIFEST]
    paths += [str(p.relative_to(repo)) for p in (repo / ".claude").glob("*.json")]
    return {p: (repo / p).read_bytes() for p in sorted(set(paths)) if (repo / p).exists()}


def test_generate_writes_everything_deterministically(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    (repo / "CLAUDE.md").write_text("# My project\n\nMy own rules.\n")
    result = cli("generate", "--json")
    assert result.code == 0, result
    assert EXPECTED | {writer.MANIFEST} <= set(result.json()["changed"])
    first = tree(repo)
    for path in (".github/workflows/implementor-ci.yml", ".specify/agents.md"):
        assert "Generated from orchestrator.yaml" in first[path].decode().splitlines()[0]
    runbook = first[".specify/agents.md"].decode()
    for command in ("up <spec-id>", "agents", 'tell implementor-api "rebase', "inbox overseer",
                    "inbox implementor-<area>"):  # fmt: skip
        assert f"claude-orchestrator {command}" in runbook, command
    claude_md = first["CLAUDE.md"].decode()
    assert claude_md.startswith("# My project\n\nMy own rules.\n")
    assert writer.FENCE_BEGIN in claude_md
    settings = json.loads(first[".claude/permissions-implementor.json"])
    # nothing undocumented in a settings file: rules, the guard hook, the sandbox
    assert set(settings) == {"permissions", "hooks", "sandbox", "env"}
    hook = settings["hooks"]["PreToolUse"][0]["hooks"][0]
    assert hook["command"].endswith("guard --role implementor || exit 2")
    manifest = json.loads(first[writer.MANIFEST])
    assert set(manifest["files"]) == EXPECTED
    # byte-identical on re-run; --check agrees
    assert cli("generate").out.strip().endswith("generated files are up to date")
    assert tree(repo) == first
    assert cli("generate", "--check").code == 0


def test_check_reports_drift_after_a_config_change(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("generate").code == 0
    before = tree(repo)
    assert cli("config", "set", "tests.implementor.unit", "pytest -q tests/unit").code == 0
    result = cli("generate", "--check", "--diff")
    assert result.code == 1, result
    assert "outdated: .github/workflows/implementor-ci.yml" in result.out
    assert "+" in result.out and "pytest -q tests/unit" in result.out
    assert tree(repo) == before  # --check writes nothing
    assert cli("generate").code == 0
    assert cli("generate", "--check").code == 0


def test_hand_edits_are_reported_not_overwritten(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("generate").code == 0
    workflow = repo / ".github/workflows/overseer-ci.yml"
    workflow.write_text(workflow.read_text() + "# my tweak\n")
    assert cli("config", "set", "ci.python", "'3.12'").code == 0
    before = tree(repo)
    result = cli("generate")
    assert result.code == 1
    assert "edited by hand: .github/workflows/overseer-ci.yml" in result.err
    assert "--force" in result.err
    assert tree(repo) == before  # nothing written at all
    check = cli("generate", "--check")
    assert check.code == 1 and "modified: .github/workflows/overseer-ci.yml" in check.out
    assert cli("generate", "--force").code == 0
    assert "# my tweak" not in workflow.read_text()
    assert cli("generate", "--check").code == 0


def test_area_permission_files_follow_the_config(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("config", "set", "paths.areas", "{data: ['src/data/**']}").code == 0
    assert cli("generate").code == 0
    area = repo / ".claude/permissions-impl-data.json"
    assert area.exists()
    allow = json.loads(area.read_text())["permissions"]["allow"]
    assert "Edit(src/data/**)" in allow or "Edit(./src/data/**)" in allow
    assert cli("config", "set", "paths.areas", "{}").code == 0
    result = cli("generate", "--json")
    assert result.code == 0
    assert ".claude/permissions-impl-data.json" in result.json()["changed"]
    assert not area.exists()  # obsolete and unmodified: removed


def test_generate_needs_a_config_file(cli: Run, repo: Path) -> None:
    result = cli("generate")
    assert result.code == 2 and "claude-orchestrator init" in result.err


def test_user_text_outside_the_claude_md_fence_survives_updates(cli: Run, repo: Path) -> None:
    assert cli("init").code == 0
    assert cli("generate").code == 0
    path = repo / "CLAUDE.md"
    path.write_text("Intro.\n\n" + path.read_text() + "\nAfterword.\n")
    assert cli("config", "set", "implementors.areas", "[data, api]").code == 0
    assert cli("generate").code == 0
    text = path.read_text()
    assert text.startswith("Intro.\n\n") and text.endswith("Afterword.\n")
    assert cli("generate", "--check").code == 0


def test_pre_commit_hook_definition() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = hooks[0]
    assert hook["entry"].startswith("claude-orchestrator generate --check")
    assert hook["pass_filenames"] is False and hook["language"] == "python"


def test_writer_states(tmp_path: Path) -> None:
    docs = {"a.json": {"x": 1}, "b.md": "body"}
    states = {s.path: s.state for s in writer.plan(tmp_path, docs)}
    assert states == {"a.json": "missing", "b.md": "missing"}
    writer.write(tmp_path, docs, writer.plan(tmp_path, docs), force=False)
    assert {s.state for s in writer.plan(tmp_path, docs)} == {"ok"}
    changed = {"a.json": {"x": 2}, "b.md": "body"}
    assert {s.path: s.state for s in writer.plan(tmp_path, changed)}["a.json"] == "outdated"
    (tmp_path / "b.md").write_text("edited\n")
    assert {s.path: s.state for s in writer.plan(tmp_path, changed)}["b.md"] == "modified"
    gone = {"a.json": {"x": 2}}
    states = {s.path: s.state for s in writer.plan(tmp_path, gone)}
    assert states["b.md"] == "modified"  # edited, so not deleted silently


def test_a_generate_killed_between_files_is_finished_by_the_next(cli: Run, repo: Path) -> None:
    """Killed after two files: the next run (after the user committed what was there, so
    the tracked files feeding the permission files changed) finishes it."""
    from .test_faults import run_killed_at

    assert cli("init").code == 0
    # call 1 writes the manifest's pending section, calls 2 and 3 two files
    assert run_killed_at(repo, ("claude_orchestrator.generators.writer",
                                "atomic_write_text", 4), "generate") == -9  # fmt: skip
    assert (repo / ".claude/permissions-implementor.json").exists()
    assert not (repo / ".specify/agents.md").exists()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "what generate wrote")
    result = cli("generate")
    assert result.code == 0, result
    assert cli("generate", "--check").code == 0
    assert "pending" not in json.loads((repo / writer.MANIFEST).read_text())
    assert not [p for p in repo.rglob("*.tmp")]


def test_a_hand_edit_after_a_killed_generate_is_still_refused(cli: Run, repo: Path) -> None:
    from .test_faults import run_killed_at

    assert cli("init").code == 0
    assert run_killed_at(repo, ("claude_orchestrator.generators.writer",
                                "atomic_write_text", 4), "generate") == -9  # fmt: skip
    edited = repo / ".claude/permissions-overseer.json"
    edited.write_text(edited.read_text().replace("{", '{"mine": 1,', 1))
    result = cli("generate")
    assert result.code == 1, result
    assert "edited by hand: .claude/permissions-overseer.json;" in result.err
    assert cli("generate", "--force").code == 0
    assert cli("generate", "--check").code == 0
