"""The programs the guard knows: how each reads its command line, and what it may do.

:func:`run_program` is called for every simple command the :class:`~.guard_walk.Walker`
reaches. It resolves the program name (a path counts as the program ``PATH`` would
find, or a virtualenv's), strips wrappers (``env``, ``timeout``, ``nice``, ``xargs`` ...)
and dispatches to the program's checker. For an implementor a program without a checker
is denied (allow-list); for the overseer only git, gh and the writers are checked.

Shell builtins and shells live in :mod:`~.guard_builtins`, interpreters in
:mod:`~.guard_interpreters`, writers and text tools in :mod:`~.guard_files`, git in
:mod:`~.guard_git`; what they share in :mod:`~.guard_checker`.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_builtins import (
    cd,
    declare,
    export,
    getopts,
    popd,
    printf,
    pushd,
    read,
    set_builtin,
    shell,
    test_builtin,
)
from .guard_checker import Checker, _deny, _parse, expand_args, harmless
from .guard_interpreters import NODE, PERL, PHP, RUBY, _deno, _interpreter, pip, python
from .guard_options import Grammar, grammar, value_word
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_context import Context
    from .guard_walk import Walker


# ---------------------------------------------------------------------- dispatch
def run_program(walker: Walker, words: list[Word], cwd: Path | None,
                env: dict[str, str]) -> Cwds | None:  # fmt: skip
    from .guard_context import unanalysable

    context = walker.context
    words = expand_args(walker, words, cwd)
    if not words:
        return None
    head = words[0]
    if head.dynamic:
        unanalysable(context, f"a command whose name is computed ({head.text})")
        return None
    name = _program_name(walker, head.text, cwd)
    if name is None:
        return None
    if name in ("sudo", "doas", "su", "pkexec", "run0"):
        _deny(f"{name} is not allowed: agents run with their own permissions")
    if context.implementor and _allowed_by_config(context, words, exact=True):
        return None  # a command line guard.allow names exactly
    checker = CHECKERS.get(name)
    if checker is None:
        from .guard_files import FILE_CHECKERS

        checker = FILE_CHECKERS.get(name)
    if checker is None and re.fullmatch(r"python[0-9.]*|pypy3?", name):
        checker = python
    if checker is None and context.implementor and _allowed_by_config(context, words):
        return None  # guard.allow adds programs; it does not lift the rules of known ones
    if checker is None:
        if context.implementor:
            _deny(
                f"`{name}` is not in the implementors' allow-list: use a command the guard "
                "knows (git on your branch, the test commands, coreutils on your paths, "
                "python/pytest, claude-orchestrator) or add it to guard.allow in "
                "orchestrator.yaml"
            )
        return None
    walker.current = name
    return checker(walker, words[1:], cwd)


def _allowed_by_config(context: Context, words: list[Word], *, exact: bool = False) -> bool:
    """``guard.allow`` and the configured test commands: a simple command equal to an
    entry, or (for programs the guard does not know) starting with one; no computed word."""
    if any(w.dynamic for w in words):
        return False
    line = tuple(w.text for w in words)
    return any(entry and (line == entry or (not exact and line[: len(entry)] == entry))
               for entry in context.allow)  # fmt: skip


def _program_name(walker: Walker, text: str, cwd: Path | None) -> str | None:
    if "/" not in text:
        return text
    context = walker.context
    base = posixpath.basename(text)
    path = text if text.startswith("/") else os.path.join(str(cwd or context.root), text)
    real = os.path.realpath(path)
    found = shutil.which(base)
    if found and os.path.realpath(found) == real:
        return base
    parent = Path(real).parent
    if parent.name == "bin" and (parent.parent / "pyvenv.cfg").is_file():
        return base  # a virtualenv's console script: the same program as on PATH
    if context.implementor:
        _deny(
            f"{text} is not a program the guard knows: implementors run programs by name "
            "(scripts through an interpreter, `python3 path/to/script.py`)"
        )
    return None


# ---------------------------------------------------------------------- wrappers
ENV = grammar("i0v", "uCS", ["ignore-environment", "null", "debug"],
              ["unset", "chdir"], dangerous=["S", "split-string"], posix=True)  # fmt: skip
TIMEOUT = grammar("v", "sk", ["preserve-status", "foreground", "verbose"],
                  ["signal", "kill-after"], posix=True)  # fmt: skip
NICE = grammar("", "n", [], ["adjustment"], posix=True)
STDBUF = grammar("", "ioe", [], ["input", "output", "error"], posix=True)
COMMAND = grammar("pvV", posix=True)
EXEC = grammar("cl", "a", posix=True)
TIME = grammar("pvqa", "fo", ["portability", "verbose", "quiet", "append"],
               ["format", "output"], posix=True)  # fmt: skip
XARGS = grammar("0prtx", "aEIdLnPs", ["null", "no-run-if-empty", "verbose", "exit",
                "interactive", "open-tty"], ["arg-file", "delimiter", "max-lines",
                "max-args", "max-procs", "max-chars", "process-slot-var"],
                short_optional="eil", long_optional=["replace", "eof"], posix=True)  # fmt: skip


def env(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    from .shellparse import _is_assignment

    parsed = _parse(walker, ENV, args, "env")
    rest = parsed.all_operands
    names = list(parsed.values("-u", "--unset"))
    while rest and "=" in rest[0].text and not rest[0].text.startswith("="):
        name = rest[0].text.partition("=")[0]
        names.append(name)
        rest = rest[1:]
    places: Cwds = None if cwd is None else frozenset({cwd})
    for directory in parsed.values("-C", "--chdir"):
        places = cd(walker, [value_word(directory)], cwd)
    for place in [None] if places is None else sorted(places):
        _wrapped(walker, rest, place)
    # The wrapped command first: its refusal says more than the environment's.
    if walker.context.implementor:
        if parsed.has("-i", "--ignore-environment"):
            _deny("env -i clears the role's environment: not allowed for implementors")
        for name in names:
            if not _is_assignment(name + "=") and name:
                _deny(f"env: {name!r} is not a variable name the guard accepts")
            walker.check_env(name)
    return None


def _wrapped(walker: Walker, words: list[Word], cwd: Path | None) -> Cwds | None:
    if words:
        run_program(walker, words, cwd, {})
    return None


def _wrapper(spec: Grammar, name: str, skip: int = 0, outputs: tuple[str, ...] = ()) -> Checker:
    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        parsed = _parse(walker, spec, args, name)
        if name == "command" and parsed.has("-v", "-V"):
            return None
        for output in parsed.values(*outputs) if outputs else []:
            walker.write(cwd, value_word(output), f"{name} -o")
        return _wrapped(walker, parsed.all_operands[skip:], cwd)

    return check


def xargs(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, XARGS, args, "xargs")
    for name in parsed.values("--process-slot-var"):
        walker.check_env(name)  # xargs sets it in the command's environment
    command = parsed.all_operands or [Word("echo", False, "echo")]
    replace = [v or "{}" for n, v in parsed.options if n in ("-I", "-i", "--replace")]
    stdin = Word("<arguments read from standard input>", True, "")
    words = [command[0]]
    for word in command[1:]:
        words.append(word._replace(dynamic=True) if any(r in word.text for r in replace)
                     else word)  # fmt: skip
    if not replace:
        words.append(stdin)
    run_program(walker, words, cwd, {})
    return None


def overseer_only(name: str) -> Checker:
    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        from .guard_context import unanalysable

        unanalysable(walker.context, f"`{name}`")
        return None

    return check


def _lazy(module: str, attribute: str) -> Checker:
    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        import importlib

        target = getattr(importlib.import_module(f"claude_orchestrator.{module}"), attribute)
        result: Cwds | None = target(walker, args, cwd)
        return result

    return check


#: builtins whose effect the guard cannot follow: the overseer's only
OVERSEER_ONLY = ("eval", "source", ".", "trap", "alias", "unalias", "enable", "shopt", "let",
                 "fc", "history", "complete", "bind", "mapfile", "readarray", "hash", "kill",
                 "coproc")  # fmt: skip
HARMLESS = ("true", "false", ":", "echo", "pwd", "sleep", "wait",
            "which", "type", "whoami", "id", "uname", "printenv", "nproc", "tty", "clear",
            "tput", "unset", "return", "exit", "break", "continue", "shift", "times",
            "dirs", "umask", "jobs", "help", "cal", "yes", "seq", "basename", "dirname",
            "caller")  # fmt: skip

CHECKERS: dict[str, Checker] = {
    **{name: harmless for name in HARMLESS},
    "cd": cd, "pushd": pushd, "popd": popd, "chdir": cd,
    "env": env, "xargs": xargs,
    "command": _wrapper(COMMAND, "command"), "builtin": _wrapper(grammar(posix=True), "builtin"),
    "exec": _wrapper(EXEC, "exec"), "nohup": _wrapper(grammar(posix=True), "nohup"),
    "time": _wrapper(TIME, "time", outputs=("-o", "--output")), "nice": _wrapper(NICE, "nice"),
    "timeout": _wrapper(TIMEOUT, "timeout", skip=1), "stdbuf": _wrapper(STDBUF, "stdbuf"),
    "bash": shell, "sh": shell, "dash": shell, "zsh": shell, "ksh": shell,
    "node": _interpreter(NODE, "node"), "perl": _interpreter(PERL, "perl"),
    "ruby": _interpreter(RUBY, "ruby"), "php": _interpreter(PHP, "php"),
    "deno": _deno, "lua": _interpreter(grammar("v", "", dangerous=["e", "l", "i"],
                                               posix=True), "lua"),
    "read": read, "export": export, "declare": declare, "typeset": declare,
    "local": declare, "readonly": declare, "set": set_builtin, "printf": printf,
    "getopts": getopts, "test": test_builtin, "[": test_builtin, "[[": test_builtin,
    **{name: overseer_only(name) for name in OVERSEER_ONLY},
    "git": _lazy("guard_git", "git"),
    "gh": _lazy("guard_gh", "gh"),
    "claude-orchestrator": _lazy("guard_gh", "orchestrator"),
}  # fmt: skip


CHECKERS["pip"] = CHECKERS["pip3"] = pip
