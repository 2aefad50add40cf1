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
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_options import Grammar, Parsed, grammar, value_word
from .guard_programs import Cwds, _deny, _parse
from .shellparse import Word

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
Sub = Callable[["Walker", Parsed, "Path | None", str], None]
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


def _names(parsed: Parsed) -> list[str]:
    """Every operand, also those after ``--`` (``git branch -D -- x`` deletes x)."""
    return [w.text for w in parsed.all_operands]


def _literal_pathspecs(walker: Walker, words: list[Word], cwd: Path | None, what: str,
                       *, remove: bool = False) -> None:  # fmt: skip
    from .guard_files import _remove

    for word in words:
        text = word.text
        if word.dynamic or text.startswith(":") or re.search(r"[*?\[]", text):
            _deny(f"{what}: implementors name files literally (no pathspec patterns or magic: "
                  f"{text})")  # fmt: skip
        if remove:
            _remove(walker, cwd, word, what, tree=True)
        else:
            walker.write(cwd, word, what)
            from .guard_files import _tree

            base = str(cwd) if cwd else str(walker.context.root)
            for below in _tree(os.path.join(base, text)):  # git replaces links, not targets
                walker.write(None, Word(below, False, below), what, follow=False)


def _is_protected(context: Context, name: str) -> bool:
    return context.protected_ref(name) and context.ref_name(name) not in context.own


def _exists(context: Context, name: str) -> bool:
    vcs = context.vcs
    if vcs is None:
        return True
    try:
        return vcs.resolve(name) is not None
    except Exception:
        return True


def checkout(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    creating = parsed.values("-b", "-B", "-c", "-C", "--orphan", "--create", "--force-create")
    for name in creating:
        if context.ref_name(name) in context.own:
            continue
        bare = context.ref_name(name)
        if (
            bare in context.main_names
            or bare == "HEAD"
            or name.startswith("refs/")
            or context.protected_ref(name)  # any feature branch but the agent's own
        ):
            _deny(f"implementors may not create or reset {name} (another agent's branch or "
                  "the main branch): pick a new name")  # fmt: skip
    if (parsed.has("--detach", "-d") and sub == "switch") or parsed.has("--detach"):
        _deny(f"implementors stay on their branch {context.branch}: no detached HEAD (use "
              "git show or git diff to look at other commits)")  # fmt: skip
    operands = parsed.operands
    paths = parsed.after_dashdash
    dashdash = bool(parsed.after_dashdash) or any(n == "--" for n, _ in parsed.options)
    if sub == "checkout" and paths:
        _literal_pathspecs(walker, paths, cwd, "git checkout -- (writes those files)")
        return
    if sub == "checkout" and not creating and len(operands) >= 2:
        _literal_pathspecs(walker, operands[1:], cwd, "git checkout <tree> <paths>")
        return
    if sub == "checkout" and not creating and len(operands) == 1 and not dashdash:
        name = operands[0].text
        if not (context.protected_ref(name) or _exists(context, name)):
            _literal_pathspecs(walker, operands, cwd, "git checkout <paths>")
            return
    if creating:
        return  # the start point is only read
    targets = parsed.all_operands if sub == "switch" else operands
    for word in targets[:1]:
        name = word.text
        if context.ref_name(name) in context.own:
            continue
        if context.protected_ref(name) or context.ref_name(name) in context.main_names:
            _deny(f"implementors stay on their own branch {context.branch}: {sub} to {name} "
                  "is not allowed")  # fmt: skip
        if sub == "checkout" and not re.fullmatch(r"[A-Za-z0-9._/-]+", name):
            _deny(f"git checkout {name}: not a branch name the guard can check")
        if _looks_like_commit(context, name):
            _deny(f"implementors stay on their branch {context.branch}: no detached HEAD "
                  f"({name} is not a branch)")  # fmt: skip


def _looks_like_commit(context: Context, name: str) -> bool:
    vcs = context.vcs
    if vcs is None:
        return False
    try:
        return vcs.resolve(f"refs/heads/{name}") is None and vcs.resolve(name) is not None
    except Exception:
        return False


def branch(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    names = _names(parsed)
    changing = parsed.has("-f", "--force", "-d", "-D", "--delete", "-m", "-M", "--move",
                          "-c", "-C", "--copy")  # fmt: skip
    listing = parsed.has("-l", "--list", "-a", "--all", "-r", "--remotes", "--contains",
                         "--no-contains", "--merged", "--no-merged", "--points-at",
                         "--show-current", "-v", "--verbose")  # fmt: skip
    for upstream in parsed.values("-u", "--set-upstream-to"):
        if _is_protected(context, upstream) and context.ref_name(upstream) != \
                context.overseer_branch:  # fmt: skip
            _deny(f"implementors may not track {upstream}")
    if parsed.has("--edit-description"):
        _deny("git branch --edit-description opens an editor: not for implementors")
    if listing and not changing:
        return
    if parsed.has("-d", "-D", "--delete", "-m", "-M", "--move", "-c", "-C", "--copy") or \
            parsed.has("-f", "--force"):  # fmt: skip
        targets = names if names else [context.branch]
        if parsed.has("-m", "-M", "--move", "-c", "-C", "--copy") and len(names) == 1:
            targets = [context.branch, names[0]]
        for name in targets:
            if _is_protected(context, name) or context.ref_name(name) in context.main_names:
                _deny(f"implementors may not create, move, copy or delete branch {name}")
        return
    if names and (_is_protected(context, names[0]) or
                  context.ref_name(names[0]) in context.main_names):  # fmt: skip
        _deny(f"implementors may not create, move, copy or delete branch {names[0]}")


def tag(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    if parsed.has("-l", "--list", "-v", "--verify", "-n", "--contains", "--no-contains",
                  "--points-at", "--merged", "--no-merged") or not parsed.all_operands:  # fmt: skip
        return
    if parsed.has("-f", "--force", "-d", "--delete"):
        _deny("implementors may not replace or delete tags")
    name = parsed.all_operands[0].text
    if context.protected_ref(name) or context.ref_name(name) in context.main_names or \
            name in context.own:  # fmt: skip
        _deny(f"implementors may not name a tag {name}: it would shadow a branch")


def rebase(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    if parsed.has("--continue", "--abort", "--skip", "--quit", "--show-current-patch"):
        return
    names = _names(parsed)
    upstreams = [] if parsed.has("--root") else names[:1]
    upstreams += parsed.values("--onto")
    rebased = names[:1] if parsed.has("--root") else names[1:2]
    for name in upstreams:
        bare = context.ref_name(name)
        if context.protected_ref(name) and bare not in (context.overseer_branch,) and \
                bare not in context.main_names:  # fmt: skip
            _deny(f"implementors rebase onto {context.overseer_branch}, not onto {name} "
                  "(another agent's branch)")  # fmt: skip
    for name in rebased:
        if context.ref_name(name) not in context.own:
            _deny(f"implementors may not rebase {name}: only their own branch")


def _refspec_dst(spec: str) -> tuple[str, str, bool]:
    forced = spec.startswith("+")
    src, colon, dst = spec.lstrip("+").partition(":")
    return src, (dst if colon else src), forced


def _check_remote(word: Word) -> None:
    if word.dynamic or word.text.startswith(("ext::", "fd::")) or "::" in word.text:
        _deny(f"git: remote {word.text} runs a helper command: not allowed for implementors")


def push(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    if parsed.has("--all", "--mirror", "--prune", "--branches"):
        _deny("implementors push only their own branch, not --all/--mirror/--prune")
    if parsed.has("--no-verify"):
        _deny("implementors may not skip the pre-push hook (--no-verify)")
    operands = parsed.all_operands
    for repo in [*operands[:1], *(value_word(v) for v in parsed.values("--repo"))]:
        _check_remote(repo)
    specs = operands[1:]
    if not specs:
        return
    words = iter(specs)
    for word in words:
        if word.dynamic:
            _deny("git push with a computed refspec")
        text = word.text
        if text == "tag":
            name = next(words, None)
            named = context.ref_name(name.text) if name is not None else ""
            if name is not None and (
                context.protected_ref(name.text) or named in context.main_names
            ):
                _deny(f"implementors may not push a tag named {name.text}")
            continue
        if "*" in text:
            _deny(f"implementors push their branch by name, not a pattern ({text})")
        if ":" in text and text.rpartition(":")[2] in ("HEAD", "@"):
            _deny("implementors may not push to a branch named HEAD")
        if text.lstrip("+") in (":", ""):
            _deny("`git push <remote> :` pushes every matching branch: push your own branch")
        src, dst, forced = _refspec_dst(text)
        target = context.ref_name(dst)
        deleting = parsed.has("--delete", "-d") or text.lstrip("+").startswith(":")
        if deleting:
            target = context.ref_name(dst if dst else src)
        forcing = forced or parsed.has("--force", "-f")
        _push_destination(context, dst or src, forcing, deleting=deleting)
        if _is_protected(context, dst or src) or target in context.main_names:
            _deny(f"implementors may not push to {target}; push your own branch "
                  f"{context.branch}")  # fmt: skip
        if text.startswith(("refs/tags/", "tags/")) and (context.protected_ref(dst)):
            _deny(f"implementors may not push a tag named {dst}")


def _push_destination(context: Context, dst: str, forced: bool, *, deleting: bool) -> None:
    """A push may create or move only branches (``refs/heads/``) and create tags; any
    other ref (``refs/main`` would shadow ``main``, ``refs/replace/`` rewrites history for
    everyone) or a forced or deleted tag is refused."""
    name = dst.lstrip("+")
    if name in ("HEAD", "@") or name.endswith("/HEAD"):
        if name != "HEAD" or deleting:
            _deny(f"implementors may not push to {name}")
        return
    if name.startswith("refs/tags/") or name.startswith("tags/"):
        if forced or deleting:
            _deny("implementors may not replace or delete tags on the remote")
        return
    if name.startswith("refs/") and not name.startswith("refs/heads/"):
        _deny(f"implementors push branches (refs/heads/...), not {name}")


def fetch(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    operands = parsed.all_operands
    if parsed.has("--multiple"):
        for repo in operands:
            _check_remote(repo)
        return
    for repo in operands[:1]:
        _check_remote(repo)
    local = bool(operands) and (operands[0].text in (".", "..") or "/" in operands[0].text)
    for word in operands[1:]:
        if word.dynamic:
            _deny(f"git {sub} with a computed refspec")
        _, colon, _ = word.text.partition(":")
        if not colon:
            continue
        _, dst, forced = _refspec_dst(word.text)
        if not dst:
            continue
        if dst.startswith("refs/") and not dst.startswith(("refs/heads/", "refs/remotes/")):
            _deny(f"implementors may not fetch into {dst} (it would shadow or replace refs)")
        if dst.startswith("refs/remotes/"):
            if local or forced:
                _deny(f"implementors may not overwrite {dst} (the remote-tracking refs others "
                      "read) from a local repository or by force")  # fmt: skip
            continue
        if "*" in dst or _is_protected(context, dst) or context.ref_name(dst) in context.main_names:
            _deny(f"implementors may not update {context.ref_name(dst)} by a {sub}")


def pull(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    rebase_mode: str | None = None
    fast_forward = False
    for name, value in parsed.options:
        if name in ("--rebase", "-r"):
            rebase_mode = value or "true"
        elif name == "--no-rebase":
            rebase_mode = "false"
        elif name == "--ff-only":
            fast_forward = True
    if rebase_mode in ("false", "no", "0", "off") or (rebase_mode is None and not fast_forward):
        _deny(
            "implementors may not merge, and a plain `git pull` merges: use "
            f"`git pull --rebase` or `git rebase {context.overseer_branch}`"
        )
    fetch(walker, parsed, cwd, "pull")


def stash(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    names = _names(parsed)
    if (
        names[:1] == ["branch"]
        and len(names) > 1
        and (_is_protected(context, names[1]) or names[1] in context.main_names)
    ):
        _deny(f"implementors may not create branch {names[1]}")
    known = {"push", "save", "list", "show", "pop", "apply", "drop", "clear", "create", "store",
             "branch"}  # fmt: skip
    if names and names[0] not in known and not names[0].startswith("-"):
        _deny(f"git stash {names[0]} is not a stash command the guard knows")


def worktree(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if _names(parsed)[:1] not in ([], ["list"]):
        _deny("implementors may only list worktrees (git worktree list)")


def config(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    names = _names(parsed)
    write_options = ("--edit", "--add", "--replace-all", "--unset", "--unset-all",
                     "--rename-section", "--remove-section")  # fmt: skip
    writes = parsed.has("-e") or any(
        len(option) >= 4 and any(w.startswith(option.split("=")[0]) for w in write_options)
        for option, _ in parsed.options
        if option.startswith("--")
    )
    if writes:
        _deny(f"implementors may not change git's configuration ({names[0] if names else sub})")
    reading = parsed.has("--get", "--get-all", "--get-regexp", "--get-urlmatch", "-l", "--list",
                         "--get-color", "--get-colorbool")  # fmt: skip
    if names[:1] in (["get"], ["list"]):
        return
    if reading or len(names) == 1:
        return
    if not names and not parsed.options:
        return
    _deny(f"implementors may not change git's configuration ({names[0] if names else sub})")


def remote(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if _names(parsed)[:1] not in ([], ["show"], ["get-url"]):
        _deny("implementors may only read git's remotes (git remote -v)")


def restore(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if parsed.has("--pathspec-from-file"):
        _deny("git restore --pathspec-from-file: name the files on the command line")
    # --staged alone changes only the index, but what is staged is committed next:
    # the same paths either way.
    _literal_pathspecs(walker, parsed.all_operands, cwd, "git restore")


def rm(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if parsed.has("--pathspec-from-file"):
        _deny("git rm --pathspec-from-file: name the files on the command line")
    _literal_pathspecs(walker, parsed.all_operands, cwd, "git rm",
                       remove=not parsed.has("--cached"))  # fmt: skip


def mv(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    operands = parsed.all_operands
    _literal_pathspecs(walker, operands, cwd, "git mv", remove=True)
    if len(operands) >= 2:
        for source in operands[:-1]:
            walker.made(cwd, os.path.join(operands[-1].text, os.path.basename(source.text)))
        walker.made(cwd, operands[-1].text)


def clean(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if parsed.has("-n", "--dry-run"):
        return
    if not parsed.all_operands:
        _deny("git clean without paths cleans the whole directory: name your paths")
    _literal_pathspecs(walker, parsed.all_operands, cwd, "git clean", remove=True)


def apply(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    context = walker.context
    if parsed.has("--check", "--stat", "--numstat", "--summary") and not parsed.has("--apply"):
        return
    if not parsed.all_operands:
        _deny("git apply reading the patch from standard input: name the patch file")
    strip = int((parsed.values("-p") or ["1"])[-1] or 1)
    base = str(cwd) if cwd else str(context.root)
    for word in parsed.all_operands:
        if word.dynamic:
            _deny("git apply with a computed patch file")
        path = os.path.join(base, word.text)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(8 << 20)
        except OSError as exc:
            _deny(f"git apply {word.text}: cannot read the patch ({exc.strerror})")
            return
        for target in patch_targets(text, strip):  # --cached too: the index is committed
            walker.write(context.root, Word(target, False, target), "git apply")
            if cwd and cwd != context.root:
                walker.write(cwd, Word(target, False, target), "git apply")


def patch_targets(text: str, strip: int = 1) -> list[str]:
    """Every path a patch creates, changes, renames or deletes."""
    found: list[str] = []

    def add(raw: str) -> None:
        raw = raw.strip().split("\t")[0]
        if raw.startswith('"'):
            raw = raw.strip('"')
        if raw == "/dev/null" or not raw:
            return
        parts = raw.split("/")
        found.append("/".join(parts[strip:]) if len(parts) > strip else parts[-1])

    for line in text.splitlines():
        if line.startswith("diff --git "):
            halves = line[len("diff --git ") :].split(" ")
            for half in halves:
                add(half)
        elif line.startswith(("--- ", "+++ ")):
            add(line[4:])
        elif line.startswith(("rename from ", "rename to ", "copy to ")):
            found.append(line.split(" ", 2)[2].strip())
    return sorted(set(found))


def add(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    """What is staged is committed next: files named on the command line must be the
    role's (``git add -A``/``-u``/``.`` stage what changed, which the sandbox and the
    guard keep to the role's paths, and CI's scope check sees the commit)."""
    if parsed.has("--pathspec-from-file"):
        _deny("git add --pathspec-from-file: name the files on the command line")
    if parsed.has("--chmod"):
        if not parsed.all_operands or any(
            w.dynamic or w.text in (".", ":/") or re.search(r"[*?\[]", w.text)
            for w in parsed.all_operands
        ):
            _deny("git add --chmod stages files whether they changed or not: name them")
        for word in parsed.all_operands:
            walker.write(cwd, word, "git add --chmod")
        return
    named = [w for w in parsed.all_operands if w.text not in (".", ":/")]
    for word in named:
        if word.dynamic or re.search(r"[*?\[]", word.text) or word.text.startswith(":"):
            continue  # patterns: what changed, as with -A
        walker.write(cwd, word, "git add (staged files are committed)")


def commit(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    """``git commit <paths>`` commits those files as they are in the worktree."""
    add(walker, parsed, cwd, sub)


def reset(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    """``git reset [<commit>] -- <paths>`` stages those paths from the commit."""
    paths = list(parsed.after_dashdash)
    if not paths and len(parsed.operands) > 1:
        paths = parsed.operands[1:]
    if paths:
        _literal_pathspecs(walker, paths, cwd, "git reset <commit> <paths> (stages them)")


def replay(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    """cherry-pick and revert commit what other commits changed: every path they touch
    must be the role's — except a cherry-pick of work already on the overseer branch."""
    context = walker.context
    if parsed.has("--continue", "--abort", "--skip", "--quit"):
        return
    vcs = context.vcs
    for word in parsed.all_operands:
        text = word.text
        if word.dynamic or ".." in text or text.startswith("-") or re.search(r"\^[@!-]", text):
            _deny(f"git {sub} {text}: name the commits one by one")
        if vcs is None:
            continue
        sha = vcs.resolve(text)
        if sha is None:
            _deny(f"git {sub} {text}: not a commit the guard can find; name the commit")
        overseer = f"refs/heads/{context.overseer_branch}" if context.overseer_branch else None
        if sub == "cherry-pick" and overseer and vcs.is_ancestor(sha, overseer):
            continue
        changed = vcs.run("diff-tree", "--no-commit-id", "--name-only", "-r", "-m", "--root",
                          sha, check=False).stdout.split("\n")  # fmt: skip
        for path in sorted({p for p in changed if p}):
            walker.write(context.root, Word(path, False, path), f"git {sub} {text}")


def merge_file(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if not parsed.has("-p", "--stdout") and parsed.all_operands:
        walker.write(cwd, parsed.all_operands[0], "git merge-file")


def format_patch(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if parsed.has("--stdout"):
        return
    for directory in parsed.values("-o", "--output-directory"):
        walker.write(cwd, value_word(directory + "/0001.patch"),
                     "git format-patch")  # fmt: skip
    if not parsed.values("-o", "--output-directory"):
        walker.write(cwd, Word("0001.patch", False, "0001.patch"), "git format-patch")


def symbolic_ref(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if len(parsed.all_operands) > 1 or parsed.has("-d", "--delete"):
        _deny("implementors may not move refs with git symbolic-ref")


def reflog(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    names = _names(parsed)
    if names[:1] in (["expire"], ["delete"]):
        _deny("implementors may not rewrite the reflog")


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
    if context.vcs is None:
        return True
    tip = context.vcs.resolve(f"refs/heads/{name}")
    if tip is None:
        return False
    return not context.vcs.is_ancestor(tip, f"refs/heads/{context.overseer_branch}")
