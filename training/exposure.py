"""Learning to rank from logs that record how each item came to be shown.

A shop's engine shows most traffic by its production ranking and a small share by a randomised
policy (its exploration traffic), and logs every shown item's position (and its propensity). Its
clicks are biased twice: by position (a shopper examines the top more) and by exposure (the
ranking only ever shows what it already likes). The exploration slice shows random items in
random order, so there the click rate by position measures the examination curve, and every item
had the same chance to be shown.

The learners a ranking task chooses among, on its validation data:

- ``shown``: LightGBM's unbiased lambdarank on every shown result (``Dataset(position=...)``: it
  learns the position bias beside the ranking), the production ranking's exposure left as is;
- ``explored``: the exploration slice alone, each click weighted by the inverse of the measured
  examination at its position (inverse-propensity weighting, carried by the label gains);
- ``shown+explored``: ``shown`` on the features that exposure does not confound (the query-item
  ones; the rest get no splits), then boosting continued on the exploration slice with every
  feature, so the slice teaches what the production ranking's exposure taught wrong (as in
  knowledge distillation from uniform data, Liu et al., SIGIR 2020). Without confounded
  features it is not trained.

One booster comes out of each, so serving does not know which learner made it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import lightgbm as lgb
import numpy as np
import polars as pl

from shopml.matrix import FeatureLayout

from .boosting import BoostingConfig, lgb_params
from .labels import CUTOFF, split_by_time

log = logging.getLogger(__name__)

LEARNERS = ("shown", "explored", "shown+explored")
EXPOSURE_LABEL = "exposure_label"     # 0: not clicked; else the clicked position, + slots when bought
MIN_EXAMINATION = 0.05                # examination estimates are floored here: inverse weights of at most 20


def learners(choice: str) -> tuple[str, ...]:
    """The learners ``choice`` names ("auto": every one, for validation to choose)."""
    if choice == "auto":
        return LEARNERS
    if choice not in LEARNERS:
        raise ValueError(f"learning: {choice!r} is not one of auto, {', '.join(LEARNERS)}")
    return (choice,)


@dataclass(frozen=True)
class LogSampling:
    """How a ranking task splits and samples its logged queries (searches, pages)."""

    key: str                          # the query id column
    caps: dict[str, int]              # queries sampled per split (train, validation, test)
    max_explored: int                 # exploration-slice queries sampled per split
    min_explored: int                 # fewer in the slice's training split (or a tenth in validation's): none
    validation_cutoffs: int
    test_cutoffs: int
    horizon: timedelta                # how long after a query its clicks come
    seed: int


def logged_splits(queries: pl.DataFrame, explored: pl.DataFrame, sampling: LogSampling,
                  task: str) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
    """The logged ``queries`` split by time (purged) and sampled per split, and the exploration
    slice's queries split at the same cut-offs, purged the same way, and sampled (train and
    validation only; none when too few to learn from, with a warning naming ``task``)."""
    splits = split_by_time(queries, sampling.validation_cutoffs, sampling.test_cutoffs, horizon=sampling.horizon)
    sampled = {name: frame.sample(min(frame.height, sampling.caps[name]), seed=sampling.seed).sort(sampling.key)
               for name, frame in splits.items()}
    try:
        explored_splits = split_by_time(explored, horizon=sampling.horizon,
                                        at=(splits["validation"][CUTOFF].min(), splits["test"][CUTOFF].min()))
        counts = {name: explored_splits[name].height for name in ("train", "validation")}
    except ValueError:                     # a split without a single explored query
        counts = {}
    if not counts or counts["train"] < sampling.min_explored or counts["validation"] < sampling.min_explored // 10:
        log.warning("%s: too few explored queries to learn from (%s): the shown results only", task, counts)
        return sampled, {}
    return sampled, {name: explored_splits[name].sample(min(counts[name], sampling.max_explored),
                                                        seed=sampling.seed).sort(sampling.key) for name in counts}


def examination_curve(explored: pl.DataFrame, slots: int) -> np.ndarray:
    """P(a shopper examines position p) relative to the top, p = 1..slots, from the exploration
    slice (``position``, ``clicked``): there the items are exchangeable across positions, so the
    click rate by position is the examination curve times one mean attraction. Made non-increasing
    and floored at MIN_EXAMINATION."""
    rate = explored.group_by("position").agg(pl.col("clicked").cast(pl.Float64).mean()).sort("position")
    by_position = dict(rate.iter_rows())
    clicks = np.array([by_position.get(p, np.nan) for p in range(1, slots + 1)])
    if not clicks[0] > 0:
        raise ValueError("the exploration slice has no click at the top position: no examination curve")
    curve = np.minimum.accumulate(np.nan_to_num(clicks / clicks[0], nan=0.0))
    return np.maximum(curve, MIN_EXAMINATION)


def exposure_labels(rows: pl.DataFrame, slots: int) -> pl.DataFrame:
    """``rows`` (``position``, ``clicked``, ``purchased``) with EXPOSURE_LABEL, which ``label_gains``
    turns into inverse-propensity weighted gains."""
    return rows.with_columns(pl.when(pl.col("clicked")).then(pl.col("position") + slots * pl.col("purchased").cast(
        pl.Int64)).otherwise(0).alias(EXPOSURE_LABEL))


def label_gains(examination: np.ndarray) -> list[float]:
    """The gain of each EXPOSURE_LABEL: 0 unclicked; a click at p: 1 / examination(p); a purchase
    counts twice a click."""
    inverse = (1 / examination).tolist()
    return [0.0, *inverse, *(2 * g for g in inverse)]


@dataclass(frozen=True)
class RankingLogs:
    """A ranking task's training rows, by source: every shown result (``label``, ``position``),
    and the exploration slice with its EXPOSURE_LABEL; each split sorted by ``query`` id."""

    query: str
    label: str
    shown: dict[str, pl.DataFrame]           # train, validation
    explored: dict[str, pl.DataFrame]        # train, validation
    gains: list[float]


def fit_learner(learner: str, config: BoostingConfig, layout: FeatureLayout, logs: RankingLogs,
                confounded: tuple[str, ...] = ()) -> lgb.Booster:
    """One lambdarank booster by ``learner`` (see the module docstring); ``confounded``: the
    features ``shown+explored`` keeps out of its first stage."""
    if learner == "shown":
        return fit_lambdarank(config, layout, logs.query, logs.shown, logs.label, position=True)
    if learner == "explored":
        return fit_lambdarank(config, layout, logs.query, logs.explored, EXPOSURE_LABEL, gains=logs.gains)
    unconfounded = [0.0 if c in confounded else 1.0 for c in layout.columns]
    first = fit_lambdarank(config, layout, logs.query, logs.shown, logs.label, position=True, penalty=unconfounded)
    return fit_lambdarank(config, layout, logs.query, logs.explored, EXPOSURE_LABEL, gains=logs.gains,
                          init_model=first)


def fit_lambdarank(config: BoostingConfig, layout: FeatureLayout, query: str, splits: dict[str, pl.DataFrame],
                   label: str, position: bool = False, gains: list[float] | None = None,
                   penalty: list[float] | None = None, init_model: lgb.Booster | None = None) -> lgb.Booster:
    """A lambdarank booster on ``splits["train"]`` (rows sorted by ``query``), early-stopped on
    NDCG@10 of ``splits["validation"]``. ``position``: hand the shown position to LightGBM's
    unbiased lambdarank; ``gains``: the gain of each label value; ``penalty``: per feature, 0 keeps
    it out of the trees; ``init_model``: boosting continues from it."""
    train, valid = splits["train"], splits["validation"]
    params = lgb_params(config, objective="lambdarank", metric="ndcg", eval_at=[10],
                        **({"label_gain": gains} if gains else {}), **({"feature_penalty": penalty} if penalty else {}))
    shown_at = {"position": train["position"].to_numpy() - 1} if position else {}
    train_set = lgb.Dataset(layout.matrix(train), train[label].to_numpy(), group=_groups(train, query), **shown_at)
    valid_set = lgb.Dataset(layout.matrix(valid), valid[label].to_numpy(), group=_groups(valid, query),
                            reference=train_set)
    return lgb.train(params, train_set, num_boost_round=config.max_rounds, valid_sets=[valid_set],
                     init_model=init_model,
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def _groups(frame: pl.DataFrame, query: str) -> np.ndarray:
    return frame.group_by(query, maintain_order=True).len()["len"].to_numpy()
