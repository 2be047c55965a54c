"""Drift between scoring runs: the population stability index (PSI) of every feature and of
the score, tonight's customers against the previous ``as_of`` date's.

PSI = sum over bins of (actual% - expected%) * ln(actual% / expected%), with ten bins cut at
the baseline's deciles for numbers, one bin per value for categories and booleans, and
missing values in a bin of their own. The usual reading: under 0.1 stable, 0.1-0.2 worth a
look, over 0.2 (the threshold here) shifted enough to question the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.features import Feature

PSI_THRESHOLD = 0.2
_EPSILON = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two shares vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype="float64"), _EPSILON, None)
    a = np.clip(np.asarray(actual, dtype="float64"), _EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(
    baseline: pd.Series | np.ndarray, current: pd.Series | np.ndarray, bins: int = 10
) -> float:
    base = pd.to_numeric(pd.Series(baseline), errors="coerce").astype("float64")
    now = pd.to_numeric(pd.Series(current), errors="coerce").astype("float64")
    known = base.dropna()
    if known.empty:
        return 0.0
    # Bins (-inf, e1], (e1, e2], ... (ek, inf): a feature that is mostly zero keeps a bin of
    # its own for the zeros, so a shift away from zero shows.
    edges = np.unique(np.quantile(known, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: pd.Series) -> np.ndarray:
        counts = np.bincount(
            np.searchsorted(edges, values.dropna(), side="left"), minlength=len(edges) + 1
        )
        counts = np.append(counts, values.isna().sum())
        return counts / max(len(values), 1)

    return psi(shares(base), shares(now))


def categorical_psi(baseline: pd.Series, current: pd.Series) -> float:
    base = baseline.astype("string").fillna("<missing>")
    now = current.astype("string").fillna("<missing>")
    levels = sorted(set(base.unique()) | set(now.unique()))
    expected = base.value_counts(normalize=True).reindex(levels, fill_value=0.0).to_numpy()
    actual = now.value_counts(normalize=True).reindex(levels, fill_value=0.0).to_numpy()
    return psi(expected, actual)


def feature_drift(
    features: list[Feature], baseline: pd.DataFrame, current: pd.DataFrame
) -> dict[str, float]:
    """PSI per feature present in both frames."""
    out: dict[str, float] = {}
    for feature in features:
        if feature.name not in baseline or feature.name not in current:
            continue
        if feature.kind == "numeric":
            out[feature.name] = numeric_psi(baseline[feature.name], current[feature.name])
        else:
            out[feature.name] = categorical_psi(baseline[feature.name], current[feature.name])
    return out
