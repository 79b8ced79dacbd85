"""Uplift of a randomised send (a coupon, a push): who buys *because* of it, not who buys anyway.
The learners and their figures; a campaign's task around them is ``training.campaigns``.

Two meta-learners on LightGBM, chosen by the validation Qini coefficient:
- **T-learner**: a classifier per arm; the uplift is the difference of their probabilities.
- **X-learner** (Künzel et al., 2019): each arm's outcomes against the other arm's model give
  imputed effects, a regressor per arm learns them, and the two are averaged (the sends are
  randomised half and half, so the propensity weight is a half).
Written here, not taken from a library: causalml pulls XGBoost and CUDA packages into the
install, and scikit-uplift has not been released since 2022; each learner is a few lines on the
LightGBM the platform already fits.

Judged on randomised sends (``training.metrics.uplift``): Qini coefficient, AUUC and the uplift among
the top 10/20/30% against random targeting, against targeting by purchase propensity (the usual
mistake: it finds who buys anyway) and, on the simulated shop, against the oracle, the true uplift
of every send (``truth.promotions``, ``truth.pushes``), with the share of the oracle's Qini.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import polars as pl

from shopml.matrix import FeatureLayout

from .boosting import BoostingConfig, lgb_params
from .evaluation import Evaluation
from .metrics.uplift import auuc, qini_coefficient, uplift_at_share
from .report import line_chart

T_LEARNER, X_LEARNER = "t_learner", "x_learner"
MODEL, PROPENSITY, RANDOM, ORACLE = "model", "purchase propensity", "random", "oracle"
SHARES = (0.1, 0.2, 0.3)
TREATED, OUTCOME = "treated", "outcome"
TEST_SENDS = "test sends (targeting by each score)"


@dataclass(frozen=True)
class UpliftConfig(BoostingConfig):
    validation_sends: int = 2         # send days; their windows end by the first test send
    test_sends: int = 2               # the latest send days whose windows the data covers
    learner: str = "auto"             # t_learner, x_learner; auto: the better validation Qini
    # small, slow trees: an effect is a difference of two noisy rates, and deeper trees fit the noise
    # (on the demo shop they lose to targeting by propensity; see docs/marketing.md)
    num_leaves: int = 7
    min_data_in_leaf: int = 1000
    learning_rate: float = 0.02
    max_rounds: int = 300
    whatif_seeds: int = 10            # paired futures of the what-if campaign (0: none)
    harm_days: int = 28               # sends that can put off: silent this long after the window is lost

    def __post_init__(self):
        if self.learner not in ("auto", T_LEARNER, X_LEARNER):
            raise ValueError(f"learner must be auto, {T_LEARNER} or {X_LEARNER}, got {self.learner!r}")
        if self.harm_days < 1:
            raise ValueError(f"harm_days must be at least 1, got {self.harm_days}")


def _arm_model(config: BoostingConfig, objective: str, x, y, valid_x, valid_y) -> lgb.Booster:
    """One arm's outcome model, stopped early on its validation rows: a classifier (``binary``)
    or, for an amount such as spend, a regressor (``regression``)."""
    train_set = lgb.Dataset(x, y)
    return lgb.train(lgb_params(config, objective=objective), train_set, num_boost_round=config.max_rounds,
                     valid_sets=[lgb.Dataset(valid_x, valid_y, reference=train_set)],
                     callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)])


def _regressor(config: BoostingConfig, x, y, rounds: int) -> lgb.Booster:
    return lgb.train(lgb_params(config, objective="regression"), lgb.Dataset(x, y), num_boost_round=max(rounds, 1))


@dataclass
class UpliftModel:
    learner: str
    layout: FeatureLayout
    arms: dict[int, lgb.Booster]                  # per arm (1 treated, 0 held out): P(outcome), or its mean
    effects: dict[int, lgb.Booster] | None        # X-learner: per arm, the imputed effect's regressor

    def _x(self, rows: pl.DataFrame | dict[str, list] | np.ndarray):
        """The model's input: a frame's matrix, an online read's array, or an array already made."""
        if isinstance(rows, np.ndarray):
            return rows
        return self.layout.matrix(rows) if isinstance(rows, pl.DataFrame) else self.layout.array(rows)

    def uplift(self, rows: pl.DataFrame | dict[str, list]) -> np.ndarray:
        """Per row (a frame, or the columns of an online read), the predicted uplift."""
        x = self._x(rows)
        if self.effects is None:
            return self.arms[1].predict(x, num_threads=1) - self.arms[0].predict(x, num_threads=1)
        return (self.effects[0].predict(x, num_threads=1) + self.effects[1].predict(x, num_threads=1)) / 2

    def purchase(self, rows: pl.DataFrame | dict[str, list]) -> np.ndarray:
        """P(outcome) without the send: the held-out arm's model, what propensity targeting ranks by."""
        return self.arms[0].predict(self._x(rows), num_threads=1)

    def boosters(self, prefix: str = "") -> dict[str, lgb.Booster]:
        out = {f"{prefix}treated": self.arms[1], f"{prefix}held_out": self.arms[0]}
        if self.effects is not None:
            out |= {f"{prefix}effect_treated": self.effects[1], f"{prefix}effect_held_out": self.effects[0]}
        return out

    @classmethod
    def from_boosters(cls, boosters: dict[str, lgb.Booster], layout: FeatureLayout, prefix: str = "") -> UpliftModel:
        arms = {1: boosters[f"{prefix}treated"], 0: boosters[f"{prefix}held_out"]}
        if f"{prefix}effect_treated" not in boosters:
            return cls(T_LEARNER, layout, arms, None)
        return cls(X_LEARNER, layout, arms, {1: boosters[f"{prefix}effect_treated"], 0: boosters[f"{prefix}effect_held_out"]})


def fit_uplift(config: UpliftConfig, layout: FeatureLayout, train: pl.DataFrame, valid: pl.DataFrame,
               learner: str, outcome: str = OUTCOME, objective: str = "binary") -> UpliftModel:
    arms = {}
    for arm in (0, 1):
        own, own_valid = train.filter(pl.col(TREATED) == arm), valid.filter(pl.col(TREATED) == arm)
        arms[arm] = _arm_model(config, objective, layout.matrix(own), own[outcome].to_numpy(),
                               layout.matrix(own_valid), own_valid[outcome].to_numpy())
    if learner == T_LEARNER:
        return UpliftModel(learner, layout, arms, None)
    effects = {}
    for arm in (0, 1):
        own = train.filter(pl.col(TREATED) == arm)
        x, y = layout.matrix(own), own[outcome].to_numpy().astype(float)
        imputed = y - arms[0].predict(x) if arm == 1 else arms[1].predict(x) - y
        effects[arm] = _regressor(config, x, imputed, arms[arm].best_iteration)
    return UpliftModel(learner, layout, arms, effects)


def choose_learner(config: UpliftConfig, layout: FeatureLayout, train: pl.DataFrame, valid: pl.DataFrame,
                   outcome: str = OUTCOME, objective: str = "binary") -> tuple[UpliftModel, dict[str, float]]:
    """Every candidate learner fitted; the one with the best validation Qini, and each one's Qini."""
    candidates = (T_LEARNER, X_LEARNER) if config.learner == "auto" else (config.learner,)
    fitted = {learner: fit_uplift(config, layout, train, valid, learner, outcome, objective) for learner in candidates}
    qini = {learner: qini_coefficient(valid[outcome], valid[TREATED], model.uplift(valid))
            for learner, model in fitted.items()}
    return fitted[max(qini, key=qini.get)], qini


def true_qini(true_uplift: np.ndarray, score: np.ndarray, treated_share: float = 1.0) -> float:
    """The Qini coefficient a score would have in expectation: targeting its top shares, the
    buyers gained are the sum of their true uplifts (no outcome noise) over the ``treated_share``
    of them that are sent to (the observed Qini counts the treated arm's gain); the area between
    that curve and random targeting's line, in buyers (ties in score taken together)."""
    order = np.argsort(-score, kind="stable")
    gained, ranked = np.cumsum(true_uplift[order]) * treated_share, score[order]
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]
    share = np.r_[0.0, (np.flatnonzero(last_of_tie) + 1) / len(score)]
    curve = np.r_[0.0, gained[last_of_tie]]
    return float(np.trapezoid(curve, share) - curve[-1] / 2)


def true_qini_difference(true_uplift: np.ndarray, score: np.ndarray, reference: np.ndarray, treated_share: float,
                         draws: int = 200, confidence: float = 0.95, seed: int = 7) -> dict[str, float]:
    """``score``'s expected Qini less ``reference``'s on the same rows, with a paired bootstrap
    interval over the rows: how far apart two rankings are, beyond which rows the test held."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(draws):
        rows = rng.integers(0, len(score), len(score))
        samples.append(true_qini(true_uplift[rows], score[rows], treated_share)
                       - true_qini(true_uplift[rows], reference[rows], treated_share))
    low, high = np.percentile(samples, (100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2))
    difference = true_qini(true_uplift, score, treated_share) - true_qini(true_uplift, reference, treated_share)
    return {"difference": difference, "low": float(low), "high": float(high)}


def uplift_figures(outcome: np.ndarray, treated: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per targeting score: Qini, AUUC and the uplift among the top shares on the observed
    outcomes; with the oracle among the scores (the true uplift of every send), each score's
    expected Qini from the true uplifts (noise-free) and its share of the oracle's."""
    table = {name: {"qini": qini_coefficient(outcome, treated, score), "auuc": auuc(outcome, treated, score),
                    **{f"uplift_at_{round(share * 100)}": uplift_at_share(outcome, treated, score, share)
                       for share in SHARES}}
             for name, score in scores.items()}
    if ORACLE in scores:
        truth, sent = scores[ORACLE], float(np.mean(treated))
        best = true_qini(truth, truth, sent)
        for name, score in scores.items():
            table[name]["true_qini"] = true_qini(truth, score, sent)
            table[name]["share_of_oracle_true_qini"] = table[name]["true_qini"] / best if best > 0 else float("nan")
    return table


def qini_chart(outcome: np.ndarray, treated: np.ndarray, scores: dict[str, np.ndarray],
               positives: str = "buyers", rows: str = "sends", targets: str = "users") -> str:
    from .metrics.uplift import qini_curve

    curves = {name: qini_curve(outcome, treated, score) for name, score in scores.items()}
    top = max(float(np.max(increment)) for _, increment in curves.values()) * 1.1 or 1.0
    return line_chart(f"Qini curves on the test {rows}: incremental {positives} by share targeted", curves,
                      f"share of {targets} targeted, best first", f"incremental {positives}", y_max=top)


def expected_gain_chart(true_uplift: np.ndarray, scores: dict[str, np.ndarray], positives: str, rows: str) -> str:
    """Per score, the true uplifts summed over its top shares (no outcome noise): the oracle's
    curve bounds every other's."""
    curves = {}
    for name, score in scores.items():
        order = np.argsort(-score, kind="stable")
        curves[name] = (np.arange(len(score) + 1) / len(score), np.r_[0.0, np.cumsum(true_uplift[order])])
    top = max(float(np.max(gained)) for _, gained in curves.values()) * 1.1 or 1.0
    return line_chart(f"Expected incremental {positives} (the truth) by share of the test {rows} targeted", curves,
                      f"share of {rows} targeted, best first", f"expected incremental {positives}", y_max=top)


def evaluate_uplift(model: UpliftModel, test: pl.DataFrame, oracle: np.ndarray | None, seed: int) -> Evaluation:
    outcome, treated = test[OUTCOME].to_numpy().astype(float), test[TREATED].to_numpy().astype(float)
    scores = {MODEL: model.uplift(test), PROPENSITY: model.purchase(test),
              RANDOM: np.random.default_rng(seed).random(test.height)}
    if oracle is not None:
        scores[ORACLE] = oracle
    figures = [qini_chart(outcome, treated, scores)]
    if oracle is not None:
        figures.append(expected_gain_chart(oracle, scores, "buyers", "sends"))
    return Evaluation(heads={}, tables={TEST_SENDS: uplift_figures(outcome, treated, scores)}, figures=figures)
