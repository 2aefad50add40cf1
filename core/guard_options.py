"""Option grammars for the guard: how a program reads its own command line.

The guard allows a command only when it has understood every argument the way the
program will. :class:`Grammar` describes a program's options — short flags, short
options that take a value (attached, ``-n5``, or as the next word), long flags and long
options with values (``--x=v`` or ``--x v``) — and :func:`parse_args` splits a command's
arguments by it, as getopt_long and git's parse-options do:

* short options cluster (``-la``) and a valued one takes the rest of the cluster;
* a long option may be abbreviated to any unambiguous prefix, so an abbreviation is
  resolved against the grammar: a prefix of a *dangerous* option counts as that option,
  an ambiguous or unknown one is an error (the program might read it as something the
  guard does not know);
* options and operands may be interleaved (GNU argument permutation), ``--`` ends the
  options.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .shellparse_lex import Word

#: marks an option value that holds an expansion: whoever uses it as a path or a name
#: must refuse it (the guard cannot know it)
COMPUTED = "\x00"


def value_word(text: str) -> Word:
    """An option's value as a word: computed (an expansion) when :data:`COMPUTED` marks
    it, else literal (its special characters escaped, as quoting would)."""
    if text.startswith(COMPUTED):
        return Word(text[1:], True, text[1:])
    return Word(text, False, "".join("\\" + c if c in "*?[]{},~\\" else c for c in text))


class OptionError(ValueError):
    """An argument the grammar does not know (the reason says which)."""


class Grammar(NamedTuple):
    short_flags: str = ""
    short_valued: str = ""
    #: short options whose value is optional and only ever attached (sed's ``-i[SUF]``)
    short_optional: str = ""
    long_flags: frozenset[str] = frozenset()
    long_valued: frozenset[str] = frozenset()
    #: long options whose value is optional and only ever attached (``--x[=v]``)
    long_optional: frozenset[str] = frozenset()
    #: accept options the grammar does not list (for programs whose every option only
    #: reads); dangerous ones are still recognised, also abbreviated
    open: bool = False
    #: options that run commands or write where the guard cannot see: always refused
    dangerous: frozenset[str] = frozenset()
    #: negated long flags ``--no-x`` are accepted for every listed ``--x``
    negatable: bool = False
    #: options stop at the first operand (POSIX), as for wrappers and interpreters
    posix: bool = False
    abbreviations: bool = True


def grammar(short_flags: str = "", short_valued: str = "", long_flags: Iterable[str] = (),
            long_valued: Iterable[str] = (), *, short_optional: str = "",
            long_optional: Iterable[str] = (),
            open: bool = False, dangerous: Iterable[str] = (), negatable: bool = False,
            posix: bool = False, abbreviations: bool = True) -> Grammar:  # fmt: skip
    def names(items: Iterable[str]) -> frozenset[str]:
        return frozenset(item.lstrip("-") for item in items)

    return Grammar(short_flags, short_valued, short_optional, names(long_flags),
                   names(long_valued),
                   names(long_optional), open, names(dangerous), negatable, posix,
                   abbreviations)  # fmt: skip


class Parsed(NamedTuple):
    options: list[tuple[str, str | None]]  # ("-n" | "--name", value)
    operands: list[Word]
    after_dashdash: list[Word]  # operands given after `--`

    def has(self, *names: str) -> bool:
        return any(name in names for name, _ in self.options)

    def values(self, *names: str) -> list[str]:
        return [value for name, value in self.options if name in names and value is not None]

    @property
    def all_operands(self) -> list[Word]:
        return self.operands + self.after_dashdash


def _resolve_long(spec: Grammar, given: str) -> str:
    """The long option (without dashes) that ``given`` names, or OptionError."""
    known = spec.long_flags | spec.long_valued | spec.long_optional
    candidates = known | spec.dangerous
    if given in candidates:
        return given
    if spec.negatable and given.startswith("no-") and given[3:] in known:
        return given
    if not spec.abbreviations:
        if spec.open:
            return given
        raise OptionError(f"unknown option --{given}")
    dangerous = [d for d in spec.dangerous if len(d) > 1 and d.startswith(given)]
    if dangerous:
        return dangerous[0]
    matches = sorted(k for k in known if k.startswith(given))
    if spec.negatable and given.startswith("no-"):
        matches += sorted(f"no-{k}" for k in known if k.startswith(given[3:]))
    if len(matches) == 1:
        return matches[0]
    if not matches and spec.open:
        return given  # a read-only option the grammar does not list
    if not matches:
        raise OptionError(f"unknown option --{given}")
    raise OptionError(f"ambiguous option --{given} ({', '.join('--' + m for m in matches)})")


def parse_args(spec: Grammar, args: Sequence[Word]) -> Parsed:
    """Split ``args`` by ``spec``; raises :class:`OptionError`."""
    options: list[tuple[str, str | None]] = []
    operands: list[Word] = []
    after: list[Word] = []
    i = 0
    while i < len(args):
        word = args[i]
        text = word.text
        i += 1
        if text == "--":
            after = list(args[i:])
            break
        if text.startswith("-") and text != "-" and operands and spec.posix:
            operands += list(args[i - 1 :])
            break
        if text.startswith("--") and len(text) > 2:
            name, eq, value = text[2:].partition("=")
            if word.dynamic:
                # --name=<expansion>: the name is written out, only the value is computed
                if not eq or any(c in name for c in "$`") or "$" in word.pattern.split("=")[0]:
                    raise OptionError(f"a computed option ({text})")
                value = COMPUTED + value
            full = _resolve_long(spec, name)
            if full in spec.dangerous:
                raise OptionError(f"--{full} is not allowed")
            if full in spec.long_valued:
                if not eq:
                    value = _next_value(args, i, f"--{full}")
                    i += 1
                options.append((f"--{full}", value))
            elif full in spec.long_optional:
                options.append((f"--{full}", value if eq else None))
            else:
                if eq and not spec.open:
                    raise OptionError(f"--{full} takes no value")
                options.append((f"--{full}", value if eq else None))
            continue
        if (
            text.startswith("-")
            and len(text) > 1
            and not (spec.open and text[1:].lstrip("0123456789") == "")
        ):
            if word.dynamic:
                raise OptionError(f"a computed option ({text})")
            j = 1
            while j < len(text):
                char = text[j]
                j += 1
                if char in spec.dangerous:
                    raise OptionError(f"-{char} is not allowed")
                if char in spec.short_optional:
                    options.append((f"-{char}", text[j:]))
                    break
                if char in spec.short_valued:
                    value = text[j:]
                    if not value:
                        value = _next_value(args, i, f"-{char}")
                        i += 1
                    options.append((f"-{char}", value))
                    break
                if char in spec.short_flags or spec.open:
                    options.append((f"-{char}", None))
                    continue
                raise OptionError(f"unknown option -{char}")
            continue
        operands.append(word)
    return Parsed(options, operands, after)


def _next_value(args: Sequence[Word], i: int, option: str) -> str:
    """The word after ``option`` as its value (marked :data:`COMPUTED` if it expands)."""
    if i >= len(args):
        raise OptionError(f"{option} needs a value")
    return (COMPUTED if args[i].dynamic else "") + args[i].text
