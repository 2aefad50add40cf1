"""The domain layer every store uses: the events' wording, pinned, and its rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator import domain
from claude_orchestrator import domain_rules as rules
from claude_orchestrator.domain_tasks import TaskEvent
from claude_orchestrator.models import FoundConflict, NewEvent, SyncCommit

SPEC = "001-x"
A, B = "feature/001-x/impl-a", "feature/001-x/impl-b"


def test_the_wording_of_every_event_is_pinned() -> None:
    found = FoundConflict("implementor-a", A, "implementor-b", B, ["x.py", "y.py"], "warning")
    sync = SyncCommit("c" * 40, "p", "T001 done", [("T001", "completed", None)])
    assert [
        domain.feature_created(SPEC, "Goals", "o", ["overseer", "implementor-a"]),
        domain.feature_renamed(SPEC, "Old", "New"),
        domain.feature_status_set(SPEC, "completed"),
        domain.agent_registered(SPEC, "implementor-a", A),
        domain.conflict_detected(SPEC, "implementor-a", 3, ["x.py"], "critical"),
        domain.conflict_resolved(SPEC, "implementor-a", 3, "rebased"),
        domain.scan_conflict_detected(SPEC, found, 4),
        domain.scan_conflict_detected(SPEC, found._replace(files=[]), 5),
        domain.scan_conflict_resolved(SPEC, "implementor-a", 4, A, B, "no longer conflicts"),
        domain.blocker_added(SPEC, "implementor-a", 2, "dependency", "needs B", "implementor-b",
                             "T002"),
        domain.blocker_resolved(SPEC, "implementor-a", 2, "B merged", ""),
        domain.test_recorded(SPEC, "implementor-a", 9, "unit", "failed", "abc", (3, 1, None)),
        domain.pr_opened(SPEC, "implementor-a", 7, None, (A, "o"), "Data", None),
        domain.pr_status_set(SPEC, "implementor-a", 7, 12, "closed"),
        domain.pr_merged(SPEC, "implementor-a", 7, None, (A, "o")),
        domain.task_merged(SPEC, "implementor-a", 7, 12, ("T001", "abc")),
        domain.sync_action(SPEC, "implementor-a", A, sync, ("T002", "blocked", "waits")),
        domain.sync_retraction(SPEC, "implementor-a", A, ("T001", "completed", 5, "a" * 40),
                               sync._replace(how="")),
    ] == [
        NewEvent(SPEC, "overseer", "feature_created",
                 "feature 001-x created: Goals (agents: overseer, implementor-a)",
                 metadata={"name": "Goals", "overseer_branch": "o"}),
        NewEvent(SPEC, "overseer", "feature_renamed", "feature 001-x renamed: Old -> New",
                 metadata={"name": "New", "previous_name": "Old"}),
        NewEvent(SPEC, "overseer", "status_update", "feature status: completed",
                 metadata={"feature_status": "completed"}),
        NewEvent(SPEC, "implementor-a", "agent_registered", f"implementor-a registered on {A}",
                 metadata={"branch": A}),
        NewEvent(SPEC, "implementor-a", "conflict_detected", "critical conflict #3: x.py",
                 metadata={"conflict_id": 3, "files": ["x.py"], "severity": "critical"}),
        NewEvent(SPEC, "implementor-a", "conflict_resolved", "conflict #3 resolved: rebased",
                 metadata={"conflict_id": 3}),
        NewEvent(SPEC, "implementor-a", "conflict_detected",
                 f"warning conflict #4 with {B}: x.py, y.py",
                 metadata={"conflict_id": 4, "files": ["x.py", "y.py"], "severity": "warning",
                           "branch": A, "other_branch": B}),
        NewEvent(SPEC, "implementor-a", "conflict_detected",
                 f"warning conflict #5 with {B}: (a directory-rename conflict)",
                 metadata={"conflict_id": 5, "files": [], "severity": "warning",
                           "branch": A, "other_branch": B}),
        NewEvent(SPEC, "implementor-a", "conflict_resolved",
                 f"conflict #4 with {B} no longer conflicts",
                 metadata={"conflict_id": 4, "branch": A, "other_branch": B, "automatic": True}),
        NewEvent(SPEC, "implementor-a", "task_blocked", "blocked (dependency): needs B", "T002",
                 metadata={"blocker_id": 2, "blocker_type": "dependency",
                           "blocked_by": "implementor-b"}),
        NewEvent(SPEC, "implementor-a", "blocker_resolved", "blocker #2 resolved: B merged",
                 metadata={"blocker_id": 2}),
        NewEvent(SPEC, "implementor-a", "test_result", "unit tests failed (3 passed, 1 failed)",
                 commit_hash="abc",
                 metadata={"test_result_id": 9, "test_type": "unit", "status": "failed"}),
        NewEvent(SPEC, "implementor-a", "pr_opened", f"PR (local 7) opened: {A} -> o: Data",
                 metadata={"pull_request_id": 7, "pr_number": None, "url": None}),
        NewEvent(SPEC, "implementor-a", "status_update", "PR 12 is closed",
                 metadata={"pull_request_id": 7, "status": "closed"}),
        NewEvent(SPEC, "implementor-a", "pr_merged", f"PR #7 merged: {A} -> o",
                 metadata={"pull_request_id": 7, "pr_number": None}),
        NewEvent(SPEC, "implementor-a", "task_merged", "T001 merged in PR #12", "T001", "abc",
                 {"pull_request_id": 7}),
        NewEvent(SPEC, "implementor-a", "task_blocked", "T001 done", "T002", "c" * 40,
                 {"branch": A, "source": "sync-status", "reason": "waits"}),
        NewEvent(SPEC, "implementor-a", "task_reopened",
                 f"T001 completed retracted: {'a' * 12} was rewritten as {'c' * 12}, "
                 "whose message no longer says it", "T001", "c" * 40,
                 {"branch": A, "source": "sync-status", "retracts": 5,
                  "retracted": "task_completed", "rewrite": "rewrite",
                  "old_commit": "a" * 40, "new_commit": "c" * 40}),
    ]  # fmt: skip


def test_an_agent_is_active_again_only_when_its_last_blocker_is_resolved() -> None:
    assert rules.status_after_block() == "blocked"
    assert rules.status_after_resolve("blocked", 0) == "active"
    assert rules.status_after_resolve("blocked", 1) == "blocked"
    assert rules.status_after_resolve("paused", 0) == "paused"


def test_a_merge_merges_the_tasks_its_author_left_completed() -> None:
    done = [TaskEvent(1, 1, "task_started"), TaskEvent(2, 1, "task_completed", "c1")]
    reopened = [*done, TaskEvent(3, 1, "task_reopened")]
    merged = [TaskEvent(4, 1, "task_merged", "c2")]
    by_task = {"T003": done, "T001": reopened, "T002": merged, "T004": done[:1]}
    assert rules.merged_tasks(by_task) == [("T003", "c1")]


def test_a_rewrite_carries_what_is_still_said_and_retracts_the_rest() -> None:
    rows = [
        rules.SyncedAction("p", "T001", "started", None, "a"),
        rules.SyncedAction("p", "T001", "completed", 8, "a"),
        rules.SyncedAction("p", "T002", "completed", 5, "a"),
        rules.SyncedAction("p", "T003", "started", None, "a"),
    ]
    commit = SyncCommit("b", "q", "T001 blocked", [("T001", "blocked", "x")], ("p",))
    plan = rules.plan_rewrite(commit, rows)
    assert [(r.task_id, r.action, step) for r, step in plan] == [
        ("T002", "completed", rules.RETRACT),  # logged first: event 5
        ("T001", "completed", rules.RETRACT),
        ("T001", "started", rules.CARRY),  # a start counts as said while T001 is named
        ("T003", "started", rules.DROP),  # never logged: nothing to take back
    ]


BRANCHES = ["b1", "b2", "b3"]
PAIRS = [(a, b) for i, a in enumerate(BRANCHES) for b in BRANCHES[i + 1 :]]
FILES = st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3, unique=True)


@given(
    recorded=st.dictionaries(st.sampled_from(PAIRS), FILES),
    found=st.dictionaries(st.sampled_from(PAIRS), FILES),
    scanned=st.sets(st.sampled_from(PAIRS)),
    flip=st.booleans(),
)
def test_scan_reconciliation(
    recorded: dict[tuple[str, str], list[str]],
    found: dict[tuple[str, str], list[str]],
    scanned: set[tuple[str, str]],
    flip: bool,
) -> None:
    """Every recorded pair is kept, or resolved with the reason; every found pair whose
    files are not already recorded is opened -- whichever way round a scan names it."""
    old = [rules.RecordedConflict(i, "r", *pair, rules.fingerprint(files))
           for i, (pair, files) in enumerate(sorted(recorded.items()))]  # fmt: skip
    new = [FoundConflict("r", *(pair[::-1] if flip else pair)[:1], None,
                         (pair[::-1] if flip else pair)[1], files, "warning")
           for pair, files in found.items()]  # fmt: skip
    plan = rules.reconcile_scan(sorted(scanned), new, old)
    resolved = {(r.branch, r.other_branch): note for r, note in plan.resolve}
    opened = {tuple(sorted((f.branch, f.other_branch))) for f in plan.open}
    for pair, files in recorded.items():
        same = pair in found and set(found[pair]) == set(files)
        if pair not in scanned or same:
            assert pair not in resolved
        else:
            assert resolved[pair] == (
                "file set changed" if pair in found else "no longer conflicts"
            )
    for pair, files in found.items():
        assert (pair in opened) == (pair not in recorded or set(recorded[pair]) != set(files))
    assert len(plan.open) == len(opened)
