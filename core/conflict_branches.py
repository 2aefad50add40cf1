"""Which branches the conflict scans read: the naming rules, the branches that break
them, and one feature's branches out of a listing of the whole namespace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from . import validate as v
from .errors import ValidationError
from .models_vcs import BranchTip
from .protocols_vcs import VCS
from .workflow import BranchRole, parse_branch


def split_branch(prefix: str, branch: str) -> tuple[str, str] | None:
    """``(spec id, leaf)`` of ``<prefix>/<spec>/<leaf>``, whatever the spec id and leaf
    hold (the leaf may have a '/'); None for a name outside any branch group."""
    start = prefix.rstrip("/") + "/"
    spec_id, _, leaf = branch[len(start) :].partition("/")
    if not branch.startswith(start) or not spec_id or not leaf:
        return None
    return spec_id, leaf


def is_role_leaf(leaf: str) -> bool:
    return leaf == "overseer" or (leaf.startswith("impl-") and leaf != "impl-")


def scan_role(prefix: str, branch: str) -> BranchRole | None:
    """Like :func:`parse_branch`, but an ``overseer`` or ``impl-<anything>`` branch whose
    spec id or area breaks the naming rule (``001-X``, ``JIRA-12``, ``impl-1``,
    ``impl-fix_views``) counts: it is still somebody's work, and its conflicts are real.
    Its role can never be registered. A '/' after the leaf (``impl-api/v2``) does not
    count: that is no agent's branch."""
    parsed = parse_branch(prefix, branch)
    if parsed is not None:
        return parsed
    split = split_branch(prefix, branch)
    if split is None or "/" in split[1] or not is_role_leaf(split[1]):
        return None
    spec_id, leaf = split
    if leaf == "overseer":
        return BranchRole(spec_id, "overseer", None)
    area = leaf[len("impl-") :]
    return BranchRole(spec_id, v.role_for_area(area), area)


def spec_problem(spec_id: str) -> str | None:
    """Why ``spec_id`` breaks the naming rule; None when it keeps it."""
    try:
        v.check_spec_id(spec_id)
    except ValidationError as exc:
        return str(exc)
    return None


def area_breaks_rule(leaf: str) -> bool:
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
        split = split_branch(prefix, branch)
        if split is None or not is_role_leaf(split[1]):
            continue
        spec_id, leaf = split
        if "/" in leaf:
            deeper.append(branch)
        elif spec_problem(spec_id):
            spec.append(branch)
        elif leaf != "overseer" and area_breaks_rule(leaf):
            area.append(branch)
    return Misnamed(area, spec, deeper)


def misnamed_branches(vcs: VCS, prefix: str) -> list[str]:
    """Every branch :func:`misnamed` finds, in one sorted list."""
    return sorted(name for names in misnamed(vcs, prefix) for name in names)


class FeatureBranches(NamedTuple):
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
    #: branch -> remote, for the names in ``remote_only`` that have a local branch too,
    #: behind that remote's (moved on by another machine): the remote's tip is scanned
    behind: dict[str, str] = {}  # noqa: RUF012


def listing(vcs: VCS, pattern: str) -> dict[str, BranchTip]:
    """Branch -> tip (commit, remote or None, other remotes' tips) for ``pattern``."""
    return vcs.branch_tips(pattern, remotes=True)


def feature_branches(
    tips: dict[str, BranchTip], prefix: str, spec_id: str, local: frozenset[str] = frozenset()
) -> FeatureBranches:
    """The branches of one group, out of a :func:`listing` of the feature namespace.

    :param local: the local branches (``VCS.local_branches``): a remote-tracking tip
        listed for one of them replaced a local branch that is behind it.
    """
    every = {b: t for b, t in tips.items() if (split_branch(prefix, b) or ("",))[0] == spec_id}
    scanned = {b: t.commit for b, t in every.items() if scan_role(prefix, b) is not None}
    skipped = sorted(b for b in every if b not in scanned)
    notes = []
    for name in sorted(scanned):
        tip = every[name]
        if tip.remote and tip.others:
            others = ", ".join(f"{r}: {c[:12]}" for r, c in tip.others)
            notes.append(f"remotes disagree on {name}: using {tip.remote}'s {tip.commit[:12]} "
                         f"(checkout.defaultRemote, else origin, else an upstream's remote); "
                         f"other tips: {others}")  # fmt: skip
    return FeatureBranches(
        scanned,
        {b for b in scanned if every[b].remote is not None},
        skipped,
        sorted(b for b in scanned if b.rsplit("/", 1)[1] != "overseer"
               and area_breaks_rule(b.rsplit("/", 1)[1])),
        notes,
        [b for b in skipped
         if is_role_leaf((split_branch(prefix, b) or ("", ""))[1].split("/")[0])],
        {b: str(every[b].remote) for b in sorted(scanned)
         if every[b].remote is not None and b in local},
    )  # fmt: skip


def branch_groups(tips: dict[str, BranchTip], prefix: str) -> list[str]:
    """The spec ids of the branch groups that hold an overseer or ``impl-`` branch (or a
    name below one), whatever the spec id."""
    found = set()
    for branch in tips:
        split = split_branch(prefix, branch)
        if split is not None and is_role_leaf(split[1].split("/")[0]):
            found.add(split[0])
    return sorted(found)


def check_history(vcs: VCS, pairs: Sequence[tuple[str, str]]) -> None:
    """Refuse a shallow clone that lacks the merge base of a pair (the merges would lie)."""
    if vcs.is_shallow():
        for a, b in pairs:
            if vcs.merge_base(a, b) is None:
                raise ValidationError(
                    "this is a shallow clone without the merge base of the feature branches: "
                    "fetch the full history (`git fetch --unshallow`, or `fetch-depth: 0` in "
                    "actions/checkout)"
                )
