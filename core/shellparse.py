"""A small parser for the shell commands agents run, for the guard.

It does not run anything and does not expand anything: it finds every *simple command* a
command line would run — across ``&&``, ``||``, ``;``, ``|``, ``&``, newlines, subshells,
brace groups, ``if``/``while``/``for`` bodies, command substitutions (``$(...)`` and
backticks, also inside double quotes) — with its words, its redirections and the
assignments before it. Words keep whether they contain an expansion (``$VAR``,
``$(...)``, globs are left alone) so the guard can refuse what it cannot know.
What it cannot parse raises :class:`ShellSyntaxError`; the guard denies then.

Standard-library only and small: it runs before every tool call of every agent
(``bashlex`` costs ~130 ms to import).
"""

from __future__ import annotations

from typing import NamedTuple

OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&", "\n")
REDIRECTS = ("&>>", "&>", ">>", ">|", "<<<", "<<-", "<<", "<>", ">&", "<&", ">", "<")
RESERVED_START = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!",
                  "{", "}", "time"}  # fmt: skip


class ShellSyntaxError(ValueError):
    """The command line is not something this parser understands."""


class Word(NamedTuple):
    text: str  # the value with quotes removed (expansions kept literally)
    dynamic: bool  # contains $VAR, ${...}, $(...) or backticks


class Redirect(NamedTuple):
    op: str
    fd: str  # "" or the digits before the operator
    target: Word


class Command(NamedTuple):
    words: list[Word]
    redirects: list[Redirect]
    assignments: list[Word]
    #: nesting: "" for top level, "subst" for command substitutions
    context: str = ""


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.substitutions: list[str] = []  # bodies of $(...) and `...`
        self.heredocs: list[str] = []

    def _subst_end(self, start: int) -> int:
        """Index just past the ``)`` closing a ``$(`` whose body starts at ``start``."""
        depth = 1
        i = start
        s = self.s
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if c == "'":
                end = s.find("'", i + 1)
                if end == -1:
                    raise ShellSyntaxError("unterminated single quote")
                i = end + 1
                continue
            if c == '"':
                i = self._dquote_end(i + 1)
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise ShellSyntaxError("unterminated $(")

    def _dquote_end(self, start: int) -> int:
        i = start
        s = self.s
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                return i + 1
            if s.startswith("$(", i) and not s.startswith("$((", i):
                end = self._subst_end(i + 2)
                self.substitutions.append(s[i + 2 : end - 1])
                i = end
                continue
            if c == "`":
                end = s.find("`", i + 1)
                if end == -1:
                    raise ShellSyntaxError("unterminated backtick")
                self.substitutions.append(s[i + 1 : end])
                i = end + 1
                continue
            i += 1
        raise ShellSyntaxError("unterminated double quote")

    def tokens(self) -> list[tuple[str, object]]:
        """("word", Word) | ("op", str) | ("redir", (fd, op))."""
        out: list[tuple[str, object]] = []
        s = self.s
        pending_heredoc: list[str] = []
        while self.i < len(s):
            c = s[self.i]
            if c in " \t":
                self.i += 1
                continue
            if c == "\\" and s.startswith("\\\n", self.i):
                self.i += 2
                continue
            if c == "#" and (not out or out[-1][0] == "op"):
                end = s.find("\n", self.i)
                self.i = len(s) if end == -1 else end
                continue
            if c == "\n":
                out.append(("op", "\n"))
                self.i += 1
                for delimiter in pending_heredoc:
                    self._skip_heredoc(delimiter)
                pending_heredoc = []
                continue
            op = next((o for o in OPERATORS if s.startswith(o, self.i)), None)
            if op is not None and op != "\n":
                out.append(("op", op))
                self.i += len(op)
                continue
            if c in "()":
                out.append(("op", c))
                self.i += 1
                continue
            fd = ""
            j = self.i
            while j < len(s) and s[j].isdigit():
                j += 1
            redir = next((r for r in REDIRECTS if s.startswith(r, j)), None)
            if redir is not None:
                fd = s[self.i : j]
                self.i = j + len(redir)
                out.append(("redir", (fd, redir)))
                if redir in ("<<", "<<-"):
                    while self.i < len(s) and s[self.i] in " \t":
                        self.i += 1
                    word = self._word()
                    pending_heredoc.append(word.text)
                    out.append(("word", word))
                continue
            out.append(("word", self._word()))
        return out

    def _skip_heredoc(self, delimiter: str) -> None:
        s = self.s
        while self.i < len(s):
            end = s.find("\n", self.i)
            line = s[self.i :] if end == -1 else s[self.i : end]
            self.i = len(s) if end == -1 else end + 1
            self.heredocs.append(line)
            if line.strip() == delimiter:
                return

    def _word(self) -> Word:
        s = self.s
        text: list[str] = []
        dynamic = False
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\n;&|()<>":
                break
            if c == "\\":
                text.append(s[self.i + 1 : self.i + 2])
                self.i += 2
                continue
            if c == "'":
                end = s.find("'", self.i + 1)
                if end == -1:
                    raise ShellSyntaxError("unterminated single quote")
                text.append(s[self.i + 1 : end])
                self.i = end + 1
                continue
            if c == '"':
                start = self.i + 1
                before = len(self.substitutions)
                end = self._dquote_end(start)
                inner = s[start : end - 1]
                if "$" in inner or "`" in inner or len(self.substitutions) > before:
                    dynamic = True
                text.append(_unescape_dquote(inner))
                self.i = end
                continue
            if c == "$":
                dynamic = True
                if s.startswith("$((", self.i):
                    end = s.find("))", self.i)
                    if end == -1:
                        raise ShellSyntaxError("unterminated $((")
                    text.append(s[self.i : end + 2])
                    self.i = end + 2
                    continue
                if s.startswith("$(", self.i):
                    end = self._subst_end(self.i + 2)
                    self.substitutions.append(s[self.i + 2 : end - 1])
                    text.append(s[self.i : end])
                    self.i = end
                    continue
                if s.startswith("${", self.i):
                    end = s.find("}", self.i)
                    if end == -1:
                        raise ShellSyntaxError("unterminated ${")
                    text.append(s[self.i : end + 1])
                    self.i = end + 1
                    continue
                text.append(c)
                self.i += 1
                continue
            if c == "`":
                end = s.find("`", self.i + 1)
                if end == -1:
                    raise ShellSyntaxError("unterminated backtick")
                self.substitutions.append(s[self.i + 1 : end])
                dynamic = True
                text.append(s[self.i : end + 1])
                self.i = end + 1
                continue
            text.append(c)
            self.i += 1
        return Word("".join(text), dynamic)


def _unescape_dquote(inner: str) -> str:
    out = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner) and inner[i + 1] in '$`"\\\n':
            out.append(inner[i + 1])
            i += 2
            continue
        out.append(inner[i])
        i += 1
    return "".join(out)


def parse(text: str, *, _depth: int = 0) -> list[Command]:
    """Every simple command ``text`` would run, in textual order (substitutions after
    the command they appear in)."""
    if _depth > 8:
        raise ShellSyntaxError("command substitutions nested too deeply")
    lexer = _Lexer(text)
    tokens = lexer.tokens()
    commands: list[Command] = []
    words: list[Word] = []
    redirects: list[Redirect] = []
    assignments: list[Word] = []
    skipping_for = False

    def flush() -> None:
        nonlocal words, redirects, assignments
        if words or redirects or assignments:
            commands.append(Command(words, redirects, assignments))
        words, redirects, assignments = [], [], []

    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        index += 1
        if kind == "op":
            if value == "(" and len(words) == 1 and tokens[index : index + 1] == [("op", ")")]:
                raise ShellSyntaxError("function definitions are not analysed")
            flush()
            skipping_for = False
            continue
        if kind == "redir":
            assert isinstance(value, tuple)
            fd, op = str(value[0]), str(value[1])
            if index >= len(tokens) or tokens[index][0] != "word":
                raise ShellSyntaxError(f"redirection {op} without a target")
            target = tokens[index][1]
            index += 1
            redirects.append(Redirect(op, fd, target))  # type: ignore[arg-type]
            continue
        word: Word = value  # type: ignore[assignment]
        if skipping_for:
            if word.text == "do" and not word.dynamic:
                skipping_for = False
            continue
        if not words and not word.dynamic and word.text in RESERVED_START:
            continue
        if not words and not word.dynamic and word.text in ("for", "select"):
            skipping_for = True
            continue
        if not words and not word.dynamic and word.text == "case":
            raise ShellSyntaxError("case statements are not analysed")
        if not words and _is_assignment(word.text):
            assignments.append(word)
            continue
        words.append(word)
    flush()
    for body in lexer.substitutions:
        for inner in parse(body, _depth=_depth + 1):
            commands.append(inner._replace(context="subst"))
    return commands


def _is_assignment(text: str) -> bool:
    name, sep, _ = text.partition("=")
    return bool(sep) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def heredoc_present(text: str) -> bool:
    lexer = _Lexer(text)
    lexer.tokens()
    return bool(lexer.heredocs)
