"""The display order's estimate from clicks is unbiased: on pages whatever policy ordered, an item's
click over the examination of its position estimates its attraction, so the estimated clicks of
any reordering match its true expected clicks; the truth's table puts the oracle on top."""

import numpy as np
import polars as pl

from training.tasks.display_order import ORACLE, PAGE_ID, SLOTS, estimated_clicks, expected_clicks

SIZE = 20
EXAMINATION = np.arange(1, SIZE + 1) ** -0.9


def _pages(n: int, rng) -> pl.DataFrame:
    """``n`` pages of SIZE items, shown by a policy that favours the most attractive (so exposure
    is biased), clicked by attraction times examination."""
    attraction = rng.beta(2, 6, (n, SIZE))
    shown_order = np.argsort(-(attraction + rng.normal(0, 0.1, (n, SIZE))), axis=1)
    attraction = np.take_along_axis(attraction, shown_order, axis=1)          # position 1 = column 0
    clicked = rng.random((n, SIZE)) < attraction * EXAMINATION
    return pl.DataFrame({PAGE_ID: np.repeat(np.arange(n), SIZE), "position": np.tile(np.arange(1, SIZE + 1), n),
                         "attraction": attraction.reshape(-1), "clicked": clicked.reshape(-1),
                         "price": rng.random(n * SIZE)})


def test_estimated_clicks_of_a_reordering_match_its_true_expected_clicks():
    pages = _pages(40_000, np.random.default_rng(0))
    table = expected_clicks(pages, {"by price": "price", "as shown": "position"}, EXAMINATION, EXAMINATION)
    for name in ("by price", "as shown", ORACLE):
        row = table[name]
        assert abs(row[f"estimated_clicks_at_{SLOTS}"] - row[f"clicks_at_{SLOTS}"]) < 0.02 * row[f"clicks_at_{SLOTS}"], name
    assert table[ORACLE]["share_of_oracle"] == 1.0
    assert table["by price"]["share_of_oracle"] < table["as shown"]["share_of_oracle"] < 1.0


def test_the_estimate_reads_only_the_first_slots_of_the_order():
    pages = _pages(50, np.random.default_rng(1))
    reversed_order = estimated_clicks(pages, pages["position"].to_numpy().astype(float), EXAMINATION)
    last_ten = pages.filter(pl.col("position") > SIZE - SLOTS)
    by_hand = (last_ten["clicked"].to_numpy() / EXAMINATION[last_ten["position"].to_numpy() - 1]
               * EXAMINATION[SIZE - last_ten["position"].to_numpy()]).sum() / 50
    assert reversed_order == by_hand
