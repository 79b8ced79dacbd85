"""Loading the online store at bulk speed, with the bytes stock Feast would write.

Stock ``FeatureStore.materialize`` reads each view's newest rows, builds one protobuf per value in
Python and writes row by row (SQLite: one ``execute`` per feature value; Redis: a redis-py
pipeline): about 9,000 entity rows a second on the demo shop. Here the same newest rows come from
one DuckDB query per view (read ahead in a thread), every column is encoded at once
(``feature_repo.online_encoding``), and the rows go to the store in bulk: SQLite through one
``executemany`` per batch in primary-key order, Redis as one stream of ready-made ``HSET``
commands per batch over the client's connection, sent while the next batch is encoded. What lands
is what Feast's own materialisation writes, key for key and byte for byte (tests compare both
stores with stock's), and the registry records the intervals as ``materialize`` does, once every
row is in.

Into Redis it writes as Feast's ``skip_dedup`` does, without reading the stored event times
first: a row no newer than the one stored replaces it, where stock's default keeps the stored one.
Materialising forward in time, as the schedule does, that changes nothing; to load an older end
into a store that holds newer rows, use ``--stock``. Only the stores shopml uses are written this
way (SQLite without vector search, Redis without cluster or sentinel): ``supported`` says why
not, and ``store.materialize`` then uses stock Feast.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa
from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
from feast.infra.online_stores.helpers import _mmh3, compute_table_id, extract_text_and_num
from feast.protos.feast.types.Value_pb2 import Value
from feast.value_type import ValueType

from .online_encoding import (SAMPLE_ROWS, Parts, Ragged, check_sample, encode_entity_keys, encode_values, event_times,
                              feast_encoded, feast_entity_keys, joined, split, timestamp_proto)

ROWS_PER_BATCH = 100_000        # rows of one view encoded and sent at a time (bounds memory)
EVENT_MICROS = "__event_us"
CACHE_KIB = 1 << 20     # SQLite's page cache while loading (default 2 MiB): inserts then rarely read a page back


@dataclass
class ViewRows:
    """A batch of a view's newest rows, encoded: entity keys, each feature's values, event times."""

    view: object                     # the Feast FeatureView
    table: pa.Table                  # the rows as read
    keys: Parts
    values: dict[str, Ragged]
    time_codes: np.ndarray           # each row's index into times
    times: list[datetime]            # the distinct event times (UTC)

    def __len__(self) -> int:
        return self.table.num_rows


def supported(config) -> str | None:
    """Why this store cannot be loaded in bulk (stock Feast then loads it), or None."""
    if not isinstance(config.offline_store, DuckDBOfflineStoreConfig):       # shopml's ASOF store is one
        return f"offline store {config.offline_store.type} (Feast's engine for it materialises)"
    return online_supported(config)


def online_supported(config) -> str | None:
    """Why this online store's rows are not written here (nor read by ``online_read``), or None."""
    online = config.online_store
    if config.registry.enable_online_feature_view_versioning:
        return "feature view versioning"
    if online.type == "sqlite":
        if online.vector_enabled or getattr(online, "enable_openai_compatible_store", False):
            return "a SQLite store with vector search"
        return None
    if online.type == "redis":
        if online.redis_type.value != "redis" or online.client.value != "redis":
            return f"a Redis store of redis_type {online.redis_type.value}, client {online.client.value}"
        return None
    return f"online store type {online.type}"


def newest_rows(view, start: datetime, end: datetime) -> list[pa.Table]:
    """Each entity's newest row of ``view`` with its event time in [start, end] (Feast's
    ``pull_latest_from_table_or_query``), in batches of ROWS_PER_BATCH rows."""
    source = view.batch_source
    if source.field_mapping:
        raise ValueError(f"{view.name}: a view with field mappings is loaded by stock Feast only")
    keys = ", ".join(column.name for column in view.entity_columns)
    stamp, created = source.timestamp_field, source.created_timestamp_column
    order = f"{stamp} DESC" + (f", {created} DESC" if created else "")
    features = ", ".join(feature.name for feature in view.features)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        table = con.sql(f"""
            SELECT {keys}, {features}, epoch_us({stamp}::TIMESTAMP) AS {EVENT_MICROS} FROM read_parquet(?)
            WHERE {stamp}::TIMESTAMP BETWEEN ? AND ?
            QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {order}) = 1""",
            params=[source.path, *(moment.astimezone(timezone.utc).replace(tzinfo=None) for moment in (start, end))]
        ).to_arrow_table()
    return [pa.Table.from_batches([batch]) for batch in table.to_batches(max_chunksize=ROWS_PER_BATCH)]


def encode(view, table: pa.Table) -> ViewRows:
    """A batch of a view's rows as Feast encodes them; the first rows are checked against Feast."""
    join_keys = {column.name: column.dtype.to_value_type() for column in view.entity_columns}
    sample = table.slice(0, SAMPLE_ROWS)
    keys = encode_entity_keys(table, join_keys)
    check_sample(split(encode_entity_keys(sample, join_keys), sample.num_rows),
                 feast_entity_keys(sample, join_keys, sample.num_rows), f"{view.name}'s entity keys")
    values = {}
    for feature in view.features:
        value_type = feature.dtype.to_value_type()
        values[feature.name] = encode_values(table.column(feature.name), value_type)
        check_sample(split([values[feature.name].head(SAMPLE_ROWS)], sample.num_rows),
                     feast_encoded(sample.column(feature.name).to_numpy(zero_copy_only=False), value_type),
                     f"{view.name}.{feature.name}")
    codes, times = event_times(table.column(EVENT_MICROS).to_numpy())
    return ViewRows(view, table, keys, values, codes, times)


def _bulk(parts: Parts, rows: int) -> Parts:
    """A RESP bulk string of each row's parts: ``$<length>\r\n<bytes>\r\n``."""
    lengths = sum((np.full(rows, len(part)) if isinstance(part, bytes) else part.lengths) for part in parts)
    if rows and lengths.min() == lengths.max():
        return [b"$%d\r\n" % lengths[0], *parts, b"\r\n"]
    heads = [b"$%d\r\n" % length for length in range(int(lengths.max(initial=0)) + 1)]
    return [Ragged.gather(heads, lengths), *parts, b"\r\n"]


def _bulk_constant(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


class RedisLoader:
    """Writes rows as ``HSET <entity key><project> _ts:<view> <Timestamp> <mmh3(view:feature)>
    <Value> ...`` (and ``EXPIRE`` when the store sets ``key_ttl_seconds``), as Feast's Redis store
    does with ``skip_dedup``, over one connection: a thread sends while this one reads the replies."""

    def __init__(self, config):
        from feast.infra.online_stores.redis import RedisOnlineStore

        self.client = RedisOnlineStore()._get_client(config.online_store)
        self.project = config.project.encode()
        self.key_ttl = config.online_store.key_ttl_seconds
        self.sender = ThreadPoolExecutor(1)      # one batch in flight while the next is read and encoded
        self.in_flight: Future | None = None

    def write(self, rows: ViewRows) -> None:
        n, view = len(rows), rows.view.name
        key = _bulk([*rows.keys, self.project], n)
        stamps = Ragged.gather([timestamp_proto(moment) for moment in rows.times], rows.time_codes)
        parts = [b"*%d\r\n$4\r\nHSET\r\n" % (2 + 2 * (1 + len(rows.values))), *key,
                 _bulk_constant(f"_ts:{view}".encode()), *_bulk([stamps], n)]
        for feature, values in rows.values.items():
            parts += [_bulk_constant(_mmh3(f"{view}:{feature}")), *_bulk([values], n)]
        if self.key_ttl:
            parts += [b"*3\r\n$6\r\nEXPIRE\r\n", *key, _bulk_constant(str(self.key_ttl).encode())]
        commands = joined(parts, n)[0]
        self.wait()
        self.in_flight = self.sender.submit(self._send, commands, n * (2 if self.key_ttl else 1))

    def wait(self) -> None:
        """Until the batch in flight is written (raising what went wrong with it)."""
        if self.in_flight is not None:
            self.in_flight, in_flight = None, self.in_flight
            in_flight.result()

    def _send(self, commands: bytes, replies: int) -> None:
        """Send the commands from a thread while this one counts the replies as they come (hiredis
        parses them; redis-py's ``read_response`` would cost more than the writes themselves)."""
        import hiredis

        connection = self.client.connection_pool.get_connection()
        try:
            connection.connect()
            sock = connection._sock        # the socket redis-py opened, authenticated and SELECTed
            sender = threading.Thread(target=sock.sendall, args=(commands,))
            sender.start()
            reader, seen, errors = hiredis.Reader(), 0, []
            while seen < replies:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("Redis closed the connection while loading")
                reader.feed(chunk)
                while (reply := reader.gets()) is not False:
                    seen += 1
                    if isinstance(reply, hiredis.ReplyError):
                        errors.append(str(reply))
            sender.join()
            if errors:
                raise RuntimeError(f"Redis refused {len(errors)} writes, the first: {errors[0]}")
        except BaseException:
            connection.disconnect()           # replies may be left unread: never reuse it
            raise
        finally:
            self.client.connection_pool.release(connection)

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.sender.shutdown()
            self.client.close()


def _texts(column: pa.ChunkedArray, encoded: list[bytes], value_type: ValueType) -> list[str | None]:
    """The SQLite store's ``value_text`` of each value (``extract_text_and_num``: the number as
    Python prints it, the string itself, None for a null or a list): floats from the column, any
    other type from its distinct encodings."""
    if value_type in (ValueType.DOUBLE, ValueType.FLOAT):
        numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        if value_type == ValueType.FLOAT:
            numbers = numbers.astype(np.float32).astype(np.float64)
        return [None if number != number else str(number) for number in numbers.tolist()]
    distinct = {value: extract_text_and_num(Value.FromString(value), False)[0] for value in set(encoded)}
    return [distinct[value] for value in encoded]


class SqliteLoader:
    """Upserts (entity_key, feature_name, value, value_text, event_ts, created_ts) rows into the
    view's table, as Feast's SQLite store does, one transaction per batch."""

    def __init__(self, config):
        from feast.infra.online_stores.sqlite import SqliteOnlineStore, adapt_datetime_epoch

        self.stored_time = adapt_datetime_epoch
        self.connection = sqlite3.connect(SqliteOnlineStore._get_db_path(config),
                                          detect_types=sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES)
        self.connection.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self.project = config.project

    def write(self, rows: ViewRows) -> None:
        table = compute_table_id(self.project, rows.view, False)
        keys = split(rows.keys, len(rows))
        distinct = [self.stored_time(moment.replace(tzinfo=None)) for moment in rows.times]   # as Feast stores them
        times = [distinct[code] for code in rows.time_codes.tolist()]
        statement = (f'INSERT INTO "{table}" (entity_key, feature_name, value, value_text, event_ts, created_ts) '
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET "
                     "value = excluded.value, value_text = excluded.value_text, event_ts = excluded.event_ts, "
                     "created_ts = excluded.created_ts")
        types = {feature.name: feature.dtype.to_value_type() for feature in rows.view.features}
        columns = []
        for feature in sorted(rows.values):
            encoded = split([rows.values[feature]], len(rows))
            columns.append((feature, encoded, _texts(rows.table.column(feature), encoded, types[feature])))

        def in_key_order():             # the primary key's order: the B-tree fills page by page
            for row in sorted(range(len(keys)), key=keys.__getitem__):
                key, moment = keys[row], times[row]
                for feature, encoded, texts in columns:
                    yield key, feature, encoded[row], texts[row], moment, None

        with self.connection:
            self.connection.executemany(statement, in_key_order())

    def close(self) -> None:
        self.connection.close()


def load(store, windows: dict[str, datetime], end: datetime,
         on_view: Callable[[str, int], None] = lambda view, rows: None) -> int:
    """Write each view's newest rows in [windows[view], end] into the store's online store, then
    record the intervals in the registry (once every row is in); returns the entity rows written."""
    config = store.config
    loader = SqliteLoader(config) if config.online_store.type == "sqlite" else RedisLoader(config)
    views, written = {name: store.get_feature_view(name) for name in windows}, 0
    reader = ThreadPoolExecutor(1)      # DuckDB reads the next views while this thread encodes
    read = {name: reader.submit(newest_rows, views[name], start, end) for name, start in windows.items()}
    try:
        for name in windows:
            rows = 0
            for batch in read[name].result():
                encoded = encode(views[name], batch)
                loader.write(encoded)
                rows += len(encoded)
            on_view(name, rows)
            written += rows
    finally:
        reader.shutdown(cancel_futures=True)
        loader.close()
    for name, start in windows.items():
        store.registry.apply_materialization(views[name], store.project, start, end)
    return written
