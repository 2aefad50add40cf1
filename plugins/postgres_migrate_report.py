"""What ``events migrate`` (:mod:`.postgres_migrate`) reports: what it copied, the
events' checksum both sides must agree on, the text it prints and the one line that
says what to change to use the copy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from . import postgres_dsn as dsn
from .postgres_identity import Repository


class Migrated(NamedTuple):
    """What ``events migrate`` did (``--json`` prints it)."""

    source: str
    #: the PostgreSQL store, its password masked
    target: str
    project: str
    #: rows per table after the copy, the same on both sides (verified)
    counts: dict[str, int]
    #: rows per table this run copied, found there already, and brought up to date
    copied: dict[str, int]
    present: dict[str, int]
    updated: dict[str, int]
    events: int
    #: sha256 of the events (see the module docstring), the same on both sides
    checksum: str
    verified: bool
    #: True when the project had every record already (nothing was written)
    nothing_new: bool
    #: what to change to use the copy: one line
    next: str

    def text(self) -> str:
        """What ``events migrate`` prints."""
        return describe(self)


def event_line(row: Sequence[Any]) -> bytes:
    """An event's line of the checksum, from (id, spec id, role, type, task, commit,
    message, metadata JSON text or None, created_at)."""
    data = [*row[:7], json.loads(row[7]) if row[7] else None, row[8]]
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode() + b"\n"


def checksum(events: Iterable[Sequence[Any]]) -> tuple[str, int]:
    """(sha256 hex digest of the events' lines, how many)."""
    digest, count = hashlib.sha256(), 0
    for row in events:
        digest.update(event_line(row))
        count += 1
    return digest.hexdigest(), count


def next_step(repository: Repository, target: str, project: str | None) -> str:
    """The one line that says what to change to use the copy."""
    variable = str(repository.options.get("dsn_env") or dsn.ENV_DSN)
    named = f" and `project: {project}`" if project and project != repository.project else ""
    return (
        f"next: set `plugins.store: postgres`{named} in orchestrator.yaml and "
        f"{variable}='{target}' in every agent's environment (the password in ~/.pgpass)"
    )


def describe(done: Migrated) -> str:
    """The text ``events migrate`` prints."""
    if done.nothing_new:
        head = (f"nothing new to copy: every record of {done.source} is in {done.target} "
                f"(project {done.project}) already")  # fmt: skip
    else:
        head = (f"copied {sum(done.copied.values())} rows of {done.source} into "
                f"{done.target} (project {done.project}); {sum(done.present.values())} "
                f"were there already, {sum(done.updated.values())} brought up to date")  # fmt: skip
    width = max(len(t) for t in done.counts)
    lines = [head, f"  {'table':<{width}}  {'rows':>8}  {'copied':>8}  {'present':>8}  updated"]
    for table, count in done.counts.items():
        if table not in done.copied:  # a summary: derived again, not copied
            lines.append(f"  {table:<{width}}  {count:>8}  (derived by the store's rules)")
            continue
        lines.append(
            f"  {table:<{width}}  {count:>8}  {done.copied[table]:>8}  "
            f"{done.present[table]:>8}  {done.updated[table]:>7}"
        )
    lines.append(f"verified: the row counts match, and the {done.events} events' sha256 is "
                 f"{done.checksum} on both sides")  # fmt: skip
    lines.append(done.next)
    return "\n".join(lines)
