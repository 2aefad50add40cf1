"""Role runbooks: ``.specify/agents.md`` and the coordination rules fenced in ``CLAUDE.md``.

Pure text builders (config -> markdown). The writer adds the "generated" header to
``agents.md`` and puts the fence markers around the ``CLAUDE.md`` section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claude_orchestrator.generators.claude_permissions import IMPLEMENTOR_PROTECTED_PATHS

if TYPE_CHECKING:
    from claude_orchestrator.config import Config

TOOL = "claude-orchestrator"


def _code_list(items: list[str]) -> str:
    return ", ".join(f"`{item}`" for item in items) if items else "(none)"


def _tests_table(config: Config) -> list[str]:
    lines = ["| role | type | command |", "| --- | --- | --- |"]
    for role in ("implementor", "overseer"):
        for kind, command in sorted(config.test_commands(role).items()):
            lines.append(f"| {role} | {kind} | `{command}` |")
    return lines


def _area_lines(config: Config) -> list[str]:
    own = config.data["paths"]["areas"]
    lines = []
    for area in config.areas:
        branch = config.implementor_branch("<spec-id>", area)
        permission = (
            f".claude/permissions-impl-{area}.json"
            if area in own
            else ".claude/permissions-implementor.json"
        )
        paths = _code_list(config.role_paths("implementor", area))
        lines.append(f"- `{area}`: branch `{branch}`, writes {paths}, runs under `{permission}`")
    return lines


def agents_md(config: Config) -> str:
    """The role runbook for ``.specify/agents.md`` (markdown, without a header line)."""
    prefix = config.branch_prefix
    overseer_branch = config.overseer_branch("<spec-id>")
    tasks = config.tasks_file("<spec-id>")
    implementor_tests = _code_list(list(config.test_commands("implementor").values()))
    overseer_tests = _code_list(list(config.test_commands("overseer").values()))
    lines = [
        "# Agent roles",
        "",
        "One feature (`<spec-id>`) is built by one overseer and one implementor per area. "
        "Every agent works in its own git worktree, on its own branch, and runs Claude "
        "Code from that worktree's root with its role's permission file: "
        '`claude --setting-sources "" --settings .claude/permissions-<role>.json`, or, '
        "stronger (this machine's paths, other branches' refs read-only), "
        f'`claude --setting-sources "" --settings "$({TOOL} agent-settings)"`.',
        "",
        f"- Overseer: branch `{overseer_branch}`, writes "
        f"{_code_list(config.role_paths('overseer'))}, runs under "
        "`.claude/permissions-overseer.json`.",
        f"- Implementors (areas: {_code_list(config.areas)}), branches "
        f"`{prefix}/<spec-id>/impl-<area>`:",
        *(f"  {line}" for line in _area_lines(config)),
        f"- `{config.main_branch}` is the main branch: only the overseer's finished feature "
        "reaches it, through a reviewed pull request.",
        "",
        "The event store is the source of truth for task progress; "
        f"`{tasks}` and the `state/*.md` files are views of it.",
        "",
        "## Overseer",
        "",
        f"1. Start the feature: `{TOOL} init-feature <spec-id> --worktrees` creates "
        f"`{overseer_branch}` and one implementor branch and worktree per area. Commit "
        f"the task list `{tasks}` on `{overseer_branch}`.",
        f"2. Install the git hooks in the repository: `{TOOL} hooks install` (every commit, "
        f"rebase and merge then runs `{TOOL} sync-status`).",
        f"3. Scan for conflicts on a schedule (cron): `{TOOL} detect-conflicts`; it warns "
        "the affected agents in their state files.",
        f"4. Bring the task list up to date: `{TOOL} sync-status` updates the check-boxes "
        f'of `{tasks}` from the events; commit it (`git commit -m "sync tasks" {tasks}`).',
        f"5. Run the overseer's tests: `{TOOL} run-tests` ({overseer_tests}).",
        f"6. Review each implementor's pull request and merge it: `{TOOL} merge-pr <n>`.",
        f"7. Before committing a change to `orchestrator.yaml`, regenerate: `{TOOL} generate`; "
        f"CI checks `{TOOL} generate --check`.",
        f"8. Follow the feature: `{TOOL} events status <spec-id>`, `{TOOL} events recent`, "
        f"`{TOOL} prs`.",
        f"9. Run the team: `{TOOL} up <spec-id>` starts every agent in tmux; `{TOOL} agents` "
        "shows what each is doing (working, waiting for an answer, idle, exited, stale). "
        f'Tell an implementor what it needs to know: `{TOOL} tell implementor-api "rebase '
        "on the overseer branch: T004 landed\"` (it reaches the agent's next turn). "
        "Implementors' blockers and refused commands come to your inbox first: "
        f"`{TOOL} inbox overseer`.",
        "",
        "## Implementors",
        "",
        "1. Work only in your own worktree, on your own branch "
        f"`{prefix}/<spec-id>/impl-<area>`, and write only your area's paths (above). "
        "Commands run in Claude Code's sandbox: stage files by name (`git add src/x.py`), "
        "not with `git add -A` (the sandbox's placeholder files make it fail).",
        "2. Commit with task ids so progress is recorded (the git hook runs "
        f"`{TOOL} sync-status` after each commit; run it by hand if the hook is missing):",
        "   - `T003: add the reading-goal model` starts T003;",
        "   - `T003 done` (or `T003: complete`, `complete T003`) completes it;",
        "   - `blocked T005: waiting for the api schema` blocks T005 with a reason.",
        "   Commands are checked by the guard: a refusal says why and what would pass.",
        f"3. Before a rebase, check for conflicts: `{TOOL} check-conflicts` (exit 1 names the "
        "conflicting files and branches).",
        f"4. Rebase onto your overseer branch: `git rebase {overseer_branch}` (after `git "
        f"fetch`, `git rebase origin/{overseer_branch}` when it lives on a remote). When it "
        "stops on a conflict, resolve it, `git add` the files, `git commit --no-edit`, then "
        "`git rebase --continue` (no editor needed). Push with `git push -u origin HEAD` "
        "(after a rebase `git push --force-with-lease origin HEAD`): exactly these forms run "
        "outside the sandbox, so they reach any remote.",
        f"5. Run your tests: `{TOOL} run-tests` ({implementor_tests}).",
        f"6. When your tasks are done and the tests pass, open a pull request to the overseer "
        f"branch: `{TOOL} open-pr`. The overseer merges it; never merge yourself.",
        f"7. Record other events with `{TOOL} events log-event <spec-id> implementor-<area> "
        f"<type> <message> [task-id]`; read the feature's state with `{TOOL} events status` "
        f"and `{TOOL} events recent`.",
        f"8. Never edit `{tasks}` or `state/overseer.md`; never check out, reset or push "
        f"`{config.main_branch}` or the overseer branch.",
        "9. Messages from the overseer or the person arrive within your turn; read them "
        f"again with `{TOOL} inbox implementor-<area>`, and answer or ask with `{TOOL} tell "
        'overseer "<text>"`.',
        "",
        "## Test commands",
        "",
        *_tests_table(config),
        "",
    ]
    return "\n".join(lines)


def claude_md_section(config: Config) -> str:
    """The body of the fenced coordination-rules section of ``CLAUDE.md``."""
    prefix = config.branch_prefix
    tasks = config.tasks_file("<spec-id>")
    protected = _code_list([p for p in IMPLEMENTOR_PROTECTED_PATHS if p != ".git/**"])
    lines = [
        "## Coordination rules (claude-orchestrator)",
        "",
        f"- Find your role from your branch: `{prefix}/<spec-id>/overseer` is the overseer, "
        f"`{prefix}/<spec-id>/impl-<area>` an implementor. The runbook is `.specify/agents.md`.",
        "- Stay in your own worktree and on your own branch.",
        "- Name task ids in commit messages: `T003: ...` starts, `T003 done` completes, "
        "`blocked T005: reason` blocks.",
        f"- Implementors: write only your area's paths; never edit `{tasks}`, {protected}.",
        f"- Implementors: run `{TOOL} check-conflicts` before a rebase, rebase only onto your "
        f"overseer branch, run `{TOOL} run-tests` before `{TOOL} open-pr`.",
        f"- Only the overseer merges (`{TOOL} merge-pr <n>`) and commits `{tasks}`.",
        f"- Never force-push, reset or delete `{config.main_branch}`.",
        f"- Read `state/` and `{TOOL} events status` for warnings before starting new work.",
        "- A command the permission rules refuse is refused on purpose: do not work around it; "
        "report it (`blocked T00N: reason`).",
    ]
    return "\n".join(lines) + "\n"
