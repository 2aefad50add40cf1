"""Cost and flow metrics: the library calls behind ``metrics``, the report, the plots and
the dashboard (they all render these results).

* :func:`ingest` reads Claude Code transcripts incrementally
  (:mod:`.metrics_transcript`: a cursor per file, so a re-read costs only the new lines)
  and keeps each reply's usage once in the store (one record per message id + request
  id, however many transcripts repeat it). Each
  reply is charged to the agent whose feature branch it was made on (the transcript's
  ``gitBranch``; else the agent whose hook asked for the ingest), else to no feature.
  (Claude Code's ``--fork-session`` copies a session's replies into the new transcript
  under the same ids: they count once.)
* :func:`costs` prices and attributes the stored usage (:mod:`.metrics_flow`) and groups
  it by agent, task, PR, feature or day.
* :func:`flow` says where the time went (cycle times, blocked, waiting, PRs, conflicts).
* :func:`check_budgets` records ``budget_warning`` at 80% and ``budget_exceeded`` at 100%
  of a configured cap, once per cap and subject (:mod:`.metrics_budget`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .errors import ValidationError
from .metrics_model import GROUPINGS

if TYPE_CHECKING:
    from .api import Orchestrator
    from .metrics_model import (
        Attributed,
        BurnPoint,
        CostPoint,
        CostReport,
        FlowReport,
    )
    from .metrics_prices import PriceTable
    from .metrics_transcript import Reply
    from .models import Event, PullRequest, Usage

#: events read per page
PAGE = 10_000
#: at most this many transcripts in one ingest call
MAX_FILES = 10_000


class FileIngest(NamedTuple):
    """What :func:`ingest` did with one transcript."""

    path: str
    #: replies read from the new lines
    read: int
    #: of them, records the store did not have
    stored: int
    #: of them, replies the store had already (another transcript, an earlier read)
    duplicates: int
    #: lines that could not be counted, each ``warning: <path>:<line>: <why>``
    problems: list[str]


class Ingested(NamedTuple):
    files: list[FileIngest]
    stored: int
    problems: list[str]
    #: budget events this ingest recorded
    budget_events: list[Event]


# ------------------------------------------------------------------------------ ingest
def claude_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where Claude Code keeps transcripts: ``$CLAUDE_CONFIG_DIR/projects`` (each of a
    comma-separated list), else ``~/.claude/projects`` and ``~/.config/claude/projects``."""
    env = os.environ if env is None else env
    configured = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    home = Path(env.get("HOME") or Path.home())
    roots = [Path(p) for p in configured] or [home / ".claude", home / ".config" / "claude"]
    return [root / "projects" for root in roots]


def transcripts(paths: Sequence[str | Path], env: Mapping[str, str] | None = None) -> list[Path]:
    """The transcript files ``paths`` name: files as they are, directories searched for
    ``*.jsonl``; no paths: every transcript under :func:`claude_dirs`. Raises
    ValidationError (nothing read) for a path that does not exist."""
    found: list[Path] = []
    if not paths:
        for root in claude_dirs(env):
            if root.is_dir():
                found.extend(sorted(root.rglob("*.jsonl")))
        return found[:MAX_FILES]
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                found.extend(sorted(path.rglob("*.jsonl")))
                continue
            is_file = path.is_file()
        except (OSError, UnicodeError) as exc:
            raise ValidationError(f"cannot read {str(raw)[:200]!r}: {exc.__class__.__name__}: give "
                                  "a transcript's path") from None  # fmt: skip
        if is_file:
            found.append(path)
        else:
            raise ValidationError(
                f"no transcript at {raw}: give a Claude Code transcript (.jsonl) or a folder "
                "of them (default: ~/.claude/projects)"
            )
    if len(found) > MAX_FILES:
        raise ValidationError(
            f"{len(found)} transcripts: at most {MAX_FILES} in one ingest; name fewer folders"
        )
    return found


class _Agents:
    """Which agent a reply belongs to, from its git branch (cached per branch)."""

    def __init__(self, orch: Orchestrator, fallback: tuple[str, str] | None) -> None:
        self.orch = orch
        self.fallback = fallback
        self._roles: dict[str, set[str]] = {}
        self._branches: dict[str | None, tuple[str, str] | None] = {}

    def _known(self, spec_id: str, role: str) -> bool:
        if spec_id not in self._roles:
            self._roles[spec_id] = {a.role for a in self.orch.store.list_agents(spec_id)}
        return role in self._roles[spec_id]

    def of(self, branch: str | None) -> tuple[str, str] | None:
        if branch not in self._branches:
            from .workflow import parse_branch

            parsed = parse_branch(self.orch.config.branch_prefix, branch) if branch else None
            agent = (parsed.spec_id, parsed.role) if parsed is not None else self.fallback
            self._branches[branch] = agent if agent and self._known(*agent) else None
        return self._branches[branch]


def _usage(reply: Reply, agent: tuple[str, str] | None, path: str) -> Usage:
    from .models import Usage

    spec_id, role = agent if agent is not None else (None, None)
    return Usage(0, reply.key, spec_id, role, reply.session_id, reply.model, reply.at,
                 reply.input_tokens, reply.output_tokens, reply.cache_write_tokens,
                 reply.cache_read_tokens, path, reply.line,
                 cache_write_1h_tokens=reply.cache_write_1h_tokens)  # fmt: skip


def ingest_file(
    orch: Orchestrator, path: Path, agents: _Agents, *, final: bool, max_bytes: int | None = None
) -> FileIngest:
    """Read one transcript's new lines and keep their usage; the records and the cursor
    are written in one transaction (a crash leaves the cursor where the records are)."""
    from .metrics_transcript import read

    name = str(path.resolve())
    with orch.store.transaction() as tx:
        cursor = tx.transcript_cursor(name)
    done = read(path, cursor, final=final, max_bytes=max_bytes)
    records = [_usage(r, agents.of(r.git_branch), name) for r in done.replies]
    with orch.store.transaction() as tx:
        stored = tx.insert_usage(records)
        now = tx.transcript_cursor(name)
        mine = done.cursor
        ahead = (now is not None and (now.device, now.inode) == (mine.device, mine.inode)
                 and now.offset > mine.offset)  # fmt: skip
        if not ahead:  # another ingest read further meanwhile: keep its cursor
            tx.put_transcript_cursor(done.cursor._replace(path=name))
    return FileIngest(name, len(records), stored, len(records) - stored,
                      [str(p) for p in done.problems])  # fmt: skip


def ingest(
    orch: Orchestrator,
    paths: Sequence[str | Path] = (),
    *,
    agent: tuple[str, str] | None = None,
    final: bool = False,
    budgets: bool = True,
    max_bytes: int | None = None,
) -> Ingested:
    """Ingest the transcripts ``paths`` name (:func:`transcripts`); ``agent`` (spec,
    role) is charged for replies whose branch names none (the hook's own agent);
    ``final``: the sessions ended, so a last line without its newline is read too;
    ``max_bytes``: read at most about this much of each file (the rest next time). Then
    the budgets of the features that got new usage are checked."""
    files = transcripts(paths, orch._env)
    agents = _Agents(orch, agent)
    results = [ingest_file(orch, path, agents, final=final, max_bytes=max_bytes)
               for path in files]  # fmt: skip
    features = sorted({a[0] for a in agents._branches.values() if a is not None})
    events: list[Event] = []
    if budgets and any(r.stored for r in results):
        from .metrics_budget import check_budgets

        for spec_id in features:
            events.extend(check_budgets(orch, spec_id))
    problems = [p for r in results for p in r.problems]
    return Ingested(results, sum(r.stored for r in results), problems, events)


# ------------------------------------------------------------------------------ reading
def events_of(orch: Orchestrator, spec_id: str) -> list[Event]:
    """Every event of the feature, oldest first (read in pages, no write lock)."""
    events: list[Event] = []
    while True:
        page = orch.store.events_after(spec_id, events[-1].id if events else 0, PAGE)
        events.extend(page)
        if len(page) < PAGE:
            return events


def price_table(orch: Orchestrator, spec_id: str | None = None) -> PriceTable:
    """The prices: the shipped table with the ``prices:`` of the config committed on the
    feature's overseer branch (:func:`~claude_orchestrator.metrics_budget.trusted_config`),
    or, for no feature, of the config where the command runs."""
    from .metrics_budget import trusted_config
    from .metrics_prices import PriceTable, configured

    config = orch.config if spec_id is None else trusted_config(orch, spec_id)
    return PriceTable(configured(config.data.get("prices") or {}))


def _specs(orch: Orchestrator, spec_id: str | None) -> list[str]:
    if spec_id is not None:
        return [orch.feature(spec_id).spec_id]
    return [f.spec_id for f in orch.store.list_features()]


def attributed(orch: Orchestrator, spec_id: str | None = None) -> list[Attributed]:
    """The stored usage (of the feature, or every record) priced and charged to tasks."""
    from .metrics_flow import attribute

    with orch.store.transaction() as tx:
        usages = tx.usage(spec_id)
    charged: list[Attributed] = []
    for spec in sorted({u.spec_id for u in usages}, key=lambda s: s or ""):
        mine = [u for u in usages if u.spec_id == spec]
        events = events_of(orch, spec) if spec is not None else []
        charged += attribute(mine, events, price_table(orch, spec))
    return sorted(charged, key=lambda a: (a.at, a.usage.id))


def check_since(since: str | None) -> str | None:
    """``--since``: a date (``2026-12-01``) or a time (``2026-12-01T09:30``, UTC) as the
    store's time format; None for None."""
    if since is None:
        return None
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"--since {since!r} is not a date or time: give e.g. 2026-12-01 or "
            "2026-12-01T09:30 (UTC)"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def costs(
    orch: Orchestrator, spec_id: str | None = None, by: str = "agent", since: str | None = None
) -> CostReport:
    """What the stored usage cost, grouped ``by`` agent, task, pr, feature or day; only
    replies at or after ``since`` (:func:`check_since`) if given."""
    from .metrics_flow import rollup
    from .metrics_model import CostReport
    from .metrics_prices import PRICES_DATE

    if by not in GROUPINGS:
        raise ValidationError(f"--by {by!r}: group by one of {', '.join(GROUPINGS)}")
    start = check_since(since)
    if spec_id is not None:
        spec_id = orch.feature(spec_id).spec_id  # checked before anything is read
    charged = [a for a in attributed(orch, spec_id) if start is None or a.at >= start]
    events: list[Event] = []
    prs: list[PullRequest] = []
    if by == "pr":  # only the PR grouping reads the events (which PR merged which task)
        charged_specs = {a.usage.spec_id for a in charged}
        specs = [s for s in _specs(orch, spec_id) if s in charged_specs]
        events = [e for spec in specs for e in events_of(orch, spec)]
        prs = [p for spec in specs for p in orch.store.list_pull_requests(spec)]
    rows, total, unknown = rollup(charged, by, events, prs)
    return CostReport(by, spec_id, start, rows, total, unknown, PRICES_DATE)


def cost_points(orch: Orchestrator, spec_id: str) -> list[CostPoint]:
    from .metrics_flow import cost_points as points

    return points(attributed(orch, spec_id))


def task_ids(orch: Orchestrator, spec_id: str) -> list[str]:
    """The tasks of the feature's tasks.md on the overseer branch, in order."""
    from .dashboard_api import task_lines

    seen: dict[str, None] = {}
    for line in task_lines(orch, spec_id):
        seen.setdefault(line.task_id)
    return list(seen)


def now_text() -> str:
    from .store_ops import now

    return now()


def flow(orch: Orchestrator, spec_id: str) -> FlowReport:
    """Where the feature's time went (:func:`claude_orchestrator.metrics_flow.flow`)."""
    from .metrics_flow import flow as derive

    spec_id = orch.feature(spec_id).spec_id
    store = orch.store
    return derive(spec_id, events_of(orch, spec_id), store.list_pull_requests(spec_id),
                  store.list_conflicts(spec_id, include_resolved=True),
                  store.list_test_results(spec_id, limit=1_000_000),
                  store.list_blockers(spec_id, include_resolved=True),
                  task_ids(orch, spec_id), now=now_text())  # fmt: skip


def burn_down(orch: Orchestrator, spec_id: str) -> list[BurnPoint]:
    from .metrics_flow import burn_down as burn

    spec_id = orch.feature(spec_id).spec_id
    return burn(events_of(orch, spec_id), task_ids(orch, spec_id), now=now_text())
