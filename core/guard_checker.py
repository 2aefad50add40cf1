"""What every program checker of the guard shares: the :data:`Checker` type, refusing
(:func:`_deny`), parsing options by a grammar (:func:`_parse`), variables an implementor
may not set, scripts that must be files in the worktree, and writes and removals of
paths (a removed directory: everything below it)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .guard_options import Grammar, OptionError, Parsed, parse_args, value_word
from .guard_walk import Cwds
from .shellparse_lex import Word

if TYPE_CHECKING:
    from .guard_walk import Walker

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


def _deny(reason: str) -> NoReturn:
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


def harmless(walker: Walker, args: list[Word], cwd: Path | None) -> Cwds | None:
    return None


# ---------------------------------------------------------------------- writes
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
