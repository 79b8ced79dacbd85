"""The uplift learners on a real randomised test: Kevin Hillstrom's MineThatData e-mail experiment
(64,000 customers, a third each sent a men's e-mail, a women's e-mail or none; visit, conversion
and spend over the two weeks after).

The published reference is scikit-uplift's pipeline tutorial: women's e-mail against none, target
``visit``, ``train_test_split(test_size=0.5, random_state=42)``, class transformation on XGBoost,
uplift@30% (``uplift_at_k``, strategy ``overall``) 0.0660 on the held-out half. The same split is
taken here, so the figures stand beside it; the learners are ``training.uplift``'s (T- and
X-learner on LightGBM), the choice between them made on a validation quarter of the training half
by Qini, as on the shop. Beside them, for every arm (men's, women's) and target (visit,
conversion): Qini, AUUC and uplift@10/20/30% of the model, of random targeting and of targeting by
the response rate without an e-mail (the usual mistake), on the published split and, for their
spread, as mean and standard deviation over ten more random splits.

    python -m bench.hillstrom [--data ../shared/datasets/hillstrom/...csv]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.model_selection import train_test_split

from bench.measure import measure, write_results
from shopml.matrix import FeatureLayout
from training.uplift import MODEL, OUTCOME, PROPENSITY, RANDOM, TREATED, UpliftConfig, choose_learner, uplift_figures

DATA = (Path(__file__).resolve().parents[2] / "shared" / "datasets" / "hillstrom"
        / "Kevin_Hillstrom_MineThatData_E-MailAnalytics_DataMiningChallenge_2008.03.20.csv")
FEATURES = ("recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel")
ARMS = {"womens": "Womens E-Mail", "mens": "Mens E-Mail"}
TARGETS = ("visit", "conversion")
CONTROL = "No E-Mail"
PUBLISHED = {"womens/visit": {"uplift_at_30": 0.0660, "source": "scikit-uplift pipeline tutorial: class "
                              "transformation on XGBoost (max_depth 2), CatBoost-encoded categories"}}
SEED = 42


def arm_frame(raw: pl.DataFrame, arm: str, target: str) -> pl.DataFrame:
    """One arm against no e-mail: the features (named as the layout expects, ``source__name``),
    treated and outcome, in the file's order."""
    rows = raw.filter(pl.col("segment").is_in([ARMS[arm], CONTROL]))
    return rows.select(*[pl.col(name).alias(f"customer__{name}") for name in FEATURES],
                       (pl.col("segment") == ARMS[arm]).cast(pl.Int8).alias(TREATED),
                       pl.col(target).cast(pl.Int8).alias(OUTCOME))


def run_arm(raw: pl.DataFrame, arm: str, target: str, seed: int = SEED) -> dict:
    """A split of half held out (``seed`` 42: the published one), a validation quarter of the
    training half for the learner's choice and early stopping, and the held-out half's figures
    per targeting score."""
    frame = arm_frame(raw, arm, target)
    train_rows, test_rows = train_test_split(np.arange(frame.height), test_size=0.5, random_state=seed)
    fit_rows, valid_rows = train_test_split(train_rows, test_size=0.25, random_state=seed)
    train, valid, test = frame[np.sort(fit_rows)], frame[np.sort(valid_rows)], frame[test_rows]
    config = UpliftConfig(seed=seed, min_data_in_leaf=100)
    model, validation_qini = choose_learner(config, FeatureLayout.from_training(train), train, valid)
    scores = {MODEL: model.uplift(test), PROPENSITY: model.purchase(test),
              RANDOM: np.random.default_rng(seed).random(test.height)}
    outcome, treated = test[OUTCOME].to_numpy().astype(float), test[TREATED].to_numpy().astype(float)
    return {"learner": model.learner, "validation_qini": validation_qini, "test_rows": test.height,
            "average_effect": float(outcome[treated == 1].mean() - outcome[treated == 0].mean()),
            "figures": uplift_figures(outcome, treated, scores)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--splits", type=int, default=10, help="further random splits (seeds 0..N-1) for the spread")
    args = parser.parse_args()
    if not args.data.is_file():
        raise SystemExit(f"no Hillstrom file at {args.data}: pass --data PATH")
    raw = pl.read_csv(args.data, schema_overrides={"history": pl.Float64, "spend": pl.Float64})
    runs = {}
    for arm in ARMS:
        for target in TARGETS:
            key = f"{arm}/{target}"
            run, seconds, peak, _ = measure(run_arm, raw, arm, target)
            runs[key] = run | {"seconds": round(seconds, 2), "peak_rss_mib": round(peak, 1)}
            again = [run_arm(raw, arm, target, seed)["figures"] for seed in range(args.splits)]
            runs[key]["over_splits"] = {
                name: {f"{measure}_{stat}": float(fn([figures[name][measure] for figures in again]))
                       for measure in ("uplift_at_30", "qini") for stat, fn in (("mean", np.mean), ("sd", np.std))}
                for name in (MODEL, PROPENSITY, RANDOM)} | {"splits": args.splits}
            if key in PUBLISHED:
                runs[key]["published"] = PUBLISHED[key]
            model = run["figures"][MODEL]
            spread = runs[key]["over_splits"][MODEL]
            print(f"{key}: {run['learner']} uplift@30% {model['uplift_at_30']:.4f} qini {model['qini']:.1f} "
                  f"(propensity uplift@30% {run['figures'][PROPENSITY]['uplift_at_30']:.4f}) in {seconds:.1f} s; "
                  f"over {args.splits} other splits {spread['uplift_at_30_mean']:.4f} ± {spread['uplift_at_30_sd']:.4f}",
                  flush=True)
    path = write_results("hillstrom", {"dataset": str(args.data.name), "split": "train_test_split(test_size=0.5, "
                                       f"random_state={SEED}) per arm against no e-mail", "runs": runs})
    print(json.dumps({key: run["figures"][MODEL]["uplift_at_30"] for key, run in runs.items()}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
