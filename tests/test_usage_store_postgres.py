"""Token usage in the postgres store: the usage contract on the store, through the store
proxy and as the agents' role (which may append usage and set cursors, never change or
remove usage); version 4 adds the tables to a version-3 store; each project of a
database numbers its own records and keeps its own keys; ingests in separate processes
keep each reply once; SQLite and PostgreSQL give the same answers to the same
operations; and ``events migrate`` copies a SQLite store's usage and cursors with their
ids, copies only what is new when run again, and refuses a project whose usage is
another."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator.errors import StoreError
from claude_orchestrator.models import TranscriptCursor, Usage
from claude_orchestrator.plugins.sqlite_port import SQLitePort
from claude_orchestrator.protocols_store import EventStore
from claude_orchestrator.store_proxy import ProxyPort
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC
from claude_orchestrator.testing_port_usage import (
    OWNERS,
    UsageContract,
    register_features,
    usage,
)

from . import test_postgres_grants as grants
from . import test_store_proxy_support as support
from .test_postgres_grants import Login
from .test_postgres_support import unique_project
from .test_store_proxy_support import pg_proxied, stop, wait_for_daemon
from .test_usage_store_sqlite import INGEST, ingest_race, overlapping_keys

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins import postgres_schema as schema  # noqa: E402
from claude_orchestrator.plugins.postgres_migrate import migrate  # noqa: E402
from claude_orchestrator.plugins.postgres_port import PostgresPort  # noqa: E402

no_daemons_left = support.no_daemons_left
login = grants.login  # a login in the agents' role of a store the owner created


class TestPostgresUsage(UsageContract):
    @pytest.fixture
    def store(self, pg_dsn: str) -> Iterator[PostgresPort]:
        port = PostgresPort.for_dsn(pg_dsn, "contract")
        port.initialize()
        yield port
        port.close()


class TestPostgresUsageThroughTheProxy(UsageContract):
    @pytest.fixture
    def store(self, tmp_path: Path, pg_dsn: str) -> Iterator[ProxyPort]:
        port = pg_proxied(tmp_path, pg_dsn)
        state = wait_for_daemon(port)
        port.initialize()
        yield port
        assert port.direct_calls == 0, "a call was done directly: the daemon failed it"
        port.close()
        stop(state.pid)


class TestUsageAsTheAgentRole(UsageContract):
    @pytest.fixture
    def store(self, login: Login) -> Iterator[PostgresPort]:
        port = PostgresPort.for_dsn(login.dsn, "agent-project")
        port.initialize()
        yield port
        port.close()


def test_the_agents_role_cannot_change_or_remove_usage(login: Login) -> None:
    agent = PostgresPort.for_dsn(login.dsn, "agent-project")
    try:
        agent.initialize()
        register_features(agent)
        with agent.transaction() as tx:
            assert tx.insert_usage([usage("m1:r1"), usage("m2:r2", OWNERS[0])]) == 2
            tx.put_transcript_cursor(TranscriptCursor("/t/a.jsonl", 1, 2, 3, 4, "a"))
        with agent.transaction() as tx:  # a cursor is set again: an upsert
            tx.put_transcript_cursor(TranscriptCursor("/t/a.jsonl", 1, 2, 30, 40, "a"))
    finally:
        agent.close()
    with psycopg.connect(login.dsn, autocommit=True) as conn:
        for statement in (
            "UPDATE usage SET input_tokens = 0",
            "DELETE FROM usage",
            "TRUNCATE usage",
            "ALTER TABLE usage DROP CONSTRAINT usage_input_tokens_check",
            "DROP TRIGGER usage_id ON usage",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT COUNT(*), SUM(input_tokens) FROM usage").fetchone() == (2, 20)
        assert conn.execute("SELECT byte_offset FROM transcript_cursors").fetchall() == [(30,)]


class ThirdRelease(PostgresPort):
    """The release that wrote schema version 3 (no usage)."""

    migrations: ClassVar[dict[int, str]] = {v: schema.MIGRATIONS[v] for v in (1, 2, 3)}


def test_a_version_3_store_gets_the_usage_tables(pg_dsn: str) -> None:
    third = ThirdRelease.for_dsn(pg_dsn, "v3")
    try:
        info = third.initialize()
        assert info.schema_version == 3 and info.counts is not None
        assert "usage" not in info.counts  # that release's tables only
        Store(third).add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    finally:
        third.close()
    port = PostgresPort.for_dsn(pg_dsn, "v3")
    try:
        info = port.initialize()
        assert (info.migrated_from, info.schema_version) == (3, schema.SCHEMA_VERSION) == (3, 4)
        assert info.counts is not None and (info.counts["agents"], info.counts["usage"]) == (3, 0)
        with port.transaction() as tx:
            assert tx.insert_usage([usage("a", (SPEC, "overseer")), usage("b", OWNERS[0])]) == 2
            tx.put_transcript_cursor(TranscriptCursor("/t/a.jsonl", 1, 2, 3, 4, "a"))
        with port.transaction() as tx:
            assert [(u.id, u.key, u.role) for u in tx.usage()] == [
                (1, "a", "overseer"), (2, "b", None)
            ]  # fmt: skip
            assert tx.transcript_cursor("/t/a.jsonl") == TranscriptCursor(
                "/t/a.jsonl", 1, 2, 3, 4, "a"
            )
    finally:
        port.close()


def test_each_project_numbers_its_usage_and_keeps_its_keys(pg_dsn: str) -> None:
    mine, theirs = PostgresPort.for_dsn(pg_dsn, "mine"), PostgresPort.for_dsn(pg_dsn, "theirs")
    try:
        for port in (mine, theirs):
            port.initialize()
            register_features(port)
        with mine.transaction() as tx:
            assert tx.insert_usage([usage("same-key"), usage("a")]) == 2
            tx.put_transcript_cursor(TranscriptCursor("/t/a.jsonl", 1, 2, 3, 4, "mine"))
        with theirs.transaction() as tx:
            assert tx.insert_usage([usage("a"), usage("same-key"), usage("a")]) == 2
            assert tx.transcript_cursor("/t/a.jsonl") is None
            assert [(u.id, u.key) for u in tx.usage()] == [(1, "a"), (2, "same-key")]
        with mine.transaction() as tx:
            assert [(u.id, u.key) for u in tx.usage()] == [(1, "same-key"), (2, "a")]
            assert tx.insert_usage([usage("a"), usage("b")]) == 1
            assert [u.id for u in tx.usage()] == [1, 2, 3]  # a repeated key used none up
    finally:
        mine.close()
        theirs.close()


def test_ingests_in_processes_keep_each_reply_once(pg_dsn: str) -> None:
    port = PostgresPort.for_dsn(pg_dsn, "race")
    try:
        port.initialize()
        keys = overlapping_keys()
        command = [sys.executable, "-c", INGEST.format(
            imports="from claude_orchestrator.plugins.postgres_port import PostgresPort",
            port='PostgresPort.for_dsn(sys.argv[1], "race")'), pg_dsn]  # fmt: skip
        written = ingest_race(command, keys)
        distinct = {k for mine in keys for k in mine}
        assert sum(written) == len(distinct) and all(written)
        with port.transaction() as tx:
            stored = tx.usage()
        assert sorted(u.key for u in stored) == sorted(distinct)
        assert sorted(u.id for u in stored) == list(range(1, len(distinct) + 1))
    finally:
        port.close()


# -- the same operations on SQLite and PostgreSQL ------------------------------------------
_AT = st.sampled_from(["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z", "2026-01-02"])
_OPS = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.lists(st.tuples(st.sampled_from("abcdef"),
                                                    st.sampled_from(OWNERS), _AT), max_size=5)),
    st.tuples(st.just("query"), st.sampled_from([None, "001-usage", "002-usage", "404-none"]),
              st.none() | _AT),
    st.tuples(st.just("cursor"), st.sampled_from(["/a", "/b"]), st.integers(0, 2**64 - 1),
              st.integers(0, 2**63 - 1)),
), max_size=20)  # fmt: skip


def apply(store: EventStore, ops: list[tuple[Any, ...]]) -> list[Any]:
    """Run the operations, one transaction each; what each returned (records without
    their creation time: the stores' clocks differ)."""
    answers: list[Any] = []
    for op in ops:
        with store.transaction() as tx:
            if op[0] == "insert":
                records = [usage(key, owner, at=at) for key, owner, at in op[1]]
                answers.append(tx.insert_usage(records))
            elif op[0] == "query":
                answers.append([u._replace(created_at="") for u in tx.usage(op[1], since=op[2])])
            else:
                tx.put_transcript_cursor(TranscriptCursor(op[1], op[2], op[2], op[3], op[3], ""))
                answers.append([tx.transcript_cursor(path) for path in ("/a", "/b")])
    return answers


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
def test_the_same_operations_give_the_same_usage(pg_dsn: str, ops: list[tuple[Any, ...]]) -> None:
    """Ids included: a repeated key uses none up on either store."""
    postgres = PostgresPort.for_dsn(pg_dsn, unique_project("usage"))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLitePort(Path(tmp) / "events.db")
        try:
            for port in (sqlite, postgres):
                port.initialize()
                register_features(port)
            assert apply(postgres, ops) == apply(sqlite, ops)
        finally:
            sqlite.close()
            postgres.close()


# -- events migrate ----------------------------------------------------------------------
PATHS = ("/t/a.jsonl", "/t/b.jsonl", "/t/never.jsonl")


def everything(store: EventStore) -> tuple[list[Usage], list[TranscriptCursor | None]]:
    with store.transaction() as tx:
        return tx.usage(), [tx.transcript_cursor(path) for path in PATHS]


def test_migrate_copies_usage_and_copies_only_what_is_new_again(
    pg_dsn: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.db"
    sqlite, postgres = SQLitePort(path), PostgresPort.for_dsn(pg_dsn, "copied")
    try:
        sqlite.initialize()
        register_features(sqlite)
        with sqlite.transaction() as tx:
            tx.insert_usage(
                [
                    usage("m1:r1", cache_write_1h_tokens=25),
                    usage("m2:r2", OWNERS[0], model="ünïcode ✓"),
                    usage("m3:r3", OWNERS[3], at="not a time", cache_read_tokens=2**63 - 1),
                ]
            )
            tx.put_transcript_cursor(TranscriptCursor(PATHS[0], 2**64 - 1, 2**63, 10, 1, "a"))
            tx.put_transcript_cursor(TranscriptCursor(PATHS[1], 1, 2, 3, 4, "b"))
        first = migrate(path, pg_dsn, project="copied")
        assert (first.copied["usage"], first.copied["transcript_cursors"]) == (3, 2)
        assert (first.counts["usage"], first.counts["transcript_cursors"]) == (3, 2)
        assert everything(postgres) == everything(sqlite)  # ids and creation times too
        with postgres.transaction() as tx:
            assert [u.cache_write_1h_tokens for u in tx.usage()] == [25, 0, 0]
        assert "usage" in first.text() and "transcript_cursors" in first.text()
        # more ingest on SQLite: a reply, a cursor moved
        with sqlite.transaction() as tx:
            assert tx.insert_usage([usage("m1:r1"), usage("m4:r4")]) == 1
            tx.put_transcript_cursor(TranscriptCursor(PATHS[1], 1, 2, 30, 40, "b"))
        second = migrate(path, pg_dsn, project="copied")
        assert (second.copied["usage"], second.present["usage"]) == (1, 3)
        assert (second.copied["transcript_cursors"], second.updated["transcript_cursors"]) == (0, 1)
        assert everything(postgres) == everything(sqlite)
        assert migrate(path, pg_dsn, project="copied").nothing_new
        with postgres.transaction() as tx:  # the next id is above every copied one
            assert tx.insert_usage([usage("pg"), usage("m4:r4")]) == 1
            assert max(u.id for u in tx.usage()) == 5
    finally:
        sqlite.close()
        postgres.close()


def test_migrate_refuses_a_project_whose_usage_is_another(pg_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    sqlite, postgres = SQLitePort(path), PostgresPort.for_dsn(pg_dsn, "other")
    try:
        sqlite.initialize()
        with sqlite.transaction() as tx:
            tx.insert_usage([usage("mine", OWNERS[0])])
        postgres.initialize()
        with postgres.transaction() as tx:
            tx.insert_usage([usage("theirs", OWNERS[0])])
        with pytest.raises(StoreError, match="usage record 1 differs: its key is 'theirs' there"):
            migrate(path, pg_dsn, project="other")
        assert [u.key for u in everything(postgres)[0]] == ["theirs"]  # nothing written
    finally:
        sqlite.close()
        postgres.close()
