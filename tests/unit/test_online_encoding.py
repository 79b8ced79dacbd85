"""The bulk loader's encodings are Feast's own, value for value: numbers with NaN, nulls, -0.0 and
infinities, strings, integers, vectors of one length and of several, and entity keys of one and
of two join keys (``feature_repo.online_encoding`` against ``feast.type_map`` and
``serialize_entity_key``)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from feast.value_type import ValueType

from feature_repo.online_encoding import (check_sample, encode_entity_keys, encode_values, feast_encoded,
                                          feast_entity_keys, split)

COLUMNS = {
    ValueType.DOUBLE: pa.array([1.5, None, float("nan"), -0.0, float("inf"), 1e300, 3.0]),
    ValueType.FLOAT: pa.array([0.1, None, -2.5, float("nan"), 1e-30, 7.0, 0.0]),
    ValueType.INT64: pa.array([0, None, -1, 2**62, 7, 7, -(2**40)]),
    ValueType.STRING: pa.array(["a", None, "", "ünïcødé", "a", "long " * 40, "b"]),
    ValueType.FLOAT_LIST: pa.array([[1.0, 2.0], None, [0.5, float("nan")], [0.0, -0.0], [3.0, 4.0], None, [1e-3, 5.0]],
                                   pa.list_(pa.float32())),
}


@pytest.mark.parametrize("value_type", list(COLUMNS), ids=lambda t: t.name)
def test_values_encode_as_feast_does(value_type):
    column = pa.chunked_array([COLUMNS[value_type]])
    ours = split([encode_values(column, value_type)], len(column))
    assert ours == feast_encoded(column.to_numpy(zero_copy_only=False), value_type)


def test_vectors_of_several_lengths_and_doubles_stored_as_integers():
    ragged = pa.chunked_array([pa.array([[1.0], [1.0, 2.0, 3.0], None, []], pa.list_(pa.float32()))])
    assert split([encode_values(ragged, ValueType.FLOAT_LIST)], 4) == feast_encoded(
        ragged.to_numpy(zero_copy_only=False), ValueType.FLOAT_LIST)
    counts = pa.chunked_array([pa.array([0, 3, None, 12], pa.int64())])      # a Float64 feature built as BIGINT
    assert split([encode_values(counts, ValueType.DOUBLE)], 4) == feast_encoded(
        counts.to_numpy(zero_copy_only=False), ValueType.DOUBLE)


@pytest.mark.parametrize("join_keys", [{"user_id": ValueType.INT64},
                                       {"user_id": ValueType.INT64, "category": ValueType.STRING},
                                       {"category": ValueType.STRING, "ad_id": ValueType.INT32}], ids=len)
def test_entity_keys_serialise_as_feast_does(join_keys):
    table = pa.table({"user_id": pa.array([1, 2**40, -5, 1], pa.int64()), "category": ["books", "home", "", "books"],
                      "ad_id": pa.array([3, 0, -1, 2**31 - 1], pa.int32())}).select(list(join_keys))
    assert split(encode_entity_keys(table, join_keys), table.num_rows) == feast_entity_keys(table, join_keys, 4)


def test_a_changed_encoding_fails_loudly():
    with pytest.raises(AssertionError, match="--stock"):
        check_sample([b"\x29abc"], [b"\x29abd"], "user_activity.views_7d")
