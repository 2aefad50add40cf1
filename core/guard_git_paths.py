"""git for the guard: the checks on what writes the worktree or the index (restore,
checkout -- paths, rm, mv, clean, apply, add, commit, reset, cherry-pick ...), for
implementors; see :mod:`~.guard_git`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import _deny, _remove, _tree
from .guard_options import Parsed, value_word
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_walk import Walker


def _literal_pathspecs(walker: Walker, words: list[Word], cwd: Path | None, what: str,
                       *, remove: bool = False) -> None:  # fmt: skip
    for word in words:
        text = word.text
        if word.dynamic or text.startswith(":") or re.search(r"[*?\[]", text):
            _deny(f"{what}: implementors name files literally (no pathspec patterns or magic: "
                  f"{text})")  # fmt: skip
        if remove:
            _remove(walker, cwd, word, what, tree=True)
        else:
            walker.write(cwd, word, what)
            base = str(cwd) if cwd else str(walker.context.root)
            for below in _tree(os.path.join(base, text)):  # git replaces links, not targets
                walker.write(None, Word(below, False, below), what, follow=False)


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
        sha = vcs.resolve(text)
        if sha is None:
            _deny(f"git {sub} {text}: not a commit the guard can find; name the commit")
        overseer = f"refs/heads/{context.overseer_branch}" if context.overseer_branch else None
        if sub == "cherry-pick" and overseer and vcs.is_ancestor(sha, overseer):
            continue
        for path in vcs.commit_files(sha):
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
