"""Synthetic operator: deterministic, realistic data for every contract (``cems generate``)."""
