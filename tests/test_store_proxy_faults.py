"""The store proxy when things go wrong: the daemon killed (-9) at any point, a client
killed mid-transaction, many clients at once, many starting it at once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from claude_orchestrator.errors import StoreError, StoreUnavailableError
from claude_orchestrator.models import Feature, NewEvent
from claude_orchestrator.store_proxy import ProxyPort
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import SPEC

from . import test_store_proxy_support as support
from .test_store_proxy_support import (
    SRC,
    alive,
    build,
    daemons,
    files,
    initialized,
    kill,
    proxied,
    sqlite_context,
    stop,
    wait_for_daemon,
    wait_state,
)

daemon_port = support.daemon_port
no_daemons_left = support.no_daemons_left

#: a client process: the same proxied store as the test's (same key, same daemon)
CLIENT = f"""
import json, os, sys, time
sys.path.insert(0, {str(SRC)!r})
from pathlib import Path
from claude_orchestrator.models import NewEvent
from claude_orchestrator.store_service import Store
from tests.test_store_proxy_support import proxied
port = proxied(Path(sys.argv[1]))
store = Store(port)
"""


def client(tmp_path: Path, code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLIENT + code, str(tmp_path), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def event(message: str) -> NewEvent:
    return NewEvent(SPEC, "implementor-data", "status_update", message)


# ----------------------------------------------------------- the daemon killed (-9)
def test_killed_after_reads_the_transaction_goes_on_directly(daemon_port: ProxyPort) -> None:
    store = initialized(daemon_port)
    first = wait_for_daemon(daemon_port).pid
    with daemon_port.transaction() as tx:
        assert tx.feature(SPEC) is not None  # answered by the daemon
        kill(first)
        stored = tx.append(event("after the kill"))  # replayed the read, then directly
    assert daemon_port.direct_calls == 1
    assert [e.id for e in store.recent_events(1)] == [stored.id]
    assert [e.message for e in store.recent_events(10)].count("after the kill") == 1
    second = wait_for_daemon(daemon_port).pid  # the next call started a new one
    assert second != first and not alive(first)
    assert store.recent_events(1)[0] == stored
    stop(second)


def test_killed_after_a_write_nothing_is_stored(daemon_port: ProxyPort) -> None:
    store = initialized(daemon_port)
    pid = wait_for_daemon(daemon_port).pid
    before = store.info().counts
    half = Feature(0, "002-half", "Half", "feature/002-half/overseer", "x", "")
    refused = pytest.raises(StoreUnavailableError, match="nothing of it was stored")
    with refused, daemon_port.transaction() as tx:
        tx.insert_feature(half)
        kill(pid)
        tx.append(event("never"))
    assert store.info().counts == before
    assert store.get_feature("002-half") is None
    wait_for_daemon(daemon_port)


def test_lost_while_committing_says_the_outcome_is_unknown(tmp_path: Path) -> None:
    port = proxied(tmp_path, proxy_timeout=1)
    pid = wait_for_daemon(port).pid
    store = initialized(port)
    try:
        with pytest.raises(StoreError, match="may or may not") as raised, port.transaction() as tx:
            tx.append(event("in doubt"))
            os.kill(pid, signal.SIGSTOP)  # it never answers the commit
            wait_state(pid, "T")
        assert not isinstance(raised.value, StoreUnavailableError)  # not to be spooled
    finally:
        kill(pid)  # stopped, it never committed: rolled back
    assert "in doubt" not in [e.message for e in store.recent_events(10)]
    port.close()


def test_killed_at_random_points_nothing_is_half_written(tmp_path: Path) -> None:
    """A client adds features (a feature, its agents and an event: one transaction each)
    while the daemon is killed again and again: each is stored whole or not at all, and
    the ones the client was told were stored are."""
    port = proxied(tmp_path)
    store = initialized(port)
    wait_for_daemon(port)
    code = """
from claude_orchestrator.errors import StoreError, StoreUnavailableError
agents = [("overseer", "o"), ("implementor-a", "a"), ("implementor-b", "b")]
n = 0
while not Path(sys.argv[2]).exists() and n < 20000:  # until the test has killed enough
    n += 1
    spec = f"{n:05d}-f"
    try:
        store.add_feature(spec, "F", "o", agents)
        outcome = "ok"
    except StoreUnavailableError:
        outcome = "unavailable"
    except StoreError as exc:
        outcome = "unknown" if "may or may not" in str(exc) else repr(exc)
    print(json.dumps([spec, outcome]), flush=True)
"""
    enough = tmp_path / "enough"
    proc = client(tmp_path, code, str(enough))
    kills = 0
    rng = random.Random(11)
    while proc.poll() is None and kills < 8:
        time.sleep(rng.uniform(0.05, 0.25))
        state = port.daemon()
        if state is not None:
            kill(state.pid)
            kills += 1
    time.sleep(0.5)  # a few more through the last daemon started
    enough.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    outcomes = dict(json.loads(line) for line in out.splitlines())
    assert kills == 8 and len(outcomes) > 100, (kills, len(outcomes))
    assert set(outcomes.values()) <= {"ok", "unavailable", "unknown"}
    stored = {f.spec_id for f in store.list_features()} - {SPEC}
    for spec, outcome in outcomes.items():
        roles = [a.role for a in store.list_agents(spec)]
        events = store.events_after(spec)
        if spec in stored:
            assert outcome != "unavailable", spec
            assert len(roles) == 3 and [e.event_type for e in events] == ["feature_created"]
        else:
            assert outcome != "ok", spec
            assert roles == [] and events == []
    stop(wait_for_daemon(port).pid)
    port.close()


# ----------------------------------------------------------------- a client killed
def test_a_client_killed_mid_transaction_is_rolled_back(
    tmp_path: Path, daemon_port: ProxyPort
) -> None:
    store = initialized(daemon_port)
    pid = wait_for_daemon(daemon_port).pid
    code = """
from claude_orchestrator.models import Feature
from tests.test_store_proxy_support import wait_for_daemon
wait_for_daemon(port)
with port.transaction() as tx:
    tx.insert_feature(Feature(0, "003-killed", "K", "o", "in-progress", ""))
    print("inside", port.proxied_calls, port.direct_calls, flush=True)
    time.sleep(600)
"""
    proc = client(tmp_path, code)
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["inside", "1", "0"]  # in the daemon's hands
    proc.kill()
    proc.communicate()
    store.append_event(event("after the client died"))  # the write lock was released
    assert store.get_feature("003-killed") is None
    assert wait_for_daemon(daemon_port).pid == pid  # and the daemon serves on
    assert daemon_port.direct_calls == 0


# ------------------------------------------------------------------- many at once
def test_concurrent_client_processes_lose_nothing(tmp_path: Path, daemon_port: ProxyPort) -> None:
    store = initialized(daemon_port)
    code = """
for n in range(40):
    store.append_event(NewEvent("001-contract", "implementor-data", "status_update",
                                f"{sys.argv[2]}-{n}"))
print(port.proxied_calls, port.direct_calls)
"""
    procs = [client(tmp_path, code, str(i)) for i in range(10)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.split()[1] == "0"  # nothing fell back: the daemon took all of it
    events = store.events_after(SPEC, 0, 10_000)[1:]
    assert sorted(e.message for e in events) == sorted(f"{i}-{n}" for i in range(10)
                                                       for n in range(40))  # fmt: skip
    assert len({e.id for e in events}) == 400


def test_sixteen_processes_racing_start_one_daemon(tmp_path: Path) -> None:
    direct = Store(build(sqlite_context(tmp_path)))
    direct.initialize()
    direct.close()
    at = time.time() + 2.0
    code = f"""
while time.time() < {at}:
    time.sleep(0.001)
store.list_features()
from tests.test_store_proxy_support import wait_for_daemon
print(wait_for_daemon(port).pid)
"""
    procs = [client(tmp_path, code) for _ in range(16)]
    pids = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        pids.add(int(out))
    assert len(pids) == 1, pids
    key = proxied(tmp_path).spec.key
    assert daemons(key) == list(pids)  # no other was started (none waits for its lock)
    lines = (tmp_path / "store-proxy" / "daemon.log").read_text().splitlines()
    assert sum("serving" in line for line in lines) == 1, lines
    assert len(lines) == 1, lines
    stop(pids.pop())


def test_threads_share_a_proxy(daemon_port: ProxyPort) -> None:
    store = initialized(daemon_port)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                store.append_event(event(f"t{n}-{i}"))
                store.recent_events(5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(store.events_after(SPEC, 0, 1000)) == 1 + 150
    assert daemon_port.direct_calls == 0
    assert files(daemon_port) == sorted(f"{daemon_port.spec.key}.{x}" for x in ("lock", "sock"))
