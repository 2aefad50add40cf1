"""Fixtures for the tests that need a PostgreSQL server (see :mod:`tests.pgserver`).

``pg_admin_dsn`` is the superuser DSN of the run's server: the one ``.ci/run`` started
(:data:`~tests.pgserver.DSN_ENV`) or, without it, one this session starts and stops. A
test that takes ``pg_dsn`` gets a database of its own, dropped after it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests import pgserver
from tests.pgserver import with_database

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    dsn = os.environ.get(pgserver.DSN_ENV)
    if dsn:
        yield dsn
        return
    try:
        cluster = pgserver.Cluster().start()
    except pgserver.Unavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield cluster.dsn
    finally:
        cluster.stop()


@pytest.fixture
def pg_dsn(pg_admin_dsn: str) -> Iterator[str]:
    """A DSN to a new, empty database (dropped after the test)."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"t_{worker}_{os.getpid()}_{next(_names)}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(pg_admin_dsn, name)
    finally:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
