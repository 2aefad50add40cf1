"""git for the guard: the checks on what names a ref (checkout, branch, tag, rebase, push,
fetch, pull, stash, config, remote ...), for implementors; see :mod:`~.guard_git`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import _deny
from .guard_git_paths import _literal_pathspecs
from .guard_options import Parsed, value_word
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_context import Context
    from .guard_walk import Walker


def _names(parsed: Parsed) -> list[str]:
    """Every operand, also those after ``--`` (``git branch -D -- x`` deletes x)."""
    return [w.text for w in parsed.all_operands]


def _is_protected(context: Context, name: str) -> bool:
    return context.protected_ref(name) and context.ref_name(name) not in context.own


def _exists(context: Context, name: str) -> bool:
    vcs = context.vcs
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


def symbolic_ref(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    if len(parsed.all_operands) > 1 or parsed.has("-d", "--delete"):
        _deny("implementors may not move refs with git symbolic-ref")


def reflog(walker: Walker, parsed: Parsed, cwd: Path | None, sub: str) -> None:
    names = _names(parsed)
    if names[:1] in (["expire"], ["delete"]):
        _deny("implementors may not rewrite the reflog")
