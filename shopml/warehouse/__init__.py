"""The warehouse: raw, immutable facts in one DuckDB database (see ``schema`` for its tables)."""
