"""Where a path may be written (:func:`check_path`) and the shell's brace and glob
expansion, done by the guard itself."""

from __future__ import annotations

import glob
import itertools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_context import Deny
from .shellparse_lex import ANY_ESCAPE

if TYPE_CHECKING:
    from .guard_context import Context

PROBE = "__new_file_probe__"  # a name for "a new file in this directory"
MAX_EXPANSION = 256  # words one brace or glob expansion may produce


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
