"""Messages between the person, the overseer and the implementors (``tell``, ``inbox``).

A message is an event: ``message_sent`` (role: the recipient; message: the text;
metadata ``from``, ``to``, ``routed_from``), and it is delivered once, recorded as
``message_delivered`` (role: the recipient; metadata ``message_id``, ``how``). It is
*pending* until then. Delivery is the observation hook's (:mod:`.agent_event`: the
recipient's next ``UserPromptSubmit``/``PostToolUse``/``PostToolUseFailure`` hook output,
or its ``Stop`` hook keeping the turn going while a message waits) or the launcher's,
which types it into an idle agent's pane (``how: tmux``). :func:`claim` and
:func:`mark_delivered` decide in one store transaction, and transactions are serialised,
so two hooks that race deliver a message once.

**Routing to the overseer** (``agents.route_to_overseer``): an implementor's
``task_blocked`` and the guard's denials of its tool calls also become messages to the
overseer of the feature (``from``: the implementor, ``routed_from``: the event's id).
Routing happens *when messages are read* (:func:`route`, called by :func:`pending`,
:func:`claim` and :func:`inbox`, so by every observation hook), not where those events
are written: they come from three writers (``sync-status`` reading commit messages,
``events block``, the guard's decision log) and the guard must stay a fast, fail-closed
boundary that writes one record. A delivery cursor in the store (``route-to-overseer``)
says how far routing has read; it moves in the transaction that writes the routed
messages, so each event is routed once. Routing starts at the store's newest event the
first time it runs (older events are not routed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from . import validate as v
from .errors import NotFoundError, ValidationError
from .models import Event, NewEvent

if TYPE_CHECKING:
    from .api import Orchestrator
    from .protocols_store import StoreTransaction
    from .store_service import Store

SENT = "message_sent"
DELIVERED = "message_delivered"
TYPES = (SENT, DELIVERED)
PERSON = "person"
#: how a message reached its recipient
HOWS = ("UserPromptSubmit", "PostToolUse", "PostToolUseFailure", "Stop", "tmux")
#: the delivery cursor of routing (see the module docstring)
ROUTE_CURSOR = "route-to-overseer"
#: events routing reads per call (the next call reads on)
ROUTE_BATCH = 500


class Message(NamedTuple):
    """One message and whether it was delivered."""

    id: int  # the message_sent event's id
    spec_id: str
    to: str
    sender: str
    text: str
    sent_at: str
    routed_from: int | None
    status: str  # "pending" or "delivered"
    delivered_at: str | None = None
    how: str | None = None


class Sent(NamedTuple):
    """What ``tell`` did: the message; whether it was delivered already; whether an idle
    agent was nudged (a line typed into its pane starts its next turn, whose
    UserPromptSubmit hook delivers the message)."""

    message: Message
    delivered: bool
    nudged: bool = False


#: types a short line into an idle agent's pane: (orch, spec id, role, text) -> typed
Nudge = Callable[["Orchestrator", str, str, str], bool]


# ------------------------------------------------------------------------------ domain
def check_sender(value: str) -> str:
    """``person``, ``overseer`` or ``implementor-<area>``."""
    if value == PERSON:
        return value
    try:
        return v.check_role(value)
    except ValidationError:
        raise ValidationError(
            f"invalid sender {value!r}: use 'person', 'overseer' or 'implementor-<area>'"
        ) from None


def messages_of(events: Iterable[Event]) -> list[Message]:
    """The messages in ``events`` (any mix of events, oldest first), each with its
    delivery, oldest first."""
    sent: dict[int, Message] = {}
    delivered: dict[int, Event] = {}
    for event in events:
        meta = event.metadata or {}
        if event.event_type == SENT:
            routed = meta.get("routed_from")
            sent[event.id] = Message(
                event.id, event.spec_id, event.role, str(meta.get("from") or PERSON),
                event.message, event.created_at,
                routed if isinstance(routed, int) and not isinstance(routed, bool) else None,
                "pending",
            )  # fmt: skip
        elif event.event_type == DELIVERED:
            message_id = meta.get("message_id")
            if isinstance(message_id, int) and message_id not in delivered:
                delivered[message_id] = event
    result = []
    for message in sent.values():
        done = delivered.get(message.id)
        if done is not None and done.role == message.to:
            how = (done.metadata or {}).get("how")
            message = message._replace(status="delivered", delivered_at=done.created_at,
                                       how=str(how) if how is not None else None)  # fmt: skip
        result.append(message)
    return result


def pending_of(events: Iterable[Event]) -> list[Message]:
    return [m for m in messages_of(events) if m.status == "pending"]


def delivered_event(message: Message, how: str) -> NewEvent:
    return NewEvent(message.spec_id, message.to, DELIVERED,
                    f"message {message.id} delivered ({how})", None, None,
                    {"message_id": message.id, "how": how})  # fmt: skip


def sent_event(spec_id: str, to: str, text: str, sender: str,
               routed_from: int | None = None) -> NewEvent:  # fmt: skip
    return NewEvent(spec_id, to, SENT, text, None, None,
                    {"from": sender, "to": to, "routed_from": routed_from})  # fmt: skip


def routed_text(event: Event) -> str | None:
    """The message the overseer gets for an implementor's event; None when it is not
    one routing carries (see :func:`routable`)."""
    meta = event.metadata or {}
    if event.event_type == "task_blocked":
        task = f" on {event.task_id}" if event.task_id else ""
        return f"{event.role}{task}: {event.message}"[: v.MAX_MESSAGE]
    reason = meta.get("reason")
    because = f" (the guard said: {reason})" if reason else ""
    return f"the guard denied {event.role} a tool call: {event.message}{because}"[: v.MAX_MESSAGE]


def routable(event: Event, kinds: Sequence[str]) -> bool:
    """Whether ``event`` goes to the overseer's inbox too, for these ``route_to_overseer``
    kinds (``task_blocked``, ``guard_denied``)."""
    if not event.role.startswith("implementor-"):
        return False
    if event.event_type == "task_blocked":
        return "task_blocked" in kinds
    meta = event.metadata or {}
    return (event.event_type == "guard_decision" and meta.get("decision") == "deny"
            and "guard_denied" in kinds)  # fmt: skip


# ------------------------------------------------------------------------------ reads
def feature_events(store: Store, spec_id: str, types: Sequence[str]) -> list[Event]:
    """The feature's events of these types, oldest first: the store selects them (one
    short transaction, one query), so the feature's other events are never read."""
    with store.transaction() as tx:
        return tx.events(spec_id, types=tuple(types))


def inbox(orch: Orchestrator, spec_id: str, role: str | None = None) -> list[Message]:
    """The feature's messages (to ``role`` only, when given), oldest first."""
    orch.feature(spec_id)
    if role is not None:
        _check_recipient(orch, spec_id, v.check_role(role))
    route(orch)
    found = messages_of(feature_events(orch.store, spec_id, TYPES))
    return [m for m in found if role is None or m.to == role]


def pending(orch: Orchestrator, spec_id: str, role: str) -> list[Message]:
    """The messages to ``role`` not delivered yet, oldest first."""
    route(orch)
    with orch.store.transaction() as tx:
        return pending_of(tx.events(spec_id, role=role, types=TYPES))


# ------------------------------------------------------------------------------ writes
def send(orch: Orchestrator, spec_id: str, to: str, text: str, sender: str) -> Message:
    """Store a message to agent ``to`` of the feature (pending until delivered).

    :raises ValidationError: for a bad role, sender or text (nothing is written).
    :raises NotFoundError: when the feature or the agent does not exist.
    """
    to = v.check_role(to)
    sender = check_sender(sender)
    text = v.check_message(text)
    orch.feature(spec_id)
    _check_recipient(orch, spec_id, to)
    store = orch.store
    orch.check_plugins()
    event = store.append_event(sent_event(spec_id, to, text, sender))
    orch.notify(event)
    return messages_of([event])[0]


def tell(orch: Orchestrator, spec_id: str, to: str, text: str, sender: str,
         nudge: Nudge | None = None) -> Sent:  # fmt: skip
    """:func:`send`, then, when ``nudge`` is given (the launcher's), nudge the agent: it
    types a short line into the pane of an agent that is idle (and only then), which
    starts a turn whose UserPromptSubmit hook delivers the message. A working agent gets
    it from its next hook; one that is not running, when it next runs."""
    message = send(orch, spec_id, to, text, sender)
    if nudge is None:
        return Sent(message, False)
    nudged = nudge(orch, spec_id, message.to, f"New message from {message.sender}: "
                   "read it (claude-orchestrator inbox).")  # fmt: skip
    return Sent(message, False, nudged)


def mark_delivered(orch: Orchestrator, message: Message, how: str) -> bool:
    """Record that ``message`` reached its recipient (``how``: one of :data:`HOWS`);
    False, and nothing written, when it was delivered already (by another hook that
    raced this call, say)."""
    v.check_choice(how, HOWS, "delivery")
    with orch.store.transaction() as tx:
        known = tx.events(message.spec_id, role=message.to, types=TYPES)
        if message.id not in {m.id for m in pending_of(known)}:
            return False
        event = tx.append(delivered_event(message, how))
    orch.notify(event)
    return True


def claim(orch: Orchestrator, spec_id: str, role: str, how: str) -> list[Message]:
    """Every message pending for ``role``, marked delivered by ``how`` in one transaction:
    the caller delivers exactly these (another caller racing it gets none of them)."""
    route(orch)
    with orch.store.transaction() as tx:
        waiting = pending_of(tx.events(spec_id, role=role, types=TYPES))
        written = [tx.append(delivered_event(m, how)) for m in waiting]
    if written:
        orch.notify(*written)
    return waiting


def route(orch: Orchestrator) -> list[Event]:
    """Write the overseer's messages for the implementors' events that
    ``agents.route_to_overseer`` routes, since routing last read (the module docstring):
    the ``message_sent`` events written (none when another process routed them first)."""
    store = orch.store
    cursor = store.delivery_cursor(ROUTE_CURSOR)
    if cursor is None:
        newest = store.recent_events(1)
        start = newest[0].id if newest else 0
        store.move_delivery_cursor(ROUTE_CURSOR, None, start)
        return []
    events = store.events_since(cursor, ROUTE_BATCH)
    if not events:
        return []
    kinds = orch.config.route_to_overseer
    with store.transaction() as tx:
        if tx.delivery_cursor(ROUTE_CURSOR) != cursor:
            return []  # another process routed these
        written = _write_routes(tx, [e for e in events if routable(e, kinds)])
        tx.put_delivery_cursor(ROUTE_CURSOR, events[-1].id)
    if written:
        orch.notify(*written)
    return written


def _write_routes(tx: StoreTransaction, events: Sequence[Event]) -> list[Event]:
    written = []
    overseen: dict[str, bool] = {}
    for event in events:
        if event.spec_id not in overseen:
            overseen[event.spec_id] = any(a.role == "overseer" for a in tx.agents(event.spec_id))
        text = routed_text(event)
        if overseen[event.spec_id] and text:
            routed = sent_event(event.spec_id, "overseer", text, event.role, event.id)
            written.append(tx.append(routed))
    return written


def _check_recipient(orch: Orchestrator, spec_id: str, role: str) -> None:
    roles = [a.role for a in orch.store.list_agents(spec_id)]
    if role not in roles:
        raise NotFoundError(
            f"feature {spec_id} has no agent {role}: use one of {', '.join(roles) or '(none)'} "
            f"(`claude-orchestrator agents {spec_id}` lists them)"
        )
