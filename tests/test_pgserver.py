"""The tests' throwaway PostgreSQL server (tests/pgserver.py) and its fixtures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import pgserver

psycopg = pytest.importorskip("psycopg")


def test_each_test_gets_an_empty_database_of_its_own(pg_dsn: str, pg_admin_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()[0]
    assert name.startswith("t_") and tables == 0
    assert name not in pg_admin_dsn


def test_the_server_listens_on_loopback_only_and_wants_a_password(pg_admin_dsn: str) -> None:
    with psycopg.connect(pg_admin_dsn) as conn:
        listen = conn.execute("SHOW listen_addresses").fetchone()[0]
    assert listen in {"127.0.0.1", "localhost"}
    without = pg_admin_dsn.replace(pg_admin_dsn.split("@")[0].split(":")[-1], "wrong", 1)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(without, connect_timeout=5).close()


@pytest.mark.slow
def test_main_runs_the_command_with_a_server_and_removes_it(tmp_path: Path) -> None:
    script = (
        "import os, psycopg, sys\n"
        f"dsn = os.environ[{pgserver.DSN_ENV!r}]\n"
        "psycopg.connect(dsn).close()\n"
        "print(dsn)\n"
        "sys.exit(7)\n"
    )
    try:
        pgserver._binary("initdb")
    except pgserver.Unavailable as exc:
        pytest.skip(str(exc))
    proc = subprocess.run(
        [sys.executable, str(Path(pgserver.__file__)), "--", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 7, proc.stderr
    root = proc.stdout.split("(", 1)[1].split(")", 1)[0]
    assert not Path(root).exists()
    assert "postgresql://" in proc.stdout


def test_main_without_a_command_is_a_usage_error() -> None:
    assert pgserver.main([]) == 2
