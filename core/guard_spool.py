"""The guard's decision records (see :mod:`~.guard_log`). They wait in the shared spool
(:mod:`~.spool`) when the store cannot take them; the names this module always offered
for the spool (``SPOOL``, ``REJECTED``, :func:`spool_record`, :func:`rejected_records`)
are those of the spool bound to no store, ``guard-spool.jsonl``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .guard_redact import redact
from .spool import MAX_ATTEMPTS, UNBOUND, new_record, unbound

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .guard import Decision

__all__ = ["EVENT_TYPE", "MAX_ATTEMPTS", "REJECTED", "SPOOL", "decision_record",
           "rejected_records", "spool_record"]  # fmt: skip

SPOOL = UNBOUND
REJECTED = unbound(Path()).rejected_path.name
EVENT_TYPE = "guard_decision"


def decision_record(
    spec_id: str, role: str, tool: str, detail: str, decision: Decision
) -> dict[str, Any]:
    """The spool line (and, through :func:`~.spool.to_event`, the event) for one decision."""
    shown = redact(detail)
    verdict = "allowed" if decision.allowed else "denied"
    record = new_record("guard", None, spec_id=spec_id, role=role, event_type=EVENT_TYPE,
                        message=f"{verdict} {tool}: {shown[:300]}")  # fmt: skip
    record["metadata"] = {
        "tool": tool,
        "decision": "allow" if decision.allowed else "deny",
        "reason": redact(decision.reason),
        "input": shown[:2000],
        "record_id": record["id"],
    }
    return record


def spool_record(state_dir: Path, record: Mapping[str, Any]) -> bool:
    """Append a record to the spool bound to no store; False when there is nowhere to
    write it."""
    return unbound(state_dir).append(record)


def rejected_records(state_dir: Path) -> list[dict[str, Any]]:
    """The records moved to ``guard-spool.rejected``: ``{"id", "errors", "record"}`` each."""
    return unbound(state_dir).rejected()
