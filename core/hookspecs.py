"""Hook specifications: the plugin API of claude-orchestrator.

A plugin is a module (or object) with functions decorated by
:data:`claude_orchestrator.hookimpl` whose names match the specs below. Third-party
plugins are found through the ``claude_orchestrator`` entry-point group::

    [project.entry-points.claude_orchestrator]
    jsonl = "my_package.plugin"

Each plugin kind has one hook that *registers* implementations by name. The registry
holds factories; nothing is built (and no heavy module imported) until the
configuration selects a name. All hooks are called with keyword arguments only; an
implementation may accept a subset of them.

Built-in plugins mark their hooks ``trylast``; their names (``sqlite``, ...) are
reserved, and a third-party registration under a built-in name is reported, not used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .protocols import Register

PROJECT_NAME = "claude_orchestrator"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------- store
@hookspec
def register_stores(register: Register) -> None:
    """Offer event-store implementations.

    Call ``register(name, factory, description=...)`` once per implementation. The
    factory receives a :class:`~claude_orchestrator.protocols.PluginContext` and returns
    an object satisfying :class:`~claude_orchestrator.protocols.EventStore`.

    :param register: callback that records a factory under a name.
    :return: nothing; the results of all implementations are ignored.

    .. versionadded:: 0.1
    """


# ------------------------------------------------------------------------------ vcs
@hookspec
def register_vcs(register: Register) -> None:
    """Offer version-control implementations (:class:`~claude_orchestrator.protocols.VCS`).

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.1
    """


# ------------------------------------------------------------------------------- ci
@hookspec
def register_ci(register: Register) -> None:
    """Offer CI implementations (:class:`~claude_orchestrator.protocols.CI`).

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------- forge
@hookspec
def register_forges(register: Register) -> None:
    """Offer forges (:class:`~claude_orchestrator.protocols_vcs.Forge`).

    A forge is where pull requests are opened and merged.
    ``forge.type`` in the config names the one ``open-pr`` and ``merge-pr`` use; the
    built-in ``local`` and ``github`` are plugins like any other.

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.2
    """


# ------------------------------------------------------------------------- notifier
@hookspec
def register_notifiers(register: Register) -> None:
    """Offer notifiers (:class:`~claude_orchestrator.protocols.Notifier`).

    Every notifier named in ``plugins.notifiers`` receives every event after the store
    has committed it.

    :param register: callback that records a factory under a name.

    .. versionadded:: 0.1
    """
