"""git for the guard: the subcommands an implementor may run, each with its options'
grammar and the check on its operands (:data:`SUBCOMMANDS`); see :mod:`~.guard_git`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_git_paths import (
    add,
    apply,
    clean,
    commit,
    format_patch,
    merge_file,
    mv,
    replay,
    reset,
    restore,
    rm,
)
from .guard_git_refs import (
    branch,
    checkout,
    config,
    fetch,
    pull,
    push,
    rebase,
    reflog,
    remote,
    stash,
    symbolic_ref,
    tag,
    worktree,
)
from .guard_options import Grammar, Parsed, grammar

if TYPE_CHECKING:
    from .guard_walk import Walker

Sub = Callable[["Walker", Parsed, "Path | None", str], None]


def read_only(*dangerous: str, short_valued: str = "") -> tuple[Grammar, Sub | None]:
    return grammar(short_valued=short_valued, open=True, dangerous=dangerous), None


def _g(
    short: str,
    valued: str,
    flags: str,
    values: str,
    check: Sub | None,
    *,
    optional: str = "",
    dangerous: str = "",
) -> tuple[Grammar, Sub | None]:
    """A subcommand grammar from space-separated long option names."""
    return grammar(
        short,
        valued,
        flags.split(),
        values.split(),
        long_optional=optional.split(),
        dangerous=dangerous.split(),
        negatable=True,
    ), check


OUTPUT = ("output",)
# fmt: off
SUBCOMMANDS: dict[str, tuple[Grammar, Sub | None]] = {
    **{name: read_only(*OUTPUT) for name in ("diff", "log", "show", "whatchanged", "range-diff",
                                             "diff-tree", "diff-index", "diff-files")},
    **{name: read_only() for name in (
        "status", "blame", "annotate", "ls-files", "ls-tree", "rev-parse", "rev-list",
        "cat-file", "describe", "shortlog", "merge-base", "cherry", "show-ref", "for-each-ref",
        "name-rev", "count-objects", "check-ignore", "check-attr", "var", "version", "help",
        "show-branch", "verify-commit", "verify-tag", "check-ref-format",
        "get-tar-commit-id", "merge-tree", "stripspace")},
    "interpret-trailers": read_only("in-place"),
    "add": (grammar(short_valued="", open=True, long_valued=["pathspec-from-file", "chmod"]),
            add),
    "commit": (grammar("aqsnvezS", "mFCcuSt", open=True, long_valued=["message", "file",
               "reuse-message", "reedit-message", "fixup", "squash", "author", "date",
               "cleanup", "template", "trailer", "pathspec-from-file", "untracked-files"],
               long_optional=["gpg-sign"]), commit),
    "grep": read_only("O", "open-files-in-pager"),
    "ls-remote": read_only("upload-pack", "exec"),
    "fsck": read_only("lost-found"),
    "reflog": (grammar(open=True), reflog),
    "symbolic-ref": (grammar("qd", "m", open=True), symbolic_ref),
    "checkout": _g("qfmpl", "bBt", "quiet force merge detach track no-track guess ours theirs "
                   "patch ignore-skip-worktree-bits ignore-other-worktrees overwrite-ignore "
                   "progress overlay pathspec-file-nul recurse-submodules",
                   "orphan conflict pathspec-from-file", checkout, optional="track"),
    "switch": _g("cCdfmqt", "cC", "detach force discard-changes merge quiet guess track "
                 "no-track ignore-other-worktrees progress recurse-submodules",
                 "create force-create orphan conflict", checkout, optional="track"),
    "branch": _g("adDfilmMcCqrtvu", "u", "delete create-reflog force move copy color list "
                 "show-current verbose quiet abbrev track no-track unset-upstream "
                 "edit-description remotes all ignore-case omit-empty recurse-submodules",
                 "set-upstream-to contains no-contains merged no-merged sort points-at format "
                 "column", branch, optional="color abbrev track column"),
    "tag": _g("adfilnsuvm", "mFu", "annotate delete force list sign verify ignore-case "
              "create-reflog no-sign edit omit-empty", "message file local-user contains "
              "no-contains merged no-merged points-at sort format cleanup trailer", tag,
              optional="column color n"),
    "rebase": _g("fikmnqvsCX", "sXCS", "interactive keep-base root autosquash autostash "
                 "keep-empty no-keep-empty continue abort skip quit edit-todo "
                 "show-current-patch force-rebase fork-point ignore-date "
                 "committer-date-is-author-date reset-author-date signoff quiet verbose stat "
                 "no-stat verify no-verify reapply-cherry-picks apply merge no-ff "
                 "ignore-whitespace reschedule-failed-exec allow-empty-message",
                 "onto strategy strategy-option whitespace empty", rebase,
                 optional="rebase-merges gpg-sign", dangerous="exec x update-refs"),
    "push": _g("nfdquv46", "o", "all branches mirror tags follow-tags dry-run porcelain delete "
               "force force-if-includes set-upstream quiet verbose progress no-verify verify "
               "atomic thin prune ipv4 ipv6", "push-option repo recurse-submodules", push,
               optional="force-with-lease signed", dangerous="receive-pack exec"),
    "fetch": _g("afknpPqtvj46", "jo", "all append atomic dry-run force keep multiple prefetch "
                "prune prune-tags tags no-tags quiet verbose progress unshallow "
                "update-shallow refetch ipv4 ipv6 show-forced-updates write-fetch-head "
                "porcelain auto-maintenance auto-gc set-upstream write-commit-graph",
                "depth deepen shallow-since shallow-exclude jobs filter negotiation-tip "
                "server-option recurse-submodules-default", fetch,
                optional="recurse-submodules",
                dangerous="upload-pack exec u update-head-ok stdin refmap"),
    "pull": _g("qvrnfkaj46", "sXj", "quiet verbose ff-only autostash all append force keep "
               "prune tags no-tags progress dry-run ipv4 ipv6 no-rebase stat unshallow "
               "allow-unrelated-histories", "depth deepen shallow-since jobs", pull,
               optional="rebase recurse-submodules",
               dangerous="upload-pack exec ff no-ff squash commit no-commit edit strategy s "
                         "X strategy-option refmap u update-head-ok"),
    "stash": _g("kpqua", "m", "keep-index no-keep-index patch quiet include-untracked all "
                "staged index only-untracked", "message pathspec-from-file", stash),
    "worktree": (grammar(open=True), worktree),
    "config": (grammar("lez", "f", open=True), config),
    "remote": (grammar("v", open=True), remote),
    "restore": _g("sWSpqm", "s", "worktree staged ours theirs merge ignore-unmerged overlay "
                  "quiet progress patch ignore-skip-worktree-bits pathspec-file-nul "
                  "recurse-submodules", "source conflict pathspec-from-file", restore),
    "reset": _g("qpN", "", "soft mixed hard merge keep quiet patch intent-to-add refresh "
                "pathspec-file-nul recurse-submodules", "pathspec-from-file", reset),
    "rm": _g("fnqr", "", "force dry-run quiet cached ignore-unmatch sparse pathspec-file-nul",
             "pathspec-from-file", rm),
    "mv": _g("fkvn", "", "force dry-run verbose sparse", "", mv),
    "clean": _g("dfinqxX", "e", "dry-run force interactive quiet", "exclude", clean),
    "apply": _g("3CRvz", "pC", "check stat numstat summary index cached intent-to-add 3way "
                "reverse reject recount allow-empty no-add binary verbose quiet "
                "inaccurate-eof allow-overlap apply", "whitespace include exclude "
                "build-fake-ancestor", apply, dangerous="directory unsafe-paths"),
    "cherry-pick": _g("nesxS", "mX", "no-commit edit no-edit signoff ff allow-empty "
                      "allow-empty-message keep-redundant-commits continue abort skip quit "
                      "rerere-autoupdate no-rerere-autoupdate", "mainline strategy "
                      "strategy-option cleanup", replay, optional="gpg-sign"),
    "revert": _g("nesS", "mX", "no-commit edit no-edit signoff continue abort skip quit "
                 "rerere-autoupdate no-rerere-autoupdate", "mainline strategy "
                 "strategy-option cleanup", replay, optional="gpg-sign"),
    "merge-file": (grammar("pqL", "L", open=True), merge_file),
    "format-patch": (grammar(short_valued="ov", open=True, dangerous=OUTPUT), format_patch),
    "archive": (grammar(short_valued="o", open=True, dangerous=["remote", "exec", "output",
                                                                "o"]), None),
    "hash-object": (grammar(open=True, dangerous=["w", "stdin-paths"]), None),
}
# fmt: on
