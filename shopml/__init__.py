"""shopml: one shared set of feature definitions feeding every model a shop needs."""

__version__ = "0.1.0"
