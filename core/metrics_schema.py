"""The JSON Schema of ``budgets:`` and ``prices:`` in ``orchestrator.yaml`` (part of
:data:`claude_orchestrator.config_schema.SCHEMA`).

``budgets`` caps what a feature, one agent and one task may cost, in US dollars; crossing
80% and 100% of a cap records a ``budget_warning`` / ``budget_exceeded`` event
(:mod:`claude_orchestrator.metrics_budget`), and ``on_exceed: stop`` also stops the agents
the launcher started that the exceeded budget covers. ``prices`` adds or replaces entries
of the shipped price table (:mod:`claude_orchestrator.metrics_prices`), per million
tokens.
"""

from __future__ import annotations

from typing import Any

#: a model name as a transcript gives it, or its family (``claude-sonnet-4-5``)
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:@/\[\]-]{0,99}$"
MAX_DOLLARS = 1_000_000


def _dollars(what: str) -> dict[str, Any]:
    return {
        "type": ["number", "null"],
        "exclusiveMinimum": 0,
        "maximum": MAX_DOLLARS,
        "description": f"{what}, in US dollars (more than 0, at most {MAX_DOLLARS:,}; "
        "null: no cap)",
    }


def _rate(what: str, default: str = "") -> dict[str, Any]:
    return {
        "type": "number",
        "minimum": 0,
        "maximum": 10_000,
        "description": f"US dollars per million {what} tokens, 0 to 10,000{default}",
    }


BUDGETS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "cost caps: feature, agent and task (US dollars), on_exceed",
    "properties": {
        "feature": _dollars("what one feature may cost in all"),
        "agent": _dollars("what one agent of a feature may cost"),
        "task": _dollars("what one task may cost"),
        "on_exceed": {
            "enum": ["warn", "stop"],
            "description": "warn (the default): record budget_exceeded; stop: also stop the "
            "agents the exceeded budget covers (those `up` started)",
        },
    },
}

_PRICE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["input", "output"],
    "description": "a model's prices: input, output, cache_write, cache_read, cache_write_1h",
    "properties": {
        "input": _rate("input"),
        "output": _rate("output"),
        "cache_write": _rate("cache-write (cache-creation)", " (default 1.25 x input)"),
        "cache_read": _rate("cache-read", " (default 0.1 x input)"),
        "cache_write_1h": _rate("1-hour cache-write", " (default 2 x input)"),
    },
}

PRICES: dict[str, Any] = {
    "type": "object",
    "maxProperties": 200,
    "description": "prices per model, replacing the shipped table's entry (per million "
    "tokens, US dollars)",
    "propertyNames": {
        "pattern": MODEL_NAME,
        "description": "a model name (e.g. claude-sonnet-4-5 or claude-sonnet-4-5-20250929)",
    },
    "additionalProperties": _PRICE,
}
