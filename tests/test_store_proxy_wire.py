"""The store proxy's wire: what may cross it, bad frames (they close that connection,
never the daemon), another user at either end, replies and requests too large."""

from __future__ import annotations

import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_orchestrator import store_proxy_wire as wire
from claude_orchestrator.errors import NotFoundError
from claude_orchestrator.models import Event, Feature, NewEvent
from claude_orchestrator.store_proxy import ProxyPort
from claude_orchestrator.store_proxy_daemon import Daemon
from claude_orchestrator.store_proxy_spawn import paths
from claude_orchestrator.store_service import Store
from claude_orchestrator.testing import SPEC

from . import test_store_proxy_support as support
from .test_store_proxy_support import initialized, log, proxied, stop, wait_for_daemon

daemon_port = support.daemon_port
no_daemons_left = support.no_daemons_left
NOBODY = 65534


class Evil:
    """Unpickling this would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return os.system, (f"touch {self.marker}",)


def global_pickle(module: str, name: str) -> bytes:
    """A pickle whose only content is the global ``module.name`` (protocol 0 GLOBAL)."""
    return f"c{module}\n{name}\n.".encode()


# ------------------------------------------------------------------ what may cross
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4),
    max_leaves=12,
)  # fmt: skip


@given(
    message=st.text(max_size=200),
    metadata=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    ids=st.sets(st.text(max_size=12), max_size=5),
)
def test_records_sets_and_errors_cross_unchanged(
    message: str, metadata: dict[str, object] | None, ids: set[str]
) -> None:
    event = Event(7, SPEC, "overseer", "status_update", message, None, "abc", metadata, "t")
    error = NotFoundError(f"Feature not found: {message}")
    back = wire.loads(wire.dumps(("ok", [event, NewEvent(SPEC, "o", "t", message)], ids, error)))
    assert back[:3] == ("ok", [event, NewEvent(SPEC, "o", "t", message)], ids)
    assert type(back[3]) is NotFoundError and str(back[3]) == str(error)


def test_a_frame_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(wire.WireError, match=r"posix\.system, which may not cross"):
        wire.loads(pickle.dumps(Evil(marker)))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [("builtins", "eval"), ("builtins", "getattr"), ("os", "system"), ("subprocess", "Popen"),
     ("claude_orchestrator.config_model", "Config"), ("pathlib", "PosixPath"),
     ("claude_orchestrator.models", "Event.__new__"), ("builtins", "object")],
)  # fmt: skip
def test_only_records_errors_and_sets_resolve(module: str, name: str) -> None:
    with pytest.raises(wire.WireError, match="may not cross"):
        wire.loads(global_pickle(module, name))


def test_a_frame_never_imports_what_it_names() -> None:
    assert "antigravity" not in sys.modules
    with pytest.raises(wire.WireError, match=r"antigravity\.geohash"):
        wire.loads(global_pickle("antigravity", "geohash"))
    assert "antigravity" not in sys.modules


# ------------------------------------------------------------- bad frames, live
def raw(port: ProxyPort) -> socket.socket:
    sock, _ = wire.connect(Path(port.spec.directory), f"{port.spec.key}.sock", 5)
    return sock


def hello(port: ProxyPort) -> bytes:
    data = wire.dumps(("hello", wire.PROTOCOL, "0.2.0", port.spec.key))
    return wire.HEADER.pack(len(data)) + data


def frame(data: bytes) -> bytes:
    return wire.HEADER.pack(len(data)) + data


def closed_without_reply(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def serving(daemon_port: ProxyPort) -> Iterator[ProxyPort]:
    """A daemon over an initialized store with a feature; it must still serve after."""
    initialized(daemon_port)
    pid = wait_for_daemon(daemon_port).pid
    yield daemon_port
    assert wait_for_daemon(daemon_port).pid == pid
    assert [f.spec_id for f in daemon_port.list_features()] == [SPEC]
    assert daemon_port.direct_calls == 0


@pytest.mark.parametrize(
    "sent",
    [
        wire.HEADER.pack(wire.MAX_FRAME + 1),  # longer than a frame may be
        frame(b"\x80\x05not a pickle"),
        frame(global_pickle("os", "system")),
        frame(pickle.dumps(["hello"])),  # not a hello
        b"\x00\x00",  # half a header, then the end
    ],
)
def test_a_bad_first_frame_closes_the_connection(serving: ProxyPort, sent: bytes) -> None:
    with raw(serving) as sock:
        sock.sendall(sent)
        if len(sent) < 4:
            sock.shutdown(socket.SHUT_WR)
        assert closed_without_reply(sock)


@pytest.mark.parametrize(
    "request_",
    [("call", "close", (), {}), ("call", "_connect", (), {}), ("call", "__class__", (), {}),
     ("call", "list_features", [], {}), ("call", "list_features"), ("tx", "append", (), {}),
     ("commit",), ("launch",), "ping", ()],
)  # fmt: skip
def test_a_request_that_is_not_the_stores_closes_it(serving: ProxyPort, request_: object) -> None:
    with raw(serving) as sock:
        sock.sendall(hello(serving) + frame(pickle.dumps(request_)))
        assert closed_without_reply(sock)


def test_a_bad_frame_in_a_transaction_rolls_it_back(serving: ProxyPort) -> None:
    half = Feature(0, "002-half", "H", "o", "in-progress", "")
    with raw(serving) as sock:
        sock.sendall(hello(serving) + frame(wire.dumps(("begin",))))
        assert wire.receive(sock) == ("ok", None)
        wire.send(sock, ("tx", "insert_feature", (half,), {}))
        assert wire.receive(sock)[1].spec_id == "002-half"
        sock.sendall(frame(b"garbage"))
        assert closed_without_reply(sock)
    assert serving.get_feature("002-half") is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), after_hello=st.booleans())
def test_random_frames_never_stop_the_daemon(
    serving: ProxyPort, data: bytes, after_hello: bool
) -> None:
    with raw(serving) as sock:
        sock.sendall((hello(serving) if after_hello else b"") + frame(data))
        sock.settimeout(10)
        try:
            answer = sock.recv(1 << 16)
        except ConnectionResetError:
            answer = b""
    if answer:  # only a well-formed request gets one
        assert wire.loads(answer[4:])[0] == "ok"
    assert serving.daemon() is not None


# ------------------------------------------------------------ another user
root_only = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run a process as another user",
)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users can traverse (pytest's own are private)."""
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="sp-peer") as temporary:
        os.chmod(temporary, 0o711)
        yield Path(temporary)


def as_nobody(code: str, *args: str) -> subprocess.Popen[str]:
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
               sys.executable, "-I", "-c", code, *args]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@root_only
def test_the_daemon_refuses_another_user(shared_dir: Path) -> None:
    port = proxied(shared_dir)
    pid = wait_for_daemon(port).pid
    socket_path = paths(Path(port.spec.directory), port.spec.key)[0]
    os.chmod(socket_path.parent, 0o711)  # as if the directory were left open to all
    os.chmod(socket_path, 0o777)
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "try:\n"
        "    s.sendall(bytes.fromhex(sys.argv[2])); s.settimeout(10); print(repr(s.recv(100)))\n"
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    print(repr(b''))"
    )
    sent = hello(port).hex() + frame(wire.dumps(("ping",))).hex()
    try:
        out, err = as_nobody(code, str(socket_path), sent).communicate(timeout=60)
        assert out.strip() == "b''", err  # connected, and closed without a word
        assert f"runs as uid {NOBODY}, not 0" in log(port)
        assert wait_for_daemon(port).pid == pid
    finally:
        stop(pid)
        port.close()


@root_only
def test_the_client_refuses_another_users_daemon(shared_dir: Path) -> None:
    """A socket where the daemon's should be, served by another user: the client does
    its call directly, sends nothing there, and starts no daemon beside it."""
    port = proxied(shared_dir)
    theirs = shared_dir / "theirs"
    theirs.mkdir(mode=0o777)
    os.chmod(theirs, 0o777)
    code = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()\n"
        "print('up', flush=True)\n"
        "c, _ = s.accept(); c.settimeout(10); data = b''\n"
        "while chunk := c.recv(100): data += chunk\n"
        "print(len(data))"
    )
    proc = as_nobody(code, str(theirs / "s.sock"))
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    socket_path, _, marker = paths(Path(port.spec.directory), port.spec.key)
    os.rename(theirs / "s.sock", socket_path)
    assert port.exists() is False  # no store: the real port said so
    assert (port.proxied_calls, port.direct_calls) == (0, 1)
    assert not marker.exists()
    out, err = proc.communicate(timeout=60)
    assert out.splitlines()[-1] == "0", err
    port.close()


# ------------------------------------------------------------- too large for a frame
@pytest.fixture
def small_frames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyPort]:
    """A daemon in this process, both ends limited to 3000-byte frames."""
    monkeypatch.setattr(wire, "MAX_FRAME", 3000)
    port = proxied(tmp_path)
    daemon = Daemon(port.spec)
    thread = threading.Thread(target=daemon.run)
    thread.start()
    socket_path = paths(Path(port.spec.directory), port.spec.key)[0]
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    try:
        initialized(port)
        yield port
    finally:
        daemon.stop("the test ended")
        thread.join()
        port.close()


def test_a_reply_too_large_is_done_directly(
    small_frames: ProxyPort, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(small_frames)
    pad = "y" * 100
    for n in range(30):
        store.append_event(NewEvent(SPEC, "overseer", "status_update", f"event {n:02d} {pad}"))
    assert small_frames.direct_calls == 0
    events = store.recent_events(30)  # ~30 events: more than a frame holds
    assert [e.message for e in events] == [f"event {n:02d} {pad}" for n in reversed(range(30))]
    assert small_frames.direct_calls == 1
    assert store.recent_events(2) == events[:2]  # a small one goes through the daemon
    assert small_frames.direct_calls == 1
    assert "closed a connection" not in capsys.readouterr().err  # it said so, and served on


def test_a_transaction_with_a_request_too_large_goes_on_directly(small_frames: ProxyPort) -> None:
    with small_frames.transaction() as tx:
        assert tx.feature(SPEC) is not None
        big = tx.append(NewEvent(SPEC, "overseer", "status_update", "x" * 5000))
    assert small_frames.direct_calls == 1
    assert Store(small_frames.direct).recent_events(1) == [big]
