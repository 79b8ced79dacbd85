"""Training jobs: point-in-time datasets from Feast, one module per task."""
