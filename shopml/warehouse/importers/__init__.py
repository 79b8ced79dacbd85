"""Importers of real shop data into the canonical warehouse tables."""
