"""The whole store contract through the store proxy over the sqlite store: every call
runs in the daemon (none falls back), and behaves as it does directly. And the proxy
wired into an Orchestrator as ``Wiring.store_plugin()`` would wire it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from claude_orchestrator import Orchestrator
from claude_orchestrator.errors import NotFoundError, NotInitializedError
from claude_orchestrator.location import user_cache_dir
from claude_orchestrator.models import NewEvent
from claude_orchestrator.protocols_store import EventStore, StoreSummaries
from claude_orchestrator.store_proxy import ProxyPort
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import AGENTS, SPEC, StoreContract

from . import test_store_proxy_support as support
from .conftest import git
from .test_store_proxy_support import proxied, stop, wait_for_daemon

no_daemons_left = support.no_daemons_left


class TestStoreThroughTheProxy(StoreContract):
    @pytest.fixture
    def fresh_store(self, tmp_path: Path) -> Iterator[ProxyPort]:
        port = proxied(tmp_path)
        state = wait_for_daemon(port)
        yield port
        assert port.direct_calls == 0, "a call was done directly: the daemon failed it"
        assert port.proxied_calls > 0
        port.close()
        stop(state.pid)

    @pytest.fixture
    def store(self, fresh_store: ProxyPort) -> ProxyPort:
        fresh_store.initialize()
        return fresh_store


def test_errors_keep_their_type_and_message(tmp_path: Path) -> None:
    port = proxied(tmp_path)
    state = wait_for_daemon(port)
    direct = Store(port.direct)
    store = Store(port)
    try:
        with pytest.raises(NotInitializedError) as through:
            store.list_features()
        with pytest.raises(NotInitializedError) as directly:
            direct.list_features()
        assert str(through.value) == str(directly.value)
        store.initialize()
        with pytest.raises(NotFoundError) as through_nf:
            store.append_event(NewEvent("404-none", "overseer", "status_update", "x"))
        with pytest.raises(NotFoundError) as direct_nf:
            direct.append_event(NewEvent("404-none", "overseer", "status_update", "x"))
        assert type(through_nf.value) is type(direct_nf.value) is NotFoundError
        assert str(through_nf.value) == str(direct_nf.value)
        assert port.direct_calls == 0
    finally:
        port.close()
        stop(state.pid)


def test_the_proxy_has_the_summaries_when_the_port_has_them(tmp_path: Path) -> None:
    port = proxied(tmp_path)
    assert isinstance(port, StoreSummaries) and isinstance(port, EventStore)
    assert Store(port)._summaries is port


def test_the_first_call_is_done_directly_and_starts_the_daemon(tmp_path: Path) -> None:
    port = proxied(tmp_path)
    assert not port.exists()  # nothing answered: done directly, the daemon started
    assert (port.proxied_calls, port.direct_calls) == (0, 1)
    state = wait_for_daemon(port)
    try:
        port.initialize()
        with port.transaction() as tx:  # a transaction goes through it too
            assert tx.feature(SPEC) is None
        assert (port.proxied_calls, port.direct_calls) == (2, 1)
    finally:
        port.close()
        stop(state.pid)


@pytest.mark.parametrize("own_env", [True, False])
def test_an_orchestrator_over_the_proxy(
    repo: Path, own_env: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an environment of its own, or the process's (``os.environ``, which the
    daemon gets as its environment: it cannot be pickled)."""
    (repo / "orchestrator.yaml").write_text(
        "version: 1\nplugins:\n  store: sqlite\n  options:\n    sqlite:\n      proxy: true\n"
    )
    git(repo, "add", "orchestrator.yaml")
    git(repo, "commit", "-q", "-m", "config")
    for name in [k for k in os.environ if k.startswith("CLAUDE_ORCHESTRATOR_")]:
        monkeypatch.delenv(name)
    env = dict(os.environ) if own_env else None
    with Orchestrator(repo, env=env) as orch:
        port = orch.store_plugin().port
        assert isinstance(port, ProxyPort)
        state = wait_for_daemon(port)
        # the user's own directory, never the git directory (which implementors can write)
        assert Path(port.spec.directory) == user_cache_dir() / "store-proxy"
        try:
            orch.init_store()
            orch.add_feature(SPEC, "Through the proxy")
            event = orch.log_event(SPEC, "overseer", "status_update", "hello")
            assert [e.id for e in orch.store.recent_events(1)] == [event.id]
            assert port.direct_calls == 0 and port.proxied_calls > 3
        finally:
            stop(state.pid)
    with Orchestrator(repo, env=env) as plain:  # the same store, read directly
        assert [e.message for e in plain.store.recent_events(1)] == ["hello"]
        assert next(a.role for a in plain.store.list_agents(SPEC)) == AGENTS[0][0]
