"""Training time per task: every task of the registry that `shopml train` fits, at the demo size, and churn at 1,000,000 users x 90 days,
each step timed (dataset through Feast's registry and the ASOF path, LightGBM training,
evaluation, saving, the report) with the peak memory of the whole run. Evaluation at the demo
size includes the oracle (Monte Carlo over the simulator's own process); at the large size the
oracle is switched off (``oracle_futures=0``), so the large run times the platform alone. The
ratio is the large run's throughput (labelled rows per second, end to end) over that of churn at
the demo size, also without the oracle (1.0 = linear scaling). Each run is its own process, so its peak memory is its own;
homes are cached (simulated and featurised once) so re-runs are quick.

    python -m bench.train [--large-users 1000000] [--cache /tmp/shopml-bench] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench.measure import add_size_arguments, write_results

CHILD = """
import json, sys, time
from pathlib import Path
from bench.measure import measure
from feature_repo.pipeline import build_features
from feature_repo.store import apply
from shopml.settings import Settings
from shopml.warehouse.simulator import SimulationConfig, simulate
from training.config import resolve_config
from shopml.model_store import load_boosters
from training.task import run
from training.tasks import TASKS
users, days, home, task_name = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
overrides = sys.argv[5:]
settings = Settings.resolve(home)
if not settings.warehouse_path.is_file():
    simulate(SimulationConfig(users=users, days=days, seed=7), settings.warehouse_path)
build_features(settings)
apply(settings)
task = TASKS[task_name]
result, seconds, peak, growth = measure(run, task, resolve_config(task.config_type, overrides=overrides), settings)
_, metadata = load_boosters(result.tag, settings)
headline = task.evaluation.headline(result.metrics)
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "steps": result.seconds, "rows": metadata["rows"],
                  "headline": headline and {"metric": headline.metric, "model": headline.model,
                                            headline.reference_name: headline.reference, "skill": headline.skill}}))
"""


def run_task(users: int, days: int, cache: Path, task: str, overrides: list[str]) -> dict:
    home = cache / f"shop_{users}x{days}"
    print(f"training {task} on {users:,} users x {days} days {' '.join(overrides)} ...", flush=True)
    done = subprocess.run([sys.executable, "-c", CHILD, str(users), str(days), str(home), task, *overrides],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise SystemExit(f"training {task} for {users} x {days} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    labelled = sum(result["rows"].values())
    run = {"task": task, "users": users, "days": days, "overrides": overrides, "labelled_rows": labelled,
           "rows": result["rows"], "seconds": round(result["seconds"], 1), "rows_per_second": round(labelled / result["seconds"]),
           "peak_rss_mib": round(result["peak_rss_mib"]), "steps": result["steps"], "headline": result["headline"]}
    print(f"  {labelled:,} labelled rows in {run['seconds']} s ({run['rows_per_second']:,} rows/s), "
          f"peak {run['peak_rss_mib']:,} MiB; steps {run['steps']}", flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_arguments(parser)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/shopml-bench"))
    parser.add_argument("--skip-large", action="store_true", help="time the demo size only")
    args = parser.parse_args()
    from training.tasks import TASKS

    demo = [run_task(args.demo_users, args.demo_days, args.cache, task, []) for task in TASKS]
    report: dict = {"demo": demo}
    if not args.skip_large:
        churn_demo = run_task(args.demo_users, args.demo_days, args.cache, "churn", ["oracle_futures=0"])
        large = run_task(args.large_users, args.large_days, args.cache, "churn", ["oracle_futures=0"])
        report["demo_churn_without_oracle"] = churn_demo
        report["large_churn"] = large
        report["large_vs_demo_throughput_ratio"] = round(large["rows_per_second"] / churn_demo["rows_per_second"], 3)
        print(f"churn large/demo throughput ratio {report['large_vs_demo_throughput_ratio']}")
    print(f"wrote {write_results('train', report)}")


if __name__ == "__main__":
    main()
