"""The BG/NBD model (Fader, Hardie & Lee 2005, as fitted by the ``lifetimes`` package): the
classic reference for "will this customer buy again, and is this customer still alive",
from each customer's purchase history alone.

For each cut-off T, customers are summarised from purchase days before T (a day with purchases
is one transaction): ``frequency`` = repeat purchase days, ``recency`` = days from the first to
the last purchase day, ``T`` = days from the first purchase day to the cut-off. The model is
fitted (in weeks, which keeps its optimiser well scaled) on every customer with a purchase
before T and scores the labelled rows of that cut-off: the expected purchase days within the
horizon (propensity), 1 - P(alive), and P(no purchase within the horizon) (churn). The last is
exact: alive at T, a customer's rate has the posterior Gamma(r + x, alpha + T) and dropping out
needs a purchase, so P(none in t) = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t))^(r + x).
A scored user with no purchase before T gets the values of a customer born at T.

The model is fitted as published: by plain maximum likelihood, no penalty. On the CDNOW data of
the paper (shipped inside ``lifetimes``) that reproduces the published parameters (tested). Only
when the unpenalised fit does not converge is an L2 penalty used, the weakest of
``FALLBACK_PENALIZERS`` that converges, logged as a fallback and saved as ``bg_nbd_penalizer``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import numpy as np
import polars as pl
from lifetimes import BetaGeoFitter
from lifetimes.utils import ConvergenceError

from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.database import connect

from .labels import CUTOFF

log = logging.getLogger(__name__)

EXPECTED_PURCHASES, NOT_ALIVE, NO_PURCHASE = "expected_purchases", "not_alive", "no_purchase"
PENALIZER = "penalizer"       # per scored row: the L2 penalty of its cut-off's fit (0: as published)
FALLBACK_PENALIZERS = (0.001, 0.01, 0.1)    # L2 on the parameters, only when the plain fit fails
DAYS_PER_UNIT = 7.0        # the model's time unit: a week

SUMMARY_SQL = f"""
WITH days AS (
    SELECT DISTINCT user_id, CAST(ts AS DATE) AS day FROM events
    WHERE event_type = 'purchase' AND ts < ?::TIMESTAMPTZ)
SELECT user_id AS {names.USER_ID}, count(*) - 1 AS frequency,
       datediff('day', min(day), max(day)) AS recency,
       datediff('day', min(day), CAST(?::TIMESTAMPTZ AS DATE)) AS T
FROM days GROUP BY user_id
"""


def fit_bg_nbd(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> BetaGeoFitter:
    """The published BG/NBD fit (no penalty); a penalised one only when that does not converge."""
    for penalizer in (0.0, *FALLBACK_PENALIZERS):
        try:
            # quiet: autograd warns of overflows on the way to the optimum, lifetimes prints failed fits
            with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                fitted = BetaGeoFitter(penalizer_coef=penalizer).fit(frequency, recency, age, tol=1e-5)
        except ConvergenceError:
            log.info("BG/NBD did not converge with penalizer %g", penalizer)
            continue
        if penalizer:
            log.warning("BG/NBD fallback: the unpenalised fit did not converge; fitted with L2 penalizer %g", penalizer)
        return fitted
    raise ConvergenceError(f"BG/NBD did not converge unpenalised nor with any penalizer of {FALLBACK_PENALIZERS}")


def bg_nbd_scores(settings: Settings, rows: pl.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """Per row of ``rows`` (user_id, cutoff): expected purchase days within the horizon, the
    probability that the customer is no longer alive, that of no purchase in the horizon, and the
    penalty its cut-off's fit needed (``PENALIZER``)."""
    out = {name: np.zeros(rows.height) for name in (EXPECTED_PURCHASES, NOT_ALIVE, NO_PURCHASE, PENALIZER)}
    horizon = horizon_days / DAYS_PER_UNIT
    indexed = rows.select(names.USER_ID, CUTOFF).with_row_index("row")
    with connect(settings.warehouse_path) as con:
        for (cutoff,), part in indexed.group_by(CUTOFF, maintain_order=True):
            history = con.sql(SUMMARY_SQL, params=[cutoff, cutoff]).pl()
            fitted = history.filter(pl.col("T") > 0)
            model = fit_bg_nbd(fitted["frequency"].to_numpy(), fitted["recency"].to_numpy() / DAYS_PER_UNIT,
                               fitted["T"].to_numpy() / DAYS_PER_UNIT)
            log.info("BG/NBD at %s on %d customers (penalizer %g): %s", cutoff, fitted.height,
                     model.penalizer_coef, {k: round(float(v), 4) for k, v in model.params_.items()})
            scored = part.join(history, on=names.USER_ID, how="left").sort("row").with_columns(
                pl.col("frequency", "recency", "T").fill_null(0))
            frequency = scored["frequency"].to_numpy().astype(float)
            recency, age = (scored[c].to_numpy() / DAYS_PER_UNIT for c in ("recency", "T"))
            at = scored["row"].to_numpy()
            out[EXPECTED_PURCHASES][at] = model.conditional_expected_number_of_purchases_up_to_time(
                horizon, frequency, recency, age)
            alive = model.conditional_probability_alive(frequency, recency, age)
            r, alpha = model.params_["r"], model.params_["alpha"]
            quiet_if_alive = ((alpha + age) / (alpha + age + horizon)) ** (r + frequency)
            out[PENALIZER][at] = model.penalizer_coef
            out[NOT_ALIVE][at] = 1 - alive
            out[NO_PURCHASE][at] = 1 - alive + alive * quiet_if_alive
    return out
