"""Feast objects. Inside this package, import siblings relatively (``from .entities import user``):
``feast apply`` imports these files by their path, and an absolute import would load them twice."""
