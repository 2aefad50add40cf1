"""What ``events migrate`` copies (:mod:`.postgres_migrate`): every table of a SQLite store
and how each of its columns reads on both sides, so that a row of the SQLite file and the
same row of the PostgreSQL project compare equal.

A column's *kind* says how its value is read: a timestamp is the port's string (UTC,
milliseconds, ``Z``: ``co_ts()`` on PostgreSQL), metadata the JSON text as stored, a
conflict's files a list, ``resolved`` a boolean. Columns the store's ``update_*`` writes
are *mutable*: a row whose other columns are the source's is the same record, and the
copy brings its mutable ones up to date; a difference anywhere else is another history.

The numbered tables (ids per kind of record, from 1) are copied with their ids, in id
order, the notification queue and token usage too (its messages, queued, sent or dead,
keep their ids, keys and states; usage records their ids and keys); the sync tables, the
delivery cursors, the notification pipeline's values and the transcript cursors are
keyed; ``synced_actions`` is a list
whose order is what it says (SQLite's rowid order, PostgreSQL's ``seq``). The summaries
are not copied: ``agent_activity`` is kept by the events' insert trigger and
``task_state`` is derived again with the domain's rule, as every write of the store does.
"""

# SQL here is composed from module constants only (table and column names).
# ruff: noqa: S608
from __future__ import annotations

from typing import NamedTuple

#: how a column's value reads (see the module docstring)
VALUE, TS, BOOL, FILES, JSON = "value", "ts", "bool", "files", "json"
#: what PostgreSQL casts a parameter of a kind to
_CASTS = {TS: "::timestamptz", JSON: "::json", FILES: "::text[]"}


class Column(NamedTuple):
    name: str
    kind: str = VALUE
    mutable: bool = False

    def target(self) -> str:
        """How the PostgreSQL side reads it."""
        if self.kind == TS:
            return f"co_ts({self.name})"
        return f"{self.name}::text" if self.kind == JSON else self.name

    def param(self) -> str:
        return "%s" + _CASTS.get(self.kind, "")


def names(columns: tuple[Column, ...]) -> str:
    return ", ".join(c.name for c in columns)


def select(table: str, columns: tuple[Column, ...]) -> str:
    """The PostgreSQL side's rows of a project (its only parameter), as the source's read."""
    exprs = ", ".join(c.target() for c in columns)
    return f"SELECT {exprs} FROM {table} WHERE project_id = %s"


class Numbered(NamedTuple):
    """A table whose records have ids (the first column)."""

    table: str
    #: a record of it, in messages
    noun: str
    columns: tuple[Column, ...]

    def source_sql(self) -> str:
        return f"SELECT {names(self.columns)} FROM {self.table} WHERE id > ? ORDER BY id"

    def target_sql(self) -> str:
        return select(self.table, self.columns) + " ORDER BY id"

    def copy_sql(self) -> str:
        return f"COPY {self.table} (project_id, {names(self.columns)}) FROM STDIN"

    def mutable(self) -> list[int]:
        """The positions of the columns the store updates."""
        return [i for i, c in enumerate(self.columns) if c.mutable]

    def update_sql(self) -> str:
        sets = ", ".join(f"{c.name} = {c.param()}" for c in self.columns if c.mutable)
        return f"UPDATE {self.table} SET {sets} WHERE project_id = %s AND id = %s"


class Keyed(NamedTuple):
    """A table of rows named by a key (the first ``key`` columns)."""

    table: str
    noun: str
    columns: tuple[Column, ...]
    key: int

    def source_sql(self) -> str:
        return f"SELECT {names(self.columns)} FROM {self.table}"

    def target_sql(self) -> str:
        return select(self.table, self.columns)

    def upsert_sql(self) -> str:
        keys = names(self.columns[: self.key])
        values = ", ".join(c.param() for c in self.columns)
        sets = ", ".join(f"{c.name} = excluded.{c.name}" for c in self.columns[self.key :])
        return (
            f"INSERT INTO {self.table} (project_id, {names(self.columns)}) VALUES (%s, {values}) "
            f"ON CONFLICT (project_id, {keys}) DO UPDATE SET {sets}"
        )


def _c(name: str, kind: str = VALUE, mutable: bool = False) -> Column:
    return Column(name, kind, mutable)


_FEATURE, _AGENT = _c("feature_id"), _c("agent_id")
FEATURES = Numbered("features", "feature", (
    _c("id"), _c("spec_id"), _c("name", mutable=True), _c("overseer_branch"),
    _c("status", mutable=True), _c("created_at", TS), _c("completed_at", TS, True),
))  # fmt: skip
AGENTS = Numbered("agents", "agent", (
    _c("id"), _FEATURE, _c("role"), _c("branch_name"), _c("status", mutable=True),
    _c("created_at", TS),
))  # fmt: skip
EVENTS = Numbered("task_events", "event", (
    _c("id"), _FEATURE, _AGENT, _c("event_type"), _c("task_id"), _c("commit_hash"),
    _c("message"), _c("metadata", JSON), _c("created_at", TS),
))  # fmt: skip
PULL_REQUESTS = Numbered("pull_requests", "pull request", (
    _c("id"), _FEATURE, _AGENT, _c("pr_number"), _c("title"), _c("status", mutable=True),
    _c("base_branch"), _c("head_branch"), _c("created_at", TS), _c("merged_at", TS, True),
    _c("url"),
))  # fmt: skip
CONFLICTS = Numbered("conflicts", "conflict", (
    _c("id"), _FEATURE, _AGENT, _c("conflicting_files", FILES), _c("severity"),
    _c("resolved", BOOL, True), _c("resolution_notes", mutable=True), _c("detected_at", TS),
    _c("resolved_at", TS, True), _c("branch"), _c("other_branch"), _c("other_agent_id"),
    _c("fingerprint"),
))  # fmt: skip
TEST_RESULTS = Numbered("test_results", "test result", (
    _c("id"), _FEATURE, _AGENT, _c("test_type"), _c("commit_hash"), _c("status"),
    _c("tests_total"), _c("tests_passed"), _c("tests_failed"), _c("tests_skipped"),
    _c("duration_ms"), _c("logs_url"), _c("created_at", TS),
))  # fmt: skip
BLOCKERS = Numbered("blockers", "blocker", (
    _c("id"), _FEATURE, _AGENT, _c("blocker_type"), _c("description"),
    _c("blocking_agent_id"), _c("status", mutable=True), _c("created_at", TS),
    _c("resolved_at", TS, True), _c("resolution_notes", mutable=True), _c("task_id"),
))  # fmt: skip
#: the notification queue: times are Unix seconds (floats, the same on both sides)
NOTIFICATIONS = Numbered("notifications", "notification", (
    _c("id"), _c("channel"), _c("key"), _c("kind"), _c("spec_id"), _c("subject"),
    _c("severity"), _c("payload", mutable=True), _c("state", mutable=True),
    _c("attempts", mutable=True), _c("created_at"), _c("due_at", mutable=True),
    _c("lease_owner", mutable=True), _c("lease_until", mutable=True),
    _c("sent_at", mutable=True), _c("last_error", mutable=True),
    _c("last_status", mutable=True),
))  # fmt: skip
#: token usage: history (nothing mutable), the transcript's ``at`` text as written
USAGE = Numbered("usage", "usage record", (
    _c("id"), _c("key"), _FEATURE, _AGENT, _c("session_id"), _c("model"), _c("at"),
    _c("input_tokens"), _c("output_tokens"), _c("cache_write_tokens"),
    _c("cache_read_tokens"), _c("transcript"), _c("line"), _c("created_at", TS),
    _c("cache_write_1h_tokens"),
))  # fmt: skip
#: in the order they are copied (what a row refers to comes before it)
NUMBERED = (
    FEATURES, AGENTS, EVENTS, PULL_REQUESTS, CONFLICTS, TEST_RESULTS, BLOCKERS, NOTIFICATIONS,
    USAGE,
)  # fmt: skip

SYNC_CURSORS = Keyed("sync_cursors", "sync cursor of branch", (
    _c("branch"), _FEATURE, _c("commit_hash"), _c("updated_at", TS),
), key=1)  # fmt: skip
SYNCED_COMMITS = Keyed("synced_commits", "synced change (feature, branch, patch id)", (
    _FEATURE, _c("branch"), _c("patch_id"), _c("commit_hash"),
), key=3)  # fmt: skip
DELIVERY_CURSORS = Keyed("delivery_cursors", "delivery cursor of", (
    _c("consumer"), _c("event_id"), _c("updated_at", TS),
), key=1)  # fmt: skip
NOTIFY_STATE = Keyed("notify_state", "notification pipeline's value (scope, key)", (
    _c("scope"), _c("key"), _c("value"),
), key=2)  # fmt: skip
TRANSCRIPT_CURSORS = Keyed("transcript_cursors", "transcript cursor of", (
    _c("path"), _c("device"), _c("inode"), _c("byte_offset"), _c("line"), _c("session_id"),
    _c("updated_at", TS),
), key=1)  # fmt: skip
KEYED = (SYNC_CURSORS, SYNCED_COMMITS, DELIVERY_CURSORS, NOTIFY_STATE, TRANSCRIPT_CURSORS)

#: what each synced change said about each task, in the order it was first recorded
ACTION_COLUMNS = "feature_id, branch, patch_id, task_id, action, event_id"
ACTIONS_SOURCE_SQL = f"SELECT {ACTION_COLUMNS} FROM synced_actions ORDER BY rowid"
ACTIONS_TARGET_SQL = (
    f"SELECT {ACTION_COLUMNS} FROM synced_actions WHERE project_id = %s ORDER BY seq"
)
ACTIONS_INSERT_SQL = (
    f"INSERT INTO synced_actions (project_id, {ACTION_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
ACTIONS_DELETE_SQL = (
    "DELETE FROM synced_actions WHERE project_id = %s AND feature_id = %s AND branch = %s "
    "AND patch_id = %s AND task_id = %s AND action = %s"
)

#: every table whose rows are counted on both sides after the copy
SUMMARIES = ("agent_activity", "task_state")
COUNTED = (
    *(t.table for t in NUMBERED), *(t.table for t in KEYED), "synced_actions", *SUMMARIES
)  # fmt: skip
