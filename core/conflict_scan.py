"""The conflict scans: ``check-conflicts`` (one branch, :mod:`.conflict_check`) and
``detect-conflicts`` (every active feature, here). The branch naming rules the scans
read are in :mod:`.conflict_branches`; every public name of the three is importable
from this module."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from .conflict_branches import (
    FeatureBranches,
    Misnamed,
    bad_area_rule,
    bad_spec_rule,
    branch_groups,
    check_history,
    feature_branches,
    listing,
    misnamed,
    misnamed_branches,
    scan_role,
    spec_problem,
)
from .conflict_check import FileTouch, PairResult, check_conflicts
from .errors import NotFoundError
from .models import Event, FoundConflict
from .models_vcs import MergeResult
from .protocols_vcs import VCS
from .store_service import Store
from .workflow import require_git

if TYPE_CHECKING:
    from .api import Orchestrator
    from .config import Config

__all__ = [
    "FeatureScan", "FileTouch", "Misnamed", "PairResult", "UncomparedPair", "bad_area_rule",
    "bad_spec_rule", "check_conflicts", "detect_conflicts", "misnamed", "misnamed_branches",
]  # fmt: skip

#: (branch a, branch b, commit of a, commit of b)
Pair = tuple[str, str, str, str]


class UncomparedPair(NamedTuple):
    """A pair of branches git cannot merge at all: neither clean nor conflicted."""

    branch: str
    other_branch: str
    error: str


class FeatureScan(NamedTuple):
    spec_id: str
    pairs: int
    conflicts: list[FoundConflict]
    opened: int
    resolved: int
    recorded: bool
    #: every note joined by "; " (kept for older readers of the JSON); see ``notes``
    note: str | None = None
    #: what the reader must know: skipped or misnamed branches, an overseer branch that
    #: exists only as a remote-tracking branch, pairs not compared, conflicts not recorded
    notes: list[str] = []  # noqa: RUF012 - a NamedTuple default, never mutated
    #: pairs git could not merge at all (unrelated histories): neither clean nor conflicted
    not_comparable: list[UncomparedPair] = []  # noqa: RUF012


class _Plan(NamedTuple):
    """One feature's pairs to merge, and what was said about its branches so far."""

    pairs: list[Pair]
    #: the commit whose ``.gitattributes`` the merges use: the overseer branch's tip
    attributes: str | None
    notes: list[str]


def _attribute_for_store(
    found: FoundConflict, registered: set[str], roles: dict[str, str | None]
) -> FoundConflict | None:
    """The conflict as the store records it: on a registered agent's side.

    A branch nobody registered (``impl-extra``, or one named against the area rule) has
    no agent: the conflict goes to the registered side (its ``other_role`` left empty),
    or to the overseer when neither side is registered; None when there is no overseer.
    """
    mine, theirs = roles.get(found.branch), roles.get(found.other_branch)
    if mine is not None:
        return found._replace(role=mine, other_role=theirs)
    if theirs is not None:
        return found._replace(role=theirs, branch=found.other_branch, other_role=None,
                              other_branch=found.branch)  # fmt: skip
    if "overseer" in registered:
        return found._replace(role="overseer", other_role=None)
    return None


def _features(store: Store, groups: list[str]) -> tuple[list[str], set[str], list[str]]:
    """(spec ids to scan, those whose scans are recorded, branch groups not registered)."""
    if not store.exists():
        return groups, set(), []
    features = store.list_features()
    active = [f.spec_id for f in features if f.status == "in-progress"]
    if not active:
        return groups, set(), []
    known = {f.spec_id for f in features}
    # a group whose spec id breaks the rule can never be registered: scanned anyway
    unregistrable = [g for g in groups if g not in known and spec_problem(g)]
    not_in_store = [g for g in groups if g not in known and not spec_problem(g)]
    return active + unregistrable, set(active), not_in_store


def _branch_notes(found: FeatureBranches, prefix: str, overseer: str) -> list[str]:
    """What to say about a feature's misnamed, remote-disagreeing, stale local and
    skipped branches."""
    said = list(found.remote_notes)
    if found.misnamed:
        said.append(f"scanned {', '.join(found.misnamed)} although the name breaks the "
                    f"rule {bad_area_rule(prefix)}: rename it (`git branch -m`)")  # fmt: skip
    if found.deeper:
        said.append(f"skipped {', '.join(found.deeper)}: a '/' after the overseer or "
                    f"impl-<area> name (scans read {prefix}/<spec-id>/overseer and "
                    f"{prefix}/<spec-id>/impl-<area> only): rename it "
                    "(`git branch -m`)")  # fmt: skip
    behind = [f"{b} ({r}'s)" for b, r in found.behind.items() if b != overseer]
    if behind:
        said.append(f"local branches behind their remote-tracking ones, scanned at the "
                    f"remote's tip: {', '.join(behind)} (moved on elsewhere; update the "
                    "local one with `git merge --ff-only` where it is checked out, or "
                    "delete it)")  # fmt: skip
    other = [b for b in found.skipped if b not in found.deeper]
    if other:
        said.append(f"skipped {', '.join(other)}: not an overseer or "
                    "impl-<area> branch")  # fmt: skip
    return said


def _plan(config: Config, found: FeatureBranches, spec_id: str) -> _Plan:
    """The pairs of one feature: each implementor with the overseer, and every two
    implementors with each other."""
    prefix = config.branch_prefix
    branches = found.tips
    overseer = config.overseer_branch(spec_id)
    impls = sorted(b for b in branches if b != overseer)
    said: list[str] = []
    if spec_problem(spec_id):
        said.append(f"the spec id {spec_id!r} breaks the rule {bad_spec_rule(prefix)}: "
                    "scanned, but it cannot be registered, so nothing is recorded: rename "
                    "the branches (`git branch -m OLD NEW`)")  # fmt: skip
    pairs: list[Pair] = []
    if not branches:
        said.append("no branch of this feature found (locally or remote-tracking): nothing scanned")
    elif overseer in branches:
        pairs += [(b, overseer, branches[b], branches[overseer]) for b in impls]
        if overseer in found.behind:
            said.append(f"the local overseer branch {overseer} is behind "
                        f"{found.behind[overseer]}'s: scanned that")  # fmt: skip
        elif overseer in found.remote_only:
            said.append(f"overseer branch {overseer} exists only as a remote-tracking "
                        "branch: scanned that")  # fmt: skip
    else:
        said.append(f"overseer branch {overseer} is missing: only sibling pairs scanned")
    for i, a in enumerate(impls):
        for b in impls[i + 1 :]:
            pairs.append((a, b, branches[a], branches[b]))
    return _Plan(pairs, branches.get(overseer), said + _branch_notes(found, prefix, overseer))


def _merge(
    vcs: VCS, plans: dict[str, _Plan], progress: Callable[[str], None] | None
) -> dict[tuple[str | None, str, str], MergeResult]:
    """Every pair of every feature merged in memory, one batch per attributes source."""
    every = [(p[2], p[3]) for plan in plans.values() for p in plan.pairs]
    if progress is not None and every:
        progress(f"merging {len(every)} branch pairs in memory...")
    check_history(vcs, every[:1])
    by_source: dict[str | None, list[tuple[str, str]]] = {}
    for plan in plans.values():
        by_source.setdefault(plan.attributes, []).extend((p[2], p[3]) for p in plan.pairs)
    merged: dict[tuple[str | None, str, str], MergeResult] = {}
    for source, commit_pairs in by_source.items():
        outcomes = vcs.merge_conflicts(list(dict.fromkeys(commit_pairs)), attributes_from=source)
        merged.update({(source, *pair): outcome for pair, outcome in outcomes.items()})
    return merged


def _found(
    prefix: str, plan: _Plan, merged: dict[tuple[str | None, str, str], MergeResult]
) -> tuple[list[FoundConflict], list[UncomparedPair], list[tuple[str, str]]]:
    """(conflicts found, pairs git could not compare, pairs compared) of one feature."""
    found_now: list[FoundConflict] = []
    uncompared: list[UncomparedPair] = []
    compared: list[tuple[str, str]] = []
    for a, b, ca, cb in plan.pairs:
        outcome = merged[(plan.attributes, ca, cb)]
        if outcome.error:
            uncompared.append(UncomparedPair(a, b, outcome.error))
            plan.notes.append(f"{a} vs {b}: not comparable: {outcome.error}")
            continue
        compared.append((a, b))
        if not outcome.conflicted:
            continue
        role_a = scan_role(prefix, a)
        role_b = scan_role(prefix, b)
        assert role_a is not None and role_b is not None
        severity = "critical" if role_b.role == "overseer" else "warning"
        found_now.append(FoundConflict(role_a.role, a, role_b.role, b, list(outcome.files),
                                       severity))  # fmt: skip
    return found_now, uncompared, compared


class _Recorded(NamedTuple):
    opened: int
    resolved: int
    events: list[Event]


def _record(
    store: Store,
    prefix: str,
    spec_id: str,
    plan: _Plan,
    found_now: list[FoundConflict],
    compared: list[tuple[str, str]],
) -> _Recorded | None:
    """Reconcile the scan with the store's open conflicts; None when it was refused."""
    said = plan.notes
    registered = {agent.role for agent in store.list_agents(spec_id)}
    roles: dict[str, str | None] = {}
    for a, b, _, _ in plan.pairs:
        for name in (a, b):
            role = scan_role(prefix, name)
            roles[name] = role.role if role and role.role in registered else None
    unregistered = sorted(n for n, r in roles.items() if r is None)
    if unregistered:
        said.append(
            f"not registered in the store: {', '.join(unregistered)} (their "
            "conflicts are recorded on the other side, or the overseer)"
        )
    to_record = []
    for item in found_now:
        stored = _attribute_for_store(item, registered, roles)
        if stored is None:
            said.append(
                f"{item.branch} vs {item.other_branch}: not recorded (no registered "
                "agent on either side, and no overseer agent)"
            )
        else:
            to_record.append(stored)
    try:
        new, gone, events = store.record_scan(spec_id, compared, to_record)
    except NotFoundError as exc:
        said.append(f"scan not recorded: {exc}")
        return None
    return _Recorded(len(new), len(gone), events)


def detect_conflicts(
    orch: Orchestrator, *, progress: Callable[[str], None] | None = None
) -> list[FeatureScan]:
    """Scan every active feature's branch pairs in one batch of in-memory merges.

    Features come from the store (in-progress ones); without a store, every
    ``<prefix>/<spec>/`` branch group. Local branches are used, and remote-tracking ones
    (``origin/...``) where no local branch exists, so a fresh clone is scanned too, or
    where the local one is behind (another machine moved the branch on: every machine
    scans the same tips, and so records the same conflicts).
    Conflicts are recorded once per pair and file set, and resolved automatically when
    they disappear. Merges use the overseer branch's ``.gitattributes`` (the branch every
    implementor's work is merged into); without an overseer branch, the first branch's.

    :param progress: told ``merging N branch pairs in memory...`` before the merges
        start (when there is a pair); the library prints nothing itself.
    """
    config = orch.config
    vcs: VCS = require_git(orch)
    prefix = config.branch_prefix
    store = orch.store_plugin()
    tips = listing(vcs, f"{prefix}/**")
    local = frozenset(vcs.local_branches())
    specs, recorded, not_in_store = _features(store, branch_groups(tips, prefix))
    plans = {s: _plan(config, feature_branches(tips, prefix, s, local), s) for s in specs}
    merged = _merge(vcs, plans, progress)
    scans = []
    all_events: list[Event] = []
    for spec_id, plan in plans.items():
        found_now, uncompared, compared = _found(prefix, plan, merged)
        done = None
        if spec_id in recorded:
            done = _record(store, prefix, spec_id, plan, found_now, compared)
        if done is not None:
            all_events += done.events
        said = plan.notes
        scans.append(FeatureScan(spec_id, len(plan.pairs), found_now,
                                 done.opened if done else 0, done.resolved if done else 0,
                                 done is not None, "; ".join(said) or None, said,
                                 uncompared))  # fmt: skip
    for spec_id in not_in_store:
        note = (f"branch group {spec_id} is not registered: not scanned; register it with "
                f"`claude-orchestrator events add-feature {spec_id} NAME`")  # fmt: skip
        scans.append(FeatureScan(spec_id, 0, [], 0, 0, False, note, [note]))
    if all_events:
        orch.notify(*all_events)
    return scans
