"""Reading spec-kit ``tasks.md`` files and ticking their checkboxes; a task's state.

The state of a task is derived from its events in the domain layer
(:mod:`.domain_tasks`, re-exported here); the overseer's checkboxes follow
:func:`checkbox_states`.

Accepted format
---------------

The file is split into lines at ``\\n`` only; a ``\\r`` just before the ``\\n`` belongs
to the line ending, and a UTF-8 byte order mark (``\\ufeff``) at the very start of the
text is ignored when reading line 1. A *task line* is, from the start of the line::

    [indent] marker SP "[" box "]" SP id [":"] [SP "[P]"] [SP "[" story "]"] [SP "[@" area "]"]
        [SP description]

- ``indent``: any number of spaces and tabs (nested lists are fine);
- ``marker``: ``-``, ``*`` or ``+`` (bullets), or 1 to 9 digits followed by ``.`` or
  ``)`` (an ordered list: ``1.``, ``12)``);
- ``SP``: one or more spaces or tabs;
- ``box``: a space (open), ``x`` or ``X`` (done);
- ``id``: ``T`` followed by 3 to 6 ASCII digits (``T001``), optionally followed by a
  colon (``T008: description``), then white space or the end of the line;
- ``[P]``: optional, the task may run in parallel with others;
- ``story``: optional user-story tag, ``US`` and digits (``[US1]``);
- ``[@area]``: optional, the implementor area the task is assigned to (``[@data]`` is
  ``implementor-data``'s; ``assign --apply`` writes it, see :func:`set_areas`): an area
  name as ``init-feature`` accepts it (lowercase letters and digits, single ``-``
  between them, starting with a letter, at most 40 characters). ``[P]``, the story tag
  and the area tag may come in any order, each at most once; a second one of a kind,
  and everything after it, is description;
- ``description``: the rest of the line, surrounding white space removed (may be empty).

Example: ``- [ ] T012 [P] [US1] Create User model in src/models/user.py``, and assigned:
``- [ ] T012 [P] [US1] [@data] Create User model in src/models/user.py``. spec-kit reads
the extra bracket tag as part of the description, so the file stays a spec-kit task list.

Everything else is not a task: headings, prose, blank lines, ordinary checklist items
without a task id (``- [ ] write docs``), list items without a checkbox (spec-kit's
``- T008 blocks T009`` dependency notes), every line inside a fenced code block and
every line inside an HTML comment. A fence opens with a line of three or more
backticks or tildes (after any indentation; an opening backtick fence's info string
may not contain a backtick) and closes with a line holding only at least as many of
the same character; an unclosed fence runs to the end of the file. An HTML comment
opens with ``<!--`` anywhere on a line outside a fence and outside an inline code
span, and closes with the next ``-->``; a line that begins inside a comment is never
a task line, and an unclosed comment runs to the end of the file (single-line
comments hide nothing but themselves).

A *malformed* line is one that tries to be a task but does not parse: a checkbox-like
``[..]`` of up to three characters, with or without a list marker before it, followed
(possibly after other ``[..]`` tags) by a word that starts with ``T`` or ``t`` and a
digit. ``- [y] T001 x``, ``- [ ]T001 x``, ``- [ ] T01 x``, ``-[ ] T001 x``,
``[ ] T001 x``, ``- [ ] [P] T001 x`` and ``- [ ] T001. x`` are malformed. So is a task
line inside a blockquote (``> - [ ] T011 x``): it is reported, never ticked, because a
quote usually holds someone else's text (move it out of the quote to make it a task).
A task id that was already defined by an earlier task line is malformed too: the
first occurrence is the task, later ones are reported and never changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from .domain_tasks import (
    STATE_EVENTS,
    DerivedState,
    TaskEvent,
    changes_state,
    checkbox_states,
    derive_task_state,
    source_state,
)
from .fsutil import atomic_write_text

__all__ = [
    "STATE_EVENTS",
    "DerivedState",
    "TaskEvent",
    "TaskLine",
    "TasksFile",
    "changes_state",
    "checkbox_states",
    "derive_task_state",
    "parse_tasks",
    "set_areas",
    "set_checkboxes",
    "source_state",
    "write_tasks",
]

BOM = "\ufeff"

_MARKER = r"(?:[-*+]|[0-9]{1,9}[.)])"
_TASK_RE = re.compile(
    rf"(?P<head>[ \t]*{_MARKER}[ \t]+\[)(?P<box>[ xX])\][ \t]+(?P<id>T[0-9]{{3,6}}):?"
    r"(?=\s|$)(?P<rest>.*)"
)
_TAG_RE = re.compile(
    r"[ \t]+\[(?:(?P<parallel>P)|(?P<story>US[0-9]{1,6})"
    r"|@(?P<area>[a-z][a-z0-9]{0,39}(?:-[a-z0-9]{1,39}){0,20}))\](?=\s|$)"
)
#: the longest area name (``validate.AREA_MAX``; not imported: the hook path reads tasks)
_AREA_MAX = 40
_ATTEMPT_RE = re.compile(
    rf"[ \t]*(?P<marker>{_MARKER})?(?P<gap1>[ \t]*)(?P<box>\[[^\]]{{0,3}}\])"
    r"(?P<gap2>[ \t]*)(?P<tags>(?:\[[^\]]*\][ \t]*)*)(?P<id>[Tt][0-9]\w*)"
)
_ID_RE = re.compile(r"T[0-9]{3,6}")
_FENCE_RE = re.compile(r"[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>.*)")
_QUOTE_RE = re.compile(r"(?:[ \t]*>)+[ \t]?")
_CODE_SPAN_RE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")
_COMMENT_OPEN, _COMMENT_CLOSE = "<!--", "-->"


class TaskLine(NamedTuple):
    task_id: str
    checked: bool
    line: int
    parallel: bool
    story: str | None
    description: str
    #: the area of its ``[@area]`` tag (assigned to ``implementor-<area>``), or None
    area: str | None = None


class TasksFile(NamedTuple):
    tasks: list[TaskLine]
    problems: list[tuple[int, str]]


class _Found(NamedTuple):
    task: TaskLine
    box_offset: int
    #: where the tags end (an area tag is inserted there)
    tags_offset: int


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """Yield (line number, offset of the line's first character, content).

    The content has no line ending, and no BOM on line 1; the offset accounts for it.
    """
    offset = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        start = offset
        offset += len(raw) + 1
        content = raw[:-1] if raw.endswith("\r") else raw
        if number == 1 and content.startswith(BOM):
            content = content[1:]
            start += 1
        yield number, start, content


def _problem(content: str) -> str | None:
    """Why a line that is not a valid task line looks like a broken one, or None."""
    m = _ATTEMPT_RE.match(content)
    if m is None:
        return None
    token = m["id"]
    if m["marker"] is None:
        return "task line has no list marker: start it with '- '"
    if not m["gap1"]:
        return "no space after the list marker: write '- [ ] T001 description'"
    if m["box"] not in ("[ ]", "[x]", "[X]"):
        return f"malformed checkbox {m['box']!r}: use '[ ]' or '[x]'"
    if m["tags"]:
        return f"the task id {token!r} must come right after the checkbox"
    if not m["gap2"]:
        return f"no space between the checkbox and the task id {token!r}"
    if not _ID_RE.fullmatch(token):
        return f"malformed task id {token!r}: use 'T' followed by 3 to 6 digits (e.g. T001)"
    return f"no space after the task id {token!r}: write '{token} description'"


def _comment_after(content: str, in_comment: bool) -> bool:
    """Whether an HTML comment is still open at the end of this line."""
    text = _CODE_SPAN_RE.sub("", content) if "`" in content else content
    pos = 0
    while True:
        if in_comment:
            end = text.find(_COMMENT_CLOSE, pos)
            if end < 0:
                return True
            in_comment, pos = False, end + len(_COMMENT_CLOSE)
        else:
            start = text.find(_COMMENT_OPEN, pos)
            if start < 0:
                return False
            in_comment, pos = True, start + len(_COMMENT_OPEN)


def _quoted_problem(content: str) -> str | None:
    quote = _QUOTE_RE.match(content)
    if quote is None:
        return None
    inner = content[quote.end() :]
    if _TASK_RE.fullmatch(inner) is None and _problem(inner) is None:
        return None
    return "task line inside a blockquote is not tracked: remove the '>' to make it a task"


def _scan(text: str) -> tuple[list[_Found], list[tuple[int, str]]]:
    found: list[_Found] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    fence: str | None = None
    comment = False
    for number, start, content in _lines(text):
        if fence is not None:
            stripped = content.strip()
            if stripped and stripped == fence[0] * len(stripped) and len(stripped) >= len(fence):
                fence = None
            continue
        if comment:
            comment = _comment_after(content, comment)
            continue
        fm = _FENCE_RE.fullmatch(content)
        if fm is not None and not (fm["fence"][0] == "`" and "`" in fm["info"]):
            fence = fm["fence"]
            continue
        comment = _comment_after(content, comment)
        m = _TASK_RE.fullmatch(content)
        if m is None:
            reason = _problem(content) or _quoted_problem(content)
            if reason is not None:
                problems.append((number, reason))
            continue
        task_id = m["id"]
        if task_id in first_line:
            problems.append(
                (number, f"task {task_id} is already defined on line {first_line[task_id]}")
            )
            continue
        first_line[task_id] = number
        parallel = False
        story: str | None = None
        area: str | None = None
        rest = m["rest"]
        pos = 0
        while (tag := _TAG_RE.match(rest, pos)) is not None:
            if tag["parallel"] and not parallel:
                parallel = True
            elif tag["story"] and story is None:
                story = tag["story"]
            elif tag["area"] and area is None and len(tag["area"]) <= _AREA_MAX:
                area = tag["area"]
            else:
                break
            pos = tag.end()
        task = TaskLine(
            task_id=task_id,
            checked=m["box"] != " ",
            line=number,
            parallel=parallel,
            story=story,
            description=rest[pos:].strip(),
            area=area,
        )
        found.append(_Found(task, start + m.end("head"), start + m.start("rest") + pos))
    return found, problems


def parse_tasks(text: str) -> TasksFile:
    """The tasks of a ``tasks.md`` text, in file order, and its malformed lines."""
    found, problems = _scan(text)
    return TasksFile([f.task for f in found], problems)


def set_checkboxes(text: str, states: Mapping[str, bool]) -> tuple[str, list[str]]:
    """Tick (True) or clear (False) the checkboxes of the tasks named in ``states``.

    Only the checkbox character of a task whose state changes is rewritten (``' '`` to
    ``'x'`` or back; an ``X`` stays as it is while the task stays done); every other
    character, line endings included, is kept. Ids not in the file are ignored.

    :returns: the new text and the ids whose checkbox changed, in file order.
    """
    chars: list[str] | None = None
    changed: list[str] = []
    found, _ = _scan(text)
    for item in found:
        want = states.get(item.task.task_id)
        if want is None or bool(want) == item.task.checked:
            continue
        if chars is None:
            chars = list(text)
        chars[item.box_offset] = "x" if want else " "
        changed.append(item.task.task_id)
    return ("".join(chars) if chars is not None else text), changed


def set_areas(text: str, areas: Mapping[str, str]) -> tuple[str, list[str]]:
    """Assign the tasks named in ``areas`` (task id -> area): write ``[@area]`` after the
    task's tags (its id, ``[P]`` and story tag), before its description.

    A task that has an area tag already keeps it (nothing is rewritten: assigning again
    changes nothing); ids not in the file are ignored. Every other character, line
    endings included, is kept.

    :returns: the new text and the ids that got a tag, in file order.
    :raises ValueError: for an area that the tag cannot hold (see the module docstring).
    """
    inserts: list[tuple[int, str]] = []
    changed: list[str] = []
    for item in _scan(text)[0]:
        area = areas.get(item.task.task_id)
        if area is None or item.task.area is not None:
            continue
        tag = f" [@{area}]"
        if len(area) > _AREA_MAX or (m := _TAG_RE.match(tag)) is None or m["area"] != area:
            raise ValueError(f"{area!r} is not an area name")
        inserts.append((item.tags_offset, tag))
        changed.append(item.task.task_id)
    if not inserts:
        return text, []
    pieces: list[str] = []
    last = 0
    for offset, tag in inserts:
        pieces += [text[last:offset], tag]
        last = offset
    pieces.append(text[last:])
    return "".join(pieces), changed


def write_tasks(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (readers see the old or the new file)."""
    atomic_write_text(Path(path), text)
