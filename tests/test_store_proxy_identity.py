"""The store proxy's key tells postgres stores apart by what libpq connects with."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg")

from claude_orchestrator.plugins.postgres_port import PostgresPort

URL = "postgresql://agent:{}@127.0.0.1:5/db"


def test_two_passwords_are_two_stores_with_one_location() -> None:
    one, two = (
        PostgresPort.for_dsn(URL.format("a"), "p"),
        PostgresPort.for_dsn(URL.format("b"), "p"),
    )
    assert one.location == two.location  # the password is masked where it is shown
    assert one.proxy_identity() != two.proxy_identity()
    assert one.proxy_identity() == PostgresPort.for_dsn(URL.format("a"), "p").proxy_identity()


def test_libpq_environment_is_part_of_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    port = PostgresPort.for_dsn("service=team", "p")
    before = port.proxy_identity()
    monkeypatch.setenv("PGSERVICEFILE", "/elsewhere/pg_service.conf")
    assert port.proxy_identity() != before
