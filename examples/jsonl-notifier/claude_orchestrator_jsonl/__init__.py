"""A third-party claude-orchestrator plugin: append every event to a JSON Lines file.

Enable it in orchestrator.yaml::

    plugins:
      notifiers: [jsonl]
      options:
        jsonl: {path: events.jsonl}   # relative to the repository root

Without a path it writes ``events.jsonl`` beside the event store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from claude_orchestrator import hookimpl
from claude_orchestrator.errors import ConfigError
from claude_orchestrator.models import Event
from claude_orchestrator.protocols import PluginContext, Register

__version__ = "1.0.0"


class JsonlNotifier:
    """Appends one JSON object per event; each line is one ``write()`` with O_APPEND,
    so concurrent writers never interleave within a line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def from_context(cls, context: PluginContext) -> JsonlNotifier:
        unknown = sorted(set(context.options) - {"path"})
        if unknown:
            raise ConfigError(
                f"plugins.options.jsonl: unknown option {unknown[0]!r} (allowed: path)"
            )
        raw = context.options.get("path")
        if raw is None:
            return cls(context.store_path.with_name("events.jsonl"))
        if not isinstance(raw, str) or not raw:
            raise ConfigError("plugins.options.jsonl.path: give a file path as a string")
        path = Path(raw)
        return cls(path if path.is_absolute() else context.root / path)

    def notify(self, event: Event) -> None:
        line = json.dumps(event._asdict(), ensure_ascii=False, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)


@hookimpl
def register_notifiers(register: Register) -> None:
    register("jsonl", JsonlNotifier.from_context, description="append events to a JSONL file")
