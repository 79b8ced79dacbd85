"""Every task of the registry with its headline test figure on a home (the demo shop after
``make demo``), as ``shopml tasks`` prints it, saved for the README's task table
(``python -m bench.docs``).

    python -m bench.tasks --home data
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from bench.measure import write_results
from shopml.settings import Settings
from training.catalogue import catalogue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None)
    args = parser.parse_args()
    entries = [asdict(entry) for entry in catalogue(Settings.resolve(args.home))]
    print(f"wrote {write_results('tasks', {'tasks': entries})}")


if __name__ == "__main__":
    main()
