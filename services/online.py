"""The Feast online-feature client every service shares: the latest features of a batch of
entity rows through a feature service, with columns named ``<view>__<feature>`` exactly as the
training sets name them, so a model's saved feature layout applies unchanged.

Catalogue-side views (keyed by item or ad) change only when the online store is materialised
(once a day), so their rows are kept in memory for ``cache_seconds`` (default 60: a new
materialisation is seen within a minute); user-side views are read from the store on every
request. Each request makes one read per set of user-side keys (user; user and category; user and
brand) and one per catalogue view with rows not in memory, each over distinct keys only, through
shopml's online reader (``feature_repo.online_read``: Feast's answer at a fraction of its cost;
Feast's own read for a store the reader does not read):
for 50 candidate ads of one user that is one row of each user view and one user row per category,
instead of 50 rows of every view.

Feature-view TTLs are applied here as training applies them: Feast's online read returns a value
however old it is (feast-dev/feast#6821), so each view's values are read with their event
timestamps and nulled when older than the view's TTL at the services' clock
(``shopml.settings.serving_time``), exactly as the point-in-time join nulls them for a training
row. ``stale_views`` names the views whose newest materialised snapshot is already past its TTL,
for ``/health``.

Feast 0.67 silently drops a python-mode on-demand view's features from online reads with
``full_feature_names=True`` (it looks for prefixed names in the UDF's output, which returns plain
ones). Those features are computed here by the registered view's own transformation, from the
same inputs, so the definition stays the one in ``feature_repo``.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from feature_repo.definitions import names
from feature_repo.online_load import online_supported
from feature_repo.online_read import OnlineReader
from feature_repo.store import ViewRequest, open_store, view_requests
from shopml.settings import Settings, serving_time

CATALOGUE_KEYS = {names.ITEM_ID, names.AD_ID}      # views keyed by these alone are cached
CACHE_SECONDS = 60.0
STAMP = "__ts"          # Feast's suffix of a feature's event timestamp (seconds) in an online read


def stamps(read: ViewRequest, response: dict[str, list]) -> list[int]:
    """Per row, the event time (epoch seconds; 0 when absent) of the view's values in a Feast read."""
    return response[read.columns[0] + STAMP]


def fresh_only(read: ViewRequest, values: dict[str, list], event_seconds: list[int], now: datetime) -> dict[str, list]:
    """The view's columns with the values older than its TTL at ``now`` nulled (a TTL of 0 keeps all)."""
    if not read.ttl:
        return values
    oldest = (now - read.ttl).timestamp()
    fresh = [stamp >= oldest for stamp in event_seconds]
    return {column: [value if ok else None for value, ok in zip(column_values, fresh)]
            for column, column_values in values.items()}


class OnlineStoreError(RuntimeError):
    """The online store cannot be read (not applied, not materialised, unreachable)."""


@dataclass(frozen=True)
class ServicePlan:
    user_side: list[ViewRequest]            # read on every request, one Feast call per set of keys
    catalogue: list[ViewRequest]            # cached per key
    on_demand: list[tuple[object, ViewRequest, list[str]]]  # (the registered view, its request, its inputs)


class OnlineFeatures:
    def __init__(self, settings: Settings, cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], datetime] = serving_time):
        self.cache_seconds = cache_seconds
        self.clock = clock
        # (view, its columns a service reads) -> key -> (read at, feature values, event seconds): two
        # services may read different features of one view, so each projection is held apart
        self._cache: dict[tuple[str, tuple[str, ...]], dict] = {}
        self._lock = threading.Lock()
        try:
            self.store = open_store(settings)
            # Feast's answer, faster (feature_repo.online_read); Feast's own for a store it does not read
            self.reader = OnlineReader(self.store) if online_supported(self.store.config) is None else None
            self._plans = {service.name: self._plan(service.name) for service in self.store.list_feature_services()}
            # per catalogue view, held while one request reads it from the store
            self._readers = {read.view: threading.Lock() for plan in self._plans.values() for read in plan.catalogue}
        except Exception as error:          # Feast raises many types; all mean "cannot serve"
            raise OnlineStoreError(f"cannot open the feature store: {error}") from error

    def _plan(self, service_name: str) -> ServicePlan:
        plan = ServicePlan([], [], [])
        for request in view_requests(self.store, service_name):
            if request.on_demand:
                view = self.store.get_on_demand_feature_view(request.view)
                inputs = [*(f"{source.name}__{f.name}" for source in view.source_feature_view_projections.values()
                            for f in source.features),
                          *(field.name for source in view.source_request_sources.values() for field in source.schema)]
                plan.on_demand.append((view, request, inputs))
            elif len(request.keys) == 1 and request.keys[0] in CATALOGUE_KEYS:
                plan.catalogue.append(request)
            else:
                plan.user_side.append(request)
        return plan

    def _feast(self, refs: list[str], rows: dict[str, list]) -> dict[str, list]:
        if self.reader is not None:
            return self.reader.read(refs, rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True).to_dict(
                include_event_timestamps=True)

    def _user_side(self, reads: list[ViewRequest], entity_rows: dict[str, list], now: datetime) -> dict[str, list]:
        """The user-side features of every entity row, stale ones nulled: one Feast read per set
        of keys (a view keyed by user alone is read once per user, not once per user and category
        or brand), each over its distinct keys."""
        by_keys: dict[tuple[str, ...], list[ViewRequest]] = {}
        for read in reads:
            by_keys.setdefault(tuple(sorted(read.keys)), []).append(read)
        out: dict[str, list] = {}
        for keys, group in by_keys.items():
            key_rows = list(zip(*(entity_rows[key] for key in keys)))
            distinct = list(dict.fromkeys(key_rows))
            response = self._feast([ref for read in group for ref in read.refs],
                                   {key: [row[i] for row in distinct] for i, key in enumerate(keys)})
            position = {row: i for i, row in enumerate(distinct)}
            index = [position[row] for row in key_rows]
            for read in group:
                values = fresh_only(read, {column: response[column] for column in read.columns}, stamps(read, response), now)
                out.update({column: [column_values[i] for i in index] for column, column_values in values.items()})
        return out

    def _missing(self, read: ViewRequest, ids: list) -> list:
        """The ids whose rows of ``read`` are not held or older than ``cache_seconds``."""
        now = time.monotonic()
        with self._lock:
            held = self._cache.setdefault((read.view, tuple(read.columns)), {})
            return list(dict.fromkeys(i for i in ids if i not in held or now - held[i][0] > self.cache_seconds))

    def _catalogue(self, read: ViewRequest, ids: list, now: datetime) -> dict[str, list]:
        """The view's features for each id, from memory when read within ``cache_seconds``, stale
        ones nulled. One request at a time reads a view from the store; requests that miss the same
        rows meanwhile wait for it and find them held (no stampede of identical reads when the rows
        expire)."""
        projection = (read.view, tuple(read.columns))
        if self._missing(read, ids):
            with self._readers[read.view]:
                missing = self._missing(read, ids)
                if missing:
                    read_at = time.monotonic()
                    fresh = self._feast(read.refs, {read.keys[0]: missing})
                    values = zip(missing, zip(*(fresh[column] for column in read.columns)), stamps(read, fresh))
                    with self._lock:
                        self._cache[projection].update((i, (read_at, row, stamp)) for i, row, stamp in values)
        with self._lock:
            held = self._cache[projection]
            rows = [held[i] for i in ids]
        values = {column: [row[1][j] for row in rows] for j, column in enumerate(read.columns)}
        return fresh_only(read, values, [row[2] for row in rows], now)

    def read(self, feature_service: str, entity_rows: dict[str, list]) -> dict[str, list]:
        """Columns of one value per entity row, in order: the entity keys and request inputs as
        given, then every feature of ``feature_service`` (None where the store has no value).
        Plain lists, as Feast returns them: a request's few rows cost less so than as a frame."""
        plan = self._plans[feature_service]
        now = self.clock()
        columns = dict(entity_rows)
        if plan.user_side:
            columns.update(self._user_side(plan.user_side, entity_rows, now))
        for read in plan.catalogue:
            columns.update(self._catalogue(read, entity_rows[read.keys[0]], now))
        for view, read, inputs in plan.on_demand:
            computed = view.transform_dict({column: columns[column] for column in inputs})
            columns.update({column: computed[f] for column, f in zip(read.columns, read.features)})
        return columns

    def newest_snapshots(self) -> dict[str, tuple[datetime, ViewRequest]]:
        """Per materialised view the services read: the end of its latest materialisation (what
        the online store holds snapshots up to) and how the services read it."""
        reads = {read.view: read for plan in self._plans.values() for read in (*plan.user_side, *plan.catalogue)
                 if not read.on_demand}
        newest = {name: self.store.get_feature_view(name).most_recent_end_time for name in sorted(reads)}
        return {name: (end.astimezone(timezone.utc), reads[name]) for name, end in newest.items() if end is not None}

    def feature_ages(self) -> dict[str, float]:
        """Per materialised view the services read, seconds from the end of its latest
        materialisation to the clock (0 while the clock is within that second: materialisation ends
        a second after the newest snapshot)."""
        now = self.clock()
        return {name: max(0.0, (now - newest).total_seconds()) for name, (newest, _) in self.newest_snapshots().items()}

    def stale_views(self) -> list[str]:
        """One line per view served with a TTL whose newest materialised snapshot is older than its
        TTL at the services' clock: every value of it is served as missing."""
        now, lines = self.clock(), []
        for name, (newest, read) in self.newest_snapshots().items():
            if read.ttl and now - newest > read.ttl:
                lines.append(f"{name}: the online store holds snapshots up to {newest:%Y-%m-%d %H:%M} UTC, older than "
                             f"its TTL of {read.ttl} at {now:%Y-%m-%d %H:%M} UTC, so its features are served as "
                             "missing; run `shopml features build` and `shopml features materialize`")
        return lines

    def check(self) -> None:
        """Raise OnlineStoreError unless the online store answers."""
        try:
            self.read(names.CHURN_V1, {names.USER_ID: [0]})
        except Exception as error:
            raise OnlineStoreError(f"the online store does not answer: {error}") from error
