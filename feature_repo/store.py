"""Opening shopml's Feast store for a data home, applying the definitions and materialising.

Feast reads ``feature_store.yaml`` with ``${SHOPML_HOME}`` expanded, and the definitions place
their parquet sources under the home, so everything here first exports ``SHOPML_HOME`` for the
chosen home. ``apply`` runs the real ``feast apply`` in this folder (fresh imports, and objects
removed from the code are removed from the registry), exactly as a Feast user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable

import duckdb

from shopml.settings import HOME_ENV_VAR, Settings

from .definitions import names
from .store_profile import LOCAL_YAML, REPO_DIR, YAML_ENV_VAR, store_yaml  # noqa: F401 (the store's API)

FEAST_CLI = Path(sys.executable).parent / "feast"
BEGINNING = datetime(1970, 1, 1, tzinfo=timezone.utc)


class FeatureStoreError(RuntimeError):
    """The feature store cannot do what was asked (not built, not applied, Feast failed)."""


def uses_local_registry() -> bool:
    return store_yaml() == LOCAL_YAML


def use_home(settings: Settings) -> None:
    os.environ[HOME_ENV_VAR] = str(settings.home)


def open_store(settings: Settings):
    from feast import FeatureStore

    use_home(settings)
    # Spark's Python workers (Feast's Spark engine runs Python functions in them) need this
    # environment's packages; by default Spark starts the `python3` on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if uses_local_registry() and not (settings.home / "feast" / "registry.db").is_file():
        raise FeatureStoreError(f"no feature registry in {settings.home}: run `shopml features apply` first")
    return FeatureStore(repo_path=str(REPO_DIR), fs_yaml_file=store_yaml())


def feast_cli(settings: Settings, *args: str) -> str:
    """Run the ``feast`` command line in the feature repo for this home; returns its output."""
    missing = [v for v in names.BATCH_VIEWS if not (settings.features_dir / f"{v}.parquet").is_file()]
    if missing:
        raise FeatureStoreError(f"feature tables missing in {settings.features_dir}: {missing}; "
                                "run `shopml features build` first")
    (settings.home / "feast").mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(FEAST_CLI), "-f", str(store_yaml()), *args], cwd=REPO_DIR,
                          capture_output=True, text=True, env={**os.environ, HOME_ENV_VAR: str(settings.home)})
    if done.returncode != 0:
        raise FeatureStoreError(f"feast {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def apply(settings: Settings) -> str:
    return feast_cli(settings, "apply")


def newest_snapshot(settings: Settings) -> datetime:
    files = [str(settings.features_dir / f"{v}.parquet") for v in names.BATCH_VIEWS]
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        newest = con.execute(f"SELECT max({names.EVENT_TIMESTAMP}) FROM read_parquet({files!r})").fetchall()[0][0]
    return newest.astimezone(timezone.utc)


@dataclass(frozen=True)
class ViewRequest:
    """The features a feature service asks of one view, with what an online reader needs to know
    of it: its entity keys and TTL, its feature references and column names."""

    view: str
    keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl: timedelta
    on_demand: bool = False    # computed at request time from other views and request inputs

    @property
    def refs(self) -> list[str]:
        return [f"{self.view}:{f}" for f in self.features]

    @property
    def columns(self) -> list[str]:
        return [f"{self.view}__{f}" for f in self.features]


def view_requests(store, feature_service: str) -> list[ViewRequest]:
    service = store.get_feature_service(feature_service)
    on_demand = {v.name for v in store.list_on_demand_feature_views()}
    requests = []
    for projection in service.feature_view_projections:
        features = tuple(f.name for f in projection.features)
        if projection.name in on_demand:
            requests.append(ViewRequest(projection.name, (), features, timedelta(0), on_demand=True))
            continue
        view = store.get_feature_view(projection.name)
        requests.append(ViewRequest(projection.name, tuple(c.name for c in view.entity_columns), features,
                                    view.ttl or timedelta(0)))
    return requests


@dataclass
class Materialization:
    start: datetime
    end: datetime
    loader: str = "bulk"          # "bulk" (feature_repo.online_load) or "stock" (Feast's materialize)
    why_stock: str | None = None  # why stock Feast loaded a store the bulk loader does not write
                                  # (None: the bulk loader ran, or stock was asked for)
    entity_rows: int | None = None


def window_start(view, end: datetime) -> datetime:
    """Where materialising ``view`` up to ``end`` starts reading: ``end`` - its TTL (the
    beginning for a view without one)."""
    return end - view.ttl if view.ttl else BEGINNING


def materialize(settings: Settings, end: datetime | None = None, stock: bool = False,
                on_view: Callable[[str, int], None] = lambda view, rows: None,
                views: Iterable[str] | None = None) -> Materialization:
    """Load the latest snapshot of every entity at or before ``end`` (default: the newest
    snapshot built) into the online store, for ``views`` (default: every online view). A view
    with a TTL is read from ``end`` - TTL only, as Feast's own incremental materialisation reads
    it: an older snapshot is past its TTL at ``end`` and would be served as null anyway
    (``services.online``), so reading every daily snapshot since the beginning only to drop them
    costs time and changes no answer.

    The bulk loader (``feature_repo.online_load``) writes what Feast's ``materialize`` writes, about
    3 times as fast into SQLite and 10 into Redis; ``stock`` (or a store it does not write) uses
    Feast's own."""
    from . import online_load

    chosen = list(names.ONLINE_VIEWS if views is None else views)
    unknown = sorted(set(chosen) - set(names.ONLINE_VIEWS))
    if unknown or not chosen:
        raise FeatureStoreError(f"unknown online views {unknown}; known: {list(names.ONLINE_VIEWS)}" if unknown
                                else "no views to materialise")
    store = open_store(settings)
    end = end or newest_snapshot(settings) + timedelta(seconds=1)
    windows = {name: window_start(store.get_feature_view(name), end) for name in chosen}
    why_stock = None if stock else online_load.supported(store.config)
    if not stock and why_stock is None:
        rows = online_load.load(store, windows, end, on_view)
        return Materialization(start=min(windows.values()), end=end, entity_rows=rows)
    by_start: dict[datetime, list[str]] = {}
    for name, start in windows.items():
        by_start.setdefault(start, []).append(name)
    with warnings.catch_warnings():        # ibis (under Feast) warns of a DuckDB rename on every view
        warnings.simplefilter("ignore", DeprecationWarning)
        for start, views in sorted(by_start.items()):
            store.materialize(start_date=start, end_date=end, feature_views=views)
    return Materialization(start=min(windows.values()), end=end, loader="stock", why_stock=why_stock)


def reachable(address: tuple[str, int]) -> bool:
    """Whether a server answers on (host, port): the production profile's Redis and PostgreSQL."""
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False

