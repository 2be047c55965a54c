"""The planted churn causes of the synthetic churn features used by tests and benchmarks.

``tests/conftest.py`` (a pandas frame) and ``tests/bench/bench_ml.py`` (1,000,000 customers in
Arrow batches) build frames shaped like gold ``fct_churn_features``; both label them with
this one formula, so the causes a test expects the model to find are the ones the benchmark
trains on.
"""

from __future__ import annotations

import numpy as np

BASE_LOG_ODDS = -3.4
# Log-odds effect of each cause (a bundle, two or more products, protects).
EFFECTS = {
    "has_month_to_month_contract": 1.2,
    "tickets_unresolved_over_48h_at_as_of": 1.1,
    "failed_payments_in_window": 0.9,
    "had_price_rise_in_window": 0.8,
    "tenure_days": 0.7,  # under 180 days
    "active_subscription_count": -0.6,  # two or more
}


def planted_churn_logit(
    month_to_month: np.ndarray,
    unresolved_tickets: np.ndarray,
    failed_payments: np.ndarray,
    price_rise: np.ndarray,
    tenure_days: np.ndarray,
    products: np.ndarray,
    strength: float = 1.0,
) -> np.ndarray:
    """Churn log-odds per row; ``strength`` scales every effect (0: pure noise)."""
    effects = (
        EFFECTS["has_month_to_month_contract"] * month_to_month
        + EFFECTS["tickets_unresolved_over_48h_at_as_of"] * (unresolved_tickets > 0)
        + EFFECTS["failed_payments_in_window"] * (failed_payments > 0)
        + EFFECTS["had_price_rise_in_window"] * price_rise
        + EFFECTS["tenure_days"] * (tenure_days < 180)
        + EFFECTS["active_subscription_count"] * (products >= 2)
    )
    return np.asarray(BASE_LOG_ODDS + strength * effects, dtype="float64")
