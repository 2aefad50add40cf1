"""Interpreters for the guard: ``python`` (options as CPython reads them, and the
``-m`` modules an implementor may run), node, perl, ruby, php, lua and deno (a script
file in the worktree, no inline code)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import Checker, _deny, _script_file, harmless
from .guard_options import Grammar, OptionError, grammar, parse_args
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_walk import Walker
# ---------------------------------------------------------------------- interpreters
PYTHON_X = {"importtime", "dev", "utf8", "faulthandler", "tracemalloc", "warn_default_encoding",
            "no_debug_ranges", "frozen_modules", "int_max_str_digits"}  # fmt: skip
NODE = grammar("hv", "", ["test", "version", "help", "enable-source-maps", "no-warnings",
               "trace-warnings", "watch"], ["test-reporter", "test-name-pattern"],
               dangerous=["e", "eval", "p", "print", "r", "require", "import", "loader",
                          "experimental-loader", "i", "interactive", "test-reporter-destination",
                          "env-file", "redirect-warnings", "cpu-prof-dir", "heap-prof-dir",
                          "report-directory", "diagnostic-dir"], posix=True)  # fmt: skip
RUBY = grammar("wWcsdvy", "", [], [], dangerous=["e", "E", "i", "r", "I", "x", "n", "p", "l",
               "a", "F", "C", "0", "require"], posix=True)  # fmt: skip
PHP = grammar("nqsl", "", [], [], dangerous=["r", "R", "B", "E", "F", "a", "d", "c", "z", "S",
              "t", "f"], posix=True)  # fmt: skip
PERL = grammar("wWXTtcsU", "", [], [], dangerous=["e", "E", "i", "M", "m", "I", "x", "n", "p",
               "d", "D", "l", "0", "a", "F"], posix=True, abbreviations=False)  # fmt: skip


def python(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    """python [options] (-m module | -c code | script | -) [args]: options stop at the
    module, the code or the script, as CPython reads them (clusters such as ``-Ic``)."""
    from .guard_context import unanalysable

    context = walker.context
    if not context.implementor:
        return None
    i = 0
    module: str | None = None
    while i < len(args):
        word = args[i]
        text = word.text
        if word.dynamic and text.startswith("-"):
            _deny(f"python: a computed option ({text})")
        if not text.startswith("-") or text == "-":
            break
        i += 1
        if text.startswith("--"):
            if text in ("--version", "--help", "--help-env", "--help-xoptions", "--help-all"):
                return None
            if text.startswith("--check-hash-based-pycs"):
                i += 0 if "=" in text else 1
                continue
            _deny(f"python: unknown option {text}")
        j = 1
        while j < len(text):
            char = text[j]
            j += 1
            if char in "ci":
                unanalysable(context, "inline python code")
                return None
            if char in "mWX":
                value = text[j:] or (args[i].text if i < len(args) else "")
                if not text[j:]:
                    i += 1
                if char == "m":
                    module = value
                elif char == "X" and value.partition("=")[0] not in PYTHON_X:
                    _deny(f"python -X {value} is not allowed for implementors")
                break
            if char in "VhE" or char in "bBdIOPqsSuvx":
                if char in "Vh":
                    return None
                continue
            _deny(f"python: unknown option -{char}")
        if module is not None:
            break
    rest = list(args[i:])
    if module is not None:
        checker = PYTHON_MODULES.get(module)
        if checker is None:
            _deny(f"python -m {module} is not in the implementors' allow-list (allowed: "
                  f"{', '.join(sorted(PYTHON_MODULES))}); add it to guard.allow")  # fmt: skip
            return None
        return checker(walker, rest, cwd)
    if not rest:
        unanalysable(context, "python reading its program from standard input")
        return None
    _script_file(walker, rest[0], cwd, "python")
    return None


def _deno(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    from .guard_context import unanalysable

    if (args and args[0].text in ("eval", "repl")) or not args:
        unanalysable(walker.context, "inline deno code")
        return None
    if walker.context.implementor:
        _deny("deno is not in the implementors' allow-list: add it to guard.allow")
    return None


def _interpreter(spec: Grammar, name: str) -> Checker:
    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        from .guard_context import unanalysable

        context = walker.context
        if not context.implementor:
            return None
        try:
            parsed = parse_args(spec, args)
        except OptionError:
            unanalysable(context, f"inline {name} code or options")
            return None
        if parsed.has("--version", "-v", "--help", "-h") and not parsed.all_operands:
            return None
        if not parsed.all_operands:
            unanalysable(context, f"{name} reading its program from standard input")
            return None
        if name == "node" and parsed.has("--test") and not parsed.all_operands:
            return None
        _script_file(walker, parsed.all_operands[0], cwd, name)
        return None

    return check


def _pytest_module(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    from .guard_tools import pytest

    return pytest(walker, args, cwd)


def _orchestrator_module(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    from .guard_gh import orchestrator

    return orchestrator(walker, args, cwd)


def _module(name: str) -> Checker:
    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        from .guard_files import FILE_CHECKERS

        return FILE_CHECKERS[name](walker, args, cwd)

    return check


def _json_tool(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    operands = [a for a in args if not a.text.startswith("-")]
    for word in operands[1:2]:  # python -m json.tool IN OUT writes OUT
        walker.write(cwd, word, "python -m json.tool")
    return None


PIP_READS = {"list", "show", "freeze", "check", "--version", "-V", "help", "--help", "inspect"}


def pip(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    words = [a.text for a in args if not a.text.startswith("-") or a.text in PIP_READS]
    if walker.context.implementor and (not words or words[0] not in PIP_READS):
        _deny(f"pip {words[0] if words else ''} changes the environment: implementors may "
              "only read it (pip list/show/freeze/check); add installs to guard.allow")  # fmt: skip
    return None


PYTHON_MODULES: dict[str, Checker] = {
    "pytest": _pytest_module,
    "json.tool": _json_tool,
    "pip": pip,
    "claude_orchestrator": _orchestrator_module,
    "unittest": harmless,
    "mypy": _module("mypy"),
    "ruff": _module("ruff"),
}
