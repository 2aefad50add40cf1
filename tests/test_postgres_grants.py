"""The agents' least-privilege role: ``events init --print-grants`` prints the SQL, a DBA
runs it, and an agent logged in with that role appends and reads but cannot rewrite
events or change the schema; every operation of the contract works for it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from claude_orchestrator.errors import StoreError
from claude_orchestrator.models import NewEvent
from claude_orchestrator.testing import AGENTS, SPEC
from tests.conftest import Run, clean_env
from tests.test_postgres_support import PostgresContract, pg_env, use_postgres, with_user

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins import postgres_schema as schema  # noqa: E402
from claude_orchestrator.plugins.postgres_grants import DEFAULT_ROLE  # noqa: E402
from claude_orchestrator.plugins.postgres_port import PostgresPort, PostgresStore  # noqa: E402

_roles = itertools.count(1)


class Login:
    """A group role made by the printed grants, and a login in it (cluster-wide names)."""

    def __init__(self, admin_dsn: str, dsn: str) -> None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.role = f"co_agents_{worker}_{os.getpid()}_{next(_roles)}"
        self.user = f"{self.role}_login"
        self.password = "agent-secret"
        self.admin_dsn, self.owner_dsn = admin_dsn, dsn

    @property
    def dsn(self) -> str:
        return with_user(self.owner_dsn, self.user, self.password)

    def grant(self, script: str) -> None:
        """Run the grants as the tables' owner, then give the role a login."""
        with psycopg.connect(self.owner_dsn, autocommit=True) as conn:
            conn.execute(script)
            login = f'"{self.user}" LOGIN PASSWORD \'{self.password}\' IN ROLE "{self.role}"'
            conn.execute(f"CREATE ROLE {login}")

    def drop(self) -> None:
        with psycopg.connect(self.owner_dsn, autocommit=True) as conn:
            for name in (self.user, self.role):
                conn.execute(f'DO $$ BEGIN DROP OWNED BY "{name}"; EXCEPTION WHEN '
                             "undefined_object THEN NULL; END $$")  # fmt: skip
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{self.user}"')
            conn.execute(f'DROP ROLE IF EXISTS "{self.role}"')


@pytest.fixture
def login(pg_admin_dsn: str, pg_dsn: str) -> Iterator[Login]:
    """A login in the agents' role of a store whose schema the owner created."""
    owner = PostgresStore(pg_dsn, "created-by-the-owner")
    owner.initialize()
    owner.close()
    made = Login(pg_admin_dsn, pg_dsn)
    made.grant(PostgresPort.grants_sql(made.role))
    yield made
    made.drop()


class TestAgentRole(PostgresContract):
    """The whole contract, as the agents' role (it creates its project, never a table)."""

    @pytest.fixture
    def store_dsn(self, login: Login) -> str:
        return login.dsn


@pytest.fixture
def postgres_repo(initialized: Path) -> Path:
    use_postgres(initialized)
    return initialized


def test_printed_grants_make_an_append_only_role(
    cli: Run, postgres_repo: Path, pg_admin_dsn: str, pg_dsn: str
) -> None:
    made = Login(pg_admin_dsn, pg_dsn)
    result = cli("events", "init", "--print-grants", "--role", made.role, env=pg_env(pg_dsn))
    assert result.code == 0, result
    assert result.out == PostgresPort.grants_sql(made.role)
    assert cli("events", "init", env=pg_env(pg_dsn)).code == 0  # the owner creates the tables
    try:
        made.grant(result.out)
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(result.out)  # a DBA may run it again (after an upgrade)
        agent = PostgresStore(made.dsn, "agent-project")
        agent.initialize()
        agent.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
        agent.append_event(NewEvent(SPEC, "overseer", "status_update", "appended"))
        assert [e.message for e in agent.recent_events(1)] == ["appended"]
        agent.close()
        with psycopg.connect(made.dsn, autocommit=True) as conn:
            for statement in (
                "UPDATE task_events SET message = 'rewritten'",
                "DELETE FROM task_events",
                "TRUNCATE task_events",
                "CREATE TABLE mine (a int)",
                "ALTER TABLE features ADD COLUMN b int",
                "DROP VIEW v_recent_events",
                "UPDATE schema_meta SET value = '2'",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
            assert conn.execute("SELECT COUNT(*) FROM task_events").fetchone() == (2,)
    finally:
        made.drop()


def test_the_agents_role_cannot_create_or_upgrade_the_schema(
    login: Login, pg_admin_dsn: str
) -> None:
    class NextRelease(PostgresPort):
        migrations: ClassVar[dict[int, str]] = {
            **schema.MIGRATIONS,
            schema.SCHEMA_VERSION + 1: "SELECT 1;",
        }

    later = NextRelease.for_dsn(login.dsn, "contract")
    try:
        with pytest.raises(StoreError) as refused:
            later.initialize()
    finally:
        later.close()
    message = str(refused.value)
    assert "\n" not in message and "agent-secret" not in message
    assert message.endswith(
        "the agents' role may not change the schema; run `claude-orchestrator events init` "
        "as the owner of its tables"
    )


def _fails(result: Any, text: str) -> None:
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.startswith("error: ") and text in result.err, result
    assert result.err.count("\n") == 1, result


def test_print_grants_is_for_a_server_store(cli: Run, initialized: Path) -> None:
    _fails(cli("events", "init", "--print-grants", env=clean_env()), "has no database roles")


def test_print_grants_refuses_a_bad_role_name(cli: Run, postgres_repo: Path, pg_dsn: str) -> None:
    for role in ("bad name", "x;DROP TABLE features", "a" * 64, "9lives", "r\nDROP"):
        result = cli("events", "init", "--print-grants", "--role", role, env=pg_env(pg_dsn))
        _fails(result, "invalid role name")
    _fails(cli("events", "init", "--role", "x", env=pg_env(pg_dsn)), "add --print-grants")
    with psycopg.connect(pg_dsn) as conn:  # nothing was created
        assert conn.execute("SELECT to_regclass('schema_meta')").fetchone() == (None,)


def test_print_grants_defaults_to_one_role(cli: Run, postgres_repo: Path) -> None:
    """... and needs no database: a DBA may print it anywhere the config is."""
    result = cli("events", "init", "--print-grants", "--json", env=clean_env())
    assert result.code == 0, result
    script = result.json()["sql"]
    assert f'CREATE ROLE "{DEFAULT_ROLE}" NOLOGIN' in script
    assert 'GRANT SELECT, INSERT ON "task_events"' in script
    assert "UPDATE" not in script.split('ON "task_events"')[0].rsplit("\n", 1)[-1]
