"""The commit-message grammar that turns commits into task events.

A task id is ``T`` followed by 3 to 6 ASCII digits, as a whole word: ``T003`` and
``(T003)`` are ids; ``t003``, ``T01``, ``T0012x``, ``XT001`` and ``T003_a`` are not.
An *id list* is one or more ids on one line separated by commas, ``/``, ``&``, ``+``
or spaces, optionally followed by ``and`` (``T001, T002 and T003``). Ranges are not
expanded: ``T001-T003`` names T001 and T003 only where a form accepts each of them.
Keywords are case-insensitive; ids are not.

Forms (``LIST`` is an id list, ``[..]`` optional, ``SEP`` is one or more spaces,
optionally preceded by ``:``, ``-``, an en dash or an em dash, then optionally ``is``,
``are``, ``was`` or ``were``, then optionally ``now`` or ``already``)::

  started    subject starts with LIST        T003: add model / T003 T004: add models /
                                             T003, T004: x / T003 - add model / T003 x
             subject starts with [LIST]...   [T003] add model / [T003][T004] x
             conventional-commit prefix      feat: T003 add model / feat(T003): add model
  completed  LIST SEP KW                    T003 done / T003: complete / T003 finished /
                                             T003 was already done (restore tick)
               where KW is done, complete, completed or finished, followed by the end
               of the line, punctuation (. , ; : ! ? ( ) ] & - en/em dash) or "and"
             KW [:] [task|tasks] LIST        complete T003 / Completes: T003 /
               where KW is complete(s|d), finish(es|ed), done, close(s|d), fix(es|ed)
               or resolve(s|d), as a whole word
  reopened   LIST SEP reopened|reopen       T003 reopened / T003: reopen /
               followed as KW above          T003 is reopened: tests fail
             reopen(s|ed) [:] [task|tasks] LIST
                                             reopen T003 / Reopens: T003
  blocked    LIST SEP blocked [(on|by) LIST] [: REASON]
                                             T005 blocked: waiting for api /
                                             T006 blocked by T005 (T005 gets nothing)
             blocked [on] [:] [task|tasks] LIST [: REASON]
                                             blocked T005: waiting / blocked on T005

The completed, reopened and blocked forms count anywhere in the message, subject or
body, one line at a time. ``unblocked T005`` is not a blocked form. REASON is the text after the
colon to the end of the line (stripped; None when missing or empty); nothing in a
reason is read as a form. The subject is the first non-blank line. A conventional-
commit prefix there (``feat``, ``fix``, ``docs``, ``style``, ``refactor``, ``perf``,
``test``, ``tests``, ``build``, ``ci``, ``chore`` or ``revert``, an optional
``(scope)`` and ``!``, then ``:`` and a space) is skipped before the forms are read, so
``fix: T003 handle nulls`` starts T003; a scope that is an id list starts its ids.

Trailers: when the message has more than one paragraph (paragraphs are separated by
blank lines) and every line of the last paragraph is a ``Key: value`` trailer or an
indented continuation line, these keys (case-insensitive) have meaning:

- ``Task:`` / ``Tasks:`` -- every id in the value is started, or takes the ``Status:``;
- ``Status:`` -- its first word: ``done``, ``complete``, ``completed`` or ``finished``
  completes, ``reopen`` or ``reopened`` reopens, ``blocked`` blocks, anything else
  keeps them started. It applies to the ids of the ``Task(s):`` trailers or, when
  there are none, to the ids the subject starts with. The last ``Status:`` wins;
- ``Reason:`` / ``Blocked-by:`` -- the reason for ``Status: blocked`` (the last one
  wins); their values are free text and no form is read in them;
- ``Closes:``, ``Completes:`` and the other completion keywords above -- every id in the
  value is completed; ``Reopen:`` / ``Reopens:`` / ``Reopened:`` -- every id in the value
  is reopened; ``Blocked:`` -- every id in the value is blocked, with the
  ``Reason:`` / ``Blocked-by:`` text.

Other lines of the trailer paragraph are read as ordinary lines. Any other mention of
an id (``see T009 for context``) gives no action.

Result: one action per id. When several forms name the same id, completed and
reopened beat blocked, which beats started; between completed and reopened the one
on the later line wins (the later form on one line; the trailer paragraph is the last
paragraph), so a squashed message that says ``T003 reopened`` and then ``T003 done``
completes T003. A blocked action keeps the first reason given. Actions are listed in
the order in which their ids first appear in the message.

What an action does to a task is decided in :func:`.tasks.derive_task_state`: a
completion is sticky -- a later "started" or "blocked" on the same branch does not
undo it; only a reopen on that branch does.
"""

from __future__ import annotations

import re
from typing import NamedTuple

STARTED = "started"
COMPLETED = "completed"
BLOCKED = "blocked"
REOPENED = "reopened"
ACTIONS = (STARTED, COMPLETED, BLOCKED, REOPENED)
_RANK = {STARTED: 1, BLOCKED: 2, COMPLETED: 3, REOPENED: 3}

_ID = r"(?<!\w)T[0-9]{3,6}(?!\w)"
_LIST = rf"{_ID}(?:(?:[ \t]*+[,/&+][ \t]*+|[ \t]++)(?:(?i:and)[ \t]++)?{_ID})*"
_SEP = (
    r"(?:[ \t]*[:\-\u2013\u2014])?[ \t]+(?:(?i:is|are|was|were)[ \t]+)?"
    r"(?:(?i:now|already)[ \t]+)?"
)
_DONE_KW = r"(?i:completed|complete|finished|done)"
_PREFIX_KW = r"(?i:complete[sd]?|finish(?:e[sd])?|done|close[sd]?|fix(?:e[sd])?|resolve[sd]?)"
_REOPEN_KW = r"(?i:reopened|reopen)"
_PREFIX_REOPEN_KW = r"(?i:reopen(?:s|ed)?)"
_AFTER_DONE = r"(?=[ \t]*(?:$|[.,;:!?()\]&\-\u2013\u2014])|[ \t]+(?i:and)(?!\w))"
_TASK_WORD = r"(?:(?i:tasks?)[ \t]+)?"

_SUFFIX_DONE_RE = re.compile(rf"{_SEP}(?:(?P<done>{_DONE_KW})|{_REOPEN_KW}){_AFTER_DONE}")
_SUFFIX_BLOCKED_RE = re.compile(
    rf"{_SEP}(?i:blocked)(?!\w)(?P<on>[ \t]+(?i:on|by)[ \t]+{_LIST})?(?:[ \t]*:(?P<reason>.*))?"
)
_PREFIX_RE = re.compile(
    rf"(?<!\w)(?:(?P<blocked>(?i:blocked)(?:[ \t]+(?i:on))?)|(?P<reopen>{_PREFIX_REOPEN_KW})"
    rf"|{_PREFIX_KW})"
    rf"(?:[ \t]*:)?[ \t]+{_TASK_WORD}\Z"
)
_REASON_RE = re.compile(r"[ \t]*:(?P<reason>.*)")
_PREFIX_REACH = 100
_ID_RE = re.compile(_ID)
_LIST_RE = re.compile(_LIST)
_CONVENTIONAL_RE = re.compile(
    r"[ \t]*(?i:feat|fix|docs|style|refactor|perf|tests?|build|ci|chore|revert)"
    r"(?:\((?P<scope>[^()\n]*)\))?!?:[ \t]+"
)
_SUBJECT_BRACKETS_RE = re.compile(rf"[ \t]*((?:\[{_LIST}\][ \t]*)+)")
_SUBJECT_LIST_RE = re.compile(rf"[ \t]*({_LIST})")
_TRAILER_RE = re.compile(r"(?P<key>[A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(?P<value>.*)")
_COMPLETE_KEY_RE = re.compile(_PREFIX_KW)
_REOPEN_KEY_RE = re.compile(_PREFIX_REOPEN_KW)
_STATUS_WORD_RE = re.compile(r"[A-Za-z-]+")
_FREE_TEXT_KEYS = ("reason", "blocked-by")


_Action = tuple[str, str, str | None]  # (task id, action, reason)


class TaskAction(NamedTuple):
    task_id: str
    action: str
    reason: str | None = None


def _ids(text: str) -> list[str]:
    return _ID_RE.findall(text)


def _reason(text: str | None) -> str | None:
    if text is None:
        return None
    return text.strip() or None


def _subject(line: str) -> tuple[list[str], int]:
    """The ids a subject line starts with, and where its forms begin."""
    ids: list[str] = []
    start = 0
    conventional = _CONVENTIONAL_RE.match(line)
    if conventional is not None:
        start = conventional.end()
        scope = conventional["scope"]
        if scope is not None and _LIST_RE.fullmatch(scope.strip()):
            ids.extend(_ids(scope))
    brackets = _SUBJECT_BRACKETS_RE.match(line, start)
    if brackets is not None:
        ids.extend(_ids(brackets.group(1)))
    else:
        listed = _SUBJECT_LIST_RE.match(line, start)
        if listed is not None:
            ids.extend(_ids(listed.group(1)))
    return ids, start


def _trailers(paragraph: list[str]) -> list[tuple[str, str]] | None:
    """(key, value) pairs if every line of the paragraph is a trailer, else None."""
    pairs: list[tuple[str, str]] = []
    for line in paragraph:
        if line[:1] in (" ", "\t") and pairs:
            key, value = pairs[-1]
            pairs[-1] = (key, f"{value} {line.strip()}")
            continue
        m = _TRAILER_RE.fullmatch(line)
        if m is None:
            return None
        pairs.append((m["key"].lower(), m["value"]))
    return pairs


def parse_commit_message(message: str) -> list[TaskAction]:
    """The task actions a commit message declares (see the module docstring)."""
    lines = message.splitlines()
    paragraphs: list[list[int]] = []
    previous_blank = True
    for index, line in enumerate(lines):
        if not line.strip():
            previous_blank = True
            continue
        if previous_blank:
            paragraphs.append([])
        paragraphs[-1].append(index)
        previous_blank = False
    if not paragraphs:
        return []

    found: list[tuple[int, _Action]] = []  # (line index, action), in reading order
    subject_index = paragraphs[0][0]
    subject_ids, subject_start = _subject(lines[subject_index])
    found.extend((subject_index, (task_id, STARTED, None)) for task_id in subject_ids)

    skip: set[int] = set()
    trailers = None
    if len(paragraphs) > 1:
        trailers = _trailers([lines[i] for i in paragraphs[-1]])
    if trailers is not None:
        owner = ""
        for index in paragraphs[-1]:
            m = _TRAILER_RE.fullmatch(lines[index])
            if m is not None and lines[index][:1] not in (" ", "\t"):
                owner = m["key"].lower()
            if owner in _FREE_TEXT_KEYS:
                skip.add(index)
        here = paragraphs[-1][0]
        found.extend((here, action) for action in _trailer_actions(trailers, subject_ids))

    for index, line in enumerate(lines):
        if index not in skip:
            start = subject_start if index == subject_index else 0
            found.extend((index, action) for action in _line_actions(line, start))
    return _merge(message, found)


def _line_actions(line: str, start: int) -> list[_Action]:
    """The completed, reopened and blocked forms of one line, read from ``start`` on."""
    found: list[_Action] = []
    done_to = start
    for listed in _LIST_RE.finditer(line, start):
        if listed.start() < done_to:
            continue
        ids = _ids(listed.group())
        window = max(done_to, listed.start() - _PREFIX_REACH)
        prefix = _PREFIX_RE.search(line, window, listed.start())
        done_to = listed.end()
        if prefix is not None and prefix["blocked"] is None:
            kind = REOPENED if prefix["reopen"] else COMPLETED
            found.extend((i, kind, None) for i in ids)
        elif prefix is not None:
            reason = _REASON_RE.match(line, done_to)
            found.extend((i, BLOCKED, _reason(reason["reason"] if reason else None)) for i in ids)
            if reason is not None:
                break
        done = _SUFFIX_DONE_RE.match(line, done_to)
        blocked = None if done else _SUFFIX_BLOCKED_RE.match(line, done_to)
        if done is not None:
            found.extend((i, COMPLETED if done["done"] else REOPENED, None) for i in ids)
            done_to = done.end()
        elif blocked is not None:
            found.extend((i, BLOCKED, _reason(blocked["reason"])) for i in ids)
            if blocked["reason"] is not None:
                break
            done_to = blocked.end()
    return found


def _trailer_actions(trailers: list[tuple[str, str]], subject_ids: list[str]) -> list[_Action]:
    found: list[_Action] = []
    task_ids: list[str] = []
    status: str | None = None
    reason: str | None = None
    blocked: list[str] = []
    for key, value in trailers:
        if key in ("task", "tasks"):
            task_ids.extend(_ids(value))
        elif key == "status":
            word = _STATUS_WORD_RE.search(value)
            status = word.group().lower() if word else ""
        elif key in _FREE_TEXT_KEYS:
            reason = _reason(value)
        elif key == "blocked":
            blocked.extend(_ids(value))
        elif _COMPLETE_KEY_RE.fullmatch(key):
            found.extend((i, COMPLETED, None) for i in _ids(value))
        elif _REOPEN_KEY_RE.fullmatch(key):
            found.extend((i, REOPENED, None) for i in _ids(value))
    action = STARTED
    if status in ("done", "complete", "completed", "finished"):
        action = COMPLETED
    elif status in ("reopen", "reopened"):
        action = REOPENED
    elif status == "blocked":
        action = BLOCKED
    found.extend((i, action, reason if action == BLOCKED else None) for i in task_ids)
    if status is not None and not task_ids:
        found.extend((i, action, reason if action == BLOCKED else None) for i in subject_ids)
    found.extend((i, BLOCKED, reason) for i in blocked)
    return found


def _merge(message: str, found: list[tuple[int, _Action]]) -> list[TaskAction]:
    best: dict[str, TaskAction] = {}
    where: dict[str, int] = {}
    for line, (task_id, action, reason) in found:
        current = best.get(task_id)
        later_verdict = (current is not None and action != current.action
                         and _RANK[action] == _RANK[current.action] == _RANK[COMPLETED]
                         and line >= where[task_id])  # fmt: skip
        if current is None or _RANK[action] > _RANK[current.action] or later_verdict:
            best[task_id] = TaskAction(task_id, action, reason)
            where[task_id] = line
        elif action == current.action == BLOCKED and current.reason is None and reason:
            best[task_id] = current._replace(reason=reason)
    first: dict[str, int] = {}
    for m in _ID_RE.finditer(message):
        first.setdefault(m.group(), m.start())
    return sorted(best.values(), key=lambda a: first.get(a.task_id, len(message)))
