"""The store proxy's wire: frames, what may cross it, and who may speak on it.

A frame is a 4-byte big-endian length and that many bytes of a pickle. Pickle, not JSON:
the records are named tuples (JSON would need a tagged codec walked in Python on every
reply) and ``pickle`` imports in ~1.5 ms, less than ``json``; ``multiprocessing.connection``
would cost ~25 ms on the hook path. Pickle runs code named by its input, so the wire is
closed to everyone but the user who runs it:

- the socket lives in ``<base>/store-proxy``, a directory of mode 0700 owned by the
  user (:func:`proxy_dir` refuses any other);
- each side checks the other's uid (``SO_PEERCRED``) before reading a byte of it;
- frames are unpickled by :class:`_Unpickler`, which resolves only classes that records
  and errors are made of (named tuples of this package, exceptions, ``set``), and only
  from modules already imported: a frame cannot make either side import or call anything
  else;
- a frame is at most :data:`MAX_FRAME` bytes; a longer one, a truncated or undecodable
  one closes that connection (:class:`WireError`), nothing more.
"""

import io
import os
import pickle
import socket
import stat
import struct
import sys
from pathlib import Path
from typing import NamedTuple

# the records and errors frames carry: imported here so that they can be resolved
from . import __version__, domain_rules, errors, models, protocols_store  # noqa: F401

HEADER = struct.Struct("!I")
#: the largest frame either side sends or accepts (a larger reply is done directly)
MAX_FRAME = 64 << 20
#: the wire protocol's version, checked by the first frame of every connection
PROTOCOL = 1
DIR_NAME = "store-proxy"
#: AF_UNIX paths longer than this are reached through ``/proc/self/fd`` (Linux allows 107)
_MAX_ADDRESS = 100
_SMALL = 1 << 16
_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid
_BUILTINS = frozenset({"set", "frozenset"})
#: reply kinds: a result, a raised error; the daemon refuses this client, is stopping,
#: or has a result too large for a frame (each of the last three: do it directly)
OK, ERR, REFUSED, GONE, BIG = "ok", "err", "refused", "gone", "big"
KINDS = frozenset({OK, ERR, REFUSED, GONE, BIG})


class Reply(NamedTuple):
    """A daemon's answer: its kind (:data:`KINDS`) and what it holds."""

    kind: str
    value: object

    def error(self) -> Exception:
        """The error of an ``err`` reply (:meth:`Channel.ask` checked it is one)."""
        assert isinstance(self.value, Exception), "not an err reply"
        return self.value


class DaemonState(NamedTuple):
    """What a daemon says of itself (``ProxyPort.daemon()``)."""

    pid: int
    key: str
    version: str
    store: str
    location: str
    connections: int


class WireError(Exception):
    """The connection cannot be used: closed, timed out, malformed, or not our user's."""


class FrameTooLarge(WireError):
    """A message does not fit in a frame (:data:`MAX_FRAME`)."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        loaded = sys.modules.get(module)  # never import what a frame names
        found = getattr(loaded, name, None) if loaded is not None and "." not in name else None
        if isinstance(found, type) and _allowed(module, name, found):
            return found
        raise WireError(f"a frame names {module}.{name}, which may not cross the wire")


def _allowed(module: str, name: str, cls: type) -> bool:
    if module == "builtins" and name in _BUILTINS:
        return True
    if issubclass(cls, Exception):
        return True
    record = issubclass(cls, tuple) and hasattr(cls, "_fields")
    return record and cls.__module__.startswith("claude_orchestrator.")


def dumps(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    if len(data) > MAX_FRAME:
        raise FrameTooLarge(f"a message of {len(data)} bytes exceeds the frame limit")
    return data


def loads(data: bytes | bytearray) -> object:
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except WireError:
        raise
    except Exception as exc:
        raise WireError(f"a malformed frame ({type(exc).__name__})") from None


def send(sock: socket.socket, *messages: object) -> None:
    """Send each message as one frame (small ones in one write); FrameTooLarge, before
    anything is sent, when one does not fit."""
    frames = [dumps(message) for message in messages]
    try:
        if sum(map(len, frames)) < _SMALL:
            sock.sendall(b"".join(HEADER.pack(len(data)) + data for data in frames))
            return
        for data in frames:
            sock.sendall(HEADER.pack(len(data)))
            sock.sendall(data)
    except OSError as exc:
        raise WireError(f"the connection failed ({type(exc).__name__})") from None


def receive(sock: socket.socket) -> object:
    """The next message; WireError when the peer closed, timed out or sent a bad frame."""
    (size,) = HEADER.unpack(_exactly(sock, HEADER.size))
    if size > MAX_FRAME:
        raise WireError(f"a frame of {size} bytes exceeds the frame limit")
    return loads(_exactly(sock, size))


def _exactly(sock: socket.socket, size: int) -> bytearray:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    try:
        while got < size:
            count = sock.recv_into(view[got:])
            if count == 0:
                raise WireError("the connection was closed")
            got += count
    except OSError as exc:
        raise WireError(f"the connection failed ({type(exc).__name__})") from None
    return buffer


# ------------------------------------------------------------------- who may connect
def peer(sock: socket.socket) -> tuple[int, int]:
    """The (pid, uid) of the process at the other end of a connected unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    pid, uid, _ = _CREDENTIALS.unpack(creds)
    return pid, uid


def check_peer(sock: socket.socket) -> int:
    """The peer's pid; WireError when another user runs it."""
    pid, uid = peer(sock)
    if uid != os.geteuid():
        raise WireError(f"the peer (pid {pid}) runs as uid {uid}, not {os.geteuid()}")
    return pid


def proxy_dir(base: Path) -> Path | None:
    """``<base>/store-proxy``, made if needed: a directory of mode 0700 owned by the
    user, or None when it cannot be one (then nothing is proxied)."""
    path = base / DIR_NAME
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            return None
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, 0o700)
    except OSError:
        return None
    return path


class Address:
    """A socket's path, usable however deep its directory is: one that does not fit in
    ``sockaddr_un`` is reached through an open descriptor of its directory."""

    def __init__(self, directory: Path, name: str) -> None:
        self.path = directory / name
        self._fd: int | None = None
        self.address = str(self.path)
        if len(os.fsencode(self.address)) > _MAX_ADDRESS:
            self._fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self.address = f"/proc/self/fd/{self._fd}/{name}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Address":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def connect(directory: Path, name: str, timeout: float) -> tuple[socket.socket, int]:
    """A connection to the socket ``name`` in ``directory`` and the pid serving it.

    OSError when nothing answers there (FileNotFoundError, ConnectionRefusedError,
    TimeoutError); WireError when another user's process does.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        with Address(directory, name) as where:
            sock.connect(where.address)
        return sock, check_peer(sock)
    except BaseException:
        sock.close()
        raise


class Channel:
    """One connection to the daemon; its first frame says who the client is."""

    def __init__(self, sock: socket.socket, pid: int, key: str) -> None:
        self.sock = sock
        self.pid = pid
        self._hello: tuple[object, ...] | None = ("hello", PROTOCOL, __version__, key)

    def ask(self, message: tuple[object, ...]) -> Reply:
        """The daemon's reply (WireError when there is none, or a malformed one). A
        channel whose exchange failed in any way is closed: never read out of step."""
        try:
            if self._hello is not None:
                send(self.sock, self._hello, message)
                self._hello = None
            else:
                send(self.sock, message)
            reply = receive(self.sock)
            if not (isinstance(reply, tuple) and len(reply) == 2 and reply[0] in KINDS):
                raise WireError("a malformed reply")
            if reply[0] == ERR and not isinstance(reply[1], Exception):
                raise WireError("a malformed error reply")
        except FrameTooLarge:
            raise  # nothing was sent: the channel is still in step
        except BaseException:
            self.sock.close()
            raise
        return Reply(*reply)

    def close(self) -> None:
        self.sock.close()
