"""How well can churn reasons name the cause the simulator recorded, and what limits them? On the
demo shop's churn task (its own purged splits, the model ``shopml train churn`` trains, without
the Monte Carlo oracle), the share of churned users whose reason equals the recorded cause:

- **the platform's reasons**: SHAP pushes grouped into reasons (``shopml.reasons``), each cause's
  push plus its offset, the offsets chosen on the validation churners (what ``shopml train
  churn`` saves), and with every offset 0 (the default where no causes are recorded);
- **counterfactual pushes**: per reason, how much the model's log-odds fall when that reason's
  features are set to a "no trouble" value (the training rows' 10th percentile for a cause, the
  90th for the symptom), the largest fall named; unlike SHAP, measured from an untroubled user
  rather than from the average one;
- **a cause classifier on the pushes**: multinomial logistic regression from the grouped pushes
  to the recorded cause, fitted on the validation churners (what a supervised read of the same
  pushes could reach);
- **a cause classifier on every feature**: the same on all of ``churn_v1``'s numeric features;
- **the true hazards as known at the cut-off**: the largest of the simulator's hidden hazards on
  the day before the cut-off (on the churn day for a user already gone), what a model of the
  hidden state at the as-of time could at best name;
- **the oracle**: the largest hazard on the day the churn was drawn (after the cut-off);
- **the majority cause** of the validation churners.

It also gives how closely each trouble feature follows the hidden hazard it stands for: the
correlation, over every live user on every Monday, of the feature stamped that day with the
simulator's hazard on that day (``FEATURE_HAZARDS``).

Rows fitted or chosen on validation report validation figures, and their test figures are read
once (EVALUATION.md).

    python -m bench.churn_reasons --home data
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from bench.measure import write_results
from shopml.reasons import CAUSES, REASON_FEATURES, REASONS, SYMPTOM, Pushes, choose_cause_offsets
from shopml.settings import Settings
from shopml.warehouse.database import connect
from training.tasks.churn import ChurnConfig, ChurnedUsers, ChurnTask, oracle_reasons

NAMED = (*CAUSES, SYMPTOM)          # the reasons that stand for a recorded cause
# (view, feature, the truth.user_days hazard it stands for): window counts beside their decayed twins
FEATURE_HAZARDS = (
    ("user_experience", "price_rise_seen_30d", "hazard_price_rise"),
    ("user_experience", "price_rise_in_taste", "hazard_price_rise"),
    ("user_experience", "low_rated_purchases_90d", "hazard_bad_experience"),
    ("user_experience", "low_rated_purchases_decayed", "hazard_bad_experience"),
    ("user_experience", "low_ratings_given_decayed", "hazard_bad_experience"),
    ("user_engagement", "searches_without_click_30d", "hazard_failed_search"),
    ("user_engagement", "searches_without_click_decayed", "hazard_failed_search"),
    ("user_engagement", "pushes_received_90d", "hazard_push_fatigue"),
    ("user_engagement", "pushes_received_decayed", "hazard_push_fatigue"),
)


def feature_hazard_correlations(settings: Settings) -> dict[str, float]:
    with connect(settings.warehouse_path) as con:
        return {f"{feature} ~ {hazard}": round(con.execute(f"""
            SELECT corr(f.{feature}, t.{hazard})
            FROM read_parquet('{settings.features_dir / f"{view}.parquet"}') f
            JOIN truth.user_days t ON t.user_id = f.user_id AND t.day = CAST(f.event_timestamp AS DATE)
            WHERE dayofweek(t.day) = 1""").fetchall()[0][0], 3) for view, feature, hazard in FEATURE_HAZARDS}


def counterfactual_pushes(booster, matrix, train_matrix) -> np.ndarray:
    """(rows, NAMED) the fall in log-odds when each reason's features take their untroubled value."""
    base = booster.predict(matrix, raw_score=True, num_threads=1)
    pushes = []
    for reason in NAMED:
        untroubled = matrix.copy()
        for column in (c for c in REASON_FEATURES[reason] if c in matrix.columns):
            untroubled[column] = train_matrix[column].quantile(0.9 if reason == SYMPTOM else 0.1)
        pushes.append(base - booster.predict(untroubled, raw_score=True, num_threads=1))
    return np.column_stack(pushes)


def agreement(guess, truth) -> float:
    return round(float(np.mean(np.asarray(guess, dtype=object) == truth)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    settings, task = Settings.resolve(args.home), ChurnTask()
    config = dataclasses.replace(ChurnConfig(), oracle_futures=0)
    data = task.build_dataset(config, settings)
    booster = task.train(config, data)["churn"]
    churned = {split: ChurnedUsers.of(data.splits[split], settings, config) for split in ("validation", "test")}
    matrix = {split: data.layout.matrix(users.rows) for split, users in churned.items()}
    causes = {split: users.causes for split, users in churned.items()}
    pushes = {split: Pushes.of(booster, matrix[split]) for split in churned}
    rows = {}

    def both(name: str, guess) -> None:
        rows[name] = {split: agreement(guess(split), causes[split]) for split in churned}
        print(f"{name:60s} validation {rows[name]['validation']:.3f}  test {rows[name]['test']:.3f}", flush=True)

    offsets = choose_cause_offsets(pushes["validation"], causes["validation"])
    both("reasons, cause offsets chosen on validation (the platform's)", lambda split: pushes[split].top(offsets))
    both("reasons, every cause offset 0", lambda split: pushes[split].top())
    train_matrix = data.layout.matrix(data.splits["train"])
    counterfactual = {split: counterfactual_pushes(booster, matrix[split], train_matrix) for split in churned}
    both("counterfactual pushes from an untroubled user",
         lambda split: np.asarray(NAMED, dtype=object)[counterfactual[split].argmax(axis=1)])
    on_pushes = LogisticRegression(max_iter=2000).fit(pushes["validation"].by_reason, causes["validation"])
    both("cause classifier on the grouped pushes (fitted on validation)",
         lambda split: on_pushes.predict(pushes[split].by_reason))
    numeric = {split: np.nan_to_num(m.select_dtypes("number").to_numpy(float)) for split, m in matrix.items()}
    scale = StandardScaler().fit(numeric["validation"])
    features = {split: scale.transform(values) for split, values in numeric.items()}
    on_features = LogisticRegression(max_iter=3000).fit(features["validation"], causes["validation"])
    both("cause classifier on every churn_v1 feature (fitted on validation)",
         lambda split: on_features.predict(features[split]))
    both("true hazards as known at the cut-off (hidden state)",
         lambda split: oracle_reasons(settings, churned[split].rows, as_of_cutoff=True))
    both("oracle: true hazards on the churn day",
         lambda split: oracle_reasons(settings, churned[split].rows))
    majority = pl.Series(causes["validation"]).mode().sort()[0]
    both(f"majority cause of the validation churners ({majority})", lambda split: np.full(len(causes[split]), majority))
    shares = {split: dict(pl.Series(c).value_counts(normalize=True).sort("proportion", descending=True).iter_rows())
              for split, c in causes.items()}
    correlations = feature_hazard_correlations(settings)
    for pair, value in correlations.items():
        print(f"{pair:60s} correlation {value:.3f}")
    write_results("churn_reasons", {"feature_hazard_correlation": correlations, "churned_users": {s: len(c) for s, c in causes.items()}, "cause_shares": shares,
                                    "cause_offsets": offsets, "agreement": rows,
                                    "seconds": round(time.perf_counter() - started, 1), "reasons": list(REASONS)})


if __name__ == "__main__":
    main()
