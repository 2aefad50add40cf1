"""Renderers shared by the CLI, ``events export`` and (later) the markdown notifier.

Plain text only: no colour, no terminal tricks, so the output reads the same in a
terminal, a log file and an agent's context window.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .models import AgentStatus, Event, FeatureReport

if TYPE_CHECKING:
    from .workflow import SyncResult


def to_json(value: object) -> str:
    """One JSON document; records and lists of records become dicts."""

    def convert(item: object) -> object:
        if hasattr(item, "_asdict"):
            return {k: convert(v) for k, v in item._asdict().items()}
        if hasattr(item, "to_dict"):
            return item.to_dict()
        if isinstance(item, list | tuple):
            return [convert(i) for i in item]
        if isinstance(item, dict):
            return {k: convert(v) for k, v in item.items()}
        return item

    return json.dumps(convert(value), indent=2, sort_keys=False, ensure_ascii=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned text table; empty cells print as '-'."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None or value == "":
        return "-"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def esc(value: object) -> str:
        return _cell(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


STATUS_HEADERS = (
    "spec",
    "role",
    "branch",
    "agent",
    "events",
    "last event",
    "tasks (run/done/blk/merged)",
    "PRs (merged)",
    "conflicts",
    "blockers",
)


def status_rows(rows: Sequence[AgentStatus]) -> list[list[object]]:
    return [
        [
            r.spec_id,
            r.role,
            r.branch_name,
            r.agent_status,
            r.events,
            r.last_event_type,
            f"{r.tasks_in_progress}/{r.tasks_completed}/{r.tasks_blocked}/{r.tasks_merged}",
            f"{r.prs_count} ({r.prs_merged})",
            r.active_conflicts,
            r.active_blockers,
        ]
        for r in rows
    ]


def render_status(rows: Sequence[AgentStatus]) -> str:
    if not rows:
        return "No features yet: add one with `claude-orchestrator events add-feature`."
    features: dict[str, AgentStatus] = {}
    for row in rows:
        features.setdefault(row.spec_id, row)
    head = "\n".join(f"{f.spec_id}: {f.name} [{f.feature_status}]" for f in features.values())
    return head + "\n\n" + table(STATUS_HEADERS, status_rows(rows))


EVENT_HEADERS = ("id", "time", "spec", "role", "type", "task", "commit", "message")


def event_rows(events: Sequence[Event]) -> list[list[object]]:
    return [
        [
            e.id,
            e.created_at,
            e.spec_id,
            e.role,
            e.event_type,
            e.task_id,
            (e.commit_hash or "")[:7],
            e.message,
        ]
        for e in events
    ]


def render_events(events: Sequence[Event]) -> str:
    if not events:
        return "No events yet."
    return table(EVENT_HEADERS, event_rows(events))


def render_report(report: FeatureReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(report) + "\n"
    if fmt == "csv":
        return _report_csv(report)
    return _report_markdown(report)


def _report_csv(report: FeatureReport) -> str:
    """The feature's events, one row each, newest first (for spreadsheets)."""
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "id",
            "created_at",
            "spec_id",
            "role",
            "event_type",
            "task_id",
            "commit_hash",
            "message",
            "metadata",
        ]
    )
    for e in report.events:
        writer.writerow(
            [
                e.id,
                e.created_at,
                e.spec_id,
                e.role,
                e.event_type,
                e.task_id or "",
                e.commit_hash or "",
                e.message,
                json.dumps(e.metadata) if e.metadata else "",
            ]
        )
    return buffer.getvalue()


def render_state(report: FeatureReport, role: str) -> str:
    """The state file of one agent: the overseer sees everything, an implementor what
    concerns it (its tasks, its conflicts, its blockers, its tests, its events)."""
    if role != "overseer":
        report = report._replace(
            status=[r for r in report.status if r.role == role],
            tasks=[t for t in report.tasks if t.role == role],
            events=[e for e in report.events if e.role == role],
            conflicts=[c for c in report.conflicts if role in (c.role, c.other_role)],
            blockers=[b for b in report.blockers if role in (b.role, b.blocking_role)],
            tests=[t for t in report.tests if t.role == role],
            pull_requests=[p for p in report.pull_requests if p.role == role],
        )
    title = "overseer" if role == "overseer" else role.replace("implementor-", "impl-")
    return _report_markdown(report, f"# State: {title} · feature {report.feature.spec_id}")


def _report_markdown(report: FeatureReport, title: str | None = None) -> str:
    f = report.feature
    parts = [
        title or f"# Feature {f.spec_id}: {f.name}",
        "",
        f"Status: **{f.status}** · overseer branch `{f.overseer_branch}` · "
        f"created {f.created_at}" + (f" · completed {f.completed_at}" if f.completed_at else ""),
        "",
        "## Branch status",
        "",
        markdown_table(STATUS_HEADERS[1:], [row[1:] for row in status_rows(report.status)]),
        "",
        "## Tasks",
        "",
    ]
    if report.tasks:
        parts.append(
            markdown_table(
                ("task", "status", "role", "commit", "updated"),
                [
                    [t.task_id, t.status, t.role, (t.commit_hash or "")[:7], t.updated_at]
                    for t in report.tasks
                ],
            )
        )
    else:
        parts.append("None recorded yet.")
    parts += ["", "## Active conflicts", ""]
    if report.conflicts:
        parts.append(
            markdown_table(
                ("id", "role", "with", "severity", "files", "detected"),
                [
                    [
                        c.id,
                        c.role,
                        c.other_branch or c.other_role,
                        c.severity,
                        ", ".join(c.files),
                        c.detected_at,
                    ]
                    for c in report.conflicts
                ],
            )
        )
        parts += [
            "",
            "Rebase only after resolving these: `claude-orchestrator check-conflicts` "
            "shows which commits on each side touched the files.",
        ]
    else:
        parts.append("None")
    parts += ["", "## Active blockers", ""]
    if report.blockers:
        parts.append(
            markdown_table(
                ("id", "role", "type", "description", "blocked by", "since"),
                [
                    [b.id, b.role, b.blocker_type, b.description, b.blocking_role, b.created_at]
                    for b in report.blockers
                ],
            )
        )
    else:
        parts.append("None")
    parts += ["", "## Latest test results", ""]
    if report.tests:
        parts.append(
            markdown_table(
                ("role", "type", "status", "passed", "failed", "skipped", "commit", "when"),
                [
                    [
                        t.role,
                        t.test_type,
                        t.status,
                        t.tests_passed,
                        t.tests_failed,
                        t.tests_skipped,
                        (t.commit_hash or "")[:7],
                        t.created_at,
                    ]
                    for t in report.tests
                ],
            )
        )
    else:
        parts.append("None recorded yet.")
    parts += ["", "## Recent events", ""]
    if report.events:
        parts.append(markdown_table(EVENT_HEADERS[1:], [r[1:] for r in event_rows(report.events)]))
    else:
        parts.append("None")
    return "\n".join(parts) + "\n"


def sync_warnings(result: SyncResult) -> list[str]:
    """sync-status's warnings (the CLI prints them to stderr before the result)."""
    return [
        f"warning: commit {commit[:12]} names {task_id}, which is not in the "
        "overseer's tasks.md: not logged"
        for commit, task_id in result.unknown_tasks
    ] + [f"warning: {problem}" for problem in result.problems]


def render_sync(result: SyncResult, as_json: bool) -> str:
    """sync-status's output (its warnings: :func:`sync_warnings`)."""
    if as_json:
        return to_json(result)
    done = ", ".join(f"{e.task_id} {e.event_type.removeprefix('task_')}" for e in result.events)
    text = (f"{result.branch}: {result.commits_read} new commit(s), "
            f"{len(result.events)} event(s)" + (f": {done}" if done else ""))  # fmt: skip
    if result.duplicates:
        text += f"; {result.duplicates} already logged (rebased)"
    if result.tasks_updated:
        text += f"; tasks.md updated: {', '.join(result.tasks_updated)}"
    return text
