"""The marketing family's causal figures on a home (the demo shop after ``make demo``): each
campaign task's test-send table, the put-off table (pushes) and its what-if shop tables, the
ad incrementality tables and the ad audience's test slots, read
from the models ``shopml train`` saved (their metrics), for ``docs/marketing.md``
(``python -m bench.docs``). The Hillstrom figures are ``bench.hillstrom``'s.

    python -m bench.uplift --home data
"""

from __future__ import annotations

import argparse

from bench.measure import write_results
from shopml.model_store import artifact_folder
from shopml.settings import Settings

TASKS = ("coupon_uplift", "push_uplift", "ad_incrementality", "ad_audience")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()
    settings = Settings.resolve(args.home)
    report = {}
    for task in TASKS:
        _, metadata = artifact_folder(f"{task}:latest", settings)
        report[task] = {"config": metadata["config"], "tables": metadata["metrics"]}
    print(f"wrote {write_results('uplift', {'tasks': report})}")


if __name__ == "__main__":
    main()
