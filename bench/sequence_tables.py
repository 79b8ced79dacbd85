"""The tables of ``docs/sequences.md`` (next item, next action), from ``bench/results/next_item.json`` (``bench.next_item``),
and the real-time path's freshness in ``docs/features.md`` (``bench/results/stream_freshness.json``);
written by ``python -m bench.docs``."""

from __future__ import annotations


def _pair(figures: dict) -> str:
    return f"{figures['hr_at_10']:.4f} / {figures['ndcg_at_10']:.4f}"


def amazon_table(report: dict) -> str:
    """Per dataset, ours beside popularity and the published figures (HR@10 / NDCG@10)."""
    lines = ["| dataset | users | items | **ours** (SASRec + attributes, softmax) | popularity (ours) | PopRec | SASRec "
             "| S3-Rec | ours vs S3-Rec, HR@10 | epochs (best) | training time | peak memory |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, run in report.get("runs", {}).items():
        published = run["published"]
        lead = run["model"]["hr_at_10"] / published["S3-Rec"]["hr_at_10"]
        lines.append(f"| {name} | {run['users']:,} | {run['items']:,} | **{_pair(run['model'])}** | {_pair(run['popularity'])} "
                     f"| {_pair(published['PopRec'])} | {_pair(published['SASRec'])} | {_pair(published['S3-Rec'])} "
                     f"| {lead:.2f}x | {run['epochs']} ({run['best_epoch']}) | {run['train_seconds'] / 60:.1f} min "
                     f"| {run['peak_rss_mib'] / 1024:.1f} GiB |")
    return "\n".join(lines)


def shop_table(report: dict) -> str:
    """The demo shop's next purchases: the model beside its baselines and the taste oracle."""
    shop = report.get("simulated_shop")
    if not shop:
        return "Not measured yet: `make demo`, then `python -m bench.next_item --home data --datasets`."
    lines = ["| test weeks' buyers | HR@10 | NDCG@10 | MRR | share of the oracle's NDCG@10 |", "|---|---|---|---|---|"]
    for name, row in shop["table"].items():
        share = row.get("share_of_oracle_ndcg")
        lines.append(f"| {name} | {row['hr_at_10']:.4f} | {row['ndcg_at_10']:.4f} | {row['mrr']:.4f} | "
                     f"{'–' if share is None else f'{share:.2f}'} |")
    users = next(iter(shop["table"].values()))["users"]
    lines += ["", f"{users:,} buyers over the test weeks from {', '.join(c[:10] for c in shop['cutoffs']['test'])}; "
              f"early stopping kept epoch {shop['best_epoch']} of {shop['epochs']}; trained in "
              f"{shop['seconds']['train']:.0f} s."]
    return "\n".join(lines)


def next_action_table(report: dict) -> str:
    """The demo shop's next actions and next views' categories: the models beside the baselines
    and the simulator's own."""
    shop = report.get("next_action")
    if not shop:
        return "Not measured yet: `make demo`, then `python -m bench.next_item --home data --datasets`."
    systems = {"model": "LightGBM on the session so far + the user's habits", "baseline": "baseline",
               "oracle": "the simulator's own probabilities"}
    lines = ["| test week | next action: log loss | accuracy | skill | next view's category: log loss | accuracy | skill |",
             "|---|---|---|---|---|---|---|"]
    for name, row in shop["table"].items():
        place = shop["category_table"][name]
        lines.append(f"| {systems.get(name, name)} | " + " | ".join(
            f"{r['log_loss']:.4f} | {r['accuracy']:.3f} | {'–' if r.get('skill') is None else format(r['skill'], '.2f')}"
            for r in (row, place)) + " |")
    fitted = shop["training"]
    lines += ["", f"Baselines: the step shares (next action) and staying in the latest view's category (next view). "
              f"{fitted['test_steps']:,} steps of the test week from {shop['cutoffs']['test'][0][:10]} "
              f"({fitted['category_test_steps']:,} of them before a view, for the category); trained on "
              f"{fitted['train_steps']:,} steps (early stopping kept {fitted['best_iteration']} rounds) and "
              f"{fitted['category_train_steps']:,} before a view ({fitted['category_best_iteration']} rounds); "
              f"both trained in {shop['seconds']['train']:.0f} s."]
    return "\n".join(lines)


def freshness_line(report: dict) -> str:
    """One sentence per online store measured."""
    lines = []
    for run in report.get("runs", {}).values():
        store = {"sqlite": "SQLite", "redis": "Redis"}.get(run["online_store"], run["online_store"])
        lines.append(f"Freshness on the demo shop ({store} online store, 2 cores): {run['events']:,} events of "
                     f"{run['day']} sent at {run['sent_per_second']:,.0f} events/s and consumed at "
                     f"{run['consumed_per_second']:,.0f}/s, {run['events_per_push']:.0f} events per push; from entering "
                     f"the stream to readable online p50 {run['freshness_p50_ms']:.0f} ms, p99 "
                     f"{run['freshness_p99_ms']:.0f} ms (max {run['freshness_max_ms']:.0f} ms).")
    return "\n\n".join(lines)
