"""Where shopml keeps its data: one typed settings object, resolved from the data home.

The data home is, in order of precedence: an explicit path (the CLI's ``--home``), the environment
variable ``SHOPML_HOME``, or ``./data`` at the project root (the folder holding ``pyproject.toml``
above this package; the working directory when shopml is installed elsewhere).

The services' clock, against which feature TTLs are applied online, is the wall clock, or the
fixed time ``SHOPML_SERVING_TIME`` names (ISO 8601; UTC when it gives no zone): serving a
simulated shop, whose world stops on its last day, or replaying a past day.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HOME_ENV_VAR = "SHOPML_HOME"
SERVING_TIME_ENV_VAR = "SHOPML_SERVING_TIME"
DEFAULT_STREAM_REDIS = "redis://127.0.0.1:6379/0"      # the Redis holding the event stream (`shopml stream`)
PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The source checkout holding this package, or the working directory for an installed copy."""
    candidate = PACKAGE_DIR.parent
    return candidate if (candidate / "pyproject.toml").is_file() else Path.cwd()


def default_home() -> Path:
    from_env = os.environ.get(HOME_ENV_VAR)
    return Path(from_env) if from_env else project_root() / "data"


def serving_time() -> datetime:
    """Now, in UTC, or the fixed time ``SHOPML_SERVING_TIME`` names."""
    fixed = os.environ.get(SERVING_TIME_ENV_VAR)
    if not fixed:
        return datetime.now(timezone.utc)
    try:
        chosen = datetime.fromisoformat(fixed)
    except ValueError:
        raise ValueError(f"{SERVING_TIME_ENV_VAR}={fixed!r} is not an ISO 8601 time "
                         "(e.g. 2026-05-05T00:00:00Z)") from None
    return chosen if chosen.tzinfo else chosen.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Settings:
    """Every path shopml reads or writes, all below one data home."""

    home: Path

    @classmethod
    def resolve(cls, home: Path | str | None = None) -> Settings:
        chosen = Path(home) if home is not None else default_home()
        return cls(home=chosen.expanduser().resolve())

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def features_dir(self) -> Path:
        return self.home / "features"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def model_store(self) -> Path:
        """BentoML's home (its model store) for this data home."""
        return self.home / "bentoml"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home
