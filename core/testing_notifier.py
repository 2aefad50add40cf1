"""The notifier contract (re-exported by :mod:`claude_orchestrator.testing`).

Subclass :class:`NotifierContract`, provide a ``notifier`` fixture (and, optionally,
:meth:`~NotifierContract.delivered` to read back what it recorded), run pytest. The
events it sends belong to :data:`~claude_orchestrator.testing_store.SPEC`; a notifier
that renders a feature's state needs that feature in its store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .errors import OrchestratorError
from .models import Event
from .protocols import INLINE, OUTBOX, Notifier
from .testing_store import SPEC

EVENT_TYPES = (
    "task_started",
    "task_completed",
    "task_blocked",
    "status_update",
    "pr_opened",
    "pr_merged",
    "conflict_detected",
    "conflict_resolved",
    "guard_decision",
    "my_custom_type",
)


def sample_events(spec_id: str = SPEC) -> list[Event]:
    """One event of every built-in kind and a custom one, ids 1, 2, ..."""
    return [
        Event(
            i + 1,
            spec_id,
            "implementor-data",
            t,
            f"message {i} ünïcode",
            "T001" if i % 2 else None,
            None,
            {"n": i} if i % 3 else None,
            "2026-01-01T00:00:00.000Z",
        )
        for i, t in enumerate(EVENT_TYPES)
    ]


class NotifierContract:
    """Behaviour every :class:`~claude_orchestrator.protocols.Notifier` must have."""

    @pytest.fixture
    def notifier(self) -> Notifier:  # pragma: no cover - subclasses provide it
        pytest.fail("subclasses of this contract provide a `notifier` fixture")

    def delivered(self, notifier: Notifier) -> list[int] | None:
        """Ids of the events the notifier has recorded, oldest first (None: unknown)."""
        return None

    def test_satisfies_protocol(self, notifier: Notifier) -> None:
        assert isinstance(notifier, Notifier)

    def test_says_how_it_is_delivered(self, notifier: Notifier) -> None:
        assert getattr(notifier, "delivery", INLINE) in (INLINE, OUTBOX)

    def test_accepts_every_event_type_and_flushes(self, notifier: Notifier) -> None:
        events = sample_events()
        for event in events:
            try:
                notifier.notify(event)
            except OrchestratorError:  # pragma: no cover - the assertion explains
                pytest.fail(f"notifier raised on {event.event_type}")
        flush = getattr(notifier, "flush", None)
        written = flush() if flush is not None else None
        assert written is None or all(isinstance(Path(p), Path) for p in written)
        recorded = self.delivered(notifier)
        if recorded is not None:
            assert recorded == [e.id for e in events]

    def test_a_flush_with_nothing_new_is_harmless(self, notifier: Notifier) -> None:
        flush = getattr(notifier, "flush", None)
        if flush is None:
            pytest.skip("the notifier has no flush()")
        flush()
        again = flush()
        assert not again  # nothing noted since: nothing written
        recorded = self.delivered(notifier)
        if recorded is not None:
            assert recorded == []

    def test_changed_features_are_accepted(self, notifier: Notifier) -> None:
        changed = getattr(notifier, "changed", None)
        if changed is None:
            pytest.skip("the notifier has no changed()")
        changed(SPEC)
        flush = getattr(notifier, "flush", None)
        if flush is not None:
            flush()
