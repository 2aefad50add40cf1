"""How a pull request is named to people: one rule, used by every message and table."""

from __future__ import annotations


def pr_label(pr_id: int, pr_number: int | None) -> int:
    """The number a PR is shown and addressed by: the forge's number when it has one
    (GitHub's ``#12``), else the store's own id (the local forge numbers nothing)."""
    return pr_number if pr_number is not None else pr_id
