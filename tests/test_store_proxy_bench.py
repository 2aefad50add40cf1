"""The store proxy's benchmark, run by hand (it holds no tests: timings are not asserted)::

    python tests/pgserver.py -- python tests/test_store_proxy_bench.py [RUNS]

Whole processes, each doing one append, directly and through a warm daemon, on the
sqlite store (proxied by its ``proxy: true`` option) and on PostgreSQL; then ``events
log-event`` itself with ``Wiring.store_plugin`` wired through :func:`maybe_proxy`; then
what importing the client adds to the hook path, next to psycopg's import. Prints
medians and minimums in milliseconds.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
NO_PROXY = {"CLAUDE_ORCHESTRATOR_NO_STORE_PROXY": "1"}

#: one append through the port the registry builds, proxied unless NO_PROXY says not
APPEND = r"""
import os, sys
from pathlib import Path
from claude_orchestrator.config import default_config
from claude_orchestrator.manager import PluginRegistry
from claude_orchestrator.models import NewEvent
from claude_orchestrator.protocols import PluginContext
from claude_orchestrator.store_proxy_choice import maybe_proxy
from claude_orchestrator.store_service import Store
name, directory = sys.argv[1], Path(sys.argv[2])
config = default_config()
config.data["project"] = "bench"
context = PluginContext(config=config, root=directory, common_dir=None,
                        store_path=directory / "events.db", options={"proxy": True}, env=os.environ)
impl = PluginRegistry().get("store", name)
store = Store(maybe_proxy(lambda: impl.factory(context), name, context, directory))
if sys.argv[3:] == ["init"]:
    store.initialize()
    store.add_feature("001-b", "B", "o", [("overseer", "o")])
else:
    store.append_event(NewEvent("001-b", "overseer", "status_update", "bench"))
"""

#: ``events log-event`` on the lean path, with the store wired as the report proposes
LOG_EVENT = r"""
import sys
from claude_orchestrator.protocols import EventStore
from claude_orchestrator.store_proxy_choice import maybe_proxy
from claude_orchestrator.store_service import Store
from claude_orchestrator.wiring import Wiring

def store_plugin(self):
    if self._store is None:
        name = self.config.store_plugin
        port = maybe_proxy(lambda: self._make("store", name, "plugins.store", EventStore),
                           name, self._context(name), self.location.state_dir, env=self._env)
        self._store = Store(port)
    return self._store

Wiring.store_plugin = store_plugin
from claude_orchestrator.__main__ import main
sys.exit(main(["events", "log-event", "001-b", "overseer", "status_update", "bench"]))
"""

IMPORTS = (
    "import claude_orchestrator.store_service, claude_orchestrator.wiring, "
    "claude_orchestrator.config, hashlib, json, threading, subprocess, fcntl, select\n{}"
)


def timed(code: str, args: list[str], env: dict[str, str], runs: int, cwd: Path | None = None
          ) -> tuple[float, float]:  # fmt: skip
    """(median, min) in ms of ``runs`` processes, after three to warm caches and daemon."""
    for _ in range(3):
        subprocess.run([PY, "-c", code, *args], env=env, cwd=cwd, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([PY, "-c", code, *args], env=env, cwd=cwd, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def repository(path: Path, config: str, env: dict[str, str]) -> Path:
    path.mkdir()
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=path, check=True)
    (path / "orchestrator.yaml").write_text(config)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "i"], cwd=path, check=True)
    setup = "from claude_orchestrator import Orchestrator\nwith Orchestrator() as o:\n"
    setup += "    o.init_store(); o.add_feature('001-b', 'B')\n"
    subprocess.run([PY, "-c", setup], cwd=path, env={**env, **NO_PROXY}, check=True)
    return path


def import_ms(extra: str) -> float:
    """What importing ``extra`` adds to the hook path's modules, in ms (self times)."""

    def rows(code: str) -> dict[str, int]:
        err = subprocess.run([PY, "-X", "importtime", "-c", code], capture_output=True,
                             text=True, check=True).stderr  # fmt: skip
        found = (re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
                 for line in err.splitlines())  # fmt: skip
        return {m.group(2): int(m.group(1)) for m in found if m}

    base = rows(IMPORTS.format(""))
    return sum(t for m, t in rows(IMPORTS.format(extra)).items() if m not in base) / 1000


def stop_daemons(base: Path) -> None:
    keys = {p.stem.encode() for p in base.rglob("store-proxy/*.lock")}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if keys & set(argv):
            os.kill(int(entry.name), signal.SIGTERM)


def main(runs: int) -> None:
    # pyc files written: a regular install has them
    unset = ("CLAUDE_ORCHESTRATOR_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    pg = {**env, "CLAUDE_ORCHESTRATOR_DB_URL": os.environ["CLAUDE_ORCHESTRATOR_TEST_PG_DSN"]}
    base = Path(tempfile.mkdtemp(prefix="spbench", dir="/tmp"))
    rows = [("python -c pass", *timed("pass", [], env, runs))]
    try:
        for name, store_env in (("sqlite", env), ("postgres", pg)):
            directory = base / name
            directory.mkdir()
            subprocess.run([PY, "-c", APPEND, name, str(directory), "init"],
                           env={**store_env, **NO_PROXY}, check=True)  # fmt: skip
            args = [name, str(directory)]
            direct = {**store_env, **NO_PROXY}
            rows.append((f"append, {name}, directly", *timed(APPEND, args, direct, runs)))
            rows.append((f"append, {name}, warm daemon", *timed(APPEND, args, store_env, runs)))
        config = "version: 1\nproject: bench\nplugins:\n  store: postgres\n"
        repo = repository(base / "pg-repo", config, pg)
        rows.append(("events log-event, postgres, directly",
                     *timed(LOG_EVENT, [], {**pg, **NO_PROXY}, runs, repo)))  # fmt: skip
        rows.append(("events log-event, postgres, warm daemon",
                     *timed(LOG_EVENT, [], pg, runs, repo)))  # fmt: skip
        repo = repository(base / "sqlite-repo", "version: 1\n", env)
        rows.append(("events log-event, sqlite (not proxied)",
                     *timed(LOG_EVENT, [], env, runs, repo)))  # fmt: skip
    finally:
        stop_daemons(base)
    print(f"{f'whole process ({runs} runs)':44} {'median':>9} {'min':>9}")
    for label, median, least in rows:
        print(f"{label:44} {median:7.1f}ms {least:7.1f}ms")
    proxy = sorted(import_ms("import claude_orchestrator.store_proxy") for _ in range(15))
    psycopg = sorted(import_ms("import psycopg") for _ in range(15))
    print(f"{'import, store proxy client (added)':44} {statistics.median(proxy):7.1f}ms "
          f"{proxy[0]:7.1f}ms")  # fmt: skip
    print(f"{'import, psycopg (added)':44} {statistics.median(psycopg):7.1f}ms {psycopg[0]:7.1f}ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
