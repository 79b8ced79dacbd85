"""What the search ranker can learn from each source of labels, with and without the Feast item
features. Every row is the same LightGBM lambdarank on the same training searches, judged as
``shopml train search_ranker`` makes its choices: NDCG@10 of the reranked candidates of the
*validation* searches against the simulator's relevance grades, with the tie-break chosen there.
This is a comparison of variants, so it reads no test search (../shared/EVALUATION.md); the
chosen variant's test figure is the one ``shopml train search_ranker`` reports:

- **logged, shown results**: what the platform trains on (clicks 1, purchases 2, the shown
  position to LightGBM's unbiased lambdarank);
- **logged, retrieved candidates**: each training search's FAISS candidates, labelled as logged,
  the ones never shown 0;
- **exploring engine (emulated)**: as if the old engine had filled its ten results at random
  from the intended item's subcategory (7) and category (3), among the retrieved candidates, in
  random order, the intended item placed with the engine's found rate; clicks drawn by the
  simulator's own click rule and weighted by the inverse of the examination curve (the
  exploration's random order is what would let a shop measure that curve). On every training
  search, and on a fifth of them (a smaller exploration slice);
- **true grades**: the simulator's relevance grades of the retrieved candidates, which no shop
  has (the ceiling of the features).

    python -m bench.search_labels [--home data]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import polars as pl

from bench.measure import write_results
from feature_repo.definitions import names
from shopml.settings import Settings
from shopml.warehouse.simulator.config import Behaviour
from shopml.warehouse.simulator.search import EXAMINATION_DECAY, SUBCATEGORY_SLOTS
from training.labels import CUTOFF
from training.tasks.search_ranker import (HEAD, LABEL, SEARCH_ID, SearchRankerConfig, SearchRankerTask, feature_layout,
                                          fit_ranker, search_quality, tie_break_on_validation, true_grades)

SUBCATEGORY, CATEGORY = "item_content__subcategory", "item_content__category"


def _with_truth(retrieved: pl.DataFrame, shown: pl.DataFrame, grades: pl.DataFrame) -> pl.DataFrame:
    """Retrieved candidates with their logged label (0 when not shown) and true grade (0 when none)."""
    return retrieved.join(shown.select(SEARCH_ID, names.ITEM_ID, pl.col(LABEL).alias("logged")),
                          on=[SEARCH_ID, names.ITEM_ID], how="left").join(
        grades, on=[SEARCH_ID, names.ITEM_ID], how="left").with_columns(pl.col("logged", "grade").fill_null(0))


def _explored(candidates: pl.DataFrame, share: float, seed: int) -> tuple[pl.DataFrame, list[float]]:
    """An exploring engine's clicks on a ``share`` of the searches (see the module docstring):
    label = the position clicked (0 if none), with the gain 1 / P(examined there)."""
    behaviour, rng = Behaviour(), np.random.default_rng(seed)
    searches = candidates[SEARCH_ID].unique().sort().sample(fraction=share, seed=seed)
    frame = candidates.filter(pl.col(SEARCH_ID).is_in(searches.implode()))
    intended = frame.filter(pl.col("grade") == 3).select(SEARCH_ID, pl.col(SUBCATEGORY).alias("intended_sub"),
                                                         pl.col(CATEGORY).alias("intended_cat"))
    frame = frame.join(intended, on=SEARCH_ID, how="left").with_columns(
        pl.Series("fill_draw", rng.random(frame.height)), pl.Series("order_draw", rng.random(frame.height)),
        pl.Series("found", rng.random(frame.height) < behaviour.found_rate))
    same_sub = (pl.col(SUBCATEGORY) == pl.col("intended_sub")) & (pl.col("grade") < 3)
    same_cat = (pl.col(CATEGORY) == pl.col("intended_cat")) & (pl.col(SUBCATEGORY) != pl.col("intended_sub"))
    slots = behaviour.results_per_search
    placed = (pl.col("grade") == 3) & pl.col("found")
    drawn = lambda group: pl.col("fill_draw").rank("ordinal").over(SEARCH_ID, group)  # noqa: E731
    filler = ((same_sub & (drawn(same_sub) <= SUBCATEGORY_SLOTS))
              | (same_cat & (drawn(same_cat) <= slots - SUBCATEGORY_SLOTS))).fill_null(False)
    frame = frame.with_columns(filler.alias("filler"), placed.any().over(SEARCH_ID).cast(pl.Int64).alias("placed"))
    frame = frame.with_columns((placed | (pl.col("filler") & (     # the intended item takes one filler's slot
        pl.col("order_draw").rank("ordinal").over(SEARCH_ID, "filler") <= slots - pl.col("placed")))).alias("shown"))
    frame = frame.with_columns(
        pl.when("shown").then(pl.col("order_draw")).rank("ordinal").over(SEARCH_ID).alias("shown_at"))
    at = frame["shown_at"].fill_null(0).to_numpy()
    attraction = np.asarray(behaviour.search_attraction)[frame["grade"].to_numpy()]
    p_click = attraction * np.maximum(at, 1) ** -EXAMINATION_DECAY
    clicked = (at > 0) & (rng.random(frame.height) < p_click)
    gains = [0.0, *(float(p) ** EXAMINATION_DECAY for p in range(1, slots + 1))]
    return frame.with_columns(pl.Series("explored", np.where(clicked, at, 0))), gains


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    settings, config, task = Settings.resolve(args.home), SearchRankerConfig(), SearchRankerTask()
    data = task.build_dataset(dataclasses.replace(config, item_features="all"), settings)
    layouts = {"query-item features": feature_layout("", data.splits["train"]), "+ Feast item features": data.layout}
    retrieved = {}
    for split in ("train", "validation"):
        searches = data.splits[split].unique(SEARCH_ID).select(SEARCH_ID, names.EVENT_TIMESTAMP, "query", CUTOFF)
        retrieved[split] = _with_truth(data.pairs.retrieved(searches, config.candidates), data.splits[split],
                                       true_grades(settings, searches))
    training_searches = retrieved["train"][SEARCH_ID].n_unique()
    print(f"{training_searches:,} training searches; built in {time.perf_counter() - started:.0f} s", flush=True)
    explored = {share: {name: _explored(frame, share, seed=i) for i, (name, frame) in enumerate(retrieved.items())}
                for share in (1.0, 0.2)}
    sources = {
        "logged, shown results (the platform)": lambda layout: fit_ranker(
            config, layout, data.splits["train"], data.splits["validation"], LABEL, position=True),
        "logged, retrieved candidates": lambda layout: fit_ranker(
            config, layout, retrieved["train"], retrieved["validation"], "logged"),
        **{f"exploring engine (emulated), {share:.0%} of searches": (lambda layout, share=share: fit_ranker(
            config, layout, explored[share]["train"][0], explored[share]["validation"][0], "explored",
            label_gain=explored[share]["train"][1])) for share in explored},
        "true grades (ceiling)": lambda layout: fit_ranker(
            config, layout, retrieved["train"], retrieved["validation"], "grade"),
    }
    rows = []
    for source, fit in sources.items():
        for features, layout in layouts.items():
            booster = fit(layout)
            ndcg = tie_break_on_validation(config, {HEAD: booster}, dataclasses.replace(data, layout=layout))
            chosen = max(ndcg, key=ndcg.get)
            rows.append({"labels": source, "features": features, "trees": booster.best_iteration,
                         "tie_break": chosen or "retrieval order",
                         "validation_ndcg_at_10": round(ndcg[chosen], 4)})
            print(f"{source:55s} {features:22s} trees {rows[-1]['trees']:4d}  tie-break {rows[-1]['tie_break']:28s} "
                  f"validation NDCG@10 {rows[-1]['validation_ndcg_at_10']:.3f}", flush=True)
    unranked = search_quality(data.candidates["validation"].with_columns(pl.lit(0.0).alias("score")),
                              data.grades["validation"], data.popular["validation"], config, "")
    baselines = {name: round(unranked[name]["ndcg_at_10"], 4) for name in ("popularity", "embedding")}
    print(f"without a reranker (validation): {baselines}")
    write_results("search_labels", {"training_searches": training_searches, "validation_searches": int(
        unranked["embedding"]["searches"]), "without_reranker": baselines, "rankers": rows})


if __name__ == "__main__":
    main()
