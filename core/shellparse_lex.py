"""The lexer of :mod:`~.shellparse`: words (quotes removed, expansions kept, special
characters escaped for the guard's own expansion) and operators, here-documents and the
expansions an unquoted here-document holds. Standard library only."""

from __future__ import annotations

import re
from typing import NamedTuple

OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&")
REDIRECTS = ("&>>", "&>", ">>", ">|", "<<<", "<<-", "<<", "<>", ">&", "<&", ">", "<")
SPECIAL = "*?[]{},~\\"  # characters that mean something to brace/tilde/glob expansion
_PLAIN = re.compile(r"[^ \t\n;&|()<>\\'\"$`]+")  # a run of ordinary word characters
_BLANKS = re.compile(r"[ \t]+")
_ESCAPE = str.maketrans({c: "\\" + c for c in SPECIAL})
MAX_DEPTH = 32  # nesting of subshells, groups, compounds and substitutions
MAX_TOKENS = 20_000  # words and operators in one command line (a 1 MiB heredoc is one)


class ShellSyntaxError(ValueError):
    """The command line is not something this parser understands."""


class Word(NamedTuple):
    text: str  # the value with quotes removed (expansions kept literally)
    dynamic: bool = False  # contains $VAR, ${...}, $(...), $'...' or backticks
    pattern: str = ""  # text with quoted special characters backslash-escaped
    substitutions: tuple[str, ...] = ()  # bodies of $(...) and `...` inside the word
    quoted: bool = False  # some part of it was quoted or escaped
    params: tuple[str, ...] = ()  # bodies of ${...}
    arith: tuple[str, ...] = ()  # bodies of $((...)) and $[...]


# ---------------------------------------------------------------------- lexer
class _Scan:
    """What one word (or here-document) holds besides its text."""

    def __init__(self) -> None:
        self.subs: list[str] = []
        self.params: list[str] = []
        self.arith: list[str] = []


class _Lexer:
    def __init__(self, text: str, depth: int = 0) -> None:
        self.s = text
        self.i = 0
        self.depth = depth
        if depth > MAX_DEPTH:
            raise ShellSyntaxError("command substitutions nested too deeply")

    # -- quotes and expansions, in any context; each returns the index past its end
    def _squote_end(self, start: int) -> int:
        end = self.s.find("'", start)
        if end == -1:
            raise ShellSyntaxError("unterminated single quote")
        return end + 1

    def _ansi_end(self, start: int) -> int:
        """Past the ``'`` closing ``$'...'`` (a backslash escapes the next character)."""
        s = self.s
        i = start
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s[i] == "'":
                return i + 1
            i += 1
        raise ShellSyntaxError("unterminated $'")

    def _backtick_end(self, start: int) -> int:
        i = start
        s = self.s
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s[i] == "`":
                return i + 1
            i += 1
        raise ShellSyntaxError("unterminated backtick")

    def _subst_end(self, start: int) -> int:
        """Past the ``)`` closing a ``$(`` whose body starts at ``start``: the body is
        lexed like a command line (comments, quotes, here-documents and all)."""
        inner = _Lexer(self.s, self.depth + 1)
        inner.i = start
        inner.tokens(nested=True)
        return inner.i

    def _expansion(self, i: int, scan: _Scan) -> int:
        """At a ``$`` or a backtick: past the expansion, recording what it holds."""
        s = self.s
        if s[i] == "`":
            end = self._backtick_end(i + 1)
            scan.subs.append(_unescape_backticks(s[i + 1 : end - 1]))
            return end
        if s.startswith("$((", i):
            end = self._nested_end(i + 3, "(", ")", 2, scan)
            scan.arith.append(s[i + 3 : end - 2])
            return end
        if s.startswith("$(", i):
            end = self._subst_end(i + 2)
            scan.subs.append(s[i + 2 : end - 1])
            return end
        if s.startswith("${", i):
            end = self._nested_end(i + 2, "{", "}", 1, scan)
            scan.params.append(s[i + 2 : end - 1])
            return end
        if s.startswith("$[", i):
            end = self._nested_end(i + 2, "[", "]", 1, scan)
            scan.arith.append(s[i + 2 : end - 1])
            return end
        if s.startswith("$'", i):
            return self._ansi_end(i + 2)
        if s.startswith('$"', i):
            return self._dquote_end(i + 2, scan)
        return i + 1

    def _nested_end(self, start: int, opening: str, closing: str, depth: int,
                    scan: _Scan) -> int:  # fmt: skip
        """Past the ``closing`` that brings ``depth`` to 0 (``${...}``, ``$((...))``),
        through quotes and nested expansions."""
        s = self.s
        i = start
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2
            elif c == "'":
                i = self._squote_end(i + 1)
            elif c == '"':
                i = self._dquote_end(i + 1, scan)
            elif c in "$`" and (c == "`" or i + 1 < len(s)):
                i = self._expansion(i, scan)
            else:
                if c == opening:
                    depth += 1
                elif c == closing:
                    depth -= 1
                    if depth == 0:
                        return i + 1
                i += 1
        raise ShellSyntaxError(f"unterminated {opening}")

    def _dquote_end(self, start: int, scan: _Scan) -> int:
        """Past the closing quote; expansions inside are recorded."""
        i = start
        s = self.s
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                return i + 1
            if c == "`" or (c == "$" and i + 1 < len(s)):
                i = self._expansion(i, scan)
                continue
            i += 1
        raise ShellSyntaxError("unterminated double quote")

    def tokens(self, nested: bool = False) -> list[tuple[str, object]]:
        """("word", Word) | ("op", str) | ("redir", (fd, op, heredoc slot)).

        ``nested``: the body of a ``$(``; stop past the ``)`` that closes it.
        """
        out: list[tuple[str, object]] = []
        s = self.s
        pending: list[tuple[Word, bool, list[object]]] = []
        parens = 0
        while self.i < len(s):
            c = s[self.i]
            if c in " \t":
                blanks = _BLANKS.match(s, self.i)
                assert blanks is not None
                self.i = blanks.end()
                continue
            if len(out) > MAX_TOKENS:
                raise ShellSyntaxError(f"more than {MAX_TOKENS} words and operators")
            if c not in "\\#\n;&|()<>0123456789":
                out.append(("word", self._word()))
                continue
            if s.startswith("\\\n", self.i):
                self.i += 2
                continue
            if c == "#" and (not out or out[-1][0] == "op" or s[self.i - 1] in " \t"):
                end = s.find("\n", self.i)
                self.i = len(s) if end == -1 else end
                continue
            if c == "\n":
                out.append(("op", "\n"))
                self.i += 1
                for delimiter, strip, waiting in pending:
                    waiting.append(self._heredoc(delimiter.text, strip))
                pending = []
                continue
            op = next((o for o in OPERATORS if s.startswith(o, self.i)), None)
            if op is not None:
                out.append(("op", op))
                self.i += len(op)
                continue
            if s.startswith("((", self.i) and (not out or out[-1][0] == "op"):
                raise ShellSyntaxError("arithmetic commands (( )) are not analysed")
            if c in "()":
                self.i += 1
                if c == "(":
                    parens += 1
                elif parens:
                    parens -= 1
                elif nested:
                    if pending:
                        raise ShellSyntaxError("a here-document in $(...) without its lines")
                    return out
                out.append(("op", c))
                continue
            j = self.i
            while j < len(s) and s[j].isdigit():
                j += 1
            if s.startswith(("<(", ">("), j) and j == self.i:
                out.append(("word", self._word()))  # process substitution: a word
                continue
            redir = next((r for r in REDIRECTS if s.startswith(r, j)), None)
            if redir is not None:
                fd = s[self.i : j]
                self.i = j + len(redir)
                slot: list[object] = []
                out.append(("redir", (fd, redir, slot)))
                if redir in ("<<", "<<-"):
                    while self.i < len(s) and s[self.i] in " \t":
                        self.i += 1
                    word = self._word()
                    pending.append((word, redir == "<<-", slot))
                    out.append(("word", word))
                continue
            out.append(("word", self._word()))
        if nested:
            raise ShellSyntaxError("unterminated $(")
        for delimiter, _strip, slot in pending:
            slot.append(self._heredoc(delimiter.text, False))
        return out

    def _heredoc(self, delimiter: str, strip: bool) -> str:
        s = self.s
        lines: list[str] = []
        while self.i < len(s):
            end = s.find("\n", self.i)
            line = s[self.i :] if end == -1 else s[self.i : end]
            self.i = len(s) if end == -1 else end + 1
            if (line.lstrip("\t") if strip else line) == delimiter:
                return "\n".join(lines)
            lines.append(line)
        return "\n".join(lines)

    def _word(self) -> Word:
        s = self.s
        text: list[str] = []
        pattern: list[str] = []
        scan = _Scan()
        dynamic = False
        quoted = False

        def literal(value: str) -> None:
            text.append(value)
            pattern.append(value.translate(_ESCAPE))

        while self.i < len(s):
            plain = _PLAIN.match(s, self.i)
            if plain is not None:
                text.append(plain.group())
                pattern.append(plain.group())
                self.i = plain.end()
                continue
            c = s[self.i]
            if c in "<>" and s.startswith("(", self.i + 1) and not text:
                end = self._subst_end(self.i + 2)  # <(cmd) / >(cmd): a path to a pipe
                scan.subs.append(s[self.i + 2 : end - 1])
                dynamic = True
                literal(s[self.i : end])
                self.i = end
                continue
            if c in " \t\n;&|()<>":
                break
            if c == "\\":
                quoted = True
                if self.i + 1 < len(s) and s[self.i + 1] == "\n":
                    self.i += 2
                    continue
                literal(s[self.i + 1 : self.i + 2])
                self.i += 2
                continue
            if c == "'":
                quoted = True
                end = self._squote_end(self.i + 1)
                literal(s[self.i + 1 : end - 1])
                self.i = end
                continue
            if c == '"':
                quoted = True
                start = self.i + 1
                end = self._dquote_end(start, scan)
                inner = s[start : end - 1]
                if "$" in inner or "`" in inner:
                    dynamic = True
                literal(_unescape_dquote(inner))
                self.i = end
                continue
            if c == "`" or (c == "$" and self.i + 1 < len(s)):
                end = self._expansion(self.i, scan)
                if c == "$" and s.startswith("$'", self.i):
                    quoted = True
                dynamic = True
                literal(s[self.i : end])
                self.i = end
                continue
            text.append(c)
            pattern.append(c)
            self.i += 1
        return Word("".join(text), dynamic, "".join(pattern), tuple(scan.subs), quoted,
                    tuple(scan.params), tuple(scan.arith))  # fmt: skip


_DQUOTE_ESCAPES = re.compile(r'\\([$`"\\\n])')
_BACKTICK_ESCAPES = re.compile(r"\\([$`\\])")
ANY_ESCAPE = re.compile(r"\\(.)", re.S)


def _unescape_dquote(inner: str) -> str:
    """Inside double quotes a backslash escapes only ``$ ` " \\`` and a newline."""
    return _DQUOTE_ESCAPES.sub(r"\1", inner)


def _unescape_backticks(body: str) -> str:
    return _BACKTICK_ESCAPES.sub(r"\1", body)


def heredoc_expansions(body: str) -> Word:
    """What an unquoted here-document expands: its substitutions, ``${...}`` and
    arithmetic, as a word would hold them."""
    lexer = _Lexer(body)
    scan = _Scan()
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
        elif body[i] == "`" or (body[i] == "$" and i + 1 < len(body)):
            i = lexer._expansion(i, scan)
        else:
            i += 1
    return Word("", bool(scan.subs or scan.params or scan.arith), "", tuple(scan.subs),
                False, tuple(scan.params), tuple(scan.arith))  # fmt: skip
