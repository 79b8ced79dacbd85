"""Regenerates the figures in the docs from ``bench/results/*.json``, never by hand: the README's
task table (from the registry and ``bench/results/tasks.json``), the latency table of
``docs/serving.md`` (``bench/results/serving.json``), the forecast, price prediction and
elasticity tables of ``docs/demand.md`` (``bench/results/demand.json``), the uplift and Hillstrom
tables of ``docs/marketing.md`` (``uplift.json``, ``hillstrom.json``), the text tables of
``docs/text.md`` (``text.json``, ``encode.json``), the next-item tables of ``docs/sequences.md``
(``next_item.json``) and ``docs/results.md``
(every benchmark's figures, one table each).

    python -m bench.docs            # after the benches (and ``python -m bench.tasks --home data``,
                                    # ``python -m bench.uplift --home data``, ``python -m bench.text --home data``)
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.cells import change_interval
from bench.marketing_tables import ad_tables, audience_table, hillstrom_table, uplift_tables
from bench.measure import RESULTS_DIR
from bench.sequence_tables import amazon_table, freshness_line, next_action_table, shop_table
from bench.text_tables import category_tables, encoder_line, feedback_tables, sentiment_tables
from training.tasks import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
README, RESULTS_PAGE, SERVING_PAGE = ROOT / "README.md", ROOT / "docs" / "results.md", ROOT / "docs" / "serving.md"
DEMAND_PAGE, MARKETING_PAGE, TEXT_PAGE = ROOT / "docs" / "demand.md", ROOT / "docs" / "marketing.md", ROOT / "docs" / "text.md"
SEQUENCES_PAGE, FEATURES_PAGE = ROOT / "docs" / "sequences.md", ROOT / "docs" / "features.md"
SEQUENCE_SECTIONS = {"amazon": amazon_table, "shop-next-item": shop_table, "shop-next-action": next_action_table}
START, END = "<!-- tasks:start (python -m bench.docs) -->", "<!-- tasks:end -->"
SERVING_START, SERVING_END = "<!-- latency:start (python -m bench.docs) -->", "<!-- latency:end -->"
FORECAST_START, FORECAST_END = "<!-- forecast:start (python -m bench.docs) -->", "<!-- forecast:end -->"
ELASTICITY_START, ELASTICITY_END = "<!-- elasticity:start (python -m bench.docs) -->", "<!-- elasticity:end -->"
PREDICTION_START, PREDICTION_END = "<!-- price-prediction:start (python -m bench.docs) -->", "<!-- price-prediction:end -->"
UPLIFT_START, UPLIFT_END = "<!-- uplift:start (python -m bench.docs) -->", "<!-- uplift:end -->"
ADS_START, ADS_END = "<!-- ads:start (python -m bench.docs) -->", "<!-- ads:end -->"
AUDIENCE_START, AUDIENCE_END = "<!-- audience:start (python -m bench.docs) -->", "<!-- audience:end -->"
HILLSTROM_START, HILLSTROM_END = "<!-- hillstrom:start (python -m bench.docs) -->", "<!-- hillstrom:end -->"
TEXT_SECTIONS = {"sentiment": sentiment_tables, "categories": category_tables, "feedback": feedback_tables}
DATASETS = {"simulated_shop": "the demo shop (simulated, seed 7)", "online_retail": "UCI Online Retail I (2010-12 to 2011-12)",
            "online_retail_ii": "UCI Online Retail II (2009-12 to 2010-12)"}
COLUMNS = {"wrmsse": "WRMSSE", "rmsse": "RMSSE", "mase": "MASE", "wape": "WAPE", "bias": "bias",
           "coverage": "coverage of the 90% interval", "wape_skill": "skill (WAPE)"}
SYSTEMS = {"model": "**model**", "seasonal_naive": "seasonal naive", "ets": "ETS", "croston_sba": "Croston (SBA)",
           "oracle": "oracle"}
MAX_ROWS = 60           # figures shown per benchmark; the JSON holds the rest


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}"


def task_table(measured: dict[str, dict]) -> str:
    rows = ["| task | the question it answers | endpoint | headline on the demo shop (test) |", "|---|---|---|---|"]
    for name, task in REGISTRY.items():
        headline = (measured.get(name) or {}).get("headline")
        endpoint = getattr(task, "endpoint", None)
        if headline is None:
            figure = "not measured yet"
        else:
            figure = f"{headline['metric']} {_number(headline['model'])}"
            if headline["reference"] is not None:
                figure += f" ({headline['reference_name']} {_number(headline['reference'])})"
            if headline["skill"] is not None:
                figure += f", skill {_number(headline['skill'])}"
        served = f"`{endpoint.path}`" if endpoint else "not served"
        rows.append(f"| `{name}` | {task.question} | {served} | {figure} |")
    return "\n".join(rows)


def latency_table(serving: dict) -> str:
    rows = ["| endpoint | in-process p50 | HTTP p50 | HTTP p99 | requests/s at 8 / 32 | errors | goal p99 |",
            "|---|---|---|---|---|---|---|"]
    for name, run in serving["endpoints"].items():
        one, http = run["http"]["1"], run["http"]
        goal = (f"{run['goal_p99_ms']:g} ms, {'met' if run['meets_goal'] else 'missed'}"
                if "goal_p99_ms" in run else "–")
        rows.append(f"| {name} | {run['in_process']['p50_ms']:.1f} ms | {one['p50_ms']:.1f} ms | {one['p99_ms']:.1f} ms "
                    f"| {http['8']['requests_per_second']:.0f} / {http['32']['requests_per_second']:.0f} "
                    f"| {run['errors']} | {goal} |")
    return "\n".join(rows)


def forecast_tables(report: dict) -> str:
    """Per dataset, the item and the category table of the forecast's test origins."""
    parts = []
    for name, run in report["forecast"].items():
        tables = run["tables"]
        origins = run["origins"]["test"]
        chosen = ", ".join(f"{k} {'Poisson' if k == 'dispersion' and v >= 1e6 else v}" for k, v in run["chosen"].items())
        parts += [f"**{DATASETS.get(name, name)}**: test origins {origins[0]} to {origins[-1]}; chosen on "
                  f"validation: {chosen}; {run['seconds']:.0f} s, peak {run['peak_rss_mib']:,} MiB.", ""]
        for level in ("items: daily units", "categories: daily units (sums of items)",
                      "validation WAPE of the weekly units (the choice)"):
            rows = tables[level]
            columns = [c for c in COLUMNS if any(r.get(c) == r.get(c) and c in r for r in rows.values())]
            parts += [f"| {level} | " + " | ".join(COLUMNS[c] for c in columns) + " |", "|---|" + "---|" * len(columns)]
            parts += [f"| {SYSTEMS.get(system, system)} | " + " | ".join(
                "–" if r.get(c) is None or r[c] != r[c] else _number(r[c]) for c in columns) + " |"
                for system, r in rows.items()]
            parts.append("")
    return "\n".join(parts).rstrip()


def elasticity_tables(report: dict) -> str:
    """Per dataset, each category's estimate beside the truth, then the methods against it."""
    parts = []
    for name, run in report["price_elasticity"].items():
        tables = run["tables"]
        parts += [f"**{DATASETS.get(name, name)}**, sale days {run['days'][0]} to {run['days'][1]}, {run['seconds']:.0f} s.",
                  "", "| category | estimate | standard error | 95% interval | levels regression | truth |",
                  "|---|---|---|---|---|---|"]
        parts += [f"| {category} | {_number(r['estimate'])} | {_number(r['se'])} | {_number(r['low'])} to "
                  f"{_number(r['high'])} | {_number(r['levels'])} | {_number(r['truth'])} |"
                  for category, r in tables["per category"].items()]
        parts += ["", "| method | MAE against the truth | rank correlation | intervals covering the truth | mean standard error |",
                  "|---|---|---|---|---|"]
        parts += [f"| {method} | {_number(r['mae'])} | {_number(r['rank_correlation'])} | {_number(r['coverage'])} "
                  f"| {_number(r['mean_se'])} |" for method, r in tables["against the truth"].items()]
        for table, rows in tables.items():
            if table.startswith("what-if shop"):
                parts += ["", f"| {table} | revenue | revenue change | units change | churned change | value change |",
                          "|---|---|---|---|---|---|"]
                parts += [f"| {arm} | {_number(r['revenue'])} | {change_interval(r, 'revenue')} | {r['units_change']:+,.0f} "
                          f"| {change_interval(r, 'churned')} | {change_interval(r, 'value')} |" for arm, r in rows.items()]
        parts.append(f"\nChosen in the validation what-if: the advice {'may' if run['chosen'].get('allow_rises') else 'may not'} "
                     "raise prices.")
    return "\n".join(parts)


def prediction_tables(report: dict) -> str:
    """Per dataset, the new-item and the next-week table of the price prediction's test rows."""
    parts = []
    for name, run in report.get("price_prediction", {}).items():
        parts += [f"**{DATASETS.get(name, name)}**, {run['seconds']:.0f} s.", ""]
        for level, rows in run["tables"].items():
            parts += [f"| {level} | MAE | MAPE | median APE | within 10% |", "|---|---|---|---|---|"]
            parts += [f"| {SYSTEMS.get(system, system)} | {_number(r['mae'])} | {_number(r['mape'])} | "
                      f"{_number(r['median_ape'])} | {_number(r['within_10_percent'])} |" for system, r in rows.items()]
            parts.append("")
    return "\n".join(parts).rstrip()


def _between(text: str, start: str, end: str, inner: str, page: Path) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"{page} has no markers {start} ... {end}")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{inner}\n{end}{rest.split(end, 1)[1]}"


def _leaves(value, path: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [leaf for key, inner in value.items() for leaf in _leaves(inner, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return [leaf for i, inner in enumerate(value)
                for leaf in _leaves(inner, f"{path}[{inner.get('task', inner.get('name', i))}]")]
    return [(path, value if not isinstance(value, list) else ", ".join(map(_number, value)))]


def results_page() -> str:
    parts = ["# Benchmark results", "",
             "Generated by `python -m bench.docs` from `bench/results/*.json`; each benchmark's command is in",
             "[benchmarks.md](benchmarks.md). Do not edit by hand.", ""]
    for path in sorted(RESULTS_DIR.glob("*.json")):
        report = json.loads(path.read_text())
        leaves = [(k, v) for k, v in _leaves({k: v for k, v in report.items() if k not in ("benchmark", "machine")})]
        machine = report.get("machine", {})
        parts += [f"## {path.stem}", "", f"`bench/results/{path.name}`, {machine.get('cpus', '?')} cores, "
                  f"Python {machine.get('python', '?')}.", "", "| figure | value |", "|---|---|"]
        parts += [f"| {key} | {_number(value)} |" for key, value in leaves[:MAX_ROWS]]
        if len(leaves) > MAX_ROWS:
            parts.append(f"| ({len(leaves) - MAX_ROWS} more in the JSON) | |")
        parts.append("")
    return "\n".join(parts)


def main() -> None:
    tasks_file = RESULTS_DIR / "tasks.json"
    measured = {t["name"]: t for t in json.loads(tasks_file.read_text())["tasks"]} if tasks_file.is_file() else {}
    README.write_text(_between(README.read_text(), START, END, task_table(measured), README))
    serving_file = RESULTS_DIR / "serving.json"
    if serving_file.is_file():
        table = latency_table(json.loads(serving_file.read_text()))
        SERVING_PAGE.write_text(_between(SERVING_PAGE.read_text(), SERVING_START, SERVING_END, table, SERVING_PAGE))
    demand_file = RESULTS_DIR / "demand.json"
    if demand_file.is_file():
        demand = json.loads(demand_file.read_text())
        page = _between(DEMAND_PAGE.read_text(), FORECAST_START, FORECAST_END, forecast_tables(demand), DEMAND_PAGE)
        page = _between(page, ELASTICITY_START, ELASTICITY_END, elasticity_tables(demand), DEMAND_PAGE)
        page = _between(page, PREDICTION_START, PREDICTION_END, prediction_tables(demand), DEMAND_PAGE)
        DEMAND_PAGE.write_text(page)
    page = MARKETING_PAGE.read_text()
    for name, start, end, table in (("uplift", UPLIFT_START, UPLIFT_END, uplift_tables),
                                    ("uplift", ADS_START, ADS_END, ad_tables),
                                    ("uplift", AUDIENCE_START, AUDIENCE_END, audience_table),
                                    ("hillstrom", HILLSTROM_START, HILLSTROM_END, hillstrom_table)):
        if (RESULTS_DIR / f"{name}.json").is_file():
            page = _between(page, start, end, table(json.loads((RESULTS_DIR / f"{name}.json").read_text())), MARKETING_PAGE)
    MARKETING_PAGE.write_text(page)
    if (RESULTS_DIR / "text.json").is_file():
        text = json.loads((RESULTS_DIR / "text.json").read_text())
        page = TEXT_PAGE.read_text()
        for name, table in TEXT_SECTIONS.items():
            page = _between(page, f"<!-- {name}:start (python -m bench.docs) -->", f"<!-- {name}:end -->", table(text), TEXT_PAGE)
        page = _between(page, "<!-- encoder:start (python -m bench.docs) -->", "<!-- encoder:end -->",
                        encoder_line(json.loads((RESULTS_DIR / "encode.json").read_text())), TEXT_PAGE)
        TEXT_PAGE.write_text(page)
    if (RESULTS_DIR / "next_item.json").is_file():
        report, page = json.loads((RESULTS_DIR / "next_item.json").read_text()), SEQUENCES_PAGE.read_text()
        for name, table in SEQUENCE_SECTIONS.items():
            page = _between(page, f"<!-- {name}:start (python -m bench.docs) -->", f"<!-- {name}:end -->", table(report),
                            SEQUENCES_PAGE)
        SEQUENCES_PAGE.write_text(page)
    if (RESULTS_DIR / "stream_freshness.json").is_file():
        page = _between(FEATURES_PAGE.read_text(), "<!-- freshness:start (python -m bench.docs) -->",
                        "<!-- freshness:end -->", freshness_line(json.loads((RESULTS_DIR / "stream_freshness.json").read_text())),
                        FEATURES_PAGE)
        FEATURES_PAGE.write_text(page)
    RESULTS_PAGE.write_text(results_page())
    print(f"wrote the task table of {README}, the latency table of {SERVING_PAGE}, the demand tables of "
          f"{DEMAND_PAGE}, the uplift tables of {MARKETING_PAGE}, the "
          f"next-item tables of {SEQUENCES_PAGE} and {RESULTS_PAGE}")


if __name__ == "__main__":
    main()
