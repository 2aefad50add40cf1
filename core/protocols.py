"""The four plugin kinds as ``typing.Protocol`` classes.

A plugin offers an implementation of a kind by registering a *factory* under a name
(see :mod:`claude_orchestrator.hookspecs`); the factory receives a
:class:`PluginContext` and returns an object that satisfies the kind's protocol.
``orchestrator.yaml`` chooses implementations by name (``plugins.store: sqlite``).

The contract tests in :mod:`claude_orchestrator.testing` check behaviour, not just
method names: run them against your implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from .protocols_store import EventStore as EventStore  # re-exported: the protocols in one place
from .protocols_vcs import VCS as VCS
from .protocols_vcs import Forge as Forge

if TYPE_CHECKING:
    from .config import Config
    from .models import Event
    from .notify_message import Message, Sent
    from .store_service import Store


class Services(Protocol):
    """What a plugin may use of the process that builds it: the configured store and
    VCS, each built on first use (a notifier that renders state reads the store; the
    ``local`` forge merges with the VCS). Plugins get ports, never the library: a
    notifier does not call back into an operation."""

    @property
    def in_repository(self) -> bool:
        """True inside a repository whose config names a VCS plugin."""

    @property
    def state_dir(self) -> Path:
        """The directory shared by every worktree for locks and caches."""

    def store(self) -> Store:
        """The configured store, its operations over the plugin's port
        (NotInitializedError if it was never created)."""

    def vcs(self) -> VCS:
        """The configured VCS (ConfigError when ``plugins.vcs`` names none)."""


class PluginContext(NamedTuple):
    """What a factory gets to build an implementation.

    :param config: the validated configuration.
    :param root: the working tree's top directory (or the current directory outside git).
    :param common_dir: git's common directory, shared by all worktrees (None outside git).
    :param store_path: where the event store lives (``events path``).
    :param options: this implementation's section of ``plugins.options`` in the config.
    :param services: the process's store and VCS (:class:`Services`), for plugins that
        need them; None where a plugin is built outside an operation (the guard's log).
    :param env: the environment the library was given (``Orchestrator(env=...)``), for
        settings a plugin reads from it (the ``postgres`` store's connection string);
        None: the process's (``os.environ``).
    """

    config: Config
    root: Path
    common_dir: Path | None
    store_path: Path
    options: Mapping[str, Any] = {}
    services: Services | None = None
    env: Mapping[str, str] | None = None


@runtime_checkable
class CI(Protocol):
    """A CI system: generates its workflow files from the config."""

    def generate(self) -> dict[str, Any]:
        """Repository-relative path -> document, for ``generate``: a ``dict`` (written as
        YAML, or JSON for ``.json`` paths) or a ``str`` (written as it is). Pure: the same
        config gives the same documents."""


# ------------------------------------------------------------------------- notifier
#: ``Notifier.delivery`` values: told in the operation, or later from the outbox.
INLINE = "inline"
OUTBOX = "outbox"


@runtime_checkable
class Notifier(Protocol):
    """Receives every event after the store has committed it.

    A notifier must not raise for an event it does not care about. It says how it wants
    its events with an optional ``delivery`` attribute:

    - ``"inline"`` (the default): told during the operation that stored the events, once
      the transaction has committed. For local, fast work (the ``markdown`` state files).
      An exception becomes a warning and never undoes the stored events; they are not
      offered again.
    - ``"outbox"``: never told during an operation, so a hook never waits on a network.
      ``claude-orchestrator notify flush`` (started in the background after an operation
      that stored events, or run by hand or by cron) reads the committed events after the
      notifier's cursor in the store, tells the notifier, and moves the cursor only when
      ``notify`` and ``flush`` returned: a failure, or a process killed mid-delivery,
      leaves the events to be delivered again (at least once; the event id is the
      idempotency key).

    Optional methods: ``flush()`` is called once after each batch of events, so a notifier
    can do its work once per operation; it may return the local files it wrote (reported
    by commands such as ``init-feature --json``). ``changed(spec_id)`` tells an inline
    notifier that a feature changed outside the store (``init-feature`` made worktrees),
    so views of it must be refreshed even without a new event.
    """

    def notify(self, event: Event) -> None: ...


# -------------------------------------------------------------------------- channel
@runtime_checkable
class Channel(Protocol):
    """A place notifications go (Slack, Discord, a webhook, the desktop, ...), built from
    one ``notifications.channels.<name>`` entry: the factory's ``context.options`` are the
    entry's own keys (``url_env``, ...; not ``type``, ``events``, ``features``,
    ``min_severity``, ``quiet_hours``, ``rate_limit``), ``context.env`` the environment to
    read the secrets those keys name. The factory raises
    :class:`~claude_orchestrator.notify_message.ChannelOptionError` for a wrong or missing
    key (a secret's variable that is not set).

    Optional attributes: ``rate_limit``, a ``(count, per_seconds)`` default for channels of
    the type; ``secrets``, the values (URLs, keys) to redact from every log line.
    """

    def describe(self) -> str:
        """Where it sends, without secrets (``slack webhook from $SLACK_WEBHOOK_URL``)."""

    def send(self, message: Message, *, key: str, timeout: float) -> Sent:
        """Send one message; ``key`` is its idempotency key (send it along where the
        receiver can see it). Return :class:`~claude_orchestrator.notify_message.Sent`, or
        raise :class:`~claude_orchestrator.notify_message.DeliveryFailed`; never block
        longer than ``timeout`` seconds."""


#: A factory turns a context into an implementation of one kind; the library checks the
#: result against the kind's protocol.
Factory = Callable[[PluginContext], object]


class Register(Protocol):
    """The callback a ``register_*`` hook receives."""

    def __call__(self, name: str, factory: Factory, *, description: str = "") -> None: ...
