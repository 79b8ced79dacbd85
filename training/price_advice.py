"""Price advice from each category's estimated elasticity, and its judge, the what-if shop.

With a constant elasticity e, moving every price of a category by a factor m moves its units by
m ** e and its revenue by m ** (1 + e): a cut raises revenue where e < -1, a rise where e > -1,
and within a band [1 - band, 1 + band] of today's prices the best move is at the band's edge.
No costs are known, so revenue stands for margin. The advice moves a category only when the
estimate's interval lies wholly on one side of -1, and rises can be switched off
(``allow_rises``): a rise also drives customers away over the following weeks, which the
short-run elasticity does not see and the what-if shop counts.

``price_whatif`` continues the simulated shop for four weeks from the end of its data under the
advice, under the same rule applied to the true elasticities, and as it was, on the same random
numbers (``shopml.warehouse.simulator.whatif``): revenue, units and churned customers, each
difference with its interval over repeated futures.
"""

from __future__ import annotations

import numpy as np

from shopml.settings import Settings

ELASTIC = -1.0      # below it a cut raises revenue, above it a rise does


def advise(found: dict[str, float], band: float, allow_rises: bool) -> tuple[float, str]:
    """The price factor for a category whose elasticity interval is ``found`` (low, high), and why:
    1 - band where the whole interval is below -1, 1 + band where it is above (if rises are
    allowed), else 1."""
    if found["high"] < ELASTIC:
        return 1 - band, "elastic"
    if found["low"] > ELASTIC:
        return (1 + band, "inelastic") if allow_rises else (1.0, "rises not allowed")
    return 1.0, "uncertain"


def category_moves(elasticities: dict[str, dict[str, float]], band: float, allow_rises: bool) -> dict[str, float]:
    """Per category, the price factor the advice sets."""
    return {category: advise(found, band, allow_rises)[0] for category, found in elasticities.items()}


def expected_change(factor: float, elasticity: float) -> tuple[float, float]:
    """The relative change in units and in revenue of moving prices by ``factor``."""
    return factor ** elasticity - 1, factor ** (1 + elasticity) - 1


ADVICE, ADVICE_CUTS, TRUE, TRUE_CUTS = ("advice, rises allowed", "advice, cuts only", "true elasticities, rises allowed",
                                       "true elasticities, cuts only")


def price_whatif(settings: Settings, elasticities: dict[str, dict[str, float]], band: float, horizon: int = 28,
                 seeds: int = 20, days_before_end: int = 0) -> dict[str, dict[str, float]]:
    """The what-if table: per arm (status quo, the advice with and without rises, the same rule on
    the true elasticities, with and without rises) revenue, units, churned customers and value over
    ``horizon`` days from ``days_before_end`` days before the end of the simulated data, with the
    change from the status quo and its 95% interval."""
    from datetime import timedelta

    from shopml.warehouse.simulator import vocabulary
    from shopml.warehouse.simulator.whatif import Policy, compare

    from .oracle import category_elasticities, whatif_start

    config, cutoff, world = whatif_start(settings, days_before_end)
    truth = category_elasticities(settings, config.start + timedelta(days=cutoff - 28),
                                  config.start + timedelta(days=cutoff - 1))
    names = np.array(vocabulary.CATEGORIES)[world.catalog.category]

    def policy(moves: dict[str, float]) -> Policy:
        return Policy(prices=np.array([moves.get(str(category), 1.0) for category in names]))

    point = {c: {"low": e, "high": e} for c, e in truth.items()}
    arms = {ADVICE: category_moves(elasticities, band, True), ADVICE_CUTS: category_moves(elasticities, band, False),
            TRUE: category_moves(point, band, True), TRUE_CUTS: category_moves(point, band, False)}
    return compare(world, cutoff, horizon, {name: policy(moves) for name, moves in arms.items()}, seeds)
