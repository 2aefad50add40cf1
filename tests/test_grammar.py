"""The commit-message grammar: every documented form, and properties of the parser."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.grammar import ACTIONS, TaskAction, parse_commit_message

S, C, B, R = "started", "completed", "blocked", "reopened"
ID_RE = re.compile(r"(?<!\w)T[0-9]{3,6}(?!\w)")

Expected = list[tuple[str, str] | tuple[str, str, str]]

FORMS: list[tuple[str, Expected]] = [
    # subjects that start with ids
    ("T003: add model", [("T003", S)]),
    ("T003 T004: add models", [("T003", S), ("T004", S)]),
    ("T003, T004: x", [("T003", S), ("T004", S)]),
    ("T003 and T004: x", [("T003", S), ("T004", S)]),
    ("[T003] add model", [("T003", S)]),
    ("[T003][T004, T005] add models", [("T003", S), ("T004", S), ("T005", S)]),
    ("T003 - add model", [("T003", S)]),
    ("T003 add model", [("T003", S)]),
    ("T123456: six digits", [("T123456", S)]),
    ("feat: T003 add model", [("T003", S)]),
    ("feat(T003): add model", [("T003", S)]),
    ("fix(api)!: T003 handle nulls", [("T003", S)]),
    ("fix: T003 handle nulls", [("T003", S)]),
    # completion after the ids
    ("T003 done", [("T003", C)]),
    ("T003: done", [("T003", C)]),
    ("T003 complete", [("T003", C)]),
    ("T003 completed.", [("T003", C)]),
    ("T003 finished", [("T003", C)]),
    ("T003 - Done!", [("T003", C)]),
    ("T003 is done, T004 is now complete", [("T003", C), ("T004", C)]),
    ("T003 and T004 done and tested", [("T003", C), ("T004", C)]),
    ("T003: complete rewrite of the parser", [("T003", S)]),
    ("T003 was already done (restore tick)", [("T003", C)]),
    ("T003 was done", [("T003", C)]),
    ("T003, T004 were already finished", [("T003", C), ("T004", C)]),
    ("T003 done (see notes)", [("T003", C)]),
    ("T003 already done", [("T003", C)]),
    ("T003 was not done", [("T003", S)]),
    # reopened
    ("T003 reopened", [("T003", R)]),
    ("T003: reopen", [("T003", R)]),
    ("T003 is reopened: tests fail", [("T003", R)]),
    ("T003 reopened and T004 done", [("T003", R), ("T004", C)]),
    ("reopen T003", [("T003", R)]),
    ("Reopens task T003", [("T003", R)]),
    ("fix x\n\nreopened T003, T004", [("T003", R), ("T004", R)]),
    ("T003: reopen the discussion", [("T003", S)]),
    ("add\n\nTask: T003\nStatus: reopened", [("T003", R)]),
    ("add\n\nReopens: T003", [("T003", R)]),
    # completed and reopened: the later line wins (squashed messages)
    ("T003: x\n\nT003 done\nT003 reopened", [("T003", R)]),
    ("T003: x\n\nT003 reopened\nT003 done", [("T003", C)]),
    ("T003 reopened, T003 done", [("T003", C)]),
    ("x\n\nT003 reopened\n\nCloses: T003", [("T003", C)]),
    ("x\n\nT003 done\n\nReopens: T003", [("T003", R)]),
    ("T003 reopened\n\nblocked T003: api", [("T003", R)]),
    # completion before the ids, anywhere
    ("complete T003", [("T003", C)]),
    ("Completes T003", [("T003", C)]),
    ("finish T003", [("T003", C)]),
    ("finishes T003", [("T003", C)]),
    ("done T003", [("T003", C)]),
    ("Closes T003", [("T003", C)]),
    ("add x\n\nthis closes T003, T004 and T005", [("T003", C), ("T004", C), ("T005", C)]),
    ("fix T003", [("T003", C)]),
    ("Fixes T003", [("T003", C)]),
    ("fixed T003", [("T003", C)]),
    ("resolve T003", [("T003", C)]),
    ("RESOLVES task T003", [("T003", C)]),
    ("resolved tasks T003/T004", [("T003", C), ("T004", C)]),
    ("fix: closes T003", [("T003", C)]),
    # blocked
    ("blocked T005: waiting for api", [("T005", B, "waiting for api")]),
    ("T005 blocked: waiting for api", [("T005", B, "waiting for api")]),
    ("T005: blocked:  waiting for api  ", [("T005", B, "waiting for api")]),
    ("blocked on T005", [("T005", B)]),
    ("Blocked on T005: schema", [("T005", B, "schema")]),
    ("blocked T005:", [("T005", B)]),
    ("T006 blocked by T005", [("T006", B)]),
    ("T006 is blocked on T005: needs schema", [("T006", B, "needs schema")]),
    ("blocked T005: T004 done first", [("T005", B, "T004 done first")]),
    ("T006 blocked by T005, closes T007", [("T006", B), ("T007", C)]),
    ("unblocked T005", []),
    # trailers
    ("add model\n\nTask: T003", [("T003", S)]),
    ("add models\n\nTasks: T001, T002", [("T001", S), ("T002", S)]),
    ("add model\n\nTask: T003\nStatus: done", [("T003", C)]),
    ("add model\n\ntask: T003\nstatus: Completed.", [("T003", C)]),
    ("add model\n\nTask: T003\nStatus: wip", [("T003", S)]),
    (
        "add\n\nTask: T003\nStatus: blocked\nBlocked-by: T004 is done first",
        [("T003", B, "T004 is done first")],
    ),
    (
        "add\n\nTask: T003\nStatus: blocked\nReason: api\n  still down",
        [("T003", B, "api still down")],
    ),
    ("add\n\nTask: T003\nStatus: blocked", [("T003", B)]),
    ("T003: add model\n\nStatus: finished", [("T003", C)]),
    ("add model\n\nCloses: T003", [("T003", C)]),
    ("add model\n\nCompletes: T003", [("T003", C)]),
    ("add model\n\nCloses: #12, T003\nSigned-off-by: A <a@b.c>", [("T003", C)]),
    ("add model\n\nBlocked: T005\nReason: api down", [("T005", B, "api down")]),
    ("Task: T003", []),  # the subject is never a trailer
    ("add\n\nTask: T003\nnot a trailer line", []),
    # several ids, precedence, order
    ("T003: start\n\nblocked T003: x\ncloses T003", [("T003", C)]),
    ("T003: start\n\nT003 blocked: x", [("T003", B, "x")]),
    ("T002: a\n\ncloses T001\nblocked T002\nblocked T002: why", [("T002", B, "why"), ("T001", C)]),
    ("T001, T002: x\n\nT002 done\nblocked T001: api", [("T001", B, "api"), ("T002", C)]),
    # mentions that are not forms, and things that are not ids
    ("add model\n\nsee T009 for context", []),
    ("T008 blocks T009", [("T008", S)]),
    ("Merge branch 'impl-T003'", []),
    ("T0012x done", []),
    ("XT001 done", []),
    ("T01 done", []),
    ("t003 done", []),
    ("closes T01, T1234567", []),
    ("T001-T003: range", [("T001", S)]),
    ("", []),
    ("\n\n", []),
]


def actions(expected: Expected) -> list[TaskAction]:
    return [TaskAction(e[0], e[1], e[2] if len(e) == 3 else None) for e in expected]


@pytest.mark.parametrize(("message", "expected"), FORMS)
def test_forms(message: str, expected: Expected) -> None:
    assert parse_commit_message(message) == actions(expected)


@pytest.mark.parametrize(("message", "expected"), FORMS)
def test_crlf_and_leading_blank_lines_do_not_matter(message: str, expected: Expected) -> None:
    assert parse_commit_message("\r\n" + message.replace("\n", "\r\n")) == actions(expected)


KEYWORD_FORMS = [
    ("{kw} T003", C, ["complete", "completes", "finish", "done", "closes", "fixed", "resolve"]),
    ("T003 {kw}", C, ["done", "complete", "completed", "finished"]),
    ("T003 {kw}", R, ["reopened", "reopen"]),
    ("{kw} T003", R, ["reopen", "reopens", "reopened"]),
    ("T005 {kw}: api", B, ["blocked"]),
    ("{kw} T005: api", B, ["blocked", "blocked on"]),
]


@st.composite
def keyword_messages(draw: st.DrawFn) -> tuple[str, str]:
    template, action, keywords = draw(st.sampled_from(KEYWORD_FORMS))
    keyword = draw(st.sampled_from(keywords))
    upper = draw(st.lists(st.booleans(), min_size=len(keyword), max_size=len(keyword)))
    cased = "".join(c.upper() if u else c for c, u in zip(keyword, upper, strict=True))
    return template.format(kw=cased), action


@given(keyword_messages())
def test_keywords_are_case_insensitive(case: tuple[str, str]) -> None:
    message, action = case
    result = parse_commit_message(message)
    assert [a.action for a in result] == [action]
    assert result[0].reason == ("api" if action == B else None)


MENTIONS = ["see T999 for context", "like T999, this (T999) x", "T999's follow-up", "[T999]"]


@given(st.sampled_from([f for f in FORMS if f[0].strip()]), st.sampled_from(MENTIONS))
def test_other_mentions_give_no_action(form: tuple[str, Expected], mention: str) -> None:
    message, expected = form
    head, sep, tail = message.partition("\n\n")
    assert parse_commit_message(f"{head}\n\n{mention}{sep}{tail}") == actions(expected)


TOKENS = [
    *("T001", "T002", "T003", "T123456", "T01", "T0012x", "XT001", "t004", "T1234567"),
    *("done", "complete", "Closes", "fixes", "blocked", "unblocked", "on", "by", "is", "and"),
    *("reopened", "Reopens", "Status: reopened", "was", "already", "("),
    *("Task:", "Tasks:", "Status: done", "Status: blocked", "Reason:", "Blocked-by:", "task"),
    *("feat:", "fix(T002):", "[T003]", "[", "]", "see", "x", "é", "✓", "_", "#12"),
    *(" ", " ", " ", "\n", "\n", "\n\n", "\r\n", ":", ": ", ",", ", ", " - ", "/", "\t", "."),
]
messages = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=30).map("".join),
    st.text(max_size=60),
)


def check_invariants(message: str, result: list[TaskAction]) -> None:
    first: dict[str, int] = {}
    for m in ID_RE.finditer(message):
        first.setdefault(m.group(), m.start())
    ids = [a.task_id for a in result]
    assert len(ids) == len(set(ids))
    assert all(i in first for i in ids)
    assert [first[i] for i in ids] == sorted(first[i] for i in ids)
    for action in result:
        assert action.action in ACTIONS
        assert action.reason is None or (
            action.action == B and action.reason.strip() == action.reason != ""
        )


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(messages)
def test_invariants(message: str) -> None:
    result = parse_commit_message(message)
    check_invariants(message, result)
    if ID_RE.search(message) is None:
        assert result == []


@given(st.text(alphabet=st.characters(blacklist_characters="T"), max_size=80))
def test_no_id_like_token_no_action(message: str) -> None:
    assert parse_commit_message(message) == []


BODY_FORMS = {B: ["blocked {i}: why", "{i} is blocked"], C: ["closes {i}", "{i} done"]}
picks = st.lists(st.tuples(st.sampled_from([B, C]), st.integers(0, 1)), max_size=5)


@given(st.sampled_from(["T001", "T042", "T123456"]), st.booleans(), picks)
def test_completed_beats_blocked_beats_started(
    task_id: str, in_subject: bool, chosen: list[tuple[str, int]]
) -> None:
    subject = f"{task_id}: work" if in_subject else "work"
    body = [BODY_FORMS[action][k].format(i=task_id) for action, k in chosen]
    message = subject + "\n\n" + "\n".join(body) if body else subject
    result = parse_commit_message(message)
    check_invariants(message, result)
    actions_given = {a for a, _ in chosen} | ({S} if in_subject else set())
    best = next((a for a in (C, B, S) if a in actions_given), None)
    assert [a.action for a in result] == ([best] if best else [])
    if best == B:
        assert result[0].reason == ("why" if (B, 0) in chosen else None)


VERDICT_FORMS = {C: ["closes {i}", "{i} done", "{i} was already finished"],
                 R: ["reopen {i}", "{i} reopened", "{i}: reopen"]}  # fmt: skip
verdicts = st.lists(st.tuples(st.sampled_from([C, R]), st.integers(0, 2)), min_size=1, max_size=5)


@given(st.sampled_from(["T001", "T042"]), st.booleans(), verdicts, st.booleans())
def test_the_last_of_completed_and_reopened_wins(
    task_id: str, in_subject: bool, chosen: list[tuple[str, int]], blocked: bool
) -> None:
    subject = f"{task_id}: work" if in_subject else "work"
    body = [VERDICT_FORMS[action][k].format(i=task_id) for action, k in chosen]
    if blocked:
        body.insert(0, f"blocked {task_id}: api")
    message = subject + "\n\n" + "\n".join(body)
    result = parse_commit_message(message)
    check_invariants(message, result)
    assert [a.action for a in result] == [chosen[-1][0]]
