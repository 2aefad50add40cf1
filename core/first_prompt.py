"""The first prompt ``up`` gives each agent: who it is, where, its tasks, what to run.

The runbook (``.specify/agents.md``, :mod:`~claude_orchestrator.generators.runbooks`)
holds the rules in full and the prompt points there; the prompt itself says only what
is this agent's own: its role and branch, the open tasks of ``tasks.md`` (as committed on
the overseer branch) that are its, and the commands its turn is made of.

**Which tasks are whose.** spec-kit's ``tasks.md`` has no owner column, so a task is an
implementor's when its description names the area as a word (``T002 API endpoints`` is
``api``'s), or names a path that only that area's own paths (``paths.areas``) match
(``src/data/model.py`` with ``data: ["src/data/**"]``). A task no area claims, or more
than one claims, is the overseer's to hand out: the overseer's prompt lists every open
task with its owner. Ticked tasks are left out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from .generators.runbooks import TOOL
from .pathmatch import compile_patterns
from .tasks import TaskLine, parse_tasks

if TYPE_CHECKING:
    from .config import Config

RUNBOOK = ".specify/agents.md"
_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)+|[\w-]+\.\w+")


class Agent(NamedTuple):
    """One agent of a feature, as the prompt names it."""

    spec_id: str
    #: ``overseer`` or ``implementor-<area>``
    role: str
    branch: str
    #: the feature's areas (the overseer's prompt lists the implementors)
    areas: Sequence[str]


def owner(config: Config, task: TaskLine) -> str | None:
    """The area whose task this is, None when no single area claims it."""
    if task.area is not None:  # assigned: ``[@area]`` (``assign --apply``)
        return task.area
    text = task.description
    claims = {
        a for a in config.areas if re.search(rf"(?<![\w-]){re.escape(a)}(?![\w-])", text, re.I)
    }
    own = config.data["paths"]["areas"]
    paths = _PATH.findall(text)
    for area in config.areas:
        if area in own and any(compile_patterns(own[area]).matches(p) for p in paths):
            claims.add(area)
    return claims.pop() if len(claims) == 1 else None


def _word(area: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(area)}(?![\w-])", re.IGNORECASE)


def open_tasks(tasks_text: str | None) -> list[TaskLine]:
    return [] if tasks_text is None else [t for t in parse_tasks(tasks_text).tasks if not t.checked]


def _task_line(task: TaskLine) -> str:
    return f"{task.task_id} {task.description}".strip()


def first_prompt(config: Config, agent: Agent, tasks_text: str | None) -> str:
    """The prompt (a few lines of plain text) for ``agent``; ``tasks_text`` is the
    feature's ``tasks.md`` on the overseer branch (None: not committed yet)."""
    tasks_file = config.tasks_file(agent.spec_id)
    overseer = config.overseer_branch(agent.spec_id)
    tasks = open_tasks(tasks_text)
    where = f"{tasks_file} on {overseer}"
    if agent.role == "overseer":
        lines = [
            f"You are the overseer of feature {agent.spec_id}, on branch {agent.branch}. "
            f"Your runbook is {RUNBOOK} (section Overseer); CLAUDE.md has the coordination rules.",
            f"Implementors: {', '.join(f'implementor-{a}' for a in agent.areas) or '(none)'}.",
        ]
        if tasks_text is None:
            lines.append(f"There is no {where} yet: write the task list and commit it first.")
        else:
            owned = [f"{_task_line(t)} [{_owner_name(config, t)}]" for t in tasks]
            lines.append(f"Open tasks ({where}): " + ("; ".join(owned) or "none") + ".")
        lines += [
            f"Follow the team with `{TOOL} agents {agent.spec_id}`; hand out or unblock work "
            f'with `{TOOL} tell implementor-<area> "..."`; review and merge their pull requests '
            f"with `{TOOL} merge-pr <n>`; run `{TOOL} run-tests`; commit {tasks_file} after "
            f"`{TOOL} sync-status`.",
            "Start by reading the open tasks and telling each implementor what to do first.",
        ]
        return "\n".join(lines)
    area = agent.role.removeprefix("implementor-")
    mine = [t for t in tasks if owner(config, t) == area]
    unowned = [t for t in tasks if owner(config, t) is None]
    lines = [
        f"You are implementor-{area} of feature {agent.spec_id}, on branch {agent.branch}; "
        f"write only {', '.join(config.role_paths('implementor', area))}. Your runbook is "
        f"{RUNBOOK} (section Implementors); CLAUDE.md has the coordination rules.",
        f"Your tasks ({where}): " + ("; ".join(map(_task_line, mine)) or "none yet") + ".",
    ]
    if unowned:
        lines.append("Not yet assigned (the overseer hands these out): "
                     + "; ".join(map(_task_line, unowned)) + ".")  # fmt: skip
    lines += [
        'Commit with the task id ("T001: ..." starts a task, "T001 done" completes it, '
        '"blocked T001: reason" blocks it); sync-status runs by git hook after each commit. '
        f"Run `{TOOL} check-conflicts` before every rebase onto {overseer}, `{TOOL} run-tests` "
        f"before `{TOOL} open-pr`; the overseer merges.",
        "Start with your first open task."
        if mine
        else "Ask the overseer for work if none "
        "is yours: report it with a commit or wait for its message.",
    ]
    return "\n".join(lines)


def _owner_name(config: Config, task: TaskLine) -> str:
    area = owner(config, task)
    return "unassigned" if area is None else f"implementor-{area}"
