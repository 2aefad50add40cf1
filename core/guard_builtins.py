"""Shell builtins and shells for the guard: ``cd`` and the directory stack (where the
next commands run), ``bash``/``sh`` (``-c`` is checked as a nested command line) and the
builtins that set variables."""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import _deny, _name, _parse, _script_file, check_variable
from .guard_options import grammar
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_walk import Walker
# ---------------------------------------------------------------------- cd & co
CD = grammar("LPe@", posix=True)


def cd(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    context = walker.context
    parsed = _parse(walker, CD, args, "cd")
    operands = parsed.all_operands
    if len(operands) > 1:
        _deny("cd takes one directory")
    if not operands:
        target = str(context.home)
    else:
        word = operands[0]
        if word.dynamic or word.text == "-":
            if context.implementor:
                _deny(f"cd {word.text}: the guard cannot tell where that is; cd to a path")
            return None
        target = word.text
    if os.environ.get("CDPATH") and not target.startswith(("/", ".")):
        if context.implementor:
            _deny("CDPATH is set: write the directory as ./" + target)
        return None
    if cwd is None and not target.startswith("/"):
        return None
    joined = os.path.join(str(cwd), target) if cwd else target
    walker.check_made(joined, target)
    physical = Path(os.path.realpath(joined))
    logical = Path(os.path.realpath(posixpath.normpath(joined)))
    result = frozenset({physical, logical})
    for place in result:
        _check_directory(walker, place, target)
    return result


def _check_directory(walker: Walker, place: Path, target: str) -> None:
    from .guard_paths import _inside, temporary_dir

    context = walker.context
    if not context.implementor:
        return
    for other in context.repository:
        if _inside(place, other) and context.root not in other.parents:
            _deny(f"cd {target} leads to {place}, another worktree or the git directory: "
                  f"implementors stay in your worktree {context.root}")  # fmt: skip
    if not (
        _inside(place, context.root)
        or temporary_dir(place, context.root)
        or temporary_dir(place / "x", context.root)
    ):
        _deny(f"cd {target} leads to {place}, outside your worktree: implementors stay in "
              f"{context.root} (or a temporary directory)")  # fmt: skip


def pushd(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    operands = [a for a in args if a.text != "-n"]
    if operands and re.fullmatch(r"[+-]\d+", operands[0].text):
        return frozenset(walker.seen) if walker.seen else None
    if not operands:
        return frozenset(walker.seen) if walker.seen else None
    return cd(walker, operands[:1], cwd)


def popd(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    return frozenset(walker.seen) if walker.seen else None


# ---------------------------------------------------------------------- shells
SHELL = grammar("abceEfhikmnprstuvxBCHlPT", "oO", ["norc", "noprofile", "posix",
                "restricted", "noediting", "verbose", "login"], dangerous=["rcfile",
                "init-file", "O", "i", "s", "debugger", "dump-strings"], posix=True)  # fmt: skip
SHELL_OPTIONS = {"errexit", "nounset", "pipefail", "xtrace", "verbose", "noclobber",
                 "posix", "errtrace", "functrace"}  # fmt: skip


def shell(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    from .guard_context import unanalysable

    parsed = _parse(walker, SHELL, args, "sh")
    for option in parsed.values("-o"):
        if option not in SHELL_OPTIONS and walker.context.implementor:
            _deny(f"sh -o {option} is not allowed for implementors")
    if parsed.has("-a", "-k") and walker.context.implementor:
        _deny("sh -a/-k export every assignment: not allowed for implementors")
    operands = parsed.all_operands
    if parsed.has("-c"):
        if not operands:
            _deny("sh -c without a command")
        script = operands[0]
        if script.dynamic:
            unanalysable(walker.context, f"a shell running a computed script ({script.text})")
            return None
        walker.nested(script.text, None if cwd is None else frozenset({cwd}), "sh -c")
        return None
    if not operands:
        unanalysable(walker.context, "a shell reading its commands from standard input")
        return None
    _script_file(walker, operands[0], cwd, "sh")
    return None


# ---------------------------------------------------------------------- shell builtins
READ = grammar("ers", "adinNptu", posix=True)
DECLARE = grammar("aAglrtuxFfp", "", dangerous=["n", "i"], posix=False)
SET_FLAGS = set("euxvCEThBP")


def read(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, READ, args, "read")
    names: list[Word | str] = [*parsed.values("-a"), *parsed.all_operands]
    for name in names:
        check_variable(walker, _name(walker, name, "read"), exported=False)
    return None


def export(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    for word in args:
        if word.text in ("-p", "-n"):
            continue
        if word.text.startswith("-") and walker.context.implementor:
            _deny(f"export {word.text} is not allowed for implementors")
        name = word.text.partition("=")[0]
        check_variable(walker, _name(walker, word._replace(text=name) if not word.dynamic
                                     else word, "export"), exported=True)  # fmt: skip
    return None


def declare(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, DECLARE, args, "declare")
    if parsed.has("-f", "-F") and walker.context.implementor:
        _deny("declare -f defines functions: not allowed for implementors")
    exported = parsed.has("-x")
    for word in parsed.all_operands:
        name = word.text.partition("=")[0]
        named = word if word.dynamic and "=" not in word.text.split("$", 1)[0] else name
        check_variable(walker, _name(walker, named, "declare"), exported=exported)
    return None


def set_builtin(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    words = list(args)
    i = 0
    while i < len(words):
        text = words[i].text
        i += 1
        if text in ("--", "-"):
            break
        if text[:1] not in "-+" or len(text) < 2:
            break
        for char in text[1:]:
            if char == "o":
                option = words[i].text if i < len(words) else ""
                i += 1
                if option and option not in SHELL_OPTIONS:
                    _deny(f"set -o {option} is not allowed for implementors")
            elif char not in SET_FLAGS:
                _deny(f"set {text} is not allowed for implementors (-a/-k export every "
                      "assignment, -f changes globbing)")  # fmt: skip
    return None


def printf(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    if args and args[0].text.startswith("-v"):
        target = args[0].text[2:] or (args[1] if len(args) > 1 else "")
        check_variable(walker, _name(walker, target, "printf -v"), exported=False)
    return None


def getopts(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    if len(args) >= 2:
        check_variable(walker, _name(walker, args[1], "getopts"), exported=False)
    return None


def test_builtin(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    """``test``/``[``/``[[``: ``-v`` takes a variable name, whose subscript bash
    evaluates; in ``[[`` the integer comparisons evaluate their operands as arithmetic
    (a variable holding ``a[$(cmd)]`` runs ``cmd``)."""
    arithmetic = {"-eq", "-ne", "-lt", "-le", "-gt", "-ge"}
    for index, word in enumerate(args):
        if word.text == "-v" and index + 1 < len(args):
            _name(walker, args[index + 1], "test -v")
        if word.text in arithmetic and args and walker.context.implementor:
            operands = [args[index - 1] if index else None, args[index + 1]
                        if index + 1 < len(args) else None]  # fmt: skip
            literal = [o is None or re.fullmatch(r"-?[0-9]+", o.text) for o in operands]
            if walker.current == "[[" and not all(literal):
                _deny(
                    "an integer comparison of a variable in [[ ]] is evaluated as "
                    "arithmetic: compare numbers, or use [ ] / test"
                )
    return None
