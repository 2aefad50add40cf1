"""Text output of the commands: every table and multi-line report the CLI prints.

Each function takes what a library call returned and gives the text (no I/O); the
command prints it. JSON output is :func:`..render.to_json` of the same value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..labels import pr_label
from ..render import table

if TYPE_CHECKING:
    from ..conflict_scan import FeatureScan, PairResult
    from ..doctor import Check
    from ..feature_setup import InitFeatureResult
    from ..generate import GenerateResult
    from ..manager import PluginInfo
    from ..models import (
        Agent,
        Blocker,
        Conflict,
        FeatureRegistration,
        PullRequest,
        StoreInfo,
        TestResult,
    )
    from ..models_vcs import HookState
    from ..testrun import TestRun
    from ..worktree_setup import SetupResult


def store_line(info: StoreInfo) -> str:
    if info.created:
        return f"created event store {info.location} (schema v{info.schema_version})"
    if info.migrated_from is not None:
        return (
            f"migrated event store {info.location} from schema v{info.migrated_from} "
            f"to v{info.schema_version}"
        )
    return f"event store {info.location} is ready (schema v{info.schema_version})"


def store_info(info: StoreInfo) -> str:
    counts = ", ".join(f"{k} {n}" for k, n in (info.counts or {}).items())
    written = f"schema v{info.schema_version} (written by {info.written_by})"
    return f"{info.location}\n{written}\n{counts}"


def plugins(infos: Sequence[PluginInfo]) -> str:
    rows = [
        [
            i.name,
            i.version,
            "built-in" if i.builtin else "entry point",
            ", ".join(i.implementations) or "-",
            ", ".join(i.hooks) or "-",
            f"FAILED: {i.error}" if i.error else "ok",
        ]
        for i in infos
    ]
    return table(("name", "version", "source", "implements", "hooks", "status"), rows)


def feature_added(done: FeatureRegistration, agents: Sequence[Agent]) -> str:
    feature = done.feature
    if done.added:
        roles = ", ".join(a.role for a in agents)
        return f"feature {feature.spec_id} added with {len(agents)} agents: {roles}"
    verb = "set to" if done.previous_name is not None else "already"
    text = f"feature {feature.spec_id} already registered: name {verb} {feature.name!r}"
    if done.agents_added:
        text += "; agents added: " + ", ".join(a.role for a in done.agents_added)
    return text


def conflicts(found: Sequence[Conflict]) -> str:
    if not found:
        return "No open conflicts."
    rows = [
        [c.id, c.spec_id, c.role, c.severity, "resolved" if c.resolved else "open",
         ", ".join(c.files)]
        for c in found
    ]  # fmt: skip
    return table(("id", "spec", "role", "severity", "state", "files"), rows)


def blockers(found: Sequence[Blocker]) -> str:
    if not found:
        return "No active blockers."
    rows = [
        [b.id, b.spec_id, b.role, b.blocker_type, b.status, b.blocking_role, b.description]
        for b in found
    ]
    return table(("id", "spec", "role", "type", "status", "blocked by", "description"), rows)


TEST_HEADERS = ("id", "spec", "role", "type", "status", "passed", "failed", "skipped",
                "commit", "when")  # fmt: skip


def test_results(found: Sequence[TestResult]) -> str:
    if not found:
        return "No test results yet."
    rows = [
        [t.id, t.spec_id, t.role, t.test_type, t.status, t.tests_passed, t.tests_failed,
         t.tests_skipped, (t.commit_hash or "")[:7], t.created_at]
        for t in found
    ]  # fmt: skip
    return table(TEST_HEADERS, rows)


def init_feature(result: InitFeatureResult) -> str:
    lines = [
        f"feature {result.spec_id}"
        + (" registered" if result.feature_created else " (already registered)")
    ]
    for branch, state in result.branches.items():
        tree = result.worktrees.get(branch)
        where = ""
        if tree is not None:
            made = " (created)" if tree[1] else ""
            where = f", worktree {tree[0]}" + (" (repaired)" if branch in result.repaired
                                               else made)  # fmt: skip
        lines.append(f"  {branch}: {state}{where}")
        if (setup := result.setup.get(branch)) is not None:
            lines += [f"    {line}" for line in setup_lines(setup)]
    if result.agents_added:
        lines.append(f"  agents added: {', '.join(result.agents_added)}")
    return "\n".join(lines)


def setup_lines(setup: SetupResult) -> list[str]:
    """What ``worktrees.setup`` did in one worktree, one line per kind (none: nothing)."""
    lines = []
    for label, names in (("copied", setup.copied), ("linked", setup.linked),
                         ("kept (already there)", setup.kept),
                         ("not in the main checkout", setup.missing),
                         ("refused (a folder on the way is a symlink)", setup.refused),
                         ("ran", setup.ran)):  # fmt: skip
        if names:
            lines.append(f"{label}: {', '.join(names)}")
    if setup.not_run:
        lines.append(f"not run: {', '.join(setup.not_run)} ({setup.why_not_run})")
    lines.append(f"ports {setup.ports.base}-{setup.ports.base + setup.ports.block - 1} "
                 f"(PORT={setup.ports.port})")  # fmt: skip
    return lines


def check_conflicts(results: Sequence[PairResult]) -> str:
    lines = []
    for r in results:
        if r.error:
            lines.append(f"{r.branch} vs {r.other_branch}: NOT COMPARABLE ({r.error})")
            continue
        if not r.conflicted:
            lines.append(f"{r.branch} vs {r.other_branch}: clean")
            continue
        lines.append(f"{r.branch} vs {r.other_branch}: CONFLICT")
        if not r.files:
            lines.append("  (a directory-rename conflict that names no file)")
        for touch in r.touches:
            lines.append(f"  {touch.path}")
            for label, commits in (("ours", touch.ours), ("theirs", touch.theirs)):
                for commit, subject in commits[:3]:
                    lines.append(f"    {label:<6} {commit[:7]} {subject}")
    return "\n".join(lines) if lines else "no sibling branches to check"


def detect_conflicts(scans: Sequence[FeatureScan]) -> str:
    """One line per conflict and note; empty when nothing was found (cron stays quiet)."""
    lines = []
    for scan in scans:
        for c in scan.conflicts:
            files = ", ".join(c.files) or "(directory-rename conflict)"
            lines.append(f"{scan.spec_id}: {c.severity}: {c.branch} vs {c.other_branch}: {files}")
        lines += [f"{scan.spec_id}: note: {note}" for note in scan.notes]
    return "\n".join(lines)


def hook_states(states: Sequence[HookState]) -> str:
    return "\n".join(
        f"{s.hook}: {'installed' if s.installed else 'not installed'}"
        + (" (chains the previous hook)" if s.chained else "")
        + f"  {s.path}"
        for s in states
    )


def generated(result: GenerateResult, check: bool) -> list[str]:
    """generate's lines after its diff: what is stale (--check) or what was written."""
    if check:
        lines = [f"{f['state']}: {f['path']}" for f in result.files if f["state"] != "ok"]
    else:
        lines = [f"wrote {path}" for path in result.changed]
    return lines or [f"{len(result.files)} generated files are up to date"]


def test_runs(runs: Sequence[TestRun]) -> list[str]:
    """run-tests's summary lines (to stderr: stdout carries the tests' own output)."""
    lines = []
    for r in runs:
        if r.error is not None:
            continue
        counts = (f" ({r.passed} passed, {r.failed or 0} failed, {r.skipped or 0} "
                  "skipped)" if r.total is not None else "")  # fmt: skip
        lines.append(f"{r.test_type}: {r.status}{counts} in {r.duration_ms} ms")
    return lines


def pr_opened(pr: PullRequest) -> str:
    return (f"PR #{pr_label(pr.id, pr.pr_number)} opened: {pr.head_branch} -> "
            f"{pr.base_branch}" + (f" {pr.url}" if pr.url else ""))  # fmt: skip


def prs(found: Sequence[PullRequest]) -> str:
    if not found:
        return "No pull requests."
    rows = [[pr_label(p.id, p.pr_number), p.spec_id, p.role, p.status, p.head_branch, p.title]
            for p in found]  # fmt: skip
    return table(("#", "spec", "role", "status", "head", "title"), rows)


def doctor(checks: Sequence[Check]) -> str:
    def mark(check: Check) -> str:
        if not check.ok:
            return "FAIL"
        return "warn" if check.level == "warning" else "ok "

    return "\n".join(f"{mark(c)} {c.name}: {c.detail}" for c in checks)
