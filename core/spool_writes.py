"""The hook path's writes: ``events log-event`` and ``sync-status`` (the post-commit
hook's too), which never fail or block an agent because the store is away.

Each of them, once its arguments are valid, drains the store's spool (:mod:`~.spool`)
before its own write, for at most :data:`DRAIN_BUDGET_S`; the syncs spooled there run
again in the worktree that spooled them. When the store is unreachable
(:class:`~.errors.StoreUnavailableError`: its server is away, or a SQLite store stayed
locked longer than the hook path waits), or records are still spooled ahead of it, the
write itself is spooled and the command succeeds, saying so (:class:`Spooled`). Every
other error stays an error.

The hook path waits for a busy store at most :data:`HOOK_BUSY_TIMEOUT_S` (the store
plugin's ``busy_timeout`` option, which the config may set lower):
:class:`HookOrchestrator` gives its store that option.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from .api import Orchestrator
from .errors import StoreError, StoreUnavailableError

if TYPE_CHECKING:
    from .models import Event, NewEvent
    from .protocols import PluginContext
    from .spool_drain import DrainReport, Runner
    from .workflow import SyncResult

T = TypeVar("T")

#: the longest the hook path waits for a busy store (seconds)
HOOK_BUSY_TIMEOUT_S = 2.0
#: how long a hook-path command spends draining the spool; the next one drains the rest
DRAIN_BUDGET_S = 1.0
#: the event that says spooled records were moved to a rejected file
REJECTED_EVENT_TYPE = "spool_rejected"


class Spooled(NamedTuple):
    """A write that went to the spool instead of the store (``--json`` prints it)."""

    spooled: bool
    kind: str  # "event" or "sync"
    record_id: str
    #: the store it is meant for (its ``location``), and the file it waits in
    store: str | None
    spool: str
    #: why: the store's error, or the records still spooled ahead of it
    reason: str
    branch: str | None = None

    def line(self) -> str:
        """The one line a command prints on stderr about it."""
        what = "the event" if self.kind == "event" else f"the sync of {self.branch}"
        return (
            f"warning: {what} is spooled as record {self.record_id} in {self.spool}: "
            f"{self.reason}; it goes into the store, in order, with the next command that "
            "reaches it (`claude-orchestrator doctor` shows what is spooled)"
        )


class HookOrchestrator(Orchestrator):
    """An :class:`~.api.Orchestrator` whose store waits for a busy store at most
    :data:`HOOK_BUSY_TIMEOUT_S` (the plugin option ``busy_timeout``, as the guard's)."""

    def _context(self, name: str) -> PluginContext:
        context = super()._context(name)
        if name != self.config.store_plugin:
            return context
        return context._replace(options=hook_options(context.options))


def hook_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The store plugin's options on the hook path: ``busy_timeout`` at most
    :data:`HOOK_BUSY_TIMEOUT_S` (a value that is no number is the plugin's to refuse)."""
    configured = options.get("busy_timeout", HOOK_BUSY_TIMEOUT_S)
    try:
        wait = min(float(configured), HOOK_BUSY_TIMEOUT_S)
    except (TypeError, ValueError):
        return dict(options)
    return {**options, "busy_timeout": wait}


# ------------------------------------------------------------------------ log-event
def new_event(raw: Sequence[str | None]) -> NewEvent:
    """The event ``log-event`` appends, from its arguments in the order of
    :class:`~.models.NewEvent`'s fields, validated (ValidationError before anything)."""
    from . import validate as v
    from .models import NewEvent

    checks: tuple[Callable[[Any], Any], ...] = (
        v.check_spec_id, v.check_role, v.check_event_type, v.check_message,
        v.check_task_id, v.check_commit, v.check_metadata,
    )  # fmt: skip
    return NewEvent(*(check(value) for check, value in zip(checks, raw, strict=True)))


def log_event(orch: Orchestrator, new: NewEvent) -> Event | Spooled:
    """Append ``new`` (validated: :func:`new_event`) after what the spool holds; spool it
    when the store is away or records are still spooled ahead of it."""
    from .spool import event_record

    return _write_or_spool(orch, lambda: orch.log_event(*new),
                           lambda: event_record(new, _location(orch)),
                           (new.spec_id, new.role))  # fmt: skip


# ---------------------------------------------------------------------- sync-status
def sync(
    orch: Orchestrator,
    *,
    branch: str | None = None,
    hook: str | None = None,
    rewritten: Sequence[tuple[str, str]] = (),
    how: str = "",
) -> SyncResult | Spooled:
    """``sync-status`` after what the spool holds; when the store is away (or records are
    still spooled ahead of it), note that the branch needs a sync: the drain runs it."""
    from .spool import sync_record
    from .workflow import parse_branch, sync_status

    def run() -> SyncResult:
        return sync_status(orch, branch=branch, rewritten=rewritten, how=how)

    if not orch.location.in_git:
        return run()  # its error: not in a repository
    name = branch or orch.vcs().current_branch()
    parsed = parse_branch(orch.config.branch_prefix, name) if name else None
    if name is None or parsed is None:
        return run()  # its error: detached HEAD, not a feature branch

    def record() -> dict[str, Any]:
        return sync_record(_location(orch), orch.location.root, name, hook=hook,
                           rewritten=rewritten, how=how)  # fmt: skip

    return _write_or_spool(orch, run, record, (parsed.spec_id, parsed.role))


def sync_runner(orch: Orchestrator) -> Runner:
    """Runs a spooled sync: in the worktree that spooled it when it is still one of this
    repository's (where the overseer's tasks.md is), else here (its events only)."""

    def run(record: Mapping[str, Any]) -> object:
        from .hooks import record_sync_warnings
        from .spool import sync_args
        from .workflow import sync_status

        args = sync_args(record)
        target = _worktree_orchestrator(orch, args.root)
        try:
            result = sync_status(target, branch=args.branch, rewritten=args.rewritten,
                                 how=args.how)  # fmt: skip
        finally:
            if target is not orch:
                target.close()
        record_sync_warnings(orch, args.hook or "sync-status", result)
        return result

    return run


def _worktree_orchestrator(orch: Orchestrator, root: Path) -> Orchestrator:
    from .errors import ConfigError
    from .location import discover

    if root == orch.location.root:
        return orch
    try:
        found = discover(root, {})
    except (ConfigError, OSError):
        return orch  # the worktree is gone
    if found.root != root or found.common_dir != orch.location.common_dir:
        return orch

    def forward(text: str) -> None:
        orch.warn(text.removeprefix("warning: "))

    return HookOrchestrator(root, db=orch.store_path, registry=orch.registry,
                            on_warning=forward)  # fmt: skip


# ----------------------------------------------------------------------------- shared
def _write_or_spool(
    orch: Orchestrator,
    write: Callable[[], T],
    record: Callable[[], dict[str, Any]],
    who: tuple[str, str],
) -> T | Spooled:
    """Drain the store's spool, then ``write`` (:func:`~.spool_drain.drain_then`); spool
    ``record()`` instead when the store is away or records are left ahead of it. ``who``
    (spec id, role) signs the event that reports records the drain rejected."""

    def then(report: DrainReport) -> T:
        notify_drained(orch, report)
        return write()

    try:
        store = orch.store
        orch.check_plugins()  # before the drain writes: outbox cursors start before it
        if not _anything_spooled(orch):
            return write()  # the common case: no drain to import or run
        from .spool_drain import drain_then

        report, result = drain_then(store, orch.location.state_dir, then,
                                    budget_s=DRAIN_BUDGET_S, runner=sync_runner(orch))  # fmt: skip
    except StoreUnavailableError as exc:
        return spool_write(orch, record(), _unreachable(exc))
    if result is None:
        return spool_write(orch, record(), _why(report))
    report_rejected(orch, report, *who)
    return result


def _anything_spooled(orch: Orchestrator) -> bool:
    from .spool import drained_by

    spools = drained_by(orch.location.state_dir, _location(orch))
    return any(spool.holds_records() for spool in spools)


def notify_drained(orch: Orchestrator, report: DrainReport) -> None:
    """Tell the notifiers about the events the drain stored (syncs told theirs)."""
    if report.events:
        orch.notify(*report.events)


def report_rejected(orch: Orchestrator, report: DrainReport, spec_id: str, role: str) -> None:
    """Say that the drain moved records to a rejected file: a warning, and an event."""
    if not report.rejected:
        return
    from .spool_drain import rejected_event

    event = rejected_event(spec_id, role, REJECTED_EVENT_TYPE, "hook-path", report)
    orch.warn(event.message)
    with contextlib.suppress(StoreError):  # the rejected files keep them; doctor shows them
        orch.notify(orch.store.append_event(event))


def spool_write(orch: Orchestrator, record: dict[str, Any], reason: str) -> Spooled:
    """Append ``record`` to the store's spool; StoreError when there is nowhere to."""
    from .spool import append_for

    location = record.get("store")
    location = location if isinstance(location, str) else None
    spool = append_for(orch.location.state_dir, location, record)
    if spool is None:
        raise StoreError(
            f"{reason}; and the spool in {orch.location.state_dir} cannot be written: "
            "nothing was recorded (make that directory writable, then run the command again)"
        )
    branch = record.get("branch")
    return Spooled(True, str(record["kind"]), str(record["id"]), location, str(spool.path),
                   reason, branch if isinstance(branch, str) else None)  # fmt: skip


def _location(orch: Orchestrator) -> str | None:
    """The store's location (None when even building it fails: any store takes it)."""
    try:
        return orch.store_plugin().location
    except Exception:
        return None


def _unreachable(error: object) -> str:
    return f"the event store cannot be reached now ({error})"


def _why(report: DrainReport) -> str:
    if report.error is not None and report.stopped == "unavailable":
        return _unreachable(report.error)
    if report.stopped == "busy":
        return "another command is draining the records spooled ahead of it"
    return (f"{report.left} older spooled record(s) are still waiting for the store ahead "
            "of it (this command's time for draining them ran out)")  # fmt: skip
