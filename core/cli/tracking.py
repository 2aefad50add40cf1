"""``events``: conflicts, blockers and test results."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import dashboard_api
from . import render
from .common import DbOption, JsonOption, RoleArg, SpecArg, emit, orch


def register(events: typer.Typer) -> None:
    @events.command("log-conflict")
    def log_conflict(
        spec_id: SpecArg,
        role: RoleArg,
        files: Annotated[
            str, typer.Argument(help="JSON array ('[\"a.py\"]') or comma-separated paths.")
        ],
        severity: Annotated[str, typer.Argument(help="warning or critical.")] = "warning",
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Record a conflict that an agent's branch has with another branch.

        \b
        Example:
          claude-orchestrator events log-conflict 003-reading-goals implementor-api \\
            '["src/models.py"]' critical
        """
        conflict = orch(db).log_conflict(spec_id, role, files, severity)
        emit(
            as_json,
            conflict,
            f"conflict {conflict.id} logged for {conflict.role}: " + ", ".join(conflict.files),
        )

    @events.command("resolve-conflict")
    def resolve_conflict(
        conflict_id: Annotated[str, typer.Argument(help="The id `log-conflict` printed.")],
        notes: Annotated[str | None, typer.Argument(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Mark a conflict resolved, with notes.

        \b
        Example:
          claude-orchestrator events resolve-conflict 4 "rebased onto overseer"
        """
        conflict = orch(db).resolve_conflict(conflict_id, notes)
        emit(as_json, conflict, f"conflict {conflict.id} resolved")

    @events.command("conflicts")
    def conflicts(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        include_all: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List open conflicts (with --all, resolved ones too).

        \b
        Example:
          claude-orchestrator events conflicts 003-reading-goals --json
        """
        found = dashboard_api.conflicts(orch(db), spec_id, include_all)
        emit(as_json, found, render.conflicts(found))

    @events.command("block")
    def block(
        spec_id: SpecArg,
        role: RoleArg,
        blocker_type: Annotated[
            str, typer.Argument(help="dependency, conflict, external or technical.")
        ],
        description: Annotated[str, typer.Argument(help="What blocks the agent.")],
        task: Annotated[
            str | None, typer.Option(help="The blocked task, e.g. T005.", show_default=False)
        ] = None,
        blocked_by: Annotated[
            str | None,
            typer.Option(help="The agent whose work is awaited.", show_default=False),
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Record a blocker; the agent shows as blocked until it is resolved.

        \b
        Example:
          claude-orchestrator events block 003-reading-goals implementor-ui dependency \\
            "needs the goals API" --task T005 --blocked-by implementor-api
        """
        blocker = orch(db).block(
            spec_id, role, blocker_type, description, blocked_by=blocked_by, task_id=task
        )
        emit(as_json, blocker, f"blocker {blocker.id} recorded for {blocker.role}")

    @events.command("unblock")
    def unblock(
        blocker_id: Annotated[str, typer.Argument(help="The id `block` printed.")],
        notes: Annotated[str | None, typer.Argument(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Resolve a blocker.

        \b
        Example:
          claude-orchestrator events unblock 2 "API merged"
        """
        blocker = orch(db).unblock(blocker_id, notes)
        emit(as_json, blocker, f"blocker {blocker.id} resolved")

    @events.command("blockers")
    def blockers(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        include_all: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List active blockers (with --all, resolved ones too).

        \b
        Example:
          claude-orchestrator events blockers --json
        """
        found = dashboard_api.blockers(orch(db), spec_id, include_all)
        emit(as_json, found, render.blockers(found))

    @events.command("record-test")
    def record_test(
        spec_id: SpecArg,
        role: RoleArg,
        test_type: Annotated[str, typer.Argument(help="unit, integration, e2e or lint.")],
        status: Annotated[str, typer.Argument(help="passed, failed or skipped.")],
        passed: Annotated[int | None, typer.Option(show_default=False)] = None,
        failed: Annotated[int | None, typer.Option(show_default=False)] = None,
        skipped: Annotated[int | None, typer.Option(show_default=False)] = None,
        total: Annotated[int | None, typer.Option(show_default=False)] = None,
        duration_ms: Annotated[int | None, typer.Option(show_default=False)] = None,
        commit: Annotated[str | None, typer.Option(show_default=False)] = None,
        logs_url: Annotated[str | None, typer.Option(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Record a test run's result.

        \b
        Example:
          claude-orchestrator events record-test 003-reading-goals implementor-data unit \\
            passed --passed 42 --commit abc1234
        """
        result = orch(db).record_test(
            spec_id, role, test_type, status, commit=commit, total=total, passed=passed,
            failed=failed, skipped=skipped, duration_ms=duration_ms, logs_url=logs_url,
        )  # fmt: skip
        emit(as_json, result, f"{result.test_type} result recorded ({result.status})")

    @events.command("test-results")
    def test_results(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        limit: Annotated[int, typer.Option(help="How many results.")] = 20,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List the latest test results, newest first.

        \b
        Example:
          claude-orchestrator events test-results 003-reading-goals
        """
        found = dashboard_api.recorded_tests(orch(db), spec_id, limit)
        emit(as_json, found, render.test_results(found))
