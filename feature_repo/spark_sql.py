"""The feature SQL, written once in DuckDB's dialect (``sql/*.sql``), in Spark's.

SQLGlot transpiles it; the rewrites below do what SQLGlot 30 leaves as DuckDB text or translates
with another meaning (each is checked against DuckDB's own answer, view by view, by
``tests/integration/test_spark_parity.py``):

- ``ASOF [LEFT] JOIN r ON <equalities> AND l.t >= r.t``: Spark has no ASOF join. The right side
  gains the next ``t`` of its key (``lead``), and the join keeps the one row whose interval
  ``[t, next t)`` holds ``l.t``: the same row where ``t`` is unique per key, as in every feature
  view here (with ties DuckDB keeps one row, this keeps each).
- ``epoch(ts)``: DuckDB keeps the fractions of a second, Spark's ``unix_timestamp`` drops them;
  ``unix_micros(ts) / 1e6`` keeps them. ``epoch_us(ts)`` is ``unix_micros(ts)``.
- ``list_position(list, x)`` is 1-based in both, but not found is NULL in DuckDB and 0 in Spark;
  ``list_reverse`` is ``reverse``; ``to_days(n)`` is ``make_dt_interval(n)``.
- A lambda's index (``list_filter(l, lambda x, i: ...)``) counts from 1 in DuckDB, from 0 in Spark.

Spark runs with ANSI mode off (``feature_repo.spark_engine``), so that a division by zero or an
index past a list's end is NULL, as in DuckDB.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

ASOF_NEXT = "__asof_next"
# an inequality l.t >= r.t (or its mirror), keyed by the operator with the right side's column
# second: the condition a left value must meet against the right side's next t
AFTER_NEXT = {exp.GTE: exp.LT, exp.GT: exp.LTE}
MIRRORED = {exp.LTE: exp.GTE, exp.LT: exp.GT}


def to_spark(sql: str) -> str:
    """``sql`` (DuckDB's dialect, one statement) as Spark SQL."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = tree.transform(_lambda_index_from_zero).transform(_spark_function)
    for join in list(tree.find_all(exp.Join)):
        if join.args.get("method") and join.args["method"].upper() == "ASOF":
            _rewrite_asof(join)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


def _spark_function(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.TimeToUnix):                        # epoch(ts)
        return exp.Div(this=_unix_micros(node.this), expression=exp.Literal.number("1e6"))
    if isinstance(node, exp.ToDays):
        return exp.Anonymous(this="make_dt_interval", expressions=[node.this.copy()])
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name == "epoch_us":
            return _unix_micros(node.expressions[0])
        if name == "list_position":
            found = exp.Anonymous(this="array_position", expressions=node.expressions)
            return exp.Nullif(this=found, expression=exp.Literal.number(0))
        if name == "list_reverse":
            return exp.Anonymous(this="reverse", expressions=node.expressions)
    return node


def _lambda_index_from_zero(node: exp.Expression) -> exp.Expression:
    if not (isinstance(node, exp.Lambda) and len(node.expressions) == 2):
        return node
    index = node.expressions[1].name
    body = node.this.transform(
        lambda n: exp.Paren(this=exp.Add(this=n.copy(), expression=exp.Literal.number(1)))
        if isinstance(n, (exp.Identifier, exp.Column)) and n.name == index
        and not isinstance(n.parent, exp.Column) else n)
    return exp.Lambda(this=body, expressions=node.expressions)


def _unix_micros(value: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="unix_micros", expressions=[value.copy()])


def _rewrite_asof(join: exp.Join) -> None:
    right = join.this
    alias = right.alias_or_name
    conditions = list(join.args["on"].flatten()) if isinstance(join.args["on"], exp.And) else [join.args["on"]]
    keys, inequality = [], None
    for condition in conditions:
        if isinstance(condition, exp.EQ):
            keys.extend(c for c in (condition.this, condition.expression) if _on(c, alias))
        elif type(condition) in AFTER_NEXT or type(condition) in MIRRORED:
            inequality = condition
    if inequality is None or not keys:
        raise ValueError(f"an ASOF join needs equalities and one inequality on {alias}: {join.sql('duckdb')}")
    if type(inequality) in MIRRORED:                            # r.t <= l.t is l.t >= r.t
        inequality = MIRRORED[type(inequality)](this=inequality.expression, expression=inequality.this)
    if not _on(inequality.expression, alias):
        raise ValueError(f"an ASOF join's inequality must compare with {alias}'s column: {inequality.sql('duckdb')}")
    left_value, right_time = inequality.this, inequality.expression
    partition = ", ".join(k.name for k in keys)
    source = right.copy()
    source.set("alias", None)
    with_next = sqlglot.parse_one(
        f"SELECT *, lead({right_time.name}) OVER (PARTITION BY {partition} ORDER BY {right_time.name}) "
        f"AS {ASOF_NEXT} FROM {source.sql('duckdb')}", read="duckdb")
    next_time = exp.column(ASOF_NEXT, table=alias)
    within = exp.or_(AFTER_NEXT[type(inequality)](this=left_value.copy(), expression=next_time),
                     exp.Is(this=next_time.copy(), expression=exp.Null()))
    join.set("this", exp.Subquery(this=with_next, alias=exp.TableAlias(this=exp.to_identifier(alias))))
    join.set("on", exp.and_(join.args["on"], exp.Paren(this=within)))
    join.set("method", None)


def _on(column: exp.Expression, alias: str) -> bool:
    return isinstance(column, exp.Column) and column.table == alias
