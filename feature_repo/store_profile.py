"""Which ``feature_store.yaml`` shopml's store uses: ``feature_repo/feature_store.yaml`` (SQLite
online store, DuckDB offline store), or the file ``SHOPML_FEATURE_STORE_YAML`` names (e.g.
``infra/feature_store.production.yaml``: SQL registry and Redis; ``infra/feature_store.spark.yaml``:
the same with Spark as the offline store and materialisation engine). The store's helpers read it,
and so do the definitions: a Spark offline store reads Spark sources, DuckDB's file sources.
Plain ``feast -f <file>`` commands need the variable set to the same file."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

REPO_DIR = Path(__file__).resolve().parent
LOCAL_YAML = REPO_DIR / "feature_store.yaml"
YAML_ENV_VAR = "SHOPML_FEATURE_STORE_YAML"


def store_yaml() -> Path:
    chosen = os.environ.get(YAML_ENV_VAR)
    return Path(chosen).resolve() if chosen else LOCAL_YAML


def offline_store_type() -> str:
    """The chosen file's offline store: ``duckdb`` or ``spark``."""
    config = yaml.safe_load(store_yaml().read_text()) or {}
    return (config.get("offline_store") or {}).get("type", "dask")
