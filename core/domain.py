"""Every event the orchestrator logs: its type, its message and its metadata (pure).

A store never words an event itself: it calls one of these functions with what it
knows (the ids it assigned, the values it read) and appends the :class:`NewEvent` it
gets back, so two stores say exactly the same. The rules that decide *whether* an
event is logged live in :mod:`.domain_rules`; a task's state in :mod:`.domain_tasks`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import AlreadyExistsError, NotFoundError, ValidationError
from .models import FoundConflict, NewEvent, SyncCommit

OVERSEER = "overseer"
#: the source the sync-status events name in their metadata
SYNC_SOURCE = "sync-status"


# -- features and agents ---------------------------------------------------------------
def feature_created(
    spec_id: str, name: str, overseer_branch: str, roles: Sequence[str]
) -> NewEvent:
    return NewEvent(
        spec_id,
        OVERSEER,
        "feature_created",
        f"feature {spec_id} created: {name} (agents: {', '.join(roles)})",
        metadata={"name": name, "overseer_branch": overseer_branch},
    )


def feature_renamed(spec_id: str, previous: str, name: str) -> NewEvent:
    return NewEvent(
        spec_id,
        OVERSEER,
        "feature_renamed",
        f"feature {spec_id} renamed: {previous} -> {name}",
        metadata={"name": name, "previous_name": previous},
    )


def feature_status_set(spec_id: str, status: str) -> NewEvent:
    return NewEvent(
        spec_id,
        OVERSEER,
        "status_update",
        f"feature status: {status}",
        metadata={"feature_status": status},
    )


def agent_registered(spec_id: str, role: str, branch: str) -> NewEvent:
    return NewEvent(
        spec_id, role, "agent_registered", f"{role} registered on {branch}",
        metadata={"branch": branch},
    )  # fmt: skip


# -- conflicts ---------------------------------------------------------------------------
def conflict_detected(
    spec_id: str, role: str, conflict_id: int, files: Sequence[str], severity: str
) -> NewEvent:
    """A conflict recorded by hand (``events add-conflict``)."""
    return NewEvent(
        spec_id,
        role,
        "conflict_detected",
        f"{severity} conflict #{conflict_id}: {', '.join(files)}",
        metadata={"conflict_id": conflict_id, "files": list(files), "severity": severity},
    )


def conflict_resolved(
    spec_id: str,
    role: str,
    conflict_id: int,
    notes: str,
    pair: tuple[str, str] | None = None,
) -> NewEvent:
    """A conflict resolved by hand; ``pair`` (branch, other branch) for one a scan found,
    so that whatever follows the pair (notifications) sees it end."""
    metadata: dict[str, object] = {"conflict_id": conflict_id}
    if pair is not None:
        metadata |= {"branch": pair[0], "other_branch": pair[1]}
    return NewEvent(
        spec_id, role, "conflict_resolved", f"conflict #{conflict_id} resolved: {notes}",
        metadata=metadata,
    )  # fmt: skip


def scan_conflict_detected(spec_id: str, found: FoundConflict, conflict_id: int) -> NewEvent:
    """A conflict a scan found (``detect-conflicts``)."""
    listing = ", ".join(found.files) or "(a directory-rename conflict)"
    return NewEvent(
        spec_id,
        found.role,
        "conflict_detected",
        f"{found.severity} conflict #{conflict_id} with {found.other_branch}: {listing}",
        metadata={"conflict_id": conflict_id, "files": found.files,
                  "severity": found.severity, "branch": found.branch,
                  "other_branch": found.other_branch},
    )  # fmt: skip


def scan_resolution_notes(note: str) -> str:
    """The resolution notes of a conflict a scan resolved."""
    return f"resolved automatically: {note}"


def scan_conflict_resolved(
    spec_id: str, role: str, conflict_id: int, branch: str, other_branch: str, note: str
) -> NewEvent:
    return NewEvent(
        spec_id,
        role,
        "conflict_resolved",
        f"conflict #{conflict_id} with {other_branch} {note}",
        metadata={"conflict_id": conflict_id, "branch": branch,
                  "other_branch": other_branch, "automatic": True},
    )  # fmt: skip


# -- blockers ----------------------------------------------------------------------------
def blocker_added(
    spec_id: str,
    role: str,
    blocker_id: int,
    blocker_type: str,
    description: str,
    blocking_role: str | None = None,
    task_id: str | None = None,
) -> NewEvent:
    metadata: dict[str, Any] = {"blocker_id": blocker_id, "blocker_type": blocker_type}
    if blocking_role:
        metadata["blocked_by"] = blocking_role
    return NewEvent(
        spec_id, role, "task_blocked", f"blocked ({blocker_type}): {description}",
        task_id=task_id, metadata=metadata,
    )  # fmt: skip


def blocker_resolved(
    spec_id: str, role: str, blocker_id: int, notes: str, task_id: str | None
) -> NewEvent:
    return NewEvent(
        spec_id, role, "blocker_resolved", f"blocker #{blocker_id} resolved: {notes}",
        task_id=task_id or None, metadata={"blocker_id": blocker_id},
    )  # fmt: skip


# -- test results ------------------------------------------------------------------------
def test_recorded(
    spec_id: str,
    role: str,
    result_id: int,
    test_type: str,
    status: str,
    commit_hash: str | None,
    counts: tuple[int | None, int | None, int | None],
) -> NewEvent:
    """``counts``: (passed, failed, skipped), each None when not known."""
    said = ", ".join(
        f"{n} {label}" for n, label in zip(counts, ("passed", "failed", "skipped"), strict=True)
        if n is not None
    )  # fmt: skip
    return NewEvent(
        spec_id,
        role,
        "test_result",
        f"{test_type} tests {status}" + (f" ({said})" if said else ""),
        commit_hash=commit_hash,
        metadata={"test_result_id": result_id, "test_type": test_type, "status": status},
    )


# -- pull requests -----------------------------------------------------------------------
def pr_opened(
    spec_id: str,
    role: str,
    pr_id: int,
    pr_number: int | None,
    branches: tuple[str, str],
    title: str,
    url: str | None,
) -> NewEvent:
    """``branches``: (head, base)."""
    head, base = branches
    label = f"#{pr_number}" if pr_number is not None else f"(local {pr_id})"
    return NewEvent(
        spec_id,
        role,
        "pr_opened",
        f"PR {label} opened: {head} -> {base}: {title}",
        metadata={"pull_request_id": pr_id, "pr_number": pr_number, "url": url},
    )


def pr_status_set(
    spec_id: str, role: str, pr_id: int, pr_number: int | None, status: str
) -> NewEvent:
    return NewEvent(
        spec_id,
        role,
        "pr_merged" if status == "merged" else "status_update",
        f"PR {pr_number or pr_id} is {status}",
        metadata={"pull_request_id": pr_id, "status": status},
    )


def _pr_label(pr_id: int, pr_number: int | None) -> int:
    return pr_number if pr_number is not None else pr_id


def pr_merged(
    spec_id: str, role: str, pr_id: int, pr_number: int | None, branches: tuple[str, str]
) -> NewEvent:
    """``branches``: (head, base)."""
    head, base = branches
    return NewEvent(
        spec_id, role, "pr_merged",
        f"PR #{_pr_label(pr_id, pr_number)} merged: {head} -> {base}",
        metadata={"pull_request_id": pr_id, "pr_number": pr_number},
    )  # fmt: skip


def task_merged(
    spec_id: str, role: str, pr_id: int, pr_number: int | None, task: tuple[str, str | None]
) -> NewEvent:
    """``task``: (task id, the commit that completed it)."""
    task_id, commit = task
    return NewEvent(
        spec_id, role, "task_merged",
        f"{task_id} merged in PR #{_pr_label(pr_id, pr_number)}",
        task_id, commit, {"pull_request_id": pr_id},
    )  # fmt: skip


# -- sync-status -------------------------------------------------------------------------
def sync_action(
    spec_id: str,
    role: str,
    branch: str,
    commit: SyncCommit,
    action: tuple[str, str, str | None],
) -> NewEvent:
    """One action (task id, kind, reason) a synced commit's message says."""
    task_id, kind, reason = action
    metadata: dict[str, Any] = {"branch": branch, "source": SYNC_SOURCE}
    if reason:
        metadata["reason"] = reason
    return NewEvent(spec_id, role, f"task_{kind}", commit.subject, task_id, commit.commit, metadata)


def sync_blocker_description(commit: SyncCommit, reason: str | None) -> str:
    """What the blocker a synced ``blocked`` action opens says."""
    return reason or commit.subject


def sync_retraction(
    spec_id: str,
    role: str,
    branch: str,
    retracted: tuple[str, str, int, str | None],
    commit: SyncCommit,
) -> NewEvent:
    """``retracted``: (task id, action, its event id, the commit it was synced from)."""
    task_id, action, event_id, old_commit = retracted
    metadata = {"branch": branch, "source": SYNC_SOURCE, "retracts": int(event_id),
                "retracted": f"task_{action}", "rewrite": commit.how or "rewrite",
                "old_commit": old_commit, "new_commit": commit.commit}  # fmt: skip
    return NewEvent(
        spec_id, role, "task_reopened",
        f"{task_id} {action} retracted: {str(old_commit)[:12]} was rewritten as "
        f"{commit.commit[:12]}, whose message no longer says it",
        task_id, commit.commit, metadata,
    )  # fmt: skip


def still_said(task_id: str, action: str, commit_hash: str, patch_id: str) -> SyncCommit:
    """The commit that, after a retraction, logs what another synced change still says."""
    subject = f"{task_id} {action}: still said by {commit_hash[:12]} after a rewrite"
    return SyncCommit(commit_hash, patch_id, subject, [])


# -- what a store says when a change is refused ------------------------------------------
def feature_not_found(spec_id: str) -> NotFoundError:
    return NotFoundError(
        f"Feature not found in event store: {spec_id}. Add it with: "
        f'claude-orchestrator events add-feature {spec_id} "<name>"'
    )


def agent_not_found(spec_id: str, role: str) -> NotFoundError:
    return NotFoundError(
        f"Agent not found: {role} is not registered for {spec_id}. Register it with: "
        f"claude-orchestrator events add-agent {spec_id} {role}"
    )


def feature_exists(spec_id: str) -> AlreadyExistsError:
    return AlreadyExistsError(
        f"feature {spec_id} is already in the event store: see "
        f"`claude-orchestrator events status {spec_id}`"
    )


def agent_exists(spec_id: str, role: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"agent {role} is already registered for {spec_id}")


def conflict_not_found(conflict_id: int) -> NotFoundError:
    return NotFoundError(
        f"no conflict with id {conflict_id}: list them with `claude-orchestrator events conflicts`"
    )


def conflict_already_resolved(conflict_id: int) -> ValidationError:
    return ValidationError(f"conflict {conflict_id} is already resolved")


def blocker_not_found(blocker_id: int) -> NotFoundError:
    return NotFoundError(
        f"no blocker with id {blocker_id}: list them with `claude-orchestrator events blockers`"
    )


def blocker_already_resolved(blocker_id: int) -> ValidationError:
    return ValidationError(f"blocker {blocker_id} is already resolved")


def pull_request_not_found(pr_id: int, *, merging: bool = False) -> NotFoundError:
    if merging:
        return NotFoundError(
            f"no pull request #{pr_id}: list them with `claude-orchestrator events "
            "status` or `claude-orchestrator prs`"
        )
    return NotFoundError(f"no pull request with id {pr_id}")
