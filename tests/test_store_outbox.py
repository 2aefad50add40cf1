"""The event feed and the delivery cursors the outbox reads by: a compare-and-set that
behaves as a dict would (Hypothesis, on SQLite and on the memory store), and holds
between processes writing one SQLite file at once."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_orchestrator.errors import ValidationError
from claude_orchestrator.plugins.sqlite_port import SQLiteStore

from .test_store_memory import memory_store

CONSUMERS = ["webhook", "slack", ""]
_moves = st.lists(
    st.tuples(
        st.sampled_from(CONSUMERS),
        st.one_of(st.none(), st.integers(min_value=0, max_value=6)),
        st.integers(min_value=-1, max_value=8),
    ),
    min_size=1,
    max_size=25,
)


def _replay(store: Any, moves: list[tuple[str, int | None, int]]) -> list[object]:
    """Each move's outcome (True, False, or the refusal) and the cursors after each."""
    seen: list[object] = []
    for consumer, expected, new in moves:
        try:
            seen.append(store.move_delivery_cursor(consumer, expected, new))
        except ValidationError:
            seen.append("refused")
        seen.append({c: store.delivery_cursor(c) for c in CONSUMERS})
    return seen


def _model(moves: list[tuple[str, int | None, int]]) -> list[object]:
    cursors: dict[str, int] = {}
    seen: list[object] = []
    for consumer, expected, new in moves:
        if not consumer or new < 0 or (expected is not None and new < expected):
            seen.append("refused")
        elif cursors.get(consumer) != expected:
            seen.append(False)
        else:
            cursors[consumer] = new
            seen.append(True)
        seen.append({c: cursors.get(c) for c in CONSUMERS})
    return seen


@settings(max_examples=60, deadline=None)
@given(moves=_moves)
def test_cursors_move_as_a_compare_and_set(moves: list[tuple[str, int | None, int]]) -> None:
    expected = _model(moves)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStore(Path(tmp) / "events.db")
        sqlite.initialize()
        try:
            assert _replay(sqlite, moves) == expected
        finally:
            sqlite.close()
    memory = memory_store()
    memory.initialize()
    assert _replay(memory, moves) == expected


RACER = """
import sys
from claude_orchestrator.plugins.sqlite_port import SQLiteStore
store = SQLiteStore(sys.argv[1])
moved = 0
for _ in range(40):
    current = store.delivery_cursor("race")
    moved += store.move_delivery_cursor("race", current, (current or 0) + 1)
print(moved)
"""


def test_processes_racing_for_one_cursor_never_lose_a_move(tmp_path: Path) -> None:
    """Each process moves the cursor by one per success: the cursor is their sum."""
    db = tmp_path / "events.db"
    SQLiteStore(db).initialize()
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, str(db)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    moved = [int(racer.communicate(timeout=120)[0]) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    store = SQLiteStore(db)
    assert store.delivery_cursor("race") == sum(moved)
    assert sum(moved) >= 40  # one process alone would have moved it 40 times
    store.close()
