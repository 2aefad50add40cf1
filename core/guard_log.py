"""The guard's decision log: the store, the spool and its drain (the records in
:mod:`~.guard_spool`, the spool every hook-path command shares in :mod:`~.spool`, its
drain in :mod:`~.spool_drain`, redaction in :mod:`~.guard_redact`).

Every decision the guard takes is recorded as a ``guard_decision`` event through the
*configured* store plugin, chosen by name through the plugin registry like every other
command. Logging never delays or changes a decision: the store gets a busy timeout of a
few milliseconds, and a record it cannot take now is appended to the store's spool
beside it; the next guard, ``events log-event`` or ``sync-status`` that reaches the
store drains the spool (exactly once, in order: the protocol is :mod:`~.spool`'s). The
guard drains what the spool holds of events; the syncs spooled there wait for a command
that runs git anyway. Records the store refused :data:`~.spool.MAX_ATTEMPTS` times move
to a rejected file, and a ``guard_log_rejected`` event says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .guard_spool import decision_record, spool_record
from .spool_drain import drain, rejected_event, store_location

if TYPE_CHECKING:
    from .config import Config
    from .guard import Decision
    from .location import Location
    from .manager import PluginRegistry
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
        env=env,
    )
    # Never through the store proxy: a call there may take ``proxy_timeout``; a guard
    # held past Claude Code's hook timeout lets the tool call through. Direct, the
    # store's own short timeouts bound it, and what it cannot store now is spooled.
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
    from .spool import append_for

    record = decision_record(spec_id, role, tool, detail, decision)
    state_dir = location.state_dir
    try:
        store = open_store(location, config, env=env, registry=registry)
    except Exception:
        spool_record(state_dir, record)
        return
    try:
        if not _exists(store):
            append_for(state_dir, store_location(store), record)
            return
        report = drain(store, state_dir, new=record, budget_s=DRAIN_BUDGET_S)
        if report.rejected and report.new_stored:
            event = rejected_event(spec_id, role, REJECTED_EVENT_TYPE, "guard decision", report)
            with contextlib.suppress(Exception):
                store.append_event(event)
    finally:
        with contextlib.suppress(Exception):
            store.close()


def _exists(store: Store) -> bool:
    try:
        return store.exists()
    except Exception:
        return False
