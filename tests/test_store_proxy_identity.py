"""The store proxy's key tells postgres stores apart by what libpq connects with."""

from __future__ import annotations

from pathlib import Path

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


def test_postgres_is_proxied_unless_the_option_says_no(tmp_path: Path) -> None:
    from claude_orchestrator.config_model import default_config
    from claude_orchestrator.protocols import PluginContext
    from claude_orchestrator.store_proxy import ProxyPort
    from claude_orchestrator.store_proxy_choice import maybe_proxy

    port = PostgresPort.for_dsn(URL.format("a"), "p")
    context = PluginContext(config=default_config(), root=tmp_path, common_dir=None,
                            store_path=tmp_path / "events.db", env={})  # fmt: skip
    proxied = maybe_proxy(lambda: port, "postgres", context, tmp_path, env={})
    assert isinstance(proxied, ProxyPort)
    off = context._replace(options={"proxy": False})
    assert maybe_proxy(lambda: port, "postgres", off, tmp_path, env={}) is port


def test_the_guard_log_never_goes_through_the_proxy(initialized: Path) -> None:
    """The guard's log is best effort and must never hold a decision: a daemon that is
    slow to answer (its server is) would cost each tool call up to ``proxy_timeout``,
    past Claude Code's hook timeout, which lets the call through. The guard opens the
    store itself, with its short timeouts, and spools what it cannot store."""
    from claude_orchestrator.config import load_config
    from claude_orchestrator.guard_log import open_store
    from claude_orchestrator.location import discover

    repo = initialized
    config = repo / "orchestrator.yaml"
    config.write_text(
        config.read_text()
        .replace("  store: sqlite\n", "  store: postgres\n")
        .replace("  options: {}\n", "  options: {postgres: {proxy: true}}\n")
    )
    env = {"CLAUDE_ORCHESTRATOR_DB_URL": URL.format("a")}
    store = open_store(discover(repo, env), load_config(config), env=env)
    assert isinstance(store.port, PostgresPort)
