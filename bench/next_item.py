"""The next-item model on public data: Amazon Beauty, Sports and Outdoors, Toys and Games (5-core,
the S3-Rec preprocessing, ``../shared/datasets/amazon_seqrec``), by the standard protocol:
leave-one-out (the last item tests, the one before validates), a full ranking of every item, the
items the user read masked; HR@10 and NDCG@10 (and MRR) on the test targets, beside popularity and
the published SASRec and S3-Rec figures (S3-Rec paper, CIKM 2020, same data and protocol).

The model is ``training.sequence_model`` with the attribute ids of each item as side information
(``--no-attributes`` without), early-stopped on the validation targets' NDCG@10; time and peak
memory per dataset are recorded, on 2 CPU cores. With ``--home``, the figures of the demo shop's
``next_item`` model (``shopml train next_item``) are recorded beside them, for docs/sequences.md.

    python -m bench.next_item [--datasets Beauty Sports Toys] [--data DIR] [--max-minutes 25]
    python -m bench.next_item --home data --datasets       # only the shop's figures
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

from bench.measure import RESULTS_DIR, measure, write_results
from training.public_sequences import DATASETS, leave_one_out, load
from training.sequence_model import SelfAttentiveRecommender, SequenceModelConfig, popularity, ranking_metrics

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "amazon_seqrec"
PUBLISHED = {   # HR@10, NDCG@10 (S3-Rec paper, Table 2)
    "Beauty": {"PopRec": (0.0152, 0.0068), "SASRec": (0.0605, 0.0318), "S3-Rec": (0.0647, 0.0327)},
    "Sports": {"PopRec": (0.0094, 0.0053), "SASRec": (0.0350, 0.0192), "S3-Rec": (0.0385, 0.0204)},
    "Toys": {"PopRec": (0.0113, 0.0061), "SASRec": (0.0675, 0.0374), "S3-Rec": (0.0700, 0.0376)},
}
SOURCE = "Zhou et al., S3-Rec, CIKM 2020, Table 2 (full ranking, leave-one-out)"


def run_dataset(folder: Path, name: str, config: SequenceModelConfig, attributes: bool) -> dict:
    data = load(folder, name)
    split = leave_one_out(data.sequences)
    side = data.attributes if attributes else None

    def fit():
        return SelfAttentiveRecommender(data.items, config, side).fit(
            split.train, split.validation,
            on_epoch=lambda epoch, loss, score: print(f"  {name} epoch {epoch}: loss {loss:.3f}, "
                                                      f"validation NDCG@10 {score:.4f}", flush=True))

    model, seconds, peak, _ = measure(fit)
    return {"users": len(split.train), "items": data.items,
            "interactions": int(sum(len(s) for s in data.sequences)),
            "attributes": None if side is None else int(side.shape[1]),
            "model": ranking_metrics(model.scores, split.test),
            "popularity": ranking_metrics(popularity(split.train, data.items), split.test),
            "validation_ndcg_at_10": max(h["validation_ndcg_at_10"] for h in model.history),
            "epochs": model.epochs_run, "best_epoch": model.best_epoch,
            "train_seconds": round(seconds, 1), "peak_rss_mib": round(peak, 1),
            "published": {system: {"hr_at_10": hr, "ndcg_at_10": ndcg}
                          for system, (hr, ndcg) in PUBLISHED[name].items()}}


def shop_figures(home: str) -> dict:
    """The test table, cut-offs, epochs and training time of a home's latest next_item model."""
    from shopml.model_store import artifact_folder
    from shopml.settings import Settings
    from training.tasks.next_item import TABLE

    _, metadata = artifact_folder("next_item:latest", Settings.resolve(home))
    return {"table": metadata["metrics"][TABLE], "cutoffs": metadata["cutoffs"], "best_epoch": metadata["best_epoch"],
            "epochs": len(metadata["epochs"]), "seconds": metadata["metrics"]["seconds"], "config": metadata["config"]}


def next_action_figures(home: str) -> dict | None:
    """The test tables (next action, next view's category), step counts and cut-offs of a home's
    latest next_action model."""
    from shopml.model_store import ModelMissingError, artifact_folder
    from shopml.settings import Settings
    from training.tasks.next_action import CATEGORY_TABLE, TABLE

    try:
        _, metadata = artifact_folder("next_action:latest", Settings.resolve(home))
    except ModelMissingError:
        return None
    return {"table": metadata["metrics"][TABLE], "category_table": metadata["metrics"][CATEGORY_TABLE],
            "training": metadata["metrics"]["training"]["model"],
            "cutoffs": metadata["cutoffs"], "seconds": metadata["metrics"]["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--home", default=None, help="also record this home's next_item and next_action test figures")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-minutes", type=float, default=SequenceModelConfig.max_minutes,
                        help="training time limit per dataset (the best epoch so far is kept)")
    parser.add_argument("--no-attributes", action="store_true", help="no item side information")
    args = parser.parse_args()
    if args.datasets and not args.data.is_dir():
        raise SystemExit(f"no Amazon sequences at {args.data}: pass --data DIR")
    import torch

    torch.set_num_threads(2)
    config = replace(SequenceModelConfig(), max_minutes=args.max_minutes)
    runs = {}
    for name in args.datasets:
        print(f"{name} ...", flush=True)
        run = runs[name] = run_dataset(args.data, name, config, not args.no_attributes)
        print(f"{name}: HR@10 {run['model']['hr_at_10']:.4f} NDCG@10 {run['model']['ndcg_at_10']:.4f} "
              f"(S3-Rec {PUBLISHED[name]['S3-Rec'][0]:.4f} / {PUBLISHED[name]['S3-Rec'][1]:.4f}; popularity "
              f"{run['popularity']['hr_at_10']:.4f}) in {run['train_seconds']} s, best epoch {run['best_epoch']}, "
              f"peak {run['peak_rss_mib']:,} MiB", flush=True)
    earlier = RESULTS_DIR / "next_item.json"       # a run of some datasets keeps the others' figures
    kept = json.loads(earlier.read_text()) if earlier.is_file() else {}
    shop = kept.get("simulated_shop") if args.home is None else shop_figures(args.home)
    next_action = kept.get("next_action") if args.home is None else next_action_figures(args.home)
    path = write_results("next_item", {"protocol": "leave-one-out, full ranking over all items, items read masked",
                                       "source": SOURCE, "config": asdict(config) if runs else kept.get("config"),
                                       "runs": kept.get("runs", {}) | runs, "simulated_shop": shop,
                                       "next_action": next_action})
    print(json.dumps({name: run["model"] for name, run in runs.items()}))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
