"""When a store proxy daemon stops: idle, SIGTERM, its store's file gone, its settings
or package version changed; and what it leaves behind (nothing)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from claude_orchestrator.config import load_config
from claude_orchestrator.models import NewEvent
from claude_orchestrator.store_proxy import ProxyPort, maybe_proxy
from claude_orchestrator.store_proxy_spawn import paths, spawn
from claude_orchestrator.store_proxy_wire import PROTOCOL, REFUSED, connect, receive, send
from claude_orchestrator.testing import SPEC

from . import test_store_proxy_support as support
from .test_store_proxy_support import (
    SRC,
    alive,
    build,
    files,
    initialized,
    kill,
    log,
    proxied,
    sqlite_context,
    stop,
    wait_for_daemon,
    wait_gone,
)

daemon_port = support.daemon_port
no_daemons_left = support.no_daemons_left


def test_it_exits_when_idle_and_leaves_nothing(tmp_path: Path) -> None:
    port = proxied(tmp_path, proxy_idle=1)
    pid = wait_for_daemon(port).pid
    initialized(port)
    wait_gone(pid, timeout=20)
    assert files(port) == []
    assert "stopped: no request for" in log(port).splitlines()[-1]
    assert port.exists()  # the next call: directly, and a new daemon
    assert port.direct_calls == 1
    stop(wait_for_daemon(port).pid)
    port.close()


def test_sigterm_lets_an_open_transaction_commit(daemon_port: ProxyPort) -> None:
    store = initialized(daemon_port)
    pid = wait_for_daemon(daemon_port).pid
    with daemon_port.transaction() as tx:
        tx.append(NewEvent(SPEC, "overseer", "status_update", "before"))
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)  # it stops accepting, and waits for this transaction
        tx.append(NewEvent(SPEC, "overseer", "status_update", "after"))
    assert daemon_port.direct_calls == 0
    wait_gone(pid)
    assert "stopped: SIGTERM" in log(daemon_port)
    assert files(daemon_port) == []
    assert [e.message for e in store.recent_events(2)] == ["after", "before"]


def test_it_stops_when_its_store_file_is_removed(daemon_port: ProxyPort) -> None:
    """A daemon writing to a removed file would lose every write: it stops, and the
    call is done directly (which finds no store)."""
    initialized(daemon_port)
    pid = wait_for_daemon(daemon_port).pid
    db = Path(daemon_port.location)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)
    assert not daemon_port.exists()
    assert daemon_port.direct_calls == 1
    wait_gone(pid)
    assert f"the store {db} was removed or replaced" in log(daemon_port)


def test_it_stops_when_the_stores_settings_change(tmp_path: Path) -> None:
    config_file = tmp_path / "orchestrator.yaml"
    text = "version: 1\nplugins:\n  options:\n    sqlite:\n      proxy: true\n{more}"
    config_file.write_text(text.format(more=""))
    config = load_config(config_file)
    options = config.plugin_options("sqlite")
    context = sqlite_context(tmp_path)._replace(config=config, options=options)
    port = maybe_proxy(lambda: build(context), "sqlite", context, tmp_path)
    assert isinstance(port, ProxyPort)
    pid = wait_for_daemon(port).pid
    config_file.write_text(text.format(more="branches:\n  main: trunk\n"))
    time.sleep(2.5)  # it looked, twice: not the store's settings
    assert alive(pid)
    config_file.write_text(text.format(more="      busy_timeout: 5\n"))
    wait_gone(pid)
    assert f"the store's settings in {config_file} changed" in log(port)
    port.close()


def test_a_client_of_another_version_is_refused(daemon_port: ProxyPort) -> None:
    pid = wait_for_daemon(daemon_port).pid
    directory = Path(daemon_port.spec.directory)
    sock, served_by = connect(directory, f"{daemon_port.spec.key}.sock", 5)
    with sock:
        send(sock, ("hello", PROTOCOL, "0.0.1", daemon_port.spec.key), ("ping",))
        reply = receive(sock)
    assert served_by == pid
    assert reply == (REFUSED, "the store proxy runs version 0.2.0, the client 0.0.1")
    assert wait_for_daemon(daemon_port).pid == pid  # it serves its own version on


def test_a_daemon_started_for_another_version_does_not_start(tmp_path: Path) -> None:
    port = proxied(tmp_path)
    pid = spawn(port.spec._replace(version="0.0.1"), os.environ)
    assert pid is not None
    wait_gone(pid)
    assert "not started: its client is version 0.0.1, the package 0.2.0" in log(port)
    assert not paths(Path(port.spec.directory), port.spec.key)[0].exists()
    port.close()


def test_it_stops_when_the_installed_package_changes_version(tmp_path: Path) -> None:
    """An upgrade replaces the package's files: a daemon of the old release stops."""
    site = tmp_path / "site" / "claude_orchestrator"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(SRC / "core", site, ignore=ignore)
    shutil.copytree(SRC / "plugins", site / "plugins", ignore=ignore)
    shutil.copytree(SRC / "generators", site / "generators", ignore=ignore)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    code = (
        "import sys; from pathlib import Path; sys.path.insert(1, sys.argv[2]); "
        "import claude_orchestrator; assert claude_orchestrator.__file__.startswith(sys.argv[1])\n"
        "from tests.test_store_proxy_support import proxied, wait_for_daemon\n"
        "print(wait_for_daemon(proxied(Path(sys.argv[1]))).pid)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(SRC)], env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    pid = int(out)
    port = proxied(tmp_path)  # the same key: this release is the copy's
    assert wait_for_daemon(port).pid == pid
    init = site / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.2.0"', '__version__ = "0.2.1"'))
    wait_gone(pid)
    assert "stopped: the installed package is version 0.2.1, not 0.2.0" in log(port)
    port.close()


def test_what_a_killed_daemon_left_is_cleaned_up(tmp_path: Path) -> None:
    """Two stores share the state directory; one's daemon is killed (-9): its socket
    and lock stay until a daemon of the same directory starts."""
    (tmp_path / "b").mkdir()
    other = maybe_proxy(lambda: build(sqlite_context(tmp_path / "b")), "sqlite",
                        sqlite_context(tmp_path / "b"), tmp_path)  # fmt: skip
    assert isinstance(other, ProxyPort)
    kill(wait_for_daemon(other).pid)
    stale = [f"{other.spec.key}.lock", f"{other.spec.key}.sock"]
    assert files(other) == stale
    port = proxied(tmp_path)
    pid = wait_for_daemon(port).pid
    assert files(port) == [f"{port.spec.key}.lock", f"{port.spec.key}.sock"]
    assert f"removed what the stopped daemon {other.spec.key[:12]} left" in log(port)
    assert other.exists() is False  # and that store gets a new daemon of its own
    stop(wait_for_daemon(other).pid)
    stop(pid)
    other.close()
    port.close()


def test_a_killed_daemons_socket_is_replaced(daemon_port: ProxyPort) -> None:
    store = initialized(daemon_port)
    kill(wait_for_daemon(daemon_port).pid)
    socket_path = paths(Path(daemon_port.spec.directory), daemon_port.spec.key)[0]
    assert socket_path.exists()  # stale: refuses connections
    assert [f.spec_id for f in store.list_features()] == [SPEC]  # directly
    wait_for_daemon(daemon_port)
    assert [f.spec_id for f in store.list_features()] == [SPEC]
    assert daemon_port.direct_calls == 1


@pytest.mark.parametrize("deep", [False, True])
def test_short_and_deep_directories(deep: bool) -> None:
    """A socket path longer than sockaddr_un holds is reached through the directory's
    descriptor."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="sp") as temporary:
        base = Path(temporary)
        if deep:
            base = base / ("d" * 60) / ("e" * 60)
            base.mkdir(parents=True)
        port = proxied(base)
        assert (len(str(base / "store-proxy" / f"{port.spec.key}.sock")) > 107) is deep
        pid = wait_for_daemon(port).pid
        initialized(port)
        assert port.direct_calls == 0 and len(port.list_features()) == 1
        stop(pid)
        port.close()
