"""Pull requests from an implementor branch to its overseer branch, and merging them.

Forges are plugins (the ``register_forges`` hook), chosen by ``forge.type``; two are
built in:

* ``local`` needs no server: the PR lives in the store, and the overseer runs
  ``claude-orchestrator merge-pr <n>``, which performs a real merge of the implementor
  branch into the overseer branch through the VCS (refusing, with the conflicting files,
  when it would conflict);
* ``github`` goes through the ``gh`` CLI (which must be installed and authenticated).

Merging is the overseer's: it runs where the overseer branch is checked out, and an
implementor's branch cannot merge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ValidationError, refuse_implementor
from .models import PullRequest, TestResult
from .protocols_vcs import Forge, ForgeError, Opened

if TYPE_CHECKING:
    from .api import Orchestrator


def forge_for(orch: Orchestrator) -> Forge:
    """The forge ``forge.type`` names, built by the plugin that registered it."""
    return orch.forge()


def _body(orch: Orchestrator, spec_id: str, role: str) -> str:
    store = orch.store
    done = [t for t in store.task_states(spec_id) if t.role == role
            and t.status in ("completed", "merged")]  # fmt: skip
    tests = [t for t in store.list_test_results(spec_id, 50) if t.role == role]
    latest: dict[str, TestResult] = {}
    for t in tests:
        latest.setdefault(t.test_type, t)
    lines = ["## Tasks completed", ""]
    lines += [f"- {t.task_id} ({(t.commit_hash or '')[:7]})" for t in done] or ["- none yet"]
    lines += ["", "## Last test results", ""]
    if latest:
        for kind, t in sorted(latest.items()):
            counts = f"{t.tests_passed or 0} passed, {t.tests_failed or 0} failed"
            lines.append(f"- {kind}: **{t.status}** ({counts}) at {(t.commit_hash or '')[:7]}")
    else:
        lines.append("- none recorded (run `claude-orchestrator run-tests`)")
    lines += ["", "Opened with `claude-orchestrator open-pr`."]
    return "\n".join(lines) + "\n"


def open_pr(orch: Orchestrator, *, title: str | None = None, body: str | None = None,
            draft: bool = False, branch: str | None = None) -> PullRequest:  # fmt: skip
    """Open a PR from the current implementor branch to its overseer branch."""
    from . import validate as v
    from .workflow import _current_feature_branch, branch_tip

    name, parsed = _current_feature_branch(orch, branch)
    if parsed.role == "overseer":
        raise ValidationError(
            "open-pr runs on an implementor branch: the overseer branch is where PRs go"
        )
    store = orch.store
    if store.get_feature(parsed.spec_id) is None:
        raise ValidationError(
            f"Feature not found in event store: {parsed.spec_id}. Set it up with: "
            f"claude-orchestrator init-feature {parsed.spec_id}"
        )
    base = orch.config.overseer_branch(parsed.spec_id)
    forge = forge_for(orch)
    # the overseer's branch may be only origin's here (the overseer is on another machine)
    if forge.local and branch_tip(orch.vcs(), base) is None:
        raise ValidationError(
            f"the overseer branch {base} does not exist (locally or as a remote-tracking "
            "branch): fetch it (`git fetch`), or create it with `claude-orchestrator "
            f"init-feature {parsed.spec_id}`"
        )
    for pr in store.list_pull_requests(parsed.spec_id):
        if pr.head_branch == name and pr.status in ("draft", "open", "approved"):
            raise ValidationError(
                f"{name} already has an open PR (#{pr.pr_number or pr.id}): update the "
                "branch, the PR follows it"
            )
    title = (
        v.check_message(title, "title")
        if title
        else (f"{parsed.spec_id}: {parsed.role.replace('implementor-', '')} -> overseer")
    )
    text = v.check_message(body, "body") if body else _body(orch, parsed.spec_id, parsed.role)
    opened = forge.open(base=base, head=name, title=title, body=text, draft=draft)
    pr, event = store.record_pull_request(
        parsed.spec_id, parsed.role, title, base, name, pr_number=opened.number,
        status="draft" if draft else "open", url=opened.url,
    )  # fmt: skip
    orch.notify(event)
    return pr


def merge_pr(orch: Orchestrator, number: int | str) -> PullRequest:
    """Merge PR ``number`` into the overseer branch; only where the overseer branch is
    checked out (implementors cannot merge)."""
    from . import validate as v
    from .workflow import _current_feature_branch

    refuse_implementor("merge-pr")
    wanted = v.check_positive_id(number, "pull request")
    name, parsed = _current_feature_branch(orch, None)
    if parsed.role != "overseer":
        raise ValidationError(
            "implementors may not merge: open a PR with `claude-orchestrator open-pr`; the "
            "overseer merges it from the overseer branch"
        )
    store = orch.store
    forge = forge_for(orch)
    prs = store.list_pull_requests(parsed.spec_id)
    if forge.local:
        match = [p for p in prs if p.id == wanted]
    else:
        match = [p for p in prs if p.pr_number == wanted]
    if not match:
        raise ValidationError(
            f"no pull request #{wanted} for {parsed.spec_id}: see `claude-orchestrator prs`"
        )
    pr = match[0]
    if pr.base_branch != name:
        raise ValidationError(f"PR #{wanted} goes to {pr.base_branch}, not {name}")
    if pr.status in ("merged", "closed"):
        raise ValidationError(f"pull request #{wanted} is already {pr.status}")
    forge.merge(pr)
    merged, events = store.merge_pull_request(pr.id)
    orch.notify(*events)
    return merged


def list_prs(orch: Orchestrator, spec_id: str | None = None) -> list[PullRequest]:
    if spec_id is not None:
        orch.feature(spec_id)
    return list(orch.store.list_pull_requests(spec_id))


__all__ = ["Forge", "ForgeError", "Opened", "forge_for", "list_prs", "merge_pr", "open_pr"]
