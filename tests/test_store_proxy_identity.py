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


def test_postgres_is_not_proxied_unless_the_option_asks(tmp_path: Path) -> None:
    """The proxy's socket is in the git directory, which code an implementor runs can
    write: a store is reached through it only when the user opts in."""
    from claude_orchestrator.config_model import default_config
    from claude_orchestrator.protocols import PluginContext
    from claude_orchestrator.store_proxy_choice import maybe_proxy

    assert PostgresPort.proxied is False
    port = PostgresPort.for_dsn(URL.format("a"), "p")
    context = PluginContext(config=default_config(), root=tmp_path, common_dir=None,
                            store_path=tmp_path / "events.db", env={})  # fmt: skip
    assert maybe_proxy(lambda: port, "postgres", context, tmp_path, env={}) is port


def test_the_guard_log_never_goes_through_the_proxy(initialized: Path) -> None:
    """A planted socket that never answers would hold the guard past Claude Code's hook
    timeout, which lets the tool call through: the guard opens the store itself."""
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
