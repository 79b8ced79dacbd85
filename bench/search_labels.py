"""What the search ranker learns from each way of reading its logs, with and without the Feast
item features, judged as ``shopml train search_ranker`` makes its choices: NDCG@10 of the
reranked candidates of the *validation* searches against the simulator's relevance grades, each
variant with its best tie-break. A comparison of variants reads no test search
(../shared/EVALUATION.md); the chosen variant's test figure is the one the task reports.

- the task's learners (``training.exposure``): ``shown`` (every shown result, LightGBM's unbiased
  lambdarank), ``explored`` (the engine's exploration slice alone, clicks weighted by the inverse
  of the examination curve measured there), ``shown+explored`` (the first continued on the second);
- **true grades**: the same lambdarank on the training searches' retrieved candidates graded by
  the simulator, which no shop has: the ceiling of the features.

Beside them, the examination curve measured on the exploration slice against the simulator's own
(``p ** -EXAMINATION_DECAY``).

    python -m bench.search_labels [--home data]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from bench.measure import write_results
from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.simulator.search import EXAMINATION_DECAY
from training.exposure import fit_lambdarank
from training.tasks.search_ranker import (SEARCH_ID, SearchRankerConfig, SearchRankerTask, search_quality,
                                          tie_break_on_validation, true_grades)
from training.labels import CUTOFF

CEILING = "true grades (ceiling)"


def _graded_candidates(data, settings: Settings, config: SearchRankerConfig) -> dict[str, pl.DataFrame]:
    """The training and validation searches' retrieved candidates with their true ``grade`` (0 when none)."""
    graded = {}
    for split, shown in data.logs.shown.items():
        searches = shown.unique(SEARCH_ID).select(SEARCH_ID, names.EVENT_TIMESTAMP, "query", CUTOFF)
        graded[split] = data.pairs.retrieved(searches, config.candidates).join(
            true_grades(settings, searches), on=[SEARCH_ID, names.ITEM_ID], how="left").with_columns(
            pl.col("grade").fill_null(0))
    return graded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    settings, config, task = Settings.resolve(args.home), SearchRankerConfig(), SearchRankerTask()
    data = task.build_dataset(config, settings)
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    model = task.train(config, data)
    task.choose(config, model, data, settings)
    graded = _graded_candidates(data, settings, config)
    for item_features, layout in data.layouts.items():
        booster = fit_lambdarank(config, layout, SEARCH_ID, graded, "grade")
        data.choices[f"{CEILING}, {'item features: ' + item_features if item_features else 'no item features'}"] = \
            tie_break_on_validation(config, booster, layout, data)
    rows = []
    for name, by_tie_break in data.choices.items():
        chosen = max(by_tie_break, key=by_tie_break.get)
        rows.append({"variant": name, "tie_break": chosen or "retrieval order",
                     "validation_ndcg_at_10": round(by_tie_break[chosen], 4)})
        print(f"{name:45s} tie-break {rows[-1]['tie_break']:30s} validation NDCG@10 "
              f"{rows[-1]['validation_ndcg_at_10']:.3f}", flush=True)
    unranked = search_quality(data.candidates["validation"].with_columns(pl.lit(0.0).alias("score")),
                              data.grades["validation"], data.popular["validation"], config, "")
    baselines = {name: round(unranked[name]["ndcg_at_10"], 4) for name in ("popularity", "embedding")}
    slots = len(data.examination)
    simulator = np.arange(1, slots + 1, dtype=float) ** -EXAMINATION_DECAY
    print(f"without a reranker (validation): {baselines}")
    print("examination by position, measured / simulator's: "
          + ", ".join(f"{m:.2f}/{s:.2f}" for m, s in zip(data.examination, simulator)))
    write_results("search_labels", {
        "training_searches": {source: int(frame[SEARCH_ID].n_unique()) for source, frame in
                              (("shown", data.logs.shown["train"]), ("explored", data.logs.explored["train"]))},
        "validation_searches": int(unranked["embedding"]["searches"]), "without_reranker": baselines,
        "examination": {"measured": data.examination.round(3).tolist(), "simulator": simulator.round(3).tolist()},
        "rankers": rows})


if __name__ == "__main__":
    main()
