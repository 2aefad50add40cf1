"""The built-in ``local`` forge: pull requests kept in the store, merged by ``merge-pr``
with a real merge in the overseer's worktree (no server needed)."""

from __future__ import annotations

from collections.abc import Callable

from claude_orchestrator.errors import ConfigError, ValidationError
from claude_orchestrator.hookspecs import hookimpl
from claude_orchestrator.models import PullRequest
from claude_orchestrator.protocols import PluginContext, Register
from claude_orchestrator.protocols_vcs import VCS, Opened


@hookimpl(trylast=True)
def register_forges(register: Register) -> None:
    register("local", LocalForge.from_context, description="PRs in the store; merge-pr merges")


class LocalForge:
    """PRs kept in the store; merged with a real merge in the overseer's worktree.

    :param vcs: returns the repository's VCS (built when a PR is merged, not before).
    """

    name = "local"
    local = True

    def __init__(self, vcs: Callable[[], VCS]) -> None:
        self._vcs = vcs

    @classmethod
    def from_context(cls, context: PluginContext) -> LocalForge:
        if context.services is None:
            raise ConfigError("the local forge needs the repository's VCS")
        return cls(context.services.vcs)

    def open(self, *, base: str, head: str, title: str, body: str, draft: bool) -> Opened:
        return Opened(None, None)

    def merge(self, pr: PullRequest) -> None:
        """Merge the PR's head branch into its base branch, which is checked out here;
        refused (nothing changed) when the merge would conflict."""
        vcs = self._vcs()
        vcs.recover_interrupted_merge()
        # the implementor may work on another machine: what it pushed (and this clone
        # fetched) is the PR, not a local branch that stayed where init-feature made it
        tip = vcs.branch_tips(pr.head_branch, remotes=True).get(pr.head_branch)
        head = None if tip is None else tip.commit
        base = vcs.resolve(f"refs/heads/{pr.base_branch}")
        if head is None or base is None:
            missing = pr.head_branch if head is None else pr.base_branch
            raise ValidationError(f"branch {missing} does not exist: cannot merge PR #{pr.id}")
        outcome = vcs.merge_conflicts([(base, head)], attributes_from=base)[(base, head)]
        if outcome.conflicted:
            files = ", ".join(outcome.files) or "(a directory-rename conflict)"
            raise ValidationError(
                f"PR #{pr.id} would conflict with {pr.base_branch} in: {files}; the "
                f"implementor rebases {pr.head_branch} onto it first (see "
                "`claude-orchestrator check-conflicts`)"
            )
        message = f"Merge PR #{pr.id}: {pr.title}\n\n{pr.head_branch} -> {pr.base_branch}"
        vcs.merge_commit(base, head, message, pr=pr.id)


__all__ = ["LocalForge"]
