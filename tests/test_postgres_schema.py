"""The postgres store's schema: append-only events enforced by the database, the views,
the timestamps, per-project ids, and migrations under an advisory lock (a newer schema
refused and left as it was, two initializing agents that do not collide)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from claude_orchestrator import __version__
from claude_orchestrator.errors import NotInitializedError, StoreError
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins import postgres_schema as schema  # noqa: E402
from claude_orchestrator.plugins.postgres_port import PostgresPort, PostgresStore  # noqa: E402

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def store(pg_dsn: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(pg_dsn, "schema")
    opened.initialize()
    opened.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    yield opened
    opened.close()


def raw(dsn: str) -> Any:
    return psycopg.connect(dsn, autocommit=True)


def test_task_events_are_append_only_in_the_database(pg_dsn: str, store: PostgresStore) -> None:
    """Even the tables' owner, in plain SQL, cannot rewrite history."""
    with raw(pg_dsn) as conn:
        for statement in ("UPDATE task_events SET message = 'rewritten'",
                          "DELETE FROM task_events", "TRUNCATE task_events CASCADE"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT COUNT(*), MIN(message) FROM task_events").fetchone() == (
            1, store.events_since()[0].message,
        )  # fmt: skip


def test_views_exist_and_answer(pg_dsn: str, store: PostgresStore) -> None:
    store.record_test(SPEC, "overseer", "e2e", "passed", passed=1)
    with raw(pg_dsn) as conn:
        status = conn.execute("SELECT project, spec_id, role FROM v_feature_status").fetchall()
        assert sorted(status) == sorted(("schema", SPEC, role) for role, _ in AGENTS)
        recent = conn.execute("SELECT event_type, created_at FROM v_recent_events").fetchall()
        assert [r[0] for r in recent] == ["test_result", "feature_created"]
        assert all(STAMP.fullmatch(r[1]) for r in recent)
        summary = conn.execute("SELECT test_type, status FROM v_test_summary").fetchall()
        assert summary == [("e2e", "passed")]


def test_timestamps_are_the_ports_strings_and_round_trip(store: PostgresStore) -> None:
    feature, _ = store.set_feature_status(SPEC, "completed")
    assert feature.completed_at is not None and STAMP.fullmatch(feature.completed_at)
    assert store.get_feature(SPEC) == feature  # what the domain wrote reads back the same
    for event in store.events_since():
        assert STAMP.fullmatch(event.created_at)


def test_every_project_numbers_its_records_from_one(pg_dsn: str, store: PostgresStore) -> None:
    other = PostgresStore(pg_dsn, "schema-other")
    try:
        other.initialize()
        feature, event = other.add_feature("009-b", "b", "feature/009-b/overseer",
                                           [("overseer", "feature/009-b/overseer")])  # fmt: skip
        assert (feature.id, event.id) == (1, 1)
        assert store.append_event(NewEvent(SPEC, "overseer", "status_update", "x")).id == 2
        assert other.append_event(NewEvent("009-b", "overseer", "status_update", "y")).id == 2
    finally:
        other.close()


# -- versions -----------------------------------------------------------------------------
def _snapshot(dsn: str) -> Any:
    with raw(dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "ORDER BY table_name"
        ).fetchall()
        meta = conn.execute("SELECT key, value FROM schema_meta ORDER BY key").fetchall()
        counts = conn.execute("SELECT COUNT(*) FROM task_events").fetchone()
    return tables, meta, counts


def test_a_newer_schema_is_refused_like_sqlite_and_left_unchanged(
    pg_dsn: str, store: PostgresStore, tmp_path: Path
) -> None:
    with raw(pg_dsn) as conn:
        conn.execute("UPDATE schema_meta SET value = '99' WHERE key = 'version'")
        conn.execute("UPDATE schema_meta SET value = '9.9.9' WHERE key = 'written_by'")
    before = _snapshot(pg_dsn)
    newer = PostgresPort.for_dsn(pg_dsn, "schema")
    try:
        for use in (newer.initialize, newer.events_since, newer.info):
            with pytest.raises(StoreError) as refused:
                use()
            message = str(refused.value)
            assert message == (
                f"the event store {newer.location} has schema version 99, written by "
                f"claude-orchestrator 9.9.9; this claude-orchestrator ({__version__}) reads "
                f"versions up to {schema.SCHEMA_VERSION}: upgrade it "
                "(pip install -U claude-orchestrator-toolkit)"
            )
    finally:
        newer.close()
    assert _snapshot(pg_dsn) == before
    # SQLite's refusal of a newer store, word for word but the place and the numbers
    sqlite = SQLiteStore(tmp_path / "events.db")
    sqlite.initialize()
    sqlite.close()
    db = sqlite3.connect(tmp_path / "events.db")
    db.execute("PRAGMA user_version = 99")
    db.execute("UPDATE schema_meta SET value = '9.9.9' WHERE key = 'written_by'")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as theirs:
        SQLiteStore(tmp_path / "events.db").initialize()

    def shape(text: str) -> str:
        return re.sub(r"the event store \S+ |up to \d+", "", text)

    assert shape(str(theirs.value)) == shape(message)


NEXT = schema.SCHEMA_VERSION + 1


class NextRelease(PostgresPort):
    """A later release whose schema has one more version."""

    migrations: ClassVar[dict[int, str]] = {
        **schema.MIGRATIONS,
        NEXT: "ALTER TABLE features ADD COLUMN owner text;",
    }


def test_an_older_schema_is_migrated_forward_once(pg_dsn: str, store: PostgresStore) -> None:
    later = NextRelease.for_dsn(pg_dsn, "schema")
    try:
        info = later.initialize()
        assert (info.created, info.migrated_from, info.schema_version) == (
            False, schema.SCHEMA_VERSION, NEXT,
        )  # fmt: skip
        assert later.initialize().migrated_from is None
        assert [f.spec_id for f in later.list_features()] == [SPEC]
    finally:
        later.close()
    older = PostgresStore(pg_dsn, "schema")
    with pytest.raises(StoreError, match=f"has schema version {NEXT}, written by claude-orch"):
        older.list_features()
    older.close()


class FirstRelease(PostgresPort):
    """The release that wrote schema version 1."""

    migrations: ClassVar[dict[int, str]] = {1: schema.MIGRATIONS[1]}


def _insert_event(conn: Any, event_id: int | None) -> int:
    row = conn.execute(
        "INSERT INTO task_events (project_id, id, feature_id, agent_id, event_type, message) "
        "SELECT project_id, %s, feature_id, id, 'status_update', 'given' FROM agents "
        "WHERE role = 'overseer' RETURNING id",
        (event_id,),
    ).fetchone()
    return int(row[0])


def test_an_id_above_the_projects_largest_is_kept(pg_dsn: str) -> None:
    """Version 2: an insert that gives an id above every id of the project's table keeps
    it (events migrate copies SQLite's ids, gaps too); a smaller one, or none, gets the
    next number, as in version 1, which kept no given id. A version-1 store migrates."""
    first = FirstRelease.for_dsn(pg_dsn, "ids")
    try:
        assert first.initialize().schema_version == 1
        Store(first).add_feature(SPEC, "x", AGENTS[0][1], AGENTS[:1])
        with raw(pg_dsn) as conn:
            assert _insert_event(conn, 10) == 2  # version 1 numbers it
    finally:
        first.close()
    store = PostgresStore(pg_dsn, "ids")
    try:
        assert store.initialize().migrated_from == 1
        with raw(pg_dsn) as conn:
            assert [_insert_event(conn, i) for i in (10, 4, None, 12)] == [10, 11, 12, 13]
        assert store.append_event(NewEvent(SPEC, "overseer", "status_update", "y")).id == 14
    finally:
        store.close()


def test_the_store_needs_initializing_per_project(pg_dsn: str, store: PostgresStore) -> None:
    """A database another repository initialized is not this one's store yet."""
    mine = PostgresPort.for_dsn(pg_dsn, "not-yet")
    try:
        assert not mine.exists()
        with pytest.raises(NotInitializedError, match=r"project not-yet\).*events init"):
            mine.list_features()
        assert mine.initialize().created and mine.exists()
        assert mine.list_features() == []
    finally:
        mine.close()


RACER = """
import json, sys, time
from claude_orchestrator.plugins.postgres_port import PostgresPort
dsn, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(start - time.time(), 0))
port = PostgresPort.for_dsn(dsn, "race")
info = port.initialize()
port.close()
print(json.dumps({"created": info.created, "version": info.schema_version}))
"""


def test_agents_initializing_at_once_do_not_collide(pg_dsn: str) -> None:
    """Processes racing to create a fresh store: one creates it, the others find it."""
    start = time.time() + 1.5
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, pg_dsn, str(start)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]  # fmt: skip
    results = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 6, results
    told = [json.loads(out) for out, _ in results]
    assert sorted(t["created"] for t in told) == [False] * 5 + [True]
    assert {t["version"] for t in told} == {schema.SCHEMA_VERSION}
    with raw(pg_dsn) as conn:
        assert conn.execute("SELECT name FROM projects").fetchall() == [("race",)]


def test_text_is_ordered_bytewise_whatever_the_collation(pg_admin_dsn: str) -> None:
    """Listings are ordered as SQLite and Python order them, in a database whose
    collation orders otherwise (ICU's en-US, punctuation ignored at first: 001-bb, 001-b-c)."""
    from tests.pg_fixtures import with_database

    name = f"icu_{int(time.time() * 1000)}"
    with raw(pg_admin_dsn) as conn:
        try:
            icu = "LOCALE_PROVIDER icu ICU_LOCALE 'en-US-u-ka-shifted' LOCALE 'C'"
            conn.execute(f"CREATE DATABASE {name} {icu} TEMPLATE template0")
        except psycopg.Error as exc:
            pytest.skip(f"this server has no ICU collations: {exc}")
    try:
        store = PostgresStore(with_database(pg_admin_dsn, name), "icu")
        store.initialize()
        specs = ["001-b-c", "001-bb", "001-b", "001-b.a", "0010"]
        for spec in specs:
            branch = f"feature/{spec}/overseer"
            store.add_feature(spec, spec, branch, [("overseer", branch), ("implementor-b-a", "x"),
                                                   ("implementor-ba", "y")])  # fmt: skip
        assert [f.spec_id for f in store.list_features()] == sorted(specs)
        roles = [a.role for a in store.list_agents(specs[0])]
        assert roles == ["overseer", "implementor-b-a", "implementor-ba"]
        store.close()
    finally:
        with raw(pg_admin_dsn) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
