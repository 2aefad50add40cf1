"""The GitHub Actions workflow builders: golden files, schema validity, the scope check."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from claude_orchestrator.config import Config, default_config, validate_data
from claude_orchestrator.generators.github_actions import (
    CHECKOUT,
    UPLOAD_ARTIFACT,
    implementor_workflow,
    overseer_workflow,
)

from .conftest import clean_env, git

GOLDEN = Path(__file__).resolve().parent / "golden"
BUILDERS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "implementor": implementor_workflow,
    "overseer": overseer_workflow,
}
FULL = {
    "version": 1,
    "implementors": {"areas": ["db", "web", "docs"]},
    "paths": {
        "areas": {
            "db": ["src/db/**", "tests/db/**", "state/impl-db.md"],
            "web": ["web/", "*.css", "state/impl-web.md"],
        }
    },
    "ci": {
        "tool": "claude-orchestrator-toolkit==0.2.0 --hash=sha256:" + "0" * 64,
        "services": ["postgres", "redis"],
        "typecheck": "mypy src",
        "audit": "pip-audit",
        "build": "python -m build",
        "deploy_preview": "./scripts/deploy-preview.sh",
    },
}


def full_config() -> Config:
    return validate_data(FULL, Path("orchestrator.yaml"), {})


CONFIGS: dict[str, Callable[[], Config]] = {"default": default_config, "full": full_config}


def all_workflows() -> Iterator[tuple[str, dict[str, Any]]]:
    for config_name, make in CONFIGS.items():
        for role, build in BUILDERS.items():
            yield f"{config_name}_{role}", build(make())


def check_golden(name: str, document: Any) -> None:
    """Compare with tests/golden/<name>; UPDATE_GOLDEN=1 rewrites the file instead."""
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run the tests with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (UPDATE_GOLDEN=1)"


@pytest.mark.parametrize("config_name", CONFIGS)
@pytest.mark.parametrize("role", BUILDERS)
def test_golden(config_name: str, role: str) -> None:
    document = BUILDERS[role](CONFIGS[config_name]())
    check_golden(f"github_actions_{config_name}_{role}.json", document)
    # Pure and deterministic: a second build is equal.
    assert BUILDERS[role](CONFIGS[config_name]()) == document


def test_workflows_are_valid_github_workflows(tmp_path: Path) -> None:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    files = []
    for name, document in all_workflows():
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        text = buffer.getvalue()
        assert "\non:\n" in text
        assert YAML(typ="safe").load(text) == document  # "on" stays the string "on"
        path = tmp_path / f"{name}.yml"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_least_privilege_and_no_script_injection() -> None:
    for name, document in all_workflows():
        assert document["permissions"] == {"contents": "read"}, name
        assert list(document)[:4] == ["name", "on", "permissions", "concurrency"]
        for job_id, job in document["jobs"].items():
            assert "permissions" not in job, (name, job_id)
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), (name, job_id, step)
                assert "@v" in step.get("uses", "@v"), step


def test_every_checkout_drops_the_token() -> None:
    """No job leaves the Actions token in .git/config for the code it runs next."""
    for name, document in all_workflows():
        for job_id, job in document["jobs"].items():
            checkouts = [
                s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")
            ]
            assert len(checkouts) == (job_id != "summary"), (name, job_id)
            for step in checkouts:
                assert step["uses"] == CHECKOUT
                assert step["with"]["persist-credentials"] is False, (name, job_id)
            # and nothing fetches with credentials after it
            assert not any("git fetch" in s.get("run", "") for s in job["steps"]), (name, job_id)


def test_command_jobs_install_the_test_tools() -> None:
    """ci.install runs after ci.setup and before the command in every job that runs one."""
    for name, document in all_workflows():
        for job_id, job in document["jobs"].items():
            runs = [s.get("run", "") for s in job["steps"]]
            if "pip install -e ." not in runs:
                continue
            assert runs.index("pip install -e .") + 1 == runs.index("pip install pytest ruff")
            assert runs.index("pip install pytest ruff") < len(runs) - 1, (name, job_id)
    data = default_config().to_dict()
    data["ci"]["install"] = ["pytest-cov[toml]>=5,<6", "ruff==0.6.9"]
    unit = implementor_workflow(Config(data))["jobs"]["unit"]["steps"]
    assert unit[-2] == {
        "name": "Install the test tools",
        "run": "pip install 'pytest-cov[toml]>=5,<6' ruff==0.6.9",
    }
    data["ci"]["install"] = []
    unit = implementor_workflow(Config(data))["jobs"]["unit"]["steps"]
    assert [s.get("name") for s in unit[2:]] == ["Install the project", "Unit tests"]


def test_triggers_and_jobs() -> None:
    config = full_config()
    impl, over = implementor_workflow(config), overseer_workflow(config)
    assert impl["on"]["push"]["branches"] == ["feature/*/impl-*"]
    assert impl["on"]["pull_request"]["branches"] == ["feature/*/overseer"]
    assert over["on"]["push"]["branches"] == ["feature/*/overseer"]
    assert over["on"]["pull_request"]["branches"] == ["main"]
    assert list(impl["jobs"]) == ["unit", "lint", "conflicts", "scope", "build"]
    assert list(over["jobs"]) == ["integration", "e2e", "quality", "deploy-preview", "summary"]
    conflicts = impl["jobs"]["conflicts"]["steps"]
    assert conflicts[0]["with"] == {"persist-credentials": False, "fetch-depth": 0}
    assert impl["jobs"]["scope"]["steps"][0] == conflicts[0]
    install = conflicts[2]["run"].splitlines()
    assert install[1:] == [
        f"printf '%s\\n' '{FULL['ci']['tool']}' > \"$requirements\"",
        'pip install --no-deps --require-hashes -r "$requirements"',
        "pip install claude-orchestrator-toolkit==0.2.0",
    ]
    assert conflicts[-1]["env"] == {"BRANCH": "${{ github.head_ref || github.ref_name }}"}
    integration = over["jobs"]["integration"]
    assert list(integration["services"]) == ["postgres", "redis"]
    assert "--health-cmd" in integration["services"]["redis"]["options"]
    assert set(integration["steps"][-1]["env"]) == {"DATABASE_URL", "REDIS_URL"}
    assert over["jobs"]["deploy-preview"]["needs"] == ["integration", "e2e"]
    summary = over["jobs"]["summary"]
    assert summary["if"] == "always()"
    assert summary["needs"] == ["integration", "e2e", "quality", "deploy-preview"]
    assert summary["steps"][1]["uses"] == UPLOAD_ARTIFACT


def test_jobs_are_left_out_without_commands() -> None:
    data = default_config().to_dict()
    del data["tests"]["implementor"]["lint"]
    data["tests"]["overseer"] = {"e2e": "pytest -q tests/e2e"}
    config = Config(data)
    assert list(implementor_workflow(config)["jobs"]) == ["unit", "conflicts", "scope"]
    over = overseer_workflow(config)
    assert list(over["jobs"]) == ["e2e", "summary"]
    assert over["jobs"]["summary"]["needs"] == ["e2e"]
    data["tests"] = {"implementor": {}, "overseer": {}}
    over = overseer_workflow(Config(data))
    assert list(over["jobs"]) == ["summary"] and "needs" not in over["jobs"]["summary"]


# ---------------------------------------------------------------------- scope check
def commit(repo: Path, files: dict[str, str], message: str = "change") -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone whose origin has an overseer branch and three implementor branches."""
    origin = tmp_path_factory.mktemp("origin")
    git(origin, "init", "-q", "-b", "main")
    commit(origin, {"README.md": "demo\n"})
    git(origin, "switch", "-q", "-c", "feature/s1/overseer")
    commit(origin, {"specs/s1/tasks.md": "- [ ] T1\n"})
    git(origin, "switch", "-q", "-c", "feature/s1/impl-db")
    commit(origin, {"src/db/models.py": "x = 1\n", "web/app.js": "run()\n"})
    git(origin, "switch", "-q", "-c", "feature/s1/impl-web", "feature/s1/overseer")
    commit(origin, {"web/app.js": "run()\n", "site.css": "a {}\n", "state/impl-web.md": "x\n"})
    # The overseer moves on and impl-web merges it: the overseer's files are not counted.
    git(origin, "switch", "-q", "feature/s1/overseer")
    commit(origin, {"README.md": "changed\n"})
    git(origin, "switch", "-q", "feature/s1/impl-web")
    git(origin, "merge", "-q", "--no-edit", "feature/s1/overseer")
    git(origin, "switch", "-q", "-c", "feature/s1/impl-docs", "feature/s1/overseer")
    commit(origin, {"src/docs/index.py": "x\n", "tests/test_docs.py": "x\n"})
    work = tmp_path_factory.mktemp("work")
    git(work, "clone", "-q", str(origin), "clone")
    return work / "clone"


def run_scope(clone: Path, branch: str) -> subprocess.CompletedProcess[str]:
    step = implementor_workflow(full_config())["jobs"]["scope"]["steps"][-1]
    assert step["shell"] == "python3 {0}"
    git(clone, "checkout", "-q", "--detach", f"origin/{branch}")
    script = clone.parent / "scope.py"
    script.write_text(step["run"], encoding="utf-8")
    env = {k: v for k, v in step["env"].items() if "${{" not in v}
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=clone,
        env=clean_env(**env, BRANCH=branch),
        capture_output=True,
        text=True,
    )


def test_scope_check_fails_on_files_outside_the_area(clone: Path) -> None:
    result = run_scope(clone, "feature/s1/impl-db")
    assert result.returncode == 1, result
    assert "::error::1 changed file(s) outside the paths of area db" in result.stdout
    assert "  web/app.js" in result.stdout and "models.py" not in result.stdout


@pytest.mark.parametrize("branch", ["feature/s1/impl-web", "feature/s1/impl-docs"])
def test_scope_check_passes_inside_the_area(clone: Path, branch: str) -> None:
    result = run_scope(clone, branch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all inside the paths of area" in result.stdout


def test_scope_check_rejects_other_branches(clone: Path) -> None:
    result = run_scope(clone, "feature/s1/overseer")
    assert result.returncode == 1 and "is not an implementor branch" in result.stdout
