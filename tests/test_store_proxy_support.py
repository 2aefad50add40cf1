"""What the store proxy's tests share (real daemons over real SQLite files in tmp_path),
and the tests of which stores :func:`maybe_proxy` proxies."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claude_orchestrator.config import default_config
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.plugins.sqlite_port import SQLitePort
from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.protocols_store import EventStore
from claude_orchestrator.store_proxy import ENV_DISABLE, DaemonState, ProxyPort, maybe_proxy
from claude_orchestrator.store_proxy_spawn import paths
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC

SRC = Path(__file__).resolve().parent.parent


def sqlite_context(directory: Path, **options: Any) -> PluginContext:
    """The context Wiring would give the sqlite store of ``directory``, proxied."""
    return PluginContext(
        config=default_config(),
        root=directory,
        common_dir=None,
        store_path=directory / "events.db",
        options={"proxy": True, **options},
    )


def build(context: PluginContext, name: str = "sqlite") -> EventStore:
    """The port the registry builds by name (what the daemon builds too)."""
    port = PluginRegistry().get("store", name).factory(context)
    assert isinstance(port, EventStore)
    return port


def proxied(directory: Path, *, env: dict[str, str] | None = None, **options: Any) -> ProxyPort:
    context = sqlite_context(directory, **options)
    port = maybe_proxy(lambda: build(context), "sqlite", context, directory, env=env)
    assert isinstance(port, ProxyPort)
    return port


def initialized(port: ProxyPort) -> Store:
    """The store over ``port``, created, with the contract's feature and agents."""
    store = Store(port)
    store.initialize()
    store.add_feature(SPEC, "Through the proxy", AGENTS[0][1], AGENTS)
    return store


def pg_proxied(directory: Path, dsn: str, project: str = "proxy") -> ProxyPort:
    """The postgres store as Wiring builds it (its DSN from the environment), proxied
    as the option asks (``plugins.options.postgres.proxy: true``: not the default)."""
    config = default_config()
    config.data["project"] = project
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_ORCHESTRATOR_")}
    env["CLAUDE_ORCHESTRATOR_DB_URL"] = dsn
    context = PluginContext(config=config, root=directory, common_dir=None,
                            store_path=directory / "events.db", options={"proxy": True},
                            env=env)  # fmt: skip
    port = maybe_proxy(lambda: build(context, "postgres"), "postgres", context, directory, env=env)
    assert isinstance(port, ProxyPort)
    return port


def wait_for_daemon(port: ProxyPort, timeout: float = 60.0) -> DaemonState:
    """The daemon, started by this call if none runs, once it answers."""
    deadline = time.monotonic() + timeout
    while (state := port.daemon()) is None:
        assert time.monotonic() < deadline, f"no daemon answered in {timeout} s: {log(port)}"
        time.sleep(0.02)
    return state


def log(port: ProxyPort) -> str:
    path = Path(port.spec.directory) / "daemon.log"
    return path.read_text() if path.exists() else "(no daemon.log)"


def state(pid: int) -> str | None:
    """The process's state letter (R, S, T: stopped, Z: a zombie), None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def alive(pid: int) -> bool:
    """True while the process runs (a zombie has stopped running)."""
    return state(pid) not in (None, "Z")


def wait_state(pid: int, letter: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while state(pid) != letter:
        assert time.monotonic() < deadline, f"process {pid} is not in state {letter}"
        time.sleep(0.005)


def daemons(key: str) -> list[int]:
    """The running daemon processes started for ``key`` (by their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if key.encode() in argv and entry.name.isdigit() and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still runs after {timeout} s"
        time.sleep(0.02)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # ours when this process started it


def stop(pid: int) -> None:
    if alive(pid):
        os.kill(pid, signal.SIGTERM)
    wait_gone(pid)


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)


def files(port: ProxyPort) -> list[str]:
    """What is in the proxy directory besides the log."""
    directory = Path(port.spec.directory)
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("daemon.log"))


def stop_daemons_under(directory: Path) -> None:
    """Stop every daemon whose sockets are below ``directory`` (a test that failed
    half-way leaves none running)."""
    keys = {p.name.split(".")[0] for p in directory.rglob("store-proxy/*.*")}
    for key in keys - {"daemon"}:
        for pid in daemons(key):
            stop(pid)


@pytest.fixture(autouse=True)
def no_daemons_left(tmp_path: Path) -> Iterator[None]:
    yield
    stop_daemons_under(tmp_path)


@pytest.fixture
def daemon_port(tmp_path: Path) -> Iterator[ProxyPort]:
    """A proxied sqlite port whose daemon runs (stopped afterwards)."""
    port = proxied(tmp_path)
    state = wait_for_daemon(port)
    yield port
    port.close()
    stop(state.pid)


# -------------------------------------------------------------------- which stores
def test_sqlite_is_not_proxied_unless_its_options_say_so(tmp_path: Path) -> None:
    context = sqlite_context(tmp_path)._replace(options={})
    port = maybe_proxy(lambda: build(context), "sqlite", context, tmp_path)
    assert isinstance(port, SQLitePort)
    assert not (tmp_path / "store-proxy").exists()
    off = context._replace(options={"proxy": False})
    assert isinstance(maybe_proxy(lambda: build(off), "sqlite", off, tmp_path), SQLitePort)


def test_a_port_that_says_proxied_is_proxied_unless_turned_off(tmp_path: Path) -> None:
    class Proxied(SQLitePort):
        proxied = True

    context = sqlite_context(tmp_path)._replace(options={})
    port = maybe_proxy(lambda: Proxied(tmp_path / "events.db"), "sqlite", context, tmp_path)
    assert isinstance(port, ProxyPort) and isinstance(port.direct, Proxied)
    off = context._replace(options={"proxy": False})
    port = maybe_proxy(lambda: Proxied(tmp_path / "events.db"), "sqlite", off, tmp_path)
    assert isinstance(port, Proxied)


def test_the_environment_variable_turns_the_proxy_off(tmp_path: Path) -> None:
    context = sqlite_context(tmp_path)
    port = maybe_proxy(lambda: build(context), "sqlite", context, tmp_path, env={ENV_DISABLE: "1"})
    assert isinstance(port, SQLitePort)
    port = maybe_proxy(lambda: build(context), "sqlite", context, tmp_path, env={ENV_DISABLE: "0"})
    assert isinstance(port, ProxyPort)


@pytest.mark.parametrize(
    ("option", "value"),
    [("proxy", "yes"), ("proxy", 1), ("proxy_idle", 0), ("proxy_idle", "5"),
     ("proxy_idle", True), ("proxy_timeout", -1.0), ("proxy_timeout", None)],
)  # fmt: skip
def test_a_bad_proxy_option_is_a_config_error(tmp_path: Path, option: str, value: object) -> None:
    context = sqlite_context(tmp_path, **{option: value})
    with pytest.raises(ConfigError, match=rf"plugins\.options\.sqlite\.{option}: must be"):
        maybe_proxy(lambda: build(context), "sqlite", context, tmp_path)


def test_a_directory_that_is_not_the_users_own_is_not_used(tmp_path: Path) -> None:
    """A symlink (or another user's directory) where the sockets go: no proxy."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "store-proxy").symlink_to(elsewhere)
    context = sqlite_context(tmp_path)
    assert isinstance(maybe_proxy(lambda: build(context), "sqlite", context, tmp_path), SQLitePort)


def test_a_loose_directory_is_made_private(tmp_path: Path) -> None:
    (tmp_path / "store-proxy").mkdir(mode=0o755)
    os.chmod(tmp_path / "store-proxy", 0o755)
    proxied(tmp_path)
    assert (tmp_path / "store-proxy").stat().st_mode & 0o777 == 0o700


def test_the_key_names_nothing_secret_and_changes_with_the_store(tmp_path: Path) -> None:
    class WithDsn(SQLitePort):
        proxied = True
        dsn = "postgresql://agent:s3cret-pw@db.example/orchestrator"

        def proxy_identity(self) -> str:
            return self.dsn

    context = sqlite_context(tmp_path)
    first = maybe_proxy(lambda: WithDsn(tmp_path / "events.db"), "x", context, tmp_path)
    assert isinstance(first, ProxyPort)
    for name in paths(Path(first.spec.directory), first.spec.key):
        assert "s3cret" not in str(name) and "agent" not in name.name
    WithDsn.dsn = "postgresql://agent:other-pw@db.example/orchestrator"
    second = maybe_proxy(lambda: WithDsn(tmp_path / "events.db"), "x", context, tmp_path)
    assert isinstance(second, ProxyPort)
    assert second.spec.key != first.spec.key  # another password: another daemon
    idle = sqlite_context(tmp_path, proxy_idle=5)
    third = maybe_proxy(lambda: WithDsn(tmp_path / "events.db"), "x", idle, tmp_path)
    assert isinstance(third, ProxyPort) and third.spec.key != second.spec.key


def test_a_store_that_is_not_proxied_imports_nothing_of_it() -> None:
    code = (
        "import sys; import claude_orchestrator.store_service, claude_orchestrator.wiring; "
        "before = set(sys.modules); import claude_orchestrator.store_proxy_choice; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    added = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                           text=True).stdout.split()  # fmt: skip
    assert added == ["claude_orchestrator.store_proxy_choice"]


def test_the_client_imports_little() -> None:
    """On the hook path the proxy adds the wire's modules and nothing heavy (no driver,
    no multiprocessing, no subprocess: the daemon is started with posix_spawn)."""
    code = (
        "import sys; import claude_orchestrator.store_service, claude_orchestrator.wiring; "
        "before = set(sys.modules); import claude_orchestrator.store_proxy; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDE_ORCHESTRATOR_")}
    added = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    ours = {m for m in added if m.startswith("claude_orchestrator.store_proxy")}
    parts = ("", "_choice", "_spawn", "_tx", "_wire")
    assert ours == {f"claude_orchestrator.store_proxy{part}" for part in parts}
    wire = {"socket", "_socket", "array", "struct", "_struct", "pickle", "_pickle"}
    small = {
        "_compat_pickle",
        "fcntl",
        "select",
        "selectors",
        "threading",
        "math",
        "claude_orchestrator.digest",
        "_sha256",
        "_sha2",
    }
    assert set(added) - ours <= wire | small
