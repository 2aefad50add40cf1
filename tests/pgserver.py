"""A throwaway PostgreSQL server for the tests: a cluster in a temporary directory, owned
by a non-root user, listening on a loopback port (and a socket in that directory).

``.ci/run`` starts one for the whole run and stops it at the end::

    python tests/pgserver.py -- pytest -n auto -q

which sets :data:`DSN_ENV` to the server's superuser DSN for the command it runs. The
``pg_admin_dsn`` fixture (``tests/conftest.py``) reads that variable; when it is unset it
starts a server of its own for the session with :class:`Cluster`, and skips the tests that
need one, saying why, only when none can be started here (no PostgreSQL binaries, or
running as root with no non-root user to own the cluster).

Why not pytest-postgresql: it starts ``pg_ctl`` as the current user, which PostgreSQL
refuses to be when that user is root (as in CI), and it has no way to share one server
with a whole ``pytest -n`` run that ``.ci/run`` started; this is a hundred lines.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: The superuser DSN of a running test server (set by ``python tests/pgserver.py -- CMD``).
DSN_ENV = "CLAUDE_ORCHESTRATOR_TEST_PG_DSN"
#: The non-root user that owns a cluster started as root (the Debian package's).
OWNER = "postgres"
_START_TIMEOUT_S = 60.0


class Unavailable(Exception):
    """No server can be started here (the message says why)."""


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise Unavailable(
        f"no PostgreSQL {name!r} found (install Debian's postgresql package: "
        "apt-get install postgresql)"
    )


def with_database(dsn: str, database: str) -> str:
    """The URL DSN with another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One cluster: :meth:`start` makes and starts it, :meth:`stop` stops and removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="co-pg-"))
        self.password = secrets.token_hex(12)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._user: tuple[int, int] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _as_owner(self) -> dict[str, object]:
        if self._user is None:
            return {}
        uid, gid = self._user
        return {"user": uid, "group": gid, "extra_groups": []}

    def start(self) -> Cluster:
        initdb = _binary("initdb")
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(OWNER)
            except KeyError:
                raise Unavailable(
                    f"running as root and there is no {OWNER!r} user to own the cluster"
                ) from None
            self._user = (entry.pw_uid, entry.pw_gid)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._user:
            os.chown(pwfile, *self._user)
        subprocess.run(
            [initdb, "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--no-sync",
             "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
             f"--pwfile={pwfile}"],
            check=True, capture_output=True, **self._as_owner(),  # type: ignore[arg-type]
        )  # fmt: skip
        pwfile.unlink()
        for _ in range(5):
            self.port = _free_port()
            if self._launch():
                return self
        self.stop()
        raise Unavailable(f"the test server did not start: see {self.root / 'server.log'}")

    def _launch(self) -> bool:
        """Start the server on :attr:`port` and wait until it answers."""
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [_binary("postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=300", "-c", "shared_buffers=64MB"],
                stdout=log, stderr=log, start_new_session=True,
                **self._as_owner(),  # type: ignore[arg-type]
            )  # fmt: skip
        return self._wait_ready()

    def halt(self) -> None:
        """Stop the server (a fast shutdown), keeping its data and port for :meth:`resume`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)

    def resume(self) -> None:
        """Start the halted server again: the same port and data."""
        if not self._launch():
            raise Unavailable(f"the test server did not restart: see {self.root / 'server.log'}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # e.g. the port was taken meanwhile
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                if (self.data / "postmaster.pid").exists():
                    ready = subprocess.run(
                        [_binary("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                        capture_output=True,
                    )
                    if ready.returncode == 0:
                        return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def main(argv: Sequence[str]) -> int:
    """``pgserver.py -- CMD ...``: run CMD with a server up and :data:`DSN_ENV` set."""
    args = list(argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: pgserver.py -- COMMAND [ARG ...]", file=sys.stderr)
        return 2

    def _term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, _term)
    with running() as cluster:
        print(f"pgserver: PostgreSQL on 127.0.0.1:{cluster.port} ({cluster.root})", flush=True)
        env = dict(os.environ, **{DSN_ENV: cluster.dsn})
        child = subprocess.Popen(args, env=env)
        try:
            return child.wait()
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
