"""The conflict scans: ``check-conflicts`` (one branch) and ``detect-conflicts`` (all)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from . import validate as v
from .errors import NotFoundError, ValidationError
from .models import Event, FoundConflict
from .models_vcs import BranchTip
from .protocols_vcs import VCS
from .workflow import BranchRole, _current_feature_branch, parse_branch, require_git


class FileTouch(NamedTuple):
    path: str
    #: (commit, subject) on each side since the merge base, newest first
    ours: list[tuple[str, str]]
    theirs: list[tuple[str, str]]


class PairResult(NamedTuple):
    branch: str
    other_branch: str
    other_role: str | None
    conflicted: bool
    files: list[str]
    touches: list[FileTouch]
    #: why git could not merge the pair at all (unrelated histories); None when it did
    error: str | None = None


class UncomparedPair(NamedTuple):
    """A pair of branches git cannot merge at all: neither clean nor conflicted."""

    branch: str
    other_branch: str
    error: str


def _split(prefix: str, branch: str) -> tuple[str, str] | None:
    """``(spec id, leaf)`` of ``<prefix>/<spec>/<leaf>``, whatever the spec id and leaf
    hold (the leaf may have a '/'); None for a name outside any branch group."""
    start = prefix.rstrip("/") + "/"
    spec_id, _, leaf = branch[len(start) :].partition("/")
    if not branch.startswith(start) or not spec_id or not leaf:
        return None
    return spec_id, leaf


def _is_role_leaf(leaf: str) -> bool:
    return leaf == "overseer" or (leaf.startswith("impl-") and leaf != "impl-")


def _scan_role(prefix: str, branch: str) -> BranchRole | None:
    """Like :func:`parse_branch`, but an ``overseer`` or ``impl-<anything>`` branch whose
    spec id or area breaks the naming rule (``001-X``, ``JIRA-12``, ``impl-1``,
    ``impl-fix_views``) counts: it is still somebody's work, and its conflicts are real.
    Its role can never be registered. A '/' after the leaf (``impl-api/v2``) does not
    count: that is no agent's branch."""
    parsed = parse_branch(prefix, branch)
    if parsed is not None:
        return parsed
    split = _split(prefix, branch)
    if split is None or "/" in split[1] or not _is_role_leaf(split[1]):
        return None
    spec_id, leaf = split
    if leaf == "overseer":
        return BranchRole(spec_id, "overseer", None)
    area = leaf[len("impl-") :]
    return BranchRole(spec_id, v.role_for_area(area), area)


def _spec_problem(spec_id: str) -> str | None:
    """Why ``spec_id`` breaks the naming rule; None when it keeps it."""
    try:
        v.check_spec_id(spec_id)
    except ValidationError as exc:
        return str(exc)
    return None


def _area_breaks_rule(leaf: str) -> bool:
    try:
        v.check_area(leaf.removeprefix("impl-"))
    except ValidationError:
        return True
    return False


def bad_area_rule(prefix: str) -> str:
    """The naming rule an ``impl-`` branch breaks when its area is not valid."""
    return (
        f"{prefix}/<spec-id>/impl-<area> with <area> in lowercase letters, digits and "
        f"single '-', starting with a letter, at most {v.AREA_MAX} characters"
    )


def bad_spec_rule(prefix: str) -> str:
    """The naming rule a branch group breaks when its spec id is not valid."""
    return (
        f"{prefix}/<spec-id>/... with <spec-id> in lowercase letters, digits, '.' and '-', "
        "starting and ending with a letter or digit, no '..'"
    )


class Misnamed(NamedTuple):
    """Branches of the feature namespace that break the naming rule."""

    #: ``impl-<area>`` with an area against the rule: scanned, never registered
    area: list[str]
    #: overseer or implementor branches of a spec id against the rule: scanned, never
    #: registered
    spec: list[str]
    #: a '/' after ``overseer`` or ``impl-<area>`` (``impl-api/v2``): not scanned
    deeper: list[str]


def misnamed(vcs: VCS, prefix: str) -> Misnamed:
    """The branches (local or remote-tracking) that break the naming rule, by how."""
    area: list[str] = []
    spec: list[str] = []
    deeper: list[str] = []
    for branch in sorted(vcs.list_branches(f"{prefix}/**", remotes=True)):
        split = _split(prefix, branch)
        if split is None or not _is_role_leaf(split[1]):
            continue
        spec_id, leaf = split
        if "/" in leaf:
            deeper.append(branch)
        elif _spec_problem(spec_id):
            spec.append(branch)
        elif leaf != "overseer" and _area_breaks_rule(leaf):
            area.append(branch)
    return Misnamed(area, spec, deeper)


def misnamed_branches(vcs: VCS, prefix: str) -> list[str]:
    """Every branch :func:`misnamed` finds, in one sorted list."""
    return sorted(name for names in misnamed(vcs, prefix) for name in names)


class _Branches(NamedTuple):
    #: branch -> commit: local branches, and remote-tracking ones where no local one exists
    tips: dict[str, str]
    #: the names in ``tips`` that exist only as remote-tracking branches
    remote_only: set[str]
    #: names in the feature's namespace that are no overseer or implementor branch
    skipped: list[str]
    #: implementor branches scanned although their area breaks the naming rule
    misnamed: list[str]
    #: what to say about remote-tracking tips chosen among remotes that disagree
    remote_notes: list[str] = []  # noqa: RUF012 - a NamedTuple default, never mutated
    #: names in ``skipped`` with a '/' after ``overseer`` or ``impl-<area>``
    deeper: list[str] = []  # noqa: RUF012


def _listing(vcs: VCS, pattern: str) -> dict[str, BranchTip]:
    """Branch -> tip (commit, remote or None, other remotes' tips) for ``pattern``."""
    return vcs.branch_tips(pattern, remotes=True)


def _feature_branches(listing: dict[str, BranchTip], prefix: str, spec_id: str) -> _Branches:
    """The branches of one group, out of a :func:`_listing` of the feature namespace."""
    every = {b: t for b, t in listing.items() if (_split(prefix, b) or ("",))[0] == spec_id}
    tips = {b: t.commit for b, t in every.items() if _scan_role(prefix, b) is not None}
    skipped = sorted(b for b in every if b not in tips)
    notes = []
    for name in sorted(tips):
        tip = every[name]
        if tip.remote and tip.others:
            others = ", ".join(f"{r}: {c[:12]}" for r, c in tip.others)
            notes.append(f"remotes disagree on {name}: using {tip.remote}'s {tip.commit[:12]} "
                         f"(checkout.defaultRemote, else origin, else an upstream's remote); "
                         f"other tips: {others}")  # fmt: skip
    return _Branches(
        tips,
        {b for b in tips if every[b].remote is not None},
        skipped,
        sorted(b for b in tips if b.rsplit("/", 1)[1] != "overseer"
               and _area_breaks_rule(b.rsplit("/", 1)[1])),
        notes,
        [b for b in skipped if _is_role_leaf((_split(prefix, b) or ("", ""))[1].split("/")[0])],
    )  # fmt: skip


def _check_history(vcs: VCS, pairs: Sequence[tuple[str, str]]) -> None:
    if vcs.is_shallow():
        for a, b in pairs:
            if vcs.merge_base(a, b) is None:
                raise ValidationError(
                    "this is a shallow clone without the merge base of the feature branches: "
                    "fetch the full history (`git fetch --unshallow`, or `fetch-depth: 0` in "
                    "actions/checkout)"
                )


def _branch_to_check(orch: Any, branch: str | None) -> tuple[str, BranchRole]:
    try:
        return _current_feature_branch(orch, branch)
    except ValidationError:
        name = branch or orch.vcs().current_branch()
        parsed = _scan_role(orch.config.branch_prefix, name) if name else None
        if name is None or parsed is None:
            raise
        return name, parsed


def check_conflicts(orch: Any, *, branch: str | None = None) -> list[PairResult]:
    """The current branch merged in memory with its overseer branch and each sibling.

    Works without an event store, on local or remote-tracking branches (CI). Every merge
    uses the overseer branch's ``.gitattributes``: implementor work is merged into that
    branch, in its worktree. A pair git cannot merge at all comes back with ``error``.
    """
    config = orch.config
    vcs = orch.vcs()
    name, parsed = _branch_to_check(orch, branch)
    prefix = config.branch_prefix
    branches = _feature_branches(_listing(vcs, f"{prefix}/{parsed.spec_id}/**"), prefix,
                                 parsed.spec_id).tips  # fmt: skip
    head = branches.get(name)
    if head is None and branch is not None and branch != vcs.current_branch():
        raise ValidationError(
            f"branch {branch} does not exist (locally or as a remote-tracking branch): "
            f"check the name (`git branch -a --list '{prefix}/{parsed.spec_id}/*'`), or "
            "fetch it"
        )
    head = head or vcs.resolve("HEAD")
    if head is None:
        raise ValidationError(
            f"{name} has no commits yet: commit your work on it, then run check-conflicts again"
        )
    overseer = config.overseer_branch(parsed.spec_id)
    if overseer not in branches:
        raise ValidationError(
            f"the overseer branch {overseer} does not exist (locally or as a remote-tracking "
            f"branch): fetch it, or create it with `claude-orchestrator init-feature "
            f"{parsed.spec_id}`"
        )
    others = [b for b in sorted(branches) if b != name]
    if parsed.role != "overseer":
        others = [overseer] + [b for b in others if b != overseer]
    pairs = [(head, branches[b]) for b in others]
    _check_history(vcs, pairs)
    merged = vcs.merge_conflicts(pairs, attributes_from=branches[overseer])
    results = []
    for other, pair in zip(others, pairs, strict=True):
        outcome = merged[pair]
        role = _scan_role(prefix, other)
        touches: list[FileTouch] = []
        if outcome.conflicted:
            touches = _attribute(vcs, pair[0], pair[1], outcome.files)
        results.append(PairResult(name, other, role.role if role else None, outcome.conflicted,
                                  list(outcome.files), touches,
                                  getattr(outcome, "error", None)))  # fmt: skip
    return results


def _attribute(vcs: VCS, ours: str, theirs: str, files: Sequence[str]) -> list[FileTouch]:
    """The commits on each side that touched each conflicting file, following renames:
    a file one side renamed (or moved with its directory) has another name on the other
    side, and the commits there touched that name."""
    base = vcs.merge_base(ours, theirs)
    if base is None:
        return [FileTouch(f, [], []) for f in files]
    mine = vcs.files_by_commit(base, ours)
    other = vcs.files_by_commit(base, theirs)
    renamed = [*vcs.renames(base, ours), *vcs.renames(base, theirs)]
    touches = []
    for path in files:
        names = _names_of(path, renamed)
        touches.append(FileTouch(
            path,
            [(c, s) for c, s, changed in mine if names.intersection(changed)],
            [(c, s) for c, s, changed in other if names.intersection(changed)],
        ))  # fmt: skip
    return touches


def _names_of(path: str, renamed: Sequence[tuple[str, str]]) -> set[str]:
    """Every name ``path`` has on either side: through the renames, and through the
    directories they moved (a file added under a directory the other side renamed is
    merged into the new directory)."""
    moved_dirs: dict[str, str] = {}
    for old, new in renamed:
        old_dir, _, old_name = old.rpartition("/")
        new_dir, _, new_name = new.rpartition("/")
        if old_dir != new_dir and old_name == new_name:
            moved_dirs[new_dir] = old_dir
    names = {path}
    while True:
        more = {o for o, n in renamed if n in names} | {n for o, n in renamed if o in names}
        for name in names:
            directory, _, leaf = name.rpartition("/")
            if directory in moved_dirs:
                more.add(f"{moved_dirs[directory]}/{leaf}".lstrip("/"))
        if more <= names:
            return names
        names |= more


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


def detect_conflicts(orch: Any) -> list[FeatureScan]:
    """Scan every active feature's branch pairs in one batch of in-memory merges.

    Features come from the store (in-progress ones); without a store, every
    ``<prefix>/<spec>/`` branch group. Local branches are used, and remote-tracking ones
    (``origin/...``) where no local branch exists, so a fresh clone is scanned too.
    Conflicts are recorded once per pair and file set, and resolved automatically when
    they disappear. Merges use the overseer branch's ``.gitattributes`` (the branch every
    implementor's work is merged into); without an overseer branch, the first branch's.
    """
    config = orch.config
    vcs = require_git(orch)
    prefix = config.branch_prefix
    store = orch.store_plugin()
    listing = _listing(vcs, f"{prefix}/**")
    groups = _groups(listing, prefix)
    specs: list[str] = []
    recorded: set[str] = set()
    not_in_store: list[str] = []
    if store.exists():
        features = store.list_features()
        specs = [f.spec_id for f in features if f.status == "in-progress"]
        recorded = set(specs)
        known = {f.spec_id for f in features}
        # a group whose spec id breaks the rule can never be registered: scanned anyway
        specs += [g for g in groups if g not in known and _spec_problem(g)]
        not_in_store = [g for g in groups if g not in known and not _spec_problem(g)]
    if not recorded:
        specs, not_in_store = groups, []
    plan: dict[str, list[tuple[str, str, str, str]]] = {}  # spec -> (a, b, commit_a, commit_b)
    notes: dict[str, list[str]] = {}
    attributes: dict[str, str | None] = {}
    for spec_id in specs:
        found = _feature_branches(listing, prefix, spec_id)
        branches = found.tips
        overseer = config.overseer_branch(spec_id)
        impls = sorted(b for b in branches if b != overseer)
        said = notes.setdefault(spec_id, [])
        if _spec_problem(spec_id):
            said.append(f"the spec id {spec_id!r} breaks the rule {bad_spec_rule(prefix)}: "
                        "scanned, but it cannot be registered, so nothing is recorded: rename "
                        "the branches (`git branch -m OLD NEW`)")  # fmt: skip
        pairs: list[tuple[str, str, str, str]] = []
        if not branches:
            said.append(
                "no branch of this feature found (locally or remote-tracking): nothing scanned"
            )
        elif overseer in branches:
            pairs += [(b, overseer, branches[b], branches[overseer]) for b in impls]
            if overseer in found.remote_only:
                said.append(f"overseer branch {overseer} exists only as a remote-tracking "
                            "branch: scanned that")  # fmt: skip
        else:
            said.append(f"overseer branch {overseer} is missing: only sibling pairs scanned")
        for i, a in enumerate(impls):
            for b in impls[i + 1 :]:
                pairs.append((a, b, branches[a], branches[b]))
        said += found.remote_notes
        if found.misnamed:
            said.append(f"scanned {', '.join(found.misnamed)} although the name breaks the "
                        f"rule {bad_area_rule(prefix)}: rename it (`git branch -m`)")  # fmt: skip
        if found.deeper:
            said.append(f"skipped {', '.join(found.deeper)}: a '/' after the overseer or "
                        f"impl-<area> name (scans read {prefix}/<spec-id>/overseer and "
                        f"{prefix}/<spec-id>/impl-<area> only): rename it "
                        "(`git branch -m`)")  # fmt: skip
        other = [b for b in found.skipped if b not in found.deeper]
        if other:
            said.append(f"skipped {', '.join(other)}: not an overseer or "
                        "impl-<area> branch")  # fmt: skip
        plan[spec_id] = pairs
        attributes[spec_id] = branches.get(overseer)
    every = [(p[2], p[3]) for pairs in plan.values() for p in pairs]
    total = len(every)
    if sys.stderr.isatty() and total:
        print(f"merging {total} branch pairs in memory...", file=sys.stderr)
    _check_history(vcs, every[:1])
    merged: dict[tuple[str | None, str, str], Any] = {}
    by_source: dict[str | None, list[tuple[str, str]]] = {}
    for spec_id, pairs in plan.items():
        by_source.setdefault(attributes[spec_id], []).extend((p[2], p[3]) for p in pairs)
    for source, commit_pairs in by_source.items():
        outcomes = vcs.merge_conflicts(list(dict.fromkeys(commit_pairs)), attributes_from=source)
        merged.update({(source, *pair): outcome for pair, outcome in outcomes.items()})
    scans = []
    all_events: list[Event] = []
    for spec_id, pairs in plan.items():
        said = notes[spec_id]
        found_now: list[FoundConflict] = []
        uncompared: list[UncomparedPair] = []
        compared: list[tuple[str, str]] = []
        for a, b, ca, cb in pairs:
            outcome = merged[(attributes[spec_id], ca, cb)]
            error = getattr(outcome, "error", None)
            if error:
                uncompared.append(UncomparedPair(a, b, error))
                said.append(f"{a} vs {b}: not comparable: {error}")
                continue
            compared.append((a, b))
            if not outcome.conflicted:
                continue
            role_a = _scan_role(prefix, a)
            role_b = _scan_role(prefix, b)
            assert role_a is not None and role_b is not None
            severity = "critical" if role_b.role == "overseer" else "warning"
            found_now.append(FoundConflict(role_a.role, a, role_b.role, b, list(outcome.files),
                                           severity))  # fmt: skip
        opened = resolved = 0
        saved = False
        if spec_id in recorded:
            registered = {agent.role for agent in store.list_agents(spec_id)}
            roles: dict[str, str | None] = {}
            for a, b, _, _ in pairs:
                for name in (a, b):
                    role = _scan_role(prefix, name)
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
            else:
                opened, resolved, saved = len(new), len(gone), True
                all_events += events
        scans.append(FeatureScan(spec_id, len(pairs), found_now, opened, resolved, saved,
                                 "; ".join(said) or None, said, uncompared))  # fmt: skip
    for spec_id in not_in_store:
        note = (f"branch group {spec_id} is not registered: not scanned; register it with "
                f"`claude-orchestrator events add-feature {spec_id} NAME`")  # fmt: skip
        scans.append(FeatureScan(spec_id, 0, [], 0, 0, False, note, [note]))
    if all_events:
        orch.notify(*all_events)
    return scans


def _groups(listing: dict[str, BranchTip], prefix: str) -> list[str]:
    """The spec ids of the branch groups that hold an overseer or ``impl-`` branch (or a
    name below one), whatever the spec id."""
    found = set()
    for branch in listing:
        split = _split(prefix, branch)
        if split is not None and _is_role_leaf(split[1].split("/")[0]):
            found.add(split[0])
    return sorted(found)
