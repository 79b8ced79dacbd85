"""The forecast's time splits and its weekly-to-daily spread: origins are purged, every split
has what it asks for or the error says why, and a week's units are kept when spread over days."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from training.sales import NO_CATEGORY, SalesPanel, daily_forecast, forecast_origins, weekday_shares, weekly_targets


@pytest.mark.parametrize("days, horizon, every", [(180, 28, 7), (180, 28, 1), (70, 7, 7), (374, 14, 3)])
def test_no_label_reads_the_split_after_it(days, horizon, every):
    origins = forecast_origins(days, horizon, validation=2, test=3, min_history=14, train_every=every)
    assert origins["test"][-1] == days - horizon                       # the latest horizon the panel covers
    assert np.all(np.diff(origins["test"]) == 7) and np.all(np.diff(origins["validation"]) == 7)
    assert origins["validation"][-1] + horizon <= origins["test"][0]
    assert origins["train"][-1] + horizon <= origins["validation"][0]
    assert origins["refit"][-1] + horizon <= origins["test"][0]
    assert min(origins["train"]) >= 14 and set(origins["train"]) <= set(origins["refit"])


def test_too_short_a_panel_is_refused_with_what_it_lacks():
    with pytest.raises(ValueError, match="cannot make 4 test and 4 validation origins"):
        forecast_origins(100, 28, validation=4, test=4, min_history=28)


def test_weekly_targets_and_the_daily_spread_keep_the_units():
    rng = np.random.default_rng(0)
    units = rng.poisson(1.0, (3, 42)).astype(float)
    panel = SalesPanel(item_ids=np.array([1, 2, 3]), categories=np.array(["a", "b", NO_CATEGORY], dtype=object),
                       first_day=date(2026, 1, 5), units=units, revenue=2 * units,
                       launch=np.array([-3, 0, 10]))
    weekly = weekly_targets(panel, 14, 2)
    assert weekly.tolist() == [[units[i, 14:21].sum(), units[i, 21:28].sum()] for i in range(3)]
    shares = weekday_shares(panel, 28)
    assert all(sum(s) == pytest.approx(1.0) for s in shares.values())
    daily = daily_forecast(weekly, panel.categories, shares, panel.day(14).weekday(), 14)
    np.testing.assert_allclose(daily.reshape(3, 2, 7).sum(axis=2), weekly)
    unseen = daily_forecast(weekly[:1], np.array(["new"], dtype=object), shares, 0, 7)    # the shop's profile
    np.testing.assert_allclose(unseen.sum(), weekly[0, 0])
