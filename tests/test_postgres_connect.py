"""How the postgres store connects: the connection string from the environment (never
the config), libpq's own password and service files, TLS settings passed through, the
password masked wherever the string is shown, psycopg imported only for this store, and
a server that is away or slow: one line, within the timeouts, never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.errors import StoreError, StoreUnavailableError
from claude_orchestrator.models import NewEvent
from claude_orchestrator.plugins.postgres_dsn import MISSING_PSYCOPG, mask
from claude_orchestrator.testing import AGENTS, SPEC
from tests.conftest import Run, clean_env
from tests.test_postgres_support import pg_env, use_postgres, with_user

psycopg = pytest.importorskip("psycopg")

from claude_orchestrator.plugins.postgres_port import PostgresPort, PostgresStore  # noqa: E402


@pytest.fixture
def postgres_repo(initialized: Path) -> Path:
    use_postgres(initialized)
    return initialized


def _password(dsn: str) -> str:
    return urlsplit(dsn).password or ""


def one_line_error(result: object, *parts: str) -> None:
    code, out, err = result.code, result.out, result.err  # type: ignore[attr-defined]
    assert code == 2, result
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1, result
    for part in parts:
        assert part in err, result


# -- where the connection string comes from ---------------------------------------------
def test_the_connection_string_comes_from_the_environment(
    cli: Run, postgres_repo: Path, pg_dsn: str
) -> None:
    env = pg_env(pg_dsn)
    assert cli("events", "init", env=env).code == 0
    assert cli("events", "add-feature", "003-reading-goals", "Goals", env=env).code == 0
    path = cli("events", "path", "--json", env=env).json()
    assert path == {"path": pg_dsn.replace(_password(pg_dsn), "****"), "exists": True}
    assert _password(pg_dsn) not in cli("events", "info", env=env).out
    status = cli("events", "status", "--json", env=env).json()
    assert {row["role"] for row in status} == {"overseer", "implementor-data",
                                               "implementor-api", "implementor-ui"}  # fmt: skip


def test_dsn_env_names_another_variable(cli: Run, postgres_repo: Path, pg_dsn: str) -> None:
    use_postgres(postgres_repo, options="{dsn_env: TEAM_DB, lock_timeout: 5}")
    assert cli("config", "check", env=clean_env()).code == 0
    assert cli("events", "init", env=clean_env(TEAM_DB=pg_dsn)).code == 0
    one_line_error(cli("events", "status", env=pg_env(pg_dsn)), "set TEAM_DB to its connection")


def test_no_connection_string_is_one_line_naming_the_variable(
    cli: Run, postgres_repo: Path
) -> None:
    store = postgres_repo / ".git" / "orchestrator" / "events.db"
    before = store.read_bytes()
    for args in (
        ["events", "init"],
        ["events", "status"],
        ["events", "path"],
        ["events", "log-event", "003-reading-goals", "overseer", "status_update", "x"],
    ):
        result = cli(*args, env=clean_env())
        one_line_error(result, "set CLAUDE_ORCHESTRATOR_DB_URL to its connection string")
    assert store.read_bytes() == before  # nothing written anywhere


@pytest.mark.parametrize(
    "options",
    [
        "{password: hunter2}",
        "{dsn: 'postgresql://agent:hunter2@db/orchestrator'}",
        "{url: 'host=db password=hunter2'}",
        "{dsn_env: 'postgresql://agent:hunter2@db/x'}",
        "{connection_string: x}",
        "{sslpassword: hunter2}",
    ],
)
def test_a_password_or_dsn_in_the_config_is_refused(
    cli: Run, postgres_repo: Path, pg_dsn: str, options: str
) -> None:
    use_postgres(postgres_repo, options=options)
    for args in (["config", "check"], ["events", "init"]):
        result = cli(*args, env=pg_env(pg_dsn))
        one_line_error(result, "plugins.options.postgres.", "never go in the committed config",
                       "CLAUDE_ORCHESTRATOR_DB_URL", "~/.pgpass")  # fmt: skip
        assert "hunter2" not in result.err


def test_options_are_checked(cli: Run, initialized: Path) -> None:
    original = (initialized / "orchestrator.yaml").read_text()
    for options, words in (("{connect_timeout: 1}", "from 2 (libpq's minimum)"),
                           ("{lock_timeout: fast}", "expected a number"),
                           ("{dsn_env: '1BAD'}", "the name of the environment variable"),
                           ("{busy_timeout: 3}", "unknown key 'busy_timeout'")):  # fmt: skip
        (initialized / "orchestrator.yaml").write_text(original)
        use_postgres(initialized, options=options)
        one_line_error(cli("config", "check", env=clean_env()), words)


# -- libpq's own files ---------------------------------------------------------------------
def _passfile(tmp_path: Path, dsn: str, password: str | None = None) -> Path:
    parts = urlsplit(dsn)
    passfile = tmp_path / "pgpass"
    secret = password if password is not None else _password(dsn)
    passfile.write_text(f"{parts.hostname}:{parts.port}:*:{parts.username}:{secret}\n")
    passfile.chmod(0o600)
    return passfile


def test_the_password_can_come_from_pgpassfile(pg_dsn: str, tmp_path: Path) -> None:
    bare = with_user(pg_dsn, urlsplit(pg_dsn).username or "postgres")
    env = {"PGPASSFILE": str(_passfile(tmp_path, pg_dsn))}
    store = PostgresStore(bare, "passfile")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        assert store.initialize().created
        store.close()
        _passfile(tmp_path, pg_dsn, "wrong")
        refused = PostgresPort.for_dsn(bare, "passfile")
        with pytest.raises(StoreError) as error:
            refused.exists()
        refused.close()
    assert not isinstance(error.value, StoreUnavailableError)  # the server answered: no
    assert "password authentication failed" in str(error.value)
    assert "~/.pgpass (PGPASSFILE)" in str(error.value)


def service_files(tmp_path: Path, dsn: str) -> dict[str, str]:
    """libpq's variables for a service ``team`` on ``dsn``'s server, its password in a
    password file."""
    parts = urlsplit(dsn)
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[team]\nhost={parts.hostname}\nport={parts.port}\n"
                        f"dbname={parts.path.lstrip('/')}\nuser={parts.username}\n")  # fmt: skip
    return {"PGSERVICEFILE": str(services), "PGPASSFILE": str(_passfile(tmp_path, dsn))}


def test_a_service_file_and_an_empty_connection_string_work(
    cli: Run, postgres_repo: Path, pg_dsn: str, tmp_path: Path
) -> None:
    files = service_files(tmp_path, pg_dsn)
    env = clean_env(CLAUDE_ORCHESTRATOR_DB_URL="service=team", **files)
    assert cli("events", "init", env=env).code == 0
    assert cli("events", "path", env=env).out.strip() == "service=team"
    assert cli("events", "add-feature", "003-reading-goals", "Goals", env=env).code == 0
    empty = clean_env(CLAUDE_ORCHESTRATOR_DB_URL="", PGSERVICE="team", **files)
    assert "PGSERVICE" in cli("events", "path", env=empty).out
    recent = cli("events", "recent", "--json", env=empty).json()
    assert [e["event_type"] for e in recent] == ["feature_created"]


def test_tls_and_other_settings_pass_through(pg_dsn: str) -> None:
    """What the connection string says reaches libpq as it is: ``sslmode=require``
    fails against this server (it has no TLS), ``application_name`` is the string's."""
    required = PostgresPort.for_dsn(pg_dsn + "?sslmode=require", "tls")
    with pytest.raises(StoreError, match=r"SSL was required.*TLS settings") as refused:
        required.exists()
    required.close()
    assert not isinstance(refused.value, StoreUnavailableError)  # wrong, not away
    named = PostgresStore(pg_dsn + "?sslmode=disable&application_name=team-agent", "tls")
    plain = PostgresStore(pg_dsn, "tls")
    try:
        named.initialize()
        plain.exists()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            names = conn.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchall()
        assert {"team-agent", "claude-orchestrator"} <= {n for (n,) in names}
    finally:
        named.close()
        plain.close()


# -- masking --------------------------------------------------------------------------------
_SECRET = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=6,
                  max_size=30).filter(lambda s: s.strip() == s and "****" not in s)  # fmt: skip


@given(secret=_SECRET, user=st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True))
def test_the_password_never_shows(secret: str, user: str) -> None:
    url = f"postgresql://{user}:{quote(secret, safe='')}@db.example:5432/orch?sslmode=verify-full"
    assert mask(url) == f"postgresql://{user}:****@db.example:5432/orch?sslmode=verify-full"
    quoted = secret.replace("\\", "\\\\").replace("'", "\\'")
    pairs = f"host=db.example user={user} password='{quoted}' sslpassword='{quoted}' dbname=o"
    assert mask(pairs) == f"host=db.example user={user} password=**** sslpassword=**** dbname=o"
    query = f"postgresql://{user}@db/orch?password={quote(secret, safe='')}&sslmode=require"
    assert mask(query) == f"postgresql://{user}@db/orch?password=****&sslmode=require"


def test_masking_keeps_what_has_no_password() -> None:
    for dsn in ("postgresql://agent@db/orch", "service=team", "host=/run/postgresql dbname=x"):
        assert mask(dsn) == dsn
    assert "PGHOST" in mask("")
    assert "secret" not in mask("host=db password=secret unterminated='oops")


# -- psycopg only when chosen ------------------------------------------------------------------
_IMPORTS = (
    "import sys; {block}from claude_orchestrator.__main__ import main; rc = main({args!r}); "
    "print(json.dumps([rc, sys.modules.get('psycopg') is not None]), file=sys.stderr)"
)


def _python(code: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return proc.returncode, proc.stderr


def test_psycopg_is_imported_only_for_the_postgres_store(
    initialized: Path, pg_dsn: str, tmp_path: Path
) -> None:
    args = ["events", "log-event", "003-reading-goals", "overseer", "status_update", "x"]
    code = _IMPORTS.format(block="", args=args)
    _, err = _python(code, initialized, pg_env(pg_dsn))
    assert json.loads(err.splitlines()[-1]) == [0, False]  # sqlite: never imported
    use_postgres(initialized)
    _, err = _python(_IMPORTS.format(block="", args=["events", "init"]), initialized,
                     pg_env(pg_dsn))  # fmt: skip
    assert json.loads(err.splitlines()[-1]) == [0, True]


def test_a_missing_psycopg_says_how_to_install_it(postgres_repo: Path, pg_dsn: str) -> None:
    block = "sys.modules['psycopg'] = None; "  # what an install without the extra imports
    _, err = _python(_IMPORTS.format(block=block, args=["events", "init"]), postgres_repo,
                     pg_env(pg_dsn))  # fmt: skip
    assert err.splitlines() == [f"error: {MISSING_PSYCOPG}", "[2, false]"]


# -- a server that is away, slow or busy ---------------------------------------------------------
@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


def test_an_unreachable_server_is_one_line_with_the_password_masked(
    cli: Run, postgres_repo: Path, closed_port: int
) -> None:
    dsn = f"postgresql://agent:s3cret@127.0.0.1:{closed_port}/orch"
    store = PostgresPort.for_dsn(dsn, "away")
    with pytest.raises(StoreUnavailableError) as away:
        store.exists()
    store.close()
    assert str(away.value).startswith(
        f"cannot reach the PostgreSQL event store postgresql://agent:****@127.0.0.1:{closed_port}"
        "/orch ("
    )
    result = cli("events", "status", env=pg_env(dsn))
    one_line_error(result, "cannot reach the PostgreSQL event store", "start the server")
    assert "s3cret" not in result.err
    assert cli("events", "path", "--json", env=pg_env(dsn)).json()["exists"] is None


def test_a_silent_server_times_out_instead_of_hanging(
    cli_process: Run, postgres_repo: Path, silent_server: int
) -> None:
    dsn = f"postgresql://agent@127.0.0.1:{silent_server}/orch"
    started = time.monotonic()
    result = cli_process("events", "status", env=pg_env(dsn))  # the subprocess times out at 120 s
    waited = time.monotonic() - started
    one_line_error(result, "cannot reach", "waited at most 2 s")
    assert waited >= 2  # libpq's connect timeout ran out: it did not give up early


@pytest.fixture
def store(pg_dsn: str) -> Iterator[PostgresStore]:
    opened = PostgresStore(pg_dsn, "busy", lock_timeout=1, statement_timeout=60)
    opened.initialize()
    opened.add_feature(SPEC, "x", AGENTS[0][1], AGENTS)
    yield opened
    opened.close()


def _hold_project_lock(dsn: str, release: threading.Event, held: threading.Event) -> None:
    with psycopg.connect(dsn) as conn:
        project = conn.execute("SELECT id FROM projects WHERE name = 'busy'").fetchone()
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x436F5254, project[0]))
        held.set()
        release.wait(30)


@pytest.mark.parametrize(("timeouts", "words"), [
    ({"lock_timeout": 1, "statement_timeout": 60}, "stayed locked for 1 s"),
    ({"lock_timeout": 0, "statement_timeout": 1}, "did not answer within 1 s"),
])  # fmt: skip
def test_a_write_waits_for_another_only_so_long(
    pg_dsn: str, store: PostgresStore, timeouts: dict[str, float], words: str
) -> None:
    """A lock held by another connection: the write gives up after the lock (or the
    statement) timeout as a store that is away for now, as SQLite's busy store does, so
    the hook path spools it."""
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_project_lock, args=(pg_dsn, release, held))
    holder.start()
    waiting = PostgresStore(pg_dsn, "busy", **timeouts)
    try:
        assert held.wait(30)
        with pytest.raises(StoreUnavailableError, match=words) as busy:
            waiting.append_event(NewEvent(SPEC, "overseer", "status_update", "waits"))
        assert "\n" not in str(busy.value)
        assert waiting.recent_events(5) == store.recent_events(5)  # reads do not wait
    finally:
        release.set()
        holder.join()
        waiting.close()
    assert [e.event_type for e in store.recent_events(5)] == ["feature_created"]


def test_a_lost_connection_is_unavailable_then_made_again(
    pg_dsn: str, store: PostgresStore
) -> None:
    store.recent_events(1)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(StoreUnavailableError, match="lost the connection"):
        store.append_event(NewEvent(SPEC, "overseer", "status_update", "lost"))
    store.append_event(NewEvent(SPEC, "overseer", "status_update", "again"))
    assert [e.message for e in store.events_since()][1:] == ["again"]


# -- what the library hands the factory ------------------------------------------------------
def test_the_orchestrators_environment_is_where_the_string_is_read(
    postgres_repo: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Orchestrator(env=...)``: the connection string comes from that mapping (the
    PluginContext carries it), not from the process's environment."""
    from claude_orchestrator.api import Orchestrator

    monkeypatch.delenv("CLAUDE_ORCHESTRATOR_DB_URL", raising=False)
    with Orchestrator(postgres_repo, env={"CLAUDE_ORCHESTRATOR_DB_URL": pg_dsn}) as library:
        assert library.init_store().created
        assert library.store.location == pg_dsn.replace(_password(pg_dsn), "****")
    with Orchestrator(postgres_repo, env={}) as library, pytest.raises(StoreError, match="set CL"):
        library.store_info()


def test_the_guards_short_busy_timeout_is_the_lock_timeout(postgres_repo: Path) -> None:
    """The guard's log builds the store with ``busy_timeout`` (seconds it may wait for
    another's write): for this store that is how long it waits for the project's lock."""
    from claude_orchestrator.config import load_config
    from claude_orchestrator.protocols import PluginContext

    config = load_config(postgres_repo / "orchestrator.yaml")
    context = PluginContext(
        config, postgres_repo, postgres_repo / ".git", postgres_repo / "x",
        {"busy_timeout": 0.5}, env={"CLAUDE_ORCHESTRATOR_DB_URL": "x"},
    )  # fmt: skip
    port = PostgresPort.from_context(context)
    assert (port.settings.lock_timeout, port.settings.dsn) == (0.5, "x")
    # ... and the longest a statement may run: a slow server does not hold a hook 60 s
    assert port.settings.statement_timeout == 0.5
    guard = PostgresPort.from_context(context._replace(options={"busy_timeout": 0.005}))
    assert (guard.settings.lock_timeout, guard.settings.statement_timeout) == (0.005, 0.25)
    never = PostgresPort.from_context(context._replace(options={"busy_timeout": 0}))
    assert never.settings.lock_timeout > 0  # PostgreSQL's 0 would wait for ever
    unbounded = context._replace(options={"busy_timeout": 2.0, "statement_timeout": 0})
    assert PostgresPort.from_context(unbounded).settings.statement_timeout == 2
    shorter = context._replace(options={"busy_timeout": 2.0, "statement_timeout": 1})
    assert PostgresPort.from_context(shorter).settings.statement_timeout == 1
    plain = PostgresPort.from_context(context._replace(options={})).settings
    assert (plain.lock_timeout, plain.statement_timeout) == (30, 60)


# -- the hook path: a store that is busy or slow is spooled, not an error ----------------------
@pytest.fixture
def hook_store(cli: Run, postgres_repo: Path, pg_dsn: str) -> dict[str, str]:
    """The repository's feature on the server; the hook path's environment (no store proxy:
    its daemon would outlive the test)."""
    env = pg_env(pg_dsn, CLAUDE_ORCHESTRATOR_NO_STORE_PROXY="1")
    assert cli("events", "init", env=env).code == 0
    assert cli("events", "add-feature", "003-reading-goals", "Goals", env=env).code == 0
    return env


def _log(cli: Run, env: dict[str, str], message: str) -> Any:
    return cli("events", "log-event", "003-reading-goals", "overseer", "status_update", message,
               "--json", env=env)  # fmt: skip


def _messages(cli: Run, env: dict[str, str]) -> list[str]:
    result = cli("events", "recent", "50", "--json", env=env)
    assert result.code == 0, result
    return [e["message"] for e in reversed(result.json()) if e["event_type"] == "status_update"]


def _spooled(result: Any) -> None:
    assert result.code == 0, result
    assert result.json()["spooled"] is True, result
    assert result.err.startswith("warning: the event is spooled as record"), result


def test_a_lock_another_connection_holds_spools_a_hook_write(
    cli: Run, hook_store: dict[str, str], pg_dsn: str
) -> None:
    """log-event while another connection holds the project's write lock longer than the
    hook path waits: the event is spooled (exit 0), and the next write stores it first."""
    release, held = threading.Event(), threading.Event()
    with psycopg.connect(pg_dsn) as conn:
        project = conn.execute("SELECT id, name FROM projects").fetchone()
    holder = threading.Thread(target=_hold_lock_of, args=(pg_dsn, project[0], release, held))
    holder.start()
    try:
        assert held.wait(30)
        _spooled(_log(cli, hook_store, "while locked"))
    finally:
        release.set()
        holder.join()
    stored = _log(cli, hook_store, "after")
    assert stored.code == 0 and "spooled" not in stored.json(), stored
    assert _messages(cli, hook_store) == ["while locked", "after"]


def _hold_lock_of(dsn: str, project: int, release: threading.Event, held: threading.Event) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (0x436F5254, project))
        held.set()
        release.wait(30)


SLOW_INSERT = """
CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.message LIKE 'slow%' THEN PERFORM pg_sleep(5); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER slow_insert BEFORE INSERT ON task_events
    FOR EACH ROW EXECUTE FUNCTION slow_insert();
"""


def test_a_slow_server_spools_a_hook_write_within_the_hook_paths_wait(
    cli: Run, hook_store: dict[str, str], pg_dsn: str
) -> None:
    """A server that takes 5 s over an insert (a trigger of the test's that sleeps): the
    hook path's statements may run only as long as it waits for a lock (2 s), so the
    event is spooled instead of the hook waiting out the 60 s statement timeout."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SLOW_INSERT)
    _spooled(_log(cli, hook_store, "slow server"))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP TRIGGER slow_insert ON task_events")
    assert _log(cli, hook_store, "fast again").code == 0
    assert _messages(cli, hook_store) == ["slow server", "fast again"]
