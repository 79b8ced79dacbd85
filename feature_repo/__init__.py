"""shopml's feature repository: Feast definitions (``definitions/``, relative imports only) and
the DuckDB SQL that computes each feature view's table from the warehouse (``sql/``, run by
``pipeline``). ``cd feature_repo && feast apply`` works here as Feast users expect."""
