"""The price table's 1-hour cache writes (:mod:`claude_orchestrator.metrics_prices`): the
shipped rates (2 x input, as Claude Code 2.1.330 and ccusage charge them), the
long-context rate, the config's ``cache_write_1h`` (and its default), and
:meth:`Price.cost` charging the 1-hour part of the cache writes at its rate, the rest at
the 5-minute one (exact figures, and Hypothesis: the cost is the 5-minute cost plus the
difference of the rates on the 1-hour part)."""

from __future__ import annotations

import math

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from claude_orchestrator.metrics_prices import (
    LONG_CONTEXT,
    SHIPPED,
    Price,
    PriceTable,
    configured,
)
from claude_orchestrator.metrics_schema import PRICES


def test_claude_code_s_default_model_writes_an_hour_at_8_dollars() -> None:
    """Measured: claude-opus-5-5, 100,000 1-hour cache-write tokens, total_cost_usd 0.80."""
    price = PriceTable().price_of("claude-opus-5-5")
    assert price is not None and price.write_1h == 8.0
    assert price.cost(0, 0, 100_000, 0, 100_000) == pytest.approx(0.80)
    assert price.cost(0, 0, 100_000, 0) == pytest.approx(0.50)  # 5-minute writes


@pytest.mark.parametrize(
    ("model", "rate"),
    [("claude-sonnet-4-5-20250929", 6.0), ("claude-haiku-4-5-20251001", 2.0),
     ("claude-opus-4-6", 10.0), ("claude-3-5-haiku-20241022", 1.6), ("claude-3-haiku", 0.5)],
)  # fmt: skip
def test_every_shipped_model_writes_an_hour_at_twice_its_input(model: str, rate: float) -> None:
    price = PriceTable().price_of(model)
    assert price is not None and price.write_1h == pytest.approx(rate)
    for shipped in SHIPPED.values():
        assert shipped.write_1h == pytest.approx(2 * shipped.input)


def test_exact_costs_with_one_hour_writes() -> None:
    """sonnet 4.5: 3 / 15 / 3.75 (5 min) / 6.00 (1 h) / 0.30; above 200,000 input tokens
    the whole request at 6 / 22.5 / 7.50 / 12.00 / 0.60."""
    price = PriceTable().price_of("claude-sonnet-4-5")
    assert price is not None
    assert price.cost(1000, 200, 8000, 10_000, 3000) == pytest.approx(
        (1000 * 3 + 200 * 15 + 5000 * 3.75 + 3000 * 6 + 10_000 * 0.3) / 1e6
    )
    assert price.cost(1000, 200, 8000, 10_000, 3000) > price.cost(1000, 200, 8000, 10_000)
    big = LONG_CONTEXT  # with the 1,000 input and the writes: above it
    assert price.cost(1000, 200, 8000, big, 8000) == pytest.approx(
        (1000 * 6 + 200 * 22.5 + 8000 * 12 + big * 0.6) / 1e6
    )


def test_the_config_sets_the_one_hour_rate_or_it_is_twice_input() -> None:
    prices = {"claude-x": {"input": 3, "output": 15, "cache_write_1h": 7.5},
              "claude-y": {"input": 2, "output": 10}}  # fmt: skip
    jsonschema.validate(prices, PRICES)
    table = PriceTable(configured(prices))
    x, y = table.price_of("claude-x"), table.price_of("claude-y")
    assert x is not None and y is not None
    assert (x.write_1h, x.cache_write, y.write_1h, y.cache_write) == (7.5, 3.75, 4.0, 2.5)
    assert x.cost(0, 0, 1_000_000, 0, 400_000) == pytest.approx(600_000 * 3.75 / 1e6 + 3.0)
    assert Price(1.0, 2.0, 3.0, 4.0).write_1h == 2.0  # a Price made without it
    for bad in (-1, 10_001, "8"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"claude-x": {"input": 3, "output": 15, "cache_write_1h": bad}},
                                PRICES)  # fmt: skip


counts = st.integers(0, 10**9)


@given(counts, counts, counts, counts, st.data(),
       st.sampled_from(sorted(SHIPPED)))  # fmt: skip
def test_the_one_hour_part_costs_the_difference_of_the_rates_more(
    input_tokens: int, output: int, writes: int, reads: int, data: st.DataObject, name: str
) -> None:
    price = SHIPPED[name]
    one_hour = data.draw(st.integers(0, writes))
    long = price.long is not None and input_tokens + writes + reads > LONG_CONTEXT
    rates = price.long if long and price.long is not None else price
    extra = one_hour * (rates.write_1h - rates.cache_write) / 1e6
    both = price.cost(input_tokens, output, writes, reads, one_hour)
    assert math.isclose(both, price.cost(input_tokens, output, writes, reads) + extra,
                        rel_tol=1e-9, abs_tol=1e-12)  # fmt: skip
