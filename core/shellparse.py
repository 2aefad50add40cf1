"""A parser for the shell commands agents run, for the guard.

It runs and expands nothing. It turns a command line into a small syntax tree —
lists (``;``, ``&``, newlines), ``&&``/``||`` chains, pipelines, subshells, brace groups,
``if``/``while``/``until``/``for`` — whose leaves are *simple commands* with their
words, redirections and leading assignments. The guard walks that tree the way the
shell would run it, so it knows the working directory of every command (a ``cd`` in a
subshell or a pipeline does not outlive it; one after ``&&`` only holds if it ran).

Words keep what the shell would still do to them: ``dynamic`` when they contain a
parameter expansion or a command substitution (whose bodies are kept, to be checked
where they run), and ``pattern``, the word with its quoted characters escaped, for the
brace, tilde and glob expansion the guard performs itself. What it cannot parse
(``case``, function definitions, process substitution, unbalanced quotes ...) raises
:class:`ShellSyntaxError`; the guard denies then. The lexer (words, quotes, expansions,
here-documents) is :mod:`~.shellparse_lex`.

Standard library only, linear in the input, and small: it runs before every tool call of
every agent (``bashlex`` costs ~130 ms to import).
"""

from __future__ import annotations

from typing import NamedTuple

from .shellparse_lex import (
    MAX_DEPTH,
    ShellSyntaxError,
    Word,
    _Lexer,
)


class Redirect(NamedTuple):
    op: str
    fd: str  # "" or the digits before the operator
    target: Word
    heredoc: str | None = None  # the body of a here-document


class Simple(NamedTuple):
    words: list[Word]
    redirects: list[Redirect]
    assignments: list[Word]


class Subshell(NamedTuple):
    body: Node
    redirects: list[Redirect]


class Group(NamedTuple):
    body: Node
    redirects: list[Redirect]


class Pipeline(NamedTuple):
    parts: list[Node]


class AndOr(NamedTuple):
    first: Node
    rest: list[tuple[str, Node]]  # ("&&" | "||", node)


class Sequence(NamedTuple):
    items: list[tuple[Node, bool]]  # (node, runs in the background)


class Compound(NamedTuple):
    """``if``/``while``/``until``/``for``: any part may run, loops more than once."""

    kind: str
    parts: list[Node]
    loop: bool
    words: list[Word]  # a for loop's word list
    redirects: list[Redirect]
    name: Word | None = None  # a for loop's variable


Node = Simple | Subshell | Group | Pipeline | AndOr | Sequence | Compound


# ---------------------------------------------------------------------- parser
_SEPARATORS = (";", "&", "\n")
_COMPOUND_START = {"{", "if", "while", "until", "for", "case", "function", "coproc", "select"}


class _Parser:
    def __init__(self, tokens: list[tuple[str, object]]) -> None:
        self.t = tokens
        self.i = 0
        self.depth = 0

    # -- token helpers
    def _peek(self) -> tuple[str, object] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def _is_op(self, *ops: str) -> bool:
        tok = self._peek()
        return tok is not None and tok[0] == "op" and tok[1] in ops

    def _is_word(self, *texts: str) -> bool:
        tok = self._peek()
        if tok is None or tok[0] != "word":
            return False
        word = tok[1]
        assert isinstance(word, Word)
        return not word.quoted and not word.dynamic and word.text in texts

    def _skip_newlines(self) -> None:
        while self._is_op("\n"):
            self.i += 1

    def _expect_word(self, text: str) -> None:
        self._skip_separators()
        if not self._is_word(text):
            raise ShellSyntaxError(f"expected `{text}`")
        self.i += 1

    def _skip_separators(self) -> None:
        while self._is_op(";", "\n"):
            self.i += 1

    # -- grammar
    def parse(self) -> Node:
        node = self.list_(())
        if self.i < len(self.t):
            raise ShellSyntaxError(f"unexpected {self.t[self.i][1]!r}")
        return node

    def list_(self, stop: tuple[str, ...]) -> Node:
        items: list[tuple[Node, bool]] = []
        while True:
            self._skip_newlines()
            tok = self._peek()
            if tok is None or self._is_op(")") or (stop and self._is_word(*stop)):
                break
            if self._is_op(";", "&", ";;"):
                raise ShellSyntaxError(f"unexpected {tok[1]!r}")
            node = self.and_or()
            background = False
            if self._is_op(*_SEPARATORS):
                background = self.t[self.i][1] == "&"
                self.i += 1
            items.append((node, background))
        if len(items) == 1 and not items[0][1]:
            return items[0][0]
        return Sequence(items)

    def and_or(self) -> Node:
        first = self.pipeline()
        rest: list[tuple[str, Node]] = []
        while self._is_op("&&", "||"):
            op = str(self.t[self.i][1])
            self.i += 1
            self._skip_newlines()
            rest.append((op, self.pipeline()))
        return AndOr(first, rest) if rest else first

    def pipeline(self) -> Node:
        key = self._keyword()
        while key in ("!", "time"):
            self.i += 1
            if key == "time":
                while self._is_word("-p"):
                    self.i += 1
                break
            key = self._keyword()
        parts = [self.command()]
        while self._is_op("|", "|&"):
            self.i += 1
            self._skip_newlines()
            parts.append(self.command())
        return Pipeline(parts) if len(parts) > 1 else parts[0]

    def command(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ShellSyntaxError("nested too deeply")
        try:
            return self._command()
        finally:
            self.depth -= 1

    def _keyword(self) -> str | None:
        tok = self._peek()
        if tok is None or tok[0] != "word":
            return None
        word = tok[1]
        assert isinstance(word, Word)
        return None if word.quoted or word.dynamic else word.text

    def _command(self) -> Node:
        tok = self._peek()
        if tok is None:
            raise ShellSyntaxError("a command is missing")
        if tok[0] == "op":
            if tok[1] != "(":
                raise ShellSyntaxError(f"unexpected {tok[1]!r}")
            self.i += 1
            body = self.list_(())
            if not self._is_op(")"):
                raise ShellSyntaxError("unterminated (")
            self.i += 1
            return Subshell(body, self.redirects())
        key = self._keyword()
        if key == "[[":
            return self._conditional()
        if key not in _COMPOUND_START:
            return self.simple()
        if key == "{":
            self.i += 1
            body = self.list_(("}",))
            self._expect_word("}")
            return Group(body, self.redirects())
        if key == "if":
            return self._if()
        if key in ("while", "until"):
            self.i += 1
            cond = self.list_(("do",))
            self._expect_word("do")
            body = self.list_(("done",))
            self._expect_word("done")
            return Compound(str(key), [cond, body], True, [], self.redirects())
        if key == "for":
            return self._for()
        raise ShellSyntaxError(f"`{key}` is not analysed")

    def _conditional(self) -> Node:
        """``[[ ... ]]``: its operators (``&&``, ``<``, ``(`` ...) are words of the test."""
        words: list[Word] = []
        while self.i < len(self.t):
            kind, value = self.t[self.i]
            self.i += 1
            if kind == "word":
                assert isinstance(value, Word)
                words.append(value)
                if value.text == "]]" and not value.quoted:
                    return Simple(words, self.redirects(), [])
            elif kind == "op" and value != "\n":
                words.append(Word(str(value), False, str(value)))
            elif kind == "redir":
                assert isinstance(value, tuple)
                text = f"{value[0]}{value[1]}"
                words.append(Word(text, False, text))
            else:
                break
        raise ShellSyntaxError("unterminated [[")

    def _if(self) -> Node:
        self.i += 1
        parts = [self.list_(("then",))]
        self._expect_word("then")
        parts.append(self.list_(("elif", "else", "fi")))
        while True:
            self._skip_separators()
            if self._is_word("elif"):
                self.i += 1
                parts.append(self.list_(("then",)))
                self._expect_word("then")
                parts.append(self.list_(("elif", "else", "fi")))
            elif self._is_word("else"):
                self.i += 1
                parts.append(self.list_(("fi",)))
            else:
                break
        self._expect_word("fi")
        return Compound("if", parts, False, [], self.redirects())

    def _for(self) -> Node:
        self.i += 1
        tok = self._peek()
        if tok is None or tok[0] != "word":
            raise ShellSyntaxError("for without a name")
        name = tok[1]
        assert isinstance(name, Word)
        self.i += 1
        words: list[Word] = []
        self._skip_newlines()
        if self._is_word("in"):
            self.i += 1
            while (tok := self._peek()) is not None and tok[0] == "word":
                word = tok[1]
                assert isinstance(word, Word)
                if self._is_word("do"):
                    break
                words.append(word)
                self.i += 1
        self._expect_word("do")
        body = self.list_(("done",))
        self._expect_word("done")
        return Compound("for", [body], True, words, self.redirects(), name)

    def redirects(self) -> list[Redirect]:
        out: list[Redirect] = []
        while (tok := self._peek()) is not None and tok[0] == "redir":
            out.append(self._redirect())
        return out

    def _redirect(self) -> Redirect:
        value = self.t[self.i][1]
        assert isinstance(value, tuple)
        fd, op, slot = str(value[0]), str(value[1]), value[2]
        assert isinstance(slot, list)
        self.i += 1
        tok = self._peek()
        if tok is None or tok[0] != "word":
            raise ShellSyntaxError(f"redirection {op} without a target")
        self.i += 1
        target = tok[1]
        assert isinstance(target, Word)
        heredoc = str(slot[0]) if slot else None
        return Redirect(str(op), str(fd), target, heredoc)

    def simple(self) -> Node:
        words: list[Word] = []
        redirects: list[Redirect] = []
        assignments: list[Word] = []
        while (tok := self._peek()) is not None and tok[0] != "op":
            if tok[0] == "redir":
                redirects.append(self._redirect())
                continue
            word = tok[1]
            assert isinstance(word, Word)
            self.i += 1
            if not words and _is_assignment(word.text):
                assignments.append(word)
                continue
            words.append(word)
        if self._is_op("(") and len(words) == 1:
            raise ShellSyntaxError("function definitions are not analysed")
        if not (words or redirects or assignments):
            raise ShellSyntaxError("a command is missing")
        return Simple(words, redirects, assignments)


def _is_assignment(text: str) -> bool:
    name, sep, _ = text.partition("=")
    name = name.removesuffix("+")
    return bool(sep) and bool(name) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def parse(text: str) -> Node:
    """The syntax tree of ``text`` (raises :class:`ShellSyntaxError`)."""
    if "\x00" in text:
        raise ShellSyntaxError("a NUL character")
    return _Parser(_Lexer(text).tokens()).parse()
