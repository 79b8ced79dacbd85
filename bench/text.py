"""The text tasks' figures on a home (the demo shop after ``make demo``): the test tables of the
latest ``review_sentiment``, ``categorize`` and ``feedback`` models, for ``docs/text.md``
(``python -m bench.docs``). With ``--finetune N`` it also times the fine-tune of the encoder on
the latest N training reviews (one epoch, 2 cores) and scores it on the test reviews.

    python -m bench.text --home data [--finetune 20000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from bench.measure import write_results
from shopml.model_store import artifact_folder
from shopml.settings import Settings
from training.finetune import FineTuneConfig, fine_tune
from training.metrics.multiclass import accuracy, macro_f1
from training.tasks.review_sentiment import CLASSES, RATING, RATINGS, SENTIMENT, ReviewSentimentConfig, ReviewSentimentTask

TASKS = ("review_sentiment", "categorize", "feedback")


def timed_fine_tune(settings: Settings, reviews: int) -> dict:
    """Fine-tune on the latest ``reviews`` training reviews; time, peak memory and test figures."""
    data = ReviewSentimentTask().build_dataset(ReviewSentimentConfig(), settings)
    train, test = data.splits["train"][-reviews:], data.splits["test"]
    started = time.perf_counter()
    tuned = fine_tune(train["text"].to_list(),
                      {SENTIMENT: np.searchsorted(CLASSES, train["class"].to_numpy()), RATING: train["rating"].to_numpy() - 1},
                      {SENTIMENT: list(CLASSES), RATING: list(RATINGS)}, FineTuneConfig(),
                      on_progress=lambda done, total: print(f"  {done:,} of {total:,} reviews", flush=True))
    seconds = time.perf_counter() - started
    predicted = np.asarray(CLASSES, dtype=object)[tuned.probabilities(test["text"].to_list())[SENTIMENT].argmax(1)]
    truth = test["class"].to_numpy()
    return {"reviews": train.height, "epochs": 1, "seconds": round(seconds, 1),
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
    if args.finetune:
        report["fine_tune"] = timed_fine_tune(settings, args.finetune)
        print(f"fine-tune: {report['fine_tune']}")
    print(f"wrote {write_results('text', report)}")


if __name__ == "__main__":
    main()
