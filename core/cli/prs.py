"""Pull requests from implementor branches to their overseer branch."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import dashboard_api
from . import render
from .common import BranchOption, DbOption, JsonOption, emit, orch


def register(app: typer.Typer) -> None:
    @app.command("open-pr")
    def open_pr(
        title: Annotated[str | None, typer.Option(show_default=False)] = None,
        body: Annotated[
            str | None,
            typer.Option(help="Default: the tasks completed and the last test results.",
                         show_default=False),
        ] = None,
        draft: Annotated[bool, typer.Option("--draft", help="Open it as a draft.")] = False,
        branch: BranchOption = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Open a PR from this implementor branch to its overseer branch.

        \b
        Example:
          claude-orchestrator open-pr --title "Data layer for reading goals"
        """
        from ..prs import open_pr as run

        pr = run(orch(db), title=title, body=body, draft=draft, branch=branch)
        emit(as_json, pr, render.pr_opened(pr))

    @app.command("merge-pr")
    def merge_pr(
        number: Annotated[str, typer.Argument(help="The PR number open-pr printed.")],
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Merge a PR into the overseer branch (overseer only, where it is checked out).

        With the local forge this is a real git merge, refused when it would conflict.

        \b
        Example:
          claude-orchestrator merge-pr 3
        """
        from ..prs import merge_pr as run

        pr = run(orch(db), number)
        emit(as_json, pr, f"PR #{number} merged: {pr.head_branch} -> {pr.base_branch}")

    @app.command("prs")
    def prs(
        spec_id: Annotated[str | None, typer.Argument(show_default=False)] = None,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List pull requests.

        \b
        Example:
          claude-orchestrator prs 003-reading-goals --json
        """
        found = dashboard_api.pull_requests(orch(db), spec_id)
        emit(as_json, found, render.prs(found))
