"""The store proxy over the postgres store (a real server: the ``pg_dsn`` fixture): the
whole store contract through it, a client that never imports psycopg, the daemon killed
mid-transaction (the server rolls its transaction back)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator.errors import StoreUnavailableError
from claude_orchestrator.models import Feature, NewEvent
from claude_orchestrator.store_proxy import ProxyPort
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import SPEC, StoreContract

from . import test_store_proxy_support as support
from .conftest import clean_env, make_repo
from .test_store_proxy_support import (
    SRC,
    initialized,
    kill,
    log,
    pg_proxied,
    stop,
    wait_for_daemon,
)

pytest.importorskip("psycopg")

no_daemons_left = support.no_daemons_left


@pytest.fixture
def pg_port(tmp_path: Path, pg_dsn: str) -> Iterator[ProxyPort]:
    port = pg_proxied(tmp_path, pg_dsn)
    state = wait_for_daemon(port)
    yield port
    port.close()
    stop(state.pid)


class TestPostgresThroughTheProxy(StoreContract):
    @pytest.fixture
    def fresh_store(self, pg_port: ProxyPort) -> Iterator[ProxyPort]:
        yield pg_port
        assert pg_port.direct_calls == 0, "a call was done directly: the daemon failed it"

    @pytest.fixture
    def store(self, fresh_store: ProxyPort) -> ProxyPort:
        fresh_store.initialize()
        return fresh_store


def test_the_client_never_imports_psycopg(tmp_path: Path, pg_port: ProxyPort, pg_dsn: str) -> None:
    initialized(pg_port)
    code = (
        f"import sys; sys.path.insert(0, {str(SRC)!r})\n"
        "from pathlib import Path\n"
        "from claude_orchestrator.models import NewEvent\n"
        "from claude_orchestrator.store_service import Store\n"
        "from tests.test_store_proxy_support import pg_proxied\n"
        "port = pg_proxied(Path(sys.argv[1]), sys.argv[2])\n"
        "event = Store(port).append_event(NewEvent('001-contract', 'overseer', 'status_update',"
        " 'from a hook'))\n"
        "print(event.id, port.direct_calls, 'psycopg' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), pg_dsn], check=True,
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    assert out[1:] == ["0", "False"]
    assert Store(pg_port).recent_events(1)[0].id == int(out[0])
    password = pg_dsn.split("@")[0].rsplit(":", 1)[1]
    assert password not in log(pg_port)
    assert pg_port.location in log(pg_port)  # what it serves, its password masked


def test_killed_mid_transaction_the_server_rolls_back(pg_port: ProxyPort) -> None:
    store = initialized(pg_port)
    pid = wait_for_daemon(pg_port).pid
    with pytest.raises(StoreUnavailableError), pg_port.transaction() as tx:
        tx.insert_feature(Feature(0, "002-half", "Half", "o", "in-progress", ""))
        kill(pid)
        tx.append(NewEvent(SPEC, "overseer", "status_update", "never"))
    assert store.get_feature("002-half") is None
    pid = wait_for_daemon(pg_port).pid
    with pg_port.transaction() as tx:
        assert tx.feature(SPEC) is not None
        kill(pid)
        stored = tx.append(NewEvent(SPEC, "overseer", "status_update", "directly"))
    assert store.recent_events(1) == [stored]
    assert [e.message for e in store.recent_events(5)].count("directly") == 1
    stop(wait_for_daemon(pg_port).pid)


#: what `events log-event` on a proxied store must not import: the driver, the other
#: store's, and what the hook path was trimmed of (each costs every commit milliseconds)
NOT_ON_THE_HOOK_PATH = ("psycopg", "sqlite3", "tempfile", "shutil", "hashlib", "datetime",
                        "subprocess", "csv", "ruamel", "typer", "click", "git")  # fmt: skip

RECORD_MODULES = """\
import atexit, sys
listing = sys.argv[1]
atexit.register(lambda: open(listing, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["claude-orchestrator", *sys.argv[2:]]
from claude_orchestrator.__main__ import main
main()
"""


def test_log_event_through_the_proxy_imports_what_it_needs_only(
    tmp_path: Path, pg_dsn: str
) -> None:
    """The whole command, as a git hook runs it, once the daemon is warm."""
    repo = make_repo(tmp_path / "repo")
    env = clean_env(CLAUDE_ORCHESTRATOR_DB_URL=pg_dsn)
    cli = [sys.executable, "-m", "claude_orchestrator"]
    subprocess.run([*cli, "init"], cwd=repo, env=env, check=True, capture_output=True)
    config = repo / "orchestrator.yaml"
    config.write_text(config.read_text().replace("  store: sqlite\n", "  store: postgres\n"))
    for args in (["events", "init"], ["events", "add-feature", SPEC, "Contract"]):
        subprocess.run([*cli, *args], cwd=repo, env=env, check=True, capture_output=True)
    log_event = ["events", "log-event", SPEC, "implementor-data", "task_started", "from a hook",
                 "T001", "abc1234"]  # fmt: skip
    subprocess.run([*cli, *log_event], cwd=repo, env=env, check=True)  # starts the daemon
    listing = tmp_path / "modules.txt"
    for _ in range(50):  # until the daemon answers: a call it served imports no driver
        subprocess.run([sys.executable, "-c", RECORD_MODULES, str(listing), *log_event],
                       cwd=repo, env=env, check=True)  # fmt: skip
        modules = set(listing.read_text().split())
        if "psycopg" not in modules:
            break
        time.sleep(0.1)
    loaded = sorted(m for m in modules if m.split(".")[0] in NOT_ON_THE_HOOK_PATH)
    assert loaded == [], loaded
    assert "claude_orchestrator.store_proxy" in modules
    recent = subprocess.run([*cli, "events", "recent", "3", "--json"], cwd=repo, env=env,
                            check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert [e["message"] for e in json.loads(recent)].count("from a hook") >= 2
