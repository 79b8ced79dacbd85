"""The uplift, ad incrementality and Hillstrom tables of ``docs/marketing.md``, from ``bench/results/uplift.json`` (``bench.uplift``)
and ``bench/results/hillstrom.json`` (``bench.hillstrom``); written by ``python -m bench.docs``."""

from __future__ import annotations

from bench.cells import change_interval

SCORES = {"model": "**uplift model**", "purchase propensity": "purchase propensity", "random": "random",
          "oracle": "oracle (true uplift)"}
PLAN_MEASURES = ("buyers", "revenue", "coupon_cost", "churned", "value")


def _f(value: float, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:,.{digits}f}"


def uplift_tables(report: dict) -> str:
    report = {task: run for task, run in report["tasks"].items() if "learner" in run["config"]}
    parts = ["| task: targeting by | observed Qini | uplift@30% | expected Qini | share of the oracle's expected Qini |",
             "|---|---|---|---|---|"]
    for task, run in report.items():
        for score, row in run["tables"]["test sends (targeting by each score)"].items():
            learner = run["config"]["learner"].replace("_", "-")
            name = SCORES.get(score, score) + (f" ({learner})" if score == "model" else "")
            parts.append(f"| {task}: {name} | {_f(row['qini'], 1)} | {_f(row['uplift_at_30'])} | "
                         f"{_f(row.get('true_qini'), 1)} | {_f(row.get('share_of_oracle_true_qini'))} |")
    parts += ["", "| task: targeting by (test sends' spend) | observed Qini (currency) | uplift@30% (spend per user) |",
              "|---|---|---|"]
    for task, run in report.items():
        for score, row in run["tables"].get("test sends, spend in the window (targeting by each score)", {}).items():
            parts.append(f"| {task}: {score} | {_f(row['qini'], 0)} | {_f(row['uplift_at_30'], 2)} |")
    for task, run in report.items():
        put_off = run["tables"].get("who a send puts off (test sends, against the truth)")
        if put_off:
            row = put_off["visit uplift below 0"]
            parts += ["", "| who a push puts off (test sends) | AUC | precision | recall | flagged | truly put off |",
                      "|---|---|---|---|---|---|",
                      f"| {task}: visit uplift below 0 | {_f(row['auc'])} | {_f(row['precision'])} | {_f(row['recall'])} "
                      f"| {_f(row['flagged_share'])} | {_f(row['true_share'])} |"]
        parts += harm_tables(task, run["tables"])
    for task, run in report.items():
        plans = run["tables"].get("what-if shop: one more campaign after the data, per plan")
        if not plans:
            continue
        predicted = any("predicted_users_lost" in row for row in plans.values())
        extra = " predicted users lost (model) |" if predicted else ""
        parts += ["", f"| {task}: plan (what-if shop) | sends | " + " | ".join(
            f"{m.replace('_', ' ')} change" for m in PLAN_MEASURES) + f" |{extra}",
                  "|---|---|" + "---|" * (len(PLAN_MEASURES) + predicted)]
        parts += [f"| {plan} | {row['sends']:,.0f} | " + " | ".join(change_interval(row, m) for m in PLAN_MEASURES) + " |"
                  + (f" {_f(row.get('predicted_users_lost'), 1)} |" if predicted else "")
                  for plan, row in plans.items()]
        margins = run["tables"]["what-if shop: the uplift model's plan against each other plan"]
        parts += ["", f"| {task}: one plan minus another | " + " | ".join(
            m.replace("_", " ") for m in PLAN_MEASURES) + " |", "|---|" + "---|" * len(PLAN_MEASURES)]
        parts += [f"| {pair.replace(' - ', ' − ')} | " + " | ".join(change_interval(row, m) for m in PLAN_MEASURES) + " |"
                  for pair, row in margins.items()]
        choice = run["tables"].get("what-if shop: the model's choice of campaign against the truth")
        if choice:
            parts += ["", f"| {task}: each planned user's campaign | truly the best for the user | "
                      "expected buyers (true uplift) |", "|---|---|---|"]
            parts += [f"| {name} | {_f(row['truly_best_share'])} | {_f(row['expected_buyers_of_the_plan'], 1)} |"
                      for name, row in choice.items()]
    return "\n".join(parts)


def harm_tables(task: str, tables: dict) -> list[str]:
    """The harm model's two tables (pushes): how each score ranks the sends by the users they drive
    away, and the harm on average against the randomised arms."""
    ranking = tables.get("who a send drives away: silent all through the days after the window (the harm's test sends)")
    if not ranking:
        return []
    parts = ["", "| who a push drives away (the harm's test sends): ranking by | observed Qini (users lost) | "
             "uplift@30% | AUC for the truly put off |", "|---|---|---|---|"]
    parts += [f"| {task}: {score} | {_f(row['qini'], 1)} | {_f(row['uplift_at_30'])} | {_f(row['auc_truly_put_off'])} |"
              for score, row in ranking.items()]
    average = tables["the harm on average: predicted against the randomised arms (the harm's test sends)"]
    row = average["added chance of being lost"]
    parts += ["", "| the harm on average (the harm's test sends) | sends | predicted | observed, sent − held out | "
              "silent share of the held out |", "|---|---|---|---|---|",
              f"| {task}: added chance of being lost | {row['sends']:,.0f} | {_f(row['predicted_mean'], 4)} | "
              f"{_f(row['observed'], 4)} ({_f(row['observed_low'], 4)} to {_f(row['observed_high'], 4)}) | "
              f"{_f(row['lost_share_held_out'])} |"]
    return parts


def hillstrom_table(report: dict) -> str:
    parts = ["| arm / target | learner | uplift@30%, published split | over 10 more splits | propensity (over the splits) "
             "| random | Qini | published |",
             "|---|---|---|---|---|---|---|---|"]
    for key, run in report["runs"].items():
        figures, spread = run["figures"], run["over_splits"]["model"]
        published = run.get("published", {}).get("uplift_at_30")
        parts.append(f"| {key} | {run['learner'].replace('_', '-')} | **{_f(figures['model']['uplift_at_30'], 4)}** | "
                     f"{_f(spread['uplift_at_30_mean'], 4)} ± {_f(spread['uplift_at_30_sd'], 4)} | "
                     f"{_f(figures['purchase propensity']['uplift_at_30'], 4)} "
                     f"({_f(run['over_splits']['purchase propensity']['uplift_at_30_mean'], 4)}) | "
                     f"{_f(figures['random']['uplift_at_30'], 4)} | "
                     f"{_f(figures['model']['qini'], 1)} | {_f(published, 4) if published else '–'} |")
    return "\n".join(parts)


def ad_tables(report: dict) -> str:
    run = report["tasks"]["ad_incrementality"]
    tables, config = run["tables"], run["config"]

    def interval(row: dict, measure: str) -> str:
        value = row.get(measure, float("nan"))
        if value != value:
            return "–"
        low, high = row.get(f"{measure}_low", float("nan")), row.get(f"{measure}_high", float("nan"))
        return f"{value:.2f}" + (f" ({low:.2f} to {high:.2f})" if low == low else "")

    parts = [f"| per 1,000 ad slots, the last {config['window_days']} days | slots shown | held out | clicks | "
             "incremental conversions |", "|---|---|---|---|---|"]
    for group, row in tables["per campaign (the advertised item's category), latest window"].items():
        parts.append(f"| {group} | {row['shown']:,.0f} | {row['held_out']:,.0f} | {interval(row, 'clicks_per_1000')} "
                     f"| {interval(row, 'incremental_conversions_per_1000')} |")
    parts += ["", "| all ads, per 1,000 slots shown | clicks | incremental conversions of the ad's item | "
              "units of the whole shop |", "|---|---|---|---|"]
    for source, row in tables["all ads against the truth"].items():
        parts.append(f"| {source} | {interval(row, 'clicks_per_1000')} | {interval(row, 'incremental_conversions_per_1000')} "
                     f"| {interval(row, 'units_per_1000')} |")
    policies = tables.get("new ad policies, off the log and in the what-if shop (per 1,000 shown slots)", {})
    if policies:
        parts += ["", "| ad policy: estimated by | clicks per 1,000 slots | conversions per 1,000 slots |", "|---|---|---|"]
        parts += [f"| {name} | {interval(row, 'clicked_per_1000')} | {interval(row, 'converted_per_1000')} |"
                  for name, row in policies.items()]
    coverage = tables.get("per ad, the estimates against the truth", {}).get("clicks")
    if coverage:
        parts += ["", f"Per ad ({coverage['ads']:.0f} ads): the 95% intervals of the click rate cover the true one for "
                  f"{100 * coverage['coverage']:.1f}% of them; mean absolute error {coverage['mae_per_1000']:.1f} per 1,000."]
    return "\n".join(parts)


def audience_table(report: dict) -> str:
    tables = report["tasks"]["ad_audience"]["tables"]
    rows = tables["test slots, shown against ghost (targeting by each score)"]
    parts = ["| audience by (test slots) | observed Qini (conversions) | uplift@10% | uplift@30% | expected Qini | "
             "share of the oracle's expected Qini |", "|---|---|---|---|---|---|"]
    names = {"model": "**expected incremental conversions**", "click rate": "click probability", "random": "random",
             "oracle": "true incremental conversions (oracle)"}
    parts += [f"| {names.get(score, score)} | {_f(row['qini'], 1)} | {_f(row['uplift_at_10'], 4)} | "
              f"{_f(row['uplift_at_30'], 4)} | {_f(row.get('true_qini'), 1)} | "
              f"{_f(row.get('share_of_oracle_true_qini'))} |" for score, row in rows.items()]
    lead = tables.get("test slots: expected Qini, the audience less the click-rate audience (bootstrap over the slots)")
    if lead:
        row = lead["model"]
        parts += ["", f"The audience's expected Qini less the click audience's: {row['difference']:+.2f} "
                  f"({row['low']:+.2f} to {row['high']:+.2f}, 95% bootstrap interval over the test slots)."]
    for title, key, digits in (("conversions per 1,000 shown slots, among the top",
                                "test slots shown: conversions per 1,000 among each score's top share", 1),
                               ("expected incremental conversions per 1,000 slots (the truth), among the top",
                                "test slots: expected incremental conversions per 1,000 among each score's top share "
                                "(the truth)", 2)):
        top = tables.get(key)
        if top:
            shares = [share for share in next(iter(top.values())) if share != "all"]
            parts += ["", f"| {title} | " + " | ".join(
                share.removeprefix("top_").replace("_percent", "%") for share in shares) + " | all |",
                "|---|" + "---|" * (len(shares) + 1)]
            parts += [f"| {names.get(score, score)} | "
                      + " | ".join(_f(row[share], digits) for share in [*shares, "all"]) + " |"
                      for score, row in top.items()]
    return "\n".join(parts)
