"""The change feed's contract (:mod:`claude_orchestrator.testing_feed`) on the postgres
store: its own subscription (``LISTEN``/``NOTIFY``), a writer on another connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

psycopg = pytest.importorskip("psycopg")
testing_feed = pytest.importorskip("claude_orchestrator.testing_feed")

from claude_orchestrator.plugins.postgres_port import PostgresPort  # noqa: E402


class TestPostgresFeed(testing_feed.FeedContract):  # type: ignore[misc, name-defined]
    @pytest.fixture
    def store(self, pg_dsn: str) -> Iterator[PostgresPort]:
        port = PostgresPort.for_dsn(pg_dsn, "feed-contract")
        port.initialize()
        yield port
        port.close()

    @pytest.fixture
    def other_store(self, pg_dsn: str, store: PostgresPort) -> Iterator[PostgresPort]:
        port = PostgresPort.for_dsn(pg_dsn, "feed-contract")
        yield port
        port.close()
