"""Task sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``."""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

SOURCES = ["core", "plugins", "generators", "tests", "examples", "noxfile.py"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (the same command CI runs)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "auto", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the installed package (core/, plugins/, generators/)."""
    # A regular (not editable) install: mypy does not follow editable-install finders.
    _forget_build()
    session.install(".[postgres,dashboard,plot]", "mypy>=1.10", "types-jsonschema", "pytest")
    session.run("mypy", "-p", "claude_orchestrator")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: print a table and write BENCHMARKS.md (not timed tests)."""
    _forget_build()
    # a regular install, as users get it: no editable-import finder
    session.install(".[postgres]")
    session.run("python", "tests/benchmarks/bench_events.py", *session.posargs)
    session.run("python", "tests/benchmarks/bench_git.py")  # appends to BENCHMARKS.md
    # starts a throwaway PostgreSQL server (tests/pgserver.py); appends to BENCHMARKS.md
    session.run("python", "tests/benchmarks/bench_postgres.py")
    # the observation hook next to the guard, and `agents --json` on 50 agents
    session.run("python", "tests/benchmarks/bench_agents.py")
    session.install("pytest")  # tests/http_receiver.py, the loopback receiver, imports it
    # notifications: log-event with three channels vs none, and the sender's throughput
    session.run("python", "tests/benchmarks/bench_notify.py")  # appends to BENCHMARKS.md
    session.install(".[postgres,dashboard]", "httpx")
    # the dashboard: first page and API on 1,000,000 events, 20 SSE clients, log-event beside it
    session.run("python", "tests/benchmarks/bench_dashboard.py")  # appends to BENCHMARKS.md
    # metrics: reading a 100 MB transcript whole and 100 new lines by cursor; attribution
    # and roll-ups on 100,000 replies
    session.run("python", "tests/benchmarks/bench_metrics.py")  # appends to BENCHMARKS.md
    session.run("python", "tests/benchmarks/bench_metrics_flow.py")  # appends to BENCHMARKS.md


def _forget_build() -> None:
    """setuptools reuses ``build/lib``: a module deleted or renamed in the tree would
    still be installed from there (and type-checked) without this."""
    shutil.rmtree("build", ignore_errors=True)
