"""The tables of ``docs/text.md``, from ``bench/results/text.json`` (``bench.text``) and
``bench/results/encode.json`` (``bench.encode``); written by ``python -m bench.docs``."""

from __future__ import annotations


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def _table(rows: dict[str, dict], columns: dict[str, str], bold: str = "model") -> list[str]:
    lines = ["| | " + " | ".join(columns.values()) + " |", "|---|" + "---|" * len(columns)]
    for name, row in rows.items():
        label = f"**{name}**" if name == bold else name
        lines.append(f"| {label} | " + " | ".join(_f(row.get(c)) for c in columns) + " |")
    return lines


def sentiment_tables(report: dict) -> str:
    run = report["review_sentiment"]["tables"]
    chosen = run["chosen on validation"]["model"]
    lines = _table(run["sentiment of later reviews"], {"accuracy": "accuracy", "macro_f1": "macro-F1",
                                                       "log_loss": "log loss", "rating_mae": "rating MAE"})
    lines += ["", f"Chosen on validation: the {chosen['model']} (fine-tuned on {chosen['finetune_reviews']:,} reviews in "
              f"{chosen['finetune_seconds']:,.0f} s; {chosen['train_reviews']:,} training, {chosen['test_reviews']:,} test reviews).", ""]
    kinds = run.get("by kind of review (simulated truth)", {})
    if kinds:
        lines += ["| test reviews | reviews | model accuracy | model macro-F1 | TF-IDF accuracy | TF-IDF macro-F1 |",
                  "|---|---|---|---|---|---|"]
        for kind in dict.fromkeys(key.split(": ", 1)[1] for key in kinds):
            model, tfidf = kinds.get(f"model: {kind}", {}), kinds.get(f"TF-IDF + LR: {kind}", {})
            lines.append(f"| {kind} | {model.get('reviews', '–')} | {_f(model.get('accuracy'))} | {_f(model.get('macro_f1'))} "
                         f"| {_f(tfidf.get('accuracy'))} | {_f(tfidf.get('macro_f1'))} |")
    tuned = report.get("fine_tune")
    if tuned:
        lines += ["", f"Fine-tune of {tuned['reviews']:,} reviews, one epoch on 2 cores (`python -m bench.text --home data "
                  f"--finetune {tuned['reviews']}`): {tuned['seconds'] / 60:.1f} minutes ({tuned['reviews_per_second']:.0f} "
                  f"reviews/s, peak memory {tuned['peak_memory_mb']:,} MB); test macro-F1 {_f(tuned['test_macro_f1'])}, "
                  f"accuracy {_f(tuned['test_accuracy'])}."]
    return "\n".join(lines)


def category_tables(report: dict) -> str:
    run = report["categorize"]["tables"]
    lines = _table(run["category of later items"], {
        "category_macro_f1": "category macro-F1", "category_accuracy": "category accuracy",
        "subcategory_macro_f1": "subcategory macro-F1", "subcategory_accuracy": "subcategory accuracy",
        "subcategory_in_category": "subcategory inside the category"})
    review = next(v for k, v in run.items() if k.startswith("sent to a person"))["model"]
    chosen = run["chosen on validation"]["model"]
    lines += ["", f"Sent to a person (confidence below {chosen['review_threshold']:.3f}, chosen on validation for a "
              f"category accuracy of the rest of at least the target): {review['review_share']:.1%} of the test items; "
              f"the rest are {review['category_accuracy_not_reviewed']:.1%} right.", "",
              "| held-out category | test items | recall | precision |", "|---|---|---|---|"]
    lines += [f"| {name} | {row['items']} | {_f(row['recall'])} | {_f(row['precision'])} |"
              for name, row in run["zero-shot: each category held out in turn"].items()]
    return "\n".join(lines)


def feedback_tables(report: dict) -> str:
    run = report["feedback"]["tables"]
    lines = []
    if "topic purity against recorded aspects" in run:
        lines += _table(run["topic purity against recorded aspects"], {
            "sentences": "test sentences", "purity": "purity", "nmi": "NMI", "aspect_name_accuracy": "aspect named right"})
        sentence = run["sentence sentiment against the aspects' truth"]["model"]
        lines += ["", f"A sentence's sentiment (the review head on its vector) against its aspect's true sentiment: "
                  f"correlation {sentence['correlation']:.3f}, same sign {sentence['sign_agreement']:.1%} "
                  f"({sentence['sentences']:,} sentences).", ""]
    lines += ["| topic | aspect | share of test sentences | keywords |", "|---|---|---|---|"]
    lines += [f"| {name} | {row['aspect']} | {row['share']:.1%} | {row['keywords']} |"
              for name, row in run["topics of later reviews"].items()]
    if "alerts: rising negative share" in run:
        lines += [""] + _table(run["alerts: rising negative share"], {
            "items_tested": "items tested", "alerts": "alerts", "precision": "precision (defective)",
            "recall_of_defective_tested": "recall of the defective tested", "share_truly_low_quality": "truly low quality"})
    return "\n".join(lines)


def encoder_line(encode: dict) -> str:
    plain, platform = encode["runs"][0], encode["platform"]
    return (f"The encoder (`python -m bench.encode --home data`): {platform['sentences_per_second']:,.0f} texts/s, "
            f"{platform['sentences_per_second'] / plain['sentences_per_second']:.2f}x the plain model "
            f"({plain['sentences_per_second']:,.0f}/s), mean cosine {platform['mean_cosine_to_plain']:.4f}, "
            f"batch-safe: {'yes' if platform['batch_safe'] else 'no'}.")
