"""``claude-orchestrator doctor``: is this repository's set-up healthy?"""

from __future__ import annotations

import shutil
from typing import Any, NamedTuple

from .errors import OrchestratorError


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str


def run_checks(orch: Any) -> list[Check]:
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
    try:
        store = orch.store
        info = store.info()
        checks.append(Check("store", True, f"{info.location}: schema v{info.schema_version}, "
                            f"{(info.counts or {}).get('task_events', 0)} events"))  # fmt: skip
    except OrchestratorError as exc:
        checks.append(Check("store", False, str(exc)))
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
    missing = [tool for tool in ("bwrap", "socat") if shutil.which(tool) is None]
    if missing:
        checks.append(Check("sandbox", False, f"{', '.join(missing)} not found: the implementor "
                            "permission files require Claude Code's sandbox (install the "
                            "bubblewrap and socat packages)"))  # fmt: skip
    else:
        checks.append(Check("sandbox", True, "bubblewrap and socat found"))
    return checks


def _branch_names(vcs: Any, prefix: str) -> Check:
    """Implementor branches whose area breaks the naming rule (scanned, never registered)."""
    from .conflict_scan import bad_area_rule, misnamed_branches

    try:
        bad = misnamed_branches(vcs, prefix)
    except OrchestratorError as exc:
        return Check("branch names", False, str(exc))
    if not bad:
        return Check("branch names", True, f"every {prefix}/*/impl-* branch names a valid area")
    return Check("branch names", False, f"{', '.join(bad)}: the name breaks the rule "
                 f"{bad_area_rule(prefix)}; conflict scans include them, but no agent can be "
                 "registered for them: rename them (`git branch -m OLD NEW`)")  # fmt: skip
