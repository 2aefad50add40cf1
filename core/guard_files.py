"""File tools for the guard: readers (any option that only reads) and writers (every path
they write is checked); sed, awk and the test and lint runners are in :mod:`~.guard_tools`.
:data:`FILE_CHECKERS` names them all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_checker import Checker, _deny, _parse, _remove, _tree, _w, _write
from .guard_options import Grammar, Parsed, grammar
from .guard_tools import awk, pytest, sed, tool_outputs
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_walk import Walker


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
