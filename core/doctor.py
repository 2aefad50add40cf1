"""``claude-orchestrator doctor``: is this repository's set-up healthy?"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, NamedTuple

from .errors import OrchestratorError, StoreUnavailableError
from .protocols_vcs import VCS
from .spool import MAX_ATTEMPTS

if TYPE_CHECKING:
    from .api import Orchestrator


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    #: "warning": it passes, but wants a look (spooled records); None otherwise
    level: str | None = None


def run_checks(orch: Orchestrator) -> list[Check]:
    from . import hooks

    checks: list[Check] = []
    try:
        config = orch.config
        orch.check_plugins()
        where = str(config.path) if config.path else "built-in defaults (no orchestrator.yaml)"
        checks.append(Check("config", True, f"valid: {where}"))
    except OrchestratorError as exc:
        checks.append(Check("config", False, str(exc)))
        return checks
    vcs = None
    try:
        vcs = orch.vcs()
        version = vcs.version()
        text = ".".join(map(str, version))
        if version < (2, 38):
            checks.append(Check("git", False, f"git {text}: conflict detection needs 2.38+"))
        else:
            batch = "batched merges" if version >= (2, 39) else "one merge per process (2.39+ "
            batch += "" if version >= (2, 39) else "batches them)"
            checks.append(Check("git", True, f"git {text} ({batch})"))
    except OrchestratorError as exc:
        checks.append(Check("git", False, str(exc)))
    checks.append(_store(orch))
    checks.append(_spool(orch))
    if vcs is not None and orch.location.in_git:
        try:
            states = hooks.status(orch)
            missing = [s.hook for s in states if not s.installed]
            stale = [s.hook for s in states if s.installed and not s.current]
            if missing:
                checks.append(Check("hooks", False, f"not installed: {', '.join(missing)}; run "
                                    "`claude-orchestrator hooks install`"))  # fmt: skip
            elif stale:
                checks.append(Check("hooks", False, f"out of date: {', '.join(stale)}; run "
                                    "`claude-orchestrator hooks install`"))  # fmt: skip
            else:
                chained = [s.hook for s in states if s.chained]
                extra = f" (chaining {', '.join(chained)})" if chained else ""
                checks.append(Check("hooks", True, f"installed in {hooks.hooks_dir(orch)}{extra}"))
        except OrchestratorError as exc:
            checks.append(Check("hooks", False, str(exc)))
        failures = hooks.failures(orch)
        if failures:
            checks.append(Check("hook runs", False, f"{len(failures)} recent problem(s) in "
                                f"{hooks.log_path(orch)}; last: {failures[-1]}"))  # fmt: skip
        else:
            checks.append(Check("hook runs", True, "no problems recorded"))
    if vcs is not None and orch.location.in_git:
        checks.append(_branch_names(vcs, orch.config.branch_prefix))
        checks.append(_worktrees(orch, vcs))
    missing = [tool for tool in ("bwrap", "socat") if shutil.which(tool) is None]
    if missing:
        checks.append(Check("sandbox", False, f"{', '.join(missing)} not found: the implementor "
                            "permission files require Claude Code's sandbox (install the "
                            "bubblewrap and socat packages)"))  # fmt: skip
    else:
        checks.append(Check("sandbox", True, "bubblewrap and socat found"))
    return checks


def _store(orch: Orchestrator) -> Check:
    try:
        store = orch.store
        info = store.info()
    except StoreUnavailableError as exc:
        return Check("store", False, f"{_unreachable(orch, exc)}; until it answers, "
                     "log-event, sync-status and the guard spool their writes on this "
                     "machine (start the server or restore the connection, then any of "
                     "them drains the spool)")  # fmt: skip
    except OrchestratorError as exc:
        return Check("store", False, str(exc))
    return Check("store", True, f"{info.location}: schema v{info.schema_version}, "
                 f"{(info.counts or {}).get('task_events', 0)} events")  # fmt: skip


def _unreachable(orch: Orchestrator, exc: StoreUnavailableError) -> str:
    """The error, naming the store (its ``location``: a path, a DSN without password)."""
    try:
        location = orch.store_plugin().location
    except Exception:
        location = None
    if location is None or location in str(exc):
        return f"the event store cannot be reached now: {exc}"
    return f"the event store {location} cannot be reached now: {exc}"


def _spool(orch: Orchestrator) -> Check:
    """What the hook path spooled (a warning: the next writer that reaches the store
    drains it) and what the store refused for good (in rejected files)."""
    import time

    from .spool import summary

    found = summary(orch.location.state_dir)
    if not found.waiting and not found.rejected:
        return Check("spool", True, "nothing spooled")
    parts = []
    if found.waiting:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(found.kinds.items()))
        age = _age(time.time() - (found.oldest or time.time()))
        stores = ", ".join(s or "any store" for s in found.stores)
        parts.append(f"{found.waiting} record(s) spooled ({kinds}), the oldest {age} old, "
                     f"for {stores}; the next log-event, sync-status or guard call that "
                     "reaches the store stores them")  # fmt: skip
    if found.rejected:
        parts.append(f"{found.rejected} record(s) the store refused {MAX_ATTEMPTS} times are "
                     f"kept in {orch.location.state_dir}/*.rejected, not stored")  # fmt: skip
    return Check("spool", True, "; ".join(parts), "warning")


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _branch_names(vcs: VCS, prefix: str) -> Check:
    """Feature branches whose names break the naming rule: an area or spec id against it
    (scanned, never registered), or a '/' after the leaf (not scanned)."""
    from .conflict_scan import bad_area_rule, bad_spec_rule, misnamed

    try:
        bad = misnamed(vcs, prefix)
    except OrchestratorError as exc:
        return Check("branch names", False, str(exc))
    problems = []
    if bad.area:
        problems.append(f"{', '.join(bad.area)}: the name breaks the rule "
                        f"{bad_area_rule(prefix)}; conflict scans include them, but no agent "
                        "can be registered for them")  # fmt: skip
    if bad.spec:
        problems.append(f"{', '.join(bad.spec)}: the spec id breaks the rule "
                        f"{bad_spec_rule(prefix)}; conflict scans include them, but the "
                        "feature cannot be registered")  # fmt: skip
    if bad.deeper:
        problems.append(f"{', '.join(bad.deeper)}: a '/' after the overseer or impl-<area> "
                        "name; conflict scans skip them")  # fmt: skip
    if not problems:
        return Check("branch names", True, f"every {prefix}/*/ overseer and impl-* branch "
                     "keeps the naming rule")  # fmt: skip
    return Check("branch names", False, "; ".join(problems) + ": rename them "
                 "(`git branch -m OLD NEW`)")  # fmt: skip


class _Tree(NamedTuple):
    path: str
    branch: str | None
    prunable: bool


def _tree_list(vcs: VCS) -> list[_Tree]:
    """The registered worktrees, the main working tree first."""
    return [_Tree(str(e.path), e.branch, e.prunable) for e in vcs.worktree_entries()]


def _worktrees(orch: Orchestrator, vcs: VCS) -> Check:
    """Every agent of an in-progress feature works in a worktree that exists; implementors
    (sandboxed) in one of their own, not in the main checkout, whose ``.git/`` (and so
    the event store) Claude Code's sandbox keeps read-only."""
    try:
        features = [f for f in orch.store.list_features() if f.status == "in-progress"]
        agents = [a for f in features for a in orch.store.list_agents(f.spec_id)]
        trees = _tree_list(vcs)
    except OrchestratorError as exc:
        return Check("worktrees", False, str(exc))
    if not agents:
        return Check("worktrees", True, "no in-progress feature has agents yet")
    by_branch = {t.branch: t for t in trees if t.branch}
    main = trees[0].path if trees else None
    problems: list[str] = []
    elsewhere: list[str] = []
    for agent in agents:
        tree = by_branch.get(agent.branch_name)
        if tree is None and not vcs.branch_exists(agent.branch_name):
            elsewhere.append(agent.branch_name)  # no local branch: another clone's agent
            continue
        fix = f"`claude-orchestrator init-feature {agent.spec_id} --worktrees`"
        if tree is not None and tree.prunable:
            problems.append(f"{agent.branch_name}: its worktree {tree.path} was deleted "
                            f"(run `git worktree prune`, then {fix} recreates it)")  # fmt: skip
        elif agent.role == "overseer":
            continue
        elif tree is None:
            problems.append(f"{agent.branch_name} is not checked out in a worktree "
                            f"(run {fix})")  # fmt: skip
        elif tree.path == main:
            problems.append(f"{agent.branch_name} is checked out in the main checkout "
                            f"{tree.path}, where the sandbox keeps .git/ (the event store) "
                            f"read-only: implementors need worktrees of their own (check "
                            f"out another branch there, then run {fix})")  # fmt: skip
    other = (f"; {len(elsewhere)} work in other clones (no local branch here: "
             f"{', '.join(elsewhere)})" if elsewhere else "")  # fmt: skip
    if problems:
        return Check("worktrees", False, "; ".join(problems) + other)
    here = len(agents) - len(elsewhere)
    return Check("worktrees", True, f"{here} agent(s) of {len(features)} feature(s) here: "
                 f"each implementor in a worktree of its own{other}")  # fmt: skip
