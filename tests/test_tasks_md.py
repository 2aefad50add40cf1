"""tasks.md parsing and checkbox updates: examples, and byte-exact round-trip properties."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.tasks import TaskLine, parse_tasks, set_checkboxes, write_tasks

SAMPLE = (
    "# Tasks: reading goals\n"
    "\n"
    "## Phase 1\n"
    "- [ ] T001 Create project structure\n"
    "- [x] T002 [P] [US1] Add model in src/models/goal.py\n"
    "  * [X] T003 [US2] [P] Nested task\n"
    "\t- [ ]\tT004\tTabs\n"
    "- [ ] T005\n"
    "- [ ] write docs\n"
    "- T008 blocks T009\n"
    "```bash\n"
    "- [ ] T006 inside a fence\n"
    "```\n"
)


def test_sample_parses_into_tasks() -> None:
    parsed = parse_tasks(SAMPLE)
    assert parsed.problems == []
    assert parsed.tasks == [
        TaskLine("T001", False, 4, False, None, "Create project structure"),
        TaskLine("T002", True, 5, True, "US1", "Add model in src/models/goal.py"),
        TaskLine("T003", True, 6, True, "US2", "Nested task"),
        TaskLine("T004", False, 7, False, None, "Tabs"),
        TaskLine("T005", False, 8, False, None, ""),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("- [y] T001 x", "malformed checkbox '[y]'"),
        ("- [] T001 x", "malformed checkbox '[]'"),
        ("- [ ]T001 x", "no space between the checkbox and the task id 'T001'"),
        ("- [ ] T01 x", "malformed task id 'T01'"),
        ("- [ ] T1234567 x", "malformed task id 'T1234567'"),
        ("- [ ] T0012x y", "malformed task id 'T0012x'"),
        ("- [ ] t001 x", "malformed task id 't001'"),
        ("- [ ] T001. x", "no space after the task id 'T001'"),
        ("- [ ] T001:x", "no space after the task id 'T001'"),
        ("1.[ ] T001 x", "no space after the list marker"),
        ("> - [ ] T001 x", "inside a blockquote"),
        (">> 1. [x] T001 x", "inside a blockquote"),
        ("  > - [y] T001 x", "inside a blockquote"),
        ("-[ ] T001 x", "no space after the list marker"),
        ("[ ] T001 x", "no list marker"),
        ("- [ ] [P] T001 x", "must come right after the checkbox"),
    ],
)
def test_malformed_lines_are_problems(line: str, reason: str) -> None:
    parsed = parse_tasks(f"# Tasks\n{line}\n")
    assert parsed.tasks == []
    assert [n for n, _ in parsed.problems] == [2]
    assert reason in parsed.problems[0][1]
    assert "\n" not in parsed.problems[0][1]
    assert set_checkboxes(f"{line}\n", {"T001": True}) == (f"{line}\n", [])


@pytest.mark.parametrize(
    "line",
    ["- [ ] write docs", "- [y] write docs", "- T008 blocks T009", "See T001.", "- [ ] Tests"],
)
def test_other_lines_are_neither_tasks_nor_problems(line: str) -> None:
    assert parse_tasks(line) == ([], [])


@pytest.mark.parametrize(
    ("line", "checked", "description"),
    [
        ("- [ ] T001: Create model", False, "Create model"),
        ("* [x] T001 Create model", True, "Create model"),
        ("+ [ ] T001 Create model", False, "Create model"),
        ("1. [X] T001 Create model", True, "Create model"),
        ("12) [ ] T001: Create model", False, "Create model"),
        ("  3. [ ]\tT001:", False, ""),
    ],
)
def test_common_variants_are_tasks(line: str, checked: bool, description: str) -> None:
    parsed = parse_tasks(f"# Tasks\n{line}\n")
    assert parsed.problems == []
    assert parsed.tasks == [TaskLine("T001", checked, 2, False, None, description)]
    new, changed = set_checkboxes(f"{line}\n", {"T001": not checked})
    assert changed == ["T001"] and len(new) == len(line) + 1
    assert parse_tasks(f"# Tasks\n{line}\n").tasks[0].description == description


def test_colon_after_the_id_may_precede_the_tags() -> None:
    parsed = parse_tasks("- [ ] T001: [P] [US2] Model\n")
    assert parsed.tasks == [TaskLine("T001", False, 1, True, "US2", "Model")]


@pytest.mark.parametrize(
    "text",
    [
        "<!--\n- [ ] T001 a\n-->\n- [ ] T002 b\n",
        "<!-- start\n- [ ] T001 a\n- [y] T003 c\nend -->\n- [ ] T002 b\n",
        "Note <!-- a --> and <!-- b\n- [ ] T001 a\n--> - [ ] T003 c\n- [ ] T002 b\n",
        "  <!--\n\n- [x] T001 a\n\n  -->\n- [ ] T002 b\n",
    ],
)
def test_multi_line_html_comments_hide_task_lines(text: str) -> None:
    parsed = parse_tasks(text)
    assert [t.task_id for t in parsed.tasks] == ["T002"]
    assert parsed.problems == []
    assert set_checkboxes(text, {"T001": True, "T003": True}) == (text, [])


def test_comment_markers_in_code_do_not_open_a_comment() -> None:
    text = "Write `<!--` to start a comment.\n```\n<!--\n```\n- [ ] T001 a\n"
    assert [t.task_id for t in parse_tasks(text).tasks] == ["T001"]
    assert [t.task_id for t in parse_tasks("<!-- x -->\n- [ ] T001 a\n").tasks] == ["T001"]
    assert parse_tasks("<!--\n- [ ] T001 a\n") == ([], [])  # unclosed: to the end


def test_duplicate_id_is_a_problem_and_never_touched() -> None:
    text = "- [ ] T001 first\n- [ ] T001 second\n"
    parsed = parse_tasks(text)
    assert [t.line for t in parsed.tasks] == [1]
    assert parsed.problems == [(2, "task T001 is already defined on line 1")]
    new = "- [x] T001 first\n- [ ] T001 second\n"
    assert set_checkboxes(text, {"T001": True}) == (new, ["T001"])


@pytest.mark.parametrize(
    ("fence", "inner", "close"),
    [
        ("```", "~~~", "```"),
        ("~~~", "```", "~~~"),
        ("````md", "```", "`````"),
        ("  ```", "~~~~", " ```"),
    ],
)
def test_fenced_blocks_are_ignored(fence: str, inner: str, close: str) -> None:
    text = f"{fence}\n- [ ] T001 a\n{inner}\n- [y] T002 b\n{close}\n- [ ] T003 c\n"
    parsed = parse_tasks(text)
    assert [t.task_id for t in parsed.tasks] == ["T003"]
    assert parsed.problems == []


def test_unclosed_fence_runs_to_the_end_and_inline_backticks_do_not_open_one() -> None:
    assert parse_tasks("```\n- [ ] T001 a\n") == ([], [])
    parsed = parse_tasks("```inline``` code\n- [ ] T001 a\n")
    assert [t.task_id for t in parsed.tasks] == ["T001"]


def test_set_checkboxes_changes_only_the_box() -> None:
    text = "\ufeff- [ ] T001 a  \r\n- [X] T002 b\n- [x] T003 ü\t\r\n- [X] T004 d"
    new, changed = set_checkboxes(text, {"T001": True, "T002": True, "T003": False, "T009": True})
    assert changed == ["T001", "T003"]
    assert new == "\ufeff- [x] T001 a  \r\n- [X] T002 b\n- [ ] T003 ü\t\r\n- [X] T004 d"
    new, changed = set_checkboxes(new, {"T004": False})
    assert (new.endswith("- [ ] T004 d"), changed) == (True, ["T004"])


def test_write_tasks_keeps_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    text = "\ufeff# T\r\n- [x] T001 ✓\r\n"
    write_tasks(path, text)
    assert path.read_bytes() == text.encode("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["tasks.md"]


# Generated files: a model of each line says what the parser must find.

IDS = ["T001", "T002", "T003", "T0042", "T123456"]
PROSE = [
    "# Tasks",
    "",
    "Prose mentioning T001 and T002.",
    "- [ ] write docs",
    "- T002 blocks T003",
    "  trailing spaces   ",
    "Ünïcode ✓ line\t",
    "**Checkpoint**: T001-T003 done",
]
MALFORMED = [
    "- [y] T001 x",
    "- [ ]T002 x",
    "- [ ] T01 x",
    "> + [ ] T003 x",
    "* [ ] T0012x y",
    "- [ ] T002. x",
]
COMMENTS = [("<!--", "-->"), ("<!-- notes", "end -->"), ("Prose <!-- a --> <!--", "  -->")]
FENCES = [("```", "```"), ("```python", "```"), ("~~~", "~~~"), ("````", "````")]
description = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n")).filter(
    lambda d: "<!--" not in d and "-->" not in d  # they would open or close a comment
)


class Line(NamedTuple):
    text: str
    task: str | None = None  # the id, if this is a valid task line
    checked: bool = False
    malformed: bool = False
    fenced: bool = False  # inside a fence or an HTML comment: neither task nor problem


@st.composite
def task_lines(draw: st.DrawFn, fenced: bool = False) -> Line:
    box = draw(st.sampled_from(" xX"))
    task_id = draw(st.sampled_from(IDS))
    tags = draw(st.sampled_from(["", " [P]", " [US1]", " [P] [US12]", " [US3]\t[P]"]))
    desc = draw(description.filter(lambda d: d.strip() == d).map(lambda d: d and f" {d}"))
    indent = draw(st.sampled_from(["", "  ", "\t"]))
    gap = draw(st.sampled_from([" ", "  ", "\t"]))
    marker = draw(st.sampled_from(["-", "*", "+", "1.", "2)", "10."]))
    colon = draw(st.sampled_from(["", ":"]))
    text = f"{indent}{marker}{gap}[{box}] {task_id}{colon}{tags}{desc}"
    return Line(text, task_id, box != " ", fenced=fenced)


@st.composite
def blocks(draw: st.DrawFn) -> list[Line]:
    kind = draw(st.sampled_from(["task", "task", "prose", "malformed", "fence", "comment"]))
    if kind == "task":
        return [draw(task_lines())]
    if kind == "prose":
        return [Line(draw(st.sampled_from(PROSE)))]
    if kind == "malformed":
        return [Line(draw(st.sampled_from(MALFORMED)), malformed=True)]
    opening, closing = draw(st.sampled_from(FENCES if kind == "fence" else COMMENTS))
    inner = st.one_of(task_lines(fenced=True), st.sampled_from(PROSE + MALFORMED).map(Line))
    body = [line._replace(fenced=True) for line in draw(st.lists(inner, max_size=3))]
    return [Line(opening, fenced=True), *body, Line(closing, fenced=True)]


class Doc(NamedTuple):
    text: str
    lines: list[Line]


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    lines = [line for block in draw(st.lists(blocks(), max_size=12)) for line in block]
    if lines and lines[-1].fenced and draw(st.booleans()):
        lines.pop()  # an unclosed fence (the last line is a fence's closing line)
    endings = [draw(st.sampled_from(["\n", "\r\n"])) for _ in lines]
    if draw(st.booleans()) and endings:
        endings[-1] = ""
    bom = "\ufeff" if draw(st.booleans()) else ""
    return Doc(
        bom + "".join(line.text + end for line, end in zip(lines, endings, strict=True)), lines
    )


def expected(doc: Doc) -> tuple[list[tuple[str, bool, int]], list[int]]:
    tasks: list[tuple[str, bool, int]] = []
    problems: list[int] = []
    seen: set[str] = set()
    for number, line in enumerate(doc.lines, start=1):
        if line.fenced:
            continue
        if line.malformed or (line.task is not None and line.task in seen):
            problems.append(number)
        elif line.task is not None:
            seen.add(line.task)
            tasks.append((line.task, line.checked, number))
    return tasks, problems


states_st = st.dictionaries(st.sampled_from([*IDS, "T999"]), st.booleans())
SETTINGS = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(documents())
def test_parse_matches_the_model(doc: Doc) -> None:
    parsed = parse_tasks(doc.text)
    tasks, problems = expected(doc)
    assert [(t.task_id, t.checked, t.line) for t in parsed.tasks] == tasks
    assert [n for n, _ in parsed.problems] == problems
    assert set_checkboxes(doc.text, {}) == (doc.text, [])


@SETTINGS
@given(documents(), states_st)
def test_set_checkboxes_changes_exactly_the_named_boxes(doc: Doc, states: dict[str, bool]) -> None:
    before = parse_tasks(doc.text)
    new, changed = set_checkboxes(doc.text, states)
    flips = [t for t in before.tasks if t.task_id in states and states[t.task_id] != t.checked]
    assert changed == [t.task_id for t in flips]
    assert len(new) == len(doc.text)
    assert len(new.encode("utf-8")) == len(doc.text.encode("utf-8"))
    diffs = [i for i, (a, b) in enumerate(zip(doc.text, new, strict=True)) if a != b]
    assert len(diffs) == len(flips)
    for i, task in zip(diffs, flips, strict=True):
        assert doc.text.count("\n", 0, i) + 1 == task.line
        assert (new[i - 1], new[i + 1]) == ("[", "]")
        assert new[i] == ("x" if states[task.task_id] else " ")
    old_lines, new_lines = doc.text.split("\n"), new.split("\n")
    flipped = {t.line for t in flips}
    for number, (a, b) in enumerate(zip(old_lines, new_lines, strict=True), start=1):
        assert (a == b) == (number not in flipped)
    assert set_checkboxes(new, states) == (new, [])
    after = parse_tasks(new)
    assert after.problems == before.problems
    for old, now in zip(before.tasks, after.tasks, strict=True):
        assert now._replace(checked=old.checked) == old
        assert now.checked == states.get(old.task_id, old.checked)
