"""The BG/NBD reference is the published model: fitted without a penalty, it reproduces the
parameters of Fader, Hardie & Lee (2005) on their CDNOW data (the 2,357-customer summary shipped
inside the ``lifetimes`` package: public data, read from the installed package, never fetched)."""

from pathlib import Path

import lifetimes
import polars as pl
import pytest

from training.bg_nbd import fit_bg_nbd

CDNOW_SUMMARY = Path(lifetimes.__file__).parent / "datasets" / "cdnow_customers_summary.csv"
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}     # "Counting your customers" the easy way, 2005


def test_the_plain_fit_reproduces_the_published_cdnow_parameters():
    cdnow = pl.read_csv(CDNOW_SUMMARY)
    assert cdnow.height == 2357
    model = fit_bg_nbd(cdnow["frequency"].to_numpy(), cdnow["recency"].to_numpy(), cdnow["T"].to_numpy())
    assert model.penalizer_coef == 0.0
    for name, value in PUBLISHED.items():
        assert model.params_[name] == pytest.approx(value, abs=6e-4), name
