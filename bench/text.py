"""The text tasks' figures on a home (the demo shop after ``make demo``): the test tables of the
latest ``review_sentiment``, ``categorize`` and ``feedback`` models, for ``docs/text.md``
(``python -m bench.docs``). With ``--finetune N`` it also times the fine-tune of the encoder on N
reviews (one epoch, 2 cores) and scores it on 2,000 more. The demo shop writes about 10,000
reviews in 180 days, so these are written by the simulator's own review writer
(``simulator.reviews``) from satisfaction drawn as the shop draws it: same sentences, same truth.

    python -m bench.text --home data [--finetune 20000]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import polars as pl
import torch

from bench.measure import RESULTS_DIR, write_results
from shopml.model_store import artifact_folder
from shopml.settings import Settings
from training.finetune import FineTuneConfig, fine_tune
from training.metrics.multiclass import accuracy, macro_f1
from shopml.warehouse.simulator.config import Behaviour, Writing
from shopml.warehouse.simulator.reviews import write_reviews
from shopml.warehouse.simulator.text import NOUNS
from training.tasks.review_sentiment import CLASSES, RATING, RATINGS, SENTIMENT, sentiment_class

TASKS = ("review_sentiment", "categorize", "feedback")


TEST_REVIEWS = 2000


def written_reviews(n: int, seed: int = 7) -> pl.DataFrame:
    """``n`` reviews from the simulator's writer: satisfaction ~ quality + noise as the shop draws
    them, the rating from it as the shop rates, the text aspect by aspect."""
    rng = np.random.default_rng(seed)
    satisfaction = rng.normal(0.0, 0.6, n) + rng.normal(0.0, 0.8, n) + rng.normal(0.0, Behaviour().satisfaction_noise, n)
    rating = np.clip(np.round(3.2 + 1.3 * satisfaction), 1, 5).astype(np.int64)
    nouns = NOUNS.words[rng.integers(0, len(NOUNS.words), n)]
    text = write_reviews(rating, satisfaction, nouns, Writing(), rng).text
    return pl.DataFrame({"text": text.tolist(), "rating": rating, "class": sentiment_class(rating).tolist()})


def timed_fine_tune(reviews: int) -> dict:
    """Fine-tune on ``reviews`` written reviews; time, peak memory and figures on 2,000 more."""
    written = written_reviews(reviews + TEST_REVIEWS)
    train, test = written[:reviews], written[reviews:]
    started = time.perf_counter()
    tuned = fine_tune(train["text"].to_list(),
                      {SENTIMENT: np.searchsorted(CLASSES, train["class"].to_numpy()), RATING: train["rating"].to_numpy() - 1},
                      {SENTIMENT: list(CLASSES), RATING: list(RATINGS)}, FineTuneConfig(),
                      on_progress=lambda done, total: print(f"  {done:,} of {total:,} reviews", flush=True))
    seconds = time.perf_counter() - started
    predicted = np.asarray(CLASSES, dtype=object)[tuned.probabilities(test["text"].to_list())[SENTIMENT].argmax(1)]
    truth = test["class"].to_numpy()
    return {"reviews": train.height, "written_by": "simulator.reviews", "epochs": 1, "seconds": round(seconds, 1),
            "reviews_per_second": round(train.height / seconds, 1),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "test_reviews": test.height, "test_macro_f1": macro_f1(truth, predicted), "test_accuracy": accuracy(truth, predicted)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    parser.add_argument("--finetune", type=int, default=0, help="reviews to time a fine-tune on (0: none)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = Settings.resolve(args.home)
    report = {}
    for task in TASKS:
        _, metadata = artifact_folder(f"{task}:latest", settings)
        report[task] = {"config": metadata["config"], "tables": {k: v for k, v in metadata["metrics"].items()
                                                                  if isinstance(v, dict)}}
    previous = RESULTS_DIR / "text.json"
    if args.finetune:
        report["fine_tune"] = timed_fine_tune(args.finetune)
        print(f"fine-tune: {report['fine_tune']}")
    elif previous.is_file() and "fine_tune" in json.loads(previous.read_text()):
        report["fine_tune"] = json.loads(previous.read_text())["fine_tune"]       # kept from its last run
    print(f"wrote {write_results('text', report)}")


if __name__ == "__main__":
    main()
