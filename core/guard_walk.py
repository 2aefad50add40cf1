"""The abstract run of a syntax tree: :class:`Walker` follows every working directory a
command can run in, expands words as the shell would and checks each write."""

from __future__ import annotations

import glob
import os
import posixpath
import re
from pathlib import Path

from .guard_context import Context, Deny, unanalysable
from .guard_paths import MAX_EXPANSION, _has_glob, _python_glob, _unescape, brace_expand, check_path
from .shellparse import (
    AndOr,
    Compound,
    Group,
    Node,
    Pipeline,
    Redirect,
    Sequence,
    Simple,
    Subshell,
    parse,
)
from .shellparse_lex import ShellSyntaxError, Word, heredoc_expansions

SAFE_WRITE_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/1",
                      "/dev/fd/2")  # fmt: skip
#: ``${...}`` forms that neither evaluate arithmetic nor assign: a name (or a special
#: parameter), then nothing, a default/alternative/error word, a pattern removal or
#: substitution, a case change or a transformation
SAFE_PARAMETER = re.compile(
    r"#?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]|[@*#?$!-])"
    r"(?:(?::?[-+?]|%%?|##?|//?|/[#%]|\^\^?|,,?)[^\[]*|@[QEUuLAaKk])?",
    re.S,
)
MAX_CWDS = 16  # working directories tracked at once before giving up
MAX_DEPTH = 16  # nested shells (bash -c "sh -c ...") and substitutions

Cwds = frozenset[Path] | None  # None: not known (a computed cd)


def _union(a: Cwds, b: Cwds) -> Cwds:
    if a is None or b is None:
        return None
    both = a | b
    return both if len(both) <= MAX_CWDS else None


class Walker:
    """Runs a syntax tree abstractly; raises :class:`Deny` at the first refused part."""

    def __init__(self, context: Context, depth: int = 0) -> None:
        self.context = context
        self.depth = depth
        self.changed: list[str] = []  # lexical paths an earlier command made or replaced
        self.tree_changed = False  # an earlier git command rewrote the worktree
        self.seen: set[Path] = set()
        self.current = ""  # the program being checked

    # -- control flow
    def run(self, node: Node, cwds: Cwds) -> tuple[Cwds, Cwds]:
        """(working directories if ``node`` succeeded, after it in any case)."""
        if cwds is not None:
            self.seen |= cwds
        if isinstance(node, Simple):
            return self._simple_all(node, cwds)
        if isinstance(node, Subshell):
            self._redirects(node.redirects, cwds)
            self.run(node.body, cwds)
            return cwds, cwds
        if isinstance(node, Group):
            self._redirects(node.redirects, cwds)
            return self.run(node.body, cwds)
        if isinstance(node, Pipeline):
            for part in node.parts:  # each part runs in a subshell
                self.run(part, cwds)
            return cwds, cwds
        if isinstance(node, AndOr):
            ok, any_ = self.run(node.first, cwds)
            for op, part in node.rest:
                if op == "&&":
                    ok, after = self.run(part, ok)
                else:
                    part_ok, after = self.run(part, any_)
                    ok = _union(ok, part_ok)
                any_ = _union(any_, after)
            return ok, any_
        if isinstance(node, Sequence):
            ok = any_ = cwds
            for part, background in node.items:
                if background:
                    self.run(part, any_)
                else:
                    ok, any_ = self.run(part, any_)
            return ok, any_
        return self._compound(node, cwds)

    def _compound(self, node: Compound, cwds: Cwds) -> tuple[Cwds, Cwds]:
        self._redirects(node.redirects, cwds)
        if node.name is not None:
            from .guard_checker import _name, check_variable

            check_variable(self, _name(self, node.name, "for"), exported=False)
        for word in node.words:
            self._substitutions(word, cwds)
        current = cwds
        for _ in range(4 if node.loop else 1):
            before = current
            for part in node.parts:
                _, after = self.run(part, current)
                current = _union(current, after)
            if current == before:
                break
        else:
            if node.loop and current != cwds:
                unanalysable(self.context, "a loop that keeps changing directory")
        return current, current

    def _simple_all(self, cmd: Simple, cwds: Cwds) -> tuple[Cwds, Cwds]:
        if cwds is None:
            self.simple(cmd, None)
            return (None, None)
        ok: Cwds = frozenset()
        certain = True
        for cwd in sorted(cwds):
            result = self.simple(cmd, cwd)
            ok = _union(ok, frozenset({cwd}) if result is None else result)
            if result is not None and not all(p.is_dir() for p in result):
                certain = False  # a cd that may fail leaves the directory as it was
        any_ = ok if certain else _union(cwds, ok)
        return ok, any_

    # -- one simple command
    def simple(self, cmd: Simple, cwd: Path | None) -> Cwds | None:
        """Check one simple command run in ``cwd``; the new working directories when it
        changes directory (``cd``), else None."""
        from .guard_programs import run_program

        cwds: Cwds = None if cwd is None else frozenset({cwd})
        for word in [*cmd.assignments, *cmd.words]:
            self._substitutions(word, cwds)
        self._redirects(cmd.redirects, cwds, words=cmd.words)
        names = [w.text.partition("=")[0].removesuffix("+") for w in cmd.assignments]
        if not cmd.words:
            from .guard_checker import check_variable

            for name in names:
                check_variable(self, name, exported=False)
            return None
        result = run_program(self, cmd.words, cwd, {})
        for name in names:  # after the program: its refusal says more
            self.check_env(name)
        return result

    def check_env(self, name: str) -> None:
        """An environment variable a command gets: implementors may not set one that
        changes which program runs or what it loads, reads as configuration or writes."""
        from .guard_checker import risky_variable

        context = self.context
        if not context.implementor or name in context.env or name.startswith("LC_"):
            return
        if risky_variable(name):
            raise Deny(
                f"implementors may not set {name}: it can change which program runs or what "
                "it reads or writes (GIT_*, PATH, LD_*, editors, pagers, tool configuration "
                "...); a variable the project needs can be added to guard.env in "
                "orchestrator.yaml"
            )

    def _substitutions(self, word: Word, cwds: Cwds) -> None:
        for body in word.substitutions:
            self.nested(body, cwds, "a command substitution")
        if not self.context.implementor:
            return
        for body in word.arith:
            # Arithmetic evaluates a variable's value as an expression, and an array
            # subscript in that value runs command substitutions: only numbers.
            if re.search(r"[A-Za-z_\[$`]", body):
                unanalysable(self.context, f"arithmetic on variables ($(({body})))")
        for body in word.params:
            if not SAFE_PARAMETER.fullmatch(body):
                unanalysable(
                    self.context,
                    f"the parameter expansion ${{{body}}} (subscripts, substrings, "
                    "indirection and assignments are not checked)",
                )

    def nested(self, text: str, cwds: Cwds, what: str) -> None:
        """Check a command line run by a subshell (``$(...)``, ``bash -c``)."""
        if self.depth >= MAX_DEPTH:
            unanalysable(self.context, f"{what} nested this deeply")
            return
        try:
            tree = parse(text)
        except ShellSyntaxError as exc:
            unanalysable(self.context, f"{what} ({exc})")
            return
        inner = Walker(self.context, self.depth + 1)
        inner.changed = self.changed
        inner.tree_changed = self.tree_changed
        inner.run(tree, cwds)

    def _redirects(self, redirects: list[Redirect], cwds: Cwds,
                   words: list[Word] | None = None) -> None:  # fmt: skip
        for redirect in redirects:
            self._substitutions(redirect.target, cwds)
            if redirect.heredoc is not None and not redirect.target.quoted:
                self._substitutions(heredoc_expansions(redirect.heredoc), cwds)
            writes = redirect.op in (">", ">>", "&>", "&>>", ">|", "<>") or (
                redirect.op == ">&" and not redirect.target.text.isdigit()
                and redirect.target.text != "-"
            )  # fmt: skip
            if not writes:
                continue
            for cwd in [None] if cwds is None else sorted(cwds):
                self.write(cwd, redirect.target, "a redirection")

    # -- words and paths
    def expand(self, word: Word, cwd: Path | None) -> list[str] | None:
        """What the shell turns ``word`` into (brace, tilde and glob expansion), or
        None when it depends on a variable or a substitution."""
        if word.dynamic:
            return None
        pattern = word.pattern or word.text
        out: list[str] = []
        for item in brace_expand(pattern):
            item = self._tilde(item, cwd)
            if _has_glob(item):
                if cwd is None and not item.startswith("/"):
                    return None
                if "[:" in item or "[=" in item or "[." in item:
                    unanalysable(self.context, f"the character class in {_unescape(item)}: "
                                 "name the files")  # fmt: skip
                if self.changed and self.context.implementor:
                    raise Deny(f"a glob ({_unescape(item)}) after a command in the same line "
                               "that creates or replaces paths: run them separately")  # fmt: skip
                base = "" if item.startswith("/") else glob.escape(str(cwd)) + "/"
                found = sorted(glob.glob(base + _python_glob(item), include_hidden=False))
                base = "" if item.startswith("/") else str(cwd) + "/"
                if found:
                    out += [f[len(base) :] if base else f for f in found]
                    if len(out) > MAX_EXPANSION:
                        return None
                    continue
            out.append(_unescape(item))
        return out

    def _tilde(self, pattern: str, cwd: Path | None) -> str:
        if not pattern.startswith("~"):
            return pattern
        head, sep, rest = pattern.partition("/")
        if head == "~+" and cwd is not None:
            expanded = str(cwd)
        elif re.fullmatch(r"~[+-]?[0-9]*", head) and head != "~":
            if self.context.implementor:
                unanalysable(self.context, f"{head} (the previous directory or the directory "
                             "stack): write the path")  # fmt: skip
            return pattern
        else:
            expanded = os.path.expanduser(_unescape(head))
        if expanded.startswith("~"):
            return pattern
        return "".join("\\" + c if c in "*?[]{}\\" else c for c in expanded) + sep + rest

    def paths(self, word: Word, cwd: Path | None, what: str) -> list[str]:
        texts = self.expand(word, cwd)
        if texts is None:
            unanalysable(self.context, f"{what} with a computed path ({word.text})")
            return []
        return texts

    def write(self, cwd: Path | None, target: Word | str, how: str, *,
              expand: bool = True, follow: bool = True) -> None:  # fmt: skip
        """Deny unless every path ``target`` names may be written by this role."""
        if isinstance(target, Word):
            if target.text in SAFE_WRITE_TARGETS and not target.dynamic:
                return
            names = self.paths(target, cwd, how) if expand else [target.text]
        else:
            if "\x00" in target:  # an option value that holds an expansion
                unanalysable(self.context, f"{how} with a computed path")
                return
            names = [target]
        for name in names:
            self._write_one(cwd, name, how, follow)

    def _write_one(self, cwd: Path | None, name: str, how: str, follow: bool = True) -> None:
        context = self.context
        if name in SAFE_WRITE_TARGETS:
            return
        if cwd is None and not name.startswith("/"):
            unanalysable(context, f"a write to {name} after a computed `cd`")
            return
        joined = name if name.startswith("/") else os.path.join(str(cwd), name)
        self.check_made(joined, name)
        if self.tree_changed and context.implementor:
            raise Deny(
                f"a write to {name} after a git command that rewrites the worktree in the "
                "same line: run them as separate commands"
            )
        if follow:
            path = Path(os.path.realpath(joined))
        else:  # the link itself (rm, mv, ln -n): its directory resolved, not its target
            head, tail = os.path.split(joined.rstrip("/") or "/")
            path = Path(os.path.realpath(head)) / tail if tail not in ("", ".", "..") \
                else Path(os.path.realpath(joined))  # fmt: skip
        check_path(context, path, name, how, follow=follow)

    def check_made(self, joined: str, name: str) -> None:
        """Refuse a path that passes through one an earlier command in this line makes or
        replaces (a link, followed by ``..`` or not): at decision time it does not exist,
        so resolving it says nothing about where it will lead."""
        if not self.changed:
            return
        parts = [p for p in joined.split("/") if p not in ("", ".")]
        prefix = ""
        physical = "/"
        for part in parts:
            prefix = f"{prefix}/{part}"
            # as the kernel walks it: '..' after an existing link leaves the link's target
            if part == "..":
                physical = os.path.dirname(os.path.realpath(physical)) or "/"
            else:
                physical = os.path.join(physical, part)
                if os.path.lexists(physical):
                    physical = os.path.realpath(physical)
            for candidate in (prefix, posixpath.normpath(prefix), physical):
                if candidate in self.changed:
                    raise Deny(
                        f"{name} goes through {candidate}, which an earlier command in this "
                        "line creates or replaces (it could be a link): run them as separate "
                        "commands"
                    )

    def made(self, cwd: Path | None, name: str) -> None:
        """Remember a path this command creates or replaces (for later commands)."""
        if cwd is None and not name.startswith("/"):
            return
        joined = name if name.startswith("/") else os.path.join(str(cwd), name)
        self.changed.append(posixpath.normpath(joined))
        head, tail = os.path.split(joined.rstrip("/"))
        self.changed.append(os.path.join(os.path.realpath(head or "/"), tail))
