"""``claude-orchestrator run-tests``: the right tests for the agent's role, recorded.

The role comes from the current branch unless given: implementors run unit tests and
lint, the overseer integration and end-to-end tests, each with the command from
``tests.<role>.<type>`` in orchestrator.yaml. Output streams live. Counts come from JUnit
XML when the runner writes it — pytest is given ``--junitxml`` automatically, and any
runner may write the file named by ``$CLAUDE_ORCHESTRATOR_JUNIT`` — else from the exit
code. Commands are split like a shell would split them (quotes work) and run without a
shell: for pipes or variables, point the config at a script.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import validate as v
from .errors import ValidationError

if TYPE_CHECKING:
    from .api import Orchestrator

DEFAULT_TYPES = {"implementor": ("unit", "lint"), "overseer": ("integration", "e2e")}
ENV_JUNIT = "CLAUDE_ORCHESTRATOR_JUNIT"


class TestRun(NamedTuple):
    test_type: str
    command: str
    exit_code: int
    status: str
    passed: int | None
    failed: int | None
    skipped: int | None
    total: int | None
    duration_ms: int
    from_junit: bool
    #: why the command could not run (then status is "not-run" and nothing is recorded)
    error: str | None = None


NOT_RUN = "not-run"


class Counts(NamedTuple):
    total: int
    failed: int
    skipped: int

    @property
    def passed(self) -> int:
        return self.total - self.failed - self.skipped


def parse_junit(path: Path) -> Counts | None:
    """Totals from a JUnit XML file (``<testsuites>`` or a single ``<testsuite>``)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()  # noqa: S314
    except (ET.ParseError, OSError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return None
    total = failed = skipped = 0
    for suite in suites:
        try:
            total += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", suite.get("disabled", 0)))
        except ValueError:
            return None
    return Counts(total, failed, skipped)


def _argv(command: str, junit: Path) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ValidationError(f"cannot parse the test command {command!r}: {exc}") from None
    if not argv:
        raise ValidationError("the test command is empty")
    name = Path(argv[0]).name
    is_pytest = name in ("pytest", "py.test") or (
        name.startswith("python") and argv[1:3] == ["-m", "pytest"]
    )
    if is_pytest and not any(a.startswith("--junitxml") or a.startswith("--junit-xml")
                             for a in argv):  # fmt: skip
        argv.append(f"--junitxml={junit}")
    return argv


def run_tests(orch: Orchestrator, *, role: str | None = None, test_type: str | None = None,
              branch: str | None = None, output_to_stderr: bool = False,
              progress: Callable[[str], None] | None = None,
              ) -> tuple[str, str, list[TestRun]]:  # fmt: skip
    """Run and record the role's tests; returns (spec id, role, runs).

    A command that cannot run (not configured, runner not installed) does not stop the
    others: it comes back as a run with status :data:`NOT_RUN` and an ``error``, and is
    not recorded. With ``output_to_stderr`` the runners' standard output goes to stderr
    (for ``--json``). ``progress`` is told ``==> TYPE: COMMAND`` just before each command
    starts (the library prints nothing itself).
    """
    from .workflow import _current_feature_branch

    name, parsed = _current_feature_branch(orch, branch)
    if role is not None:
        role = v.check_choice(role, ("implementor", "overseer"), "role")
        if (role == "overseer") != (parsed.role == "overseer"):
            raise ValidationError(f"--role {role} does not match the branch {name} ({parsed.role})")
    kind = "overseer" if parsed.role == "overseer" else "implementor"
    types = ((v.check_choice(test_type, v.TEST_TYPES, "test type"),) if test_type
             else DEFAULT_TYPES[kind])  # fmt: skip
    commands = orch.config.test_commands(kind)
    plan = [(t, commands.get(t) or "") for t in types]
    store = orch.store
    if store.get_feature(parsed.spec_id) is None:
        raise ValidationError(
            f"Feature not found in event store: {parsed.spec_id}. Set it up with: "
            f"claude-orchestrator init-feature {parsed.spec_id}"
        )
    commit = orch.vcs().resolve("HEAD")
    runs = []
    for t, command in plan:
        problem = _cannot_run(orch, kind, t, command)
        if problem is None:
            runs.append(_run_one(orch, parsed.spec_id, parsed.role, t, command, commit,
                                 output_to_stderr, progress))  # fmt: skip
        else:
            runs.append(_not_run(t, command, problem))
    return parsed.spec_id, parsed.role, runs


def _cannot_run(orch: Orchestrator, kind: str, test_type: str, command: str) -> str | None:
    """Why ``command`` cannot run, or None."""
    if not command.strip():
        return (
            f"no {test_type} test command for the {kind} in orchestrator.yaml: set "
            f"tests.{kind}.{test_type} (e.g. `claude-orchestrator config set "
            f"tests.{kind}.{test_type} 'pytest -q'`)"
        )
    try:
        first = shlex.split(command)[0]
    except (ValueError, IndexError):
        return f"cannot parse the {test_type} test command {command!r} (tests.{kind}.{test_type})"
    if (
        shutil.which(first, path=os.environ.get("PATH")) is None
        and not (orch.location.root / first).is_file()
    ):
        return (
            f"cannot run the {test_type} tests: `{first}` is not installed or not on PATH "
            f"(tests.{kind}.{test_type}: {command})"
        )
    return None


def _not_run(test_type: str, command: str, error: str) -> TestRun:
    return TestRun(test_type, command, -1, NOT_RUN, None, None, None, None, 0, False, error)


def _run_one(orch: Orchestrator, spec_id: str, role: str, test_type: str, command: str,
             commit: str | None, output_to_stderr: bool,
             progress: Callable[[str], None] | None) -> TestRun:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="claude-orchestrator-junit-") as tmp:
        junit = Path(tmp) / "junit.xml"
        argv = _argv(command, junit)
        env = dict(os.environ, **{ENV_JUNIT: str(junit)})
        if progress is not None:
            progress(f"==> {test_type}: {command}")
        start = time.monotonic()
        try:
            sys.stdout.flush()
            proc = subprocess.run(argv, cwd=orch.location.root, env=env,
                                  stdout=sys.stderr if output_to_stderr else None)  # fmt: skip
        except OSError as exc:
            reason = f"cannot run the {test_type} tests ({command}): {exc.strerror}"
            return _not_run(test_type, command, reason)
        duration = int((time.monotonic() - start) * 1000)
        counts = parse_junit(junit) if junit.exists() else None
    passed: int | None
    n_failed: int | None
    skipped: int | None
    total: int | None
    if counts is not None:
        failed = counts.failed > 0 or proc.returncode not in (0, 5)
        status = "failed" if failed else ("skipped" if counts.total == counts.skipped else "passed")
        passed, n_failed, skipped, total = (
            counts.passed,
            counts.failed,
            counts.skipped,
            counts.total,
        )
    else:
        status = "passed" if proc.returncode == 0 else "failed"
        passed = n_failed = skipped = total = None
    if status == "failed" and n_failed == 0:
        n_failed = None  # the runner failed without a failing test: counts unknown
    orch.record_test(spec_id, role, test_type, status, commit=commit, total=total, passed=passed,
                     failed=n_failed, skipped=skipped, duration_ms=duration)  # fmt: skip
    return TestRun(test_type, command, proc.returncode, status, passed, n_failed, skipped, total,
                   duration, counts is not None)  # fmt: skip
