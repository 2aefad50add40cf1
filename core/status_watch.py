"""``events status --watch``: the status table kept up to date in the terminal.

The table is read again whenever events are committed (the store's change feed,
:meth:`~claude_orchestrator.api.Orchestrator.subscribe`) and at least every
``interval`` seconds (what changes without an event, an agent's state, shows too).
On a terminal it is redrawn in place (rich's ``Live``); on a pipe or a file each table
that differs from the one before is printed once, under a line naming the last event it
includes, so a log of the output reads as a history. Ctrl-C ends it (not an error).

rich is imported only when a terminal is drawn on (about 45 ms), never for the pipe.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TextIO

from .errors import ValidationError
from .render import STATUS_HEADERS, render_status, status_rows

if TYPE_CHECKING:
    from rich.console import RenderableType

    from .api import Orchestrator
    from .feed import Subscription
    from .models import AgentStatus

#: seconds between two readings of the store when no event comes, by default
INTERVAL_S = 2.0
#: the shortest and longest interval one may ask for
MIN_INTERVAL_S = 0.1
MAX_INTERVAL_S = 3600.0
#: events read per batch from the feed: only their arrival matters here
BATCH = 1000


def check_interval(value: float) -> float:
    """``--interval``: seconds, from :data:`MIN_INTERVAL_S` to :data:`MAX_INTERVAL_S`."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
        raise ValidationError(
            f"invalid --interval {value!r}: give the seconds between two redraws, from "
            f"{MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g}"
        )
    return float(value)


def check_watch_options(watch: bool, interval: float | None, as_json: bool) -> float | None:
    """The interval ``events status`` redraws at (None: it does not watch); refuses
    ``--watch --json`` and ``--interval`` without ``--watch``."""
    if as_json and watch:
        raise ValidationError(
            "--watch draws a table for a person and --json prints one document: for "
            "events as JSON while they come, use `claude-orchestrator events watch --json`"
        )
    if interval is not None and not watch:
        raise ValidationError("--interval sets how often --watch redraws: add --watch")
    if not watch:
        return None
    return INTERVAL_S if interval is None else check_interval(interval)


class Reading(NamedTuple):
    """One reading of the status: the rows, and the id of the newest event they include."""

    rows: list[AgentStatus]
    last_id: int


def piped_block(reading: Reading) -> str:
    """What the pipe gets for one table: a line naming the last event, the table, a blank line."""
    return f"status after event #{reading.last_id}:\n{render_status(reading.rows)}\n\n"


def terminal_view(reading: Reading) -> RenderableType:
    """The table rich draws on a terminal: the same columns and cells as ``events status``."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    rows = reading.rows
    if not rows:
        return Text(render_status(rows))
    features: dict[str, AgentStatus] = {}
    for row in rows:
        features.setdefault(row.spec_id, row)
    head = [Text(f"{f.spec_id}: {f.name} [{f.feature_status}]") for f in features.values()]
    table = Table(*STATUS_HEADERS, caption=_caption(reading), caption_justify="left")
    for cells in status_rows(rows):
        table.add_row(*(Text("-" if c is None or c == "" else str(c)) for c in cells))
    return Group(*head, table)


def _caption(reading: Reading) -> str:
    return f"after event #{reading.last_id}; Ctrl-C to stop"


def watch_status(
    library: Orchestrator,
    spec_id: str | None,
    interval: float,
    *,
    stream: TextIO | None = None,
    terminal: bool | None = None,
) -> None:
    """Show ``events status [SPEC]`` and keep it current until interrupted.

    :param stream: where to write (standard output by default).
    :param terminal: redraw in place (rich) rather than print each change; by default,
        whether ``stream`` is a terminal.
    :raises ValidationError, NotFoundError: before anything is shown, for a bad interval
        or a feature that does not exist.
    Returns on Ctrl-C (the way to stop watching: not an error), the terminal left tidy.
    """
    interval = check_interval(interval)
    out = sys.stdout if stream is None else stream
    rows = library.status(spec_id)  # a missing feature is refused before anything is drawn
    with library.subscribe(None, limit=BATCH) as feed:
        first = Reading(rows, feed.last_id)
        on_terminal = out.isatty() if terminal is None else terminal
        show = _live if on_terminal else _printed
        with contextlib.suppress(KeyboardInterrupt):
            show(first, lambda: _next(library, spec_id, feed, interval), out)


def _next(
    library: Orchestrator, spec_id: str | None, feed: Subscription, interval: float
) -> Reading:
    """The next reading: after the next events are committed, or ``interval`` seconds."""
    feed.wait(interval)
    return Reading(library.status(spec_id), feed.last_id)


def _printed(first: Reading, following: Callable[[], Reading], out: TextIO) -> None:
    shown = piped_block(first)
    _write(out, shown)
    while True:
        block = piped_block(following())
        if _table_of(block) != _table_of(shown):
            _write(out, block)
        shown = block


def _table_of(block: str) -> str:
    return block.split("\n", 1)[1]  # without the line naming the last event


def _write(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()  # a reader on a pipe sees each table as it comes


def _live(first: Reading, following: Callable[[], Reading], out: TextIO) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console(file=out, force_terminal=True, highlight=False)
    with Live(terminal_view(first), console=console, auto_refresh=False) as live:
        while True:
            live.update(terminal_view(following()), refresh=True)
