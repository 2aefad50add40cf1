"""``claude-orchestrator guard``: a Claude Code PreToolUse hook that makes role rules hold.

Permission rules in a settings file judge command *lines*; git's global options, shell
wrappers, ``bash -c`` and substitutions get around them. The guard therefore reads a
command the way the shell and each program will:

* :mod:`~claude_orchestrator.shellparse` gives the syntax tree, and :class:`Walker` runs
  it abstractly: it tracks every working directory a command can run in (through ``cd``,
  ``pushd``, subshells, pipelines, ``&&``/``||``, loops and ``env -C``), expands braces,
  tildes and globs itself, and follows links made earlier in the same line;
* for **implementors** it is an allow-list: a command passes only when every simple
  command in it is a program the guard knows (:mod:`~claude_orchestrator.guard_programs`,
  git in :mod:`~claude_orchestrator.guard_git`), every option is one that program's
  grammar knows (abbreviations resolved as the program would), every path it writes
  resolves into the role's paths, and no environment variable outside the allow-list is
  set. Anything else is denied with a reason that says what would pass and how
  ``guard.allow`` / ``guard.env`` in ``orchestrator.yaml`` can add a command or variable;
* the **overseer** may do anything but force-push or delete the main branch, delete an
  implementor branch holding unmerged work, or write outside its worktree or into the
  git directory.

It fails closed: malformed input, an unknown role, a role that does not match the
worktree's branch, an internal error — deny, exit 2, one line the agent can act on.
"""

from __future__ import annotations

import glob
import itertools
import os
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from .pathmatch import compile_patterns
from .shellparse import (
    ANY_ESCAPE,
    AndOr,
    Compound,
    Group,
    Node,
    Pipeline,
    Redirect,
    Sequence,
    ShellSyntaxError,
    Simple,
    Subshell,
    Word,
    heredoc_expansions,
    parse,
)

SAFE_WRITE_TARGETS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/1",
                      "/dev/fd/2")  # fmt: skip
PROTECTED_FILES = ("state/overseer.md", ".claude/", ".github/workflows/", "orchestrator.yaml",
                   ".git", ".githooks/", ".orchestrator-generated.json")  # fmt: skip
#: environment variables an implementor may set for a command (plus ``LC_*`` and
#: ``guard.env``): none of them changes which program runs, what it reads as code or
#: config, or where it writes.
SAFE_ENV = frozenset({
    "CI", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TERM", "COLUMNS",
    "LINES", "LANG", "LANGUAGE", "TZ", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
    "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONUTF8", "PYTHONIOENCODING",
    "PYTHONFAULTHANDLER", "PYTHONDEVMODE", "PYTHONTRACEMALLOC", "NODE_ENV",
    "RUST_BACKTRACE", "RUST_LOG", "DEBUG", "VERBOSE", "LOG_LEVEL", "HYPOTHESIS_PROFILE",
    "TESTING", "GIT_PAGER_IN_USE",
})  # fmt: skip
#: ``${...}`` forms that neither evaluate arithmetic nor assign: a name (or a special
#: parameter), then nothing, a default/alternative/error word, a pattern removal or
#: substitution, a case change or a transformation
SAFE_PARAMETER = re.compile(
    r"#?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]|[@*#?$!-])"
    r"(?:(?::?[-+?]|%%?|##?|//?|/[#%]|\^\^?|,,?)[^\[]*|@[QEUuLAaKk])?",
    re.S,
)
MAX_EXPANSION = 256  # words one brace or glob expansion may produce
PROBE = "__new_file_probe__"  # a name for "a new file in this directory"
MAX_CWDS = 16  # working directories tracked at once before giving up
MAX_DEPTH = 16  # nested shells (bash -c "sh -c ...") and substitutions


class Decision(NamedTuple):
    allowed: bool
    reason: str


ALLOW = Decision(True, "")


class Deny(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = " ".join(reason.split())


def matches(patterns: Iterable[str], relative: str) -> bool:
    """gitignore semantics (see :mod:`claude_orchestrator.pathmatch`)."""
    return compile_patterns(list(patterns)).matches(relative)


# ---------------------------------------------------------------------- context
class Context:
    """What the rules need to know about the agent making the call."""

    def __init__(self, *, role: str, root: Path, branch: str, config: Any,
                 vcs: Any = None) -> None:  # fmt: skip
        from .workflow import parse_branch

        self.role = role
        self.root = Path(os.path.realpath(root))
        self.config = config
        self.vcs = vcs
        if role not in ("implementor", "overseer"):
            raise Deny(f"unknown role {role!r}: the guard knows implementor and overseer")
        parsed = parse_branch(config.branch_prefix, branch)
        head = branch
        if parsed is None:
            # Not on a feature branch (a spike branch, a detached HEAD): the agent's own
            # branch is the one its worktree was made for (<dir>/<spec>/<agent>).
            home = f"{config.branch_prefix.rstrip('/')}/{self.root.parent.name}/{self.root.name}"
            home_parsed = parse_branch(config.branch_prefix, home)
            if home_parsed is not None and _branch_exists(vcs, home):
                parsed, branch = home_parsed, home
        self.branch = branch
        if parsed is None:
            raise Deny(
                f"the worktree is on {branch!r}, not a feature branch: the {role} works on "
                f"its own {config.branch_prefix}/<spec>/... branch"
            )
        if (parsed.role == "overseer") != (role == "overseer"):
            raise Deny(f"role {role} does not match the worktree's branch {branch}")
        self.head = head
        self.spec_id = parsed.spec_id
        self.area = parsed.area
        self.overseer_branch = config.overseer_branch(parsed.spec_id)
        self.main_names = {"main", "master", config.main_branch}
        self.prefix = config.branch_prefix.rstrip("/") + "/"
        guard = config.data.get("guard", {})
        entries = [*map(str, guard.get("allow", [])), *config.test_commands("implementor").values()]
        self.allow = [_entry_words(entry) for entry in entries]
        self.env = SAFE_ENV | {str(name) for name in guard.get("env", [])}
        kind = "overseer" if role == "overseer" else "implementor"
        self.write_paths = compile_patterns(config.role_paths(kind, self.area))
        self.write_paths_text = ", ".join(config.role_paths(kind, self.area))
        tasks = config.tasks_file_template.replace("{spec_id}", "*")
        protected = [*PROTECTED_FILES, tasks] if self.implementor else [".git"]
        self.protected = compile_patterns(protected)
        self.git_dir: Path | None = None
        self.common_dir: Path | None = None
        self.repository = self._repository_places()
        self.home = Path(os.path.realpath(os.path.expanduser("~")))
        self.own = {self.branch}
        if head != self.branch and not self.protected_ref(head) and head not in self.main_names:
            self.own.add(head)

    def _repository_places(self) -> list[Path]:
        """The git directory and every other worktree of this repository: never this
        agent's to write, wherever they are (also under /tmp)."""
        from .location import discover
        from .plugins.git_vcs import GitVCS

        location = discover(self.root, {})
        self.git_dir = Path(os.path.realpath(location.git_dir)) if location.git_dir else None
        places: list[Path] = []
        if location.common_dir is not None:
            self.common_dir = Path(os.path.realpath(location.common_dir))
            places.append(self.common_dir)
            trees = GitVCS._worktrees_from_files(location.common_dir).values()
            places += [Path(os.path.realpath(t)) for t in trees]
        if self.git_dir is not None:
            places.append(self.git_dir)
        return [p for p in places if p != self.root]

    @property
    def implementor(self) -> bool:
        return self.role == "implementor"

    def ref_name(self, ref: str) -> str:
        ref = ref.lstrip("+")
        for prefix in ("refs/heads/", "heads/", "refs/remotes/origin/", "origin/"):
            if ref.startswith(prefix):
                return ref[len(prefix) :]
        if ref in ("HEAD", "@"):  # the branch checked out now, not the worktree's own
            return self.head if self.head and not self.head.startswith("(") else self.branch
        return ref

    def protected_ref(self, ref: str) -> bool:
        """For an implementor: any branch (or tag) name but its own that matters to
        others — the main branch, master, any feature branch."""
        name = self.ref_name(ref)
        for prefix in ("refs/tags/", "tags/"):
            name = name.removeprefix(prefix)
        if name == self.branch:
            return False
        return name in self.main_names or name.startswith(self.prefix)


def _entry_words(entry: str) -> tuple[str, ...]:
    """A ``guard.allow`` entry as the words the shell would make of it."""
    try:
        tree = parse(entry)
    except ShellSyntaxError:
        return tuple(entry.split())
    if isinstance(tree, Simple) and not tree.redirects and not tree.assignments:
        return tuple(w.text for w in tree.words)
    return tuple(entry.split())


def _branch_exists(vcs: Any, name: str) -> bool:
    try:
        return vcs is not None and vcs.resolve(f"refs/heads/{name}") is not None
    except Exception:
        return False


# ---------------------------------------------------------------------- decisions
def decide(payload: Any, *, role: str, root: Path, branch: str, config: Any,
           vcs: Any = None) -> Decision:  # fmt: skip
    """Allow or deny one tool call (never raises)."""
    try:
        if not isinstance(payload, dict):
            raise Deny("malformed hook input: expected a JSON object")
        tool = payload.get("tool_name")
        tool_input = payload.get("tool_input")
        if not isinstance(tool, str) or not isinstance(tool_input, dict):
            raise Deny("malformed hook input: tool_name and tool_input are required")
        if vcs is None:
            from .plugins.git_vcs import GitVCS

            vcs = GitVCS(Path(root))
        context = Context(role=role, root=root, branch=branch, config=config, vcs=vcs)
        cwd_text = payload.get("cwd")
        cwd = Path(os.path.realpath(cwd_text)) if isinstance(cwd_text, str) and cwd_text \
            else context.root  # fmt: skip
        if tool == "Bash":
            command = tool_input.get("command")
            if not isinstance(command, str):
                raise Deny("malformed hook input: Bash without a command")
            check_shell(context, command, cwd)
        elif tool in ("Write", "Edit", "MultiEdit", "NotebookEdit"):
            path = tool_input.get("file_path") or tool_input.get("notebook_path")
            if not isinstance(path, str) or not path:
                raise Deny(f"malformed hook input: {tool} without a file path")
            Walker(context).write(cwd, path, f"{tool} tool", expand=False)
        return ALLOW
    except Deny as exc:
        return Decision(False, exc.reason)
    except RecursionError:
        return Decision(False, "guard: the command is nested too deeply to check: denied")
    except Exception as exc:  # fail closed
        return Decision(False, f"guard internal error ({type(exc).__name__}: {exc}): denied")


def unanalysable(context: Context, what: str) -> None:
    if context.implementor:
        raise Deny(
            f"cannot check {what}: implementors run commands the guard can read (no eval, "
            "variables in command position or inline interpreter code); a command the "
            "project needs can be added to guard.allow in orchestrator.yaml"
        )


def check_shell(context: Context, command: str, cwd: Path) -> None:
    try:
        tree = parse(command)
    except ShellSyntaxError as exc:
        # Also the overseer's: a command the parser cannot read could hide a force push.
        raise Deny(f"cannot check this command ({exc}): write it in plain shell") from None
    Walker(context).run(tree, frozenset({cwd}))


# ---------------------------------------------------------------------- the walk
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
            from .guard_programs import _name, check_variable

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
            from .guard_programs import check_variable

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
        from .guard_programs import risky_variable

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


def check_path(context: Context, path: Path, name: str, how: str, *,
               follow: bool = True) -> None:  # fmt: skip
    inside_root = _inside(path, context.root)
    if follow and context.implementor and path.is_file() and path.stat().st_nlink > 1:
        raise Deny(f"{name} is a hard link (to a file the guard cannot place): implementors "
                   "write files that have one name")  # fmt: skip
    for place in context.repository:
        if _inside(path, place) and not (inside_root and context.root in place.parents):
            raise Deny(
                f"{name} resolves to {path}, in another worktree or the git directory: "
                f"write only inside your worktree {context.root}"
            )
    if not inside_root and _temporary(path, context.root):
        return
    if not inside_root:
        raise Deny(f"{name} resolves to {path}, outside your worktree {context.root}")
    relative = path.relative_to(context.root).as_posix() if path != context.root else "."
    who = "implementors" if context.implementor else "the overseer"
    if relative == "." or context.protected.matches(relative):
        raise Deny(f"{name} resolves to {relative}, which {who} may not write ({how})")
    if not context.write_paths.matches(relative) and not (
        path.is_dir() and context.write_paths.matches(f"{relative}/{PROBE}")
    ):  # a directory whose contents the role may write (src for src/**) is the role's
        raise Deny(
            f"{name} resolves to {relative}, outside the paths this role may write "
            f"({context.write_paths_text})"
        )


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _temporary(path: Path, root: Path) -> bool:
    """In a temporary directory, and not in the part of it the repository lives in (when
    the repository itself is under /tmp, its neighbourhood is not scratch space)."""
    for temp in {"/tmp", "/var/tmp", os.environ.get("TMPDIR", "/tmp")}:  # noqa: S108 - compared, not created
        base = Path(os.path.realpath(temp))
        if not _inside(path, base) or path == base:
            continue
        if _inside(root, base):
            own = root.relative_to(base).parts[0]
            if path.relative_to(base).parts[0] == own:
                return False
        return True
    return False


def temporary_dir(path: Path, root: Path) -> bool:
    return _temporary(path, root)


# ---------------------------------------------------------------------- expansion
def _has_glob(pattern: str, chars: str = "*?[") -> bool:
    """Whether ``pattern`` holds an unescaped glob character (of ``chars``)."""
    if not any(c in pattern for c in chars):
        return False
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] in chars:
            return True
        i += 1
    return False


def _python_glob(pattern: str) -> str:
    """Our escaped pattern in :mod:`glob`'s syntax (which has no backslash escapes)."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(glob.escape(pattern[i + 1]))
            i += 2
            continue
        if pattern[i] == "[" and pattern.startswith("[^", i):
            out.append("[!")  # bash negates with ^ too, fnmatch only with !
            i += 2
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _unescape(pattern: str) -> str:
    return ANY_ESCAPE.sub(r"\1", pattern) if "\\" in pattern else pattern


def brace_expand(pattern: str) -> list[str]:
    """Bash brace expansion of unescaped ``{a,b}`` and ``{1..3}``, bounded."""
    results = [pattern]
    for _ in range(MAX_EXPANSION):
        done = True
        out: list[str] = []
        for item in results:
            span = _brace_span(item)
            if span is None:
                out.append(item)
                continue
            done = False
            start, end, choices = span
            out += [item[:start] + choice + item[end:] for choice in choices]
        results = out
        if len(results) > MAX_EXPANSION:
            raise Deny("a brace expansion with too many words")
        if done:
            return results
    raise Deny("a brace expansion nested too deeply")


def _brace_span(text: str) -> tuple[int, int, list[str]] | None:
    if "{" not in text:
        return None
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "{" and not text.startswith("${", i - 1 if i else 0):
            depth = 0
            commas: list[int] = []
            j = i
            while j < len(text):
                c = text[j]
                if c == "\\":
                    j += 2
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif c == "," and depth == 1:
                    commas.append(j)
                j += 1
            else:
                return None
            inner = text[i + 1 : j]
            if commas:
                cuts = [i, *commas, j]
                return i, j + 1, [text[a + 1 : b] for a, b in itertools.pairwise(cuts)]
            seq = _sequence(inner)
            if seq is not None:
                return i, j + 1, seq
        i += 1
    return None


def _sequence(inner: str) -> list[str] | None:
    parts = inner.split("..")
    if len(parts) not in (2, 3):
        return None
    try:
        if all(p.lstrip("-").isdigit() for p in parts):
            a, b = int(parts[0]), int(parts[1])
            step = abs(int(parts[2])) if len(parts) == 3 and int(parts[2]) else 1
            if abs(b - a) // step > MAX_EXPANSION:
                raise Deny("a brace expansion with too many words")
            rng = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
            return [str(n) for n in rng]
    except ValueError:
        return None
    if all(len(p) == 1 for p in parts[:2]) and len(parts) == 2:
        a, b = ord(parts[0]), ord(parts[1])
        rng = range(a, b + 1) if a <= b else range(a, b - 1, -1)
        return [chr(c) for c in rng]
    return None
