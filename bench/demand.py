"""The demand family on the simulated shop and on real sales.

- ``forecast`` on the demo shop and on UCI Online Retail I (2010-12 to 2011-12) and II (the
  2009-2010 sheet), each with the same protocol (4 validation and the latest 4 test origins a
  week apart, 28-day horizons, purged) against the same statsforecast baselines: the item and
  category tables (WRMSSE, RMSSE, MASE, WAPE, bias, coverage), what validation chose.
- ``price_elasticity`` on the demo shop, per category beside the simulator's truth (Online
  Retail's items have no categories, which the estimate compares: it is refused there), and its
  price advice in the what-if shop (validation and test).
- ``price_prediction`` on the demo shop and on UCI Online Retail I: new items' list price from
  their text's nearest neighbours, listed items' price a week later (the real home's item index
  is built first: the neighbours come from it).

Each run in a process of its own (BentoML keeps one model store per process, and the peak memory
is then the run's own), with its time. ``docs/demand.md``'s tables are generated from the results
(``python -m bench.docs``). A real home missing from its folder is made first (``shopml ingest
online-retail``, then the features), so on a fresh checkout after ``make demo``:

    python -m bench.demand [--home data] [--datasets ../shared/datasets/uci_online_retail]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench.measure import measure, write_results
from shopml.settings import Settings

REAL = {"online_retail": "online_retail_I_2010-12_2011-12.parquet",
        "online_retail_ii": "online_retail_II_sheet_2009-2010.parquet"}
CHOICES = {"forecast": ("objective", "long_run_features", "dispersion"), "price_elasticity": ("band", "allow_rises"),
           "price_prediction": ("neighbours",)}


def real_home(name: str, datasets: Path, home: Path) -> Settings:
    """The home of a real dataset under ``home``, imported and featurised when missing."""
    from feature_repo.pipeline import build_features
    from feature_repo.store import apply
    from shopml.warehouse.importers.online_retail import ingest_online_retail

    settings = Settings.resolve(home / name)
    if not settings.warehouse_path.is_file():
        print(f"importing {datasets / REAL[name]} into {settings.home} ...", flush=True)
        ingest_online_retail(datasets / REAL[name], settings.warehouse_path)
    build_features(settings)
    apply(settings)
    return settings


def train(task: str, settings: Settings) -> dict:
    """``task`` trained on ``settings``' home in a process of its own."""
    done = subprocess.run([sys.executable, "-m", "bench.demand", "--run", task, str(settings.home)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(f"{task} on {settings.home} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_here(task_name: str, settings: Settings) -> dict:
    from shopml.model_store import artifact_folder
    from training.config import resolve_config
    from training.task import run
    from training.tasks import REGISTRY

    if task_name == "item_index":
        from training.item_index import build_item_index

        build_item_index(settings)
        return {}
    task = REGISTRY[task_name]
    result, seconds, peak, _ = measure(run, task, resolve_config(task.config_type), settings)
    _, metadata = artifact_folder(result.tag, settings)
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak),
            **({"origins": metadata["origins"]} if "origins" in metadata else {"days": metadata.get("days")}),
            "chosen": {k: metadata["config"][k] for k in CHOICES[task_name]},
            "tables": {name: rows for name, rows in result.metrics.items() if isinstance(rows, dict)
                       and rows and all(isinstance(r, dict) for r in rows.values())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default="data", help="the simulated shop's home (after make demo)")
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets/uci_online_retail"))
    parser.add_argument("--run", nargs=2, metavar=("TASK", "HOME"), help=argparse.SUPPRESS)   # one child run
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_here(args.run[0], Settings.resolve(args.run[1])), default=str))
        return
    shop = Settings.resolve(args.home)
    homes = {"simulated_shop": shop, **{name: real_home(name, args.datasets, shop.home) for name in REAL}}
    report = {"forecast": {}, "price_elasticity": {}}
    for name, settings in homes.items():
        print(f"forecast on {name} ...", flush=True)
        run = report["forecast"][name] = train("forecast", settings)
        items = run["tables"]["items: daily units"]
        print(f"  {run['seconds']} s, peak {run['peak_rss_mib']} MiB; item WRMSSE model {items['model']['wrmsse']:.3f}, "
              f"seasonal naive {items['seasonal_naive']['wrmsse']:.3f}, ETS {items['ets']['wrmsse']:.3f}", flush=True)
    for name in ("simulated_shop", "online_retail"):
        print(f"price_prediction on {name} ...", flush=True)
        if name != "simulated_shop":
            train("item_index", homes[name])
        run = report.setdefault("price_prediction", {})[name] = train("price_prediction", homes[name])
        new = run["tables"]["new items: list price at launch"]
        print(f"  {run['seconds']} s; new-item MAPE model {new['model']['mape']:.3f}, category median "
              f"{new['category median']['mape']:.3f}", flush=True)
    print("price_elasticity on simulated_shop ...", flush=True)
    run = report["price_elasticity"]["simulated_shop"] = train("price_elasticity", shop)
    truth = run["tables"]["against the truth"]
    print(f"  {run['seconds']} s; MAE against the truth: differences {truth['differences']['mae']:.3f}, "
          f"levels {truth['levels']['mae']:.3f}", flush=True)
    print(f"wrote {write_results('demand', report)}")


if __name__ == "__main__":
    main()
