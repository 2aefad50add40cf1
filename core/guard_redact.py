"""Redaction of what the guard logs: assignments to secret-looking names, Authorization
headers, credentials in URLs and GitHub tokens become ``***``."""

from __future__ import annotations

import re

# ------------------------------------------------------------------------ redaction
# Each rule is a linear scan. Python's regular expressions backtrack: written plainly,
# these rules took quadratic time on a long word (64 kB of `echo aaa...` timed the guard
# out). Possessive quantifiers (`*+`, `++`) never give back what they matched, and the
# lookbehinds let a scan start only where a word or a scheme starts, so each character is
# looked at a bounded number of times. The character classes are the original rules',
# IGNORECASE included, so what is redacted has not changed.
_ASSIGNMENT = re.compile(r"(?<!\w)[A-Za-z_][A-Za-z0-9_]*+=", re.IGNORECASE)
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|AUTH", re.IGNORECASE)
_VALUE = re.compile(r"\"[^\"]*+\"|'[^']*+'|\S++")
_AUTHORIZATION = re.compile(r"Authorization:\s*+", re.IGNORECASE)
_NON_SPACE = re.compile(r"\S*+")
_SPACE = re.compile(r"\s*+")
_CREDENTIAL = re.compile(r"[^\s'\"]*+")
_URL_USERINFO = re.compile(
    r"(?<![a-z0-9+.-])([0-9+.-]*+[a-z][a-z0-9+.-]*+://)[^/\s:@]++(?::[^/\s@]*+)?@",
    re.IGNORECASE,
)
_GITHUB_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+)\b")


def redact(text: str) -> str:
    """Remove secrets: ``VAR=...`` tokens, Authorization headers, URL credentials,
    GitHub tokens. Linear in the length of ``text``."""
    text = _redact_assignments(text)
    text = _redact_authorization(text)
    text = _URL_USERINFO.sub(r"\1***@", text)
    return _GITHUB_TOKEN.sub("***", text)


def _redact_assignments(text: str) -> str:
    """``NAME=value`` where NAME holds a secret word (``PASSWORD=``, ``GH_TOKEN=``)."""
    parts: list[str] = []
    done = pos = 0
    while (name := _ASSIGNMENT.search(text, pos)) is not None:
        pos = name.end()
        if _SECRET_NAME.search(text, name.start(), pos - 1) is None:
            continue
        value = _VALUE.match(text, pos)
        if value is None:
            continue
        parts += [text[done:pos], "***"]
        done = pos = value.end()
    parts.append(text[done:])
    return "".join(parts)


def _redact_authorization(text: str) -> str:
    """``Authorization: [scheme ]credentials``: the same matches as the rule
    ``(Authorization:\\s*)(\\S+\\s+)?[^\\s'"]+``, without its rescans.

    The rule tries the scheme form first (a word, blanks, then a credential that does
    not start with a quote), then a bare credential. Both scans from one start can run
    to the end of a long word; several headers inside that word share the scan, through
    the remembered end of the word and of the blanks after it.
    """
    parts: list[str] = []
    done = pos = 0
    word_from = word_end = blanks_from = blanks_end = -1
    size = len(text)
    while (header := _AUTHORIZATION.search(text, pos)) is not None:
        start = header.end()
        if not word_from <= start <= word_end:
            word_from, word_end = start, _scan(_NON_SPACE, text, start)
        end = -1
        if start < word_end < size:
            if blanks_from != word_end:
                blanks_from = word_end
                blanks_end = _scan(_SPACE, text, word_end)
            if blanks_end < size and text[blanks_end] not in "'\"":
                end = _scan(_CREDENTIAL, text, blanks_end)
        if end < 0:
            bare = _scan(_CREDENTIAL, text, start)
            if bare > start:
                end = bare
        if end < 0:
            pos = header.start() + 1
            continue
        parts += [text[done:start], "***"]
        done = pos = end
    parts.append(text[done:])
    return "".join(parts)


def _scan(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern``, which may match nothing, stops when matched at ``pos``."""
    match = pattern.match(text, pos)
    return pos if match is None else match.end()
