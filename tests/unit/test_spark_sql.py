"""The feature SQL's translation to Spark (feature_repo/spark_sql.py): what SQLGlot leaves as
DuckDB text or translates with another meaning is rewritten; the Spark parity test runs it all."""

import pytest
import sqlglot

from feature_repo.spark_sql import ASOF_NEXT, to_spark


def spark(sql: str) -> str:
    return to_spark(sql).lower()


def test_an_asof_join_becomes_a_range_join_on_the_next_key():
    out = spark("SELECT * FROM p ASOF LEFT JOIN r ON p.k = r.k AND r.d <= p.d")
    assert "asof join" not in out
    assert "lead(d) over (partition by k order by d" in out and ASOF_NEXT in out
    assert "left join" in out and f"(p.d < r.{ASOF_NEXT} or r.{ASOF_NEXT} is null)" in out
    sqlglot.parse_one(out, read="spark")                       # Spark's grammar reads it


def test_an_asof_join_without_keys_or_an_inequality_on_the_right_is_refused():
    with pytest.raises(ValueError, match="needs equalities"):
        to_spark("SELECT * FROM p ASOF JOIN r ON p.d >= r.d")
    with pytest.raises(ValueError, match="must compare with r"):
        to_spark("SELECT * FROM p ASOF JOIN r ON p.k = r.k AND p.d >= p.e")


def test_functions_keep_duckdbs_meaning():
    assert "unix_micros(ts) / 1e6" in spark("SELECT epoch(ts) FROM t")
    assert "nullif(array_position(" in spark("SELECT list_position(l, x) FROM t")
    assert "reverse(l)" in spark("SELECT list_reverse(l) FROM t")
    assert "make_dt_interval(n)" in spark("SELECT ts + to_days(n) FROM t")
    assert "(i + 1)" in spark("SELECT list_filter(l, lambda x, i: i > 1) FROM t")    # 1-based in DuckDB
    assert "datediff(day, a, b)" in spark("SELECT date_diff('day', a, b) FROM t")      # b - a, in days
