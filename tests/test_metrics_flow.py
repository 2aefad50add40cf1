"""Flow metrics, attribution and roll-ups (:mod:`claude_orchestrator.metrics_flow`): each
rule with exact figures on hand-built records, Hypothesis properties (attribution is the
documented rule, read naively; order never matters; rows add up to the total; an agent's
states fill its span), and the records of a real feature's store."""

from __future__ import annotations

import calendar
import itertools
import math
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator import Orchestrator
from claude_orchestrator import domain_rules as rules
from claude_orchestrator.agent_state import seconds
from claude_orchestrator.domain_tasks import derive_task_state
from claude_orchestrator.errors import ValidationError
from claude_orchestrator.metrics_flow import (
    _ms,
    _stamp,
    attribute,
    burn_down,
    clock_offsets,
    cost_points,
    flow,
    rollup,
)
from claude_orchestrator.metrics_model import (
    GROUPINGS,
    AgentFlow,
    Attributed,
    BurnPoint,
    ConflictFlow,
    CostPoint,
    CostRow,
    PullRequestFlow,
    TaskFlow,
    Tokens,
    UnknownModel,
)
from claude_orchestrator.metrics_prices import PriceTable
from claude_orchestrator.models import Blocker, Conflict, Event, PullRequest, Usage
from claude_orchestrator.models import TestResult as RunRecord  # pytest: not a test class

from .conftest import Run
from .test_workflow_setup import SPEC, commit, feature

__all__ = ["feature"]
API, DATA, OVERSEER = "implementor-api", "implementor-data", "overseer"
SONNET, UNKNOWN = "claude-sonnet-4-5-20250929", "gpt-imaginary-9"
#: 2026-01-01T10:00:00Z
T0 = 1_767_261_600
PRICES = PriceTable()


def at(offset: float) -> str:
    """The store time ``offset`` seconds after T0 (to the millisecond)."""
    ms = round(offset * 1000)
    whole, rest = divmod(T0 * 1000 + ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{rest:03d}Z"


class Log:
    """Events with ids in the order they are added."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, offset: float, role: str, kind: str, task: str | None = None,
            spec: str = SPEC, **metadata: Any) -> Event:  # fmt: skip
        message = metadata.pop("message", kind)
        event = Event(len(self.events) + 1, spec, role, kind, message, task, None,
                      metadata or None, at(offset))  # fmt: skip
        self.events.append(event)
        return event

    @classmethod
    def of(cls, *rows: tuple[float, str, str, str]) -> Log:
        """Task events without metadata: (offset, role, kind, task) each."""
        log = cls()
        for row in rows:
            log.add(*row)
        return log


def usage(n: int, offset: float, role: str | None = API, *, spec: str | None = SPEC,
          model: str = SONNET, tokens: tuple[int, ...] = (1000, 100, 0, 0)) -> Usage:  # fmt: skip
    return Usage(n, f"msg_{n}:req_{n}", spec, role, "session", model, at(offset), *tokens,
                 "/t.jsonl", n)  # fmt: skip


def tasks_of(found: list[Attributed]) -> dict[str, str | None]:
    return {a.usage.key.split(":")[0]: a.task_id for a in found}


# --------------------------------------------------------------------------------- times
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 12, 31)))
def test_store_times_read_as_the_agents_view_reads_them_and_back(moment: datetime) -> None:
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    parsed = seconds(stamp)
    assert parsed is not None and _ms(stamp) == round(parsed * 1000)
    assert _stamp(round(parsed * 1000)) == stamp


@pytest.mark.parametrize(
    "stamp",
    ["2026-02-29T10:00:00.000Z", "2026-13-01T10:00:00.000Z", "2026-01-01T24:00:00.000Z",
     "", "soon"],
)  # fmt: skip
def test_a_time_that_is_no_time_reads_as_none(stamp: str) -> None:
    assert _ms(stamp) is None


def test_other_forms_the_stores_accept_read_too() -> None:
    assert _ms("2026-01-01 10:00:00") == _ms("2026-01-01T10:00:00.000Z") == T0 * 1000
    assert _ms("2026-01-01T10:00:00.5Z") == _ms("2026-01-01T10:00:00.50Z") == T0 * 1000 + 500


# ------------------------------------------------------------------------ clock offsets
def test_clock_offset_is_the_smallest_gap_over_the_agents_events_with_a_clock() -> None:
    log = Log()
    log.add(100, API, "agent_working", clock=at(-20))  # agent 120 s behind the store
    log.add(500, API, "agent_idle", clock=at(200))  # spooled: stored 300 s late
    log.add(600, API, "agent_working")  # no clock
    log.add(100, DATA, "agent_working", clock=at(130.5))  # agent 30.5 s ahead
    log.add(100, OVERSEER, "agent_working", clock="not a time")
    log.add(100, OVERSEER, "agent_idle", clock=12)
    assert clock_offsets(log.events) == {(SPEC, API): 120.0, (SPEC, DATA): -30.5}


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(-5_000, 5_000)), min_size=1))
def test_clock_offset_is_the_minimum(pairs: list[tuple[int, int]]) -> None:
    log = Log()
    for stored, gap in pairs:
        log.add(stored, API, "agent_working", clock=at(stored - gap))
    assert clock_offsets(log.events) == {(SPEC, API): float(min(g for _, g in pairs))}


# ---------------------------------------------------------------------------- attribution
def test_a_reply_goes_to_the_task_in_progress_then_blocked_time_included() -> None:
    log = Log.of(
        (10, API, "task_started", "T001"),
        (20, API, "task_started", "T002"),
        (30, API, "task_completed", "T002"),
        (40, API, "task_blocked", "T001"),
        (50, API, "blocker_resolved", "T001"),
        (60, API, "task_completed", "T001"),
        (0, DATA, "task_started", "T003"),
    )
    replies = [usage(1, 5), usage(2, 10), usage(3, 15), usage(4, 25), usage(5, 35),
               usage(6, 45), usage(7, 55), usage(8, 60), usage(9, 65), usage(10, 15, DATA),
               usage(11, 15, None), usage(12, 15, spec=None)]  # fmt: skip
    found = attribute(replies, log.events, PRICES)
    assert tasks_of(found) == {
        "msg_1": None, "msg_2": "T001", "msg_3": "T001", "msg_4": "T002", "msg_5": "T001",
        "msg_6": "T001", "msg_7": "T001", "msg_8": None, "msg_9": None, "msg_10": "T003",
        "msg_11": None, "msg_12": None,
    }  # fmt: skip
    assert [(a.at, a.usage.key) for a in found] == sorted((a.at, a.usage.key) for a in found)


def test_a_task_in_progress_wins_over_a_newer_blocked_one() -> None:
    log = Log.of(
        (10, API, "task_started", "T001"),
        (20, API, "task_started", "T002"),
        (30, API, "task_blocked", "T002"),
        (40, API, "task_completed", "T001"),
        (50, API, "task_blocked", "T005"),  # blocked, never started: claimed by the block
    )
    found = attribute([usage(1, 25), usage(2, 35), usage(3, 45), usage(4, 55)],
                      log.events, PRICES)  # fmt: skip
    assert tasks_of(found) == {"msg_1": "T002", "msg_2": "T001", "msg_3": "T002",
                               "msg_4": "T005"}  # fmt: skip


def test_a_task_blocked_without_a_start_is_claimed_by_its_first_block() -> None:
    log = Log.of(
        (10, API, "task_blocked", "T005"),
        (20, API, "task_started", "T006"),
        (30, API, "task_blocked", "T006"),
        (40, API, "task_blocked", "T005"),  # a second blocker: T005's claim stays at 10
        (50, API, "task_blocked", "T006"),  # T006's claim is its start, 20
    )
    found = attribute([usage(1, 15), usage(2, 45), usage(3, 55)], log.events, PRICES)
    assert tasks_of(found) == {"msg_1": "T005", "msg_2": "T006", "msg_3": "T006"}


def test_the_task_state_is_the_domains_over_every_agent() -> None:
    log = Log.of(
        (10, API, "task_started", "T001"),
        (20, OVERSEER, "task_completed", "T001"),  # completed for everyone
        (30, OVERSEER, "task_reopened", "T001"),  # API's start stands again
        (40, API, "task_completed", "T001"),
        (45, API, "task_started", "T002"),
    )
    retracted = log.add(50, API, "task_started", "T003")
    log.add(55, API, "task_reopened", "T003", source="sync-status", retracts=retracted.id)
    replies = [usage(1, 15), usage(2, 25), usage(3, 35), usage(4, 42), usage(5, 52),
               usage(6, 56)]  # fmt: skip
    found = attribute(replies, log.events, PRICES)
    assert tasks_of(found) == {"msg_1": "T001", "msg_2": None, "msg_3": "T001",
                               "msg_4": None, "msg_5": "T003", "msg_6": "T002"}  # fmt: skip


def test_clock_skew_moves_each_agents_replies_onto_the_store_clock() -> None:
    log = Log()
    log.add(100, API, "agent_working", clock=at(-20))  # API's clock is 120 s behind
    log.add(150, API, "task_started", "T001")
    log.add(100, DATA, "agent_working", clock=at(130))  # DATA's is 30 s ahead
    log.add(160, DATA, "task_started", "T002")
    found = attribute([usage(1, 40, API), usage(2, 200, DATA), usage(3, 40, OVERSEER)],
                      log.events, PRICES)  # fmt: skip
    assert [(a.usage.key, a.at, a.task_id) for a in found] == [
        ("msg_3:req_3", at(40), None),
        ("msg_1:req_1", at(160), "T001"),  # 40 on its own clock: before T001 started
        ("msg_2:req_2", at(170), "T002"),  # 200 on its own clock
    ]
    before = attribute([usage(1, 40, API)], [], PRICES)
    assert (before[0].at, before[0].task_id) == (at(40), None)


def test_cost_from_the_price_table_none_for_an_unknown_model() -> None:
    replies = [usage(1, 0, tokens=(1000, 200, 100, 10_000)),
               usage(2, 1, model=UNKNOWN, tokens=(5, 5, 0, 0))]  # fmt: skip
    priced, unknown = attribute(replies, [], PRICES)
    # sonnet 4.5: 3 / 15 / 3.75 / 0.30 dollars per million
    assert priced.cost == pytest.approx((1000 * 3 + 200 * 15 + 100 * 3.75 + 10_000 * 0.3) / 1e6)
    assert unknown.cost is None
    assert cost_points([unknown, priced]) == [CostPoint(at(0), API, priced.cost)]


def test_one_hour_cache_writes_cost_their_own_rate() -> None:
    """Of 8,000 cache writes 3,000 were 1-hour ones: those at 2 x input (opus 5.5: 8.00
    as Claude Code charges it, sonnet 4.5: 6.00), the rest at 1.25 x."""
    replies = [usage(1, 0, model="claude-opus-5-5", tokens=(100, 20, 8000, 900))
               ._replace(cache_write_1h_tokens=3000),
               usage(2, 1, tokens=(100, 20, 8000, 900))._replace(cache_write_1h_tokens=8000),
               usage(3, 2, tokens=(100, 20, 8000, 900))]  # fmt: skip
    opus, sonnet_1h, sonnet_5m = attribute(replies, [], PRICES)
    assert opus.cost == pytest.approx((100 * 4 + 20 * 20 + 5000 * 5 + 3000 * 8 + 900 * 0.2) / 1e6)
    assert sonnet_1h.cost == pytest.approx((100 * 3 + 20 * 15 + 8000 * 6 + 900 * 0.3) / 1e6)
    assert sonnet_5m.cost == pytest.approx((100 * 3 + 20 * 15 + 8000 * 3.75 + 900 * 0.3) / 1e6)


def test_a_reply_whose_time_does_not_parse_keeps_it_with_no_task() -> None:
    log = Log.of(
        (0, API, "task_started", "T001"),
    )
    found = attribute([usage(1, 5)._replace(at="yesterday")], log.events, PRICES)
    assert (found[0].at, found[0].task_id) == ("yesterday", None)


# ------------------------------------------------------------------------------ roll-ups
def attributed(n: int, role: str | None, task: str | None, cost: float | None,
               tokens: tuple[int, int, int, int], *, day: float = 0,
               spec: str | None = SPEC) -> Attributed:  # fmt: skip
    model = SONNET if cost is not None else UNKNOWN
    reply = usage(n, day, role, spec=spec, model=model, tokens=tokens)
    return Attributed(reply, reply.at, task, cost)


ROLLUP = [
    attributed(1, API, "T001", 1.0, (10, 1, 0, 0)),
    attributed(2, API, "T002", 2.0, (20, 2, 0, 0)),
    attributed(3, DATA, None, 0.5, (5, 0, 0, 0), day=86_400),
    attributed(4, DATA, "T003", None, (7, 3, 0, 0), day=86_400),
    attributed(5, None, None, 0.25, (1, 1, 1, 1), spec=None),
]
MERGES = Log()
MERGES.add(0, API, "task_merged", "T001", pull_request_id=4)
MERGES.add(1, API, "task_merged", "T002", pull_request_id=9)
MERGES.add(2, API, "task_merged", "T002", pull_request_id=5)  # merged again: the latest
MERGES.add(3, API, "task_merged", "T001", spec="016-other", pull_request_id=9)
PRS = [PullRequest(4, SPEC, API, 12, "t", "merged", "o", "i", None, at(0), at(0)),
       PullRequest(5, SPEC, API, None, "t", "merged", "o", "i", None, at(0), at(2))]  # fmt: skip


def row(key: str, spec: str | None, tokens: tuple[int, ...], cost: float,
        unpriced: int = 0) -> CostRow:  # fmt: skip
    return CostRow(key, spec, Tokens(*tokens), cost, unpriced)


@pytest.mark.parametrize(
    ("by", "rows"),
    [
        ("agent", [row(API, SPEC, (2, 30, 3, 0, 0), 3.0),
                   row(DATA, SPEC, (2, 12, 3, 0, 0), 0.5, 1),
                   row("unattributed", None, (1, 1, 1, 1, 1), 0.25)]),
        ("task", [row("T002", SPEC, (1, 20, 2, 0, 0), 2.0),
                  row("T001", SPEC, (1, 10, 1, 0, 0), 1.0),
                  row("unattributed", SPEC, (1, 5, 0, 0, 0), 0.5),
                  row("unattributed", None, (1, 1, 1, 1, 1), 0.25),
                  row("T003", SPEC, (1, 7, 3, 0, 0), 0.0, 1)]),
        ("pr", [row("#5", SPEC, (1, 20, 2, 0, 0), 2.0),
                row("#12", SPEC, (1, 10, 1, 0, 0), 1.0),
                row("unmerged", SPEC, (2, 12, 3, 0, 0), 0.5, 1),
                row("unmerged", None, (1, 1, 1, 1, 1), 0.25)]),
        ("feature", [row(SPEC, SPEC, (4, 42, 6, 0, 0), 3.5, 1),
                     row("unattributed", None, (1, 1, 1, 1, 1), 0.25)]),
        ("day", [row("2026-01-01", None, (3, 31, 4, 1, 1), 3.25),
                 row("2026-01-02", None, (2, 12, 3, 0, 0), 0.5, 1)]),
    ],
)  # fmt: skip
def test_rollup_rows_by_each_grouping(by: str, rows: list[CostRow]) -> None:
    found, total, unknown = rollup(ROLLUP, by, MERGES.events, PRS)
    assert found == rows
    assert total == row("total", None, (5, 43, 7, 1, 1), 3.75, 1)
    assert unknown == [UnknownModel(UNKNOWN, 1, 10)]


def test_the_total_names_the_one_feature_and_nothing_is_an_empty_report() -> None:
    rows, total, _ = rollup(ROLLUP[:2], "agent", [], [])
    assert total.spec_id == SPEC and total.cost == 3.0 and len(rows) == 1
    assert rollup([], "day", [], []) == ([], row("total", None, (0, 0, 0, 0, 0), 0.0), [])


def test_an_unknown_grouping_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValidationError, match="cannot group by 'role': choose one of agent, "
                       "task, pr, feature, day"):  # fmt: skip
        rollup(ROLLUP, "role", [], [])


# ---------------------------------------------------------------------------- burn-down
def test_burn_down_one_point_per_change_then_now() -> None:
    log = Log.of(
        (10, API, "task_started", "T001"),
        (20, API, "task_completed", "T001"),
        (20, DATA, "task_started", "T002"),
        (30, DATA, "task_completed", "T002"),
        (40, DATA, "task_reopened", "T002"),
        (50, API, "task_completed", "T009"),  # not in tasks.md: known from its event
        (60, API, "task_completed", "T003"),
        (60, API, "task_reopened", "T003"),  # the same millisecond: no change at 60
    )
    log.add(70, API, "agent_working")
    points = burn_down(log.events, ["T001", "T002", "T003", "T004"], now=at(100))
    assert points == [BurnPoint(at(10), 5, 5), BurnPoint(at(20), 4, 5), BurnPoint(at(30), 3, 5),
                      BurnPoint(at(40), 4, 5), BurnPoint(at(50), 3, 5),
                      BurnPoint(at(100), 3, 5)]  # fmt: skip
    assert burn_down(log.events, [], now=at(50))[-1] == BurnPoint(at(50), 2, 4)
    assert burn_down([], ["T001", "T002"], now=at(5)) == [BurnPoint(at(5), 2, 2)]
    assert burn_down([], [], now=at(5)) == []


def test_a_now_that_is_no_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="now is 'soon': give a UTC time"):
        burn_down([], ["T001"], now="soon")
    with pytest.raises(ValidationError, match="now is 'soon'"):
        flow(SPEC, [], [], [], [], [], [], now="soon")


# --------------------------------------------------------------------------------- flow
def scenario() -> tuple[Log, list[PullRequest], list[Conflict], list[RunRecord], list[Blocker]]:
    log = Log()
    log.add(0, API, "agent_started")
    log.add(5, API, "agent_working")
    for offset, decision in ((7, "deny"), (8, "deny"), (9, "allow")):
        log.add(offset, API, "guard_decision", tool="Bash", decision=decision)
    log.add(10, API, "task_started", "T001")
    log.add(20, API, "task_blocked", "T001", blocker_id=1,
            message="blocked (dependency): waiting for schema")  # fmt: skip
    log.add(50, API, "blocker_resolved", "T001", blocker_id=1)
    log.add(60, API, "agent_waiting")
    log.add(90, API, "agent_working")
    log.add(100, API, "task_completed", "T001")
    log.add(110, API, "agent_idle")
    log.add(200, API, "task_merged", "T001", pull_request_id=1)
    log.add(210, API, "agent_exited")
    log.add(300, API, "agent_working")
    log.add(15, DATA, "task_started", "T002")
    log.add(25, DATA, "task_blocked", "T002", source="sync-status", reason="api not ready")
    log.add(26, DATA, "task_blocked", "T002", message="T002 blocked")  # a second, no reason
    log.add(30, DATA, "task_started", "T003")
    log.add(35, DATA, "task_started", "T010")
    log.add(40, DATA, "task_completed", "T003")
    log.add(45, DATA, "task_reopened", "T003")
    log.add(70, DATA, "task_completed", "T003")
    log.add(1, OVERSEER, "task_completed", "T001", spec="016-other")
    prs = [PullRequest(1, SPEC, API, 12, "api", "merged", "o", "i", None, at(130), at(200)),
           PullRequest(2, SPEC, DATA, None, "data", "open", "o", "d", None, at(300), None),
           PullRequest(3, "016-other", API, 1, "x", "open", "o", "i", None, at(0),
                       None)]  # fmt: skip
    conflicts = [
        Conflict(2, SPEC, DATA, ["b.py"], "warning", False, None, at(100), None,
                 other_role=API),
        Conflict(1, SPEC, API, ["a.py", "b.py"], "warning", True, "rebased", at(10), at(70)),
        Conflict(3, "016-other", API, ["c.py"], "warning", False, None, at(0), None),
    ]  # fmt: skip
    results = [run_record(n, role, kind, status, offset) for n, (role, kind, status, offset)
               in enumerate([(API, "unit", "passed", 150), (API, "lint", "failed", 160),
                             (API, "lint", "passed", 170),
                             (OVERSEER, "integration", "failed", 180),  # API not merged yet
                             (OVERSEER, "integration", "failed", 250),  # counts
                             (API, "unit", "failed", 260),
                             (OVERSEER, "e2e", "failed", 270),  # API red now
                             (OVERSEER, "e2e", "passed", 280),
                             (DATA, "unit", "passed", 100),  # green, but merged nothing
                             (OVERSEER, "e2e", "failed", 290),
                             (None, "e2e", "failed", 295)], start=1)]  # fmt: skip
    blockers = [Blocker(1, SPEC, API, "dependency", "waiting for schema", None, "resolved",
                        at(20), at(50), "done")]  # fmt: skip
    return log, prs, conflicts, results, blockers


def run_record(n: int, role: str | None, kind: str, status: str, offset: float) -> RunRecord:
    return RunRecord(n, SPEC, role, kind, status, "abc", None, None, None, None, None, None,
                      at(offset))  # fmt: skip


def test_flow_of_a_feature_with_exact_figures() -> None:
    log, prs, conflicts, results, blockers = scenario()
    report = flow(SPEC, log.events, prs, conflicts, results, blockers,
                  ["T001", "T002", "T003", "T004"], now=at(400))  # fmt: skip
    assert report.now == at(400) and report.spec_id == SPEC
    assert report.tasks == [
        TaskFlow(SPEC, "T001", API, at(10), at(100), at(200), 90.0, 100.0, 30.0,
                 ["waiting for schema"], 1),
        TaskFlow(SPEC, "T002", DATA, at(15), None, None, None, None, 375.0,
                 ["api not ready", "T002 blocked"], None),
        TaskFlow(SPEC, "T003", DATA, at(30), at(70), None, 40.0, None, 0.0, [], None),
        TaskFlow(SPEC, "T004", "", None, None, None, None, None, 0.0, [], None),
        TaskFlow(SPEC, "T010", DATA, at(35), None, None, None, None, 0.0, [], None),
    ]  # fmt: skip
    # API: starting 0-5 (idle), working 5-60, waiting 60-90, working 90-110, idle 110-210,
    # exited 210-300, working 300-now
    assert report.agents == [
        AgentFlow(SPEC, API, 1, 1 / (300 / 86_400), 175.0, 30.0, 105.0),
        AgentFlow(SPEC, DATA, 1, 1 / (55 / 86_400), 0.0, 0.0, 0.0),
    ]
    feature = report.feature
    assert feature.conflicts == [
        ConflictFlow(1, API, None, ["a.py", "b.py"], at(10), at(70), 60.0),
        ConflictFlow(2, DATA, API, ["b.py"], at(100), None, 300.0),
    ]
    assert feature.guard_denials == 2
    assert feature.red_on_overseer_green_on_implementor == 1
    assert feature.pull_requests == [
        PullRequestFlow(1, 12, API, "merged", at(130), at(200), 70.0, ["T001"]),
        PullRequestFlow(2, None, DATA, "open", at(300), None, None, []),
    ]


def test_a_reopened_task_is_completed_at_its_last_completion_and_not_done_meanwhile() -> None:
    log = Log.of(
        (10, API, "task_started", "T001"),
        (20, API, "task_completed", "T001"),
    )
    log.add(30, API, "task_merged", "T001", pull_request_id=3)
    log.add(40, API, "task_reopened", "T001")
    reopened = flow(SPEC, log.events, [], [], [], [], [], now=at(50)).tasks[0]
    assert (reopened.completed_at, reopened.merged_at, reopened.cycle_seconds,
            reopened.pull_request_id) == (None, None, None, None)  # fmt: skip
    log.add(60, API, "task_completed", "T001")
    log.add(90, API, "task_merged", "T001", pull_request_id=4)
    again = flow(SPEC, log.events, [], [], [], [], [], now=at(100)).tasks[0]
    assert (again.started_at, again.completed_at, again.merged_at) == (at(10), at(60), at(90))
    assert (again.cycle_seconds, again.merge_wait_seconds, again.pull_request_id) == (
        50.0,
        30.0,
        4,
    )


def test_a_start_sync_status_retracted_is_no_start() -> None:
    log = Log()
    first = log.add(10, API, "task_started", "T001")
    log.add(15, API, "task_reopened", "T001", source="sync-status", retracts=first.id)
    log.add(20, DATA, "task_started", "T001")
    log.add(50, DATA, "task_completed", "T001")
    task = flow(SPEC, log.events, [], [], [], [], [], now=at(60)).tasks[0]
    assert (task.role, task.started_at, task.cycle_seconds) == (DATA, at(20), 30.0)


def test_a_task_completed_before_any_start_has_no_cycle_time() -> None:
    log = Log.of(
        (10, OVERSEER, "task_completed", "T001"),
        (20, API, "task_started", "T001"),  # too late: completion is sticky
    )
    task = flow(SPEC, log.events, [], [], [], [], [], now=at(30)).tasks[0]
    assert (task.role, task.started_at, task.completed_at, task.cycle_seconds) == (
        API,
        at(20),
        at(10),
        None,
    )


# ----------------------------------------------------------------- Hypothesis properties
ROLES = (API, DATA, OVERSEER)
TASKS = ("T001", "T002", "T003")
KINDS = ("task_started", "task_blocked", "task_completed", "task_reopened", "task_merged",
         "blocker_resolved", "retract", "agent_working", "agent_waiting", "agent_idle",
         "agent_starting", "agent_exited", "guard_decision")  # fmt: skip


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """Events of one feature in store order: times never go back (ties happen), sync
    retractions take back an earlier event of the same agent and task."""
    log, offset = Log(), 0.0
    for _ in range(draw(st.integers(0, 30))):
        offset += draw(st.sampled_from([0, 0.001, 1, 7, 60]))
        role, kind, task = (draw(st.sampled_from(ROLES)), draw(st.sampled_from(KINDS)),
                            draw(st.sampled_from(TASKS)))  # fmt: skip
        if kind == "retract":
            claims = ("task_started", "task_completed", "task_blocked")
            mine = [e for e in log.events if (e.role, e.task_id) == (role, task)]
            earlier = [e.id for e in mine if e.event_type in claims]
            if not earlier:
                continue
            log.add(offset, role, "task_reopened", task, source="sync-status",
                    retracts=draw(st.sampled_from(earlier)))  # fmt: skip
        elif kind.startswith("task_") or kind == "blocker_resolved":
            log.add(offset, role, kind, task, pull_request_id=draw(st.integers(1, 3)))
        else:
            log.add(offset, role, kind, decision=draw(st.sampled_from(["allow", "deny"])))
    return log.events


def replies(draw: st.DrawFn, horizon: float) -> list[Usage]:
    found = []
    for n in range(1, draw(st.integers(0, 15)) + 1):
        offset = draw(st.sampled_from([0.0, 0.001, 1.0])) + draw(st.integers(0, int(horizon) + 2))
        found.append(usage(n, offset, draw(st.sampled_from([*ROLES, None])),
                           model=draw(st.sampled_from([SONNET, UNKNOWN])),
                           tokens=draw(st.tuples(*[st.integers(0, 10_000)] * 4))))  # fmt: skip
    return found


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[Event], list[Usage]]:
    events = draw(histories())
    horizon = max((seconds_of(e.created_at) for e in events), default=0.0)
    return events, replies(draw, horizon)


def seconds_of(stamp: str) -> float:
    whole = time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(whole) - T0 + int(stamp[20:23]) / 1000


def naive_task(events: list[Event], reply: Usage) -> str | None:
    """The module's rule read literally, for one reply: every task's state from its
    events stored by then, the agent's claims, in progress before blocked."""
    if reply.spec_id is None or reply.role is None:
        return None
    now = seconds_of(reply.at)
    before = [e for e in events if seconds_of(e.created_at) <= now and rules.moves_state(e)]
    order = lambda e: (seconds_of(e.created_at), e.id)  # noqa: E731
    best: dict[str, tuple[tuple[float, int], str]] = {}
    for task in {str(e.task_id) for e in before}:
        mine = [e for e in before if e.task_id == task]
        state = derive_task_state([rules.task_event(e, ROLES.index(e.role)) for e in mine])
        starts = [e for e in mine if e.role == reply.role and e.event_type == "task_started"]
        blocks = [e for e in mine if e.role == reply.role and e.event_type == "task_blocked"]
        claim = max(starts, key=order) if starts else min(blocks, key=order) if blocks else None
        if claim is not None and state is not None and state.status in ("in-progress",
                                                                         "blocked"):  # fmt: skip
            best[state.status] = max(best.get(state.status, ((-1.0, 0), "")),
                                     (order(claim), task))  # fmt: skip
    for status in ("in-progress", "blocked"):
        if status in best:
            return best[status][1]
    return None


@given(cases())
def test_attribution_is_the_documented_rule_and_only_tasks_in_progress(
    case: tuple[list[Event], list[Usage]],
) -> None:
    events, usages = case
    found = attribute(usages, events, PRICES)
    assert sorted(a.usage.id for a in found) == sorted(u.id for u in usages)
    for item in found:
        assert item.at == item.usage.at  # no clocks: no offsets
        assert item.task_id == naive_task(events, item.usage)
        assert (item.cost is None) == (item.usage.model == UNKNOWN)


@given(cases(), st.randoms(use_true_random=False))
def test_no_input_order_changes_any_result(
    case: tuple[list[Event], list[Usage]], random: Any
) -> None:
    events, usages = case
    shuffled_events, shuffled_usages = events[:], usages[:]
    random.shuffle(shuffled_events)
    random.shuffle(shuffled_usages)
    found = attribute(usages, events, PRICES)
    assert attribute(shuffled_usages, shuffled_events, PRICES) == found
    shuffled = found[:]
    random.shuffle(shuffled)
    for by in GROUPINGS:
        assert rollup(shuffled, by, shuffled_events, []) == rollup(found, by, events, [])
    assert cost_points(shuffled) == cost_points(found)
    now = at(10_000)
    assert flow(SPEC, shuffled_events, [], [], [], [], ["T004"], now=now) == flow(
        SPEC, events, [], [], [], [], ["T004"], now=now
    )
    assert burn_down(shuffled_events, ["T004"], now=now) == burn_down(events, ["T004"], now=now)


@given(cases())
def test_rows_add_up_to_the_total_for_every_grouping(
    case: tuple[list[Event], list[Usage]],
) -> None:
    events, usages = case
    found = attribute(usages, events, PRICES)
    for by in GROUPINGS:
        rows, total, unknown = rollup(found, by, events, [])
        for field in Tokens._fields:
            assert sum(getattr(r.tokens, field) for r in rows) == getattr(total.tokens, field)
        assert math.isclose(math.fsum(r.cost for r in rows), total.cost, abs_tol=1e-12)
        assert sum(r.unpriced for r in rows) == total.unpriced == sum(m.messages for m in unknown)
        assert total.tokens.messages == len(usages) and len({(r.spec_id, r.key) for r in rows}) \
            == len(rows)  # fmt: skip
        assert [r.cost for r in rows] == sorted((r.cost for r in rows), reverse=True)


@given(histories())
def test_each_agents_states_fill_its_span_and_every_figure_is_sane(events: list[Event]) -> None:
    end = max((seconds_of(e.created_at) for e in events), default=0.0) + 100
    report = flow(SPEC, events, [], [], [], [], list(TASKS), now=at(end))
    for agent in report.agents:
        states = [(seconds_of(e.created_at), e.event_type) for e in events
                  if e.role == agent.role and e.event_type.startswith("agent_")]  # fmt: skip
        gone = sum((states[i + 1][0] if i + 1 < len(states) else end) - t
                   for i, (t, kind) in enumerate(states) if kind == "agent_exited")  # fmt: skip
        span = end - states[0][0] - gone if states else 0.0
        spent = agent.working_seconds + agent.waiting_seconds + agent.idle_seconds
        assert math.isclose(spent, span, abs_tol=1e-6)
    states = rules.task_states(SPEC, events)
    done = {s.task_id for s in states if s.status in ("completed", "merged")}
    assert sum(a.tasks_done for a in report.agents) == len(done)
    for task in report.tasks:
        assert 0 <= task.blocked_seconds <= end + 1e-6  # end is a float, the figure whole ms
        assert (task.completed_at is not None) == (task.task_id in done)
        assert task.cycle_seconds is None or task.cycle_seconds >= 0
        assert task.merge_wait_seconds is None or task.merge_wait_seconds >= 0
    points = burn_down(events, list(TASKS), now=at(end))
    assert points[-1] == BurnPoint(at(end), len(TASKS) - len(done), len(TASKS))
    assert all(0 <= p.remaining <= p.total for p in points)
    assert all(a.remaining != b.remaining for a, b in itertools.pairwise(points[:-1]))


# ------------------------------------------------------------- a real feature's records
def test_flow_from_a_real_features_store(cli: Run, repo: Path, feature: dict[str, Path]) -> None:
    """sync-status, ``block``/``unblock``, tests and a merged PR, recorded by the real store:
    their records give the blockers' descriptions, the PR's tasks and times that agree."""
    data, api = feature["impl-data"], feature["impl-api"]
    for path, text, message in (("src/a.py", "a = 1\n", "T001: started the model"),
                                ("src/b.py", "b = 1\n", "T002 blocked: api not ready"),
                                ("src/a.py", "a = 2\n", "T001 done")):  # fmt: skip
        commit(data, path, text, message)
        assert cli("sync-status", cwd=data).code == 0  # one sync each: three times
    commit(api, "src/c.py", "c = 1\n", "T003: started the routes")
    assert cli("sync-status", cwd=api).code == 0
    with Orchestrator(repo) as orch:
        blocker = orch.block(SPEC, "implementor-api", "dependency", "waiting for schema",
                             task_id="T003")  # fmt: skip
        orch.unblock(blocker.id)
        orch.record_test(SPEC, DATA, "unit", "passed", commit="a" * 40)
        branches = (f"feature/{SPEC}/overseer", f"feature/{SPEC}/impl-data")
        pr, _ = orch.store.record_pull_request(SPEC, DATA, "model", *branches, pr_number=7)
        orch.store.merge_pull_request(pr.id)
        orch.record_test(SPEC, OVERSEER, "integration", "failed", commit="b" * 40)
        with orch.store.transaction() as tx:
            events = tx.events(SPEC)
        records = (orch.store.list_pull_requests(SPEC), orch.store.list_conflicts(SPEC, True),
                   orch.test_results(SPEC), orch.blockers(SPEC, include_resolved=True))  # fmt: skip
    now = max(e.created_at for e in events)
    report = flow(SPEC, events, *records, ["T001", "T002", "T003", "T004"], now=now)
    tasks = {t.task_id: t for t in report.tasks}
    when = {(e.task_id, e.event_type): e.created_at for e in events if e.task_id}
    t001 = tasks["T001"]
    assert (t001.role, t001.started_at, t001.completed_at, t001.merged_at) == (
        DATA, when[("T001", "task_started")], when[("T001", "task_completed")],
        when[("T001", "task_merged")],
    )  # fmt: skip
    assert t001.pull_request_id == pr.id and t001.cycle_seconds is not None
    assert tasks["T002"].blocked_by == ["api not ready"] and tasks["T002"].role == DATA
    assert tasks["T003"].blocked_by == ["waiting for schema"]
    assert tasks["T004"].started_at is None
    merged = report.feature.pull_requests
    assert [(p.pr_number, p.tasks) for p in merged] == [(7, ["T001"])]
    assert report.feature.red_on_overseer_green_on_implementor == 1
    found = attribute([usage(1, 0, DATA)._replace(at=when[("T001", "task_started")])], events,
                      PRICES)  # fmt: skip
    assert found[0].task_id == "T001"
    rows, total, _ = rollup(found, "pr", events, records[0])
    assert [r.key for r in rows] == ["#7"] and total.tokens.messages == 1
