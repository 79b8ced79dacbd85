"""The sales forecast on the simulated shop and on real sales: UCI Online Retail I (2010-12 to
2011-12) and II (the 2009-2010 sheet), each with the same protocol (4 validation and the latest 4
test origins a week apart, 28-day horizons, purged) against the same statsforecast baselines.
Per dataset: the item and category tables (WRMSSE, RMSSE, MASE, WAPE, bias, coverage), what
validation chose, the training time and peak memory. ``docs/demand.md``'s tables are generated
from the results (``python -m bench.docs``).

A real home missing from its folder is made first (``shopml ingest online-retail``, then the
features), so on a fresh checkout after ``make demo``:

    python -m bench.forecast [--home data] [--datasets ../shared/datasets/uci_online_retail]
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
CHOICES = ("objective", "long_run_features", "dispersion")


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


def forecast(settings: Settings) -> dict:
    """Train the forecast on ``settings``' home in a process of its own: BentoML keeps one model
    store per process, and the peak memory is the run's own."""
    done = subprocess.run([sys.executable, "-m", "bench.forecast", "--run-home", str(settings.home)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(f"the forecast on {settings.home} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_here(settings: Settings) -> dict:
    from shopml.model_store import load_boosters
    from training.config import resolve_config
    from training.task import run
    from training.tasks import REGISTRY

    task = REGISTRY["forecast"]
    result, seconds, peak, _ = measure(run, task, resolve_config(task.config_type), settings)
    _, metadata = load_boosters(result.tag, settings)
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(peak), "origins": metadata["origins"],
            "chosen": {k: metadata["config"][k] for k in CHOICES},
            "tables": {name: rows for name, rows in result.metrics.items() if isinstance(rows, dict)
                       and rows and all(isinstance(r, dict) for r in rows.values())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default="data", help="the simulated shop's home (after make demo)")
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets/uci_online_retail"))
    parser.add_argument("--run-home", help=argparse.SUPPRESS)      # the child process of one dataset
    args = parser.parse_args()
    if args.run_home:
        print(json.dumps(run_here(Settings.resolve(args.run_home)), default=str))
        return
    shop = Settings.resolve(args.home)
    homes = {"simulated_shop": shop, **{name: real_home(name, args.datasets, shop.home) for name in REAL}}
    runs = {}
    for name, settings in homes.items():
        print(f"forecast on {name} ...", flush=True)
        runs[name] = forecast(settings)
        items = runs[name]["tables"]["items: daily units"]
        print(f"  {runs[name]['seconds']} s, peak {runs[name]['peak_rss_mib']} MiB; item WRMSSE model "
              f"{items['model']['wrmsse']:.3f}, seasonal naive {items['seasonal_naive']['wrmsse']:.3f}, "
              f"ETS {items['ets']['wrmsse']:.3f}", flush=True)
    print(f"wrote {write_results('forecast', {'datasets': runs})}")


if __name__ == "__main__":
    main()
