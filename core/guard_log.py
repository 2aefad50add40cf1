"""The guard's decision log: the store, the spool and its drain (records and the spool in
:mod:`~.guard_spool`, the drain in :mod:`~.guard_drain`, redaction in :mod:`~.guard_redact`).

Every decision the guard takes is recorded as a ``guard_decision`` event through the
*configured* store plugin, chosen by name through the plugin registry like every other
command. Logging never delays or changes a decision: the store gets a busy timeout of a
few milliseconds, and a record it cannot take now is appended to a spool beside it
(``guard-spool.jsonl``); the next guard that reaches the store drains the spool.

Every spooled record reaches the store exactly once, whoever dies when:

- each record carries a unique id, which its event keeps as ``metadata.record_id``;
- a drainer *claims* the spool by renaming it to ``guard-spool.jsonl.<pid>.<token>``
  while it holds an exclusive ``flock`` on it, and keeps the lock until it is done. The
  kernel drops the lock the moment its owner dies (SIGKILL included), so a claim that
  nobody holds a lock on belongs to a dead drainer, and the next drainer takes it over:
  no guessing from the file's age, and a reused pid cannot keep a claim alive;
- before its first store, a drainer notes in the claim the store's newest event id, and
  after each record the store accepts, a ``stored`` mark. A drainer killed between the
  store's commit and that mark leaves records in doubt: whoever takes the claim over
  looks for them among the events stored since the note (event ids increase) before
  storing anything;
- a record the store refuses (an unknown feature or agent, an invalid value, a malformed
  line) gets a ``failed`` mark and is retried by later drains; after
  :data:`MAX_ATTEMPTS` refusals it moves to ``guard-spool.rejected`` and a
  ``guard_log_rejected`` event says so. A record is never dropped;
- appenders hold a shared lock while they write and check that the path still names
  the file they opened, so nothing is appended to a file a drainer has claimed.

A drain that stops early (the store is busy, or its time budget is spent) rewrites the
claim with what is left, in one rename, and lets it go: the records stay spooled.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_drain import drain
from .guard_spool import MAX_ATTEMPTS, REJECTED, decision_record, rejected_records, spool_record

if TYPE_CHECKING:
    from .config import Config
    from .guard import Decision
    from .location import Location
    from .manager import PluginRegistry
    from .models import NewEvent
    from .store_service import Store
REJECTED_EVENT_TYPE = "guard_log_rejected"
#: How long the guard waits for a store another process is writing to.
LOG_BUSY_TIMEOUT_S = 0.005
#: How long one guard call spends draining the spool; the next call drains the rest.
DRAIN_BUDGET_S = 0.02


# ---------------------------------------------------------------------------- store
def store_path(location: Location, config: Config, env: Mapping[str, str]) -> Path:
    """Where the store is: ``CLAUDE_ORCHESTRATOR_DB``, the config's ``store.path``, or the
    default beside git's common directory (the rule of ``Orchestrator.store_path``)."""
    from .location import ENV_DB

    override = env.get(ENV_DB)
    if override:
        return (location.cwd / override).resolve()
    configured = config.store_path
    if configured:
        return (location.root / configured).resolve()
    return location.default_store_path()


def open_store(
    location: Location,
    config: Config,
    *,
    env: Mapping[str, str] | None = None,
    registry: PluginRegistry | None = None,
) -> Store:
    """The configured store plugin, built through the registry with the guard's short
    busy timeout (plugin option ``busy_timeout``, in seconds).

    :param config: the configuration the guard decided with (the overseer branch's).
    :param registry: a prepared registry (tests); a fresh one otherwise. Only built-in
        plugins are imported unless the config names another store.
    """
    from .errors import PluginError
    from .protocols import EventStore, PluginContext

    env = os.environ if env is None else env
    if registry is None:
        from .manager import PluginRegistry

        registry = PluginRegistry(env=env)
    name = config.store_plugin
    impl = registry.get("store", name)
    options = {**config.plugin_options(name), "busy_timeout": LOG_BUSY_TIMEOUT_S}
    context = PluginContext(
        config=config,
        root=location.root,
        common_dir=location.common_dir,
        store_path=store_path(location, config, env),
        options=options,
    )
    store = impl.factory(context)
    if not isinstance(store, EventStore):
        raise PluginError(f"store plugin {name!r} (from {impl.plugin}) built no event store")
    from .store_service import Store

    return Store(store)


def log_decision(
    location: Location,
    config: Config,
    spec_id: str,
    role: str,
    tool: str,
    detail: str,
    decision: Decision,
    *,
    env: Mapping[str, str] | None = None,
    registry: PluginRegistry | None = None,
) -> None:
    """Record the decision (after what the spool holds); on any trouble, spool it.

    Never raises: the decision stands whatever happens to its record.
    """
    record = decision_record(spec_id, role, tool, detail, decision)
    state_dir = location.state_dir
    try:
        store = open_store(location, config, env=env, registry=registry)
    except Exception:
        spool_record(state_dir, record)
        return
    try:
        if not _exists(store):
            spool_record(state_dir, record)
            return
        report = drain(store, state_dir, new=record, budget_s=DRAIN_BUDGET_S)
        if report.rejected and report.new_stored:
            with contextlib.suppress(Exception):
                store.append_event(_rejected_event(spec_id, role, state_dir, report.rejected))
    finally:
        with contextlib.suppress(Exception):
            store.close()


def _exists(store: Store) -> bool:
    try:
        return store.exists()
    except Exception:
        return False


def _rejected_event(spec_id: str, role: str, state_dir: Path, ids: list[str]) -> NewEvent:
    from .models import NewEvent

    path = state_dir / REJECTED
    total = len(rejected_records(state_dir))
    return NewEvent(
        spec_id=spec_id,
        role=role,
        event_type=REJECTED_EVENT_TYPE,
        message=(
            f"{len(ids)} spooled guard decision record(s) the store refused {MAX_ATTEMPTS} "
            f"times moved to {path} ({total} there in all); they are kept there, not stored"
        ),
        metadata={"record_ids": ids, "file": str(path), "total": total},
    )
