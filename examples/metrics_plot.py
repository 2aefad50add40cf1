"""Make the README's metrics picture (examples/metrics.png): the cost per agent of an
example feature, drawn by ``claude_orchestrator.metrics_plot`` as ``metrics plot`` draws it.

The feature is made of records, no store needed: an overseer and two implementors over
two working days, each reply's tokens priced with the shipped price table (the overseer
on Opus, the implementors on Sonnet; replies every few minutes, a long prompt now and
then). Needs the extra ``plot`` (matplotlib).

    python examples/metrics_plot.py [OUTPUT.png]
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from claude_orchestrator.metrics_model import CostPoint
from claude_orchestrator.metrics_plot import cost_over_time
from claude_orchestrator.metrics_prices import PriceTable

HERE = Path(__file__).resolve().parent
SPEC = "003-reading-goals"
#: role -> (model, minutes between replies, the day's working hours in UTC)
AGENTS = {
    "overseer": ("claude-opus-4-5-20251101", 25, (8, 18)),
    "implementor-api": ("claude-sonnet-4-5-20250929", 6, (9, 17)),
    "implementor-ui": ("claude-sonnet-4-5-20250929", 8, (10, 19)),
}
DAYS = (datetime(2025, 11, 24, tzinfo=UTC), datetime(2025, 11, 25, tzinfo=UTC))


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def replies(role: str, rng: random.Random) -> list[CostPoint]:
    """One agent's priced replies: mostly cached context, a few thousand new tokens."""
    model, every, (first, last) = AGENTS[role]
    price = PriceTable().price_of(model)
    assert price is not None, model
    points = []
    for day in DAYS:
        when = day + timedelta(hours=first, minutes=rng.uniform(0, 20))
        while when < day + timedelta(hours=last):
            context = rng.randint(20_000, 90_000 if rng.random() < 0.9 else 160_000)
            cost = price.cost(rng.randint(5, 400), rng.randint(150, 2_500),
                              rng.randint(0, 6_000), context)  # fmt: skip
            points.append(CostPoint(stamp(when), role, cost))
            when += timedelta(minutes=rng.expovariate(1 / every))
    return points


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else HERE / "metrics.png"
    rng = random.Random(15)  # noqa: S311 - the same picture every run, no secret
    points = [point for role in AGENTS for point in replies(role, rng)]
    output.write_bytes(cost_over_time(points, title=f"{SPEC}: cost per agent", fmt="png"))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
