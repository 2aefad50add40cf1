"""What model tokens cost: the shipped price table and the config's ``prices:``.

Rates are US dollars per million tokens as of :data:`PRICES_DATE`: input, output, cache
write (a 5-minute cache write, 1.25 x input), cache read, and a 1-hour cache write (2 x
input, as Claude Code and ccusage charge it: ``claude-opus-5-5`` 8.00). They are
Anthropic's list prices, checked against what the pinned Claude Code CLI (2.1.330)
charges in its own ``total_cost_usd`` for each model it knows (``claude-opus-5-5``, its
default, reads cache at 0.05 x input, not the usual 0.1 x) and against ccusage's offline
table, which agrees for every model both know. Models with a long-context price (the
Sonnet 4 family: more than 200,000 input tokens in one request) charge the whole request
at that price, as the price list does (ccusage charges only the tokens above 200,000 at
it, and Claude Code never does: without the 1M-context beta such a request is refused).

A model name is matched by its family (:func:`family`): ``claude-sonnet-4-5-20250929``,
``anthropic/claude-sonnet-4-5``, ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` and
``claude-sonnet-4-5@20250929`` are all ``claude-sonnet-4-5``. The config's ``prices``
entries replace the shipped ones, by exact name first, then by family. A model found in
neither is **unknown**: :func:`price_of` returns None and the reports list it, with its
tokens, instead of pricing it at zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

#: the day the shipped rates were taken from Anthropic's price list
PRICES_DATE = "2026-12-02"
#: above this many input tokens (input + cache write + cache read) in one request, a
#: model with a long-context price charges the whole request at it
LONG_CONTEXT = 200_000
MILLION = 1_000_000


class Price(NamedTuple):
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float
    #: the long-context price (more than :data:`LONG_CONTEXT` input tokens), if any
    long: Price | None = None
    #: a 1-hour cache write; None: 2 x input (:attr:`write_1h`)
    cache_write_1h: float | None = None

    @property
    def write_1h(self) -> float:
        """The 1-hour cache-write rate: :attr:`cache_write_1h`, else 2 x input."""
        return self.input * 2 if self.cache_write_1h is None else self.cache_write_1h

    def cost(self, input_tokens: int, output_tokens: int, cache_write: int,
             cache_read: int, cache_write_1h: int = 0) -> float:  # fmt: skip
        """The cost in US dollars of one request with these tokens: ``cache_write_1h``
        of its ``cache_write`` tokens (at most all) at the 1-hour rate, the rest at the
        5-minute one."""
        rates = self
        if self.long is not None and input_tokens + cache_write + cache_read > LONG_CONTEXT:
            rates = self.long
        one_hour = min(max(cache_write_1h, 0), cache_write)
        return (
            input_tokens * rates.input
            + output_tokens * rates.output
            + (cache_write - one_hour) * rates.cache_write
            + one_hour * rates.write_1h
            + cache_read * rates.cache_read
        ) / MILLION


def _price(input_rate: float, output_rate: float, long: Price | None = None) -> Price:
    # rounded: 0.8 * 0.1 is 0.08000000000000002 in binary floating point
    return Price(input_rate, output_rate, round(input_rate * 1.25, 9),
                 round(input_rate * 0.1, 9), long, round(input_rate * 2, 9))  # fmt: skip


_SONNET_4 = _price(3.0, 15.0, long=_price(6.0, 22.5))

#: family -> price, as of :data:`PRICES_DATE`
SHIPPED: dict[str, Price] = {
    "claude-opus-5-5": Price(4.0, 20.0, 5.0, 0.2, cache_write_1h=8.0),
    "claude-sonnet-5": _price(2.0, 10.0),
    "claude-opus-4-8": _price(5.0, 25.0),
    "claude-opus-4-7": _price(5.0, 25.0),
    "claude-opus-4-6": _price(5.0, 25.0),
    "claude-sonnet-4-6": _price(3.0, 15.0),
    "claude-opus-4-5": _price(5.0, 25.0),
    "claude-opus-4-1": _price(15.0, 75.0),
    "claude-opus-4": _price(15.0, 75.0),
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4": _SONNET_4,
    "claude-haiku-4-5": _price(1.0, 5.0),
    "claude-3-7-sonnet": _price(3.0, 15.0),
    "claude-3-5-sonnet": _price(3.0, 15.0),
    "claude-3-5-haiku": _price(0.8, 4.0),
    "claude-3-opus": _price(15.0, 75.0),
    "claude-3-haiku": Price(0.25, 1.25, 0.30, 0.03, cache_write_1h=0.5),
}

_PROVIDER = re.compile(r"^(?:[a-z]{2,4}\.)?(?:anthropic[./])")
_VERSION = re.compile(r"(?:-v\d+(?::\d+)?|\[1m\])$")
_DATE = re.compile(r"(?:[-@]\d{8}|-latest)$")


def family(model: str) -> str:
    """The model's family name: lower case, without a provider prefix, a date, a
    ``-latest``, a Bedrock version or a ``[1m]`` context suffix."""
    name = model.strip().lower()
    name = _PROVIDER.sub("", name, count=1)
    name = _VERSION.sub("", name, count=1)
    return _DATE.sub("", name, count=1)


def configured(prices: Mapping[str, Mapping[str, Any]]) -> dict[str, Price]:
    """The config's ``prices`` (validated by the schema) as :class:`Price` by name."""
    table = {}
    for name, entry in prices.items():
        rate = float(entry["input"])
        one_hour = float(entry.get("cache_write_1h", rate * 2))
        table[name] = Price(rate, float(entry["output"]),
                            float(entry.get("cache_write", round(rate * 1.25, 9))),
                            float(entry.get("cache_read", round(rate * 0.1, 9))), None,
                            one_hour)  # fmt: skip
    return table


class PriceTable:
    """The shipped table with the config's entries over it."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._families = {family(name): price for name, price in self.overrides.items()}

    def price_of(self, model: str) -> Price | None:
        """The model's price, or None when neither the config nor the shipped table
        knows it."""
        if model in self.overrides:
            return self.overrides[model]
        name = family(model)
        found = self._families.get(name)
        return found if found is not None else SHIPPED.get(name)

    def source_of(self, model: str) -> str | None:
        """Where the model's price comes from: ``config``, ``shipped <date>`` or None."""
        if model in self.overrides or family(model) in self._families:
            return "config"
        return f"shipped {PRICES_DATE}" if family(model) in SHIPPED else None
