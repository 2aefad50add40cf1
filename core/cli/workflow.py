"""Feature set-up, syncing commits into the store, conflict checks and test runs."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .. import lean
from ..render import to_json
from . import render
from .common import (
    BranchOption,
    DbOption,
    JsonOption,
    SpecArg,
    hook_command,
    orch,
    out,
    to_stderr,
)


def register(app: typer.Typer) -> None:
    from .. import conflict_scan, feature_setup

    @app.command("init-feature")
    def init_feature(
        spec_id: SpecArg,
        implementors: Annotated[
            str | None,
            typer.Option(help="Implementor areas, comma-separated (default: from config).",
                         show_default=False),
        ] = None,
        base: Annotated[
            str | None,
            typer.Option(help="Branch or commit to start from (default: branches.main).",
                         show_default=False),
        ] = None,
        worktrees: Annotated[
            bool, typer.Option("--worktrees", help="Create one git worktree per agent.")
        ] = False,
        name: Annotated[
            str | None, typer.Option(help="Human-readable feature name.", show_default=False)
        ] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Create a feature's overseer and implementor branches (and worktrees), register it.

        Safe to re-run: it reports what exists and creates only what is missing.

        \b
        Example:
          claude-orchestrator init-feature 003-reading-goals --implementors data,api,ui --worktrees
        """
        from ..validate import split_list

        result = feature_setup.init_feature(
            orch(db), spec_id, areas=split_list(implementors) if implementors is not None
            else None, base=base, worktrees=worktrees, name=name,
        )  # fmt: skip
        out(to_json(result) if as_json else render.init_feature(result))

    hook_command(app, lean.SYNC_STATUS, lean.sync_status)

    @app.command("check-conflicts")
    def check_conflicts(branch: BranchOption = None, as_json: JsonOption = False) -> None:
        """Merge the branch in memory with its overseer and each sibling; exit 1 on conflict.

        Touches no working tree, index or branch. Run it before a rebase. (It predicts a
        merge; a rebase replays commits one by one and can stop earlier.)

        \b
        Example:
          claude-orchestrator check-conflicts
        """
        results = conflict_scan.check_conflicts(orch(), branch=branch)
        conflicted = [r for r in results if r.conflicted]
        if as_json:
            out(to_json({"conflicts": bool(conflicted), "pairs": results}))
        else:
            out(render.check_conflicts(results))
        if conflicted:
            raise typer.Exit(1)
        if any(r.error for r in results):
            raise typer.Exit(2)  # nothing conflicts, but not every pair could be checked

    @app.command("detect-conflicts")
    def detect_conflicts(db: DbOption = None, as_json: JsonOption = False) -> None:
        """Scan every active feature for conflicting branch pairs (for cron); exit 1 if any.

        Quiet when nothing is found. Records each conflict once, resolves it when it goes
        away, and warns in the affected agents' state files.

        \b
        Example:
          */30 * * * * cd /repo && claude-orchestrator detect-conflicts
        """
        from ..dashboard_api import detect_conflicts as detect

        # progress on a terminal only: cron mails whatever a job prints
        progress = to_stderr if sys.stderr.isatty() else None
        done = detect(orch(db), progress=progress)  # the dashboard's action calls it too
        text = to_json(done) if as_json else render.detect_conflicts(done.features)
        if text:
            out(text)
        if done.conflicts:
            raise typer.Exit(1)


def register_tests(app: typer.Typer) -> None:
    @app.command("run-tests")
    def run_tests(
        role: Annotated[
            str | None,
            typer.Option(help="implementor or overseer (default: from the branch).",
                         show_default=False),
        ] = None,
        test_type: Annotated[
            str | None,
            typer.Option("--type", help="unit, integration, e2e or lint (default: the role's).",
                         show_default=False),
        ] = None,
        branch: BranchOption = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Run the role's tests with the commands from the config and record the results.

        Implementors: unit and lint; overseer: integration and e2e. Exit 0 when all pass,
        1 when any fails, 2 when any could not be run (the others still run and are recorded).

        \b
        Example:
          claude-orchestrator run-tests --type unit
        """
        from ..testrun import run_tests as run

        spec_id, role_name, runs = run(orch(db), role=role, test_type=test_type, branch=branch,
                                       output_to_stderr=as_json, progress=to_stderr)  # fmt: skip
        if as_json:
            out(to_json({"spec_id": spec_id, "role": role_name, "runs": runs}))
        else:
            for line in render.test_runs(runs):
                print(line, file=sys.stderr)
        for r in runs:
            if r.error is not None:
                print(f"error: {r.error}", file=sys.stderr)
        if any(r.error is not None for r in runs):
            raise typer.Exit(2)
        if any(r.status == "failed" for r in runs):
            raise typer.Exit(1)
