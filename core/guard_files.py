"""File tools for the guard: readers (any option that only reads), writers (every path
they write is checked), sed and awk scripts (no command that runs or writes), and the
test and lint runners' output options.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import Checker, _deny, _parse
from .guard_options import Grammar, Parsed, grammar, value_word
from .guard_walk import Cwds
from .shellparse import Word

if TYPE_CHECKING:
    from .guard_walk import Walker

MAX_TREE = 20_000  # files looked at below a directory a recursive write touches


_w = value_word


def _write(walker: Walker, cwd: Path | None, word: Word | str, how: str) -> None:
    walker.write(cwd, word if isinstance(word, Word) else _w(word), how)


def _remove(walker: Walker, cwd: Path | None, word: Word, how: str, *, tree: bool) -> None:
    """A path that is removed or replaced itself (not followed if it is a link), and with
    ``tree`` everything below it."""
    for name in walker.paths(word, cwd, how):
        if cwd is None and not name.startswith("/"):
            walker.write(None, _w(name), how)
            continue
        joined = name if name.startswith("/") else os.path.join(str(cwd), name)
        walker.write(cwd, _w(name), how, follow=name.endswith("/"))
        if tree:
            for below in _tree(joined):  # rm -r removes links, it does not follow them
                walker.write(None, _w(below), how, follow=False)


def _tree(path: str) -> Iterator[str]:
    if os.path.islink(path) or not os.path.isdir(path):
        return
    count = 0
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            count += 1
            if count > MAX_TREE:
                _deny(f"{path} holds more than {MAX_TREE} files: too many to check")
            yield os.path.join(base, name)


# ---------------------------------------------------------------------- readers
def reader(*dangerous: str, short_valued: str = "") -> Checker:
    """A program whose options only read, but for ``dangerous`` ones."""
    spec = grammar(short_valued=short_valued, open=True, dangerous=dangerous)

    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        _parse(walker, spec, args, "this command")
        return None

    return check


def find(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    actions = {"-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls"}
    for word in args:
        if word.text in actions and walker.context.implementor:
            _deny(f"find {word.text} runs commands or writes files: implementors use find "
                  "to list, then act on the paths")  # fmt: skip
    if any(w.text == "-delete" for w in args):
        # -delete removes below the starting points: they must be the role's, wholly
        roots = []
        for word in args:
            if word.text.startswith(("-", "(", "!", ")")):
                break
            roots.append(word)
        for root in roots or [_w(".")]:
            _remove(walker, cwd, root, "find -delete", tree=True)
    return None


def _output_options(walker: Walker, parsed: Parsed, cwd: Path | None, name: str,
                    *options: str) -> None:  # fmt: skip
    for value in parsed.values(*options):
        _write(walker, cwd, value, f"{name} {options[0]}")


SORT = grammar("bcCdfghiMmnRrsuVz", "kotTS", ["check", "merge", "reverse", "unique", "stable",
               "zero-terminated", "numeric-sort", "human-numeric-sort", "general-numeric-sort",
               "month-sort", "version-sort", "random-sort", "ignore-case", "dictionary-order",
               "ignore-leading-blanks", "ignore-nonprinting", "debug", "help", "version"],
               ["key", "output", "field-separator", "temporary-directory", "buffer-size",
                "parallel", "random-source", "sort", "files0-from"],
               long_optional=["check"], dangerous=["compress-program"])  # fmt: skip


def sort(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, SORT, args, "sort")
    _output_options(walker, parsed, cwd, "sort", "-o", "--output")
    _output_options(walker, parsed, cwd, "sort", "-T", "--temporary-directory")
    return None


def second_operand_writes(spec: Grammar, name: str) -> Checker:
    """``uniq IN OUT``, ``xxd IN OUT``: the second operand is written."""

    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        parsed = _parse(walker, spec, args, name)
        for word in parsed.all_operands[1:2]:
            _write(walker, cwd, word, name)
        return None

    return check


def shuf(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, grammar("eihrz", "nio", [], ["output", "head-count",
                    "input-range", "random-source"], open=True), args, "shuf")  # fmt: skip
    _output_options(walker, parsed, cwd, "shuf", "-o", "--output")
    return None


# ---------------------------------------------------------------------- writers
MKDIR = grammar("pv", "mZ", ["parents", "verbose", "help", "version"], ["mode", "context"])
TOUCH = grammar("acfhm", "drt", ["no-create", "no-dereference", "help", "version"],
                ["date", "reference", "time"])  # fmt: skip
RM = grammar("fiIrRdv", "", ["force", "recursive", "dir", "verbose", "one-file-system",
             "help", "version", "preserve-root"], long_optional=["interactive",
             "preserve-root"], dangerous=["no-preserve-root"])  # fmt: skip
RMDIR = grammar("pv", "", ["ignore-fail-on-non-empty", "parents", "verbose", "help"])
COPY = grammar("abdfHilLnPprRsTuvx", "St", ["archive", "force", "interactive", "link",
               "dereference", "no-clobber", "no-dereference", "parents", "recursive",
               "remove-destination", "strip-trailing-slashes", "symbolic-link",
               "no-target-directory", "verbose", "one-file-system", "attributes-only",
               "copy-contents", "debug", "help", "version", "update"], ["suffix",
               "target-directory", "sparse", "no-preserve"], long_optional=["backup",
               "preserve", "reflink", "update", "context"])  # fmt: skip
LN = grammar("bdfFinLPrsTv", "St", ["directory", "force", "interactive", "logical",
             "no-dereference", "physical", "relative", "symbolic", "no-target-directory",
             "verbose", "help", "version"], ["suffix", "target-directory"],
             long_optional=["backup"])  # fmt: skip
TEE = grammar("aip", "", ["append", "ignore-interrupts", "help", "version"],
              long_optional=["output-error"])  # fmt: skip
TRUNCATE = grammar("co", "rs", ["no-create", "io-blocks", "help"], ["reference", "size"])
CHMOD = grammar("cfvR", "", ["changes", "silent", "quiet", "verbose", "recursive",
                "preserve-root", "help", "version"], ["reference"],
                dangerous=["no-preserve-root"])  # fmt: skip
MODE = re.compile(r"[0-7]{1,4}|([ugoa]*[-+=]([rwxXst]*|[ugo]))(,[ugoa]*[-+=]([rwxXst]*|[ugo]))*")


def creates(spec: Grammar, name: str) -> Checker:
    """mkdir, touch, tee, truncate: every operand is written."""

    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        parsed = _parse(walker, spec, args, name)
        for word in parsed.all_operands:
            _write(walker, cwd, word, name)
        return None

    return check


def rm(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, RM, args, "rm")
    recursive = parsed.has("-r", "-R", "--recursive")
    for word in parsed.all_operands:
        _remove(walker, cwd, word, "rm", tree=recursive)
    return None


def rmdir(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    parsed = _parse(walker, RMDIR, args, "rmdir")
    for word in parsed.all_operands:
        _remove(walker, cwd, word, "rmdir", tree=False)
        if parsed.has("-p", "--parents"):
            parent = os.path.dirname(word.text.rstrip("/"))
            while parent and parent not in (".", "/"):
                _remove(walker, cwd, _w(parent), "rmdir -p", tree=False)
                parent = os.path.dirname(parent)
    return None


def unlink(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    for word in args:
        if not word.text.startswith("-"):
            _remove(walker, cwd, word, "unlink", tree=False)
    return None


def _destinations(walker: Walker, parsed: Parsed, cwd: Path | None,
                  name: str) -> list[tuple[str, Word]]:  # fmt: skip
    """(destination, source) for cp/mv/ln/install."""
    operands = parsed.all_operands
    target_dir = parsed.values("-t", "--target-directory")
    if target_dir:
        sources, directory = operands, target_dir[-1]
    elif parsed.has("-T", "--no-target-directory"):
        if len(operands) != 2:
            _deny(f"{name} -T takes a source and a destination")
        return [(operands[1].text, operands[0])]
    elif name == "ln" and len(operands) == 1:
        return [(os.path.basename(operands[0].text.rstrip("/")) or ".", operands[0])]
    elif len(operands) < 2:
        return []
    elif len(operands) == 2:
        dest = operands[1]
        if dest.dynamic:
            return [(dest.text, operands[0])]
        base = str(cwd) if cwd else ""
        if not os.path.isdir(os.path.join(base, dest.text)) and not dest.text.endswith("/"):
            return [(dest.text, operands[0])]
        sources, directory = operands[:1], dest.text
    else:
        sources, directory = operands[:-1], operands[-1].text
    keep_path = parsed.has("--parents")
    out = []
    for source in sources:
        tail = source.text.lstrip("/") if keep_path else os.path.basename(source.text.rstrip("/"))
        out.append((os.path.join(directory, tail), source))
    return out


def copier(spec: Grammar, name: str) -> Checker:
    """cp, mv, ln, install: destinations written (and for mv, sources removed)."""

    def check(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
        parsed = _parse(walker, spec, args, name)
        if any(w.dynamic for w in parsed.all_operands):
            walker.paths(next(w for w in parsed.all_operands if w.dynamic), cwd, name)
        recursive = parsed.has("-r", "-R", "--recursive", "-a", "--archive") or name == "mv"
        backup = parsed.has("-b", "--backup")
        suffix = (parsed.values("-S", "--suffix") or [os.environ.get("SIMPLE_BACKUP_SUFFIX",
                                                                     "~")])[-1]  # fmt: skip
        if "/" in suffix:
            _deny(f"{name}: a backup suffix with a slash writes elsewhere")
        hard = (name == "ln" and not parsed.has("-s", "--symbolic")) or (
            name == "cp" and parsed.has("-l", "--link")
        )
        if hard and walker.context.implementor:
            for source in parsed.all_operands[:-1] or parsed.all_operands:
                # a hard link to a file is that file: it must be the role's to write
                walker.write(cwd, source, f"{name} (a hard link to it)")
        for dest, source in _destinations(walker, parsed, cwd, name):
            no_follow = name in ("mv", "ln") or parsed.has("-n", "--no-dereference")
            if no_follow:
                _remove(walker, cwd, _w(dest), name, tree=False)
            else:
                _write(walker, cwd, dest, name)
            if backup:
                _remove(walker, cwd, _w(dest + suffix), f"{name} --backup", tree=False)
            if recursive and not source.dynamic:
                base = str(cwd) if cwd else ""
                src = os.path.join(base, source.text)
                for below in _tree(src):
                    _write(walker, cwd, os.path.join(dest, os.path.relpath(below, src)), name)
            if name == "mv":
                _remove(walker, cwd, source, "mv (the source)", tree=True)
            walker.made(cwd, dest)
        return None

    return check


def chmod(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    words = list(args)
    mode_given = False
    options: list[Word] = []
    operands: list[Word] = []
    for word in words:
        if not mode_given and MODE.fullmatch(word.text):
            mode_given = True
            continue
        (options if word.text.startswith("-") else operands).append(word)
    parsed = _parse(walker, CHMOD, options + operands, "chmod")
    if not mode_given and not parsed.values("--reference") and parsed.all_operands:
        parsed = parsed._replace(operands=parsed.operands[1:])
    for word in parsed.all_operands:
        _remove(walker, cwd, word, "chmod", tree=parsed.has("-R", "--recursive"))
    return None


def dd(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    for word in args:
        key, eq, value = word.text.partition("=")
        if not eq:
            if word.text not in ("--help", "--version"):
                _deny(f"dd {word.text}: dd takes key=value operands")
            continue
        if word.dynamic and key == "of":
            walker.paths(word, cwd, "dd of=")
        if key == "of":
            _write(walker, cwd, value, "dd of=")
    return None


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


FILE_CHECKERS: dict[str, Checker] = {
    **{name: reader() for name in ("cat", "head", "tail", "wc", "ls", "grep", "egrep", "fgrep",
                                   "diff", "cmp", "comm", "cut", "paste", "join", "tr", "nl",
                                   "fold", "fmt", "column", "expand", "unexpand", "rev", "tac",
                                   "realpath", "readlink", "stat", "du", "df", "md5sum",
                                   "sha1sum", "sha256sum", "sha512sum", "b2sum", "cksum", "od",
                                   "hexdump", "strings", "jq", "numfmt", "sum", "base64",
                                   "base32")},
    "rg": reader("pre", "pre-glob"), "tree": reader("o", "R"), "file": reader("C", "compile"),
    "date": reader("s", "set"), "hostname": reader("F", "file", "b", "boot"),
    "find": find, "sort": sort, "shuf": shuf,
    "uniq": second_operand_writes(grammar("cdDiuz", "fsw", open=True), "uniq"),
    "xxd": second_operand_writes(grammar("abCeEiprpuh", "cglosnR", open=True), "xxd"),
    "mkdir": creates(MKDIR, "mkdir"), "touch": creates(TOUCH, "touch"),
    "tee": creates(TEE, "tee"), "truncate": creates(TRUNCATE, "truncate"),
    "rm": rm, "rmdir": rmdir, "unlink": unlink, "chmod": chmod, "dd": dd,
    "cp": copier(COPY, "cp"), "mv": copier(COPY, "mv"), "ln": copier(LN, "ln"),
    "sed": sed, "awk": awk, "gawk": awk, "mawk": awk, "nawk": awk,
    "pytest": pytest, "py.test": pytest,
    "ruff": tool_outputs("ruff", "output-file", "cache-dir", rewrites_operands=True),
    "mypy": tool_outputs("mypy", "cache-dir", "junit-xml", "html-report", "txt-report",
                         "xml-report", "cobertura-xml-report", "linecount-report",
                         "linecoverage-report", "lineprecision-report", "any-exprs-report",
                         "xslt-html-report", "xslt-txt-report"),
}  # fmt: skip
