"""The agents' least-privilege role of the PostgreSQL store, for a DBA
(``claude-orchestrator events init --print-grants [--role NAME]``).

The role may read everything, append events and token usage and write the mutable
records, and nothing else: no ``UPDATE``, ``DELETE`` or ``TRUNCATE`` of ``task_events``
or ``usage``, no DDL (it owns nothing and may create nothing), so the store it writes
cannot rewrite its history even by hand. Once the tables' owner has created the schema
(``events init``), the role's ``events init`` only registers its repository's project.
Identifiers are quoted by psycopg's ``sql`` module; the script is idempotent, so it can
run again after an upgrade.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from claude_orchestrator.errors import ValidationError

from .postgres_schema import SCHEMA_VERSION
from .postgres_views import VIEW_NAMES

if TYPE_CHECKING:
    from psycopg import sql  # type: ignore[import-not-found, unused-ignore]

#: the role ``events init --print-grants`` grants to, unless ``--role`` names another
DEFAULT_ROLE = "claude_orchestrator_agent"
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")

#: what the agents' role may do: append and read events and token usage (history, never
#: rewritten); read and write the rest
APPEND_ONLY = ("task_events", "usage")
MUTABLE = (
    "projects", "features", "agents", "pull_requests", "conflicts",
    "test_results", "blockers", "agent_activity", "task_state", "sync_cursors",
    "synced_commits", "synced_actions", "delivery_cursors", "notifications", "notify_state",
    "transcript_cursors",
)  # fmt: skip
#: rows the store deletes: a task without state events, a forgotten synced action, the
#: notification queue's old messages and the pipeline's values it forgets
DELETED_FROM = ("task_state", "synced_actions", "notifications", "notify_state")
READ_ONLY = ("schema_meta", *VIEW_NAMES)
SEQUENCES = ("projects_id_seq", "synced_actions_seq_seq")


def check_role(role: str) -> str:
    """A role name for the grants (ValidationError for another)."""
    if not _ROLE.fullmatch(role):
        raise ValidationError(
            f"invalid role name {role[:80]!r}: give a PostgreSQL role name of at most 63 "
            "letters, digits, '_', '.' or '-', starting with a letter or '_' "
            f"(e.g. {DEFAULT_ROLE})"
        )
    return role


def _sql() -> Any:
    """psycopg's ``sql`` module (PluginError naming the extra without it)."""
    from .postgres_dsn import import_psycopg

    return import_psycopg().sql


def _names(names: tuple[str, ...]) -> sql.Composed:
    q = _sql()
    joined: sql.Composed = q.SQL(", ").join(q.Identifier(name) for name in names)
    return joined


def grants(role: str) -> list[sql.Composed]:
    """The statements that make ``role`` the agents' least-privilege role: it may read
    everything, append events and write the mutable records, and nothing else (no
    ``UPDATE``/``DELETE``/``TRUNCATE`` of events, no DDL, no schema of its own). Run by
    the tables' owner in the store's database, after ``events init`` created them."""
    q = _sql()
    who = q.Identifier(check_role(role))
    statements = [
        # idempotent, so a DBA can run the script again after an upgrade
        (
            "DO $grants$ BEGIN CREATE ROLE {who} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $grants$",
            {},
        ),
        ("GRANT USAGE ON SCHEMA public TO {who}", {}),
        ("GRANT SELECT ON {tables} TO {who}", {"tables": _names(READ_ONLY)}),
        ("GRANT SELECT, INSERT ON {tables} TO {who}", {"tables": _names(APPEND_ONLY)}),
        ("GRANT SELECT, INSERT, UPDATE ON {tables} TO {who}", {"tables": _names(MUTABLE)}),
        ("GRANT DELETE ON {tables} TO {who}", {"tables": _names(DELETED_FROM)}),
        ("GRANT USAGE ON SEQUENCE {sequences} TO {who}", {"sequences": _names(SEQUENCES)}),
    ]
    composed: list[sql.Composed] = [
        q.SQL(text).format(who=who, **parts) for text, parts in statements
    ]
    return composed


def grants_script(role: str) -> str:
    """:func:`grants` as the SQL script ``events init --print-grants`` prints."""
    q = _sql()
    who = q.Identifier(check_role(role)).as_string()
    lines = [
        f"-- The agents' role for the claude-orchestrator event store (schema version "
        f"{SCHEMA_VERSION}).",
        "-- Run as the owner of its tables, in its database, after `claude-orchestrator "
        "events init`",
        "-- created them; then give each agent a login in the role, e.g.",
        f"--   CREATE ROLE agent1 LOGIN IN ROLE {who};  -- its password in ~/.pgpass",
        "-- On PostgreSQL 14 and older, also: REVOKE CREATE ON SCHEMA public FROM PUBLIC;",
        "BEGIN;",
    ]
    lines += [f"{statement.as_string()};" for statement in grants(role)]
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"
