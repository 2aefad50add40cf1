"""run-tests: the role's commands, live output, results from JUnit XML or the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_orchestrator.testrun import parse_junit

from .conftest import Run, git
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]

PASSING = "def test_one():\n    assert True\n\ndef test_two():\n    assert 1 + 1 == 2\n"
FAILING = PASSING + "\ndef test_three():\n    assert False\n"


def configure(cli: Run, repo: Path, **commands: str) -> None:
    for key, value in commands.items():
        role, kind = key.split("_", 1)
        result = cli("config", "set", f"tests.{role}.{kind}", value, cwd=repo)
        assert result.code == 0, result


def results(cli: Run) -> list[dict]:
    return cli("events", "test-results", SPEC, "--json").json()


def test_implementor_runs_unit_and_lint_with_junit_counts(
    cli: Run, repo: Path, feature: dict[str, Path]
) -> None:
    tree = feature["impl-data"]
    commit(tree, "tests/test_unit.py", PASSING, "T001: tests")
    configure(cli, repo, implementor_unit="pytest -q -p no:cacheprovider tests",
              implementor_lint="git --no-pager diff --check")  # fmt: skip
    git(tree, "checkout", "-q", "--", ".")
    (tree / "orchestrator.yaml").write_text((repo / "orchestrator.yaml").read_text())
    result = cli("run-tests", "--json", cwd=tree)
    assert result.code == 0, result
    runs = {r["test_type"]: r for r in result.json()["runs"]}
    assert (runs["unit"]["status"], runs["unit"]["passed"], runs["unit"]["from_junit"]) == (
        "passed", 2, True,
    )  # fmt: skip
    assert runs["lint"]["status"] == "passed" and runs["lint"]["from_junit"] is False
    assert "2 passed" in result.err  # the runner's own output streams through
    stored = {r["test_type"]: r for r in results(cli)}
    assert stored["unit"]["role"] == "implementor-data"
    assert stored["unit"]["commit_hash"] == git(tree, "rev-parse", "HEAD")
    assert stored["unit"]["tests_passed"] == 2


def test_failing_tests_exit_1_and_are_recorded(cli: Run, repo: Path, feature: dict) -> None:
    tree = feature["impl-api"]
    commit(tree, "tests/test_unit.py", FAILING, "T002: tests")
    (tree / "orchestrator.yaml").write_text(
        "version: 1\ntests:\n  implementor:\n    unit: pytest -q -p no:cacheprovider tests\n"
    )
    result = cli("run-tests", "--type", "unit", cwd=tree)
    assert result.code == 1, result
    stored = results(cli)[0]
    assert (stored["status"], stored["tests_passed"], stored["tests_failed"]) == ("failed", 2, 1)


def test_overseer_runs_integration_and_e2e(cli: Run, repo: Path, feature: dict) -> None:
    tree = feature["overseer"]
    (tree / "orchestrator.yaml").write_text(
        "version: 1\ntests:\n  overseer:\n    integration: 'true'\n    e2e: 'false'\n"
    )
    result = cli("run-tests", "--json", cwd=tree)
    assert result.code == 1, result
    runs = {r["test_type"]: r["status"] for r in result.json()["runs"]}
    assert runs == {"integration": "passed", "e2e": "failed"}
    assert {r["role"] for r in results(cli)} == {"overseer"}


@pytest.mark.parametrize(
    ("config", "args", "message"),
    [
        ("version: 1\ntests:\n  implementor:\n    unit: null\n", ["--type", "unit"],
         "no unit test command for the implementor"),
        ("version: 1\ntests:\n  implementor:\n    unit: no-such-runner -x\n",
         ["--type", "unit"], "`no-such-runner` is not installed or not on PATH"),
        ("version: 1\n", ["--type", "smoke"], "unknown test type"),
        ("version: 1\n", ["--role", "overseer"], "does not match the branch"),
    ],
)  # fmt: skip
def test_tests_that_cannot_run_exit_2_recording_nothing(
    cli: Run, repo: Path, feature: dict, config: str, args: list[str], message: str
) -> None:
    tree = feature["impl-ui"]
    (tree / "orchestrator.yaml").write_text(config)
    result = cli("run-tests", *args, cwd=tree)
    assert result.code == 2, result
    assert message in result.err
    assert results(cli) == []


def test_a_missing_runner_does_not_stop_the_others(cli: Run, repo: Path, feature: dict) -> None:
    """Issue #9 item 15: lint's runner is missing; the unit tests still run and are
    recorded, the missing one is reported on one line, and the exit code is 2."""
    tree = feature["impl-ui"]
    commit(tree, "tests/test_unit.py", PASSING, "T003: tests")
    (tree / "orchestrator.yaml").write_text(
        "version: 1\ntests:\n  implementor:\n    unit: pytest -q -p no:cacheprovider tests\n"
        "    lint: no-such-linter check .\n"
    )
    result = cli("run-tests", "--json", cwd=tree)
    assert result.code == 2, result
    runs = {r["test_type"]: r for r in result.json()["runs"]}
    assert runs["unit"]["status"] == "passed" and runs["unit"]["passed"] == 2
    assert runs["lint"]["status"] == "not-run" and "no-such-linter" in runs["lint"]["error"]
    assert "error: cannot run the lint tests: `no-such-linter` is not installed" in result.err
    assert "Traceback" not in result.err
    assert [(r["test_type"], r["status"]) for r in results(cli)] == [("unit", "passed")]
    text = cli("run-tests", cwd=tree)
    assert text.code == 2 and "unit: passed" in text.err, text
    assert text.err.count("error: ") == 1


def test_parse_junit_forms(tmp_path: Path) -> None:
    one = tmp_path / "one.xml"
    one.write_text('<testsuite tests="5" failures="1" errors="1" skipped="1"/>')
    assert parse_junit(one) == (5, 2, 1)
    many = tmp_path / "many.xml"
    many.write_text('<testsuites><testsuite tests="2" failures="0"/>'
                    '<testsuite tests="3" failures="1" skipped="2"/></testsuites>')  # fmt: skip
    counts = parse_junit(many)
    assert counts == (5, 1, 2) and counts is not None and counts.passed == 2
    bad = tmp_path / "bad.xml"
    bad.write_text("<not-junit")
    assert parse_junit(bad) is None
