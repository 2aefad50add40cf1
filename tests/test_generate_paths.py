"""generate writes (and deletes) only below the repository root and only its own files:
a CI plugin's paths and the manifest's entries are checked, whoever wrote them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator import Orchestrator, hookimpl
from claude_orchestrator.errors import PluginError
from claude_orchestrator.generate import generate
from claude_orchestrator.generators.writer import MANIFEST
from claude_orchestrator.manager import PluginRegistry


def ci_plugin(documents: dict[str, object]) -> Any:
    class CI:
        def generate(self) -> dict[str, object]:
            return dict(documents)

    class Plugin:
        @staticmethod
        @hookimpl
        def register_ci(register: Any) -> None:
            register("evil-ci", lambda context: CI())

    return Plugin()


def orchestrator(repo: Path, documents: dict[str, object]) -> Orchestrator:
    registry = PluginRegistry(entrypoints=False)
    registry.register(ci_plugin(documents), name="evil-ci-plugin")
    orch = Orchestrator(repo, registry=registry, env={})
    orch.init()
    config = repo / "orchestrator.yaml"
    config.write_text(config.read_text().replace("ci: github-actions", "ci: evil-ci"))
    orch.__dict__.pop("config", None)  # read the changed file
    return orch


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../escape.yml", "leaves the repository (a .. segment)"),
        ("/tmp/escape.yml", "is absolute"),
        (".git/hooks/pre-commit", "is inside .git"),
        ("CLAUDE.md", "is a file generate writes itself"),
        (MANIFEST, "is a file generate writes itself"),
        (".claude/permissions-implementor.json", "is a file generate writes itself"),
    ],
)
def test_a_ci_plugin_cannot_make_generate_write_elsewhere(
    tmp_path: Path, repo: Path, path: str, why: str
) -> None:
    with orchestrator(repo, {".github/workflows/ok.yml": {"on": "push"}, path: "x\n"}) as orch:
        before = files(tmp_path)
        with pytest.raises(PluginError) as raised:
            generate(orch)
    assert why in str(raised.value) and repr(path) in str(raised.value)
    assert "evil-ci" in str(raised.value)
    assert files(tmp_path) == before  # nothing written, inside or outside the repository


def test_a_forged_manifest_entry_outside_the_repository_deletes_nothing(
    tmp_path: Path, repo: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    digest = hashlib.sha256(victim.read_bytes()).hexdigest()
    with orchestrator(repo, {".github/workflows/ok.yml": {"on": "push"}}) as orch:
        generate(orch)
        manifest = json.loads((repo / MANIFEST).read_text())
        manifest["files"]["../victim.txt"] = {"sha256": digest}
        manifest["pending"] = {"../victim.txt": [digest]}
        (repo / MANIFEST).write_text(json.dumps(manifest))
        generate(orch)
    assert victim.read_text() == "keep me\n"
    assert "../victim.txt" not in (repo / MANIFEST).read_text()
