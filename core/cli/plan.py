"""Planning work so that agents do not collide: ``assign``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..render import to_json
from .common import DbOption, JsonOption, SpecArg, orch, out

if TYPE_CHECKING:
    from ..assign import Applied, Plan


def render_plan(plan: Plan, applied: Applied | None = None) -> str:
    """The plan as text: the proposals with their reasons, the overlaps, what was skipped
    and, after ``--apply``, what was written."""
    from ..assign import describe_overlap

    where = f"{plan.tasks_file} on {plan.overseer_branch} ({plan.commit[:12]})"
    lines = [f"Tasks of {plan.spec_id}: {where}; areas {', '.join(plan.areas)}."]
    if plan.assignments:
        lines += ["", "Proposed:"]
        for a in plan.assignments:
            files = f" [{', '.join(a.files)}]" if a.files else ""
            lines.append(f"  {a.task} -> {a.area}: {a.reason}{files}")
    else:
        lines += ["", "Nothing to assign: every open task has an area."]
    if plan.overlaps:
        lines += ["", "Predicted overlaps:"]
        lines += [f"  {describe_overlap(o)}" for o in plan.overlaps]
    else:
        lines += ["", "No predicted overlaps between areas."]
    if plan.skipped:
        lines += ["", "Already assigned or done:"]
        lines += [f"  {s.task} {s.area or '-'}: {s.reason}" for s in plan.skipped]
    lines.append("")
    if applied is None:
        if plan.assignments:
            lines.append(f"Write it with: claude-orchestrator assign {plan.spec_id} --apply")
    else:
        if applied.commit is not None:
            lines.append(f"Assigned {', '.join(applied.tagged)} in {applied.worktree}: "
                         f"commit {applied.commit[:12]} on {plan.overseer_branch}.")  # fmt: skip
        lines.append(f"Recorded {len(applied.events)} task_assigned event(s).")
    return "\n".join(lines).rstrip("\n")


def register(app: typer.Typer) -> None:
    @app.command("assign")
    def assign(
        spec_id: SpecArg,
        apply: Annotated[
            bool,
            typer.Option("--apply", help="Write the assignments: [@area] tags in tasks.md, "
                         "committed on the overseer branch, and task_assigned events."),
        ] = False,
        db: DbOption = None,
        as_json: JsonOption = False,
    ) -> None:  # fmt: skip
        """Propose an implementor area for each task not assigned yet, and predict overlaps.

        Reads tasks.md as committed on the overseer branch. A task goes to the area whose
        path scope holds the files it names, else to the implementor branch that changed
        them recently, else to the least-loaded area; tasks that touch the same file go
        together unless both are [P]. With --apply (overseer only, where the overseer
        branch is checked out) the plan is written and committed; repeating it changes
        nothing.

        \b
        Example:
          claude-orchestrator assign 003-reading-goals
          claude-orchestrator assign 003-reading-goals --apply
        """
        from .. import assign as planning

        applied = planning.apply(orch(db), spec_id) if apply else None
        plan = applied.plan if applied is not None else planning.plan(orch(db), spec_id)
        if as_json:
            document: dict[str, object] = dict(plan._asdict())
            if applied is not None:
                done = applied._asdict()
                document["applied"] = {k: value for k, value in done.items() if k != "plan"}
            out(to_json(document))
        else:
            out(render_plan(plan, applied))
