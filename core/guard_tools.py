"""Tools with a language of their own, for the guard: sed and awk scripts (no command
that runs or writes), and the test and lint runners (pytest, ruff, mypy) whose options
name files they write."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import Checker, _deny, _parse, _remove, _w, _write
from .guard_options import grammar
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_walk import Walker
# ---------------------------------------------------------------------- sed and awk
SED = grammar("nrEsuz", "efl", ["quiet", "silent", "regexp-extended", "separate", "unbuffered",
              "null-data", "posix", "debug", "sandbox", "follow-symlinks", "help", "version"],
              ["expression", "line-length"], short_optional="i",
              long_optional=["in-place"], dangerous=["f", "file"])  # fmt: skip


def sed(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, SED, args, "sed")
    scripts = parsed.values("-e", "--expression")
    operands = parsed.all_operands
    if not scripts:
        if not operands:
            return None
        script_word, operands = operands[0], operands[1:]
        if script_word.dynamic:
            walker.paths(script_word, cwd, "a sed script")
        scripts = [script_word.text]
    if not parsed.has("--sandbox"):
        for script in scripts:
            problem = sed_script_problem(script)
            if problem and walker.context.implementor:
                _deny(f"sed: {problem}")
    in_place = [v for n, v in parsed.options if n in ("-i", "--in-place")]
    if in_place:
        suffix = in_place[-1] or ""
        if "/" in suffix:
            _deny("sed -i with a suffix holding a slash writes elsewhere")
        for word in operands:
            _remove(walker, cwd, word, "sed -i", tree=False)
            _write(walker, cwd, word, "sed -i")
            if suffix:
                for name in walker.paths(word, cwd, "sed -i"):
                    backup = (
                        os.path.join(
                            os.path.dirname(name), suffix.replace("*", os.path.basename(name))
                        )
                        if "*" in suffix
                        else name + suffix
                    )
                    _remove(walker, cwd, _w(backup), "sed -i (the backup)", tree=False)
    return None


def sed_script_problem(script: str) -> str | None:
    """Why a sed script may run a command or write a file, or None.

    Parses GNU sed's syntax: addresses, ``!``, blocks, and each command; ``e``, ``w``,
    ``W`` and the ``s`` flags ``e`` and ``w`` run or write; an unparsable script is a
    problem too (the guard cannot tell).
    """
    s = script
    i = 0
    n = len(s)

    def skip_regex(i: int, delim: str) -> int:
        while i < n and s[i] != delim:
            if s[i] == "\\":
                i += 1
            elif s[i] == "\n":
                raise ValueError("newline in a regex")
            i += 1
        if i >= n:
            raise ValueError("unterminated regex")
        return i + 1

    def address(i: int) -> int:
        if i < n and (s[i].isdigit()):
            while i < n and (s[i].isdigit() or s[i] == "~"):
                i += 1
        elif i < n and s[i] == "$":
            i += 1
        elif i < n and s[i] == "/":
            i = skip_regex(i + 1, "/")
            while i < n and s[i] in "IM":
                i += 1
        elif i < n and s[i] == "\\" and i + 1 < n:
            i = skip_regex(i + 2, s[i + 1])
            while i < n and s[i] in "IM":
                i += 1
        return i

    try:
        while i < n:
            while i < n and s[i] in " \t\n;":
                i += 1
            if i >= n:
                break
            start = i
            i = address(i)
            if i > start and i < n and s[i] == ",":
                i += 1
                if i < n and s[i] in "+~":
                    i += 1
                    while i < n and s[i].isdigit():
                        i += 1
                else:
                    i = address(i)
            while i < n and s[i] in " \t!":
                i += 1
            if i >= n:
                raise ValueError("a missing command")
            c = s[i]
            i += 1
            if c in "ewW":
                return f"the `{c}` command runs a command or writes a file"
            if c in "{}=dDgGhHlnNpPxzF":
                if c == "l":
                    while i < n and s[i].isdigit():
                        i += 1
                continue
            if c in "qQ":
                while i < n and s[i] in " \t0123456789":
                    i += 1
                continue
            if c in "aic":
                end = s.find("\n", i)
                i = n if end == -1 else end
                continue
            if c in ":btTv":  # a label ends at ';' or a newline (GNU sed)
                while i < n and s[i] not in "\n;":
                    i += 1
                continue
            if c in "rR":  # a file name to the end of the line
                while i < n and s[i] != "\n":
                    i += 1
                continue
            if c in "sy":
                if i >= n or s[i] in "\n\\":
                    raise ValueError("a bad delimiter")
                delim = s[i]
                i = skip_regex(i + 1, delim)
                i = skip_regex(i, delim)
                if c == "s":
                    while i < n and s[i] not in "\n;}":
                        if s[i] in "ew":
                            return f"the s command's `{s[i]}` flag runs a command or writes a file"
                        if s[i] not in "gpiImM0123456789 \t":
                            raise ValueError(f"an unknown s flag {s[i]!r}")
                        i += 1
                continue
            raise ValueError(f"an unknown command {c!r}")
    except ValueError as exc:
        return f"cannot read this sed script ({exc})"
    return None


AWK = grammar("", "Fv", ["posix", "traditional", "lint", "sandbox", "characters-as-bytes",
              "re-interval", "help", "version", "no-optimize", "csv"],
              ["field-separator", "assign"], dangerous=["f", "file", "i", "include", "l",
              "load", "E", "exec", "profile", "dump-variables", "debug", "pretty-print",
              "source", "e", "o", "p", "d", "D"])  # fmt: skip
AWK_RISK = re.compile(r"system|getline|[|>]|@load|@include|close\s*\(|fflush")


def awk(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, AWK, args, "awk")
    operands = parsed.all_operands
    if not operands:
        return None
    program = operands[0]
    if walker.context.implementor and not parsed.has("--sandbox"):
        if program.dynamic:
            walker.paths(program, cwd, "an awk program")
        found = AWK_RISK.search(program.text)
        if found:
            _deny(f"awk: the program uses {found.group(0)!r}, which can run commands or "
                  "write files; implementors use awk to read (a comparison with > can be "
                  "written with <)")  # fmt: skip
    return None


# ---------------------------------------------------------------------- test and lint tools
PYTEST_WRITES = ("junitxml", "junit-xml", "basetemp", "result-log", "html", "json-report-file",
                 "report-log", "cov-report", "durations-path", "log-file", "debug")  # fmt: skip
PYTEST = grammar("qvxslhVPrf", "kmpoWn", [], [*PYTEST_WRITES, "override-ini", "deselect",
                 "ignore", "ignore-glob", "tb", "maxfail", "durations", "log-level",
                 "log-cli-level", "junit-prefix", "import-mode", "capture", "color",
                 "numprocesses", "dist", "cov-config", "cov-fail-under", "timeout"],
                 long_optional=["cov", "debug", "lf", "ff"], open=True,
                 dangerous=["c", "config-file", "inifile", "rootdir", "confcutdir", "pyargs",
                            "pastebin", "cache-show"])  # fmt: skip
INI_DENIED = ("addopts", "testpaths", "python_files", "python_classes", "python_functions",
              "pythonpath", "confcutdir", "required_plugins", "norecursedirs", "rootdir",
              "tmp_path_retention_policy")  # fmt: skip


def pytest(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    if not walker.context.implementor:
        return None
    parsed = _parse(walker, PYTEST, args, "pytest")
    for name, value in parsed.options:
        option = name.lstrip("-")
        if option in ("o", "override-ini"):
            key, _, setting = (value or "").partition("=")
            key = key.strip()
            if key in ("cache_dir", "log_file"):
                _write(walker, cwd, setting, f"pytest -o {key}")
            elif key in INI_DENIED:
                _deny(f"pytest -o {key} is not allowed for implementors (it changes what "
                      "pytest runs or where it writes)")  # fmt: skip
            continue
        if option not in PYTEST_WRITES or value is None:
            continue
        if option == "cov-report":
            value = value.partition(":")[2]
            if not value:
                continue
        _write(walker, cwd, value, f"pytest --{option}")
        if option == "basetemp":
            _remove(walker, cwd, _w(value), "pytest --basetemp (emptied first)", tree=True)
    return None


def tool_outputs(name: str, *writes: str, rewrites_operands: bool = False) -> Checker:
    """ruff, mypy: options naming files or directories they write are writes; a tool
    that rewrites the files it is given (``ruff format``, ``ruff check --fix``) may be
    given only paths in the agent's own worktree (the sandbox keeps it to the role's)."""

    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        skip = False
        for index, word in enumerate(args):
            if skip:
                skip = False
                continue
            option, eq, value = word.text.partition("=")
            if word.dynamic and option.startswith("-"):
                _deny(f"{name}: a computed option ({word.text})")
            if not option.startswith("-"):
                if rewrites_operands:
                    _inside_worktree(walker, word, cwd, name)
                continue
            full = next((w for w in writes if w.startswith(option[2:]) and len(option) >= 5),
                        None)  # fmt: skip
            if full is None:
                continue
            target = word._replace(text=value, pattern=value)
            if not eq:
                target = args[index + 1] if index + 1 < len(args) else _w("")
                skip = True
            walker.write(cwd, target, f"{name} --{full}")
        return None

    return check


def _inside_worktree(walker: Walker, word: Word, cwd: Path | None, name: str) -> None:
    from .guard_paths import _inside

    context = walker.context
    if not context.implementor:
        return
    for text in walker.paths(word, cwd, name):
        base = str(cwd) if cwd else str(context.root)
        path = Path(os.path.realpath(os.path.join(base, text)))
        if not _inside(path, context.root) or any(
            _inside(path, other) and context.root not in other.parents
            for other in context.repository
        ):
            _deny(f"{name} {text}: implementors run {name} on paths in their worktree")
