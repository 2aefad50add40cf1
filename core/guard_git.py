"""git for the guard: global options, aliases, and a grammar per subcommand.

An implementor may run the git subcommands listed in :data:`SUBCOMMANDS`, with the
options each one's grammar knows (parse-options abbreviations resolved), on its own
branch and in its own worktree. Whatever names a ref is checked: nothing but the own
branch (and new, unprotected names) may be checked out, created, moved, deleted, pushed
to, fetched into or rebased. Whatever writes the worktree (``restore``, ``checkout --``,
``rm``, ``mv``, ``clean``, ``apply``) has its paths checked. The overseer may do all of
it, but not force-push or delete the main branch, nor delete an implementor branch whose
work is not merged into the overseer branch.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import _deny, _parse
from .guard_git_grammars import SUBCOMMANDS
from .guard_git_refs import _refspec_dst
from .guard_options import grammar
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_context import Context
    from .guard_walk import Walker

# fmt: off
GLOBAL_FLAGS = {"--no-pager", "-p", "--paginate", "-P", "--no-replace-objects",
                "--literal-pathspecs", "--glob-pathspecs", "--noglob-pathspecs",
                "--icase-pathspecs", "--no-optional-locks", "--no-advice", "--no-lazy-fetch"}
# fmt: on
INFO_FLAGS = {
    "--version",
    "--help",
    "-h",
    "--html-path",
    "--man-path",
    "--info-path",
    "--exec-path",
}  # fmt: skip
#: ``git -c`` keys an implementor may set (lower case; ``alias.*`` is expanded instead)
SAFE_CONFIG = ("color.", "advice.", "log.", "status.", "column.", "user.name", "user.email",
               "core.quotepath", "diff.renames", "diff.noprefix", "diff.colormoved",
               "diff.algorithm", "pull.rebase", "rebase.autosquash", "rebase.autostash",
               "merge.conflictstyle", "init.defaultbranch", "grep.linenumber",
               "format.pretty", "i18n.")  # fmt: skip

#: subcommands whose operands name refs or configuration: no computed operand
REF_SENSITIVE = {"checkout", "switch", "branch", "tag", "push", "fetch", "pull", "rebase",
                 "config", "stash", "worktree", "remote", "reset", "symbolic-ref",
                 "ls-remote"}  # fmt: skip
MERGES = {"merge", "merge-recursive", "merge-ours", "merge-resolve", "merge-octopus",
          "merge-subtree"}  # fmt: skip
TREE_CHANGING = {"checkout", "switch", "reset", "stash", "rebase", "pull", "cherry-pick",
                 "revert", "restore", "clean", "apply", "rm", "mv"}  # fmt: skip


def git(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    _git(walker, args, cwd, {}, 0)
    return None


def _git(walker: Walker, args: list[Word], cwd: Path | None, aliases: dict[str, str],
         depth: int) -> None:  # fmt: skip
    from .guard_context import unanalysable
    from .guard_paths import _inside

    context = walker.context
    implementor = context.implementor
    later: list[str] = []  # refusals reported after a merge is (more precisely) refused
    i = 0
    while i < len(args) and args[i].text.startswith("-"):
        word = args[i]
        text = word.text
        if word.dynamic:
            unanalysable(context, f"git with a computed option ({text})")
            return
        value = args[i + 1].text if i + 1 < len(args) else None
        if text == "-C" and value is not None:
            if args[i + 1].dynamic:
                unanalysable(context, "git -C with a computed directory")
                return
            base = str(cwd) if cwd else ""
            walker.check_made(os.path.join(base, value), value)
            cwd = Path(os.path.realpath(os.path.join(base, value))) if (cwd or
                                                                          value.startswith("/")) \
                else None  # fmt: skip
            if implementor and (cwd is None or not _inside(cwd, context.root)):
                _deny(f"git -C {value} points outside your worktree: implementors run git in "
                      "their own worktree")  # fmt: skip
            i += 2
            continue
        if text == "-c" and value is not None:
            problem = _config_option(walker, value, aliases)
            if problem:
                later.append(problem)
            i += 2
            continue
        name, eq, attached = text.partition("=")
        if name in ("--git-dir", "--work-tree"):
            target = attached if eq else value
            i += 1 if eq else 2
            if implementor:
                own = context.git_dir if name == "--git-dir" else context.root
                base = str(cwd) if cwd else str(context.root)
                path = Path(os.path.realpath(os.path.join(base, target or "")))
                if not target or own is None or path != own:
                    _deny(f"git {name} {target} points outside your worktree: implementors run "
                          "git in their own worktree")  # fmt: skip
            continue
        if name in (
            "--namespace",
            "--super-prefix",
            "--config-env",
            "--exec-path",
            "--bare",
            "--list-cmds",
            "--attr-source",
        ):
            if name in INFO_FLAGS and not eq:
                return
            if implementor:
                later.append(f"git {name} is not allowed for implementors")
            i += 1 if eq or name == "--bare" else 2
            continue
        if text in GLOBAL_FLAGS:
            i += 1
            continue
        if text in INFO_FLAGS:
            return
        if implementor:
            _deny(f"git {text} is not an option the guard knows")
        i += 1
    if implementor:
        if cwd is None:
            unanalysable(context, "git after a computed `cd`")
            return
        if not _inside(cwd, context.root):
            _deny(f"git runs in {cwd}, outside your worktree: implementors run git in "
                  f"{context.root}")  # fmt: skip
    if i >= len(args):
        return
    head = args[i]
    if head.dynamic:
        unanalysable(context, f"git with a computed subcommand ({head.text})")
        return
    sub = head.text
    rest = args[i + 1 :]
    alias = aliases.get(sub.lower())
    if alias is not None:
        if alias.startswith("!"):
            unanalysable(context, f"git alias {sub} that runs a shell command")
            return
        if depth > 8:
            _deny(f"git alias {sub} expands too deeply")
        try:
            expanded = [Word(t, False, t) for t in shlex.split(alias)]
        except ValueError:
            _deny(f"git alias {sub}: cannot read its definition")
            return
        _git(walker, expanded + rest, cwd, aliases, depth + 1)
        return
    if implementor:
        if sub in MERGES:
            _deny("implementors may not merge; open a PR with `claude-orchestrator open-pr`")
        if later:
            _deny(later[0])
        _implementor(walker, sub, rest, cwd)
    else:
        _overseer(walker, sub, rest, cwd)


def _config_option(walker: Walker, pair: str, aliases: dict[str, str]) -> str | None:
    key, eq, value = pair.partition("=")
    lower = key.lower()
    if lower.startswith("alias."):
        aliases[lower[len("alias.") :]] = value if eq else "true"
        return None
    if walker.context.implementor and not lower.startswith(SAFE_CONFIG):
        return (f"git -c {key} is not allowed for implementors: it can make git run a "
                "program or change what it reads or writes")  # fmt: skip
    return None


# ---------------------------------------------------------------------- implementor
def _implementor(walker: Walker, sub: str, args: list[Word], cwd: Path | None) -> None:
    context = walker.context
    entry = SUBCOMMANDS.get(sub)
    if entry is None:
        _deny(f"git {sub} is not in the implementors' allow-list (branch work: status, diff, "
              "log, show, add, commit, restore, rm, mv, stash, switch, checkout, branch, "
              f"rebase {context.overseer_branch or '<overseer branch>'}, pull --rebase, "
              "fetch, push of your branch; add others to guard.allow)")  # fmt: skip
        return
    spec, check = entry
    for word in args:
        if word.text.startswith("--pathspec-f"):
            _deny(f"git {sub} --pathspec-from-file: name the files on the command line")
    parsed = _parse(walker, spec, args, f"git {sub}")
    if sub in REF_SENSITIVE:
        for word in parsed.all_operands:
            if word.dynamic:
                _deny(f"git {sub} with a computed argument ({word.text}): implementors write "
                      "branch, tag and config names out")  # fmt: skip
            if "@{" in word.text and sub not in ("reset", "rebase", "stash"):
                _deny(f"git {sub} {word.text}: name the branch (no @{{...}} forms)")
        values = [v for _, v in parsed.options if v]
        if any(v.startswith("\x00") for v in values):
            _deny(f"git {sub} with a computed option value: write it out")
        if any("@{" in v for v in values) and sub in ("checkout", "switch", "branch"):
            _deny(f"git {sub}: name the branch (no @{{...}} forms)")
    if check is not None:
        check(walker, parsed, cwd, sub)
    if sub in TREE_CHANGING:
        walker.tree_changed = True


# ---------------------------------------------------------------------- overseer
OVERSEER_PUSH = grammar("nfdquv46", "o", open=True, long_optional=["force-with-lease", "signed"],
                        long_valued=["repo", "push-option", "receive-pack", "exec"])  # fmt: skip


def _overseer(walker: Walker, sub: str, args: list[Word], cwd: Path | None) -> None:
    context = walker.context
    if sub == "push":
        parsed = _parse(walker, OVERSEER_PUSH, args, "git push")
        if parsed.has("--mirror"):
            _deny(f"git push --mirror force-updates {context.config.main_branch}: push "
                  "branches by name")  # fmt: skip
        forcing = parsed.has("--force", "-f", "--force-with-lease", "--force-if-includes")
        deleting = parsed.has("--delete", "-d")
        for word in parsed.all_operands[1:]:
            text = word.text
            if word.dynamic:
                continue
            _, dst, plus = _refspec_dst(text)
            target = context.ref_name(dst)
            removing = deleting or (text.lstrip("+").startswith(":"))
            if target in context.main_names and (forcing or plus or removing):
                _deny(f"nobody force-pushes or deletes {target}, the overseer included")
            if removing and _unmerged_implementor(context, target):
                _deny(f"{target} holds work not merged into {context.overseer_branch}: "
                      "merge its PR or keep the branch")  # fmt: skip
            if parsed.has("--prune") and "*" in text:
                _deny("git push --prune with a pattern can delete implementor branches")
        return
    if sub in ("branch", "update-ref"):
        flags = {w.text for w in args if w.text.startswith("-")}
        deleting = bool(flags & {"-d", "-D", "--delete"}) or any(
            f.startswith("-") and not f.startswith("--") and set(f[1:]) & {"d", "D"} for f in flags
        )
        moving = bool(flags & {"-m", "-M", "--move"})
        if not (deleting or moving):
            return
        for word in args:
            if word.text.startswith("-"):
                continue
            name = context.ref_name(word.text)
            if name in context.main_names:
                _deny(f"nobody deletes or renames {name}, the overseer included")
            if deleting and _unmerged_implementor(context, name):
                _deny(f"{name} holds work not merged into {context.overseer_branch}: "
                      "merge its PR or keep the branch")  # fmt: skip


def _unmerged_implementor(context: Context, name: str) -> bool:
    from .workflow import parse_branch

    parsed = parse_branch(context.config.branch_prefix, name)
    if parsed is None or parsed.role == "overseer":
        return False
    tip = context.vcs.resolve(f"refs/heads/{name}")
    if tip is None:
        return False
    return not context.vcs.is_ancestor(tip, f"refs/heads/{context.overseer_branch}")
