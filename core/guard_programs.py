"""The programs the guard knows: how each reads its command line, and what it may do.

:func:`run_program` is called for every simple command the :class:`~.guard_walk.Walker`
reaches. It resolves the program name (a path counts as the program ``PATH`` would
find, or a virtualenv's), strips wrappers (``env``, ``timeout``, ``nice``, ``xargs`` ...)
and dispatches to the program's checker. For an implementor a program without a checker
is denied (allow-list); for the overseer only git, gh and the writers are checked.

Writers and text tools live in :mod:`~.guard_files`, git in :mod:`~.guard_git`.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .guard_options import Grammar, OptionError, Parsed, grammar, parse_args, value_word
from .shellparse import Word

if TYPE_CHECKING:
    from .guard_walk import Walker

Cwds = frozenset[Path] | None
Checker = Callable[["Walker", list[Word], "Path | None"], "Cwds | None"]

#: variables that the shell itself acts on, never an implementor's to set
SHELL_SPECIAL = frozenset({
    "PATH", "CDPATH", "IFS", "HOME", "PS4", "BASH_ENV", "SHELLOPTS", "BASHOPTS",
    "GLOBIGNORE", "OLDPWD", "PWD", "PROMPT_COMMAND", "FIGNORE", "HISTFILE", "TMPDIR",
    "EXECIGNORE", "BASH_XTRACEFD", "POSIXLY_CORRECT", "PS0", "PS1", "PS2", "PS3",
})  # fmt: skip
#: variables that change what some tool runs, loads, reads as configuration or writes
RISKY_NAMES = SHELL_SPECIAL | frozenset({
    "EDITOR", "VISUAL", "PAGER", "MANPAGER", "LESS", "LESSOPEN", "LESSCLOSE", "TMP", "TEMP",
    "SHELL", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS",
    "GLIBC_TUNABLES", "CC", "CXX", "CPP", "LD", "AR", "MAKEFLAGS", "MFLAGS", "MAKEFILES",
    "GNUMAKEFLAGS", "TERMINFO", "ALL_PROXY", "NO_PROXY", "CURL_HOME", "WGETRC", "GNUPGHOME",
    "DISPLAY", "WAYLAND_DISPLAY", "KUBECONFIG", "USER", "LOGNAME", "SIMPLE_BACKUP_SUFFIX",
    "VERSION_CONTROL", "GREP_OPTIONS", "TAR_OPTIONS", "QUOTING_STYLE",
})  # fmt: skip
RISKY_PREFIXES = ("GIT_", "LD_", "DYLD_", "BASH_", "PYTHON", "PERL", "RUBY", "GEM_",
                  "BUNDLE_", "NODE_", "NPM_", "YARN_", "PNPM_", "PIP_", "UV_", "POETRY_",
                  "VIRTUAL_ENV", "CONDA", "XDG_", "SSH_", "GH_", "GITHUB_", "CLAUDE",
                  "ANTHROPIC", "PYTEST_", "COVERAGE_", "TOX_", "NOX_", "RUST", "CARGO_", "GO",
                  "JAVA", "_JAVA", "GRADLE_", "MAVEN_", "OPENSSL_", "SSL_", "MALLOC_",
                  "PKG_CONFIG", "LUA_", "PHP", "DENO_", "BUN_", "DOCKER_", "SUDO_",
                  "DBUS_", "REQUESTS_", "CURL_", "HYPOTHESIS_STORAGE", "MYPY", "RUFF_")  # fmt: skip
RISKY_PARTS = re.compile(
    r"PATH$|_HOME$|_DIR$|_DIRS$|_FILE$|_CONFIG|_OPTIONS$|_OPTS$|"
    r"_PAGER$|_EDITOR$|PROXY$|_COMMAND$|_CMD$|_PROGRAM$|_PRELOAD|EXEC|"
    r"HOOK|_SHELL$|_ROOT$|_CACHE|_PREFIX$|_TOKEN$|_LIB$|RC$",
    re.I,
)


def risky_variable(name: str) -> bool:
    """Whether setting ``name`` can change what a program does beyond its own logic."""
    upper = name.upper()
    return (upper in RISKY_NAMES or upper.startswith(RISKY_PREFIXES)
            or bool(RISKY_PARTS.search(name)) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*",
                                                                 name))  # fmt: skip


def _deny(reason: str) -> None:
    from .guard_context import Deny

    raise Deny(reason)


def _parse(walker: Walker, spec: Grammar, args: list[Word], name: str) -> Parsed:
    try:
        return parse_args(spec, args)
    except OptionError as exc:
        if walker.context.implementor:
            _deny(f"{name}: {exc}: implementors' commands must use options the guard knows "
                  f"(see `{name} --help`), or add the command to guard.allow")  # fmt: skip
        return Parsed([], list(args), [])


def expand_args(walker: Walker, words: list[Word], cwd: Path | None) -> list[Word]:
    """Words after brace, tilde and glob expansion (computed words stay as they are)."""
    out: list[Word] = []
    for word in words:
        texts = walker.expand(word, cwd)
        if texts is None:
            out.append(word)
            continue
        for text in texts:
            escaped = "".join("\\" + c if c in "*?[]{},~\\" else c for c in text)
            out.append(Word(text, False, escaped, (), word.quoted))
    return out


# ---------------------------------------------------------------------- variables
def check_variable(walker: Walker, name: str, *, exported: bool) -> None:
    """A shell variable the command sets; exported ones reach every program."""
    context = walker.context
    if not context.implementor:
        return
    if not _NAME.fullmatch(name):
        _deny(f"the variable name {name!r} is computed or has a subscript: implementors "
              "name variables plainly")  # fmt: skip
    if exported or name in os.environ or name.upper() in RISKY_NAMES or \
            name.startswith(RISKY_PREFIXES):  # fmt: skip
        walker.check_env(name)


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


def _allowed_by_config(context: Any, words: list[Word], *, exact: bool = False) -> bool:
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


def _script_file(walker: Walker, word: Word, cwd: Path | None, what: str) -> None:
    """A script the project holds runs under the sandbox; the guard checks that it is a
    file in the worktree, not where its code writes."""
    from .guard_context import unanalysable
    from .guard_paths import _inside

    context = walker.context
    if not context.implementor:
        return
    if word.dynamic or word.text == "-":
        unanalysable(context, f"{what} reading code from {word.text}")
        return
    base = str(cwd or context.root)
    real = Path(os.path.realpath(os.path.join(base, word.text)))
    if real.is_dir() or not _inside(real, context.root):
        _deny(f"{what} {word.text}: implementors run scripts that are files in their "
              "worktree")  # fmt: skip


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
DENO = grammar("", "", [], [], dangerous=["eval"], posix=True)
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


# ---------------------------------------------------------------------- shell builtins
READ = grammar("ers", "adinNptu", posix=True)
DECLARE = grammar("aAglrtuxFfp", "", dangerous=["n", "i"], posix=False)
SET_FLAGS = set("euxvCEThBP")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _name(walker: Walker, word: Word | str, what: str) -> str:
    """A variable name a builtin sets: written out, no subscript (bash evaluates a
    subscript as arithmetic, which runs command substitutions)."""
    text = word if isinstance(word, str) else word.text
    computed = (isinstance(word, Word) and word.dynamic) or not _NAME.fullmatch(text)
    if computed and walker.context.implementor:
        _deny(
            f"{what}: the variable name {text!r} is computed or has a subscript; "
            "implementors name variables plainly"
        )
    return text


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


def harmless(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
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


def _pytest_module(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    from .guard_files import pytest

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


CHECKERS["pip"] = CHECKERS["pip3"] = pip

PYTHON_MODULES: dict[str, Checker] = {
    "pytest": _pytest_module,
    "json.tool": _json_tool,
    "pip": pip,
    "claude_orchestrator": _orchestrator_module,
    "unittest": harmless,
    "mypy": _module("mypy"),
    "ruff": _module("ruff"),
}
