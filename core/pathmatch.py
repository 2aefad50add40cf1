"""Path patterns with gitignore semantics: the one matcher of the guard, the config and CI.

A list of patterns compiles to a :class:`PathPolicy`; ``policy.matches(path)`` says
whether a repository-relative POSIX path (normalised: no ``.`` or ``..`` segments, no
leading or trailing ``/``) is matched. Each pattern follows gitignore(5):

* ``*`` matches anything but ``/``, ``?`` one character but ``/``, ``[abc]``, ``[a-z]``,
  ``[!a]`` (or ``[^a]``) one character of a set but never ``/``; ``\\`` makes the next
  character literal;
* ``**`` as a whole segment spans directories: ``**/x`` (any depth), ``x/**`` (everything
  inside), ``a/**/b`` (zero or more directories between);
* a ``/`` at the start or in the middle anchors the pattern to the repository root;
  otherwise it matches at any depth (``*.md``, ``docs/``);
* a trailing ``/`` matches directories only;
* ``!`` in front excludes again what earlier patterns matched; the last pattern that
  matches a path decides, and no match means "not matched".

A pattern that matches a directory covers everything inside it. One rule of git's is left
out on purpose: git cannot re-include a file whose parent directory is excluded (it never
looks inside that directory), so for git ``src/**`` with ``!src/secret/**`` still
ignores ``src/secret/key.py``, because ``src/**`` matches the directory ``src/secret``.
We judge the paths of files that are written, one path at a time, and each pattern either
matches that path (itself, or through a directory above it) or not; the last pattern
that matches decides. So ``!src/secret/**`` takes ``src/secret/key.py`` out again, and
``src/`` with ``!src/generated.py`` allows everything in ``src`` but that file, which is
what a list of write permissions means. ``tests/test_pathmatch.py`` checks every pattern
against ``git check-ignore`` and the combination against this rule.

Patterns that gitignore reads differently from how they look are refused, with a
:class:`PatternError` that says why: an empty pattern, a leading ``#`` (a comment), a
trailing unescaped space (git drops it), a trailing ``\\``, an empty, ``.`` or ``..``
segment, ``**`` inside a name (git reads ``a**`` as ``a*`` but lets ``a**/b`` span
directories), an unclosed or reversed ``[...]``, a ``/`` inside ``[...]``, POSIX classes
(``[[:alpha:]]``) and control characters. Characters are compared as Unicode characters
(git compares bytes: ``?`` never matches a multi-byte character there) and case matters.

Every pattern compiles to one regular expression for ``re.fullmatch`` that cannot
backtrack catastrophically: the text that each ``*`` or ``**`` skips is matched lazily
inside an atomic group (``(?>...)``, Python 3.11+), which is safe because the earliest
place where the rest of a segment (or of the pattern) matches is always the best one:
what follows is again a ``*`` (or ``**``, or "anything below"), which can absorb the
difference. So matching takes time about proportional to the length of the path times
that of the pattern; a pattern has at most :data:`MAX_PATTERN_LENGTH` characters and a
list at most :data:`MAX_PATTERNS` patterns.

:meth:`PathPolicy.export` gives the compiled form as ``[regex, negated]`` pairs, and
:func:`decide` is the whole decision; the CI scope check carries both
(:mod:`claude_orchestrator.generators.github_actions`), so CI and the guard cannot
disagree. Standard library only: the guard imports this before every tool call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from .errors import ValidationError

#: The longest pattern accepted, in characters.
MAX_PATTERN_LENGTH = 256
#: The most patterns in one list.
MAX_PATTERNS = 100

_ANY_DEPTH = "(?:.*?/)??"  # zero or more whole directories, the fewest first


class PatternError(ValidationError):
    """A path pattern is malformed or would not mean what it seems to.

    :ivar pattern: the pattern.
    :ivar reason: what is wrong with it.
    :ivar index: its position in the list given to :func:`compile_patterns` (None when
        the list as a whole is at fault or a single pattern was compiled).
    """

    def __init__(self, pattern: str, reason: str, index: int | None = None) -> None:
        super().__init__(f"invalid path pattern {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason
        self.index = index


class Rule(NamedTuple):
    """One compiled pattern: it matches a path when ``regex.fullmatch(path)``."""

    pattern: str
    regex: re.Pattern[str]
    negated: bool


def decide(compiled: Sequence[tuple[re.Pattern[str], bool]], path: str) -> bool:
    """Whether ``path`` is matched: the last rule whose regex matches it decides.

    :param compiled: ``(regex, negated)`` pairs in the order of the patterns.
    :returns: ``not negated`` of the last matching rule; False when none matches.

    The generated CI scope check carries this function's source: keep it self-contained
    (no other names of this module, no imports).
    """
    for regex, negated in reversed(compiled):
        if regex.fullmatch(path):
            return not negated
    return False


class PathPolicy:
    """A compiled list of patterns (see the module docstring for what they mean)."""

    __slots__ = ("_pairs", "rules")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._pairs = tuple((rule.regex, rule.negated) for rule in self.rules)

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(rule.pattern for rule in self.rules)

    def matches(self, path: str) -> bool:
        """Whether a normalised repository-relative path is matched."""
        return decide(self._pairs, path)

    def export(self) -> list[tuple[str, bool]]:
        """``(regex source, negated)`` per pattern, for :func:`decide` elsewhere (JSON-able).

        Compile each source with ``re.compile(source)``; the flags are inline.
        """
        return [(rule.regex.pattern, rule.negated) for rule in self.rules]

    def __repr__(self) -> str:
        return f"PathPolicy({list(self.patterns)!r})"


def compile_patterns(patterns: Iterable[str]) -> PathPolicy:
    """Compile a list of patterns; the last one that matches a path decides.

    :raises PatternError: for the first malformed pattern (its ``index`` says which), or
        when there are more than :data:`MAX_PATTERNS`.
    """
    rules = []
    for index, pattern in enumerate(patterns):
        if index == MAX_PATTERNS:
            raise PatternError(pattern, f"more than {MAX_PATTERNS} patterns in one list")
        try:
            rules.append(compile_pattern(pattern))
        except PatternError as exc:
            raise PatternError(pattern, exc.reason, index) from None
    return PathPolicy(rules)


def compile_pattern(pattern: str) -> Rule:
    """Compile one pattern.

    :raises PatternError: when it is malformed.
    """
    regex, negated = _translate(pattern)
    return Rule(pattern, re.compile(regex), negated)


# ------------------------------------------------------------------ translation
# A segment is a list of tokens: a literal character (str), "?" as _ANY, a bracket
# expression as _Set, or _STAR; a whole-segment "**" is the segment _GLOBSTAR.
class _Set(NamedTuple):
    negated: bool
    ranges: tuple[tuple[str, str], ...]


_ANY = object()
_STAR = object()
_GLOBSTAR: list[object] = [object()]
_Fail = Callable[[str], PatternError]


def _translate(pattern: str) -> tuple[str, bool]:
    def fail(reason: str) -> PatternError:
        return PatternError(pattern, reason)

    if not pattern:
        raise fail("it is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise fail(f"longer than {MAX_PATTERN_LENGTH} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in pattern):
        raise fail("it contains a control character")
    if pattern.startswith("#"):
        raise fail("gitignore reads a leading '#' as a comment: write '\\#' for a literal '#'")
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    if trailing % 2:
        raise fail("it ends with an unescaped '\\'")
    if pattern.endswith(" ") and (len(pattern) - len(pattern[:-1].rstrip("\\")) - 1) % 2 == 0:
        raise fail("gitignore drops trailing spaces: remove them, or write '\\ ' for one")
    negated = pattern.startswith("!")
    body = pattern[1:] if negated else pattern
    directory_only = body.endswith("/")
    if directory_only:
        body = body[:-1]
    if body.startswith("./"):
        body = "/" + body[2:]  # written relative to the root: the same as a leading '/'
    anchored = "/" in body
    if body.startswith("/"):
        body = body[1:]
    if not body:
        raise fail("it names no path")
    segments = _segments(body, fail)
    if not anchored:
        segments.insert(0, _GLOBSTAR)
    return "(?s)" + _regex(segments, directory_only), negated


def _segments(body: str, fail: _Fail) -> list[list[object]]:
    segments: list[list[object]] = [[]]
    i = 0
    while i < len(body):
        char = body[i]
        if char == "/":
            segments.append([])
        elif char == "\\":
            i += 1
            if i == len(body) or body[i] == "/":
                raise fail("a '/' cannot be escaped")
            segments[-1].append(body[i])
        elif char == "*":
            stars = len(body) - i - len(body[i:].lstrip("*"))
            i += stars - 1
            if stars == 1:
                segments[-1].append(_STAR)
            elif segments[-1] or (i + 1 < len(body) and body[i + 1] != "/"):
                raise fail(
                    "'**' must be a whole segment ('**/x', 'x/**', 'a/**/b'): "
                    "write '*' inside a name"
                )
            else:
                segments[-1] = _GLOBSTAR
        elif char == "?":
            segments[-1].append(_ANY)
        elif char == "[":
            token, i = _bracket(body, i, fail)
            segments[-1].append(token)
            continue
        else:
            segments[-1].append(char)
        i += 1
    for segment in segments:
        if not segment:
            raise fail("it has an empty segment ('//')")
        if segment in (["."], [".", "."]):
            raise fail("'.' and '..' segments never match a normalised path: leave them out")
    return segments


def _bracket(body: str, start: int, fail: _Fail) -> tuple[_Set, int]:
    """Parse ``[...]`` at ``start`` as git's wildmatch does; returns the set and its end."""
    i = start + 1
    negated = i < len(body) and body[i] in "!^"
    if negated:
        i += 1
    ranges: list[tuple[str, str]] = []
    previous: str | None = None
    first = True
    while True:
        if i >= len(body):
            raise fail("'[' without a closing ']'")
        char = body[i]
        if char == "]" and not first:
            break
        first = False
        if char == "\\" and i + 1 < len(body):
            i += 1
            char = body[i]
        elif char == "-" and previous is not None and i + 1 < len(body) and body[i + 1] != "]":
            i += 1
            high = body[i]
            if high == "\\" and i + 1 < len(body):
                i += 1
                high = body[i]
            if high < previous:
                raise fail(f"the range {previous}-{high} in '[...]' is backwards")
            ranges[-1] = (previous, high)  # "previous" was added on its own
            previous = None
            i += 1
            continue
        elif char == "[" and i + 1 < len(body) and body[i + 1] == ":":
            raise fail("character classes like [:alpha:] are not supported: list the characters")
        if char == "/":
            raise fail("a '/' inside '[...]' never matches")
        ranges.append((char, char))
        previous = char
        i += 1
    return _Set(negated, tuple(ranges)), i + 1


def _regex(segments: list[list[object]], directory_only: bool) -> str:
    # Runs of segments between "**"s; after each "**" the run is matched at its earliest
    # place, atomically (see the module docstring for why that is enough).
    runs: list[list[list[object]]] = [[]]
    for segment in segments:
        if segment is _GLOBSTAR:
            if runs[-1] or len(runs) == 1:
                runs.append([])
        else:
            runs[-1].append(segment)
    head, *rest = runs
    out = "".join(_segment(segment) + "/" for segment in head)
    if not rest:  # no "**": the head names the path or a directory above it
        out = out[:-1]
        return out + ("/.*" if directory_only else "(?:/.*)?")
    for run in rest[:-1]:
        out += f"(?>{_ANY_DEPTH}{_run(run)}/)"
    last = rest[-1]
    if not last:  # ends in "**": everything below (a directory below, if directory_only)
        return out + ("[^/]+/.*" if directory_only else ".*")
    if directory_only:
        return out + f"(?>{_ANY_DEPTH}{_run(last)}/).*"
    return out + f"(?>{_ANY_DEPTH}{_run(last)}(?=/|\\Z))(?:/.*)?"


def _run(run: list[list[object]]) -> str:
    return "/".join(_segment(segment) for segment in run)


def _segment(tokens: list[object]) -> str:
    """One segment: its parts between stars, each after the first matched at its earliest."""
    chunks: list[str] = [""]
    for token in tokens:
        if token is _STAR:
            chunks.append("")
        else:
            chunks[-1] += _single(token)
    if len(chunks) == 1:
        return chunks[0]
    first, *middle, last = chunks
    return first + "".join(f"(?>[^/]*?{chunk})" for chunk in middle) + "[^/]*" + last


def _single(token: object) -> str:
    if token is _ANY:
        return "[^/]"
    if isinstance(token, _Set):
        items = "".join(
            re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}"
            for low, high in token.ranges
        )
        if token.negated:
            return f"[^/{items}]"
        spans_slash = any(low <= "/" <= high for low, high in token.ranges)
        return ("(?!/)" if spans_slash else "") + f"[{items}]"
    assert isinstance(token, str)
    return re.escape(token)
